// llama.cpp's tokenizer test pairs (models/ggml-vocab-*.gguf.inp/.out): every text must
// give exactly the ids llama.cpp recorded, run as its test-tokenizer-0 runs them
// (add_special and parse_special off).
#include <graft/gguf/gguf.h>
#include <graft/testing/skip.h>
#include <graft/testing/vocab_cases.h>
#include <graft/tokenizer/tokenizer.h>

#include <gtest/gtest.h>

#include <cctype>
#include <sstream>

namespace {

using graft::tokenizer::Tokenizer;

std::string describe(const Tokenizer &tok, const std::vector<int32_t> &ids) {
    std::ostringstream out;
    for (int32_t id : ids) {
        out << id;
        if (id >= 0 && id < tok.n_vocab()) {
            out << "'" << tok.token_to_piece(id, true) << "' ";
        }
    }
    return out.str();
}

std::string param_name(const ::testing::TestParamInfo<const char *> &param) {
    std::string name = param.param;
    for (char &ch : name) {
        ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    }
    return name;
}

class VocabPairs : public ::testing::TestWithParam<const char *> {};

TEST_P(VocabPairs, MatchLlamaCpp) {
    GRAFT_REQUIRE_LLAMA_SOURCE();
    const auto path = graft::testing::llama_vocab(GetParam());
    const auto file = graft::gguf::File::open(path);
    const auto tok = Tokenizer::from_gguf(*file);
    const auto cases = graft::testing::read_vocab_cases(path);
    ASSERT_FALSE(cases.empty());
    size_t failures = 0;
    for (const auto &c : cases) {
        const std::vector<int32_t> got = tok->encode(c.text, false, false);
        EXPECT_EQ(got, c.ids) << "text: '" << c.text << "'\n expected: " << describe(*tok, c.ids)
                              << "\n got:      " << describe(*tok, got);
        failures += got != c.ids;
    }
    EXPECT_EQ(failures, 0u) << "of " << cases.size() << " cases";
}

// The vocabularies graft must tokenize exactly, and the others whose pre-tokenizer it has.
INSTANTIATE_TEST_SUITE_P(Required, VocabPairs,
                         ::testing::Values("llama-spm", "llama-bpe", "qwen2", "deepseek-llm",
                                           "deepseek-coder", "gpt-2"),
                         param_name);
INSTANTIATE_TEST_SUITE_P(Also, VocabPairs,
                         ::testing::Values("starcoder", "refact", "command-r", "falcon", "mpt",
                                           "qwen35", "phi-3"),
                         param_name);

} // namespace
