// StreamDecoder: fed one byte token at a time, so every split of every multi-byte
// character occurs, it must only ever emit complete, valid UTF-8 and in the end all text.
#include "tokenizer_test_util.h"
#include "toy_vocabs.h"

#include <graft/testing/process.h>

#include <gtest/gtest.h>

namespace graft::tokenizer {
namespace {

using test::escaped;
using test::valid_utf8;

class StreamDecoding : public ::testing::Test {
  protected:
    void SetUp() override { tok = test::load(test::bpe_writer("gpt-2"), dir / "bpe.gguf"); }

    // The byte-level vocabulary has one token per byte.
    int32_t byte_token(unsigned char b) const { return tok->find_token(test::byte_symbol(b)); }

    // Pushes `bytes` one byte token at a time; returns what each push and the flush gave.
    std::vector<std::string> stream(std::string_view bytes) const {
        StreamDecoder decoder(*tok, false);
        std::vector<std::string> outputs;
        for (unsigned char b : bytes) {
            outputs.push_back(decoder.push(byte_token(b)));
        }
        outputs.push_back(decoder.flush());
        return outputs;
    }

    testing::TempDir dir;
    std::unique_ptr<Tokenizer> tok;
};

// Length of the longest prefix of valid UTF-8 `text` that ends on a character boundary.
size_t complete_prefix(std::string_view text, size_t n) {
    while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) {
        --n;
    }
    return n;
}

TEST_F(StreamDecoding, EverySplitOfValidText) {
    const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xE4\xB8\xAD "
                             "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xF0\x9F\x91\xA8\xE2\x80\x8D"
                             "\xF0\x9F\x91\xA9";
    ASSERT_TRUE(valid_utf8(text));
    const std::vector<std::string> outputs = stream(text);
    std::string so_far;
    for (size_t i = 0; i + 1 < outputs.size(); ++i) {
        EXPECT_TRUE(valid_utf8(outputs[i])) << "after byte " << i << ": " << escaped(outputs[i]);
        so_far += outputs[i];
        // Everything up to the last complete character has come out, nothing more.
        EXPECT_EQ(so_far, text.substr(0, complete_prefix(text, i + 1))) << "after byte " << i;
    }
    EXPECT_EQ(outputs.back(), "");
    EXPECT_EQ(so_far, text);
}

TEST_F(StreamDecoding, InvalidBytesBecomeReplacementCharacters) {
    const std::string fffd = "\xEF\xBF\xBD";
    // A byte that can start no character is replaced at once.
    EXPECT_EQ(stream("\x80"
                     "a"),
              (std::vector<std::string>{fffd, "a", ""}));
    EXPECT_EQ(stream("\xFF"), (std::vector<std::string>{fffd, ""}));
    // A character cut short by a byte that cannot continue it: one U+FFFD for its start.
    EXPECT_EQ(stream("\xE2\x82"
                     "A"),
              (std::vector<std::string>{"", "", fffd + "A", ""}));
    // Overlong forms and surrogates are never completed.
    EXPECT_EQ(stream("\xC0\x80"), (std::vector<std::string>{fffd, fffd, ""}));
    EXPECT_EQ(stream("\xED\xA0\x80"), (std::vector<std::string>{"", fffd + fffd, fffd, ""}));
    // An incomplete character at the end is replaced by flush.
    EXPECT_EQ(stream("ok\xF0\x9F\x98"), (std::vector<std::string>{"o", "k", "", "", "", fffd}));
}

TEST_F(StreamDecoding, FlushResets) {
    StreamDecoder decoder(*tok, false);
    EXPECT_EQ(decoder.push(byte_token(0xE2)), "");
    EXPECT_EQ(decoder.flush(), "\xEF\xBF\xBD");
    EXPECT_EQ(decoder.flush(), "");
    EXPECT_EQ(decoder.push(byte_token('x')), "x");
}

TEST_F(StreamDecoding, RenderSpecial) {
    const int32_t eot = tok->find_token("<|endoftext|>");
    StreamDecoder shown(*tok, true);
    StreamDecoder hidden(*tok, false);
    EXPECT_EQ(shown.push(eot), "<|endoftext|>");
    EXPECT_EQ(hidden.push(eot), "");
}

} // namespace
} // namespace graft::tokenizer
