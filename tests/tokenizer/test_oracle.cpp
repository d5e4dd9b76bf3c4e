// graft's tokenizers against llama.cpp's (tests/oracle/graft-oracle) on the sample texts:
// token ids with and without special tokens, a long input, detokenizing with special tokens
// rendered and hidden, and the special ids. Skips when the oracle is not built.
#include "real_vocabs.h"
#include "sample_texts.h"

#include <graft/testing/process.h>
#include <graft/testing/skip.h>

#include <gtest/gtest.h>

#include <algorithm>

namespace graft::tokenizer {
namespace {

using test::escaped;
using test::RealVocab;

std::string join(const std::vector<std::vector<std::string>> &groups, const std::string &sep) {
    std::string out;
    for (const auto &group : groups) {
        for (const std::string &text : group) {
            out += out.empty() ? "" : sep;
            out += text;
        }
    }
    return out;
}

class AgainstLlamaCpp : public ::testing::TestWithParam<RealVocab> {
  protected:
    void SetUp() override {
        GRAFT_REQUIRE_LLAMA_SOURCE();
        GRAFT_REQUIRE_ORACLE();
        path = test::vocab_file(GetParam(), dir.path());
        tok = test::load(path);
    }

    // Compares one text; on a mismatch, the sample texts one by one say which one differs.
    void expect_same_ids(const std::string &text, bool add_special, bool parse_special) {
        const std::vector<int32_t> expected =
            testing::oracle_tokenize(path, text, {add_special, parse_special});
        const std::vector<int32_t> got = tok->encode(text, add_special, parse_special);
        if (got == expected) {
            return;
        }
        const size_t at = static_cast<size_t>(
            std::mismatch(got.begin(), got.end(), expected.begin(), expected.end()).first -
            got.begin());
        ADD_FAILURE() << "ids differ from llama.cpp's at token " << at << " of " << got.size()
                      << " (llama.cpp: " << expected.size() << "), add_special=" << add_special
                      << " parse_special=" << parse_special;
        for (const auto *group :
             {&test::valid_texts(), &test::special_texts(), &test::invalid_texts()}) {
            for (const std::string &one : *group) {
                EXPECT_EQ(tok->encode(one, add_special, parse_special),
                          testing::oracle_tokenize(path, one, {add_special, parse_special}))
                    << escaped(one);
            }
        }
    }

    testing::TempDir dir;
    std::filesystem::path path;
    std::unique_ptr<Tokenizer> tok;
};

TEST_P(AgainstLlamaCpp, TokenIds) {
    const std::vector<std::vector<std::string>> all = {test::valid_texts(), test::special_texts(),
                                                       test::invalid_texts()};
    // Joined by the EOS token's text, so that with parse_special each sample is tokenized
    // on its own, as it would be alone.
    expect_same_ids(join(all, tok->token_text(tok->eos())), true, true);
    expect_same_ids(join(all, "\n"), false, false);
    expect_same_ids("", true, true);
    expect_same_ids(" ", false, false);
}

TEST_P(AgainstLlamaCpp, LongInput) {
    std::string text;
    for (int round = 0; text.size() < 150000; ++round) {
        for (const std::string &sample : test::valid_texts()) {
            text += sample;
            text += std::string(static_cast<size_t>(round % 7), round % 2 ? ' ' : '\n');
        }
        text += std::string(static_cast<size_t>(round % 50) * 20, "9 \t"[round % 3]);
    }
    expect_same_ids(text, true, true);
}

TEST_P(AgainstLlamaCpp, Detokenize) {
    const std::vector<std::vector<std::string>> all = {test::valid_texts(), test::special_texts()};
    std::vector<int32_t> ids = tok->encode(join(all, tok->token_text(tok->eos())), true, true);
    // Byte tokens, unknown and unused tokens and the last ids of the vocabulary as well.
    for (int32_t id : {0, 1, 2, 3, 100, 1000, tok->n_vocab() - 2, tok->n_vocab() - 1}) {
        ids.push_back(id);
    }
    for (bool render : {true, false}) {
        const std::string expected = testing::oracle_detokenize(
            path, ids, {.remove_special = false, .render_special = render});
        EXPECT_EQ(tok->decode(ids, render), expected) << "render_special=" << render;
    }
    // A sequence starting with a piece that has a leading space.
    const std::vector<int32_t> hello = tok->encode(" Hello , world 's", false, false);
    EXPECT_EQ(tok->decode(hello, false), testing::oracle_detokenize(path, hello, {false, false}));
}

TEST_P(AgainstLlamaCpp, SpecialIds) {
    const testing::ModelInfo info = testing::oracle_info(path);
    EXPECT_EQ(tok->n_vocab(), info.get_int("n_vocab"));
    EXPECT_EQ(tok->bos(), info.get_int("bos"));
    EXPECT_EQ(tok->eos(), info.get_int("eos"));
    EXPECT_EQ(tok->eot(), info.get_int("eot"));
    EXPECT_EQ(tok->add_bos(), info.get_int("add_bos") != 0);
    EXPECT_EQ(tok->add_eos(), info.get_int("add_eos") != 0);
}

INSTANTIATE_TEST_SUITE_P(Vocab, AgainstLlamaCpp, ::testing::ValuesIn(test::real_vocabs()),
                         test::vocab_test_name);

} // namespace
} // namespace graft::tokenizer
