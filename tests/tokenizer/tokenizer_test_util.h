// Helpers of the tokenizer tests: loading vocabularies, writing small ones, showing bytes.
#pragma once

#include <graft/gguf/gguf.h>
#include <graft/tokenizer/tokenizer.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace graft::tokenizer::test {

inline std::unique_ptr<Tokenizer> load(const std::filesystem::path &path) {
    const auto file = gguf::File::open(path);
    return Tokenizer::from_gguf(*file);
}

// Writes `w` to `path` and loads its tokenizer.
inline std::unique_ptr<Tokenizer> load(const gguf::Writer &w, const std::filesystem::path &path) {
    w.write(path);
    return load(path);
}

// "abc\xff" -> "abc\\xff": bytes readable in failure messages.
inline std::string escaped(std::string_view s) {
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

inline std::string ids_text(const std::vector<int32_t> &ids) {
    std::string out;
    for (int32_t id : ids) {
        out += std::to_string(id) + " ";
    }
    return out;
}

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
inline bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        size_t n = 0;
        uint32_t cp = 0;
        if (b < 0x80) {
            ++i;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            n = 1;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 2;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size()) {
                return false;
            }
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (c & 0x3F);
        }
        const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

} // namespace graft::tokenizer::test
