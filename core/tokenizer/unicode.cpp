#include "unicode.h"

#include <algorithm>
#include <array>

namespace graft::tokenizer::unicode {

namespace {
#include "unicode_table.inc"

constexpr uint32_t kReplacement = 0xFFFD;

struct ByteSymbols {
    std::array<std::string, 256> symbol;
    std::array<int16_t, 324> byte_of; // symbols are U+0021..U+0143
    ByteSymbols() {
        byte_of.fill(-1);
        auto printable = [](int b) {
            return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        };
        int next_free = 256;
        for (int b = 0; b < 256; ++b) {
            const uint32_t cp = printable(b) ? static_cast<uint32_t>(b) : next_free++;
            append_utf8(symbol[b], cp);
            byte_of[cp] = static_cast<int16_t>(b);
        }
    }
};

const ByteSymbols &byte_symbols() {
    static const ByteSymbols table;
    return table;
}

bool is_continuation(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

} // namespace

CharBits char_bits(uint32_t cp) {
    // Entries are (first << 4) | bits; the last entry whose first <= cp holds cp's bits.
    const uint32_t key = (cp << 4) | 0xF;
    const auto *end = std::end(kUnicodeRanges);
    const auto *it = std::upper_bound(std::begin(kUnicodeRanges), end, key);
    if (cp >= 0x110000 || it == std::begin(kUnicodeRanges)) {
        return static_cast<CharBits>(CharClass::undefined);
    }
    return static_cast<CharBits>(*(it - 1) & 0xF);
}

DecodedText decode_lenient(std::string_view text) {
    DecodedText out;
    out.cps.reserve(text.size());
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        const auto b0 = static_cast<unsigned char>(text[i]);
        uint32_t cp = kReplacement;
        size_t len = 1;
        auto cont = [&](size_t k) {
            return i + k < n && is_continuation(static_cast<unsigned char>(text[i + k]));
        };
        auto low6 = [&](size_t k) { return static_cast<uint32_t>(text[i + k]) & 0x3F; };
        if (b0 < 0x80) {
            cp = b0;
        } else if ((b0 & 0xE0) == 0xC0) {
            if (cont(1)) {
                cp = ((b0 & 0x1Fu) << 6) | low6(1);
                len = 2;
            }
        } else if ((b0 & 0xF0) == 0xE0) {
            if (cont(1) && cont(2)) {
                cp = ((b0 & 0x0Fu) << 12) | (low6(1) << 6) | low6(2);
                len = 3;
            }
        } else if ((b0 & 0xF8) == 0xF0) {
            if (cont(1) && cont(2) && cont(3)) {
                cp = ((b0 & 0x07u) << 18) | (low6(1) << 12) | (low6(2) << 6) | low6(3);
                len = 4;
                // F5..F7 leads encode numbers past Unicode: treated as one bad byte.
                if (cp > 0x10FFFF) {
                    cp = kReplacement;
                    len = 1;
                }
            }
        }
        out.cps.push_back(cp);
        i += len;
    }
    static const auto ascii = [] {
        std::array<CharBits, 128> bits{};
        for (uint32_t c = 0; c < 128; ++c) {
            bits[c] = char_bits(c);
        }
        return bits;
    }();
    out.bits.resize(out.cps.size());
    for (size_t k = 0; k < out.cps.size(); ++k) {
        const uint32_t cp = out.cps[k];
        out.bits[k] = cp < 0x80 ? ascii[cp] : char_bits(cp);
    }
    return out;
}

void append_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x110000) {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        append_utf8(out, kReplacement);
    }
}

const std::string &byte_to_symbol(uint8_t byte) {
    return byte_symbols().symbol[byte];
}

int symbol_to_byte(uint32_t cp) {
    const auto &table = byte_symbols().byte_of;
    return cp < table.size() ? table[cp] : -1;
}

int strict_utf8_length(std::string_view text, size_t pos) {
    const auto at = [&](size_t k) { return static_cast<unsigned char>(text[pos + k]); };
    const unsigned char b0 = at(0);
    if (b0 < 0x80) {
        return 1;
    }
    int len = 0;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        lo = b0 == 0xE0 ? 0xA0 : 0x80; // no overlong forms
        hi = b0 == 0xED ? 0x9F : 0xBF; // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        lo = b0 == 0xF0 ? 0x90 : 0x80;
        hi = b0 == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    for (int k = 1; k < len; ++k) {
        if (pos + k >= text.size()) {
            return -1;
        }
        const unsigned char c = at(k);
        const bool ok = k == 1 ? (c >= lo && c <= hi) : is_continuation(c);
        if (!ok) {
            return 0;
        }
    }
    return len;
}

} // namespace graft::tokenizer::unicode
