// The llama.cpp oracle checked against llama.cpp's own test data and against itself, so
// that conformance tests built on it compare graft with something trustworthy.
#include <graft/testing/logits.h>
#include <graft/testing/oracle.h>
#include <graft/testing/process.h>
#include <graft/testing/skip.h>
#include <graft/testing/synth.h>
#include <graft/testing/vocab_cases.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace gt = graft::testing;

namespace {

// A prompt of in-vocabulary ids that reads like text to the model (any ids will do for a
// random-weight model; these avoid BOS/EOS so nothing stops early).
std::vector<int32_t> sample_prompt(size_t n, int32_t n_vocab) {
    std::vector<int32_t> tokens;
    for (size_t i = 0; i < n; ++i) {
        tokens.push_back(
            static_cast<int32_t>(100 + (i * 7919) % static_cast<size_t>(n_vocab - 100)));
    }
    return tokens;
}

gt::SynthSpec tiny_llama() {
    gt::SynthSpec spec;
    spec.family = "llama";
    spec.preset = "tiny";
    spec.vocab = "llama-spm";
    spec.dtype = "F32";
    return spec;
}

} // namespace

TEST(OracleTokenizer, MatchesLlamaCppTestPairs) {
    GRAFT_REQUIRE_ORACLE();
    GRAFT_REQUIRE_LLAMA_SOURCE();
    const auto vocab = gt::llama_vocab("llama-spm");
    const auto cases = gt::read_vocab_cases(vocab);
    ASSERT_FALSE(cases.empty());
    // Three cases cover ASCII, whitespace runs and multi-byte text without a process per case.
    std::vector<size_t> picked = {0, cases.size() / 2, cases.size() - 1};
    for (size_t index : picked) {
        const auto &c = cases[index];
        const auto ids =
            gt::oracle_tokenize(vocab, c.text, {.add_special = false, .parse_special = false});
        EXPECT_EQ(ids, c.ids) << "case " << index << ": '" << c.text << "'";
    }
}

TEST(OracleTokenizer, SpecialTokensFollowTheFlags) {
    GRAFT_REQUIRE_ORACLE();
    GRAFT_REQUIRE_LLAMA_SOURCE();
    const auto vocab = gt::llama_vocab("llama-spm");
    const auto info = gt::oracle_info(vocab);
    const auto bos = static_cast<int32_t>(info.get_int("bos"));
    const auto with = gt::oracle_tokenize(vocab, "Hello world");
    const auto without = gt::oracle_tokenize(vocab, "Hello world", {.add_special = false});
    ASSERT_EQ(with.size(), without.size() + 1);
    EXPECT_EQ(with.front(), bos);
    EXPECT_TRUE(std::equal(without.begin(), without.end(), with.begin() + 1));
    // "<s>" is the BOS token when parsed as special, plain text when not.
    const auto parsed = gt::oracle_tokenize(vocab, "<s>", {.add_special = false});
    const auto literal =
        gt::oracle_tokenize(vocab, "<s>", {.add_special = false, .parse_special = false});
    EXPECT_EQ(parsed, std::vector<int32_t>{bos});
    EXPECT_GT(literal.size(), 1U);
}

TEST(OracleTokenizer, DetokenizeInvertsTokenizeOnByteLevelBpe) {
    GRAFT_REQUIRE_ORACLE();
    GRAFT_REQUIRE_LLAMA_SOURCE();
    const auto vocab = gt::llama_vocab("gpt-2");
    const std::string text = "  Tabs\tand\nnew lines, digits 12345, émoji 🦙 and -dashes";
    const auto ids = gt::oracle_tokenize(vocab, text, {.add_special = false});
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(gt::oracle_detokenize(vocab, ids), text);
    // Text with a NUL byte goes through a file and survives intact.
    const std::string with_nul("a\0b", 3);
    EXPECT_EQ(
        gt::oracle_detokenize(vocab, gt::oracle_tokenize(vocab, with_nul, {.add_special = false})),
        with_nul);
}

TEST(OracleErrors, BadInputIsExitCodeOneWithAMessage) {
    GRAFT_REQUIRE_ORACLE();
    const auto missing =
        gt::run_process(gt::oracle_path(), {"tokenize", "/nonexistent.gguf", "--text", "x"});
    EXPECT_EQ(missing.exit_code, 1) << missing.describe();
    EXPECT_NE(missing.err.find("nonexistent.gguf"), std::string::npos) << missing.err;
    const auto no_command = gt::run_process(gt::oracle_path(), {});
    EXPECT_EQ(no_command.exit_code, 1);
    const auto bad_type = gt::run_process(gt::oracle_path(), {"quantize", "a", "b", "Q9_9"});
    EXPECT_EQ(bad_type.exit_code, 1);
    EXPECT_NE(bad_type.err.find("Q4_K_M"), std::string::npos) << bad_type.err;
}

TEST(OracleErrors, TokenIdsAreChecked) {
    GRAFT_REQUIRE_ORACLE();
    GRAFT_REQUIRE_LLAMA_SOURCE();
    const auto vocab = gt::llama_vocab("gpt-2").string();
    const auto out_of_range =
        gt::run_process(gt::oracle_path(), {"detokenize", vocab, "--tokens=5,99999999"});
    EXPECT_EQ(out_of_range.exit_code, 1);
    EXPECT_NE(out_of_range.err.find("99999999"), std::string::npos) << out_of_range.err;
    const auto garbage = gt::run_process(gt::oracle_path(), {"detokenize", vocab, "--tokens=1,a"});
    EXPECT_EQ(garbage.exit_code, 1);
}

class OracleModel : public ::testing::Test {
  protected:
    void SetUp() override {
        GRAFT_REQUIRE_ORACLE();
        GRAFT_REQUIRE_SYNTH();
        model_ = gt::synth_model(tiny_llama());
        n_vocab_ = static_cast<int32_t>(gt::oracle_info(model_).get_int("n_vocab"));
    }
    std::filesystem::path model_;
    int32_t n_vocab_ = 0;
};

TEST_F(OracleModel, LogitsOfEveryPositionAreFiniteAndEndWithTheLastPosition) {
    const auto prompt = sample_prompt(12, n_vocab_);
    const auto all = gt::oracle_logits(model_, prompt, /*all_positions=*/true);
    ASSERT_EQ(all.n_rows, prompt.size());
    ASSERT_EQ(all.n_vocab, static_cast<size_t>(n_vocab_));
    EXPECT_TRUE(gt::all_finite(all.values));
    // Rows differ between positions: the model looks at its input.
    EXPECT_GT(gt::relative_error(all.row(0), all.row(1)), 1e-3);

    const auto last = gt::oracle_logits(model_, prompt, /*all_positions=*/false);
    ASSERT_EQ(last.n_rows, 1U);
    const auto same = gt::compare_logits(last.row(0), all.row(all.n_rows - 1), all.n_vocab);
    EXPECT_LT(same.max_error(), 1e-5) << same.summary();
}

TEST_F(OracleModel, ChunkedPrefillMatchesOneBatch) {
    const auto prompt = sample_prompt(10, n_vocab_);
    const auto whole = gt::oracle_logits(model_, prompt, true);
    gt::EvalOptions chunked;
    chunked.batch = 3;
    const auto pieces = gt::oracle_logits(model_, prompt, true, chunked);
    const auto cmp = gt::compare_logits(pieces.values, whole.values, whole.n_vocab, 1e-3);
    EXPECT_LT(cmp.max_error(), 1e-4) << cmp.summary();
    EXPECT_EQ(cmp.argmax_agreements(), prompt.size()) << cmp.summary();
}

TEST_F(OracleModel, DecodeStepsMatchLogitsOfTheLongerPrompt) {
    const auto prompt = sample_prompt(7, n_vocab_);
    const int steps = 5;
    const auto decoded = gt::oracle_decode_steps(model_, prompt, steps);
    ASSERT_EQ(decoded.logits.n_rows, static_cast<size_t>(steps) + 1);
    EXPECT_TRUE(gt::all_finite(decoded.logits.values));
    // Each fed token is the greedy choice of the row before it.
    for (int i = 0; i < steps; ++i) {
        EXPECT_EQ(static_cast<size_t>(decoded.fed[static_cast<size_t>(i)]),
                  gt::argmax(decoded.logits.row(static_cast<size_t>(i))));
    }

    std::vector<int32_t> longer = prompt;
    longer.insert(longer.end(), decoded.fed.begin(), decoded.fed.end());
    const auto all = gt::oracle_logits(model_, longer, true);
    const size_t first = prompt.size() - 1;
    const std::span<const float> tail(all.values.data() + first * all.n_vocab,
                                      (static_cast<size_t>(steps) + 1) * all.n_vocab);
    const auto cmp = gt::compare_logits(decoded.logits.values, tail, all.n_vocab, 1e-3);
    EXPECT_LT(cmp.max_error(), 1e-4) << cmp.summary();
    EXPECT_EQ(cmp.argmax_agreements(), static_cast<size_t>(steps) + 1) << cmp.summary();

    // generate is the same greedy loop.
    EXPECT_EQ(gt::oracle_generate(model_, prompt, steps, /*ignore_eos=*/true), decoded.fed);
}

TEST_F(OracleModel, F16KvCacheStaysCloseToF32) {
    const auto prompt = sample_prompt(9, n_vocab_);
    const auto exact = gt::oracle_logits(model_, prompt, true);
    gt::EvalOptions half;
    half.kv_type = "f16";
    const auto approx = gt::oracle_logits(model_, prompt, true, half);
    const auto cmp = gt::compare_logits(approx.values, exact.values, exact.n_vocab);
    EXPECT_LT(cmp.max_error(), 1e-2) << cmp.summary();
}

TEST_F(OracleModel, BenchPrintsOneRatePerRepetition) {
    const std::string json =
        gt::oracle_run({"bench", model_.string(), "-p", "16", "-n", "4", "-r", "2", "-t", "1"});
    for (const char *key : {"\"pp_tps\"", "\"tg_tps\"", "\"engine\": \"llama.cpp\""}) {
        EXPECT_NE(json.find(key), std::string::npos) << json;
    }
    // Two positive numbers in each series.
    for (const char *key : {"\"pp_tps\": [", "\"tg_tps\": ["}) {
        const size_t start = json.find(key);
        ASSERT_NE(start, std::string::npos);
        const size_t open = start + std::string(key).size();
        const std::string series = json.substr(open, json.find(']', open) - open);
        const auto comma = series.find(',');
        ASSERT_NE(comma, std::string::npos) << series;
        EXPECT_GT(std::stod(series.substr(0, comma)), 0.0) << series;
        EXPECT_GT(std::stod(series.substr(comma + 1)), 0.0) << series;
    }
}

// Quantizing must give every weight matrix the type asked for (pure) and leave the norms
// in F32; rows whose length is not a multiple of the type's block fall back, as llama.cpp
// documents, so only tensors whose rows fit the block are held to the exact type.
TEST_F(OracleModel, QuantizeWritesTheRequestedTypes) {
    struct Case {
        const char *type;
        const char *ggml_name;
        int64_t block;
    };
    for (const Case c : {Case{"Q8_0", "q8_0", 32}, Case{"Q4_0", "q4_0", 32},
                         Case{"Q6_K", "q6_K", 256}, Case{"BF16", "bf16", 1}}) {
        SCOPED_TRACE(c.type);
        gt::SynthSpec spec = tiny_llama();
        spec.quant = c.type;
        spec.quant_pure = true;
        const auto tensors = gt::oracle_tensors(gt::synth_model(spec));
        ASSERT_FALSE(tensors.empty());
        size_t exact = 0;
        for (const auto &t : tensors) {
            const bool is_norm = t.name.find("_norm.weight") != std::string::npos;
            if (t.ne.size() == 1 || is_norm) {
                EXPECT_EQ(t.type, "f32") << t.name;
            } else if (t.ne[0] % c.block == 0) {
                EXPECT_EQ(t.type, c.ggml_name) << t.name;
                ++exact;
            }
        }
        EXPECT_GT(exact, 0U);
    }
}

TEST_F(OracleModel, QuantizeMixturesUseOnlyTheirFamilyOfTypes) {
    // Q4_K_M mixes Q4_K with Q6_K (and Q8_0/Q5_0 fallbacks for odd rows): never F16/F32
    // for a weight matrix, and the quantized model still runs.
    gt::SynthSpec spec = tiny_llama();
    spec.quant = "Q4_K_M";
    const auto path = gt::synth_model(spec);
    const std::set<std::string> allowed = {"q4_K", "q5_K", "q6_K", "q8_0",
                                           "q5_0", "q4_0", "q5_1", "q4_1"};
    size_t q4k = 0;
    for (const auto &t : gt::oracle_tensors(path)) {
        if (t.ne.size() >= 2 && t.name.find("_norm.weight") == std::string::npos) {
            EXPECT_TRUE(allowed.count(t.type)) << t.name << " is " << t.type;
            q4k += t.type == "q4_K" ? 1 : 0;
        }
    }
    EXPECT_GT(q4k, 0U);
    const auto logits = gt::oracle_logits(path, sample_prompt(4, n_vocab_), true);
    EXPECT_TRUE(gt::all_finite(logits.values));
}
