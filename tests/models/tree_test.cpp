// Module trees of the seven families, built from synthetic files: names, classes, ops,
// weights (tensor, shape, dtype), tied and untied heads, biases, qk-norm, MoE and MLA.
#include "synth_fixture.h"

#include <graft/models/module.h>
#include <graft/util/error.h>

#include <gtest/gtest.h>

namespace graft::models {
namespace {

using test::TempDir;
using test::write_tiny;

struct Loaded {
    std::unique_ptr<gguf::File> file;
    Model model;
};

Loaded load(const std::filesystem::path &path) {
    Loaded l;
    l.file = gguf::File::open(path);
    l.model = build_model(*l.file);
    return l;
}

std::vector<int64_t> shape_of(const Weight &w) {
    return std::vector<int64_t>(w.tensor->ne.begin(), w.tensor->ne.begin() + w.tensor->n_dims);
}

// Checks one module: class, op, and its weights as {role, tensor, shape} in order.
struct W {
    std::string role, tensor;
    std::vector<int64_t> shape;
};
void expect_module(const Model &m, const std::string &name, const std::string &cls,
                   const std::string &op, const std::vector<W> &weights = {}) {
    SCOPED_TRACE(name);
    const Module *mod = m.find(name);
    ASSERT_NE(mod, nullptr) << "no module " << name;
    EXPECT_EQ(mod->name, name);
    EXPECT_EQ(mod->cls, cls);
    EXPECT_EQ(mod->op, op);
    ASSERT_EQ(mod->weights.size(), weights.size());
    for (size_t i = 0; i < weights.size(); ++i) {
        EXPECT_EQ(mod->weights[i].role, weights[i].role);
        EXPECT_EQ(mod->weights[i].tensor->name, weights[i].tensor);
        EXPECT_EQ(shape_of(mod->weights[i]), weights[i].shape);
    }
}

std::vector<std::string> names(const Model &m) {
    std::vector<std::string> out;
    m.root->visit([&](const Module &mod) { out.push_back(mod.name); });
    return out;
}

// The dense layer every llama-style family shares, in the order the engine walks it.
std::vector<std::string> dense_layer_names(int il, bool qk_norm) {
    const std::string p = "model.layers." + std::to_string(il);
    std::vector<std::string> n = {p,
                                  p + ".input_layernorm",
                                  p + ".self_attn",
                                  p + ".self_attn.q_proj",
                                  p + ".self_attn.k_proj",
                                  p + ".self_attn.v_proj",
                                  p + ".self_attn.o_proj"};
    if (qk_norm) {
        n.push_back(p + ".self_attn.q_norm");
        n.push_back(p + ".self_attn.k_norm");
    }
    n.push_back(p + ".self_attn.rotary_emb");
    n.push_back(p + ".post_attention_layernorm");
    for (const char *s : {".mlp", ".mlp.gate_proj", ".mlp.up_proj", ".mlp.down_proj"})
        n.push_back(p + s);
    return n;
}

TEST(Tree, LlamaShapeAndNamesExactly) {
    TempDir dir;
    const Loaded l = load(write_tiny("llama", dir.path()));
    const Model &m = l.model;
    std::vector<std::string> want = {"", "model", "model.embed_tokens", "model.layers"};
    for (int il = 0; il < 2; ++il)
        for (const auto &n : dense_layer_names(il, false))
            want.push_back(n);
    want.push_back("model.norm");
    want.push_back("lm_head");
    EXPECT_EQ(names(m), want);

    expect_module(m, "", "CausalLM", "");
    expect_module(m, "model", "Model", "");
    expect_module(m, "model.embed_tokens", "Embedding", "embedding",
                  {{"weight", "token_embd.weight", {256, 512}}});
    expect_module(m, "model.layers", "ModuleList", "");
    expect_module(m, "model.layers.1", "DecoderLayer", "add");
    expect_module(m, "model.layers.1.input_layernorm", "RMSNorm", "rmsnorm",
                  {{"weight", "blk.1.attn_norm.weight", {256}}});
    expect_module(m, "model.layers.1.self_attn", "Attention", "attention");
    expect_module(m, "model.layers.1.self_attn.q_proj", "Linear", "linear",
                  {{"weight", "blk.1.attn_q.weight", {256, 256}}});
    expect_module(m, "model.layers.1.self_attn.k_proj", "Linear", "linear",
                  {{"weight", "blk.1.attn_k.weight", {256, 128}}});
    expect_module(m, "model.layers.1.self_attn.v_proj", "Linear", "linear",
                  {{"weight", "blk.1.attn_v.weight", {256, 128}}});
    expect_module(m, "model.layers.1.self_attn.o_proj", "Linear", "linear",
                  {{"weight", "blk.1.attn_output.weight", {256, 256}}});
    expect_module(m, "model.layers.1.self_attn.rotary_emb", "RotaryEmbedding", "rope");
    expect_module(m, "model.layers.1.post_attention_layernorm", "RMSNorm", "rmsnorm",
                  {{"weight", "blk.1.ffn_norm.weight", {256}}});
    expect_module(m, "model.layers.1.mlp", "MLP", "swiglu");
    expect_module(m, "model.layers.1.mlp.gate_proj", "Linear", "linear",
                  {{"weight", "blk.1.ffn_gate.weight", {256, 512}}});
    expect_module(m, "model.layers.1.mlp.up_proj", "Linear", "linear",
                  {{"weight", "blk.1.ffn_up.weight", {256, 512}}});
    expect_module(m, "model.layers.1.mlp.down_proj", "Linear", "linear",
                  {{"weight", "blk.1.ffn_down.weight", {512, 256}}});
    expect_module(m, "model.norm", "RMSNorm", "rmsnorm", {{"weight", "output_norm.weight", {256}}});
    expect_module(m, "lm_head", "Linear", "linear", {{"weight", "output.weight", {256, 512}}});

    const HParams &hp = m.hparams;
    EXPECT_EQ(hp.arch, "llama");
    EXPECT_EQ(hp.family, "llama");
    EXPECT_EQ(hp.n_vocab, 512);
    EXPECT_EQ(hp.n_embd, 256);
    EXPECT_EQ(hp.n_layer, 2);
    EXPECT_EQ(hp.n_head, 8);
    EXPECT_EQ(hp.n_head_kv, 4);
    EXPECT_EQ(hp.head_dim, 32);
    EXPECT_EQ(hp.n_rot, 32);
    EXPECT_EQ(hp.n_ff, 512);
    EXPECT_EQ(hp.rope_mode, 0);
    EXPECT_EQ(hp.n_ctx_train, 4096);
    EXPECT_EQ(hp.n_ctx_orig, 4096);
    EXPECT_DOUBLE_EQ(hp.rope_freq_scale, 1.0);
    EXPECT_FALSE(hp.tied_embeddings);
    EXPECT_FALSE(hp.attn_bias);
    EXPECT_FALSE(hp.is_moe());
}

TEST(Tree, DtypesFollowTheFile) {
    TempDir dir;
    const Loaded l = load(write_tiny("llama", dir.path(), GRAFT_DTYPE_BF16));
    EXPECT_EQ(l.model.find("model.layers.0.self_attn.q_proj")->weights[0].tensor->dtype,
              GRAFT_DTYPE_BF16);
    EXPECT_EQ(l.model.find("model.embed_tokens")->weights[0].tensor->dtype, GRAFT_DTYPE_BF16);
    EXPECT_EQ(l.model.find("model.norm")->weights[0].tensor->dtype, GRAFT_DTYPE_F32);
    // Byte counts come from the tensor infos: BF16 matrices take 2 bytes an element.
    EXPECT_EQ(l.model.find("model.layers.0.mlp.up_proj")->own_bytes(), 256u * 512u * 2u);
}

TEST(Tree, Qwen2HasAttentionBiases) {
    TempDir dir;
    const Loaded l = load(write_tiny("qwen2", dir.path()));
    const Model &m = l.model;
    expect_module(
        m, "model.layers.0.self_attn.q_proj", "Linear", "linear",
        {{"weight", "blk.0.attn_q.weight", {256, 256}}, {"bias", "blk.0.attn_q.bias", {256}}});
    expect_module(
        m, "model.layers.0.self_attn.k_proj", "Linear", "linear",
        {{"weight", "blk.0.attn_k.weight", {256, 64}}, {"bias", "blk.0.attn_k.bias", {64}}});
    expect_module(
        m, "model.layers.0.self_attn.v_proj", "Linear", "linear",
        {{"weight", "blk.0.attn_v.weight", {256, 64}}, {"bias", "blk.0.attn_v.bias", {64}}});
    expect_module(m, "model.layers.0.self_attn.o_proj", "Linear", "linear",
                  {{"weight", "blk.0.attn_output.weight", {256, 256}}});
    EXPECT_TRUE(m.hparams.attn_bias);
    EXPECT_EQ(m.hparams.rope_mode, 2);
    EXPECT_DOUBLE_EQ(m.hparams.rope_freq_base, 1000000.0);
}

TEST(Tree, Qwen3HasQkNormWideHeadsAndTiedHead) {
    TempDir dir;
    const Loaded l = load(write_tiny("qwen3", dir.path()));
    const Model &m = l.model;
    std::vector<std::string> want = {"", "model", "model.embed_tokens", "model.layers"};
    for (int il = 0; il < 2; ++il)
        for (const auto &n : dense_layer_names(il, true))
            want.push_back(n);
    want.push_back("model.norm");
    want.push_back("lm_head");
    EXPECT_EQ(names(m), want);
    expect_module(m, "model.layers.0.self_attn.q_proj", "Linear", "linear",
                  {{"weight", "blk.0.attn_q.weight", {256, 512}}});
    expect_module(m, "model.layers.0.self_attn.o_proj", "Linear", "linear",
                  {{"weight", "blk.0.attn_output.weight", {512, 256}}});
    expect_module(m, "model.layers.0.self_attn.q_norm", "RMSNorm", "rmsnorm",
                  {{"weight", "blk.0.attn_q_norm.weight", {64}}});
    expect_module(m, "model.layers.0.self_attn.k_norm", "RMSNorm", "rmsnorm",
                  {{"weight", "blk.0.attn_k_norm.weight", {64}}});
    // Tied: lm_head reads the embedding's tensor, and the bytes count once.
    expect_module(m, "lm_head", "Linear", "linear", {{"weight", "token_embd.weight", {256, 512}}});
    EXPECT_EQ(m.find("lm_head")->weights[0].tensor,
              m.find("model.embed_tokens")->weights[0].tensor);
    EXPECT_TRUE(m.hparams.tied_embeddings);
    EXPECT_TRUE(m.hparams.qk_norm);
    EXPECT_EQ(m.hparams.head_dim, 64);
    uint64_t sum = 0;
    for (const auto &t : l.file->tensors())
        sum += t.n_bytes;
    EXPECT_EQ(m.weight_bytes(), sum);
}

TEST(Tree, MixtralIsLlamaWithExperts) {
    TempDir dir;
    const Loaded l = load(write_tiny("mixtral", dir.path()));
    const Model &m = l.model;
    EXPECT_EQ(m.hparams.arch, "llama");
    EXPECT_EQ(m.hparams.family, "mixtral");
    EXPECT_EQ(m.hparams.n_expert, 4);
    EXPECT_EQ(m.hparams.n_expert_used, 2);
    EXPECT_EQ(m.hparams.n_ff_exp, 256);
    EXPECT_TRUE(m.hparams.expert_weights_norm);
    expect_module(m, "model.layers.1.mlp", "MoE", "add");
    expect_module(m, "model.layers.1.mlp.gate", "Router", "router",
                  {{"weight", "blk.1.ffn_gate_inp.weight", {256, 4}}});
    expect_module(m, "model.layers.1.mlp.experts", "Experts", "moe_experts",
                  {{"gate", "blk.1.ffn_gate_exps.weight", {256, 256, 4}},
                   {"up", "blk.1.ffn_up_exps.weight", {256, 256, 4}},
                   {"down", "blk.1.ffn_down_exps.weight", {256, 256, 4}}});
    EXPECT_EQ(m.find("model.layers.1.mlp")->children.size(), 2u);
    EXPECT_EQ(m.find("model.layers.1.mlp.shared_experts"), nullptr);
}

TEST(Tree, Qwen2MoeHasGatedSharedExpert) {
    TempDir dir;
    const Loaded l = load(write_tiny("qwen2moe", dir.path()));
    const Model &m = l.model;
    expect_module(m, "model.layers.0.mlp.experts", "Experts", "moe_experts",
                  {{"gate", "blk.0.ffn_gate_exps.weight", {256, 128, 8}},
                   {"up", "blk.0.ffn_up_exps.weight", {256, 128, 8}},
                   {"down", "blk.0.ffn_down_exps.weight", {128, 256, 8}}});
    expect_module(m, "model.layers.0.mlp.shared_experts", "MLP", "swiglu");
    expect_module(m, "model.layers.0.mlp.shared_experts.gate_proj", "Linear", "linear",
                  {{"weight", "blk.0.ffn_gate_shexp.weight", {256, 256}}});
    expect_module(m, "model.layers.0.mlp.shared_experts.down_proj", "Linear", "linear",
                  {{"weight", "blk.0.ffn_down_shexp.weight", {256, 256}}});
    expect_module(m, "model.layers.0.mlp.shared_expert_gate", "Linear", "linear",
                  {{"weight", "blk.0.ffn_gate_inp_shexp.weight", {256}}});
    EXPECT_TRUE(m.hparams.shared_expert_gate);
    EXPECT_FALSE(m.hparams.expert_weights_norm);
    EXPECT_EQ(m.hparams.n_ff_shexp, 256);
}

TEST(Tree, Qwen3MoeHasQkNormAndNoSharedExperts) {
    TempDir dir;
    const Loaded l = load(write_tiny("qwen3moe", dir.path()));
    const Model &m = l.model;
    expect_module(m, "model.layers.1.self_attn.q_norm", "RMSNorm", "rmsnorm",
                  {{"weight", "blk.1.attn_q_norm.weight", {64}}});
    expect_module(m, "model.layers.1.mlp.gate", "Router", "router",
                  {{"weight", "blk.1.ffn_gate_inp.weight", {256, 8}}});
    EXPECT_EQ(m.find("model.layers.1.mlp")->children.size(), 2u);
    EXPECT_TRUE(m.hparams.expert_weights_norm);
    EXPECT_EQ(m.hparams.n_ff_exp, 128);
    expect_module(m, "lm_head", "Linear", "linear", {{"weight", "output.weight", {256, 512}}});
}

TEST(Tree, Deepseek2MlaWithLowRankQAndSplitKvB) {
    TempDir dir;
    const Loaded l = load(write_tiny("deepseek2", dir.path()));
    const Model &m = l.model;
    const HParams &hp = m.hparams;
    EXPECT_EQ(hp.q_lora_rank, 128);
    EXPECT_EQ(hp.kv_lora_rank, 64);
    EXPECT_EQ(hp.key_length, 48);
    EXPECT_EQ(hp.value_length, 32);
    EXPECT_EQ(hp.qk_rope_dim, 16);
    EXPECT_EQ(hp.qk_nope_dim, 32);
    EXPECT_EQ(hp.n_head_kv, 1);
    EXPECT_EQ(hp.head_dim, 64 + 16);
    EXPECT_TRUE(hp.mla_split_kv_b);
    EXPECT_EQ(hp.n_layer_dense_lead, 1);
    EXPECT_EQ(hp.expert_gating, "sigmoid");
    EXPECT_TRUE(hp.expert_weights_norm);
    EXPECT_DOUBLE_EQ(hp.expert_weights_scale, 2.5);
    EXPECT_EQ(hp.n_expert_shared, 1);

    const std::string a = "model.layers.0.self_attn";
    expect_module(m, a, "Attention", "attention_mla");
    std::vector<std::string> children;
    for (const auto &c : m.find(a)->children)
        children.push_back(c->name.substr(a.size() + 1));
    EXPECT_EQ(children, (std::vector<std::string>{"q_a_proj", "q_a_layernorm", "q_b_proj",
                                                  "kv_a_proj_with_mqa", "kv_a_layernorm",
                                                  "k_b_proj", "v_b_proj", "o_proj", "rotary_emb"}));
    expect_module(m, a + ".q_a_proj", "Linear", "linear",
                  {{"weight", "blk.0.attn_q_a.weight", {256, 128}}});
    expect_module(m, a + ".q_a_layernorm", "RMSNorm", "rmsnorm",
                  {{"weight", "blk.0.attn_q_a_norm.weight", {128}}});
    expect_module(m, a + ".q_b_proj", "Linear", "linear",
                  {{"weight", "blk.0.attn_q_b.weight", {128, 4 * 48}}});
    expect_module(m, a + ".kv_a_proj_with_mqa", "Linear", "linear",
                  {{"weight", "blk.0.attn_kv_a_mqa.weight", {256, 64 + 16}}});
    expect_module(m, a + ".kv_a_layernorm", "RMSNorm", "rmsnorm",
                  {{"weight", "blk.0.attn_kv_a_norm.weight", {64}}});
    expect_module(m, a + ".k_b_proj", "LinearHeads", "linear_heads",
                  {{"weight", "blk.0.attn_k_b.weight", {32, 64, 4}}});
    expect_module(m, a + ".v_b_proj", "LinearHeads", "linear_heads",
                  {{"weight", "blk.0.attn_v_b.weight", {64, 32, 4}}});
    expect_module(m, a + ".o_proj", "Linear", "linear",
                  {{"weight", "blk.0.attn_output.weight", {128, 256}}});
    // Leading dense layer, then MoE with router bias and shared experts.
    expect_module(m, "model.layers.0.mlp", "MLP", "swiglu");
    expect_module(m, "model.layers.0.mlp.gate_proj", "Linear", "linear",
                  {{"weight", "blk.0.ffn_gate.weight", {256, 512}}});
    expect_module(m, "model.layers.1.mlp", "MoE", "add");
    expect_module(m, "model.layers.1.mlp.gate", "Router", "router",
                  {{"weight", "blk.1.ffn_gate_inp.weight", {256, 8}},
                   {"bias", "blk.1.exp_probs_b.bias", {8}}});
    expect_module(m, "model.layers.1.mlp.experts", "Experts", "moe_experts",
                  {{"gate", "blk.1.ffn_gate_exps.weight", {256, 64, 8}},
                   {"up", "blk.1.ffn_up_exps.weight", {256, 64, 8}},
                   {"down", "blk.1.ffn_down_exps.weight", {64, 256, 8}}});
    expect_module(m, "model.layers.2.mlp.shared_experts.up_proj", "Linear", "linear",
                  {{"weight", "blk.2.ffn_up_shexp.weight", {256, 64}}});
}

TEST(Tree, Deepseek2LegacyKvBWithoutLowRankQ) {
    TempDir dir;
    const Loaded l = load(write_tiny("deepseek2", dir.path(), GRAFT_DTYPE_F16, [](auto &s) {
        s.mla_legacy = true;
        s.q_lora_rank = 0;
    }));
    const Model &m = l.model;
    const std::string a = "model.layers.2.self_attn";
    expect_module(m, a + ".q_proj", "Linear", "linear",
                  {{"weight", "blk.2.attn_q.weight", {256, 4 * 48}}});
    expect_module(m, a + ".kv_b_proj", "Linear", "linear",
                  {{"weight", "blk.2.attn_kv_b.weight", {64, 4 * (32 + 32)}}});
    EXPECT_EQ(m.find(a + ".q_a_proj"), nullptr);
    EXPECT_EQ(m.find(a + ".k_b_proj"), nullptr);
    EXPECT_FALSE(m.hparams.mla_split_kv_b);
    EXPECT_EQ(m.hparams.key_length, 48);
    EXPECT_EQ(m.hparams.value_length, 32);
}

TEST(Tree, Llama1bPresetHasRopeFactorsAndTiedHead) {
    TempDir dir;
    models::SynthOptions o;
    o.shape = synth_preset("llama-1b", "");
    o.sparse = true;
    const auto path = dir / "llama-1b.gguf";
    write_synthetic(o, path);
    const Loaded l = load(path);
    const Model &m = l.model;
    expect_module(m, "model.layers.15.self_attn.rotary_emb", "RotaryEmbedding", "rope",
                  {{"freq_factors", "rope_freqs.weight", {32}}});
    expect_module(m, "model.layers.0.mlp.down_proj", "Linear", "linear",
                  {{"weight", "blk.0.ffn_down.weight", {8192, 2048}}});
    EXPECT_TRUE(m.hparams.has_rope_freqs);
    EXPECT_TRUE(m.hparams.tied_embeddings);
    EXPECT_EQ(m.hparams.n_vocab, 128256);
    EXPECT_DOUBLE_EQ(m.hparams.rope_freq_base, 500000.0);
}

TEST(Tree, DeepseekV2LitePresetReadsYarn) {
    TempDir dir;
    models::SynthOptions o;
    o.shape = synth_preset("deepseek-v2-lite", "");
    o.sparse = true;
    const auto path = dir / "dsl.gguf";
    write_synthetic(o, path);
    const Loaded l = load(path);
    const HParams &hp = l.model.hparams;
    EXPECT_EQ(hp.rope_scaling_type, "yarn");
    EXPECT_DOUBLE_EQ(hp.rope_scaling_factor, 40.0);
    EXPECT_DOUBLE_EQ(hp.rope_freq_scale, 1.0 / 40.0);
    EXPECT_EQ(hp.n_ctx_orig, 4096);
    EXPECT_EQ(hp.n_ctx_train, 163840);
    EXPECT_NEAR(hp.yarn_log_mul, 0.707, 1e-5);
    EXPECT_EQ(hp.q_lora_rank, 0);
    EXPECT_EQ(hp.n_expert, 64);
    EXPECT_EQ(hp.n_expert_used, 6);
    EXPECT_EQ(hp.n_ff_shexp, 2 * 1408);
    EXPECT_EQ(hp.expert_gating, "softmax");
    EXPECT_NE(l.model.find("model.layers.26.mlp.experts"), nullptr);
    EXPECT_EQ(l.model.find("model.layers.0.mlp")->cls, "MLP");
}

// ---------------------------------------------------------------- errors

std::string build_error(const std::filesystem::path &path) {
    const auto file = gguf::File::open(path);
    try {
        build_model(*file);
    } catch (const Error &e) {
        return e.what();
    }
    return "(no error)";
}

TEST(TreeErrors, MissingTensorNamesItAndTheShape) {
    TempDir dir;
    const auto src = write_tiny("llama", dir.path());
    test::Rewrite r;
    r.drop_tensors = {"blk.1.attn_k.weight"};
    test::rewrite(src, dir / "broken.gguf", r);
    const std::string e = build_error(dir / "broken.gguf");
    EXPECT_NE(e.find("missing tensor blk.1.attn_k.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("[256, 128]"), std::string::npos) << e;
}

TEST(TreeErrors, MisshapedTensorNamesBothShapes) {
    TempDir dir;
    const auto src = write_tiny("qwen3moe", dir.path());
    test::Rewrite r;
    r.reshape = {{"blk.0.ffn_up_exps.weight", {256, 64, 8}}};
    test::rewrite(src, dir / "broken.gguf", r);
    const std::string e = build_error(dir / "broken.gguf");
    EXPECT_NE(e.find("blk.0.ffn_up_exps.weight has shape [256, 64, 8], expected [256, 128, 8]"),
              std::string::npos)
        << e;
}

TEST(TreeErrors, MissingQkNormInQwen3) {
    TempDir dir;
    const auto src = write_tiny("qwen3", dir.path());
    test::Rewrite r;
    r.drop_tensors = {"blk.0.attn_q_norm.weight"};
    test::rewrite(src, dir / "broken.gguf", r);
    EXPECT_NE(build_error(dir / "broken.gguf").find("missing tensor blk.0.attn_q_norm.weight"),
              std::string::npos);
}

TEST(TreeErrors, UnknownArchitectureListsTheSupportedOnes) {
    TempDir dir;
    const auto src = write_tiny("llama", dir.path());
    test::Rewrite r;
    r.set_strings = {{"general.architecture", "gemma2"}};
    test::rewrite(src, dir / "gemma.gguf", r);
    const std::string e = build_error(dir / "gemma.gguf");
    EXPECT_NE(e.find("unsupported architecture 'gemma2'"), std::string::npos) << e;
    EXPECT_NE(e.find("llama, mixtral, qwen2, qwen3, qwen2moe, qwen3moe, deepseek2"),
              std::string::npos)
        << e;
}

TEST(TreeErrors, MissingKeyIsNamed) {
    TempDir dir;
    const auto src = write_tiny("qwen2", dir.path());
    test::Rewrite r;
    r.drop_keys = {"qwen2.embedding_length"};
    test::rewrite(src, dir / "broken.gguf", r);
    EXPECT_NE(build_error(dir / "broken.gguf").find("missing metadata qwen2.embedding_length"),
              std::string::npos);
}

TEST(TreeErrors, NoArchitectureIsNotAModel) {
    TempDir dir;
    const auto src = write_tiny("llama", dir.path());
    test::Rewrite r;
    r.drop_keys = {"general.architecture"};
    test::rewrite(src, dir / "vocab-only.gguf", r);
    EXPECT_NE(build_error(dir / "vocab-only.gguf").find("no general.architecture"),
              std::string::npos);
}

TEST(TreeErrors, OutOfRangeHeadCount) {
    TempDir dir;
    const auto src = write_tiny("llama", dir.path());
    test::Rewrite r;
    r.set_uint32 = {{"llama.attention.head_count_kv", 3}};
    test::rewrite(src, dir / "broken.gguf", r);
    EXPECT_NE(build_error(dir / "broken.gguf").find("is not a multiple of"), std::string::npos);
}

} // namespace
} // namespace graft::models
