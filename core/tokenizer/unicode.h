// Unicode helpers of the tokenizers: character classes from the generated table, UTF-8
// decoding the way llama.cpp's tokenizer decodes (so that invalid input splits the same),
// and the byte <-> character mapping of byte-level BPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace graft::tokenizer::unicode {

// General category groups (\p{N}, \p{L}, ...); numbers match gen_unicode_table.py.
enum class CharClass : uint8_t {
    undefined = 0, // Cn: not assigned
    number = 1,
    letter = 2,
    separator = 3,
    mark = 4,
    punctuation = 5,
    symbol = 6,
    control = 7,
};

// Class (low 3 bits) plus kSpaceBit when the code point is White_Space. kOutside marks a
// position outside the text being scanned: no class test is true for it.
using CharBits = uint8_t;
inline constexpr CharBits kSpaceBit = 8;
inline constexpr CharBits kOutside = 16;

CharBits char_bits(uint32_t cp);

inline bool is_space(CharBits b) {
    return (b & kSpaceBit) != 0;
}
inline bool has_class(CharBits b, CharClass c) {
    return b != kOutside && (b & 7) == static_cast<uint8_t>(c);
}
inline bool is_letter(CharBits b) {
    return has_class(b, CharClass::letter);
}
inline bool is_number(CharBits b) {
    return has_class(b, CharClass::number);
}
inline bool is_mark(CharBits b) {
    return has_class(b, CharClass::mark);
}
inline bool is_punct(CharBits b) {
    return has_class(b, CharClass::punctuation);
}
inline bool is_symbol(CharBits b) {
    return has_class(b, CharClass::symbol);
}

// Length of the UTF-8 sequence a byte starts, judged by its high bits only (1 for
// continuation bytes): how SentencePiece and BPE cut text into initial symbols.
inline size_t utf8_sequence_length(unsigned char lead) {
    static constexpr uint8_t kLength[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLength[lead >> 4];
}

// Text decoded for pre-tokenization: code points and their class bits. Decoding is lenient
// like llama.cpp's: well-formed sequences (also overlong forms and surrogates)
// give their code point; any other byte gives U+FFFD and decoding goes on at the next byte.
struct DecodedText {
    std::vector<uint32_t> cps;
    std::vector<CharBits> bits;
};
DecodedText decode_lenient(std::string_view text);

// Appends the UTF-8 form of `cp` (surrogates included, as llama.cpp encodes them).
void append_utf8(std::string &out, uint32_t cp);

// Byte-level BPE: every byte is shown as a printable character (GPT-2's bytes_to_unicode).
const std::string &byte_to_symbol(uint8_t byte);
// The byte a symbol stands for, or -1 when `symbol` is not one of the 256.
int symbol_to_byte(uint32_t cp);

// Strict UTF-8: the length of the well-formed sequence at `text[pos]`, 0 when the bytes
// there are ill-formed, or -1 when they are a proper prefix of a sequence that the end of
// `text` cut short.
int strict_utf8_length(std::string_view text, size_t pos);

} // namespace graft::tokenizer::unicode
