// Hyper-parameters from GGUF metadata, with llama.cpp's defaults (src/llama-model.cpp
// load_hparams and the per-architecture load_arch_hparams).
#include "hparams_reader.h"

#include <graft/util/error.h>

#include <algorithm>
#include <cmath>

namespace graft::models {

namespace {

// Upper bounds that keep shape arithmetic far from overflow; real models are well below.
constexpr int64_t kMaxDim = int64_t{1} << 24;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxExperts = 4096;

std::string join(const std::vector<std::string> &items) {
    std::string s;
    for (const auto &i : items)
        s += (s.empty() ? "" : ", ") + i;
    return s;
}

} // namespace

MetaReader::MetaReader(const gguf::File &file, std::string arch)
    : file_(file), arch_(std::move(arch)) {}

std::string MetaReader::key(std::string_view suffix) const {
    return arch_ + "." + std::string(suffix);
}

std::optional<int64_t> MetaReader::get_int(std::string_view suffix) const {
    const std::string k = key(suffix);
    const gguf::Value *v = file_.find(k);
    if (!v)
        return std::nullopt;
    if (v->is_array()) {
        // llama.cpp allows one value per layer; graft's families use one value for all.
        if (v->ints.empty())
            throw Error("metadata " + k + " is an empty array; expected an integer");
        if (std::adjacent_find(v->ints.begin(), v->ints.end(), std::not_equal_to<>()) !=
            v->ints.end())
            throw Error("metadata " + k +
                        " differs between layers; graft needs one value for all layers");
        return v->ints.front();
    }
    try {
        return v->as_int();
    } catch (const Error &) {
        throw Error("metadata " + k + " is a " + gguf::value_type_name(v->type) +
                    "; expected an integer");
    }
}

std::optional<double> MetaReader::get_float(std::string_view suffix) const {
    const std::string k = key(suffix);
    const gguf::Value *v = file_.find(k);
    if (!v)
        return std::nullopt;
    try {
        return v->as_float();
    } catch (const Error &) {
        throw Error("metadata " + k + " is a " + gguf::value_type_name(v->type) +
                    "; expected a number");
    }
}

std::optional<std::string> MetaReader::get_string(std::string_view suffix) const {
    const std::string k = key(suffix);
    const gguf::Value *v = file_.find(k);
    if (!v)
        return std::nullopt;
    try {
        return v->as_string();
    } catch (const Error &) {
        throw Error("metadata " + k + " is a " + gguf::value_type_name(v->type) +
                    "; expected a string");
    }
}

std::optional<bool> MetaReader::get_bool(std::string_view suffix) const {
    const std::string k = key(suffix);
    const gguf::Value *v = file_.find(k);
    if (!v)
        return std::nullopt;
    if (v->type == gguf::ValueType::BOOL)
        return v->as_bool();
    return get_int(suffix).value() != 0;
}

int64_t MetaReader::require_int(std::string_view suffix, int64_t lo, int64_t hi) const {
    const auto v = get_int(suffix);
    if (!v)
        throw Error("missing metadata " + key(suffix) + " (the file is not a complete " + arch_ +
                    " model)");
    return check_range(suffix, *v, lo, hi);
}

int64_t MetaReader::int_or(std::string_view suffix, int64_t fallback, int64_t lo,
                           int64_t hi) const {
    const auto v = get_int(suffix);
    return v ? check_range(suffix, *v, lo, hi) : fallback;
}

int64_t MetaReader::check_range(std::string_view suffix, int64_t v, int64_t lo, int64_t hi) const {
    if (v < lo || v > hi)
        throw Error("metadata " + key(suffix) + " = " + std::to_string(v) + " is out of range [" +
                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return v;
}

HParams read_hparams(const gguf::File &file) {
    HParams hp;
    const gguf::Value *arch_value = file.find("general.architecture");
    if (!arch_value)
        throw Error(file.name() + ": no general.architecture: not a model file (a vocabulary "
                                  "or adapter GGUF?)");
    hp.arch = file.get_string("general.architecture", "");
    const auto &archs = supported_architectures();
    if (std::find(archs.begin(), archs.end(), hp.arch) == archs.end())
        throw Error(file.name() + ": unsupported architecture '" + hp.arch + "'; graft supports " +
                    join(archs));
    MetaReader meta(file, hp.arch);

    hp.n_embd = meta.require_int("embedding_length", 1, kMaxDim);
    hp.n_layer = meta.require_int("block_count", 1, kMaxLayers);
    hp.n_ctx_train = meta.require_int("context_length", 1, int64_t{1} << 32);
    hp.n_head = meta.require_int("attention.head_count", 1, kMaxDim);
    hp.n_head_kv = meta.int_or("attention.head_count_kv", hp.n_head, 1, hp.n_head);
    if (hp.n_head % hp.n_head_kv != 0)
        throw Error("metadata " + meta.key("attention.head_count") + " = " +
                    std::to_string(hp.n_head) + " is not a multiple of " +
                    meta.key("attention.head_count_kv") + " = " + std::to_string(hp.n_head_kv));
    hp.n_ff = meta.int_or("feed_forward_length", 0, 0, kMaxDim);
    hp.head_dim = meta.int_or("attention.key_length", hp.n_embd / hp.n_head, 1, kMaxDim);
    hp.head_dim_v = meta.int_or("attention.value_length", hp.n_embd / hp.n_head, 1, kMaxDim);
    if (hp.head_dim < 1 || hp.head_dim_v < 1)
        throw Error("metadata " + meta.key("embedding_length") + " = " + std::to_string(hp.n_embd) +
                    " is smaller than " + meta.key("attention.head_count") + " = " +
                    std::to_string(hp.n_head) + " and no " + meta.key("attention.key_length") +
                    " gives the head size");
    hp.n_rot = meta.int_or("rope.dimension_count", hp.head_dim, 0, hp.head_dim);
    if (hp.n_rot % 2 != 0)
        throw Error("metadata " + meta.key("rope.dimension_count") + " = " +
                    std::to_string(hp.n_rot) + " must be even");
    hp.rms_eps = meta.get_float("attention.layer_norm_rms_epsilon").value_or(1e-5);
    if (!(hp.rms_eps > 0.0 && hp.rms_eps < 1.0))
        throw Error("metadata " + meta.key("attention.layer_norm_rms_epsilon") +
                    " must lie in (0, 1)");
    hp.rope_freq_base = meta.get_float("rope.freq_base").value_or(10000.0);
    if (!(hp.rope_freq_base > 0.0) || !std::isfinite(hp.rope_freq_base))
        throw Error("metadata " + meta.key("rope.freq_base") + " must be positive");
    hp.rope_mode = hp.arch.rfind("qwen", 0) == 0 ? 2 : 0;

    // RoPE scaling: type, factor (the older key is rope.scale_linear), original context.
    hp.rope_scaling_type = meta.get_string("rope.scaling.type").value_or("none");
    static const std::vector<std::string> scaling_types = {"none", "linear", "yarn", "longrope"};
    if (std::find(scaling_types.begin(), scaling_types.end(), hp.rope_scaling_type) ==
        scaling_types.end())
        throw Error("metadata " + meta.key("rope.scaling.type") + " = '" + hp.rope_scaling_type +
                    "' is not one of " + join(scaling_types));
    hp.rope_scaling_factor = meta.get_float("rope.scaling.factor")
                                 .value_or(meta.get_float("rope.scale_linear").value_or(0.0));
    if (hp.rope_scaling_factor < 0.0 || !std::isfinite(hp.rope_scaling_factor))
        throw Error("metadata " + meta.key("rope.scaling.factor") + " must not be negative");
    hp.rope_freq_scale = hp.rope_scaling_factor == 0.0 ? 1.0 : 1.0 / hp.rope_scaling_factor;
    hp.n_ctx_orig =
        meta.int_or("rope.scaling.original_context_length", hp.n_ctx_train, 1, int64_t{1} << 32);
    hp.rope_attn_factor = meta.get_float("rope.scaling.attn_factor").value_or(1.0);
    hp.yarn_ext_factor = meta.get_float("rope.scaling.yarn_ext_factor").value_or(-1.0);
    hp.yarn_attn_factor = meta.get_float("rope.scaling.yarn_attn_factor").value_or(1.0);
    hp.yarn_beta_fast = meta.get_float("rope.scaling.yarn_beta_fast").value_or(32.0);
    hp.yarn_beta_slow = meta.get_float("rope.scaling.yarn_beta_slow").value_or(1.0);

    // n_vocab: the declared size, else the token list, else the embedding's rows.
    if (auto v = meta.get_int("vocab_size")) {
        hp.n_vocab = meta.check_range("vocab_size", *v, 1, int64_t{1} << 31);
    } else if (const gguf::Value *tokens = file.find("tokenizer.ggml.tokens");
               tokens && tokens->is_array() && tokens->array_size() > 0) {
        hp.n_vocab = static_cast<int64_t>(tokens->array_size());
    } else if (const gguf::TensorInfo *embd = file.tensor("token_embd.weight")) {
        hp.n_vocab = embd->ne[1];
    } else {
        throw Error("cannot tell the vocabulary size: no " + meta.key("vocab_size") +
                    ", no tokenizer.ggml.tokens and no token_embd.weight");
    }

    // Experts.
    hp.n_expert = meta.int_or("expert_count", 0, 0, kMaxExperts);
    hp.n_expert_used = meta.int_or("expert_used_count", 0, 0, hp.n_expert);
    hp.n_expert_groups = meta.int_or("expert_group_count", 0, 0, hp.n_expert);
    hp.n_group_used = meta.int_or("expert_group_used_count", 0, 0, hp.n_expert_groups);
    if (hp.n_expert_groups > 1 && hp.n_expert % hp.n_expert_groups != 0)
        throw Error("metadata " + meta.key("expert_count") + " is not a multiple of " +
                    meta.key("expert_group_count"));
    if (const auto s = meta.get_float("expert_weights_scale"); s && *s != 0.0)
        hp.expert_weights_scale = *s;

    if (hp.arch == "llama" || hp.arch == "mixtral") {
        hp.family = hp.n_expert > 0 || hp.arch == "mixtral" ? "mixtral" : "llama";
        hp.n_ff_exp = hp.n_ff; // Mixtral's feed_forward_length is the expert's
        hp.expert_weights_norm = true;
    } else if (hp.arch == "qwen2" || hp.arch == "qwen3") {
        hp.family = hp.arch;
    } else if (hp.arch == "qwen2moe" || hp.arch == "qwen3moe") {
        hp.family = hp.arch;
        if (hp.n_expert_used > 0)
            hp.n_ff_exp =
                meta.int_or("expert_feed_forward_length", hp.n_ff / hp.n_expert_used, 1, kMaxDim);
        if (hp.arch == "qwen2moe") {
            hp.n_ff_shexp = meta.int_or("expert_shared_feed_forward_length", hp.n_ff, 1, kMaxDim);
            hp.n_expert_shared = 1;
            hp.shared_expert_gate = true;
        } else {
            hp.expert_weights_norm = true;
        }
    } else if (hp.arch == "deepseek2") {
        hp.family = "deepseek2";
        hp.n_layer_dense_lead = meta.int_or("leading_dense_block_count", 0, 0, hp.n_layer);
        hp.q_lora_rank = meta.int_or("attention.q_lora_rank", 0, 0, kMaxDim);
        hp.kv_lora_rank = meta.require_int("attention.kv_lora_rank", 1, kMaxDim);
        hp.n_ff_exp = meta.require_int("expert_feed_forward_length", 1, kMaxDim);
        hp.n_expert_shared = meta.int_or("expert_shared_count", 0, 0, kMaxExperts);
        hp.n_ff_shexp = hp.n_ff_exp * hp.n_expert_shared;
        hp.expert_weights_norm = meta.get_bool("expert_weights_norm").value_or(false);
        const int64_t gating = meta.int_or("expert_gating_func", 0, 0, 4);
        if (gating == 2)
            hp.expert_gating = "sigmoid";
        else if (gating > 2)
            throw Error("metadata " + meta.key("expert_gating_func") + " = " +
                        std::to_string(gating) + ": graft routes with softmax (1) or sigmoid (2)");
        // Files converted for MLA carry the decompressed head sizes in *_mla keys; older
        // ones have them in key_length / value_length.
        hp.key_length = meta.int_or("attention.key_length_mla", hp.head_dim, 1, kMaxDim);
        hp.value_length = meta.int_or("attention.value_length_mla", hp.head_dim_v, 1, kMaxDim);
        hp.qk_rope_dim = hp.n_rot;
        hp.qk_nope_dim = hp.key_length - hp.qk_rope_dim;
        if (hp.qk_nope_dim < 1)
            throw Error("deepseek2: key length " + std::to_string(hp.key_length) +
                        " leaves no room for the rope part of " + std::to_string(hp.n_rot));
        if (const auto m = meta.get_float("rope.scaling.yarn_log_multiplier"))
            hp.yarn_log_mul = *m / 0.1; // undo the converter's factor, as llama.cpp does
    }

    if (hp.family != "deepseek2" && hp.n_ff <= 0)
        throw Error("missing metadata " + meta.key("feed_forward_length"));
    if (hp.is_moe() && hp.n_expert_used <= 0)
        throw Error("missing metadata " + meta.key("expert_used_count") + " (the model has " +
                    std::to_string(hp.n_expert) + " experts)");
    const bool needs_experts = hp.family == "qwen2moe" || hp.family == "qwen3moe" ||
                               hp.family == "mixtral" ||
                               (hp.family == "deepseek2" && hp.n_layer_dense_lead < hp.n_layer);
    if (needs_experts && !hp.is_moe())
        throw Error("missing metadata " + meta.key("expert_count") + " (a " + hp.family +
                    " model has experts)");
    if (hp.family == "deepseek2" && hp.n_layer_dense_lead > 0 && hp.n_ff <= 0)
        throw Error("missing metadata " + meta.key("feed_forward_length") + " (deepseek2 has " +
                    std::to_string(hp.n_layer_dense_lead) + " dense layers)");
    return hp;
}

} // namespace graft::models
