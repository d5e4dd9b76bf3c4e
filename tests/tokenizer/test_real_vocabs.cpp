// Round trips, streaming and special tokens on llama.cpp's vocabularies (no llama.cpp code
// runs here; the files come from its source tree and the test skips without them).
#include "real_vocabs.h"
#include "sample_texts.h"

#include <graft/testing/process.h>
#include <graft/testing/skip.h>

#include <gtest/gtest.h>

namespace graft::tokenizer {
namespace {

using test::escaped;
using test::RealVocab;

class RealVocabs : public ::testing::TestWithParam<RealVocab> {
  protected:
    void SetUp() override {
        GRAFT_REQUIRE_LLAMA_SOURCE();
        tok = test::load(test::vocab_file(GetParam(), dir.path()));
    }
    std::string pieces(const std::vector<int32_t> &ids, bool render_special) const {
        std::string out;
        for (int32_t id : ids) {
            out += tok->token_to_piece(id, render_special);
        }
        return out;
    }
    testing::TempDir dir;
    std::unique_ptr<Tokenizer> tok;
};

// Byte-level BPE and SentencePiece with byte fallback lose nothing of valid UTF-8: the
// pieces give the text back (after SentencePiece's added space), and so does decode()
// where llama.cpp does not clean up spaces.
TEST_P(RealVocabs, RoundTrip) {
    const RealVocab &v = GetParam();
    for (const std::string &text : test::valid_texts()) {
        const std::vector<int32_t> ids = tok->encode(text, false, false);
        EXPECT_EQ(pieces(ids, true), (v.sentencepiece ? " " : "") + text) << escaped(text);
        if (!v.cleans_spaces) {
            EXPECT_EQ(tok->decode(ids, true), text) << escaped(text);
        }
        // With BOS in front, decode keeps SentencePiece's space (llama.cpp strips it from
        // the first token only).
        const std::vector<int32_t> with_bos = tok->encode(text, true, false);
        if (tok->add_bos() && !v.cleans_spaces) {
            ASSERT_FALSE(with_bos.empty());
            EXPECT_EQ(with_bos.front(), tok->bos());
            EXPECT_EQ(tok->decode(with_bos, false), (v.sentencepiece ? " " : "") + text);
        }
    }
}

TEST_P(RealVocabs, StreamDecoderGivesValidUtf8) {
    for (const std::string &text : test::valid_texts()) {
        const std::vector<int32_t> ids = tok->encode(text, false, true);
        StreamDecoder stream(*tok, false);
        std::string out;
        for (int32_t id : ids) {
            const std::string piece = stream.push(id);
            EXPECT_TRUE(test::valid_utf8(piece)) << escaped(piece) << " in " << escaped(text);
            out += piece;
        }
        out += stream.flush();
        EXPECT_EQ(out, pieces(ids, false)) << escaped(text);
    }
    for (const std::string &text : test::invalid_texts()) {
        StreamDecoder stream(*tok, true);
        std::string out;
        for (int32_t id : tok->encode(text, false, false)) {
            out += stream.push(id);
        }
        out += stream.flush();
        EXPECT_TRUE(test::valid_utf8(out)) << escaped(out);
    }
}

TEST_P(RealVocabs, SpecialTokensParsedAndRendered) {
    size_t n_special = 0;
    for (const std::string &text : test::special_texts()) {
        const std::vector<int32_t> ids = tok->encode(text, false, true);
        for (int32_t id : ids) {
            if (!tok->is_control(id)) {
                continue;
            }
            ++n_special;
            EXPECT_EQ(tok->token_to_piece(id, false), "");
            EXPECT_EQ(tok->token_to_piece(id, true), tok->token_text(id));
        }
        // Not parsed, the same text has no control token in it.
        for (int32_t id : tok->encode(text, false, false)) {
            EXPECT_FALSE(tok->is_control(id)) << id << " in " << escaped(text);
        }
    }
    EXPECT_GT(n_special, 0u) << "some sample should name this vocabulary's special tokens";
    EXPECT_TRUE(tok->is_eog(tok->eos()));
}

INSTANTIATE_TEST_SUITE_P(Vocab, RealVocabs, ::testing::ValuesIn(test::real_vocabs()),
                         test::vocab_test_name);

} // namespace
} // namespace graft::tokenizer
