// amx-cpu: attention_mla, linear_heads and sigmoid_mul. Fast kernels against their
// references, and the references against the definitions written out here:
//  - attention_mla over a prefill then decode steps (the cache carried between calls), F32
//    and F16 caches, head counts and widths that are not multiples of the vector width;
//  - linear_heads, head by head, against the plugin's own 2-D linear kernels on the same
//    slice (the same products, so the results must agree to rounding), every weight dtype,
//    strided inputs;
//  - sigmoid_mul against x * 1 / (1 + exp(-g)).
#include "amx_cpu_fixture.h"

#include <cmath>
#include <cstring>

namespace graft::test {
namespace {

using sdk::make_float_param;
using sdk::make_int_param;

class Mla : public AmxCpuVariant {};

struct MlaShape {
    int64_t n_head, d_c, d_r;
    graft_dtype cache;
};

// softmax_j(scale (q_lat . c_j + q_pe . kpe_j)) c_j in double, over the rows given.
std::vector<double> expected_mla(const float *q_lat, const float *q_pe,
                                 const std::vector<std::vector<float>> &rows, int64_t d_c,
                                 int64_t d_r, double scale) {
    std::vector<double> s(rows.size());
    double mx = -1e300;
    for (size_t j = 0; j < rows.size(); ++j) {
        double dot = 0.0;
        for (int64_t i = 0; i < d_c; ++i)
            dot += static_cast<double>(q_lat[i]) * rows[j][static_cast<size_t>(i)];
        for (int64_t i = 0; i < d_r; ++i)
            dot += static_cast<double>(q_pe[i]) * rows[j][static_cast<size_t>(d_c + i)];
        s[j] = scale * dot;
        mx = std::max(mx, s[j]);
    }
    double sum = 0.0;
    for (double &v : s) {
        v = std::exp(v - mx);
        sum += v;
    }
    std::vector<double> o(static_cast<size_t>(d_c), 0.0);
    for (size_t j = 0; j < rows.size(); ++j)
        for (int64_t i = 0; i < d_c; ++i)
            o[static_cast<size_t>(i)] += s[j] / sum * rows[j][static_cast<size_t>(i)];
    return o;
}

// A row as the cache stores it (rounded to F16 for an F16 cache).
std::vector<float> stored(const float *row, int64_t n, graft_dtype cache) {
    std::vector<float> r(row, row + n);
    if (cache == GRAFT_DTYPE_F16)
        for (float &v : r)
            v = sdk::fp16_to_fp32(sdk::fp32_to_fp16(v));
    return r;
}

TEST_P(Mla, AttentionMatchesDefinitionOverPrefillAndDecode) {
    const MlaShape shapes[] = {{4, 64, 16, GRAFT_DTYPE_F32},
                               {3, 36, 6, GRAFT_DTYPE_F32},
                               {5, 40, 8, GRAFT_DTYPE_F16},
                               {16, 128, 64, GRAFT_DTYPE_F16}};
    for (const MlaShape &sh : shapes) {
        SCOPED_TRACE("n_head " + std::to_string(sh.n_head) + " d_c " + std::to_string(sh.d_c) +
                     " d_r " + std::to_string(sh.d_r) + " " + sdk::dtype_name(sh.cache));
        const int64_t D = sh.d_c + sh.d_r, n_ctx = 96;
        const double scale = 0.7 / std::sqrt(static_cast<double>(D));
        const std::vector<graft_param> params = {
            make_int_param("n_head", sh.n_head), make_int_param("kv_lora_rank", sh.d_c),
            make_int_param("rope_dim", sh.d_r), make_float_param("scale", scale)};
        KernelInstance fast(plugin(), "attention_mla", {}, params);
        KernelInstance ref(plugin(), "attention_mla_ref", {}, params);
        ASSERT_TRUE(fast.ok()) << fast.create_result().error;
        ASSERT_TRUE(ref.ok()) << ref.create_result().error;
        Tensor cache_fast(sh.cache, {D, n_ctx}), cache_ref(sh.cache, {D, n_ctx});
        std::vector<std::vector<float>> rows; // what the cache holds, as floats
        Rng rng(static_cast<uint64_t>(sh.d_c * 31 + sh.n_head));
        int64_t n_past = 0;
        for (int64_t T : {70, 1, 1, 3}) { // a prefill longer than one key block, then decode
            Tensor q_lat(GRAFT_DTYPE_F32, {sh.d_c, sh.n_head, T});
            Tensor q_pe(GRAFT_DTYPE_F32, {sh.d_r, sh.n_head, T});
            Tensor kv(GRAFT_DTYPE_F32, {D, T});
            fill_uniform(q_lat, rng, 1.5f);
            fill_uniform(q_pe, rng, 1.5f);
            fill_uniform(kv, rng, 1.0f);
            Tensor out_fast(GRAFT_DTYPE_F32, {sh.d_c, sh.n_head, T});
            Tensor out_ref(GRAFT_DTYPE_F32, {sh.d_c, sh.n_head, T});
            const graft_param np = make_int_param("n_past", n_past);
            const graft_tensor in_fast[] = {q_lat.view(), q_pe.view(), kv.view(),
                                            cache_fast.view()};
            const graft_tensor in_ref[] = {q_lat.view(), q_pe.view(), kv.view(), cache_ref.view()};
            graft_tensor of[] = {out_fast.view()}, orf[] = {out_ref.view()};
            const KernelResult rf = fast.run(in_fast, of, {&np, 1});
            ASSERT_EQ(rf.status, GRAFT_OK) << rf.error;
            const KernelResult rr = ref.run(in_ref, orf, {&np, 1});
            ASSERT_EQ(rr.status, GRAFT_OK) << rr.error;
            for (int64_t t = 0; t < T; ++t)
                rows.push_back(stored(kv.row(t), D, sh.cache));
            ASSERT_EQ(0,
                      std::memcmp(cache_fast.bytes(), cache_ref.bytes(),
                                  static_cast<size_t>(sdk::row_bytes(sh.cache, D) * (n_past + T))));
            int failures = 0;
            for (int64_t t = 0; t < T; ++t) {
                const std::vector<std::vector<float>> visible(
                    rows.begin(), rows.begin() + static_cast<long>(n_past + t + 1));
                for (int64_t h = 0; h < sh.n_head; ++h) {
                    const float *ql = q_lat.f32() + (t * sh.n_head + h) * sh.d_c;
                    const float *qp = q_pe.f32() + (t * sh.n_head + h) * sh.d_r;
                    const std::vector<double> want =
                        expected_mla(ql, qp, visible, sh.d_c, sh.d_r, scale);
                    const float *got_f = out_fast.f32() + (t * sh.n_head + h) * sh.d_c;
                    const float *got_r = out_ref.f32() + (t * sh.n_head + h) * sh.d_c;
                    for (int64_t i = 0; i < sh.d_c; ++i) {
                        const double w = want[static_cast<size_t>(i)];
                        if ((std::fabs(got_r[i] - w) > 2e-5 || std::fabs(got_f[i] - w) > 2e-5) &&
                            failures++ < 5)
                            ADD_FAILURE()
                                << "T " << T << " t " << t << " head " << h << " i " << i
                                << ": want " << w << " ref " << got_r[i] << " fast " << got_f[i];
                    }
                }
            }
            n_past += T;
        }
    }
}

TEST_P(Mla, AttentionRejectsAnOverflowingCacheAndBadShapes) {
    const std::vector<graft_param> params = {
        make_int_param("n_head", 2), make_int_param("kv_lora_rank", 8),
        make_int_param("rope_dim", 4), make_float_param("scale", 0.3)};
    Tensor q_lat(GRAFT_DTYPE_F32, {8, 2, 3}), q_pe(GRAFT_DTYPE_F32, {4, 2, 3});
    Tensor kv(GRAFT_DTYPE_F32, {12, 3}), cache(GRAFT_DTYPE_F32, {12, 4});
    Tensor out(GRAFT_DTYPE_F32, {8, 2, 3});
    Tensor bad_kv(GRAFT_DTYPE_F32, {11, 3});
    for (const char *impl : {"attention_mla", "attention_mla_ref"}) {
        SCOPED_TRACE(impl);
        const graft_param np = make_int_param("n_past", 2); // 2 + 3 > 4 positions
        const graft_tensor in[] = {q_lat.view(), q_pe.view(), kv.view(), cache.view()};
        graft_tensor o[] = {out.view()};
        KernelResult r = run_kernel(plugin(), impl, {}, params, in, o, {&np, 1});
        EXPECT_EQ(r.status, GRAFT_ERR_INVALID_ARGUMENT);
        EXPECT_NE(r.error.find("does not fit"), std::string::npos) << r.error;
        const graft_tensor in_bad[] = {q_lat.view(), q_pe.view(), bad_kv.view(), cache.view()};
        r = run_kernel(plugin(), impl, {}, params, in_bad, o);
        EXPECT_EQ(r.status, GRAFT_ERR_INVALID_ARGUMENT);
        EXPECT_NE(r.error.find("kv"), std::string::npos) << r.error;
    }
}

TEST_P(Mla, LinearHeadsIsTheLinearKernelHeadByHead) {
    const graft_dtype dtypes[] = {GRAFT_DTYPE_F32,  GRAFT_DTYPE_F16,  GRAFT_DTYPE_BF16,
                                  GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q4_1,
                                  GRAFT_DTYPE_Q5_0, GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q6_K};
    for (graft_dtype dt : dtypes) {
        const bool k_quant = sdk::dtype_info(dt).block_size == 256;
        const int64_t n_in = k_quant ? 256 : 64, n_out = 40, n_head = 3;
        for (int64_t T : {1, 9}) {
            SCOPED_TRACE(std::string(sdk::dtype_name(dt)) + " T " + std::to_string(T));
            Rng rng(static_cast<uint64_t>(dt) * 7 + static_cast<uint64_t>(T));
            Tensor w = random_weights(dt, n_in, n_out, rng, n_head);
            // x (n_in, n_head, T) inside rows of n_in + 5 floats: a strided view, as the
            // engine passes the q_nope part of each head.
            Tensor x = Tensor::f32_strided({n_in, n_head, T}, n_in + 5);
            fill_uniform(x, rng, 1.0f);
            const graft_tensor wv[] = {w.view()};
            for (const char *pair : {"fast", "ref"}) {
                const bool fast = std::string(pair) == "fast";
                Tensor y(GRAFT_DTYPE_F32, {n_out, n_head, T});
                const graft_tensor in[] = {x.view()};
                graft_tensor out[] = {y.view()};
                const KernelResult r = run_kernel(
                    plugin(), fast ? "linear_heads" : "linear_heads_ref", wv, {}, in, out);
                ASSERT_EQ(r.status, GRAFT_OK) << r.error;
                for (int64_t h = 0; h < n_head; ++h) {
                    graft_tensor wh = w.view();
                    wh.data = w.bytes() + h * w.view().nb[2];
                    wh.ne[2] = 1;
                    wh.n_dims = 2;
                    graft_tensor xh = x.view();
                    xh.data = x.bytes() + h * x.view().nb[1];
                    xh.ne[1] = T;
                    xh.ne[2] = 1;
                    xh.nb[1] = x.view().nb[2];
                    xh.nb[2] = xh.nb[1] * T;
                    xh.n_dims = 2;
                    Tensor yh(GRAFT_DTYPE_F32, {n_out, T});
                    const graft_tensor win[] = {wh}, hin[] = {xh};
                    graft_tensor hout[] = {yh.view()};
                    const KernelResult rh =
                        run_kernel(plugin(), fast ? "linear" : "linear_ref", win, {}, hin, hout);
                    ASSERT_EQ(rh.status, GRAFT_OK) << rh.error;
                    for (int64_t t = 0; t < T; ++t)
                        for (int64_t o = 0; o < n_out; ++o)
                            ASSERT_NEAR(y.f32()[(t * n_head + h) * n_out + o], yh.row(t)[o],
                                        1e-5 * (1.0 + std::fabs(yh.row(t)[o])))
                                << pair << " head " << h << " token " << t << " row " << o;
                }
            }
        }
    }
}

TEST_P(Mla, SigmoidMulMatchesDefinition) {
    for (int64_t n : {1, 8, 37, 256}) {
        const int64_t T = 6;
        Rng rng(static_cast<uint64_t>(n));
        Tensor x(GRAFT_DTYPE_F32, {n, T}), g(GRAFT_DTYPE_F32, {1, T});
        fill_uniform(x, rng, 2.0f);
        fill_uniform(g, rng, 6.0f);
        for (const char *impl : {"sigmoid_mul", "sigmoid_mul_ref"}) {
            SCOPED_TRACE(std::string(impl) + " n " + std::to_string(n));
            Tensor y(GRAFT_DTYPE_F32, {n, T});
            const graft_tensor in[] = {x.view(), g.view()};
            graft_tensor out[] = {y.view()};
            const KernelResult r = run_kernel(plugin(), impl, {}, {}, in, out);
            ASSERT_EQ(r.status, GRAFT_OK) << r.error;
            for (int64_t t = 0; t < T; ++t) {
                const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(g.f32()[t])));
                for (int64_t i = 0; i < n; ++i)
                    ASSERT_NEAR(y.row(t)[i], x.row(t)[i] * s, 1e-6 * (1.0 + std::fabs(x.row(t)[i])))
                        << "token " << t << " i " << i;
            }
        }
    }
}

GRAFT_AMX_CPU_VARIANTS(Mla);

} // namespace
} // namespace graft::test
