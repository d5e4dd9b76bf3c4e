// amx-cpu: router and moe_experts. Fast kernels against their references; the router's
// gating, grouping, normalisation and scaling against an independent implementation here.
#include "amx_cpu_fixture.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace graft::test {
namespace {

using sdk::make_float_param;
using sdk::make_int_param;
using sdk::make_string_param;

class Moe : public AmxCpuVariant {};

struct RouterOutputs {
    Tensor ids, weights;
};

RouterOutputs run_router(const LoadedPlugin &plugin, const std::string &impl,
                         const std::vector<graft_tensor> &w, const std::vector<graft_param> &p,
                         const Tensor &x, int64_t top_k) {
    RouterOutputs r{Tensor(GRAFT_DTYPE_I32, {top_k, x.ne(1)}),
                    Tensor(GRAFT_DTYPE_F32, {top_k, x.ne(1)})};
    const graft_tensor in[] = {x.view()};
    graft_tensor out[] = {r.ids.view(), r.weights.view()};
    const KernelResult kr = run_kernel(plugin, impl, w, p, in, out);
    EXPECT_EQ(kr.status, GRAFT_OK) << impl << ": " << kr.error;
    return r;
}

// The router's definition, written out plainly (double precision).
void expected_route(const std::vector<double> &logits, const std::vector<double> &bias,
                    bool bias_on_logits, bool sigmoid, int64_t top_k, int64_t n_group,
                    int64_t topk_group, bool norm, double scale, std::vector<int32_t> &ids,
                    std::vector<double> &weights) {
    const size_t ne = logits.size();
    std::vector<double> z = logits, probs(ne), sel(ne);
    for (size_t e = 0; e < ne; ++e)
        z[e] += bias_on_logits && !bias.empty() ? bias[e] : 0.0;
    const double mx = *std::max_element(z.begin(), z.end());
    double total = 0.0;
    for (size_t e = 0; e < ne; ++e)
        total += std::exp(z[e] - mx);
    for (size_t e = 0; e < ne; ++e) {
        probs[e] = sigmoid ? 1.0 / (1.0 + std::exp(-z[e])) : std::exp(z[e] - mx) / total;
        sel[e] = probs[e] + (!bias_on_logits && !bias.empty() ? bias[e] : 0.0);
    }
    std::vector<bool> allowed(ne, true);
    if (n_group > 1) {
        const size_t gs = ne / static_cast<size_t>(n_group);
        std::vector<std::pair<double, int64_t>> groups;
        for (int64_t g = 0; g < n_group; ++g) {
            std::vector<double> s(sel.begin() + static_cast<long>(g * gs),
                                  sel.begin() + static_cast<long>((g + 1) * gs));
            std::sort(s.rbegin(), s.rend());
            groups.push_back({-(s[0] + s[1]), g});
        }
        std::sort(groups.begin(), groups.end());
        std::fill(allowed.begin(), allowed.end(), false);
        for (int64_t i = 0; i < topk_group; ++i)
            for (size_t e = 0; e < gs; ++e)
                allowed[static_cast<size_t>(groups[static_cast<size_t>(i)].second) * gs + e] = true;
    }
    std::vector<int32_t> order;
    for (size_t e = 0; e < ne; ++e)
        if (allowed[e])
            order.push_back(static_cast<int32_t>(e));
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return sel[a] > sel[b]; });
    ids.assign(order.begin(), order.begin() + top_k);
    weights.clear();
    double sum = 0.0;
    for (int32_t e : ids) {
        weights.push_back(probs[static_cast<size_t>(e)]);
        sum += probs[static_cast<size_t>(e)];
    }
    for (double &w : weights)
        w = w / (norm ? sum : 1.0) * scale;
}

struct RouterCase {
    std::string gating;
    int64_t top_k, n_group, topk_group;
    bool norm, bias, bias_on_logits;
    double scale;
};

// Gate = identity, so the logits are x itself and the expectation is easy to state.
TEST_P(Moe, RouterMatchesDefinition) {
    const int64_t ne = 16, T = 5;
    Rng rng(31);
    Tensor gate(GRAFT_DTYPE_F32, {ne, ne}), bias(GRAFT_DTYPE_F32, {ne}),
        x(GRAFT_DTYPE_F32, {ne, T});
    for (int64_t e = 0; e < ne; ++e)
        gate.row(e)[e] = 1.0f;
    fill_uniform(bias, rng, 0.3f);
    fill_uniform(x, rng, 3.0f);
    const RouterCase cases[] = {
        {"softmax", 2, 1, 1, false, false, false, 1.0},
        {"softmax", 4, 1, 1, true, false, false, 1.0},
        {"sigmoid", 6, 4, 2, true, true, false, 2.5},
        {"softmax", 3, 1, 1, false, true, true, 1.0},
        {"sigmoid", 1, 8, 3, false, true, false, 0.5},
    };
    for (const RouterCase &c : cases) {
        SCOPED_TRACE(c.gating + " top_k " + std::to_string(c.top_k) + " groups " +
                     std::to_string(c.n_group));
        std::vector<graft_tensor> w = {gate.view()};
        if (c.bias)
            w.push_back(bias.view());
        const std::vector<graft_param> p = {
            make_int_param("top_k", c.top_k),
            make_string_param("gating", c.gating.c_str()),
            make_int_param("norm_topk", c.norm),
            make_float_param("scale", c.scale),
            make_int_param("n_group", c.n_group),
            make_int_param("topk_group", c.topk_group),
            make_string_param("bias_mode", c.bias_on_logits ? "logits" : "selection")};
        for (const char *impl : {"router", "router_ref"}) {
            SCOPED_TRACE(impl);
            RouterOutputs r = run_router(plugin(), impl, w, p, x, c.top_k);
            for (int64_t t = 0; t < T; ++t) {
                std::vector<double> logits(x.row(t), x.row(t) + ne), b;
                if (c.bias)
                    b.assign(bias.f32(), bias.f32() + ne);
                std::vector<int32_t> ids;
                std::vector<double> weights;
                expected_route(logits, b, c.bias_on_logits, c.gating == "sigmoid", c.top_k,
                               c.n_group, c.topk_group, c.norm, c.scale, ids, weights);
                for (int64_t j = 0; j < c.top_k; ++j) {
                    EXPECT_EQ(r.ids.i32()[t * c.top_k + j], ids[static_cast<size_t>(j)])
                        << "token " << t << " slot " << j;
                    EXPECT_NEAR(r.weights.row(t)[j], weights[static_cast<size_t>(j)], 1e-5)
                        << "token " << t;
                }
            }
        }
    }
}

TEST_P(Moe, RouterFastMatchesReference) {
    for (graft_dtype d : {GRAFT_DTYPE_F32, GRAFT_DTYPE_F16}) {
        Rng rng(32);
        const int64_t n_embd = 96, ne = 24, T = 7, top_k = 4;
        Tensor gate = random_weights(d, n_embd, ne, rng);
        Tensor x(GRAFT_DTYPE_F32, {n_embd, T});
        fill_uniform(x, rng);
        const std::vector<graft_tensor> w = {gate.view()};
        const std::vector<graft_param> p = {make_int_param("top_k", top_k),
                                            make_int_param("norm_topk", 1)};
        RouterOutputs fast = run_router(plugin(), "router", w, p, x, top_k);
        RouterOutputs ref = run_router(plugin(), "router_ref", w, p, x, top_k);
        for (int64_t i = 0; i < T * top_k; ++i) {
            EXPECT_EQ(fast.ids.i32()[i], ref.ids.i32()[i]) << i;
            EXPECT_NEAR(fast.weights.f32()[i], ref.weights.f32()[i], 1e-5) << i;
        }
    }
}

struct MoeCase {
    graft_dtype gate, up, down;
    int64_t n_embd, n_ff, n_expert, T, k;
    bool exact; // F32/F16 weights: f32 activations throughout
};

// Tolerances. F32/F16 weights keep f32 activations, so fast and reference differ only in
// summation order: 1e-5 of the largest output. Quantised weights see x rounded to int8
// blocks before gate/up and the hidden state silu(g) * u rounded again before down. The
// hidden state is heavy-tailed (a product of two roughly normal values), so its block
// maximum is many times its RMS and the rounding step is coarse: about 2% RMS error on
// these sizes, as llama.cpp's int8 dot products give. Allowed: 5% RMS relative to the
// outputs' RMS and 10% of the largest output for any element. A wrong expert, slot or
// weight changes outputs by their full size.
void check_moe(const LoadedPlugin &plugin, const MoeCase &c) {
    SCOPED_TRACE(std::string(sdk::dtype_name(c.gate)) + "/" + sdk::dtype_name(c.up) + "/" +
                 sdk::dtype_name(c.down) + " T=" + std::to_string(c.T));
    Rng rng(33);
    Tensor gate = random_weights(c.gate, c.n_embd, c.n_ff, rng, c.n_expert);
    Tensor up = random_weights(c.up, c.n_embd, c.n_ff, rng, c.n_expert);
    Tensor down = random_weights(c.down, c.n_ff, c.n_embd, rng, c.n_expert);
    Tensor x(GRAFT_DTYPE_F32, {c.n_embd, c.T}), ids(GRAFT_DTYPE_I32, {c.k, c.T}),
        w(GRAFT_DTYPE_F32, {c.k, c.T});
    fill_uniform(x, rng);
    fill_uniform(w, rng);
    // Expert n_expert-1 is never used; token 0 uses expert 1 twice.
    for (int64_t i = 0; i < c.k * c.T; ++i)
        ids.i32()[i] = static_cast<int32_t>((i * 7 + i / 3) % (c.n_expert - 1));
    if (c.k >= 2)
        ids.i32()[0] = ids.i32()[1] = 1;
    const graft_tensor weights[] = {gate.view(), up.view(), down.view()};
    const graft_tensor in[] = {x.view(), ids.view(), w.view()};
    Tensor fast(GRAFT_DTYPE_F32, {c.n_embd, c.T}), ref(GRAFT_DTYPE_F32, {c.n_embd, c.T});
    graft_tensor of[] = {fast.view()}, orf[] = {ref.view()};
    const KernelResult rf = run_kernel(plugin, "moe_experts", weights, {}, in, of);
    ASSERT_EQ(rf.status, GRAFT_OK) << rf.error;
    ASSERT_EQ(run_kernel(plugin, "moe_experts_ref", weights, {}, in, orf).status, GRAFT_OK);
    double scale = 0.0, sum_sq_ref = 0.0, sum_sq_err = 0.0;
    const int64_t n = c.n_embd * c.T;
    for (int64_t i = 0; i < n; ++i) {
        const double r = ref.f32()[i], e = static_cast<double>(fast.f32()[i]) - r;
        scale = std::max(scale, std::fabs(r));
        sum_sq_ref += r * r;
        sum_sq_err += e * e;
    }
    const double max_tol = c.exact ? 1e-5 : 0.10;
    int failures = 0;
    for (int64_t i = 0; i < n; ++i)
        if (!(std::fabs(fast.f32()[i] - ref.f32()[i]) <= max_tol * scale) && failures++ < 5) {
            ADD_FAILURE() << "element " << i << ": " << fast.f32()[i] << " vs " << ref.f32()[i]
                          << " (scale " << scale << ")";
        }
    EXPECT_EQ(failures, 0);
    EXPECT_LE(std::sqrt(sum_sq_err / sum_sq_ref), c.exact ? 1e-5 : 0.05);
}

TEST_P(Moe, ExpertsMatchReference) {
    const MoeCase cases[] = {
        {GRAFT_DTYPE_F32, GRAFT_DTYPE_F32, GRAFT_DTYPE_F32, 64, 96, 6, 1, 2, true},
        {GRAFT_DTYPE_F16, GRAFT_DTYPE_F16, GRAFT_DTYPE_F16, 64, 96, 6, 9, 3, true},
        {GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q8_0, 64, 96, 6, 9, 2, false},
        {GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q5_0, 64, 96, 5, 4, 2, false},
        {GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q5_K, GRAFT_DTYPE_Q6_K, 256, 512, 4, 1, 2, false},
        {GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q4_K, 256, 256, 5, 70, 2, false},
    };
    for (const MoeCase &c : cases)
        check_moe(plugin(), c);
}

TEST_P(Moe, RejectsBadExpertIds) {
    Rng rng(34);
    Tensor gate = random_weights(GRAFT_DTYPE_F32, 32, 16, rng, 3),
           up = random_weights(GRAFT_DTYPE_F32, 32, 16, rng, 3);
    Tensor down = random_weights(GRAFT_DTYPE_F32, 16, 32, rng, 3);
    Tensor x(GRAFT_DTYPE_F32, {32, 1}), ids(GRAFT_DTYPE_I32, {2, 1}), w(GRAFT_DTYPE_F32, {2, 1}),
        y(GRAFT_DTYPE_F32, {32, 1});
    ids.i32()[1] = 3;
    const graft_tensor weights[] = {gate.view(), up.view(), down.view()};
    const graft_tensor in[] = {x.view(), ids.view(), w.view()};
    graft_tensor out[] = {y.view()};
    for (const char *impl : {"moe_experts", "moe_experts_ref"}) {
        const KernelResult r = run_kernel(plugin(), impl, weights, {}, in, out);
        EXPECT_EQ(r.status, GRAFT_ERR_INVALID_ARGUMENT) << impl;
        EXPECT_NE(r.error.find("expert id 3"), std::string::npos) << r.error;
    }
}

GRAFT_AMX_CPU_VARIANTS(Moe);

} // namespace
} // namespace graft::test
