// amx-cpu: embedding, rmsnorm, rope, attention, swiglu and add. Each fast kernel against its
// "_ref" kernel on random inputs, and the references against the op's definition
// (computed here in double) where that is cheap to state.
//
// Tolerances: these ops do the same F32 arithmetic as their references in another order
// (vector lanes, blocked online softmax, a polynomial exp good to ~2 ulp), so results
// agree to a few float ulps of the values involved: 1e-5 relative to the output scale.
// Embedding copies dequantised rows and must match exactly.
#include "amx_cpu_fixture.h"

#include <algorithm>
#include <cmath>

namespace graft::test {
namespace {

using sdk::make_float_param;
using sdk::make_int_param;

double max_abs(const Tensor &t) {
    double m = 0.0;
    for (int64_t r = 0; r < t.rows(); ++r)
        for (int64_t i = 0; i < t.ne(0); ++i)
            m = std::max(m, static_cast<double>(std::fabs(t.row(r)[i])));
    return m;
}

// Every element of a and b within tol.
void expect_close(const Tensor &a, const Tensor &b, double tol, const std::string &what) {
    int failures = 0;
    for (int64_t r = 0; r < a.rows(); ++r)
        for (int64_t i = 0; i < a.ne(0); ++i)
            if (!(std::fabs(static_cast<double>(a.row(r)[i]) - b.row(r)[i]) <= tol) &&
                failures++ < 5) {
                ADD_FAILURE() << what << ": row " << r << " element " << i << ": " << a.row(r)[i]
                              << " vs " << b.row(r)[i] << " (tolerance " << tol << ")";
            }
    EXPECT_EQ(failures, 0) << what;
}

class Ops : public AmxCpuVariant {};

// ------------------------------------------------------------------ embedding

TEST_P(Ops, EmbeddingMatchesReferenceExactly) {
    for (graft_dtype d : {GRAFT_DTYPE_F32, GRAFT_DTYPE_F16, GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q8_0,
                          GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q6_K, GRAFT_DTYPE_Q5_1}) {
        SCOPED_TRACE(sdk::dtype_name(d));
        Rng rng(21);
        const int64_t n_embd = 256, n_vocab = 50, T = 7;
        Tensor table = random_weights(d, n_embd, n_vocab, rng);
        Tensor ids(GRAFT_DTYPE_I32, {T});
        const int32_t id_values[T] = {3, 49, 0, 3, 17, 48, 1};
        std::copy(id_values, id_values + T, ids.i32());
        Tensor fast(GRAFT_DTYPE_F32, {n_embd, T}), ref(GRAFT_DTYPE_F32, {n_embd, T});
        const graft_tensor w[] = {table.view()}, in[] = {ids.view()};
        graft_tensor of[] = {fast.view()}, orf[] = {ref.view()};
        ASSERT_EQ(run_kernel(plugin(), "embedding", w, {}, in, of).status, GRAFT_OK);
        ASSERT_EQ(run_kernel(plugin(), "embedding_ref", w, {}, in, orf).status, GRAFT_OK);
        for (int64_t t = 0; t < T; ++t) {
            const std::vector<float> row = dequantized_row(table, id_values[t]);
            for (int64_t i = 0; i < n_embd; ++i) {
                ASSERT_EQ(fast.row(t)[i], row[static_cast<size_t>(i)]) << "token " << t;
                ASSERT_EQ(ref.row(t)[i], row[static_cast<size_t>(i)]) << "token " << t;
            }
        }
        ids.i32()[2] = 50; // outside the vocabulary
        for (const char *impl : {"embedding", "embedding_ref"})
            EXPECT_EQ(run_kernel(plugin(), impl, w, {}, in, of).status, GRAFT_ERR_INVALID_ARGUMENT)
                << impl;
    }
}

// ------------------------------------------------------------------ rmsnorm

TEST_P(Ops, RmsnormMatchesDefinition) {
    for (int64_t n : {4096, 37}) {
        SCOPED_TRACE(n);
        Rng rng(22);
        Tensor x(GRAFT_DTYPE_F32, {n, 3}), gamma(GRAFT_DTYPE_F32, {n});
        fill_uniform(x, rng, 2.0f);
        fill_uniform(gamma, rng);
        const double eps = 1e-6;
        Tensor expect(GRAFT_DTYPE_F32, {n, 3});
        for (int64_t r = 0; r < 3; ++r) {
            double ss = 0.0;
            for (int64_t i = 0; i < n; ++i)
                ss += static_cast<double>(x.row(r)[i]) * x.row(r)[i];
            const double s = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
            for (int64_t i = 0; i < n; ++i)
                expect.row(r)[i] = static_cast<float>(x.row(r)[i] * s * gamma.f32()[i]);
        }
        const graft_tensor w[] = {gamma.view()};
        const graft_param p[] = {make_float_param("eps", eps)};
        for (const char *impl : {"rmsnorm", "rmsnorm_ref"}) {
            Tensor y = x.clone(); // in place: out aliases in
            const graft_tensor in[] = {y.view()};
            graft_tensor out[] = {y.view()};
            ASSERT_EQ(run_kernel(plugin(), impl, w, p, in, out).status, GRAFT_OK) << impl;
            expect_close(y, expect, 1e-5 * max_abs(expect), impl);
        }
    }
}

// ------------------------------------------------------------------ rope

struct RopeCase {
    int mode;
    int64_t n_rot;
    bool freq_factors;
    bool yarn;
};

void run_rope(const LoadedPlugin &plugin, const std::string &impl, const RopeCase &c,
              const Tensor &x, const Tensor &pos, const Tensor &factors, Tensor &y) {
    std::vector<graft_param> p = {make_int_param("n_rot", c.n_rot), make_int_param("mode", c.mode),
                                  make_float_param("freq_base", 500000.0)};
    if (c.yarn) {
        p.push_back(make_float_param("freq_scale", 0.25));
        p.push_back(make_float_param("ext_factor", 1.0));
        p.push_back(make_int_param("n_ctx_orig", 4096));
    }
    std::vector<graft_tensor> w;
    if (c.freq_factors)
        w.push_back(factors.view());
    const graft_tensor in[] = {x.view(), pos.view()};
    graft_tensor out[] = {y.view()};
    const KernelResult r = run_kernel(plugin, impl, w, p, in, out);
    ASSERT_EQ(r.status, GRAFT_OK) << impl << ": " << r.error;
}

TEST_P(Ops, RopeMatchesReference) {
    const int64_t d = 64, heads = 4, T = 5;
    Rng rng(23);
    Tensor x(GRAFT_DTYPE_F32, {d, heads, T}), pos(GRAFT_DTYPE_I32, {T}),
        factors(GRAFT_DTYPE_F32, {d / 2});
    fill_uniform(x, rng);
    const int32_t positions[T] = {0, 1, 77, 4000, 131071};
    std::copy(positions, positions + T, pos.i32());
    for (int64_t i = 0; i < d / 2; ++i)
        factors.f32()[i] = 1.0f + static_cast<float>(i % 5);
    for (const RopeCase c : {RopeCase{0, 64, false, false}, RopeCase{2, 64, false, false},
                             RopeCase{2, 32, true, false}, RopeCase{0, 48, true, true},
                             RopeCase{2, 64, false, true}}) {
        SCOPED_TRACE("mode " + std::to_string(c.mode) + " n_rot " + std::to_string(c.n_rot));
        Tensor fast(GRAFT_DTYPE_F32, {d, heads, T}), ref(GRAFT_DTYPE_F32, {d, heads, T});
        run_rope(plugin(), "rope", c, x, pos, factors, fast);
        run_rope(plugin(), "rope_ref", c, x, pos, factors, ref);
        expect_close(fast, ref, 1e-6, "rope vs rope_ref");
        // Elements past n_rot pass through.
        for (int64_t r = 0; r < fast.rows(); ++r)
            for (int64_t i = c.n_rot; i < d; ++i)
                ASSERT_EQ(fast.row(r)[i], x.row(r)[i]);
    }
}

// theta_i = p * base^(-2i/n_rot) / factor_i, pairs per mode; at small positions the float
// recurrence of the kernel stays within a few ulps of this.
TEST_P(Ops, RopeMatchesDefinition) {
    const int64_t d = 32, T = 3;
    const double base = 10000.0;
    Rng rng(24);
    Tensor x(GRAFT_DTYPE_F32, {d, 1, T}), pos(GRAFT_DTYPE_I32, {T}),
        factors(GRAFT_DTYPE_F32, {d / 2});
    fill_uniform(x, rng);
    const int32_t positions[T] = {0, 3, 29};
    std::copy(positions, positions + T, pos.i32());
    for (int64_t i = 0; i < d / 2; ++i)
        factors.f32()[i] = i < 4 ? 1.0f : 8.0f;
    for (int mode : {0, 2}) {
        for (bool ff : {false, true}) {
            SCOPED_TRACE("mode " + std::to_string(mode) + (ff ? " freq_factors" : ""));
            Tensor y(GRAFT_DTYPE_F32, {d, 1, T});
            std::vector<graft_param> p = {make_int_param("mode", mode),
                                          make_float_param("freq_base", base)};
            std::vector<graft_tensor> w;
            if (ff)
                w.push_back(factors.view());
            const graft_tensor in[] = {x.view(), pos.view()};
            graft_tensor out[] = {y.view()};
            ASSERT_EQ(run_kernel(plugin(), "rope_ref", w, p, in, out).status, GRAFT_OK);
            for (int64_t t = 0; t < T; ++t) {
                for (int64_t i = 0; i < d / 2; ++i) {
                    const double theta = positions[t] *
                                         std::pow(base, -2.0 * static_cast<double>(i) / d) /
                                         (ff ? factors.f32()[i] : 1.0);
                    const int64_t a = mode == 2 ? i : 2 * i, b = mode == 2 ? i + d / 2 : 2 * i + 1;
                    const double x0 = x.row(t)[a], x1 = x.row(t)[b];
                    EXPECT_NEAR(y.row(t)[a], x0 * std::cos(theta) - x1 * std::sin(theta), 2e-5);
                    EXPECT_NEAR(y.row(t)[b], x0 * std::sin(theta) + x1 * std::cos(theta), 2e-5);
                }
            }
        }
    }
}

// ------------------------------------------------------------------ attention

struct AttentionCase {
    int64_t n_head, n_head_kv, head_dim, n_ctx;
    graft_dtype cache;
    int64_t T, n_past;
};

struct AttentionRun {
    Tensor out, k_cache, v_cache;
};

AttentionRun run_attention(const LoadedPlugin &plugin, const std::string &impl,
                           const AttentionCase &c, const Tensor &q, const Tensor &k,
                           const Tensor &v, const Tensor &k_cache, const Tensor &v_cache,
                           KernelResult *result = nullptr) {
    AttentionRun r{Tensor(GRAFT_DTYPE_F32, {c.head_dim, c.n_head, c.T}), k_cache.clone(),
                   v_cache.clone()};
    const graft_param p[] = {make_int_param("n_head", c.n_head),
                             make_int_param("n_head_kv", c.n_head_kv),
                             make_int_param("head_dim", c.head_dim)};
    const graft_param cp[] = {make_int_param("n_past", c.n_past)};
    const graft_tensor in[] = {q.view(), k.view(), v.view(), r.k_cache.view(), r.v_cache.view()};
    graft_tensor out[] = {r.out.view()};
    const KernelResult kr = run_kernel(plugin, impl, {}, p, in, out, cp);
    if (result)
        *result = kr;
    else
        EXPECT_EQ(kr.status, GRAFT_OK) << impl << ": " << kr.error;
    return r;
}

// A cache whose first n_past positions hold random keys or values.
Tensor filled_cache(const AttentionCase &c, Rng &rng) {
    Tensor cache(c.cache, {c.head_dim, c.n_head_kv, c.n_ctx});
    fill_random(cache, rng, 1.0f);
    return cache;
}

TEST_P(Ops, AttentionMatchesReference) {
    const AttentionCase cases[] = {
        {8, 2, 64, 256, GRAFT_DTYPE_F16, 1, 100},  // decode, GQA, F16 cache
        {8, 2, 64, 256, GRAFT_DTYPE_F32, 9, 0},    // prefill from empty
        {8, 8, 20, 256, GRAFT_DTYPE_F16, 5, 70},   // no GQA, odd head_dim, keys cross blocks
        {12, 1, 32, 300, GRAFT_DTYPE_F32, 1, 199}, // MQA decode: query heads split over threads
        {4, 2, 128, 200, GRAFT_DTYPE_F16, 67, 3},  // long prefill
    };
    for (const AttentionCase &c : cases) {
        SCOPED_TRACE("heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) +
                     " d " + std::to_string(c.head_dim) + " T " + std::to_string(c.T) + " n_past " +
                     std::to_string(c.n_past) + " " + sdk::dtype_name(c.cache));
        Rng rng(25);
        Tensor q(GRAFT_DTYPE_F32, {c.head_dim, c.n_head, c.T});
        Tensor k(GRAFT_DTYPE_F32, {c.head_dim, c.n_head_kv, c.T}),
            v(GRAFT_DTYPE_F32, {c.head_dim, c.n_head_kv, c.T});
        fill_uniform(q, rng, 2.0f);
        fill_uniform(k, rng, 2.0f);
        fill_uniform(v, rng);
        const Tensor kc = filled_cache(c, rng), vc = filled_cache(c, rng);
        AttentionRun fast = run_attention(plugin(), "attention", c, q, k, v, kc, vc);
        AttentionRun ref = run_attention(plugin(), "attention_ref", c, q, k, v, kc, vc);
        expect_close(fast.out, ref.out, 2e-5, "attention vs attention_ref");
        ASSERT_EQ(std::memcmp(fast.k_cache.bytes(), ref.k_cache.bytes(), kc.size_bytes()), 0);
        ASSERT_EQ(std::memcmp(fast.v_cache.bytes(), ref.v_cache.bytes(), vc.size_bytes()), 0);
    }
}

// One key: the softmax is 1 and the output is that key's value. Four tokens at once
// equal four single-token steps (causality and n_past).
TEST_P(Ops, AttentionSemantics) {
    const AttentionCase c{4, 2, 16, 8, GRAFT_DTYPE_F32, 4, 0};
    Rng rng(26);
    Tensor q(GRAFT_DTYPE_F32, {16, 4, 4}), k(GRAFT_DTYPE_F32, {16, 2, 4}),
        v(GRAFT_DTYPE_F32, {16, 2, 4});
    fill_uniform(q, rng);
    fill_uniform(k, rng);
    fill_uniform(v, rng);
    Tensor empty(GRAFT_DTYPE_F32, {16, 2, 8});
    for (const char *impl : {"attention", "attention_ref"}) {
        SCOPED_TRACE(impl);
        AttentionRun all = run_attention(plugin(), impl, c, q, k, v, empty, empty);
        for (int64_t h = 0; h < 4; ++h)
            for (int64_t i = 0; i < 16; ++i)
                EXPECT_FLOAT_EQ(all.out.row(h)[i], v.row(h / 2)[i]) << "token 0 sees only itself";
        Tensor kc = empty.clone(), vc = empty.clone();
        for (int64_t t = 0; t < 4; ++t) {
            const AttentionCase step{4, 2, 16, 8, GRAFT_DTYPE_F32, 1, t};
            Tensor qt(GRAFT_DTYPE_F32, {16, 4, 1}), kt(GRAFT_DTYPE_F32, {16, 2, 1}),
                vt(GRAFT_DTYPE_F32, {16, 2, 1});
            std::memcpy(qt.bytes(), q.row(4 * t), 16 * 4 * 4);
            std::memcpy(kt.bytes(), k.row(2 * t), 16 * 2 * 4);
            std::memcpy(vt.bytes(), v.row(2 * t), 16 * 2 * 4);
            AttentionRun one = run_attention(plugin(), impl, step, qt, kt, vt, kc, vc);
            kc = one.k_cache;
            vc = one.v_cache;
            for (int64_t h = 0; h < 4; ++h)
                for (int64_t i = 0; i < 16; ++i)
                    EXPECT_NEAR(one.out.row(h)[i], all.out.row(4 * t + h)[i], 1e-6)
                        << "token " << t;
        }
        KernelResult overflow;
        const AttentionCase too_far{4, 2, 16, 8, GRAFT_DTYPE_F32, 4, 5};
        run_attention(plugin(), impl, too_far, q, k, v, empty, empty, &overflow);
        EXPECT_EQ(overflow.status, GRAFT_ERR_INVALID_ARGUMENT);
        EXPECT_NE(overflow.error.find("n_past"), std::string::npos) << overflow.error;
    }
}

// ------------------------------------------------------------------ swiglu, add

TEST_P(Ops, SwigluAndAdd) {
    Rng rng(27);
    const int64_t n = 1000, rows = 3;
    Tensor a(GRAFT_DTYPE_F32, {n, rows}), b(GRAFT_DTYPE_F32, {n, rows});
    fill_uniform(a, rng, 12.0f);
    fill_uniform(b, rng, 3.0f);
    Tensor swiglu(GRAFT_DTYPE_F32, {n, rows}), sum(GRAFT_DTYPE_F32, {n, rows});
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < n; ++i) {
            const double g = a.row(r)[i], u = b.row(r)[i];
            swiglu.row(r)[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * u);
            sum.row(r)[i] = a.row(r)[i] + b.row(r)[i];
        }
    for (const char *impl : {"swiglu", "swiglu_ref"}) {
        Tensor y = a.clone(); // out aliases gate
        const graft_tensor in[] = {y.view(), b.view()};
        graft_tensor out[] = {y.view()};
        ASSERT_EQ(run_kernel(plugin(), impl, {}, {}, in, out).status, GRAFT_OK) << impl;
        expect_close(y, swiglu, 1e-5 * max_abs(swiglu), impl);
    }
    for (const char *impl : {"add", "add_ref"}) {
        Tensor y = a.clone(); // out aliases a
        const graft_tensor in[] = {y.view(), b.view()};
        graft_tensor out[] = {y.view()};
        ASSERT_EQ(run_kernel(plugin(), impl, {}, {}, in, out).status, GRAFT_OK) << impl;
        expect_close(y, sum, 0.0, impl);
        Tensor short_b(GRAFT_DTYPE_F32, {n - 1, rows});
        const graft_tensor mismatched[] = {a.view(), short_b.view()};
        EXPECT_EQ(run_kernel(plugin(), impl, {}, {}, mismatched, out).status,
                  GRAFT_ERR_INVALID_ARGUMENT);
    }
}

GRAFT_AMX_CPU_VARIANTS(Ops);

} // namespace
} // namespace graft::test
