// Pre-tokenizers of byte-level BPE: they cut text into words before merges run, each the
// equivalent of a model's split regexes (tokenizer.json), hand-coded as scanners.
#pragma once

#include "unicode.h"

#include <cstddef>
#include <string_view>
#include <vector>

namespace graft::tokenizer {

enum class PreTokenizer {
    default_bpe,    // llama.cpp's default: punctuation runs, GPT-2 rules, digit groups
    gpt2,           // GPT-2
    llama3,         // Llama 3: case-insensitive contractions, digits in threes
    qwen2,          // Qwen2: as Llama 3 with single digits
    qwen35,         // Qwen3.5: as Qwen2 with marks joining letters
    starcoder,      // single digits, then GPT-2 rules
    falcon,         // punctuation runs, GPT-2 rules, digit triples
    deepseek_llm,   // DeepSeek LLM (v1/v2)
    deepseek_coder, // DeepSeek Coder
    deepseek_v3,    // DeepSeek V3 / R1
};

// A word: the code points [begin, end) of the decoded text.
struct WordSpan {
    size_t begin;
    size_t end;
};

// Splits `text` into words; every code point lands in exactly one word, in order.
std::vector<WordSpan> pre_tokenize(PreTokenizer kind, const unicode::DecodedText &text);

} // namespace graft::tokenizer
