// rope: rotary position embedding over the first n_rot elements of each head.
//
// The angles follow ggml's recipe so that results match llama.cpp: theta_i = p * base^(-2i/n)
// computed by repeated multiplication in float, divided by freq_factors[i] (Llama 3), then
// YaRN's interpolation/extrapolation blend when ext_factor != 0, cos/sin scaled by
// attn_factor (times YaRN's magnitude correction). Mode 0 rotates adjacent pairs
// (x[2i], x[2i+1]); mode 2 (NeoX) rotates (x[i], x[i + n_rot/2]).
#include "kernel_api.h"
#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace graft::amx_cpu {

namespace {

constexpr const char *kOp = "rope";

struct RopeConfig {
    int64_t n_rot = -1; // -1: the whole head
    int mode = 0;
    float freq_base = 10000.0f, freq_scale = 1.0f;
    float ext_factor = 0.0f, attn_factor = 1.0f, beta_fast = 32.0f, beta_slow = 1.0f;
    int64_t n_ctx_orig = 0;
    const float *freq_factors = nullptr; // (optional)
    int64_t n_freq_factors = 0;

    graft_status init(const graft_kernel_config &c) {
        const graft_param *p = c.params;
        const uint32_t n = c.n_params;
        n_rot = sdk::param_int(p, n, "n_rot", -1);
        mode = static_cast<int>(sdk::param_int(p, n, "mode", 0));
        freq_base = static_cast<float>(sdk::param_float(p, n, "freq_base", 10000.0));
        freq_scale = static_cast<float>(sdk::param_float(p, n, "freq_scale", 1.0));
        ext_factor = static_cast<float>(sdk::param_float(p, n, "ext_factor", 0.0));
        attn_factor = static_cast<float>(sdk::param_float(p, n, "attn_factor", 1.0));
        beta_fast = static_cast<float>(sdk::param_float(p, n, "beta_fast", 32.0));
        beta_slow = static_cast<float>(sdk::param_float(p, n, "beta_slow", 1.0));
        n_ctx_orig = sdk::param_int(p, n, "n_ctx_orig", 0);
        if (mode != 0 && mode != 2)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "rope: mode must be 0 (adjacent pairs) or 2 "
                                                    "(NeoX halves), got " +
                                                        std::to_string(mode));
        if (n_rot != -1 && (n_rot <= 0 || n_rot % 2 != 0))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "rope: n_rot must be a positive even number, got " +
                                 std::to_string(n_rot));
        if (!(freq_base > 0.0f) || !(freq_scale > 0.0f))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "rope: freq_base and freq_scale must be > 0");
        if (c.n_weights >= 1 && c.weights) {
            const graft_tensor &f = c.weights[0];
            if (!optional_f32_vector(kOp, "weight freq_factors", c, 0, sdk::n_elements(f),
                                     freq_factors))
                return invalid();
            n_freq_factors = sdk::n_elements(f);
        }
        return GRAFT_OK;
    }

    // Checks the call; fills x, y, pos and the number of rotated elements.
    bool io(const graft_kernel_call &call, F32Heads &x, F32Heads &y, const int32_t *&pos,
            int64_t &rot) const {
        if (!arity(kOp, call, 2, 1) || !f32_heads(kOp, "input x", call.inputs[0], -1, -1, -1, x) ||
            !f32_heads(kOp, "output", call.outputs[0], x.ne0, x.ne1, x.ne2, y) ||
            !i32_vector(kOp, "input pos", call.inputs[1], x.ne2, pos))
            return false;
        rot = n_rot < 0 ? x.ne0 - x.ne0 % 2 : n_rot;
        if (rot > x.ne0)
            return bad("rope: n_rot " + std::to_string(rot) + " exceeds head_dim " +
                       std::to_string(x.ne0));
        if (freq_factors && n_freq_factors < rot / 2)
            return bad("rope: freq_factors has " + std::to_string(n_freq_factors) +
                       " elements, needs n_rot/2 = " + std::to_string(rot / 2));
        return true;
    }

    // cos_out[i], sin_out[i] of pair i < rot/2 at position p.
    void angles(int32_t p, int64_t rot, float *cos_out, float *sin_out) const {
        const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(rot));
        float corr_lo = 0.0f, corr_hi = 0.0f;
        if (ext_factor != 0.0f) {
            // The dimensions whose wavelength spans beta_fast / beta_slow rotations over the
            // original context bound the blend.
            auto corr_dim = [&](float n_rotations) {
                return static_cast<float>(rot) *
                       std::log(static_cast<float>(n_ctx_orig) /
                                (n_rotations * 2.0f * std::numbers::pi_v<float>)) /
                       (2.0f * std::log(freq_base));
            };
            corr_lo = std::max(0.0f, std::floor(corr_dim(beta_fast)));
            corr_hi = std::min(static_cast<float>(rot - 1), std::ceil(corr_dim(beta_slow)));
        }
        float mscale = attn_factor;
        if (ext_factor != 0.0f)
            mscale *= 1.0f + 0.1f * std::log(1.0f / freq_scale);
        float theta = static_cast<float>(p);
        for (int64_t i = 0; i < rot / 2; ++i) {
            const float extrap = freq_factors ? theta / freq_factors[i] : theta;
            float t = freq_scale * extrap;
            if (ext_factor != 0.0f) {
                const float y =
                    (static_cast<float>(i) - corr_lo) / std::max(0.001f, corr_hi - corr_lo);
                const float ramp = (1.0f - std::min(1.0f, std::max(0.0f, y))) * ext_factor;
                t = t * (1.0f - ramp) + extrap * ramp;
            }
            cos_out[i] = std::cos(t) * mscale;
            sin_out[i] = std::sin(t) * mscale;
            theta *= theta_scale;
        }
    }
};

void rotate(int mode, int64_t rot, const float *c, const float *s, const float *x, float *y) {
    if (mode == 2) {
        const int64_t half = rot / 2;
        int64_t i = 0;
        for (; i + 8 <= half; i += 8) {
            const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + half + i);
            const __m256 cv = _mm256_loadu_ps(c + i), sv = _mm256_loadu_ps(s + i);
            _mm256_storeu_ps(y + i, _mm256_sub_ps(_mm256_mul_ps(x0, cv), _mm256_mul_ps(x1, sv)));
            _mm256_storeu_ps(y + half + i,
                             _mm256_add_ps(_mm256_mul_ps(x0, sv), _mm256_mul_ps(x1, cv)));
        }
        for (; i < half; ++i) {
            const float x0 = x[i], x1 = x[half + i];
            y[i] = x0 * c[i] - x1 * s[i];
            y[half + i] = x0 * s[i] + x1 * c[i];
        }
    } else {
        for (int64_t i = 0; i < rot / 2; ++i) {
            const float x0 = x[2 * i], x1 = x[2 * i + 1];
            y[2 * i] = x0 * c[i] - x1 * s[i];
            y[2 * i + 1] = x0 * s[i] + x1 * c[i];
        }
    }
}

class Rope {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Heads x, y;
        const int32_t *pos = nullptr;
        int64_t rot = 0;
        if (!cfg_.io(call, x, y, pos, rot))
            return invalid();
        ThreadPool &pool = ThreadPool::instance();
        const size_t per_thread = static_cast<size_t>(rot);
        if (cache_.size() < per_thread * static_cast<size_t>(pool.size()))
            cache_.resize(per_thread * static_cast<size_t>(pool.size()));
        pool.parallel_for(x.ne2, 1, [&](int64_t b, int64_t e, int thread) {
            float *c = cache_.data() + per_thread * static_cast<size_t>(thread);
            float *s = c + rot / 2;
            for (int64_t t = b; t < e; ++t) {
                cfg_.angles(pos[t], rot, c, s);
                for (int64_t h = 0; h < x.ne1; ++h) {
                    const float *src = x.at(h, t);
                    float *dst = y.at(h, t);
                    rotate(cfg_.mode, rot, c, s, src, dst);
                    if (dst != src)
                        std::copy(src + rot, src + x.ne0, dst + rot);
                }
            }
        });
        return GRAFT_OK;
    }

  private:
    RopeConfig cfg_;
    std::vector<float> cache_; // per thread: cos and sin of one position
};

// Reference: angles per (head, token), scalar rotation, in order.
class RopeRef {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Heads x, y;
        const int32_t *pos = nullptr;
        int64_t rot = 0;
        if (!cfg_.io(call, x, y, pos, rot))
            return invalid();
        std::vector<float> c(static_cast<size_t>(rot / 2)), s(static_cast<size_t>(rot / 2));
        std::vector<float> head(static_cast<size_t>(x.ne0));
        for (int64_t t = 0; t < x.ne2; ++t) {
            for (int64_t h = 0; h < x.ne1; ++h) {
                cfg_.angles(pos[t], rot, c.data(), s.data());
                const float *src = x.at(h, t);
                std::copy(src, src + x.ne0, head.begin());
                float *dst = y.at(h, t);
                const int64_t half = rot / 2;
                for (int64_t i = 0; i < half; ++i) {
                    const int64_t a = cfg_.mode == 2 ? i : 2 * i;
                    const int64_t b = cfg_.mode == 2 ? i + half : 2 * i + 1;
                    const float x0 = head[static_cast<size_t>(a)],
                                x1 = head[static_cast<size_t>(b)];
                    dst[a] = x0 * c[static_cast<size_t>(i)] - x1 * s[static_cast<size_t>(i)];
                    dst[b] = x0 * s[static_cast<size_t>(i)] + x1 * c[static_cast<size_t>(i)];
                }
                for (int64_t i = rot; i < x.ne0; ++i)
                    dst[i] = head[static_cast<size_t>(i)];
            }
        }
        return GRAFT_OK;
    }

  private:
    RopeConfig cfg_;
};

} // namespace

void add_rope_kernels(KernelLists &lists) {
    static constexpr graft_dtype kFactors[] = {GRAFT_DTYPE_F32};
    lists.fast.push_back(make_kernel<Rope>(kOp, "rope", kFactors));
    lists.ref.push_back(make_kernel<RopeRef>(kOp, "rope_ref", kFactors));
}

} // namespace graft::amx_cpu
