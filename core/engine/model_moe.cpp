// The forward pass of the mixture-of-experts decoder families: mixtral (llama with routed
// experts), qwen2moe (a shared expert behind a sigmoid gate, QKV bias) and qwen3moe (QK
// norm). Attention is the dense families'; the feed-forward block is
//     router(h) -> ids, weights;  y = moe_experts(h, ids, weights) [+ shared expert]
// with every step through the kernel the plan bound to its module.
#include "forward_util.h"

#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <map>

namespace graft::engine {

namespace {

using detail::gather_rows;
using detail::on;
using detail::scratch;
using detail::upload;

// A kernel for an op that no module of the tree carries (qwen2moe's sigmoid gate of the
// shared expert): the first kernel of `next_to`'s plugin for `op` that runs on its device.
// Throws, naming what to change, when the plugin has none.
std::unique_ptr<KernelInstance> helper_kernel(Model &m, KernelInstance &next_to,
                                              const std::string &op,
                                              const std::string &module_name) {
    const Binding &b = next_to.binding();
    Binding helper = b;
    helper.kwargs.clear();
    helper.kernel = nullptr;
    if (b.plugin) {
        graft_device_kind kind = GRAFT_DEVICE_CPU;
        for (const host::DeviceRecord &d : b.plugin->devices)
            if (d.index == b.device_index)
                kind = d.kind;
        for (const host::KernelRecord &k : b.plugin->kernels)
            if (k.op == op && k.api && k.runs_on(kind)) {
                helper.kernel = &k;
                break;
            }
    }
    if (!helper.kernel)
        throw Error(module_name + " needs a kernel for op '" + op + "' from plugin " +
                    (b.plugin ? b.plugin->name : std::string("?")) + " on " + b.device +
                    ", which has none; bind " + next_to.module_name() +
                    " to a plugin that has it (amx-cpu does, on cpu)");
    models::Module module;
    module.name = module_name;
    module.op = op;
    return std::make_unique<KernelInstance>(helper, next_to.device(), module, m.file(),
                                            std::vector<Param>{}, nullptr);
}

class MoeForward final : public Forward {
  public:
    explicit MoeForward(Model &m) : m_(m), hp_(m.hparams()) {
        embed_ = &m.require("model.embed_tokens");
        norm_ = &m.require("model.norm");
        lm_head_ = &m.require("lm_head");
        for (int64_t l = 0; l < hp_.n_layer; ++l) {
            const std::string p = "model.layers." + std::to_string(l);
            Layer L;
            L.residual = &m.require(p);
            L.attn_norm = &m.require(p + ".input_layernorm");
            L.attn_name = p + ".self_attn";
            L.attn = &m.require(L.attn_name);
            L.q = &m.require(p + ".self_attn.q_proj");
            L.k = &m.require(p + ".self_attn.k_proj");
            L.v = &m.require(p + ".self_attn.v_proj");
            L.o = &m.require(p + ".self_attn.o_proj");
            L.q_norm = m.kernels(p + ".self_attn.q_norm"); // qwen3moe
            L.k_norm = m.kernels(p + ".self_attn.k_norm");
            L.rope = &m.require(p + ".self_attn.rotary_emb");
            L.ffn_norm = &m.require(p + ".post_attention_layernorm");
            L.moe = &m.require(p + ".mlp");
            L.router = &m.require(p + ".mlp.gate");
            L.experts = &m.require(p + ".mlp.experts");
            if ((L.shared = m.kernels(p + ".mlp.shared_experts"))) { // qwen2moe
                L.sh_gate = &m.require(p + ".mlp.shared_experts.gate_proj");
                L.sh_up = &m.require(p + ".mlp.shared_experts.up_proj");
                L.sh_down = &m.require(p + ".mlp.shared_experts.down_proj");
            }
            if ((L.sh_gate_inp = m.kernels(p + ".mlp.shared_expert_gate"))) {
                // Bound next to the MoE's add, which takes the gated output.
                L.sh_scale = helper_kernel(m, *L.moe->decode, "sigmoid_mul",
                                           p + ".mlp.shared_expert_gate.sigmoid");
            }
            layers_.push_back(std::move(L));
        }
    }

    void run(std::span<const BatchItem> items, Phase ph, std::vector<float> &logits) override {
        const int64_t n_embd = hp_.n_embd, hd = hp_.head_dim;
        const int64_t n_head = hp_.n_head, n_head_kv = hp_.n_head_kv;
        const int64_t top_k = hp_.n_expert_used, n_ff_sh = hp_.n_ff_shexp;
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
        std::map<Device *, Tensor> pos_on; // positions, uploaded once per device
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

        // (n_embd, T)
        KernelInstance &E = embed_->get(ph);
        Tensor ids_t = upload(m_, ids, GRAFT_DTYPE_I32, E.device());
        Tensor x = scratch(m_, E.device(), GRAFT_DTYPE_F32, {n_embd, T});
        E({&ids_t}, {&x});

        for (Layer &L : layers_) {
            // attention block, as the dense families
            Tensor h = rmsnorm(L.attn_norm, x);        // (n_embd, T)
            Tensor q = linear(L.q, h, hd * n_head);    // (hd * n_head, T)
            Tensor k = linear(L.k, h, hd * n_head_kv); // (hd * n_head_kv, T)
            Tensor v = linear(L.v, h, hd * n_head_kv); // (hd * n_head_kv, T)
            if (L.q_norm)                              // per head: rows of head_dim
                q = rmsnorm(L.q_norm, q.reshaped({hd, n_head * T})).reshaped({hd * n_head, T});
            if (L.k_norm)
                k = rmsnorm(L.k_norm, k.reshaped({hd, n_head_kv * T}))
                        .reshaped({hd * n_head_kv, T});
            KernelInstance &R = L.rope->get(ph);
            q = on(m_, q, R.device());
            k = on(m_, k, R.device());
            Tensor q3 = q.reshaped({hd, n_head, T}), k3 = k.reshaped({hd, n_head_kv, T});
            R({&q3, &positions(R.device())}, {&q3});
            R({&k3, &positions(R.device())}, {&k3});

            KernelInstance &A = L.attn->get(ph);
            Model::Cache &cache = m_.cache(L.attn_name);
            q = on(m_, q, A.device());
            k = on(m_, k, A.device());
            v = on(m_, v, A.device());
            Tensor att = scratch(m_, A.device(), GRAFT_DTYPE_F32, {hd * n_head, T});
            int64_t row = 0;
            for (const BatchItem &it : items) {
                const int64_t n = static_cast<int64_t>(it.tokens.size());
                Tensor qs = q.rows_view(row, n).reshaped({hd, n_head, n});
                Tensor ks = k.rows_view(row, n).reshaped({hd, n_head_kv, n});
                Tensor vs = v.rows_view(row, n).reshaped({hd, n_head_kv, n});
                Tensor os = att.rows_view(row, n).reshaped({hd, n_head, n});
                Tensor kc = make_tensor(cache.k[static_cast<size_t>(it.slot)], m_.kv_dtype(),
                                        {hd, n_head_kv, m_.n_ctx()}, cache.device);
                Tensor vc = make_tensor(cache.v[static_cast<size_t>(it.slot)], m_.kv_dtype(),
                                        {hd, n_head_kv, m_.n_ctx()}, cache.device);
                graft_param n_past = sdk::make_int_param("n_past", it.n_past);
                A({&qs, &ks, &vs, &kc, &vc}, {&os}, {&n_past, 1});
                row += n;
            }
            Tensor o = linear(L.o, att, n_embd); // (n_embd, T)
            add_into(L.residual, x, o);

            // mixture of experts
            h = rmsnorm(L.ffn_norm, x); // (n_embd, T)
            KernelInstance &G = L.router->get(ph);
            Tensor hg = on(m_, h, G.device());
            Tensor sel = scratch(m_, G.device(), GRAFT_DTYPE_I32, {top_k, T}); // expert ids
            Tensor wts = scratch(m_, G.device(), GRAFT_DTYPE_F32, {top_k, T}); // their weights
            G({&hg}, {&sel, &wts});
            KernelInstance &X = L.experts->get(ph);
            Tensor hx = on(m_, h, X.device());
            sel = on(m_, sel, X.device());
            wts = on(m_, wts, X.device());
            Tensor y = scratch(m_, X.device(), GRAFT_DTYPE_F32, {n_embd, T});
            X({&hx, &sel, &wts}, {&y});
            if (L.shared) {
                Tensor g = linear(L.sh_gate, h, n_ff_sh); // (n_ff_shexp, T)
                Tensor u = linear(L.sh_up, h, n_ff_sh);   // (n_ff_shexp, T)
                KernelInstance &S = L.shared->get(ph);
                g = on(m_, g, S.device());
                u = on(m_, u, S.device());
                S({&g, &u}, {&g});
                Tensor d = linear(L.sh_down, g, n_embd); // (n_embd, T)
                if (L.sh_gate_inp) {
                    Tensor gate = linear(L.sh_gate_inp, h, 1); // (1, T): the gate's logit
                    KernelInstance &Z = *L.sh_scale;
                    d = on(m_, d, Z.device());
                    gate = on(m_, gate, Z.device());
                    Z({&d, &gate}, {&d});
                }
                add_into(L.moe, y, d);
            }
            add_into(L.residual, x, y);
        }

        // Only the rows whose logits are wanted go through the head.
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
        Model::Kernels *residual, *attn_norm, *attn, *q, *k, *v, *o, *q_norm, *k_norm, *rope;
        Model::Kernels *ffn_norm, *moe, *router, *experts;
        Model::Kernels *shared = nullptr, *sh_gate = nullptr, *sh_up = nullptr, *sh_down = nullptr,
                       *sh_gate_inp = nullptr;
        std::unique_ptr<KernelInstance> sh_scale; // sigmoid_mul for the shared expert's gate
        std::string attn_name;
    };
    Model &m_;
    const models::HParams &hp_;
    Model::Kernels *embed_, *norm_, *lm_head_;
    std::vector<Layer> layers_;
};

} // namespace

std::vector<Param> router_params(const models::HParams &hp) {
    std::vector<Param> p;
    p.push_back(Param::integer("top_k", hp.n_expert_used));
    p.push_back(Param::text("gating", hp.expert_gating));
    p.push_back(Param::integer("norm_topk", hp.expert_weights_norm ? 1 : 0));
    p.push_back(Param::real("scale", hp.expert_weights_scale));
    if (hp.n_expert_groups > 1) {
        p.push_back(Param::integer("n_group", hp.n_expert_groups));
        p.push_back(Param::integer("topk_group", hp.n_group_used));
    }
    return p;
}

std::unique_ptr<Forward> make_moe_forward(Model &model) {
    return std::make_unique<MoeForward>(model);
}

} // namespace graft::engine
