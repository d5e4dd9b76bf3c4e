// Python string formatting for chat templates: `"%s" % value` (printf style, also the
// `format` filter) and `"{}".format(value)` (format specification mini-language).
#include "evaluator.h"

#include "text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace graft::chat::detail {

namespace {

constexpr int64_t kMaxWidth = 1024;

std::string printf_one(const std::string &spec, auto value) {
    int size = std::snprintf(nullptr, 0, spec.c_str(), value);
    if (size < 0) {
        throw Error("invalid format specification");
    }
    std::string out(static_cast<size_t>(size) + 1, '\0');
    std::snprintf(out.data(), out.size(), spec.c_str(), value);
    out.pop_back();
    return out;
}

int64_t integer_of(const Value &v, char conversion) {
    if (v.is_int() || v.is_bool()) {
        return v.as_int();
    }
    if (v.is_float() && (conversion == 'd' || conversion == 'i' || conversion == 'u') &&
        std::isfinite(v.as_float()) && std::fabs(v.as_float()) < 9.2e18) {
        return static_cast<int64_t>(v.as_float());
    }
    throw Error(std::string("%") + conversion + " format: a number is required, not " +
                v.type_name());
}

std::string pad(std::string text, int64_t width, bool left_justify) {
    auto length = static_cast<int64_t>(utf8_length(text));
    if (width > length) {
        std::string fill(static_cast<size_t>(width - length), ' ');
        text = left_justify ? text + fill : fill + text;
    }
    return text;
}

std::string truncate_code_points(const std::string &text, int64_t precision) {
    if (precision < 0) {
        return text;
    }
    auto cps = utf8_decode(text);
    if (static_cast<int64_t>(cps.size()) > precision) {
        cps.resize(static_cast<size_t>(precision));
    }
    return utf8_encode(cps);
}

} // namespace

std::string percent_format(const std::string &format, const Value &args) {
    std::vector<Value> positional;
    const bool mapping = args.is_mapping();
    if (args.is_tuple()) {
        positional = args.items();
    } else {
        positional.push_back(args);
    }
    size_t next_arg = 0;
    std::string out;
    for (size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%') {
            out += format[i];
            continue;
        }
        if (++i >= format.size()) {
            throw Error("incomplete format: '%' at the end");
        }
        if (format[i] == '%') {
            out += '%';
            continue;
        }
        const Value *value = nullptr;
        if (format[i] == '(') {
            size_t close = format.find(')', i);
            if (close == std::string::npos || !mapping) {
                throw Error("format requires a mapping for %(name)");
            }
            value = args.object().find_key(std::string_view(format).substr(i + 1, close - i - 1));
            if (value == nullptr) {
                throw Error("format key '" + format.substr(i + 1, close - i - 1) + "' not found");
            }
            i = close + 1;
        }
        auto take = [&]() -> const Value & {
            if (next_arg >= positional.size()) {
                throw Error("not enough arguments for format string");
            }
            return positional[next_arg++];
        };
        std::string flags;
        while (i < format.size() && std::strchr("-+ #0", format[i]) != nullptr) {
            flags += format[i++];
        }
        auto number = [&]() -> int64_t {
            if (i < format.size() && format[i] == '*') {
                ++i;
                return std::clamp<int64_t>(integer_of(take(), 'd'), -kMaxWidth, kMaxWidth);
            }
            int64_t n = 0;
            while (i < format.size() && format[i] >= '0' && format[i] <= '9') {
                n = std::min<int64_t>(n * 10 + (format[i++] - '0'), kMaxWidth);
            }
            return n;
        };
        int64_t width = number();
        int64_t precision = -1;
        if (i < format.size() && format[i] == '.') {
            ++i;
            precision = number();
        }
        while (i < format.size() && std::strchr("hlL", format[i]) != nullptr) {
            ++i;
        }
        if (i >= format.size()) {
            throw Error("incomplete format");
        }
        char conversion = format[i];
        const Value &v = value != nullptr ? *value : take();
        bool left = flags.find('-') != std::string::npos;
        std::string spec = "%" + flags + std::to_string(width);
        if (precision >= 0) {
            spec += "." + std::to_string(precision);
        }
        switch (conversion) {
        case 's':
            out += pad(truncate_code_points(v.str(), precision), width, left);
            break;
        case 'r':
        case 'a':
            out += pad(truncate_code_points(v.repr(), precision), width, left);
            break;
        case 'd':
        case 'i':
        case 'u':
            out += printf_one(spec + "lld", static_cast<long long>(integer_of(v, conversion)));
            break;
        case 'x':
        case 'X':
        case 'o':
            out += printf_one(spec + "ll" + conversion,
                              static_cast<long long>(integer_of(v, conversion)));
            break;
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
            if (!v.is_number()) {
                throw Error(std::string("%") + conversion + " format: a number is required, not " +
                            v.type_name());
            }
            out += printf_one(spec + conversion, v.as_double());
            break;
        case 'c': {
            std::string ch;
            if (v.is_string() && utf8_length(v.as_string()) == 1) {
                ch = v.as_string();
            } else {
                int64_t cp = integer_of(v, 'c');
                if (cp < 0 || cp > 0x10ffff) {
                    throw Error("%c arg not in range(0x110000)");
                }
                utf8_append(ch, static_cast<char32_t>(cp));
            }
            out += pad(ch, width, left);
            break;
        }
        default:
            throw Error(std::string("unsupported format character '") + conversion + "'");
        }
        if (out.size() > kMaxStringBytes) {
            throw Error("formatted string exceeds the 64 MiB limit");
        }
    }
    if (!mapping && next_arg < positional.size()) {
        throw Error("not all arguments converted during string formatting");
    }
    return out;
}

namespace {

// format(value, spec) for the subset of the mini-language templates use:
// [[fill]align][sign][#][0][width][.precision][type].
std::string format_spec(const Value &value, const std::string &spec) {
    if (spec.empty()) {
        return value.str();
    }
    size_t p = 0;
    char fill = ' ', align = 0, sign = '-';
    if (spec.size() >= 2 && std::strchr("<>=^", spec[1]) != nullptr) {
        fill = spec[0];
        align = spec[1];
        p = 2;
    } else if (std::strchr("<>=^", spec[0]) != nullptr) {
        align = spec[0];
        p = 1;
    }
    if (p < spec.size() && std::strchr("+- ", spec[p]) != nullptr) {
        sign = spec[p++];
    }
    bool alternate = p < spec.size() && spec[p] == '#';
    p += alternate ? 1 : 0;
    if (p < spec.size() && spec[p] == '0') {
        if (align == 0) {
            fill = '0';
            align = '=';
        }
        ++p;
    }
    int64_t width = 0, precision = -1;
    while (p < spec.size() && spec[p] >= '0' && spec[p] <= '9') {
        width = std::min<int64_t>(width * 10 + (spec[p++] - '0'), kMaxWidth);
    }
    if (p < spec.size() && spec[p] == '.') {
        ++p;
        precision = 0;
        while (p < spec.size() && spec[p] >= '0' && spec[p] <= '9') {
            precision = std::min<int64_t>(precision * 10 + (spec[p++] - '0'), kMaxWidth);
        }
    }
    char type = p < spec.size() ? spec[p++] : '\0';
    if (p != spec.size()) {
        throw Error("unsupported format specification '" + spec + "'");
    }
    std::string body, prefix;
    bool numeric = value.is_number() && !(value.is_bool() && (type == '\0' || type == 's'));
    if (!numeric) {
        if (type != '\0' && type != 's') {
            throw Error("format code '" + std::string(1, type) + "' needs a number, not " +
                        value.type_name());
        }
        body = truncate_code_points(value.str(), precision);
    } else if ((type == '\0' && !value.is_float()) || type == 'd' || type == 'x' || type == 'X' ||
               type == 'o' || type == 'b' || type == 'c') {
        if (value.is_float()) {
            throw Error("format code '" + std::string(1, type) + "' needs an integer");
        }
        int64_t n = value.as_int();
        uint64_t magnitude = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
        if (type == 'c') {
            utf8_append(body, static_cast<char32_t>(std::clamp<int64_t>(n, 0, 0x10ffff)));
        } else {
            int base = type == 'x' || type == 'X' ? 16 : type == 'o' ? 8 : type == 'b' ? 2 : 10;
            const char *digits = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
            do {
                body.insert(body.begin(), digits[magnitude % static_cast<uint64_t>(base)]);
                magnitude /= static_cast<uint64_t>(base);
            } while (magnitude != 0);
            if (alternate && base != 10) {
                body.insert(0, type == 'X' ? "0X" : type == 'x' ? "0x" : type == 'o' ? "0o" : "0b");
            }
            prefix = n < 0 ? "-" : sign == '-' ? "" : std::string(1, sign);
        }
    } else {
        double d = value.as_double();
        prefix = std::signbit(d) ? "-" : sign == '-' ? "" : std::string(1, sign);
        d = std::fabs(d);
        if (type == '\0') {
            body =
                precision < 0
                    ? format_python_float(d)
                    : printf_one("%." + std::to_string(std::max<int64_t>(precision, 1)) + "g", d);
        } else if (type == '%') {
            body = printf_one("%." + std::to_string(precision < 0 ? 6 : precision) + "f", d * 100) +
                   "%";
        } else if (std::strchr("eEfFgG", type) != nullptr) {
            body = printf_one("%." + std::to_string(precision < 0 ? 6 : precision) + type, d);
        } else {
            throw Error("unsupported format code '" + std::string(1, type) + "' for a float");
        }
    }
    if (align == 0) {
        align = numeric ? '>' : '<';
    }
    auto length = static_cast<int64_t>(utf8_length(prefix + body));
    std::string padding(static_cast<size_t>(std::max<int64_t>(width - length, 0)), fill);
    switch (align) {
    case '<':
        return prefix + body + padding;
    case '>':
        return padding + prefix + body;
    case '=':
        return prefix + padding + body;
    default: {
        size_t half = padding.size() / 2;
        return padding.substr(0, half) + prefix + body + padding.substr(half);
    }
    }
}

} // namespace

std::string str_format(const std::string &format, const CallArgs &args) {
    std::string out;
    size_t auto_index = 0;
    for (size_t i = 0; i < format.size(); ++i) {
        char c = format[i];
        if (c == '}') {
            if (i + 1 < format.size() && format[i + 1] == '}') {
                out += '}';
                ++i;
                continue;
            }
            throw Error("single '}' in format string");
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (i + 1 < format.size() && format[i + 1] == '{') {
            out += '{';
            ++i;
            continue;
        }
        size_t close = format.find('}', i);
        if (close == std::string::npos) {
            throw Error("single '{' in format string");
        }
        std::string field = format.substr(i + 1, close - i - 1);
        i = close;
        std::string spec, conversion;
        if (size_t colon = field.find(':'); colon != std::string::npos) {
            spec = field.substr(colon + 1);
            field.resize(colon);
        }
        if (size_t bang = field.find('!'); bang != std::string::npos) {
            conversion = field.substr(bang + 1);
            field.resize(bang);
        }
        size_t name_end = std::min(field.find('.'), field.find('['));
        std::string name = field.substr(0, name_end);
        Value value;
        if (name.empty() ||
            std::all_of(name.begin(), name.end(), [](char d) { return d >= '0' && d <= '9'; })) {
            size_t index = name.empty() ? auto_index++
                                        : static_cast<size_t>(std::min<size_t>(
                                              std::stoull(name.substr(0, 9)), SIZE_MAX));
            if (index >= args.positional.size()) {
                throw Error("format: replacement index " + std::to_string(index) + " out of range");
            }
            value = args.positional[index];
        } else if (const Value *keyword = args.find_keyword(name)) {
            value = *keyword;
        } else {
            throw Error("format: no argument named '" + name + "'");
        }
        // .attribute and [key] lookups after the argument name.
        for (size_t p = name_end; p < field.size();) {
            if (field[p] == '.') {
                size_t end = std::min(field.find('.', p + 1), field.find('[', p + 1));
                value = get_attribute(value, field.substr(p + 1, end - p - 1));
                p = end;
            } else if (field[p] == '[') {
                size_t end = field.find(']', p);
                if (end == std::string::npos) {
                    throw Error("format: missing ']' in field");
                }
                std::string key = field.substr(p + 1, end - p - 1);
                bool digits = !key.empty() && key.size() < 18 &&
                              std::all_of(key.begin(), key.end(),
                                          [](char d) { return d >= '0' && d <= '9'; });
                value = get_item(value, digits ? Value(static_cast<int64_t>(std::stoll(key)))
                                               : Value(key));
                p = end + 1;
            } else {
                throw Error("format: bad field '" + field + "'");
            }
        }
        if (conversion == "r" || conversion == "a") {
            value = Value(value.repr());
        } else if (conversion == "s") {
            value = Value(value.str());
        } else if (!conversion.empty()) {
            throw Error("format: unknown conversion '!" + conversion + "'");
        }
        out += format_spec(value, spec);
        if (out.size() > kMaxStringBytes) {
            throw Error("formatted string exceeds the 64 MiB limit");
        }
    }
    return out;
}

} // namespace graft::chat::detail
