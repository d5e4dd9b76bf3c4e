// graft-synth's own small vocabulary: GPT-2 style byte-level BPE (tokenizer.ggml.model
// "gpt2", pre-tokenizer "gpt-2"), so that synthetic files load in llama.cpp and in graft
// without a vocabulary file. 256 byte tokens, an end-of-text token, merges of common
// letter pairs, and unused tokens up to the requested size.
#include "synth_vocab.h"

#include <string>
#include <vector>

namespace graft::models {

namespace {

std::string utf8(uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else if (cp < 0x800) {
        s += static_cast<char>(0xc0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        s += static_cast<char>(0xe0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        s += static_cast<char>(0x80 | (cp & 0x3f));
    }
    return s;
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others for
// code points from 256 up, so that every token is printable text.
std::vector<std::string> byte_tokens() {
    std::vector<std::string> out(256);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        out[b] = utf8(printable ? b : next++);
    }
    return out;
}

} // namespace

void write_builtin_vocab(gguf::Writer &w, int64_t n_vocab) {
    constexpr int32_t kNormal = 1, kControl = 3, kUnused = 5;
    const std::vector<std::string> bytes = byte_tokens();
    std::vector<std::string> tokens = bytes;
    std::vector<int32_t> types(tokens.size(), kNormal);
    tokens.push_back("<|endoftext|>");
    types.push_back(kControl);
    const int32_t eot = static_cast<int32_t>(tokens.size() - 1);

    // Merges: a space (byte 0x20, shown as U+0120) or a letter, followed by a letter.
    std::vector<std::string> merges;
    const std::string space = bytes[' '];
    std::vector<std::string> firsts = {space};
    for (char c = 'a'; c <= 'z'; ++c)
        firsts.push_back(std::string(1, c));
    for (const std::string &a : firsts) {
        for (char c = 'a'; c <= 'z'; ++c) {
            if (static_cast<int64_t>(tokens.size()) >= n_vocab)
                break;
            const std::string b(1, c);
            merges.push_back(a + " " + b);
            tokens.push_back(a + b);
            types.push_back(kNormal);
        }
    }
    while (static_cast<int64_t>(tokens.size()) < n_vocab) {
        tokens.push_back("<unused" + std::to_string(tokens.size()) + ">");
        types.push_back(kUnused);
    }
    tokens.resize(static_cast<size_t>(n_vocab));
    types.resize(static_cast<size_t>(n_vocab));

    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "gpt-2");
    w.set_array_string("tokenizer.ggml.tokens", tokens);
    w.set_array_int32("tokenizer.ggml.token_type", types);
    w.set_array_string("tokenizer.ggml.merges", merges);
    w.set_uint32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(eot));
    w.set_uint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eot));
    w.set_bool("tokenizer.ggml.add_bos_token", false);
}

} // namespace graft::models
