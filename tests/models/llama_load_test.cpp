// llama.cpp loads and runs what graft-synth writes, for every family and its variants:
// the metadata is complete, the shapes are what llama.cpp expects, and the weights keep
// the logits finite and of a sane size. Needs the graft-oracle program (llama.cpp).
#include "synth_fixture.h"

#include <graft/models/synth.h>
#include <graft/testing/oracle.h>
#include <graft/testing/skip.h>

#include <gtest/gtest.h>

#include <cmath>

namespace graft::models {
namespace {

struct Variant {
    std::string name, family;
    graft_dtype dtype = GRAFT_DTYPE_F16;
    std::function<void(SynthShape &)> adjust;
    std::string vocab; // ggml-vocab-<name>.gguf from llama.cpp, or built-in
};

class LlamaLoads : public ::testing::TestWithParam<Variant> {};

TEST_P(LlamaLoads, FiniteSaneLogits) {
    GRAFT_REQUIRE_ORACLE();
    const Variant &v = GetParam();
    test::TempDir dir;
    SynthOptions o;
    o.shape = synth_preset("tiny", v.family);
    if (v.adjust)
        v.adjust(o.shape);
    o.dtype = v.dtype;
    if (!v.vocab.empty()) {
        o.vocab = testing::llama_vocab(v.vocab);
        if (!std::filesystem::exists(o.vocab))
            GTEST_SKIP() << "no " << o.vocab;
    }
    const auto path = dir / (v.name + ".gguf");
    const SynthReport r = write_synthetic(o, path);
    const std::vector<int32_t> tokens = {1, 20, 300, 4, 50, 6, 70, 8};
    const testing::LogitRows logits = testing::oracle_logits(path, tokens, true);
    ASSERT_EQ(logits.n_vocab, static_cast<size_t>(r.n_vocab));
    ASSERT_EQ(logits.n_rows, tokens.size());
    double sum2 = 0;
    float lo = INFINITY, hi = -INFINITY;
    for (float x : logits.values) {
        ASSERT_TRUE(std::isfinite(x));
        sum2 += static_cast<double>(x) * x;
        lo = std::min(lo, x);
        hi = std::max(hi, x);
    }
    const double rms = std::sqrt(sum2 / static_cast<double>(logits.values.size()));
    EXPECT_GT(rms, 0.01);
    EXPECT_LT(rms, 10.0);
    EXPECT_LT(lo, hi);
}

INSTANTIATE_TEST_SUITE_P(
    Families, LlamaLoads,
    ::testing::Values(Variant{"llama", "llama"}, Variant{"qwen2", "qwen2"},
                      Variant{"qwen3", "qwen3"}, Variant{"mixtral", "mixtral"},
                      Variant{"qwen2moe", "qwen2moe"}, Variant{"qwen3moe", "qwen3moe"},
                      Variant{"deepseek2", "deepseek2"},
                      Variant{"deepseek2_legacy_no_qlora", "deepseek2", GRAFT_DTYPE_F16,
                              [](SynthShape &s) {
                                  s.mla_legacy = true;
                                  s.q_lora_rank = 0;
                              }},
                      Variant{"llama3_rope_freqs_tied_bf16", "llama", GRAFT_DTYPE_BF16,
                              [](SynthShape &s) {
                                  s.rope_freqs = true;
                                  s.tied = true;
                              }},
                      Variant{"qwen3_f32_vocab", "qwen3", GRAFT_DTYPE_F32, {}, "qwen2"}),
    [](const ::testing::TestParamInfo<Variant> &param_info) { return param_info.param.name; });

} // namespace
} // namespace graft::models
