// The forward pass of deepseek2 (DeepSeek-V2, V2-Lite, V2.5, V3): multi-head latent
// attention, leading dense layers, routed experts with shared experts, softmax or sigmoid
// gating with a selection bias and group-limited top-k, YaRN rope.
//
// Attention runs in the latent space for every phase ("absorbed"): per token the cache
// keeps [c_kv (kv_lora_rank) | k_pe (rope dims)], one row shared by all heads; queries are
// carried into the latent space per head by W_uk (k_b_proj), the attention output out of
// it by W_uv (v_b_proj), then o_proj. docs/design/moe.md says why.
#include "forward_util.h"

#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <cmath>
#include <map>

namespace graft::engine {

namespace {

using detail::gather_rows;
using detail::on;
using detail::scratch;
using detail::upload;

// YaRN as llama.cpp sets it up (llama_context's constructor): ext_factor 1 when the file
// asks for yarn, and the attention factor that rope applies, with DeepSeek's
// mscale_all_dim special case and the rope kernel's own mscale cancelled.
struct Yarn {
    float freq_scale = 1.0f, ext_factor = 0.0f, attn_factor = 1.0f;
};

Yarn yarn_of(const models::HParams &hp) {
    Yarn y;
    const bool yarn = hp.rope_scaling_type == "yarn";
    y.freq_scale = hp.rope_scaling_type == "none" ? 1.0f : static_cast<float>(hp.rope_freq_scale);
    y.ext_factor =
        hp.yarn_ext_factor >= 0.0 ? static_cast<float>(hp.yarn_ext_factor) : (yarn ? 1.0f : 0.0f);
    y.attn_factor = static_cast<float>(hp.yarn_attn_factor);
    if (y.ext_factor != 0.0f) {
        auto mscale_of = [](float scale, float mscale) {
            return scale <= 1.0f ? 1.0f : 0.1f * mscale * std::log(scale) + 1.0f;
        };
        const float factor = 1.0f / y.freq_scale;
        const auto log_mul = static_cast<float>(hp.yarn_log_mul);
        if (log_mul != 0.0f) {
            float mscale = 1.0f;
            if (hp.family == "deepseek2" && log_mul != 1.0f)
                mscale = log_mul;
            y.attn_factor = mscale_of(factor, mscale) / mscale_of(factor, log_mul);
        } else {
            y.attn_factor = mscale_of(factor, 1.0f);
        }
        y.attn_factor *= 1.0f / (1.0f + 0.1f * std::log(factor));
    }
    y.attn_factor *= static_cast<float>(hp.rope_attn_factor);
    return y;
}

class Deepseek2Forward final : public Forward {
  public:
    explicit Deepseek2Forward(Model &m) : m_(m), hp_(m.hparams()) {
        embed_ = &m.require("model.embed_tokens");
        norm_ = &m.require("model.norm");
        lm_head_ = &m.require("lm_head");
        if (hp_.kv_lora_rank <= 0 || !hp_.mla_split_kv_b)
            throw Error("deepseek2: graft runs files with attn_k_b and attn_v_b (MLA as current "
                        "llama.cpp converts it); this one has a single attn_kv_b: convert the "
                        "model again with a current llama.cpp");
        for (int64_t l = 0; l < hp_.n_layer; ++l) {
            const std::string p = "model.layers." + std::to_string(l);
            const std::string a = p + ".self_attn";
            Layer L;
            L.residual = &m.require(p);
            L.attn_norm = &m.require(p + ".input_layernorm");
            L.attn_name = a;
            L.attn = &m.require(a);
            if ((L.q_a = m.kernels(a + ".q_a_proj"))) { // V2, V3: low-rank q
                L.q_a_norm = &m.require(a + ".q_a_layernorm");
                L.q_b = &m.require(a + ".q_b_proj");
            } else { // V2-Lite
                L.q = &m.require(a + ".q_proj");
            }
            L.kv_a = &m.require(a + ".kv_a_proj_with_mqa");
            L.kv_a_norm = &m.require(a + ".kv_a_layernorm");
            L.k_b = &m.require(a + ".k_b_proj");
            L.v_b = &m.require(a + ".v_b_proj");
            L.o = &m.require(a + ".o_proj");
            L.rope = &m.require(a + ".rotary_emb");
            L.ffn_norm = &m.require(p + ".post_attention_layernorm");
            L.mlp = &m.require(p + ".mlp");
            if ((L.router = m.kernels(p + ".mlp.gate"))) {
                L.experts = &m.require(p + ".mlp.experts");
                L.shared = m.kernels(p + ".mlp.shared_experts");
                if (L.shared) {
                    L.gate = &m.require(p + ".mlp.shared_experts.gate_proj");
                    L.up = &m.require(p + ".mlp.shared_experts.up_proj");
                    L.down = &m.require(p + ".mlp.shared_experts.down_proj");
                }
            } else { // a leading dense layer
                L.gate = &m.require(p + ".mlp.gate_proj");
                L.up = &m.require(p + ".mlp.up_proj");
                L.down = &m.require(p + ".mlp.down_proj");
            }
            layers_.push_back(L);
        }
    }

    void run(std::span<const BatchItem> items, Phase ph, std::vector<float> &logits) override {
        const int64_t n_embd = hp_.n_embd, n_head = hp_.n_head;
        const int64_t d_c = hp_.kv_lora_rank, d_r = hp_.qk_rope_dim, d_nope = hp_.qk_nope_dim;
        const int64_t d_k = hp_.key_length, d_v = hp_.value_length, D = d_c + d_r;
        std::vector<int32_t> ids, pos;
        std::vector<int64_t> out_rows;
        for (const BatchItem &it : items) {
            for (size_t i = 0; i < it.tokens.size(); ++i) {
                if (it.logits && (it.all_logits || i + 1 == it.tokens.size()))
                    out_rows.push_back(static_cast<int64_t>(ids.size()));
                ids.push_back(it.tokens[i]);
                pos.push_back(static_cast<int32_t>(it.n_past + static_cast<int64_t>(i)));
            }
        }
        const int64_t T = static_cast<int64_t>(ids.size());
        std::map<Device *, Tensor> pos_on;
        auto positions = [&](Device &dev) -> const Tensor & {
            auto it = pos_on.find(&dev);
            if (it == pos_on.end())
                it = pos_on.emplace(&dev, upload(m_, pos, GRAFT_DTYPE_I32, dev)).first;
            return it->second;
        };
        auto linear = [&](Model::Kernels *k, const Tensor &x, int64_t n_out) {
            KernelInstance &K = k->get(ph);
            Tensor in = on(m_, x, K.device());
            Tensor y = scratch(m_, K.device(), GRAFT_DTYPE_F32, {n_out, T});
            K({&in}, {&y});
            return y;
        };
        auto rmsnorm = [&](Model::Kernels *k, const Tensor &x) {
            KernelInstance &K = k->get(ph);
            Tensor in = on(m_, x, K.device());
            Tensor y = scratch(m_, K.device(), GRAFT_DTYPE_F32, {in.t.ne[0], in.rows()});
            K({&in}, {&y});
            return y;
        };
        auto add_into = [&](Model::Kernels *k, Tensor &x, const Tensor &y) {
            KernelInstance &K = k->get(ph);
            x = on(m_, x, K.device());
            Tensor b = on(m_, y, K.device());
            K({&x, &b}, {&x});
        };
        // A strided view of `t`: ne elements per dimension starting `offset` floats in.
        auto view = [](const Tensor &t, int64_t offset, std::initializer_list<int64_t> ne,
                       std::initializer_list<int64_t> nb_floats) {
            Tensor v = t;
            v.t.data = t.f32() + offset;
            int i = 0;
            for (int64_t n : ne)
                v.t.ne[i++] = n;
            v.t.n_dims = static_cast<uint32_t>(i);
            for (; i < GRAFT_MAX_DIMS; ++i)
                v.t.ne[i] = 1;
            v.t.nb[0] = 4;
            i = 1;
            for (int64_t nb : nb_floats)
                v.t.nb[i++] = nb * 4;
            for (; i < GRAFT_MAX_DIMS; ++i)
                v.t.nb[i] = v.t.nb[i - 1] * v.t.ne[i - 1];
            return v;
        };

        // (n_embd, T)
        KernelInstance &E = embed_->get(ph);
        Tensor ids_t = upload(m_, ids, GRAFT_DTYPE_I32, E.device());
        Tensor x = scratch(m_, E.device(), GRAFT_DTYPE_F32, {n_embd, T});
        E({&ids_t}, {&x});

        for (Layer &L : layers_) {
            // multi-head latent attention
            Tensor h = rmsnorm(L.attn_norm, x); // (n_embd, T)
            Tensor q;                           // (d_k * n_head, T): per head [nope | pe]
            if (L.q_a) {
                Tensor qa = rmsnorm(L.q_a_norm, linear(L.q_a, h, hp_.q_lora_rank));
                q = linear(L.q_b, qa, d_k * n_head);
            } else {
                q = linear(L.q, h, d_k * n_head);
            }
            Tensor kv = linear(L.kv_a, h, D); // (d_c + d_r, T): [c_kv | k_pe]
            KernelInstance &R = L.rope->get(ph);
            q = on(m_, q, R.device());
            kv = on(m_, kv, R.device());
            Tensor q_pe = view(q, d_nope, {d_r, n_head, T}, {d_k, d_k * n_head});
            Tensor k_pe = view(kv, d_c, {d_r, 1, T}, {D, D});
            R({&q_pe, &positions(R.device())}, {&q_pe});
            R({&k_pe, &positions(R.device())}, {&k_pe});
            {
                KernelInstance &N = L.kv_a_norm->get(ph);
                kv = on(m_, kv, N.device());
                Tensor c = view(kv, 0, {d_c, T}, {D}); // normalised in place
                N({&c}, {&c});
            }
            // q_nope . W_uk per head: (d_c, n_head, T)
            KernelInstance &KB = L.k_b->get(ph);
            q = on(m_, q, KB.device());
            Tensor q_nope = view(q, 0, {d_nope, n_head, T}, {d_k, d_k * n_head});
            Tensor q_lat = scratch(m_, KB.device(), GRAFT_DTYPE_F32, {d_c, n_head, T});
            KB({&q_nope}, {&q_lat});

            KernelInstance &A = L.attn->get(ph);
            Model::Cache &cache = m_.cache(L.attn_name);
            q = on(m_, q, A.device());
            q_pe = view(q, d_nope, {d_r, n_head, T}, {d_k, d_k * n_head});
            q_lat = on(m_, q_lat, A.device());
            kv = on(m_, kv, A.device());
            Tensor o_lat = scratch(m_, A.device(), GRAFT_DTYPE_F32, {d_c, n_head, T});
            int64_t row = 0;
            for (const BatchItem &it : items) {
                const int64_t n = static_cast<int64_t>(it.tokens.size());
                Tensor ql = view(q_lat, row * d_c * n_head, {d_c, n_head, n}, {d_c, d_c * n_head});
                Tensor qp =
                    view(q, row * d_k * n_head + d_nope, {d_r, n_head, n}, {d_k, d_k * n_head});
                Tensor kvs = view(kv, row * D, {D, n}, {D});
                Tensor os = view(o_lat, row * d_c * n_head, {d_c, n_head, n}, {d_c, d_c * n_head});
                Tensor lc = make_tensor(cache.k[static_cast<size_t>(it.slot)], m_.kv_dtype(),
                                        {D, m_.n_ctx()}, cache.device);
                graft_param n_past = sdk::make_int_param("n_past", it.n_past);
                A({&ql, &qp, &kvs, &lc}, {&os}, {&n_past, 1});
                row += n;
            }
            // out of the latent space per head, W_uv: (d_v, n_head, T)
            KernelInstance &VB = L.v_b->get(ph);
            o_lat = on(m_, o_lat, VB.device());
            Tensor o_heads = scratch(m_, VB.device(), GRAFT_DTYPE_F32, {d_v, n_head, T});
            VB({&o_lat}, {&o_heads});
            Tensor o = linear(L.o, o_heads.reshaped({d_v * n_head, T}), n_embd); // (n_embd, T)
            add_into(L.residual, x, o);

            // feed-forward: dense, or routed experts plus shared experts
            h = rmsnorm(L.ffn_norm, x);
            Tensor y;
            if (L.router) {
                const int64_t top_k = hp_.n_expert_used;
                KernelInstance &G = L.router->get(ph);
                Tensor hg = on(m_, h, G.device());
                Tensor sel = scratch(m_, G.device(), GRAFT_DTYPE_I32, {top_k, T});
                Tensor wts = scratch(m_, G.device(), GRAFT_DTYPE_F32, {top_k, T});
                G({&hg}, {&sel, &wts});
                KernelInstance &X = L.experts->get(ph);
                Tensor hx = on(m_, h, X.device());
                sel = on(m_, sel, X.device());
                wts = on(m_, wts, X.device());
                y = scratch(m_, X.device(), GRAFT_DTYPE_F32, {n_embd, T});
                X({&hx, &sel, &wts}, {&y});
                if (L.shared) {
                    Tensor d = swiglu_mlp(L, L.shared, h, hp_.n_ff_shexp, ph, linear);
                    add_into(L.mlp, y, d);
                }
            } else {
                y = swiglu_mlp(L, L.mlp, h, hp_.n_ff, ph, linear);
            }
            add_into(L.residual, x, y);
        }

        const int64_t R_out = static_cast<int64_t>(out_rows.size());
        logits.clear();
        if (R_out == 0)
            return;
        Tensor xs = R_out == T ? x : gather_rows(m_, x, out_rows);
        xs = rmsnorm(norm_, xs);
        KernelInstance &H = lm_head_->get(ph);
        xs = on(m_, xs, H.device());
        Tensor lg = scratch(m_, H.device(), GRAFT_DTYPE_F32, {hp_.n_vocab, R_out});
        H({&xs}, {&lg});
        logits.resize(static_cast<size_t>(hp_.n_vocab * R_out));
        H.device().copy_to_host(logits.data(), lg.t.data, lg.bytes());
    }

  private:
    struct Layer {
        Model::Kernels *residual, *attn_norm, *attn, *kv_a, *kv_a_norm, *k_b, *v_b, *o, *rope;
        Model::Kernels *q = nullptr, *q_a = nullptr, *q_a_norm = nullptr, *q_b = nullptr;
        Model::Kernels *ffn_norm, *mlp, *router = nullptr, *experts = nullptr, *shared = nullptr;
        Model::Kernels *gate = nullptr, *up = nullptr, *down = nullptr; // dense or shared MLP
        std::string attn_name;
    };

    // down(silu(gate h) * up h) with the swiglu bound to `act`.
    template <typename Linear>
    Tensor swiglu_mlp(Layer &L, Model::Kernels *act, const Tensor &h, int64_t n_ff, Phase ph,
                      Linear &linear) {
        Tensor g = linear(L.gate, h, n_ff); // (n_ff, T)
        Tensor u = linear(L.up, h, n_ff);   // (n_ff, T)
        KernelInstance &S = act->get(ph);
        g = on(m_, g, S.device());
        u = on(m_, u, S.device());
        S({&g, &u}, {&g});
        return linear(L.down, g, hp_.n_embd); // (n_embd, T)
    }

    Model &m_;
    const models::HParams &hp_;
    Model::Kernels *embed_, *norm_, *lm_head_;
    std::vector<Layer> layers_;
};

} // namespace

std::vector<Param> rope_yarn_params(const models::HParams &hp) {
    if (hp.rope_scaling_type != "yarn" && hp.yarn_ext_factor <= 0.0)
        return {};
    const Yarn y = yarn_of(hp);
    return {Param::real("ext_factor", y.ext_factor), Param::real("attn_factor", y.attn_factor),
            Param::real("beta_fast", hp.yarn_beta_fast),
            Param::real("beta_slow", hp.yarn_beta_slow)};
}

std::vector<Param> mla_attention_params(const models::HParams &hp) {
    // llama.cpp's deepseek2 graph: the attention scale carries YaRN's mscale squared, from
    // the attention factor before the rope kernel's own correction was cancelled.
    const Yarn y = yarn_of(hp);
    const float inv = 1.0f / y.freq_scale;
    const float attn_factor_org = y.attn_factor * (1.0f + 0.1f * std::log(inv));
    const float mscale =
        attn_factor_org * (1.0f + 0.1f * static_cast<float>(hp.yarn_log_mul) * std::log(inv));
    const float scale = mscale * mscale / std::sqrt(static_cast<float>(hp.key_length));
    return {Param::integer("n_head", hp.n_head), Param::integer("kv_lora_rank", hp.kv_lora_rank),
            Param::integer("rope_dim", hp.qk_rope_dim), Param::real("scale", scale)};
}

std::unique_ptr<Forward> make_deepseek2_forward(Model &model) {
    return std::make_unique<Deepseek2Forward>(model);
}

} // namespace graft::engine
