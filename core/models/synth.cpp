// Synthetic GGUF models: metadata as llama.cpp's converters write it (convert_hf_to_gguf.py,
// conversion/*.py), tensors as its loaders expect them (src/models/<arch>.cpp), weights
// from a counter-based generator so that any byte range can be produced on its own.
#include "synth_vocab.h"

#include <graft/gguf/gguf.h>
#include <graft/models/module.h>
#include <graft/models/synth.h>
#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

namespace graft::models {

namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t fnv1a(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : s)
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return h;
}

// A standard normal value that depends only on (stream, index): Box-Muller over two
// uniforms hashed from the index, so chunks of a tensor can be produced in any order.
double normal_at(uint64_t stream, uint64_t index) {
    const uint64_t bits = splitmix64(stream ^ splitmix64(index));
    const double u1 = (static_cast<double>(bits >> 40) + 0.5) / 16777216.0; // (0, 1)
    const double u2 = static_cast<double>(bits & 0xffffffu) / 16777216.0;   // [0, 1)
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

enum class Fill { matrix, norm, small, values };

struct TensorSpec {
    std::string name;
    std::vector<int64_t> ne;
    Fill fill = Fill::matrix;
    std::vector<float> values; // Fill::values
};

// Llama 3 rope frequency factors (what llama.cpp's converter stores in rope_freqs.weight):
// long wavelengths are slowed by `factor`, short ones kept, a smooth ramp between.
std::vector<float> llama3_rope_factors(int64_t n_rot, double base, double factor,
                                       int64_t orig_ctx) {
    const double low_freq_factor = 1.0, high_freq_factor = 4.0;
    const double low_wavelen = static_cast<double>(orig_ctx) / low_freq_factor;
    const double high_wavelen = static_cast<double>(orig_ctx) / high_freq_factor;
    std::vector<float> f;
    for (int64_t i = 0; i < n_rot; i += 2) {
        const double freq = 1.0 / std::pow(base, static_cast<double>(i) / n_rot);
        const double wavelen = 2.0 * std::numbers::pi / freq;
        if (wavelen < high_wavelen) {
            f.push_back(1.0f);
        } else if (wavelen > low_wavelen) {
            f.push_back(static_cast<float>(factor));
        } else {
            const double smooth =
                (orig_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            f.push_back(static_cast<float>(1.0 / ((1.0 - smooth) / factor + smooth)));
        }
    }
    return f;
}

void check_shape(const SynthShape &s) {
    auto positive = [](const char *what, int64_t v) {
        if (v <= 0 || v > (int64_t{1} << 24))
            throw Error(std::string("synthetic model: ") + what + " must be in 1..16M, not " +
                        std::to_string(v));
    };
    const auto &families = supported_families();
    if (std::find(families.begin(), families.end(), s.family) == families.end())
        throw Error("synthetic model: unknown family '" + s.family + "'");
    positive("n_embd", s.n_embd);
    positive("n_layer", s.n_layer);
    positive("n_head", s.n_head);
    positive("n_head_kv", s.n_head_kv);
    positive("n_ctx", s.n_ctx);
    if (s.n_head % s.n_head_kv != 0)
        throw Error("synthetic model: n_head must be a multiple of n_head_kv");
    if (s.head_dim == 0 && s.n_embd % s.n_head != 0)
        throw Error("synthetic model: n_embd must be a multiple of n_head (or give head_dim)");
    const bool moe = s.family == "mixtral" || s.family == "qwen2moe" || s.family == "qwen3moe" ||
                     s.family == "deepseek2";
    if (moe) {
        positive("n_expert", s.n_expert);
        positive("n_expert_used", s.n_expert_used);
        if (s.n_expert_used > s.n_expert)
            throw Error("synthetic model: n_expert_used exceeds n_expert");
        if (s.family == "mixtral")
            positive("n_ff", s.n_ff);
        else
            positive("n_ff_exp", s.n_ff_exp);
    } else {
        positive("n_ff", s.n_ff);
    }
    if (s.family == "qwen2moe")
        positive("n_ff_shexp", s.n_ff_shexp);
    if (s.family == "deepseek2") {
        positive("kv_lora_rank", s.kv_lora_rank);
        positive("qk_nope_dim", s.qk_nope_dim);
        positive("qk_rope_dim", s.qk_rope_dim);
        positive("v_head_dim", s.v_head_dim);
        if (s.n_dense_lead > 0)
            positive("n_ff", s.n_ff);
        if (s.n_dense_lead > s.n_layer)
            throw Error("synthetic model: more dense layers than layers");
        if (s.gating != "softmax" && s.gating != "sigmoid")
            throw Error("synthetic model: gating is softmax or sigmoid");
    }
}

std::string arch_of(const std::string &family) {
    return family == "mixtral" ? "llama" : family;
}

class SynthBuilder {
  public:
    explicit SynthBuilder(const SynthShape &s) : s_(s), arch_(arch_of(s.family)) {}

    void metadata(gguf::Writer &w, int64_t n_vocab, graft_dtype dtype,
                  const std::string &name) const {
        const SynthShape &s = s_;
        auto key = [&](const char *suffix) { return arch_ + "." + suffix; };
        auto u32 = [&](const char *suffix, int64_t v) {
            w.set_uint32(key(suffix), static_cast<uint32_t>(v));
        };
        w.set_string("general.architecture", arch_);
        w.set_string("general.name", name.empty() ? "graft-synth " + s.family : name);
        w.set_uint32("general.file_type", dtype == GRAFT_DTYPE_F32   ? 0u
                                          : dtype == GRAFT_DTYPE_F16 ? 1u
                                                                     : 32u);
        u32("vocab_size", n_vocab);
        u32("context_length", s.n_ctx);
        u32("embedding_length", s.n_embd);
        u32("block_count", s.n_layer);
        u32("feed_forward_length", s.n_ff);
        u32("attention.head_count", s.n_head);
        w.set_float32(key("attention.layer_norm_rms_epsilon"), static_cast<float>(s.rms_eps));
        w.set_float32(key("rope.freq_base"), static_cast<float>(s.rope_freq_base));
        if (s.rope_scaling_type != "none") {
            w.set_string(key("rope.scaling.type"), s.rope_scaling_type);
            w.set_float32(key("rope.scaling.factor"), static_cast<float>(s.rope_scaling_factor));
            if (s.rope_orig_ctx > 0)
                u32("rope.scaling.original_context_length", s.rope_orig_ctx);
        }
        if (s.family == "deepseek2") {
            // MLA is written as MQA with wide heads (kv_lora + rope), as the converter does;
            // legacy files carry the decompressed head sizes instead.
            if (s.mla_legacy) {
                u32("attention.head_count_kv", s.n_head);
                u32("attention.key_length", s.qk_nope_dim + s.qk_rope_dim);
                u32("attention.value_length", s.v_head_dim);
            } else {
                u32("attention.head_count_kv", 1);
                u32("attention.key_length", s.kv_lora_rank + s.qk_rope_dim);
                u32("attention.value_length", s.kv_lora_rank);
                u32("attention.key_length_mla", s.qk_nope_dim + s.qk_rope_dim);
                u32("attention.value_length_mla", s.v_head_dim);
            }
            u32("rope.dimension_count", s.qk_rope_dim);
            u32("leading_dense_block_count", s.n_dense_lead);
            u32("attention.q_lora_rank", s.q_lora_rank);
            u32("attention.kv_lora_rank", s.kv_lora_rank);
            u32("expert_feed_forward_length", s.n_ff_exp);
            u32("expert_count", s.n_expert);
            u32("expert_used_count", s.n_expert_used);
            u32("expert_shared_count", s.n_expert_shared);
            u32("expert_gating_func", s.gating == "sigmoid" ? 2 : 1);
            if (s.expert_weights_norm)
                w.set_bool(key("expert_weights_norm"), true);
            if (s.expert_weights_scale != 0.0)
                w.set_float32(key("expert_weights_scale"),
                              static_cast<float>(s.expert_weights_scale));
            if (s.yarn_log_mul != 0.0)
                w.set_float32(key("rope.scaling.yarn_log_multiplier"),
                              static_cast<float>(s.yarn_log_mul));
            return;
        }
        u32("attention.head_count_kv", s.n_head_kv);
        u32("rope.dimension_count", head_dim());
        if (s.head_dim != 0) {
            u32("attention.key_length", s.head_dim);
            u32("attention.value_length", s.head_dim);
        }
        if (s.family == "mixtral" || s.family == "qwen2moe" || s.family == "qwen3moe") {
            u32("expert_count", s.n_expert);
            u32("expert_used_count", s.n_expert_used);
        }
        if (s.family == "qwen2moe" || s.family == "qwen3moe")
            u32("expert_feed_forward_length", s.n_ff_exp);
        if (s.family == "qwen2moe")
            u32("expert_shared_feed_forward_length", s.n_ff_shexp);
    }

    std::vector<TensorSpec> tensors(int64_t n_vocab) const {
        const SynthShape &s = s_;
        std::vector<TensorSpec> t;
        t.push_back({"token_embd.weight", {s.n_embd, n_vocab}});
        t.push_back({"output_norm.weight", {s.n_embd}, Fill::norm});
        if (!s.tied)
            t.push_back({"output.weight", {s.n_embd, n_vocab}});
        if (s.rope_freqs && s.family != "deepseek2")
            t.push_back(
                {"rope_freqs.weight",
                 {head_dim() / 2},
                 Fill::values,
                 llama3_rope_factors(head_dim(), s.rope_freq_base, s.rope_freqs_factor, 8192)});
        for (int64_t il = 0; il < s.n_layer; ++il) {
            const std::string p = "blk." + std::to_string(il) + ".";
            t.push_back({p + "attn_norm.weight", {s.n_embd}, Fill::norm});
            if (s.family == "deepseek2")
                mla(t, p);
            else
                attention(t, p);
            t.push_back({p + "ffn_norm.weight", {s.n_embd}, Fill::norm});
            ffn(t, p, il);
        }
        return t;
    }

  private:
    int64_t head_dim() const { return s_.head_dim ? s_.head_dim : s_.n_embd / s_.n_head; }

    void attention(std::vector<TensorSpec> &t, const std::string &p) const {
        const SynthShape &s = s_;
        const int64_t hd = head_dim();
        const bool bias = s.attn_bias || s.family == "qwen2";
        t.push_back({p + "attn_q.weight", {s.n_embd, hd * s.n_head}});
        t.push_back({p + "attn_k.weight", {s.n_embd, hd * s.n_head_kv}});
        t.push_back({p + "attn_v.weight", {s.n_embd, hd * s.n_head_kv}});
        if (bias) {
            t.push_back({p + "attn_q.bias", {hd * s.n_head}, Fill::small});
            t.push_back({p + "attn_k.bias", {hd * s.n_head_kv}, Fill::small});
            t.push_back({p + "attn_v.bias", {hd * s.n_head_kv}, Fill::small});
        }
        t.push_back({p + "attn_output.weight", {hd * s.n_head, s.n_embd}});
        if (s.family == "qwen3" || s.family == "qwen3moe") {
            t.push_back({p + "attn_q_norm.weight", {hd}, Fill::norm});
            t.push_back({p + "attn_k_norm.weight", {hd}, Fill::norm});
        }
    }

    void mla(std::vector<TensorSpec> &t, const std::string &p) const {
        const SynthShape &s = s_;
        const int64_t k_head = s.qk_nope_dim + s.qk_rope_dim;
        if (s.q_lora_rank > 0) {
            t.push_back({p + "attn_q_a.weight", {s.n_embd, s.q_lora_rank}});
            t.push_back({p + "attn_q_a_norm.weight", {s.q_lora_rank}, Fill::norm});
            t.push_back({p + "attn_q_b.weight", {s.q_lora_rank, s.n_head * k_head}});
        } else {
            t.push_back({p + "attn_q.weight", {s.n_embd, s.n_head * k_head}});
        }
        t.push_back({p + "attn_kv_a_mqa.weight", {s.n_embd, s.kv_lora_rank + s.qk_rope_dim}});
        t.push_back({p + "attn_kv_a_norm.weight", {s.kv_lora_rank}, Fill::norm});
        if (s.mla_legacy) {
            t.push_back({p + "attn_kv_b.weight",
                         {s.kv_lora_rank, s.n_head * (s.qk_nope_dim + s.v_head_dim)}});
        } else {
            t.push_back({p + "attn_k_b.weight", {s.qk_nope_dim, s.kv_lora_rank, s.n_head}});
            t.push_back({p + "attn_v_b.weight", {s.kv_lora_rank, s.v_head_dim, s.n_head}});
        }
        t.push_back({p + "attn_output.weight", {s.n_head * s.v_head_dim, s.n_embd}});
    }

    void ffn(std::vector<TensorSpec> &t, const std::string &p, int64_t il) const {
        const SynthShape &s = s_;
        const bool moe = s.family == "mixtral" || s.family == "qwen2moe" ||
                         s.family == "qwen3moe" || s.family == "deepseek2";
        if (!moe || il < s.n_dense_lead) {
            t.push_back({p + "ffn_gate.weight", {s.n_embd, s.n_ff}});
            t.push_back({p + "ffn_up.weight", {s.n_embd, s.n_ff}});
            t.push_back({p + "ffn_down.weight", {s.n_ff, s.n_embd}});
            return;
        }
        const int64_t n_ff_exp = s.family == "mixtral" ? s.n_ff : s.n_ff_exp;
        t.push_back({p + "ffn_gate_inp.weight", {s.n_embd, s.n_expert}});
        if (s.exp_probs_b)
            t.push_back({p + "exp_probs_b.bias", {s.n_expert}, Fill::small});
        t.push_back({p + "ffn_gate_exps.weight", {s.n_embd, n_ff_exp, s.n_expert}});
        t.push_back({p + "ffn_up_exps.weight", {s.n_embd, n_ff_exp, s.n_expert}});
        t.push_back({p + "ffn_down_exps.weight", {n_ff_exp, s.n_embd, s.n_expert}});
        int64_t n_shexp = 0;
        if (s.family == "qwen2moe")
            n_shexp = s.n_ff_shexp;
        else if (s.family == "deepseek2")
            n_shexp = s.n_ff_exp * s.n_expert_shared;
        if (n_shexp > 0) {
            t.push_back({p + "ffn_gate_shexp.weight", {s.n_embd, n_shexp}});
            t.push_back({p + "ffn_up_shexp.weight", {s.n_embd, n_shexp}});
            t.push_back({p + "ffn_down_shexp.weight", {n_shexp, s.n_embd}});
        }
        if (s.family == "qwen2moe")
            t.push_back({p + "ffn_gate_inp_shexp.weight", {s.n_embd}, Fill::small});
    }

    const SynthShape &s_;
    std::string arch_;
};

// Bytes of one element of the dtypes synthetic weights use.
size_t element_size(graft_dtype dtype) {
    return dtype == GRAFT_DTYPE_F32 ? 4 : 2;
}

void encode(double v, graft_dtype dtype, std::byte *out) {
    const float f = static_cast<float>(v);
    if (dtype == GRAFT_DTYPE_F32) {
        std::memcpy(out, &f, 4);
        return;
    }
    const uint16_t h = dtype == GRAFT_DTYPE_F16 ? sdk::fp32_to_fp16(f) : sdk::fp32_to_bf16(f);
    std::memcpy(out, &h, 2);
}

gguf::Writer::Producer producer(const TensorSpec &spec, graft_dtype dtype, uint64_t stream) {
    return [fill = spec.fill, values = spec.values, dtype, stream](uint64_t byte_offset,
                                                                   std::span<std::byte> out) {
        const size_t esz = element_size(dtype);
        std::byte element[4];
        uint64_t index = byte_offset / esz;
        size_t skip = byte_offset % esz; // a chunk may start inside an element
        size_t pos = 0;
        while (pos < out.size()) {
            double v = 0.0;
            switch (fill) {
            case Fill::matrix:
            case Fill::small:
                v = 0.02 * normal_at(stream, index);
                break;
            case Fill::norm:
                v = 1.0 + 0.02 * normal_at(stream, index);
                break;
            case Fill::values:
                v = index < values.size() ? values[index] : 0.0;
                break;
            }
            encode(v, dtype, element);
            const size_t n = std::min(esz - skip, out.size() - pos);
            std::memcpy(out.data() + pos, element + skip, n);
            pos += n;
            skip = 0;
            ++index;
        }
    };
}

} // namespace

SynthReport write_synthetic(const SynthOptions &options, const std::filesystem::path &out) {
    const SynthShape &s = options.shape;
    check_shape(s);
    if (options.dtype != GRAFT_DTYPE_F32 && options.dtype != GRAFT_DTYPE_F16 &&
        options.dtype != GRAFT_DTYPE_BF16)
        throw Error("synthetic weights are F32, F16 or BF16 (quantise with llama.cpp's "
                    "llama-quantize afterwards)");

    gguf::Writer w;
    int64_t n_vocab = s.n_vocab;
    std::unique_ptr<gguf::File> vocab;
    if (!options.vocab.empty()) {
        vocab = gguf::File::open(options.vocab);
        const gguf::Value *tokens = vocab->find("tokenizer.ggml.tokens");
        if (!tokens || !tokens->is_array() || tokens->array_size() == 0)
            throw Error(options.vocab.string() + " has no tokenizer.ggml.tokens to copy");
        n_vocab = static_cast<int64_t>(tokens->array_size());
    }
    if (n_vocab < (vocab ? 1 : 257) || n_vocab > (int64_t{1} << 24))
        throw Error("synthetic model: n_vocab must be in " +
                    std::string(vocab ? "1" : "257 (256 bytes and end-of-text)") + "..16M");

    SynthBuilder builder(s);
    builder.metadata(w, n_vocab, options.dtype, options.name);
    if (vocab) {
        for (const gguf::KeyValue &kv : vocab->metadata())
            if (kv.key.rfind("tokenizer.", 0) == 0)
                w.set_value(kv.key, kv.value);
    } else {
        write_builtin_vocab(w, n_vocab);
    }

    SynthReport report;
    report.path = out;
    report.arch = arch_of(s.family);
    report.n_vocab = n_vocab;
    for (const TensorSpec &t : builder.tensors(n_vocab)) {
        // 1-D tensors (norms, biases, factors) stay F32, as llama.cpp's converters keep them.
        const graft_dtype dtype = t.ne.size() == 1 ? GRAFT_DTYPE_F32 : options.dtype;
        uint64_t n = 1;
        for (int64_t d : t.ne)
            n *= static_cast<uint64_t>(d);
        report.n_params += n;
        ++report.n_tensors;
        // Sparse files keep the 1-D tensors (kilobytes): zero norms or rope factors would
        // turn every activation into 0 or NaN, zero matrices only into 0.
        if (options.sparse && t.ne.size() > 1)
            w.add_tensor_zero(t.name, dtype, t.ne);
        else
            w.add_tensor_generated(t.name, dtype, t.ne,
                                   producer(t, dtype, splitmix64(options.seed ^ fnv1a(t.name))));
    }
    w.write(out);
    report.file_size = std::filesystem::file_size(out);
    return report;
}

} // namespace graft::models
