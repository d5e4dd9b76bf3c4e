// Synthetic models: random-weight GGUF files of any supported family, for tests and
// benchmarks. The files carry the metadata llama.cpp needs to load them, so the same file
// runs in graft and in llama.cpp; the weights are seeded (same options, same bytes) and
// scaled so that activations stay in a sane range (matrices ~ N(0, 0.02), norms ~ 1).
#pragma once

#include <graft/plugin.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace graft::models {

// The shape of a synthetic model. Fields that do not apply to the family are ignored.
struct SynthShape {
    std::string family = "llama"; // one of supported_families()
    int64_t n_vocab = 512;        // used only when no vocabulary file is given
    int64_t n_embd = 256, n_layer = 2, n_head = 8, n_head_kv = 4;
    int64_t head_dim = 0; // 0: n_embd / n_head
    int64_t n_ff = 512;   // dense MLP size (deepseek2: the leading dense layers)
    int64_t n_ctx = 4096;
    double rope_freq_base = 10000.0, rms_eps = 1e-5;
    bool tied = false;               // no output.weight: lm_head reads token_embd.weight
    bool attn_bias = false;          // q/k/v biases (qwen2 always has them)
    bool rope_freqs = false;         // rope_freqs.weight with Llama 3 frequency factors
    double rope_freqs_factor = 32.0; // Llama 3 scaling factor behind rope_freqs
    // RoPE scaling metadata ("none", "linear", "yarn").
    std::string rope_scaling_type = "none";
    double rope_scaling_factor = 0.0;
    int64_t rope_orig_ctx = 0;
    double yarn_log_mul = 0.0; // deepseek2: rope.scaling.yarn_log_multiplier as written
    // Mixture of experts.
    int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0;
    int64_t n_expert_shared = 0;    // deepseek2: shared experts of n_ff_exp each
    int64_t n_ff_shexp = 0;         // qwen2moe: the shared expert's FFN size
    int64_t n_dense_lead = 0;       // deepseek2: leading dense layers
    std::string gating = "softmax"; // deepseek2: "softmax" or "sigmoid"
    bool expert_weights_norm = false;
    double expert_weights_scale = 0.0; // 0: not written
    bool exp_probs_b = false;          // deepseek2: router bias (V3 style)
    // MLA (deepseek2).
    int64_t q_lora_rank = 0, kv_lora_rank = 0, qk_nope_dim = 0, qk_rope_dim = 0, v_head_dim = 0;
    bool mla_legacy = false; // attn_kv_b as older converters wrote it, not attn_k_b/attn_v_b
};

struct SynthOptions {
    SynthShape shape;
    // GGUF whose tokenizer.* metadata (vocabulary, merges, chat template) is copied; its
    // token count is the model's n_vocab. Empty: a built-in byte-level BPE vocabulary
    // ("gpt2", pre-tokenizer "gpt-2") of shape.n_vocab tokens.
    std::filesystem::path vocab;
    graft_dtype dtype = GRAFT_DTYPE_F16; // of matrices: F32, F16 or BF16; 1-D tensors are F32
    uint64_t seed = 1;
    bool sparse = false; // matrices as holes (zeros): multi-GB files in an instant; the
                         // 1-D tensors (norms, biases, rope factors) are still written
    std::string name;    // general.name; empty: "graft-synth <family>"
};

struct SynthReport {
    std::filesystem::path path;
    std::string arch; // general.architecture written (mixtral is written as llama)
    int64_t n_vocab = 0;
    uint64_t n_tensors = 0, n_params = 0, file_size = 0;
};

// Preset names: "tiny" (any family), "llama-1b", "qwen3-30b-a3b-8l", "deepseek-v2-lite".
const std::vector<std::string> &synth_presets();
// One line per preset for --help.
std::string describe_synth_presets();
// The shape of a preset. `family` picks the family of "tiny" and must match the family of
// the others when given. Throws graft::Error for unknown names (listing the known ones).
SynthShape synth_preset(std::string_view preset, std::string_view family);

// Writes the model atomically; throws graft::Error on bad shapes or I/O failure.
SynthReport write_synthetic(const SynthOptions &options, const std::filesystem::path &out);

} // namespace graft::models
