// Shapes of the synthetic-model presets.
#include <graft/models/module.h>
#include <graft/models/synth.h>
#include <graft/util/error.h>

#include <algorithm>

namespace graft::models {

namespace {

// Small and fast: a few layers of 256 wide, one per family, each with the family's
// distinguishing features (biases, qk-norm, tied or untied head, shared experts, MLA).
SynthShape tiny(std::string_view family) {
    SynthShape s;
    s.family = std::string(family);
    if (family == "llama") {
        return s; // defaults: 256 wide, 2 layers, 8 heads, 4 KV heads, untied
    }
    if (family == "qwen2") {
        s.n_head_kv = 2;
        s.attn_bias = true;
        s.rope_freq_base = 1000000.0;
        s.rms_eps = 1e-6;
        return s;
    }
    if (family == "qwen3") {
        s.head_dim = 64; // heads wider than n_embd / n_head, as in Qwen3
        s.tied = true;
        s.rope_freq_base = 1000000.0;
        s.rms_eps = 1e-6;
        return s;
    }
    if (family == "mixtral") {
        s.n_ff = 256;
        s.n_expert = 4;
        s.n_expert_used = 2;
        s.rope_freq_base = 1000000.0;
        return s;
    }
    if (family == "qwen2moe") {
        s.attn_bias = true;
        s.n_expert = 8;
        s.n_expert_used = 2;
        s.n_ff_exp = 128;
        s.n_ff_shexp = 256;
        s.rope_freq_base = 1000000.0;
        s.rms_eps = 1e-6;
        return s;
    }
    if (family == "qwen3moe") {
        s.head_dim = 64;
        s.n_expert = 8;
        s.n_expert_used = 2;
        s.n_ff_exp = 128;
        s.rope_freq_base = 1000000.0;
        s.rms_eps = 1e-6;
        return s;
    }
    if (family == "deepseek2") {
        // V3-style routing (sigmoid, router bias, normalised and scaled weights) and a
        // low-rank q, on three layers of which the first is dense.
        s.n_layer = 3;
        s.n_dense_lead = 1;
        s.n_head = 4;
        s.n_head_kv = 4;
        s.q_lora_rank = 128;
        s.kv_lora_rank = 64;
        s.qk_nope_dim = 32;
        s.qk_rope_dim = 16;
        s.v_head_dim = 32;
        s.n_expert = 8;
        s.n_expert_used = 2;
        s.n_ff_exp = 64;
        s.n_expert_shared = 1;
        s.gating = "sigmoid";
        s.exp_probs_b = true;
        s.expert_weights_norm = true;
        s.expert_weights_scale = 2.5;
        s.rms_eps = 1e-6;
        return s;
    }
    std::string known;
    for (const auto &f : supported_families())
        known += (known.empty() ? "" : ", ") + f;
    throw Error("unknown family '" + std::string(family) + "'; families: " + known);
}

SynthShape llama_1b() {
    SynthShape s; // Llama 3.2 1B
    s.family = "llama";
    s.n_vocab = 128256;
    s.n_embd = 2048;
    s.n_layer = 16;
    s.n_head = 32;
    s.n_head_kv = 8;
    s.n_ff = 8192;
    s.n_ctx = 131072;
    s.rope_freq_base = 500000.0;
    s.tied = true;
    s.rope_freqs = true;
    return s;
}

SynthShape qwen3_30b_a3b_8l() {
    SynthShape s; // Qwen3-30B-A3B, cut to 8 of its 48 layers
    s.family = "qwen3moe";
    s.n_vocab = 151936;
    s.n_embd = 2048;
    s.n_layer = 8;
    s.n_head = 32;
    s.n_head_kv = 4;
    s.head_dim = 128;
    s.n_ff = 6144;
    s.n_ctx = 40960;
    s.rope_freq_base = 1000000.0;
    s.rms_eps = 1e-6;
    s.n_expert = 128;
    s.n_expert_used = 8;
    s.n_ff_exp = 768;
    return s;
}

SynthShape deepseek_v2_lite() {
    SynthShape s; // DeepSeek-V2-Lite: MLA without q compression, 64 experts + 2 shared
    s.family = "deepseek2";
    s.n_vocab = 102400;
    s.n_embd = 2048;
    s.n_layer = 27;
    s.n_head = 16;
    s.n_head_kv = 16;
    s.n_ff = 10944;
    s.n_ctx = 163840;
    s.rms_eps = 1e-6;
    s.kv_lora_rank = 512;
    s.qk_nope_dim = 128;
    s.qk_rope_dim = 64;
    s.v_head_dim = 128;
    s.n_expert = 64;
    s.n_expert_used = 6;
    s.n_ff_exp = 1408;
    s.n_expert_shared = 2;
    s.n_dense_lead = 1;
    s.expert_weights_scale = 1.0;
    s.rope_scaling_type = "yarn";
    s.rope_scaling_factor = 40.0;
    s.rope_orig_ctx = 4096;
    s.yarn_log_mul = 0.0707;
    return s;
}

} // namespace

const std::vector<std::string> &synth_presets() {
    static const std::vector<std::string> presets = {"tiny", "llama-1b", "qwen3-30b-a3b-8l",
                                                     "deepseek-v2-lite"};
    return presets;
}

std::string describe_synth_presets() {
    return "  tiny              any family: 256 wide, 2-3 layers, the family's features\n"
           "  llama-1b          llama: 2048 wide, 16 layers, 32 heads, 8 KV heads, FFN 8192,\n"
           "                    tied embeddings, Llama 3 rope factors\n"
           "  qwen3-30b-a3b-8l  qwen3moe: Qwen3-30B-A3B with 8 of its 48 layers (128 experts,\n"
           "                    8 used)\n"
           "  deepseek-v2-lite  deepseek2: DeepSeek-V2-Lite (MLA, 64 experts + 2 shared, YaRN)\n";
}

SynthShape synth_preset(std::string_view preset, std::string_view family) {
    if (preset == "tiny")
        return tiny(family.empty() ? "llama" : family);
    SynthShape s;
    if (preset == "llama-1b")
        s = llama_1b();
    else if (preset == "qwen3-30b-a3b-8l")
        s = qwen3_30b_a3b_8l();
    else if (preset == "deepseek-v2-lite")
        s = deepseek_v2_lite();
    else {
        std::string known;
        for (const auto &p : synth_presets())
            known += (known.empty() ? "" : ", ") + p;
        throw Error("unknown preset '" + std::string(preset) + "'; presets: " + known);
    }
    if (!family.empty() && family != s.family)
        throw Error("preset " + std::string(preset) + " is a " + s.family +
                    " model; drop --family or use --preset tiny --family " + std::string(family));
    return s;
}

} // namespace graft::models
