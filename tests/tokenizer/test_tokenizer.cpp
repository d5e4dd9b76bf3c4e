// Tokenizers built from small vocabularies written with gguf::Writer: merge order, byte
// fallback, special tokens, decoding, streaming and the errors of malformed metadata.
#include "tokenizer_test_util.h"
#include "toy_vocabs.h"

#include <graft/testing/process.h>
#include <graft/util/error.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace graft::tokenizer {
namespace {

using test::bpe_writer;
using test::byte_symbol;
using test::escaped;
using test::ids_text;
using test::kSpace;
using test::load;
using test::sp;
using test::spm_writer;

class ToyVocabs : public ::testing::Test {
  protected:
    testing::TempDir dir;
    std::vector<int32_t> ids(const Tokenizer &tok, std::initializer_list<std::string> texts) {
        std::vector<int32_t> out;
        for (const std::string &t : texts) {
            out.push_back(tok.find_token(t));
            EXPECT_GE(out.back(), 0) << "no token '" << escaped(t) << "'";
        }
        return out;
    }
};

TEST_F(ToyVocabs, SentencePieceMergesByScore) {
    const auto tok = load(spm_writer(), dir / "spm.gguf");
    EXPECT_EQ(tok->model(), "llama");
    EXPECT_EQ(tok->pre(), "default");
    // "bc" (-0.5) beats "ab" (-1.0); "xy" (-0.5) beats "yz" (-1.0).
    EXPECT_EQ(tok->encode("abc", false, false), ids(*tok, {kSpace, "a", "bc"}));
    EXPECT_EQ(tok->encode("xyz", false, false), ids(*tok, {kSpace, "xy", "z"}));
    EXPECT_EQ(tok->encode("hello", false, false), ids(*tok, {sp("hello")}));
    EXPECT_EQ(tok->encode("hello abc", false, false), ids(*tok, {sp("hello"), kSpace, "a", "bc"}));
    EXPECT_EQ(tok->encode("", false, false), std::vector<int32_t>{});
    EXPECT_EQ(tok->encode("", true, false), std::vector<int32_t>{1});
    EXPECT_EQ(tok->encode("abc", true, false), ids(*tok, {"<s>", kSpace, "a", "bc"}));
    EXPECT_TRUE(tok->add_bos());
    EXPECT_FALSE(tok->add_eos());
}

TEST_F(ToyVocabs, SentencePieceByteFallback) {
    const auto tok = load(spm_writer(), dir / "spm.gguf");
    // "€" is no piece: its three UTF-8 bytes become byte tokens.
    EXPECT_EQ(tok->encode("\xE2\x82\xAC", false, false),
              ids(*tok, {kSpace, "<0xE2>", "<0x82>", "<0xAC>"}));
    EXPECT_EQ(tok->token_to_piece(tok->find_token("<0x41>"), false), "A");
    EXPECT_EQ(tok->decode(tok->encode("a\xE2\x82\xAC"
                                      "b",
                                      false, false),
                          false),
              "a\xE2\x82\xAC"
              "b");
    // Text comes back unchanged, also bytes that are no valid UTF-8 (which fall back to
    // byte tokens). Spaces are left out: escaped to U+2581 they may join a broken sequence
    // before them, and then come back as the three bytes of U+2581, as in llama.cpp.
    std::mt19937 rng(1234);
    for (int round = 0; round < 50; ++round) {
        std::string text(static_cast<size_t>(rng() % 40), '\0');
        for (char &c : text) {
            c = static_cast<char>(rng() % 0xE2); // below 0xE2: never spells U+2581
            c = c == ' ' ? '_' : c;
        }
        EXPECT_EQ(tok->decode(tok->encode(text, false, false), true), text) << escaped(text);
    }
    const std::string valid = "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87  \xF0\x9F\x98\x80 x\n\ty ";
    EXPECT_EQ(tok->decode(tok->encode(valid, false, false), true), valid);
}

TEST_F(ToyVocabs, SentencePieceSpecialTokens) {
    const auto tok = load(spm_writer(), dir / "spm.gguf");
    const int32_t tool = tok->find_token("<tool>");
    const int32_t ctl = tok->find_token("<|ctl|>");
    // User-defined tokens are cut out even without parse_special; the text after a special
    // token gets the leading space again.
    EXPECT_EQ(tok->encode("abc<tool>abc", false, false),
              ids(*tok, {kSpace, "a", "bc", "<tool>", kSpace, "a", "bc"}));
    EXPECT_EQ(tok->encode("<|ctl|>", false, true), std::vector<int32_t>{ctl});
    const std::vector<int32_t> plain = tok->encode("<|ctl|>", false, false);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), ctl), 0) << ids_text(plain);
    EXPECT_EQ(tok->decode(plain, false), "<|ctl|>");
    // Rendering: control and unknown tokens only on request, user-defined always.
    EXPECT_EQ(tok->token_to_piece(ctl, false), "");
    EXPECT_EQ(tok->token_to_piece(ctl, true), "<|ctl|>");
    EXPECT_EQ(tok->token_to_piece(0, false), "");
    EXPECT_EQ(tok->token_to_piece(0, true), "<unk>");
    EXPECT_EQ(tok->token_to_piece(tool, false), "<tool>");
    // The leading space is dropped from the first token only, as llama.cpp does.
    const std::vector<int32_t> with_bos = tok->encode("abc", true, false);
    EXPECT_EQ(tok->decode(with_bos, true), "<s> abc");
    EXPECT_EQ(tok->decode(with_bos, false), " abc");
    EXPECT_EQ(tok->decode(tok->encode("abc", false, false), false), "abc");
}

TEST_F(ToyVocabs, EndOfGenerationAndControl) {
    const auto tok = load(spm_writer(), dir / "spm.gguf");
    EXPECT_EQ(tok->bos(), 1);
    EXPECT_EQ(tok->eos(), 2);
    EXPECT_EQ(tok->unk(), 0);
    EXPECT_TRUE(tok->is_eog(2));
    EXPECT_FALSE(tok->is_eog(1));
    const int32_t im_end = tok->find_token("<|im_end|>");
    EXPECT_TRUE(tok->is_eog(im_end));     // by its text
    EXPECT_TRUE(tok->is_control(im_end)); // and made a control token
    EXPECT_EQ(tok->eot(), im_end);
    EXPECT_TRUE(tok->is_control(1));
    EXPECT_FALSE(tok->is_control(tok->find_token("a")));
    EXPECT_FALSE(tok->is_eog(-1));
    EXPECT_FALSE(tok->is_eog(tok->n_vocab()));
    EXPECT_EQ(tok->token_text(tok->find_token(sp("hello"))), sp("hello"));
}

TEST_F(ToyVocabs, MetadataOverridesDefaults) {
    gguf::Writer w = spm_writer();
    w.set_bool("tokenizer.ggml.add_bos_token", false);
    w.set_bool("tokenizer.ggml.add_eos_token", true);
    w.set_bool("tokenizer.ggml.add_space_prefix", false);
    w.set_uint32("tokenizer.ggml.eot_token_id", 2);
    w.set_uint32("tokenizer.ggml.padding_token_id", 100000); // out of range: ignored
    const auto tok = load(w, dir / "spm.gguf");
    EXPECT_EQ(tok->encode("abc", true, false), ids(*tok, {"a", "bc", "</s>"}));
    EXPECT_EQ(tok->eot(), 2);
    EXPECT_EQ(tok->pad(), -1);
}

TEST_F(ToyVocabs, BpeMergesByRankWithinWords) {
    const auto tok = load(bpe_writer("gpt-2"), dir / "bpe.gguf");
    EXPECT_EQ(tok->model(), "gpt2");
    EXPECT_EQ(tok->pre(), "gpt-2");
    const std::string G = byte_symbol(' ');
    // "b c" has rank 0, so "abc" is a + bc although "ab" exists.
    EXPECT_EQ(tok->encode("abc", false, false), ids(*tok, {"a", "bc"}));
    EXPECT_EQ(tok->encode("hello world", false, false), ids(*tok, {"hello", G + "world"}));
    // No merge joins across words: "ab" + " c" stays apart.
    EXPECT_EQ(tok->encode("ab c", false, false), ids(*tok, {"ab", G, "c"}));
    // Without merges a word falls apart into byte symbols.
    EXPECT_EQ(tok->encode("xyz", false, false), ids(*tok, {"x", "y", "z"}));
    EXPECT_EQ(tok->encode("\xE2\x82\xAC", false, false),
              ids(*tok, {byte_symbol(0xE2), byte_symbol(0x82), byte_symbol(0xAC)}));
    EXPECT_FALSE(tok->add_bos());
    EXPECT_EQ(tok->encode("abc", true, false), ids(*tok, {"a", "bc"}));
}

TEST_F(ToyVocabs, BpeIgnoreMergesAndBos) {
    // Llama 3's pre-tokenizer takes a word that is a token whole, and adds BOS.
    const auto tok = load(bpe_writer("llama-bpe"), dir / "bpe.gguf");
    EXPECT_EQ(tok->encode("xyz", false, false), ids(*tok, {"xyz"}));
    EXPECT_TRUE(tok->add_bos());
    EXPECT_EQ(tok->encode("xyz", true, false), ids(*tok, {"<|endoftext|>", "xyz"}));
}

TEST_F(ToyVocabs, BpeSpecialTokensAndPieces) {
    const auto tok = load(bpe_writer("gpt-2"), dir / "bpe.gguf");
    const int32_t eot = tok->find_token("<|endoftext|>");
    EXPECT_EQ(tok->encode("ab<|endoftext|>ab", false, true),
              ids(*tok, {"ab", "<|endoftext|>", "ab"}));
    const std::vector<int32_t> plain = tok->encode("<|endoftext|>", false, false);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), eot), 0);
    EXPECT_EQ(tok->decode(plain, true), "<|endoftext|>");
    EXPECT_EQ(tok->encode("ab<tool>", false, false), ids(*tok, {"ab", "<tool>"}));
    EXPECT_EQ(tok->token_to_piece(tok->find_token(byte_symbol(' ') + "world"), false), " world");
    EXPECT_EQ(tok->token_to_piece(tok->find_token(byte_symbol('\n')), false), "\n");
    EXPECT_EQ(tok->token_to_piece(eot, false), "");
    EXPECT_EQ(tok->token_to_piece(eot, true), "<|endoftext|>");
    EXPECT_TRUE(tok->is_eog(eot));
    EXPECT_TRUE(tok->is_eog(tok->find_token("<|im_end|>")));
    EXPECT_FALSE(tok->is_eog(tok->find_token("<tool>")));
}

TEST_F(ToyVocabs, BpeDecodeCleansSpacesWhereTheVocabularyAsks) {
    // GPT-2 cleans " ," to ","; Qwen2's tokenizer does not.
    const auto gpt2 = load(bpe_writer("gpt-2"), dir / "gpt2.gguf");
    const auto qwen2 = load(bpe_writer("qwen2"), dir / "qwen2.gguf");
    for (const auto *tok : {gpt2.get(), qwen2.get()}) {
        const std::vector<int32_t> ids = tok->encode("a , b 's x ' y", false, false);
        std::string joined;
        for (int32_t id : ids) {
            joined += tok->token_to_piece(id, true);
        }
        EXPECT_EQ(joined, "a , b 's x ' y"); // the pieces are exact either way
    }
    EXPECT_EQ(gpt2->decode(gpt2->encode("a , b 's x ' y", false, false), false), "a, b's x'y");
    EXPECT_EQ(qwen2->decode(qwen2->encode("a , b 's x ' y", false, false), false),
              "a , b 's x ' y");
}

TEST_F(ToyVocabs, LongInputs) {
    // Merging stays O(n log n): a quarter million characters in one word, and long runs.
    const auto bpe = load(bpe_writer("gpt-2"), dir / "bpe.gguf");
    const std::vector<int32_t> a = bpe->encode(std::string(1 << 18, 'a'), false, false);
    ASSERT_EQ(a.size(), size_t{1} << 16);
    EXPECT_EQ(std::count(a.begin(), a.end(), bpe->find_token("aaaa")), 1 << 16);
    EXPECT_EQ(bpe->decode(bpe->encode(std::string(100000, ' ') + "x", false, false), false),
              std::string(100000, ' ') + "x");
    const auto spm = load(spm_writer(), dir / "spm.gguf");
    std::string text;
    for (int i = 0; i < 40000; ++i) {
        text += "abc hello xyz ";
    }
    const std::vector<int32_t> ids = spm->encode(text, false, false);
    // Per repetition: ▁ a bc, ▁hello, ▁ xy z; then the trailing space.
    EXPECT_EQ(ids.size(), 40000u * 7 + 1);
    EXPECT_EQ(spm->decode(ids, false), text);
}

TEST_F(ToyVocabs, AnyBytesEncodeWithoutError) {
    const auto bpe = load(bpe_writer("deepseek-v3"), dir / "bpe.gguf");
    const auto spm = load(spm_writer(), dir / "spm.gguf");
    std::mt19937 rng(99);
    for (int round = 0; round < 200; ++round) {
        std::string text(static_cast<size_t>(rng() % 64), '\0');
        for (char &c : text) {
            c = static_cast<char>(rng());
        }
        EXPECT_NO_THROW(bpe->encode(text, true, true)) << escaped(text);
        EXPECT_NO_THROW(spm->encode(text, true, true)) << escaped(text);
    }
    // Code points past U+10FFFF (F4 90.., F5..F7 leads) are replaced, not fatal.
    EXPECT_FALSE(bpe->encode("\xF4\x90\x80\x80\xF7\xBF\xBF\xBF", false, false).empty());
}

TEST_F(ToyVocabs, BadIdsAreErrors) {
    const auto tok = load(spm_writer(), dir / "spm.gguf");
    EXPECT_THROW(tok->token_to_piece(-1, true), Error);
    EXPECT_THROW(tok->token_to_piece(tok->n_vocab(), true), Error);
    EXPECT_THROW(tok->token_text(tok->n_vocab()), Error);
    const std::vector<int32_t> bad = {3, 1 << 30};
    EXPECT_THROW(tok->decode(bad, true), Error);
    StreamDecoder stream(*tok, true);
    EXPECT_THROW(stream.push(-7), Error);
    EXPECT_EQ(tok->find_token("no such token"), -1);
}

// Every vocabulary must fail to load with a message naming what is wrong.
void expect_load_error(const gguf::Writer &w, const std::filesystem::path &path,
                       const std::string &fragment) {
    try {
        load(w, path);
        ADD_FAILURE() << "loaded; expected an error mentioning '" << fragment << "'";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

TEST_F(ToyVocabs, MalformedMetadataIsRefused) {
    {
        gguf::Writer w;
        w.set_string("general.name", "no tokenizer");
        expect_load_error(w, dir / "e1.gguf", "tokenizer.ggml.model");
    }
    {
        gguf::Writer w = spm_writer();
        w.set_string("tokenizer.ggml.model", "bert");
        expect_load_error(w, dir / "e2.gguf", "bert");
    }
    {
        gguf::Writer w = bpe_writer("no-such-pre");
        expect_load_error(w, dir / "e3.gguf", "no-such-pre");
    }
    {
        gguf::Writer w;
        w.set_string("tokenizer.ggml.model", "gpt2");
        w.set_array_string("tokenizer.ggml.tokens", {"a", "b"});
        expect_load_error(w, dir / "e4.gguf", "tokenizer.ggml.merges");
    }
    {
        gguf::Writer w;
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_array_int32("tokenizer.ggml.tokens", {1, 2, 3});
        expect_load_error(w, dir / "e5.gguf", "tokenizer.ggml.tokens");
    }
    {
        gguf::Writer w;
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_array_string("tokenizer.ggml.tokens", {"a", "b", "c"});
        w.set_array_float32("tokenizer.ggml.scores", {0.0f});
        expect_load_error(w, dir / "e6.gguf", "tokenizer.ggml.scores");
    }
    {
        gguf::Writer w;
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_array_string("tokenizer.ggml.tokens", {"a", "b", "c"});
        w.set_array_float32("tokenizer.ggml.token_type", {1, 1, 1});
        expect_load_error(w, dir / "e7.gguf", "tokenizer.ggml.token_type");
    }
    {
        gguf::Writer w = spm_writer();
        w.set_string("tokenizer.ggml.bos_token_id", "one");
        expect_load_error(w, dir / "e8.gguf", "bos_token_id");
    }
    {
        gguf::Writer w;
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_array_string("tokenizer.ggml.tokens", {});
        expect_load_error(w, dir / "e9.gguf", "tokenizer.ggml.tokens");
    }
}

} // namespace
} // namespace graft::tokenizer
