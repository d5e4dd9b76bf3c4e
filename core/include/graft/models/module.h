// The module tree: a model as named modules with classes, weights' shapes and dtypes,
// and no weight data ("meta"). Names follow Hugging Face (model.layers.0.self_attn.q_proj).
#pragma once

#include <graft/gguf/gguf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace graft::models {

// One weight of a module, pointing at its GGUF tensor.
// Roles by op, in the order the kernel receives them (graft/plugin.h):
//   embedding {weight}; rmsnorm {weight}; rope {freq_factors}; linear {weight, bias};
//   router {weight, bias}; moe_experts {gate, up, down}.
struct Weight {
    std::string role;               // "weight", "bias", "gate", "up", "down", ...
    const gguf::TensorInfo *tensor; // never null; owned by the gguf::File
};

struct Module {
    std::string name; // dotted path, "" for the root
    std::string cls;  // "CausalLM", "Model", "ModuleList", "DecoderLayer", "Embedding",
                      // "Linear", "RMSNorm", "Attention", "RotaryEmbedding", "MLP",
                      // "MoE", "Router", "Experts"
    std::string op;   // kernel op this module runs ("linear", ...); "" for containers
    std::vector<Weight> weights;
    std::vector<std::unique_ptr<Module>> children;
    Module *parent = nullptr;

    // Appends a child; `child_name` is the last component ("q_proj"): the child's name is
    // this module's name, a dot, and child_name (just child_name under the root).
    Module *add_child(std::string child_name, std::string child_cls, std::string child_op);
    uint64_t own_bytes() const;   // bytes of this module's weights
    uint64_t total_bytes() const; // including children (a tensor shared by two modules,
                                  // like tied embeddings, counts once)
    const Weight *weight(std::string_view role) const;      // nullptr when absent
    const Module *child(std::string_view child_name) const; // by last component
    // Depth-first, parent before children.
    template <typename F> void visit(F &&fn) const {
        fn(*this);
        for (const auto &c : children)
            c->visit(fn);
    }
};

// Hyper-parameters read from GGUF metadata ("<arch>.*" keys), with llama.cpp's defaults.
// Everything a forward pass needs; per-layer arrays in the file must be uniform.
struct HParams {
    std::string arch;   // general.architecture: "llama", "qwen2", ...
    std::string family; // llama, qwen2, qwen3, mixtral, qwen2moe, qwen3moe, deepseek2
                        // (mixtral is arch "llama" with experts); names the default rules
    int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0;
    int64_t n_ctx_train = 0;
    int64_t head_dim = 0;   // per-head size of K (attention.key_length or n_embd / n_head)
    int64_t head_dim_v = 0; // per-head size of V (attention.value_length or head_dim)
    int64_t n_rot = 0;      // rope.dimension_count or head_dim: leading elements that rotate
    double rms_eps = 1e-5, rope_freq_base = 10000.0;
    int rope_mode = 0; // 0: adjacent pairs (llama, deepseek2); 2: halves, "neox" (qwen)

    // RoPE scaling. rope_freq_scale = 1 / rope.scaling.factor (1 when no factor).
    std::string rope_scaling_type = "none"; // "none", "linear", "yarn", "longrope"
    double rope_scaling_factor = 0.0;       // 0 when absent
    double rope_freq_scale = 1.0;
    int64_t n_ctx_orig = 0;        // rope.scaling.original_context_length, else n_ctx_train
    double rope_attn_factor = 1.0; // rope.scaling.attn_factor
    // YaRN: ext_factor < 0 means "not set" (the engine picks 1 for yarn, else 0).
    double yarn_ext_factor = -1.0, yarn_attn_factor = 1.0;
    double yarn_beta_fast = 32.0, yarn_beta_slow = 1.0;
    // deepseek2: mscale_all_dim (rope.scaling.yarn_log_multiplier / 0.1, as llama.cpp).
    double yarn_log_mul = 0.0;
    bool has_rope_freqs = false; // rope_freqs.weight (Llama 3 frequency factors)

    bool tied_embeddings = false; // no output.weight: lm_head reads token_embd.weight
    bool attn_bias = false;       // q/k/v projections carry biases (qwen2)
    bool qk_norm = false;         // per-head RMSNorm of q and k (qwen3)

    // Mixture of experts. n_ff_exp is each routed expert's FFN size, n_ff_shexp the
    // shared expert(s)' total FFN size.
    int64_t n_expert = 0, n_expert_used = 0, n_expert_shared = 0, n_ff_exp = 0, n_ff_shexp = 0;
    int64_t n_layer_dense_lead = 0;                // leading layers with a dense MLP (deepseek2)
    std::string expert_gating = "softmax";         // "softmax" or "sigmoid"
    bool expert_weights_norm = false;              // renormalise the top-k weights to sum 1
    double expert_weights_scale = 1.0;             // multiply the routed weights
    int64_t n_expert_groups = 0, n_group_used = 0; // group-limited routing (0: none)
    bool shared_expert_gate = false;               // qwen2moe: sigmoid gate on the shared expert

    // MLA (deepseek2). key_length / value_length are the per-head sizes after
    // decompression (qk_nope + qk_rope, v_head_dim); head_dim / head_dim_v above are the
    // file's (kv_lora_rank + qk_rope, kv_lora_rank for MLA files written as MQA).
    int64_t q_lora_rank = 0, kv_lora_rank = 0, key_length = 0, value_length = 0;
    int64_t qk_rope_dim = 0, qk_nope_dim = 0;
    bool mla_split_kv_b = false; // attn_k_b + attn_v_b instead of attn_kv_b

    bool is_moe() const { return n_expert > 0; }
};

struct Model {
    HParams hparams;
    std::unique_ptr<Module> root;

    // The module of that dotted name ("" is the root), or nullptr.
    const Module *find(std::string_view name) const;
    // Bytes of all weights, each tensor once.
    uint64_t weight_bytes() const;
};

// The architectures build_model knows, in the order error messages list them.
const std::vector<std::string> &supported_architectures();
// The families (HParams::family), in a fixed order.
const std::vector<std::string> &supported_families();

// Reads the hyper-parameters; throws graft::Error on an unknown architecture (listing
// the supported ones) and on missing or out-of-range keys (naming the key).
HParams read_hparams(const gguf::File &file);

// Builds the tree from a file's metadata and tensor infos; reads no weight data.
// Throws graft::Error on an unknown architecture (listing the supported ones) and on
// missing or mis-shaped tensors (naming the tensor and the shape expected).
Model build_model(const gguf::File &file);

// "[2048, 8192]": a tensor's shape in GGUF order (innermost first).
std::string shape_string(const gguf::TensorInfo &tensor);

} // namespace graft::models
