// String helpers for the chat-template interpreter (see text.h).
#include "text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace graft::chat {

std::string format_python_float(double value) {
    if (std::isnan(value)) {
        return "nan";
    }
    if (std::isinf(value)) {
        return value > 0 ? "inf" : "-inf";
    }
    if (value == 0.0) {
        return std::signbit(value) ? "-0.0" : "0.0";
    }
    // Shortest round-trip digits in scientific form: "d.ddde+XX".
    char buffer[64];
    auto result =
        std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
    std::string scientific(buffer, result.ptr);
    size_t e = scientific.find('e');
    std::string mantissa = scientific.substr(0, e);
    int exponent = std::atoi(scientific.c_str() + e + 1);
    bool negative = mantissa[0] == '-';
    if (negative) {
        mantissa.erase(0, 1);
    }
    std::string digits;
    for (char c : mantissa) {
        if (c != '.') {
            digits += c;
        }
    }
    std::string out = negative ? "-" : "";
    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            out += "0.";
            out.append(static_cast<size_t>(-exponent - 1), '0');
            out += digits;
        } else {
            size_t integer_digits = static_cast<size_t>(exponent) + 1;
            if (digits.size() <= integer_digits) {
                out += digits;
                out.append(integer_digits - digits.size(), '0');
                out += ".0";
            } else {
                out += digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
            }
        }
        return out;
    }
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
        out += "." + digits.substr(1);
    }
    char exponent_text[16];
    std::snprintf(exponent_text, sizeof exponent_text, "e%c%02d", exponent < 0 ? '-' : '+',
                  std::abs(exponent));
    return out + exponent_text;
}

std::string python_string_repr(std::string_view text) {
    bool has_single = text.find('\'') != std::string_view::npos;
    bool has_double = text.find('"') != std::string_view::npos;
    char quote = has_single && !has_double ? '"' : '\'';
    std::string out(1, quote);
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (c == quote || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u < 0x20 || u == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", u);
            out += hex;
        } else {
            out += c;
        }
    }
    out += quote;
    return out;
}

std::vector<char32_t> utf8_decode(std::string_view text) {
    std::vector<char32_t> out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        auto b0 = static_cast<unsigned char>(text[i]);
        size_t length = b0 < 0x80           ? 1
                        : (b0 >> 5) == 0x6  ? 2
                        : (b0 >> 4) == 0xe  ? 3
                        : (b0 >> 3) == 0x1e ? 4
                                            : 0;
        bool valid = length > 0 && i + length <= text.size();
        for (size_t k = 1; valid && k < length; ++k) {
            valid = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
        }
        if (!valid) {
            out.push_back(b0);
            ++i;
            continue;
        }
        char32_t cp = length == 1   ? b0
                      : length == 2 ? (b0 & 0x1f)
                      : length == 3 ? (b0 & 0x0f)
                                    : (b0 & 0x07);
        for (size_t k = 1; k < length; ++k) {
            cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
        }
        out.push_back(cp);
        i += length;
    }
    return out;
}

void utf8_append(std::string &out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | ((cp >> 18) & 0x07));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

std::string utf8_encode(const std::vector<char32_t> &code_points) {
    std::string out;
    out.reserve(code_points.size());
    for (char32_t cp : code_points) {
        utf8_append(out, cp);
    }
    return out;
}

size_t utf8_length(std::string_view text) {
    size_t n = 0;
    for (char c : text) {
        if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) {
            ++n;
        }
    }
    return n;
}

std::string json_quote(std::string_view text, bool ensure_ascii) {
    std::string out = "\"";
    auto escape_unit = [&](unsigned unit) {
        char hex[16];
        std::snprintf(hex, sizeof hex, "\\u%04x", unit);
        out += hex;
    };
    for (char32_t cp : utf8_decode(text)) {
        switch (cp) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        default:
            if (cp < 0x20) {
                escape_unit(cp);
            } else if (ensure_ascii && cp > 0x7e) {
                if (cp >= 0x10000) {
                    char32_t v = cp - 0x10000;
                    escape_unit(0xd800 + (v >> 10));
                    escape_unit(0xdc00 + (v & 0x3ff));
                } else {
                    escape_unit(cp);
                }
            } else {
                utf8_append(out, cp);
            }
        }
    }
    out += '"';
    return out;
}

char32_t to_upper(char32_t c) {
    if (c >= 'a' && c <= 'z') {
        return c - 32;
    }
    if ((c >= 0xe0 && c <= 0xfe && c != 0xf7) || (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) ||
        (c >= 0x430 && c <= 0x44f)) {
        return c - 32;
    }
    if (c == 0x3c2) { // final sigma
        return 0x3a3;
    }
    if (c >= 0x450 && c <= 0x45f) {
        return c - 80;
    }
    return c;
}

char32_t to_lower(char32_t c) {
    if (c >= 'A' && c <= 'Z') {
        return c + 32;
    }
    if ((c >= 0xc0 && c <= 0xde && c != 0xd7) || (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) ||
        (c >= 0x410 && c <= 0x42f)) {
        return c + 32;
    }
    if (c >= 0x400 && c <= 0x40f) {
        return c + 80;
    }
    return c;
}

bool is_letter(char32_t c) {
    return to_upper(c) != c || to_lower(c) != c || c == 0xdf;
}

std::string to_upper(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char32_t cp : utf8_decode(text)) {
        utf8_append(out, to_upper(cp));
    }
    return out;
}

std::string to_lower(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char32_t cp : utf8_decode(text)) {
        utf8_append(out, to_lower(cp));
    }
    return out;
}

std::string capitalize(std::string_view text) {
    std::string out;
    bool first = true;
    for (char32_t cp : utf8_decode(text)) {
        utf8_append(out, first ? to_upper(cp) : to_lower(cp));
        first = false;
    }
    return out;
}

std::string python_title(std::string_view text) {
    std::string out;
    bool previous_cased = false;
    for (char32_t cp : utf8_decode(text)) {
        utf8_append(out, previous_cased ? to_lower(cp) : to_upper(cp));
        previous_cased = is_letter(cp);
    }
    return out;
}

std::string jinja_title(std::string_view text) {
    std::string out;
    bool word_start = true;
    for (char32_t cp : utf8_decode(text)) {
        bool separator = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' ||
                         cp == '\v' || cp == '-' || cp == '(' || cp == '{' || cp == '[' ||
                         cp == '<';
        if (separator) {
            utf8_append(out, cp);
            word_start = true;
        } else {
            utf8_append(out, word_start ? to_upper(cp) : to_lower(cp));
            word_start = false;
        }
    }
    return out;
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string strip(std::string_view text, const std::string *chars, bool left, bool right) {
    auto strippable = [&](char c) {
        return chars == nullptr ? is_space(c) : chars->find(c) != std::string::npos;
    };
    size_t begin = 0, end = text.size();
    if (left) {
        while (begin < end && strippable(text[begin])) {
            ++begin;
        }
    }
    if (right) {
        while (end > begin && strippable(text[end - 1])) {
            --end;
        }
    }
    return std::string(text.substr(begin, end - begin));
}

std::vector<std::string> split(std::string_view text, const std::string *sep, int64_t maxsplit) {
    std::vector<std::string> out;
    if (sep == nullptr) {
        size_t i = 0;
        while (true) {
            while (i < text.size() && is_space(text[i])) {
                ++i;
            }
            if (i >= text.size()) {
                break;
            }
            if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
                out.push_back(strip(text.substr(i), nullptr, false, true));
                break;
            }
            size_t j = i;
            while (j < text.size() && !is_space(text[j])) {
                ++j;
            }
            out.emplace_back(text.substr(i, j - i));
            i = j;
        }
        return out;
    }
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
        size_t found = text.find(*sep, start);
        if (found == std::string_view::npos) {
            break;
        }
        out.emplace_back(text.substr(start, found - start));
        start = found + sep->size();
    }
    out.emplace_back(text.substr(start));
    return out;
}

std::string replace(std::string_view text, std::string_view from, std::string_view to,
                    int64_t count) {
    std::string out;
    if (from.empty()) {
        // Python inserts `to` between every character and at both ends.
        int64_t done = 0;
        auto code_points = utf8_decode(text);
        for (char32_t cp : code_points) {
            if (count < 0 || done < count) {
                out += to;
                ++done;
            }
            utf8_append(out, cp);
        }
        if (count < 0 || done < count) {
            out += to;
        }
        return out;
    }
    size_t start = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        size_t found = text.find(from, start);
        if (found == std::string_view::npos) {
            break;
        }
        out.append(text.substr(start, found - start));
        out.append(to);
        start = found + from.size();
        ++done;
    }
    out.append(text.substr(start));
    return out;
}

std::string html_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&#34;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

} // namespace graft::chat
