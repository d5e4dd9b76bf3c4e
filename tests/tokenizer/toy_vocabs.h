// Small vocabularies for the unit tests, written with gguf::Writer.
#pragma once

#include <graft/gguf/gguf.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace graft::tokenizer::test {

constexpr const char *kSpace = "\xE2\x96\x81"; // U+2581, SentencePiece's space

inline std::string sp(const std::string &s) {
    return kSpace + s;
}

// GPT-2's byte symbols, written out independently of the tokenizer's table.
inline std::string byte_symbol(int b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    int cp = b;
    if (!printable) {
        int n = 0;
        for (int k = 0; k < b; ++k) {
            const bool p = (k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE;
            n += p ? 0 : 1;
        }
        cp = 256 + n;
    }
    std::string out;
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return out;
}

struct Vocab {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
    void add(const std::string &text, float score = 0.0f, int32_t type = 1) {
        tokens.push_back(text);
        scores.push_back(score);
        types.push_back(type);
    }
    void write_to(gguf::Writer &w) const {
        w.set_array_string("tokenizer.ggml.tokens", tokens);
        w.set_array_float32("tokenizer.ggml.scores", scores);
        w.set_array_int32("tokenizer.ggml.token_type", types);
    }
};

// SentencePiece: <unk> <s> </s>, 256 byte tokens, then pieces whose scores decide merges.
inline gguf::Writer spm_writer() {
    Vocab v;
    v.add("<unk>", 0, 2);
    v.add("<s>", 0, 3);
    v.add("</s>", 0, 3);
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        v.add(name, 0, 6);
    }
    for (const char *piece : {"a", "b", "c", "x", "y", "z", "h", "e", "l", "o"}) {
        v.add(piece, -5);
    }
    v.add(kSpace, -1);
    v.add("ab", -1.0f);
    v.add("bc", -0.5f);
    v.add("xy", -0.5f);
    v.add("yz", -1.0f);
    for (const char *piece : {"h", "he", "hel", "hell", "hello"}) {
        v.add(sp(piece), -0.2f);
    }
    v.add("<tool>", 0, 4);     // user-defined
    v.add("<|ctl|>", 0, 3);    // control
    v.add("<|im_end|>", 0, 1); // ends generation by its text
    gguf::Writer w;
    w.set_string("general.name", "toy-spm");
    w.set_string("tokenizer.ggml.model", "llama");
    v.write_to(w);
    w.set_uint32("tokenizer.ggml.bos_token_id", 1);
    w.set_uint32("tokenizer.ggml.eos_token_id", 2);
    w.set_uint32("tokenizer.ggml.unknown_token_id", 0);
    return w;
}

// Byte-level BPE: the 256 byte symbols, merged tokens, special tokens; `pre` names the
// pre-tokenizer.
inline gguf::Writer bpe_writer(const std::string &pre) {
    Vocab v;
    for (int b = 0; b < 256; ++b) {
        v.add(byte_symbol(b));
    }
    const std::string G = byte_symbol(' ');
    for (const std::string &t :
         {std::string("bc"), std::string("ab"), std::string("he"), std::string("ll"),
          std::string("hell"), std::string("hello"), G + "w", std::string("or"), G + "wor",
          std::string("ld"), G + "world", std::string("aa"), std::string("aaaa"),
          std::string("xyz"), G + ","}) {
        v.add(t);
    }
    v.add("<|endoftext|>", 0, 3);
    v.add("<tool>", 0, 4);
    v.add("<|im_end|>", 0, 3);
    gguf::Writer w;
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", pre);
    v.write_to(w);
    w.set_array_string("tokenizer.ggml.merges",
                       {"b c", "a b", "h e", "l l", "he ll", "hell o", G + " w", "o r", G + "w or",
                        "l d", G + "wor ld", "a a", "aa aa", G + " ,"});
    const auto eot = static_cast<uint32_t>(v.tokens.size() - 3);
    w.set_uint32("tokenizer.ggml.bos_token_id", eot);
    w.set_uint32("tokenizer.ggml.eos_token_id", eot);
    return w;
}

} // namespace graft::tokenizer::test
