// The tokenizer test pairs that ship with llama.cpp's vocabularies:
// models/ggml-vocab-<name>.gguf.inp holds texts separated by "\n__ggml_vocab_test__\n",
// .gguf.out the expected ids of each, one line of space-separated ids per text. llama.cpp's
// tests/test-tokenizer-0 runs them with add_special = false, parse_special = false.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace graft::testing {

struct VocabCase {
    std::string text;
    std::vector<int32_t> ids;
};

// Reads <vocab>.inp and <vocab>.out; throws std::runtime_error when either is missing or
// their case counts differ.
std::vector<VocabCase> read_vocab_cases(const std::filesystem::path &vocab_gguf);

} // namespace graft::testing
