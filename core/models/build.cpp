// Module trees of the supported families, from tensor infos only (no weight data).
// Tensor names and shapes follow llama.cpp's loaders (src/models/<arch>.cpp); module
// names follow Hugging Face.
#include "tree_builder.h"

#include <graft/util/error.h>

namespace graft::models {

namespace {

std::string blk(int64_t layer, const char *tensor) {
    return "blk." + std::to_string(layer) + "." + tensor;
}

// model.layers.N.self_attn for the llama-style families.
void build_attention(TreeBuilder &b, Module &layer, int64_t il) {
    const HParams &hp = b.hparams();
    Module *attn = layer.add_child("self_attn", "Attention", "attention");
    const int64_t n_q = hp.head_dim * hp.n_head;
    const int64_t n_k = hp.head_dim * hp.n_head_kv;
    const int64_t n_v = hp.head_dim_v * hp.n_head_kv;
    if (b.file().tensor(blk(il, "attn_qkv.weight")) && !b.file().tensor(blk(il, "attn_q.weight")))
        throw Error(b.file().name() + ": " + blk(il, "attn_qkv.weight") +
                    " holds fused q/k/v projections; graft needs them as separate tensors "
                    "attn_q, attn_k, attn_v (convert the model with a current llama.cpp)");
    b.linear(*attn, "q_proj", blk(il, "attn_q"), hp.n_embd, n_q);
    b.linear(*attn, "k_proj", blk(il, "attn_k"), hp.n_embd, n_k);
    b.linear(*attn, "v_proj", blk(il, "attn_v"), hp.n_embd, n_v);
    b.linear(*attn, "o_proj", blk(il, "attn_output"), hp.head_dim_v * hp.n_head, hp.n_embd);
    const bool qk_norm_required = hp.family == "qwen3" || hp.family == "qwen3moe";
    if (qk_norm_required || b.file().tensor(blk(il, "attn_q_norm.weight"))) {
        b.rmsnorm(*attn, "q_norm", blk(il, "attn_q_norm.weight"), hp.head_dim);
        b.rmsnorm(*attn, "k_norm", blk(il, "attn_k_norm.weight"), hp.head_dim);
    }
    b.rotary(*attn);
}

// model.layers.N.self_attn for deepseek2's multi-head latent attention.
void build_mla(TreeBuilder &b, Module &layer, int64_t il) {
    const HParams &hp = b.hparams();
    Module *attn = layer.add_child("self_attn", "Attention", "attention_mla");
    const int64_t n_q = hp.n_head * hp.key_length;
    if (hp.q_lora_rank > 0) {
        b.linear(*attn, "q_a_proj", blk(il, "attn_q_a"), hp.n_embd, hp.q_lora_rank);
        b.rmsnorm(*attn, "q_a_layernorm", blk(il, "attn_q_a_norm.weight"), hp.q_lora_rank);
        b.linear(*attn, "q_b_proj", blk(il, "attn_q_b"), hp.q_lora_rank, n_q);
    } else {
        b.linear(*attn, "q_proj", blk(il, "attn_q"), hp.n_embd, n_q);
    }
    b.linear(*attn, "kv_a_proj_with_mqa", blk(il, "attn_kv_a_mqa"), hp.n_embd,
             hp.kv_lora_rank + hp.qk_rope_dim);
    b.rmsnorm(*attn, "kv_a_layernorm", blk(il, "attn_kv_a_norm.weight"), hp.kv_lora_rank);
    if (hp.mla_split_kv_b) {
        // Per-head absorbed matrices: (qk_nope, kv_lora, n_head) and (kv_lora, v, n_head).
        b.weighted(*attn, "k_b_proj", "LinearHeads", "linear_heads",
                   {{"weight",
                     blk(il, "attn_k_b.weight"),
                     {hp.qk_nope_dim, hp.kv_lora_rank, hp.n_head},
                     true}});
        b.weighted(*attn, "v_b_proj", "LinearHeads", "linear_heads",
                   {{"weight",
                     blk(il, "attn_v_b.weight"),
                     {hp.kv_lora_rank, hp.value_length, hp.n_head},
                     true}});
    } else {
        b.linear(*attn, "kv_b_proj", blk(il, "attn_kv_b"), hp.kv_lora_rank,
                 hp.n_head * (hp.qk_nope_dim + hp.value_length));
    }
    b.linear(*attn, "o_proj", blk(il, "attn_output"), hp.n_head * hp.value_length, hp.n_embd);
    b.rotary(*attn);
}

// A SwiGLU MLP (gate_proj, up_proj, down_proj) from ffn_{gate,up,down}<suffix>.
void build_mlp(TreeBuilder &b, Module &parent, const std::string &name, int64_t il,
               const std::string &suffix, int64_t n_ff) {
    const HParams &hp = b.hparams();
    Module *mlp = parent.add_child(name, "MLP", "swiglu");
    b.linear(*mlp, "gate_proj", blk(il, ("ffn_gate" + suffix).c_str()), hp.n_embd, n_ff);
    b.linear(*mlp, "up_proj", blk(il, ("ffn_up" + suffix).c_str()), hp.n_embd, n_ff);
    b.linear(*mlp, "down_proj", blk(il, ("ffn_down" + suffix).c_str()), n_ff, hp.n_embd);
}

// model.layers.N.mlp as a mixture of experts: router, routed experts, shared experts.
void build_moe(TreeBuilder &b, Module &layer, int64_t il) {
    const HParams &hp = b.hparams();
    Module *moe = layer.add_child("mlp", "MoE", "add");
    b.weighted(*moe, "gate", "Router", "router",
               {{"weight", blk(il, "ffn_gate_inp.weight"), {hp.n_embd, hp.n_expert}, true},
                {"bias", blk(il, "exp_probs_b.bias"), {hp.n_expert}, false}});
    if (b.file().tensor(blk(il, "ffn_gate_up_exps.weight")) &&
        !b.file().tensor(blk(il, "ffn_gate_exps.weight")))
        throw Error(b.file().name() + ": " + blk(il, "ffn_gate_up_exps.weight") +
                    " holds fused gate/up experts; graft needs ffn_gate_exps and ffn_up_exps");
    b.weighted(
        *moe, "experts", "Experts", "moe_experts",
        {{"gate", blk(il, "ffn_gate_exps.weight"), {hp.n_embd, hp.n_ff_exp, hp.n_expert}, true},
         {"up", blk(il, "ffn_up_exps.weight"), {hp.n_embd, hp.n_ff_exp, hp.n_expert}, true},
         {"down", blk(il, "ffn_down_exps.weight"), {hp.n_ff_exp, hp.n_embd, hp.n_expert}, true}});
    if (hp.n_ff_shexp > 0 && hp.n_expert_shared > 0)
        build_mlp(b, *moe, "shared_experts", il, "_shexp", hp.n_ff_shexp);
    if (hp.shared_expert_gate)
        b.weighted(*moe, "shared_expert_gate", "Linear", "linear",
                   {{"weight", blk(il, "ffn_gate_inp_shexp.weight"), {hp.n_embd}, true}});
}

} // namespace

Model build_model(const gguf::File &file) {
    Model model;
    model.hparams = read_hparams(file);
    HParams &hp = model.hparams;
    // Facts the tree shows, recorded in the hyper-parameters for the forward pass.
    hp.tied_embeddings = file.tensor("output.weight") == nullptr;
    hp.attn_bias = file.tensor("blk.0.attn_q.bias") != nullptr;
    hp.qk_norm = file.tensor("blk.0.attn_q_norm.weight") != nullptr;
    hp.has_rope_freqs = file.tensor("rope_freqs.weight") != nullptr;
    hp.mla_split_kv_b = hp.family == "deepseek2" && file.tensor("blk.0.attn_k_b.weight");
    if (hp.family == "qwen2moe" && hp.tied_embeddings)
        throw Error(file.name() + ": missing tensor output.weight (expected shape [" +
                    std::to_string(hp.n_embd) + ", " + std::to_string(hp.n_vocab) +
                    "]; qwen2moe does not tie embeddings)");

    TreeBuilder b(file, hp);
    model.root = std::make_unique<Module>();
    Module &root = *model.root;
    root.cls = "CausalLM";
    Module *body = root.add_child("model", "Model", "");
    b.weighted(*body, "embed_tokens", "Embedding", "embedding",
               {{"weight", "token_embd.weight", {hp.n_embd, hp.n_vocab}, true}});
    Module *layers = body->add_child("layers", "ModuleList", "");
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        Module *layer = layers->add_child(std::to_string(il), "DecoderLayer", "add");
        b.rmsnorm(*layer, "input_layernorm", blk(il, "attn_norm.weight"), hp.n_embd);
        if (hp.family == "deepseek2")
            build_mla(b, *layer, il);
        else
            build_attention(b, *layer, il);
        b.rmsnorm(*layer, "post_attention_layernorm", blk(il, "ffn_norm.weight"), hp.n_embd);
        const bool dense = !hp.is_moe() || il < hp.n_layer_dense_lead;
        if (dense)
            build_mlp(b, *layer, "mlp", il, "", hp.n_ff);
        else
            build_moe(b, *layer, il);
    }
    b.rmsnorm(*body, "norm", "output_norm.weight", hp.n_embd);
    const char *head = hp.tied_embeddings ? "token_embd.weight" : "output.weight";
    b.weighted(root, "lm_head", "Linear", "linear",
               {{"weight", head, {hp.n_embd, hp.n_vocab}, true},
                {"bias", "output.bias", {hp.n_vocab}, false}});
    return model;
}

} // namespace graft::models
