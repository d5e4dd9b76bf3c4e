// amx-cpu: the fast "linear" kernel against "linear_ref" for every weight dtype, one row
// and many rows, sizes that are not multiples of the micro-tiles, bias, strided input.
//
// Tolerance. The fast kernel quantises activations the way llama.cpp's dot products do
// (int8 blocks of 32 for Q8_0/Q4_0, of 256 for the K-quants; bf16 for BF16 weights, as
// llama.cpp rounds them) while the reference multiplies by the exact F32 activations. Rounding x_i
// to a step delta_i leaves an error uniform in [-delta_i/2, delta_i/2], independent across i, so
// output r deviates by a sum of independent terms with standard deviation
//     sigma_r = sqrt(sum_i w_ri^2 delta_i^2 / 12).
// Each output must lie within 7 sigma_r (a chance of ~1e-12 per output for a correct
// kernel; a wrong scale, nibble order or sub-block offset moves outputs by a sizeable
// part of |y|, hundreds of sigma) plus float rounding of two different summation orders,
// 2e-5 * sum_i |w_ri x_i|. The RMS of the deviations in units of sigma must stay near 1
// (below 1.5), which catches a biased rounding that single outputs would hide.
// The model of delta_i is deliberately the loosest the dtype allows: dtypes whose fast
// path keeps f32 activations then simply sit far inside the bound.
#include "amx_cpu_fixture.h"

#include <graft/quants.h>

#include <algorithm>
#include <cmath>

namespace graft::test {
namespace {

// The activation step the fast kernel may use for element i of x.
std::vector<double> activation_steps(graft_dtype dtype, const float *x, int64_t n) {
    std::vector<double> step(static_cast<size_t>(n), 0.0);
    int64_t block = 0;
    switch (dtype) {
    case GRAFT_DTYPE_F32:
    case GRAFT_DTYPE_F16:
        return step;
    case GRAFT_DTYPE_BF16:
        for (int64_t i = 0; i < n; ++i)
            step[static_cast<size_t>(i)] = std::fabs(x[i]) * std::ldexp(1.0, -7); // >= one bf16 ulp
        return step;
    default:
        block = sdk::dtype_info(dtype).block_size; // 32 or 256
    }
    for (int64_t b = 0; b < n; b += block) {
        double amax = 0.0;
        for (int64_t i = b; i < b + block; ++i)
            amax = std::max(amax, static_cast<double>(std::fabs(x[i])));
        for (int64_t i = b; i < b + block; ++i)
            step[static_cast<size_t>(i)] = amax / 127.0;
    }
    return step;
}

struct LinearCase {
    graft_dtype dtype;
    int64_t n_in, n_out, tokens;
    bool bias = false;
    int64_t x_pad = 0; // extra floats between input rows
};

std::string describe(const LinearCase &c) {
    return std::string(sdk::dtype_name(c.dtype)) + " n_in=" + std::to_string(c.n_in) +
           " n_out=" + std::to_string(c.n_out) + " T=" + std::to_string(c.tokens) +
           (c.bias ? " bias" : "") + (c.x_pad ? " strided" : "");
}

void check_linear(const LoadedPlugin &plugin, const LinearCase &c, uint64_t seed) {
    SCOPED_TRACE(describe(c));
    Rng rng(seed);
    Tensor w = random_weights(c.dtype, c.n_in, c.n_out, rng);
    Tensor bias(GRAFT_DTYPE_F32, {c.n_out});
    fill_uniform(bias, rng);
    Tensor x = Tensor::f32_strided({c.n_in, c.tokens}, c.n_in + c.x_pad);
    fill_uniform(x, rng);
    Tensor fast(GRAFT_DTYPE_F32, {c.n_out, c.tokens}), ref(GRAFT_DTYPE_F32, {c.n_out, c.tokens});
    std::vector<graft_tensor> weights = {w.view()};
    if (c.bias)
        weights.push_back(bias.view());
    const graft_tensor in[] = {x.view()};
    graft_tensor out_fast[] = {fast.view()}, out_ref[] = {ref.view()};
    const KernelResult rf = run_kernel(plugin, "linear", weights, {}, in, out_fast);
    ASSERT_EQ(rf.status, GRAFT_OK) << rf.error;
    const KernelResult rr = run_kernel(plugin, "linear_ref", weights, {}, in, out_ref);
    ASSERT_EQ(rr.status, GRAFT_OK) << rr.error;

    double sum_sq_sigmas = 0.0;
    int64_t n_sigma = 0, failures = 0;
    std::vector<std::vector<float>> rows;
    for (int64_t r = 0; r < c.n_out; ++r)
        rows.push_back(dequantized_row(w, r));
    for (int64_t t = 0; t < c.tokens; ++t) {
        const float *xt = x.row(t);
        const std::vector<double> step = activation_steps(c.dtype, xt, c.n_in);
        for (int64_t r = 0; r < c.n_out; ++r) {
            double var = 0.0, abs_sum = 0.0;
            for (int64_t i = 0; i < c.n_in; ++i) {
                const double wi = rows[static_cast<size_t>(r)][static_cast<size_t>(i)];
                var += wi * wi * step[static_cast<size_t>(i)] * step[static_cast<size_t>(i)] / 12.0;
                abs_sum += std::fabs(wi * xt[i]);
            }
            const double sigma = std::sqrt(var);
            const double diff = static_cast<double>(fast.row(t)[r]) - ref.row(t)[r];
            const double tol = 7.0 * sigma + 2e-5 * abs_sum + 1e-6;
            if (!(std::fabs(diff) <= tol) && failures++ < 5) {
                ADD_FAILURE() << "row " << r << " token " << t << ": fast " << fast.row(t)[r]
                              << " ref " << ref.row(t)[r] << " (tolerance " << tol << ", sigma "
                              << sigma << ")";
            }
            if (sigma > 0.0) {
                sum_sq_sigmas += (diff / sigma) * (diff / sigma);
                ++n_sigma;
            }
        }
    }
    EXPECT_EQ(failures, 0);
    if (n_sigma > 0) {
        EXPECT_LT(std::sqrt(sum_sq_sigmas / static_cast<double>(n_sigma)), 1.5)
            << "deviations are larger than activation rounding explains";
    }
}

class Linear : public AmxCpuVariant {};

const graft_dtype kDtypes[] = {
    GRAFT_DTYPE_F32,  GRAFT_DTYPE_F16,  GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0,
    GRAFT_DTYPE_Q4_1, GRAFT_DTYPE_Q5_0, GRAFT_DTYPE_Q5_1, GRAFT_DTYPE_Q2_K, GRAFT_DTYPE_Q3_K,
    GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q5_K, GRAFT_DTYPE_Q6_K,
};

// n_in: for block-1 dtypes not a multiple of any vector width; for block dtypes an odd
// number of blocks (the AVX-512 paths take two 32-blocks per vector).
int64_t small_n_in(graft_dtype d) {
    const int64_t b = sdk::dtype_info(d).block_size;
    return b == 1 ? 37 : 3 * b;
}
int64_t large_n_in(graft_dtype d) {
    const int64_t b = sdk::dtype_info(d).block_size;
    return b == 1 ? 515 : (b == 32 ? 544 : 1024);
}

TEST_P(Linear, OneRowDecode) {
    for (graft_dtype d : kDtypes) {
        check_linear(plugin(), {d, small_n_in(d), 67, 1}, 1);
        check_linear(plugin(), {d, large_n_in(d), 19, 1, true}, 2);
    }
}

TEST_P(Linear, ManyRowsOddSizes) {
    for (graft_dtype d : kDtypes) {
        check_linear(plugin(), {d, small_n_in(d), 13, 37}, 3);
        check_linear(plugin(), {d, small_n_in(d), 4, 5, true, 3}, 4);
        check_linear(plugin(), {d, large_n_in(d), 3, 2}, 5);
    }
}

// Several row chunks and token chunks of 64, so that the work is split over threads.
TEST_P(Linear, PrefillSplitsOverTasks) {
    for (graft_dtype d : {GRAFT_DTYPE_F16, GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0,
                          GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q5_K, GRAFT_DTYPE_Q6_K, GRAFT_DTYPE_Q5_0})
        check_linear(plugin(), {d, large_n_in(d), 261, 70, true}, 6);
}

// The same products with more threads than cores and with one thread.
TEST_P(Linear, ThreadCounts) {
    for (int64_t threads : {3, 1, 0}) {
        const graft_param p[] = {sdk::make_int_param("threads", threads)};
        ASSERT_EQ(plugin().api->configure(p, 1), GRAFT_OK) << plugin().api->last_error();
        for (graft_dtype d : {GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q6_K, GRAFT_DTYPE_F32})
            check_linear(plugin(), {d, large_n_in(d), 131, 9}, 7 + static_cast<uint64_t>(threads));
    }
}

// Values far from 1 and all-zero blocks: scales must follow the data.
TEST_P(Linear, ExtremeActivations) {
    for (graft_dtype d : {GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q6_K}) {
        SCOPED_TRACE(sdk::dtype_name(d));
        Rng rng(11);
        const int64_t n_in = 512, n_out = 9;
        Tensor w = random_weights(d, n_in, n_out, rng);
        Tensor x(GRAFT_DTYPE_F32, {n_in, 2});
        fill_uniform(x, rng, 3e4f);
        for (int64_t i = 0; i < 256; ++i)
            x.row(1)[i] = 0.0f; // an empty super-block
        for (int64_t i = 256; i < n_in; ++i)
            x.row(1)[i] *= 1e-7f;
        Tensor fast(GRAFT_DTYPE_F32, {n_out, 2}), ref(GRAFT_DTYPE_F32, {n_out, 2});
        const graft_tensor wv[] = {w.view()}, in[] = {x.view()};
        graft_tensor of[] = {fast.view()}, orf[] = {ref.view()};
        ASSERT_EQ(run_kernel(plugin(), "linear", wv, {}, in, of).status, GRAFT_OK);
        ASSERT_EQ(run_kernel(plugin(), "linear_ref", wv, {}, in, orf).status, GRAFT_OK);
        for (int64_t t = 0; t < 2; ++t) {
            double scale = 0.0;
            for (int64_t r = 0; r < n_out; ++r)
                scale = std::max(scale, static_cast<double>(std::fabs(ref.row(t)[r])));
            for (int64_t r = 0; r < n_out; ++r)
                EXPECT_NEAR(fast.row(t)[r], ref.row(t)[r], 0.05 * scale)
                    << "token " << t << " row " << r;
        }
    }
}

TEST_P(Linear, RejectsBadInput) {
    Rng rng(12);
    Tensor w = random_weights(GRAFT_DTYPE_Q4_0, 64, 8, rng);
    Tensor x(GRAFT_DTYPE_F32, {32, 1}), y(GRAFT_DTYPE_F32, {8, 1});
    const graft_tensor wv[] = {w.view()}, in[] = {x.view()};
    graft_tensor out[] = {y.view()};
    for (const char *impl : {"linear", "linear_ref"}) {
        const KernelResult r = run_kernel(plugin(), impl, wv, {}, in, out);
        EXPECT_EQ(r.status, GRAFT_ERR_INVALID_ARGUMENT) << impl;
        EXPECT_NE(r.error.find("linear"), std::string::npos) << r.error;
    }
    // A dtype linear does not take, and n_in that is not a multiple of the block size.
    Tensor q81(GRAFT_DTYPE_Q8_1, {64, 8});
    const graft_tensor bad_dtype[] = {q81.view()};
    EXPECT_EQ(run_kernel(plugin(), "linear", bad_dtype, {}, in, out).status,
              GRAFT_ERR_INVALID_ARGUMENT);
    graft_tensor odd = w.view();
    odd.ne[0] = 48;
    const graft_tensor bad_shape[] = {odd};
    EXPECT_EQ(run_kernel(plugin(), "linear", bad_shape, {}, in, out).status,
              GRAFT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(run_kernel(plugin(), "linear", {}, {}, in, out).status, GRAFT_ERR_INVALID_ARGUMENT);
}

GRAFT_AMX_CPU_VARIANTS(Linear);

} // namespace
} // namespace graft::test
