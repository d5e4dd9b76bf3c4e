// rmsnorm: y = x / sqrt(mean(x^2) + eps) * gamma per row; gamma is optional (1).
#include "kernel_api.h"
#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

#include <cmath>

namespace graft::amx_cpu {

namespace {

constexpr const char *kOp = "rmsnorm";

struct NormConfig {
    const float *gamma = nullptr; // (optional)
    int64_t n = -1;               // gamma's length; -1 when absent
    float eps = 1e-5f;

    graft_status init(const graft_kernel_config &c) {
        eps = static_cast<float>(sdk::param_float(c.params, c.n_params, "eps", 1e-5));
        if (!(eps >= 0.0f))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rmsnorm: eps must be >= 0");
        if (c.n_weights >= 1 && c.weights) {
            const graft_tensor &g = c.weights[0];
            n = g.ne[0];
            if (!optional_f32_vector(kOp, "weight gamma", c, 0, sdk::n_elements(g), gamma) ||
                sdk::n_elements(g) != g.ne[0])
                return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                                 "rmsnorm: weight gamma must be an F32 vector, got " + describe(g));
        }
        return GRAFT_OK;
    }

    bool io(const graft_kernel_call &call, F32Rows &x, F32Rows &y) const {
        return arity(kOp, call, 1, 1) && f32_rows(kOp, "input x", call.inputs[0], n, x) &&
               f32_rows(kOp, "output y", call.outputs[0], x.n, y) &&
               (x.rows == y.rows || bad("rmsnorm: input and output row counts differ"));
    }
};

class Rmsnorm {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Rows x, y;
        if (!cfg_.io(call, x, y))
            return invalid();
        const int64_t grain = std::max<int64_t>(1, 16384 / x.n);
        ThreadPool::instance().parallel_for(x.rows, grain, [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r)
                norm_row(x.row(r), y.row(r), x.n);
        });
        return GRAFT_OK;
    }

  private:
    void norm_row(const float *x, float *y, int64_t n) const {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
            s0 = _mm256_fmadd_ps(a, a, s0);
            s1 = _mm256_fmadd_ps(b, b, s1);
        }
        float sum = simd::hsum(_mm256_add_ps(s0, s1));
        for (; i < n; ++i)
            sum += x[i] * x[i];
        const float scale = 1.0f / std::sqrt(sum / static_cast<float>(n) + cfg_.eps);
        const __m256 sv = _mm256_set1_ps(scale);
        i = 0;
        if (cfg_.gamma) {
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv),
                                                      _mm256_loadu_ps(cfg_.gamma + i)));
            for (; i < n; ++i)
                y[i] = x[i] * scale * cfg_.gamma[i];
        } else {
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), sv));
            for (; i < n; ++i)
                y[i] = x[i] * scale;
        }
    }

    NormConfig cfg_;
};

// Reference: the sum of squares in double (as ggml does), then scale and gamma.
class RmsnormRef {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Rows x, y;
        if (!cfg_.io(call, x, y))
            return invalid();
        for (int64_t r = 0; r < x.rows; ++r) {
            const float *xr = x.row(r);
            float *yr = y.row(r);
            double sum = 0.0;
            for (int64_t i = 0; i < x.n; ++i)
                sum += static_cast<double>(xr[i]) * xr[i];
            const float mean = static_cast<float>(sum / static_cast<double>(x.n));
            const float scale = 1.0f / std::sqrt(mean + cfg_.eps);
            for (int64_t i = 0; i < x.n; ++i)
                yr[i] = xr[i] * scale * (cfg_.gamma ? cfg_.gamma[i] : 1.0f);
        }
        return GRAFT_OK;
    }

  private:
    NormConfig cfg_;
};

} // namespace

void add_rmsnorm_kernels(KernelLists &lists) {
    static constexpr graft_dtype kGamma[] = {GRAFT_DTYPE_F32};
    lists.fast.push_back(make_kernel<Rmsnorm>(kOp, "rmsnorm", kGamma));
    lists.ref.push_back(make_kernel<RmsnormRef>(kOp, "rmsnorm_ref", kGamma));
}

} // namespace graft::amx_cpu
