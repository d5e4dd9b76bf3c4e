// Tokens to text: pieces, whole sequences (llama.cpp's detokenize) and streaming.
#include "impl.h"

#include <graft/util/error.h>

#include <cstdio>

namespace graft::tokenizer {

namespace {

void replace_all(std::string &s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    for (size_t m = s.find(from); m != std::string::npos; m = s.find(from, pos)) {
        out.append(s, pos, m - pos);
        out.append(to);
        pos = m + from.size();
    }
    out.append(s, pos);
    s.swap(out);
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        return (c | 0x20) - 'a' + 10;
    }
    return -1;
}

// The byte of a "<0xNN>" token; malformed ones read as far as they are hex, like strtol.
char byte_of_token(const std::string &text) {
    int value = 0;
    for (size_t i = 3; i < 5 && i < text.size(); ++i) {
        const int d = hex_digit(text[i]);
        if (d < 0) {
            break;
        }
        value = value * 16 + d;
    }
    return static_cast<char>(value);
}

// Byte-level symbols back to bytes; a character that is no byte symbol is kept visible.
std::string bytes_of_symbols(const std::string &text) {
    std::string out;
    const unicode::DecodedText cps = unicode::decode_lenient(text);
    for (uint32_t cp : cps.cps) {
        const int b = unicode::symbol_to_byte(cp);
        if (b >= 0) {
            out.push_back(static_cast<char>(b));
            continue;
        }
        std::string utf8;
        unicode::append_utf8(utf8, cp);
        out += "[UNK_BYTE_0x";
        for (unsigned char c : utf8) {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%02x", c);
            out += hex;
        }
        out += text + "]";
    }
    return out;
}

// llama.cpp's clean_up_tokenization_spaces, in three passes over the joined text:
// " ?" " !" " ." " ," lose their space; " ' " becomes "'"; " 's" " 'm" " 're" " 've" lose
// their space.
std::string clean_spaces(const std::string &in) {
    if (in.empty()) {
        return in;
    }
    std::string a(1, in[0]);
    for (size_t i = 1; i < in.size(); ++i) {
        const char x = in[i];
        if (in[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) {
            a.pop_back();
        }
        a.push_back(x);
    }
    // A space consumed as the right side of " ' " no longer counts as the space before the
    // next character.
    std::string b(1, a[0]);
    bool prev_consumed = false;
    for (size_t i = 1; i < a.size(); ++i) {
        const char x = a[i];
        const bool prev_space = a[i - 1] == ' ' && !prev_consumed;
        prev_consumed = false;
        if (x == '\'' && i + 1 < a.size() && prev_space && a[i + 1] == ' ') {
            b.pop_back();
            b.push_back(x);
            ++i; // the space after it goes too
            prev_consumed = true;
            continue;
        }
        b.push_back(x);
    }
    std::string c(1, b[0]);
    for (size_t i = 1; i < b.size(); ++i) {
        const char x = b[i];
        if (b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
            const char x1 = b[i + 1];
            const char x2 = i + 2 < b.size() ? b[i + 2] : '\0';
            const bool two = x1 == 's' || x1 == 'm';
            const bool three = i + 2 < b.size() && x1 != 't' && x1 != 'd' &&
                               ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'));
            if (two || three) {
                c.pop_back();
            }
        }
        c.push_back(x);
    }
    return c;
}

void check_id(const Tokenizer::Impl &v, int32_t id) {
    if (!v.valid(id)) {
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                    std::to_string(v.n_tokens() - 1) + ")");
    }
}

} // namespace

std::string Tokenizer::Impl::make_piece(int32_t id) const {
    const TokenData &t = tokens[id];
    if (t.attr & (kAttrControl | kAttrUnknown | kAttrUserDefined)) {
        return t.text;
    }
    if (t.attr & kAttrNormal) {
        if (kind == VocabKind::bpe) {
            return bytes_of_symbols(t.text);
        }
        std::string s = t.text;
        replace_all(s, "\xE2\x96\x81", " ");
        return s;
    }
    if (t.attr & kAttrByte) {
        return std::string(1, byte_of_token(t.text));
    }
    return {}; // unused and undefined tokens have no text
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
    check_id(*impl_, id);
    if (!render_special && (impl_->tokens[id].attr & (kAttrControl | kAttrUnknown))) {
        return {};
    }
    return impl_->pieces[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
    std::string text;
    for (size_t i = 0; i < ids.size(); ++i) {
        std::string piece = token_to_piece(ids[i], render_special);
        // The space SentencePiece put before the text goes (one, from the first token).
        if (i == 0 && impl_->add_space_prefix && !piece.empty() && piece[0] == ' ') {
            piece.erase(0, 1);
        }
        text += piece;
    }
    return impl_->clean_spaces ? clean_spaces(text) : text;
}

StreamDecoder::StreamDecoder(const Tokenizer &tokenizer, bool render_special)
    : tokenizer_(&tokenizer), render_special_(render_special) {}

namespace {

const char kReplacementChar[] = "\xEF\xBF\xBD";

// Moves the complete characters of `pending` to the result; with `final`, an incomplete
// one at the end becomes U+FFFD too, otherwise it stays in `pending`.
std::string take_complete(std::string &pending, bool final) {
    std::string out;
    out.reserve(pending.size());
    size_t pos = 0;
    while (pos < pending.size()) {
        const int len = unicode::strict_utf8_length(pending, pos);
        if (len > 0) {
            out.append(pending, pos, static_cast<size_t>(len));
            pos += static_cast<size_t>(len);
            continue;
        }
        if (len < 0 && !final) {
            break; // the rest of this character has not come yet
        }
        // One U+FFFD for the longest start of a character that cannot be completed.
        size_t bad = 1;
        while (pos + bad < pending.size() && bad < 4) {
            const int prefix = unicode::strict_utf8_length(pending.substr(pos, bad + 1), 0);
            if (prefix != -1) {
                break;
            }
            ++bad;
        }
        out += kReplacementChar;
        pos += bad;
    }
    pending.erase(0, pos);
    return out;
}

} // namespace

std::string StreamDecoder::push(int32_t id) {
    pending_ += tokenizer_->token_to_piece(id, render_special_);
    return take_complete(pending_, false);
}

std::string StreamDecoder::flush() {
    std::string out = take_complete(pending_, true);
    pending_.clear();
    return out;
}

} // namespace graft::tokenizer
