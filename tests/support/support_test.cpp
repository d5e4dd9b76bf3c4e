// Unit tests of the shared test helpers: the error metric, the parsers, the process runner,
// the reading of llama.cpp's tokenizer test pairs.
#include <graft/testing/logits.h>
#include <graft/testing/oracle.h>
#include <graft/testing/process.h>
#include <graft/testing/synth.h>
#include <graft/testing/vocab_cases.h>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>

namespace gt = graft::testing;

namespace {

std::vector<float> random_logits(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0F, 3.0F);
    std::vector<float> values(n);
    for (float &v : values) {
        v = normal(rng);
    }
    return values;
}

} // namespace

TEST(LogitMetric, IdenticalRowsHaveZeroError) {
    const auto ref = random_logits(1000, 1);
    EXPECT_EQ(gt::relative_error(ref, ref), 0.0);
}

TEST(LogitMetric, ErrorIsRelativeToTheSpreadOfTheReference) {
    // ref = spread s around a mean m; graft = ref + d at one entry: e = |d| / ||ref - m||.
    std::vector<float> ref = {10.0F, 12.0F, 8.0F, 10.0F}; // mean 10, ||ref - mean|| = sqrt(8)
    std::vector<float> graft = ref;
    graft[1] += 0.5F;
    EXPECT_NEAR(gt::relative_error(graft, ref), 0.5 / std::sqrt(8.0), 1e-12);
    // A constant offset of the reference does not change its spread.
    for (float &v : ref) {
        v += 1000.0F;
    }
    for (float &v : graft) {
        v += 1000.0F;
    }
    EXPECT_NEAR(gt::relative_error(graft, ref), 0.5 / std::sqrt(8.0), 1e-9);
}

TEST(LogitMetric, NonFiniteOrFlatReferenceIsInfinite) {
    const std::vector<float> ref = {1.0F, 2.0F, 3.0F};
    std::vector<float> graft = ref;
    graft[0] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(std::isinf(gt::relative_error(graft, ref)));
    const std::vector<float> flat = {2.0F, 2.0F, 2.0F};
    EXPECT_EQ(gt::relative_error(flat, flat), 0.0);
    EXPECT_TRUE(std::isinf(gt::relative_error(ref, flat)));
}

TEST(LogitMetric, ComparesEveryPositionAndCountsArgmaxAgreement) {
    const size_t n_vocab = 50;
    auto ref = random_logits(n_vocab * 3, 2);
    auto graft = ref;
    // Position 1: graft prefers another token clearly.
    const size_t best = gt::argmax(std::span<const float>(ref).subspan(n_vocab, n_vocab));
    const size_t other = (best + 1) % n_vocab;
    graft[n_vocab + other] = ref[n_vocab + best] + 5.0F;
    const auto result = gt::compare_logits(graft, ref, n_vocab);
    ASSERT_EQ(result.positions.size(), 3U);
    EXPECT_EQ(result.positions[0].error, 0.0);
    EXPECT_GT(result.positions[1].error, 0.0);
    EXPECT_FALSE(result.positions[1].argmax_agrees);
    EXPECT_EQ(result.positions[1].graft_argmax, other);
    EXPECT_EQ(result.argmax_agreements(), 2U);
    EXPECT_NEAR(result.argmax_agreement(), 2.0 / 3.0, 1e-12);
    EXPECT_EQ(result.max_error(), result.positions[1].error);
    EXPECT_NE(result.summary().find("MISMATCH"), std::string::npos);
}

TEST(LogitMetric, NearTiesAgreeWithinTheMargin) {
    std::vector<float> ref = {0.0F, 5.0F, 4.999F, 1.0F};
    std::vector<float> graft = {0.0F, 4.998F, 5.0F, 1.0F};
    EXPECT_FALSE(gt::compare_logits(graft, ref, 4).positions[0].argmax_agrees);
    EXPECT_TRUE(gt::compare_logits(graft, ref, 4, 0.01).positions[0].argmax_agrees);
}

TEST(LogitMetric, RejectsMismatchedSizes) {
    const std::vector<float> a(10), b(12);
    EXPECT_THROW(gt::compare_logits(a, b, 5), std::invalid_argument);
    EXPECT_THROW(gt::compare_logits(a, a, 3), std::invalid_argument);
}

TEST(LogitMetric, ArgmaxTiesGoToTheLowestIndexAndSkipNaN) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(gt::argmax(std::vector<float>{1.0F, 3.0F, 3.0F}), 1U);
    EXPECT_EQ(gt::argmax(std::vector<float>{nan, 2.0F, 1.0F}), 1U);
}

TEST(OracleParsers, TokenIds) {
    EXPECT_EQ(gt::parse_token_ids("1,2,3\n"), (std::vector<int32_t>{1, 2, 3}));
    EXPECT_EQ(gt::parse_token_ids("\n"), std::vector<int32_t>{});
    EXPECT_EQ(gt::parse_token_ids("7"), std::vector<int32_t>{7});
    EXPECT_THROW(gt::parse_token_ids("1,x"), std::runtime_error);
    EXPECT_THROW(gt::parse_token_ids("1.5"), std::runtime_error);
    EXPECT_EQ(gt::format_token_ids(std::vector<int32_t>{4, 5}), "4,5");
}

TEST(OracleParsers, FloatLinesAndFiles) {
    const auto values = gt::parse_float_lines("1.5\n-2\ninf\n");
    ASSERT_EQ(values.size(), 3U);
    EXPECT_EQ(values[0], 1.5F);
    EXPECT_EQ(values[1], -2.0F);
    EXPECT_TRUE(std::isinf(values[2]));
    EXPECT_THROW(gt::parse_float_lines("1.5x\n"), std::runtime_error);

    gt::TempDir dir;
    const std::vector<float> written = {0.25F, -1.0F, 3.0F};
    std::ofstream(dir / "f.bin", std::ios::binary)
        .write(reinterpret_cast<const char *>(written.data()), sizeof(float) * written.size());
    EXPECT_EQ(gt::read_float32_file(dir / "f.bin"), written);
    std::ofstream(dir / "odd.bin", std::ios::binary) << "abcde";
    EXPECT_THROW(gt::read_float32_file(dir / "odd.bin"), std::runtime_error);
}

TEST(Process, CapturesOutputErrorsAndExitCode) {
    const auto ok = gt::run_process("/bin/sh", {"-c", "printf 'a\\nb'; printf err >&2"});
    EXPECT_TRUE(ok.ok()) << ok.describe();
    EXPECT_EQ(ok.out, "a\nb");
    EXPECT_EQ(ok.err, "err");

    const auto failed = gt::run_process("/bin/sh", {"-c", "echo why >&2; exit 3"});
    EXPECT_FALSE(failed.ok());
    EXPECT_EQ(failed.exit_code, 3);
    EXPECT_NE(failed.describe().find("why"), std::string::npos);
    EXPECT_THROW(gt::run_checked("/bin/sh", {"-c", "exit 1"}), std::runtime_error);
}

TEST(Process, ArgumentsArePassedWithoutAShell) {
    const std::string tricky = "a b;$(echo no)'\"";
    const auto result = gt::run_process("/bin/sh", {"-c", "printf %s \"$1\"", "sh", tricky});
    EXPECT_EQ(result.out, tricky);
}

TEST(Process, LargeOutputOnBothStreamsDoesNotDeadlock) {
    const auto result = gt::run_process(
        "/bin/sh", {"-c", "head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2"});
    EXPECT_TRUE(result.ok()) << result.describe();
    EXPECT_EQ(result.out.size(), 300000U);
    EXPECT_EQ(result.err.size(), 300000U);
}

TEST(Process, TimeoutKillsAndSignalsAreReported) {
    const auto slow = gt::run_process("/bin/sh", {"-c", "sleep 30"}, std::chrono::seconds(1));
    EXPECT_TRUE(slow.timed_out);
    EXPECT_FALSE(slow.ok());
    const auto killed = gt::run_process("/bin/sh", {"-c", "kill -SEGV $$"});
    EXPECT_EQ(killed.signal, SIGSEGV);
    EXPECT_FALSE(killed.ok());
    EXPECT_THROW(gt::run_process("/nonexistent/program", {}), std::runtime_error);
}

TEST(VocabCases, SplitsLikeLlamaCpp) {
    gt::TempDir dir;
    const auto vocab = dir / "v.gguf";
    std::ofstream(vocab.string() + ".inp", std::ios::binary)
        << "Hello\n__ggml_vocab_test__\n\n\n__ggml_vocab_test__\n a b\n__ggml_vocab_test__\n";
    std::ofstream(vocab.string() + ".out", std::ios::binary) << " 1 2\n 3\n 4 5 6\n";
    const auto cases = gt::read_vocab_cases(vocab);
    ASSERT_EQ(cases.size(), 3U);
    EXPECT_EQ(cases[0].text, "Hello");
    EXPECT_EQ(cases[1].text, "\n");
    EXPECT_EQ(cases[2].text, " a b");
    EXPECT_EQ(cases[2].ids, (std::vector<int32_t>{4, 5, 6}));

    std::ofstream(vocab.string() + ".out", std::ios::binary | std::ios::trunc) << "1\n";
    EXPECT_THROW(gt::read_vocab_cases(vocab), std::runtime_error);
}

TEST(Synth, ArgumentsAndAvailability) {
    gt::SynthSpec spec;
    spec.family = "qwen3";
    spec.dtype = "BF16";
    spec.seed = 7;
    spec.extra_args = {"--tied"};
    const auto args = gt::synth_args(spec);
    const auto has = [&](const std::string &flag, const std::string &value) {
        for (size_t i = 0; i + 1 < args.size(); ++i) {
            if (args[i] == flag && args[i + 1] == value) {
                return true;
            }
        }
        return false;
    };
    EXPECT_TRUE(has("--family", "qwen3"));
    EXPECT_TRUE(has("--dtype", "BF16"));
    EXPECT_TRUE(has("--seed", "7"));
    EXPECT_EQ(args.back(), "--tied");
    // A missing vocabulary is a reason to skip, not a crash.
    spec.vocab = "no-such-vocabulary";
    EXPECT_TRUE(gt::synth_unavailable(spec).has_value());
}
