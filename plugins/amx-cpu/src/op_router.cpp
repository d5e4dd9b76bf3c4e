// router: MoE gating. logits = W x; probs = softmax(logits) or sigmoid(logits); the
// top_k experts by probs (+ the optional selection bias, DeepSeek V3's
// e_score_correction_bias) win, optionally only from the topk_group best of n_group
// groups (group score: sum of its two best); their weights are the unbiased probs,
// optionally normalised to sum 1 (norm_topk) and multiplied by `scale`.
// With param bias_mode = "logits" the bias is added to the logits instead (gpt-oss).
#include "kernel_api.h"
#include "kernels.h"
#include "ref_math.h"
#include "thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

namespace graft::amx_cpu {

namespace {

constexpr const char *kOp = "router";

struct RouterConfig {
    Matrix w;                    // (n_embd, n_expert)
    const float *bias = nullptr; // (optional) n_expert
    bool bias_on_logits = false;
    bool sigmoid = false;
    bool norm = false;
    float scale = 1.0f;
    int64_t top_k = 0, n_group = 1, topk_group = 1;

    graft_status init(const graft_kernel_config &c) {
        if (c.n_weights < 1 || !c.weights)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "router: needs weights {gate W (n_embd, n_expert), bias F32 "
                             "(n_expert) (optional)}");
        if (!weight_matrix(kOp, "weight gate", c.weights[0], w))
            return invalid();
        if (c.weights[0].ne[2] != 1 || c.weights[0].ne[3] != 1)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "router: weight gate must be 2-D, got " + describe(c.weights[0]));
        if (!optional_f32_vector(kOp, "bias", c, 1, w.n_out, bias))
            return invalid();
        const graft_param *p = c.params;
        const uint32_t n = c.n_params;
        const std::string gating = sdk::param_string(p, n, "gating", "softmax");
        const std::string bias_mode = sdk::param_string(p, n, "bias_mode", "selection");
        if (gating != "softmax" && gating != "sigmoid")
            return sdk::fail(GRAFT_ERR_UNSUPPORTED,
                             "router: gating must be \"softmax\" or \"sigmoid\", got \"" + gating +
                                 "\"");
        if (bias_mode != "selection" && bias_mode != "logits")
            return sdk::fail(GRAFT_ERR_UNSUPPORTED,
                             "router: bias_mode must be \"selection\" or \"logits\", got \"" +
                                 bias_mode + "\"");
        sigmoid = gating == "sigmoid";
        bias_on_logits = bias_mode == "logits";
        top_k = sdk::param_int(p, n, "top_k", 0);
        norm = sdk::param_int(p, n, "norm_topk", 0) != 0;
        scale = static_cast<float>(sdk::param_float(p, n, "scale", 1.0));
        n_group = std::max<int64_t>(1, sdk::param_int(p, n, "n_group", 1));
        topk_group = sdk::param_int(p, n, "topk_group", n_group);
        const int64_t n_expert = w.n_out;
        if (top_k < 1 || top_k > n_expert)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "router: top_k must be between 1 and n_expert (" +
                                 std::to_string(n_expert) + "), got " + std::to_string(top_k));
        if (n_expert % n_group != 0 || topk_group < 1 || topk_group > n_group ||
            topk_group * (n_expert / n_group) < top_k)
            return sdk::fail(
                GRAFT_ERR_INVALID_ARGUMENT,
                "router: n_group must divide n_expert and topk_group groups must hold at "
                "least top_k experts, got n_group " +
                    std::to_string(n_group) + ", topk_group " + std::to_string(topk_group));
        return GRAFT_OK;
    }

    bool io(const graft_kernel_call &call, F32Rows &x, int32_t *&ids, F32Rows &weights) const {
        const int32_t *ids_c = nullptr;
        if (!arity(kOp, call, 1, 2) || !f32_rows(kOp, "input x", call.inputs[0], w.n_in, x) ||
            !f32_rows(kOp, "output weights", call.outputs[1], top_k, weights) ||
            !i32_vector(kOp, "output ids", call.outputs[0], top_k * x.rows, ids_c))
            return false;
        if (weights.rows != x.rows)
            return bad("router: output weights must have one row per token");
        ids = const_cast<int32_t *>(ids_c);
        return true;
    }

    static int64_t scratch_floats(int64_t n_expert) { return 5 * n_expert; }

    // One token: logits (n_expert) to top_k ids and weights; scratch holds
    // scratch_floats(n_expert) floats (no allocation per token).
    void route(const float *logits, int32_t *ids, float *weights, float *scratch) const {
        const int64_t ne = w.n_out;
        float *probs = scratch, *sel = scratch + ne, *score = scratch + 2 * ne;
        auto *order = reinterpret_cast<int32_t *>(scratch + 3 * ne);
        auto *groups = reinterpret_cast<int32_t *>(scratch + 4 * ne);
        for (int64_t e = 0; e < ne; ++e)
            probs[e] = logits[e] + (bias && bias_on_logits ? bias[e] : 0.0f);
        if (sigmoid) {
            for (int64_t e = 0; e < ne; ++e)
                probs[e] = 1.0f / (1.0f + std::exp(-probs[e]));
        } else {
            const float max = *std::max_element(probs, probs + ne);
            float sum = 0.0f;
            for (int64_t e = 0; e < ne; ++e) {
                probs[e] = std::exp(probs[e] - max);
                sum += probs[e];
            }
            for (int64_t e = 0; e < ne; ++e)
                probs[e] /= sum;
        }
        for (int64_t e = 0; e < ne; ++e)
            sel[e] = probs[e] + (bias && !bias_on_logits ? bias[e] : 0.0f);
        // Descending, ties to the lower index.
        auto better = [&](int32_t a, int32_t b) {
            return sel[a] > sel[b] || (sel[a] == sel[b] && a < b);
        };
        if (n_group > 1 && topk_group < n_group) {
            const int64_t gs = ne / n_group;
            for (int64_t g = 0; g < n_group; ++g) {
                float best = -std::numeric_limits<float>::infinity(), second = best;
                for (int64_t e = g * gs; e < (g + 1) * gs; ++e) {
                    if (sel[e] > best) {
                        second = best;
                        best = sel[e];
                    } else if (sel[e] > second) {
                        second = sel[e];
                    }
                }
                score[g] = gs >= 2 ? best + second : best;
            }
            std::iota(groups, groups + n_group, 0);
            std::sort(groups, groups + n_group, [&](int32_t a, int32_t b) {
                return score[a] > score[b] || (score[a] == score[b] && a < b);
            });
            // Experts of the groups ranked topk_group and below drop out of the selection.
            for (int64_t i = topk_group; i < n_group; ++i)
                for (int64_t e = groups[i] * gs; e < (groups[i] + 1) * gs; ++e)
                    sel[e] = -std::numeric_limits<float>::infinity();
        }
        std::iota(order, order + ne, 0);
        std::partial_sort(order, order + top_k, order + ne, better);
        float sum = 0.0f;
        for (int64_t j = 0; j < top_k; ++j) {
            ids[j] = order[j];
            weights[j] = probs[order[j]];
            sum += weights[j];
        }
        if (norm) {
            // As llama.cpp: a sum below the smallest normal fp16 is clamped to it.
            sum = std::max(sum, 6.103515625e-5f);
            for (int64_t j = 0; j < top_k; ++j)
                weights[j] /= sum;
        }
        if (scale != 0.0f && scale != 1.0f)
            for (int64_t j = 0; j < top_k; ++j)
                weights[j] *= scale;
    }
};

class Router {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Rows x, weights;
        int32_t *ids = nullptr;
        if (!cfg_.io(call, x, ids, weights))
            return invalid();
        const int64_t ne = cfg_.w.n_out, T = x.rows;
        float *logits = logits_.get_as<float>(static_cast<size_t>(ne * T));
        runner_.run(cfg_.w, nullptr, x.data, x.stride, T, logits, ne);
        ThreadPool &pool = ThreadPool::instance();
        const int64_t per_thread = RouterConfig::scratch_floats(ne) + 16;
        float *scratch = scratch_.get_as<float>(static_cast<size_t>(per_thread * pool.size()));
        pool.parallel_for(T, 8, [&](int64_t b, int64_t e, int thread) {
            float *s = scratch + per_thread * thread;
            for (int64_t t = b; t < e; ++t)
                cfg_.route(logits + t * ne, ids + t * cfg_.top_k, weights.row(t), s);
        });
        return GRAFT_OK;
    }

  private:
    RouterConfig cfg_;
    LinearRunner runner_;
    ScratchBuffer logits_, scratch_;
};

class RouterRef {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Rows x, weights;
        int32_t *ids = nullptr;
        if (!cfg_.io(call, x, ids, weights))
            return invalid();
        const int64_t ne = cfg_.w.n_out;
        std::vector<float> logits(static_cast<size_t>(ne));
        std::vector<float> scratch(static_cast<size_t>(RouterConfig::scratch_floats(ne)));
        for (int64_t t = 0; t < x.rows; ++t) {
            ref::matvec(cfg_.w, x.row(t), logits.data());
            cfg_.route(logits.data(), ids + t * cfg_.top_k, weights.row(t), scratch.data());
        }
        return GRAFT_OK;
    }

  private:
    RouterConfig cfg_;
};

} // namespace

void add_router_kernels(KernelLists &lists) {
    lists.fast.push_back(make_kernel<Router>(kOp, "router", linear_dtypes()));
    lists.ref.push_back(make_kernel<RouterRef>(kOp, "router_ref", linear_dtypes()));
}

} // namespace graft::amx_cpu
