// The vocabularies of llama.cpp's source tree that graft's tokenizers are held to, and
// DeepSeek V3's, which no vocabulary file ships: the DeepSeek LLM vocabulary with
// tokenizer.ggml.pre = "deepseek-v3" (V3 kept the tokens and changed the pre-tokenizer).
#pragma once

#include "tokenizer_test_util.h"

#include <graft/testing/oracle.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace graft::tokenizer::test {

struct RealVocab {
    const char *name;   // test name
    const char *source; // llama.cpp vocabulary it is read from
    const char *pre;    // tokenizer.ggml.pre to write instead, or nullptr
    bool sentencepiece;
    bool cleans_spaces; // llama.cpp's detokenizer removes " ," and the like for it
};

inline const std::vector<RealVocab> &real_vocabs() {
    static const std::vector<RealVocab> vocabs = {
        {"llama_spm", "llama-spm", nullptr, true, false},
        {"llama_bpe", "llama-bpe", nullptr, false, true},
        {"qwen2", "qwen2", nullptr, false, false},
        {"deepseek_llm", "deepseek-llm", nullptr, false, false},
        {"deepseek_coder", "deepseek-coder", nullptr, false, false},
        {"deepseek_v3", "deepseek-llm", "deepseek-v3", false, false},
        {"gpt2", "gpt-2", nullptr, false, true},
    };
    return vocabs;
}

// The file of `v`: llama.cpp's, or one written into `dir` with gguf::Writer.
inline std::filesystem::path vocab_file(const RealVocab &v, const std::filesystem::path &dir) {
    const std::filesystem::path source = testing::llama_vocab(v.source);
    if (v.pre == nullptr) {
        return source;
    }
    const auto file = gguf::File::open(source);
    gguf::Writer w;
    for (const gguf::KeyValue &kv : file->metadata()) {
        w.set_value(kv.key, kv.value);
    }
    w.set_string("tokenizer.ggml.pre", v.pre);
    const std::filesystem::path path = dir / (std::string(v.name) + ".gguf");
    w.write(path);
    return path;
}

inline std::string vocab_test_name(const ::testing::TestParamInfo<RealVocab> &info) {
    return info.param.name;
}

} // namespace graft::tokenizer::test
