// The module tree: a model as named modules with classes, weights' shapes and dtypes,
// and no weight data ("meta"). Names follow Hugging Face (model.layers.0.self_attn.q_proj).
#pragma once

#include <graft/gguf/gguf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace graft::models {

// One weight of a module, pointing at its GGUF tensor.
struct Weight {
    std::string role;                   // "weight", "bias", "gate", "up", "down", ...
    const gguf::TensorInfo *tensor;     // never null; owned by the gguf::File
};

struct Module {
    std::string name;       // dotted path, "" for the root
    std::string cls;        // "Model", "DecoderLayer", "Embedding", "Linear", "RMSNorm",
                            // "Attention", "MLP", "MoE", "Router", "Experts"
    std::string op;         // kernel op this module runs ("linear", ...); "" for containers
    std::vector<Weight> weights;
    std::vector<std::unique_ptr<Module>> children;
    Module *parent = nullptr;

    Module *add_child(std::string child_name, std::string child_cls, std::string child_op);
    uint64_t own_bytes() const;   // bytes of this module's weights
    uint64_t total_bytes() const; // including children
    // Depth-first, parent before children.
    template <typename F> void visit(F &&fn) const {
        fn(*this);
        for (const auto &c : children)
            c->visit(fn);
    }
};

// Hyper-parameters read from GGUF metadata ("<arch>.*" keys).
struct HParams {
    std::string arch;
    int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0;
    int64_t n_ctx_train = 0, head_dim = 0, n_rot = 0;
    double rms_eps = 1e-5, rope_freq_base = 10000.0;
    // Mixture of experts
    int64_t n_expert = 0, n_expert_used = 0, n_expert_shared = 0, n_ff_exp = 0, n_ff_shexp = 0;
    int64_t n_layer_dense_lead = 0;
    // MLA (deepseek2)
    int64_t q_lora_rank = 0, kv_lora_rank = 0, key_length = 0, value_length = 0;
};

struct Model {
    HParams hparams;
    std::unique_ptr<Module> root;
};

// The architectures build_model knows, in the order error messages list them.
const std::vector<std::string> &supported_architectures();

// Builds the tree from a file's metadata and tensor infos; reads no weight data.
// Throws graft::Error on an unknown architecture (listing the supported ones) and on
// missing or mis-shaped tensors (naming the tensor and the shape expected).
Model build_model(const gguf::File &file);

} // namespace graft::models
