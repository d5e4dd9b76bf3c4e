// graft's logits against llama.cpp's on the same GGUF file, for the dense families and
// the weight types of issue "Correct inference on the CPU".
//
// For each (family, type): random-weight models written by graft-synth over a real
// vocabulary (K-quants made by llama.cpp's quantizer), prompts of 1, 7, 64 and 300 tokens
// evaluated in one prefill with logits at every position, decode steps after a prefill,
// and a 32-token greedy continuation. Per position e = ||graft - ref|| / ||ref - mean(ref)||.
// Both sides keep the KV cache in F32.
//
// Bounds: 1e-4 for F32, 2e-3 for F16, 1e-2 for quantized weights (llama.cpp quantizes the
// activations of quantized matmuls to 8 bits; so does graft, rounding differently), and
// for BF16 see kBoundBf16.
#include <graft/engine/generate.h>
#include <graft/engine/open.h>
#include <graft/host/registry.h>
#include <graft/testing/logits.h>
#include <graft/testing/oracle.h>
#include <graft/testing/skip.h>
#include <graft/testing/synth.h>

#include <gtest/gtest.h>

#include <random>

namespace {

using namespace graft;
using graft::testing::SynthSpec;

// BF16: llama.cpp rounds the activations to BF16 before its BF16 dot products; graft keeps
// them in F32 (more accurate), which leaves e near 3.5e-3 on these models (measured:
// qwen2 3.27e-3, qwen3 3.54e-3 for a 7-token prompt). The bound sits just above.
constexpr double kBoundBf16 = 5e-3;

struct Case {
    std::string family;
    std::string type; // F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K
};

std::string case_name(const ::testing::TestParamInfo<Case> &info) {
    return info.param.family + "_" + info.param.type;
}

double bound_for(const std::string &type) {
    if (type == "F32")
        return 1e-4;
    if (type == "F16")
        return 2e-3;
    if (type == "BF16")
        return kBoundBf16;
    return 1e-2;
}

SynthSpec spec_for(const Case &c) {
    SynthSpec s;
    s.family = c.family;
    s.vocab = c.family == "llama" ? "llama-bpe" : "qwen2";
    if (c.type == "F16" || c.type == "BF16") {
        s.dtype = c.type;
    } else {
        s.dtype = "F32";
        if (c.type != "F32")
            s.quant = c.type;
    }
    // K-quants need rows that are multiples of 256: the tiny preset's 256-wide model with
    // a 768 FFN keeps every tensor in the requested type.
    return s;
}

std::vector<int32_t> random_tokens(size_t n, int64_t n_vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    // Ordinary tokens: the low ids of both vocabularies are byte-level pieces and words.
    std::uniform_int_distribution<int32_t> pick(100, static_cast<int32_t>(std::min<int64_t>(n_vocab, 30000)));
    std::vector<int32_t> t(n);
    for (auto &x : t)
        x = pick(rng);
    return t;
}

class Conformance : public ::testing::TestWithParam<Case> {
  protected:
    void SetUp() override {
        GRAFT_REQUIRE_ORACLE();
        spec_ = spec_for(GetParam());
        if (auto why = graft::testing::synth_unavailable(spec_))
            GTEST_SKIP() << *why;
        path_ = graft::testing::synth_model(spec_);
        registry_ = std::make_unique<host::Registry>(
            host::Registry::discover({std::filesystem::path(GRAFT_BUILD_PLUGIN_DIR)}));
        engine::OpenOptions o;
        o.model = path_;
        o.executable = std::filesystem::path(GRAFT_BINARY_DIR) / "bin" / "graft";
        o.load.kv_dtype = GRAFT_DTYPE_F32;
        o.load.n_ctx = 512;
        o.load.n_batch = 512;
        model_ = engine::open_model(o, *registry_);
    }

    graft::testing::EvalOptions eval() const {
        graft::testing::EvalOptions e;
        e.kv_type = "f32";
        return e;
    }

    SynthSpec spec_;
    std::filesystem::path path_;
    std::unique_ptr<host::Registry> registry_;
    std::unique_ptr<engine::OpenedModel> model_;
};

TEST_P(Conformance, PrefillLogitsMatchAtEveryPosition) {
    const double bound = bound_for(GetParam().type);
    const int64_t n_vocab = model_->model->n_vocab();
    for (size_t n : {1u, 7u, 64u, 300u}) {
        const std::vector<int32_t> prompt = random_tokens(n, n_vocab, static_cast<uint32_t>(n));
        const std::vector<float> ours = engine::prefill(*model_->model, 0, 0, prompt, true);
        const auto ref = graft::testing::oracle_logits(path_, prompt, true, eval());
        const auto cmp = graft::testing::compare_logits(ours, ref.values,
                                                        static_cast<size_t>(n_vocab));
        EXPECT_LE(cmp.max_error(), bound) << n << " tokens:\n" << cmp.summary();
        EXPECT_EQ(cmp.argmax_agreements(), n) << n << " tokens:\n" << cmp.summary();
    }
}

TEST_P(Conformance, DecodeStepsAfterPrefillMatch) {
    const double bound = bound_for(GetParam().type);
    const int64_t n_vocab = model_->model->n_vocab();
    const std::vector<int32_t> prompt = random_tokens(7, n_vocab, 77);
    const auto ref = graft::testing::oracle_decode_steps(path_, prompt, 8, eval());
    std::vector<float> ours = engine::prefill(*model_->model, 0, 0, prompt);
    int64_t n_past = static_cast<int64_t>(prompt.size());
    for (int32_t tok : ref.fed) {
        engine::BatchItem item;
        item.slot = 0;
        item.n_past = n_past++;
        item.tokens = {&tok, 1};
        auto next = model_->model->forward({&item, 1}, engine::Phase::Decode);
        ours.insert(ours.end(), next.begin(), next.end());
    }
    const auto cmp = graft::testing::compare_logits(ours, ref.logits.values,
                                                    static_cast<size_t>(n_vocab));
    EXPECT_LE(cmp.max_error(), bound) << cmp.summary();
    EXPECT_EQ(cmp.argmax_agreements(), ref.fed.size() + 1) << cmp.summary();
}

TEST_P(Conformance, GreedyContinuationOf32TokensIsIdentical) {
    const int64_t n_vocab = model_->model->n_vocab();
    const std::vector<int32_t> prompt = random_tokens(7, n_vocab, 7);
    const std::vector<int32_t> ref = graft::testing::oracle_generate(path_, prompt, 32, true, eval());
    engine::GenerateParams p;
    p.sampling.temperature = 0;
    p.max_tokens = 32;
    p.ignore_eos = true;
    const engine::GenerateResult r =
        engine::generate(*model_->model, *model_->tokenizer, prompt, p, nullptr);
    EXPECT_EQ(r.tokens, ref);
}

INSTANTIATE_TEST_SUITE_P(
    Dense, Conformance,
    ::testing::Values(Case{"llama", "F32"}, Case{"llama", "F16"}, Case{"llama", "BF16"},
                      Case{"llama", "Q8_0"}, Case{"llama", "Q4_0"}, Case{"llama", "Q4_K_M"},
                      Case{"llama", "Q6_K"}, Case{"qwen2", "F32"}, Case{"qwen2", "F16"},
                      Case{"qwen2", "BF16"}, Case{"qwen2", "Q8_0"}, Case{"qwen2", "Q4_0"},
                      Case{"qwen2", "Q4_K_M"}, Case{"qwen2", "Q6_K"}, Case{"qwen3", "F32"},
                      Case{"qwen3", "F16"}, Case{"qwen3", "BF16"}, Case{"qwen3", "Q8_0"},
                      Case{"qwen3", "Q4_0"}, Case{"qwen3", "Q4_K_M"}, Case{"qwen3", "Q6_K"}),
    case_name);

} // namespace
