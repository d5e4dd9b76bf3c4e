// attention_mla: DeepSeek's multi-head latent attention in the latent space, and
// linear_heads, the per-head products (W_uk, W_uv) that carry queries into it and outputs
// out of it.
//
// attention_mla (params n_head, kv_lora_rank, rope_dim, scale; per call n_past)
//   in  {q_lat F32 (kv_lora_rank, n_head, T)   queries with W_uk absorbed: q_nope . W_uk
//        q_pe  F32 (rope_dim, n_head, T)       their rotated part
//        kv    F32 (kv_lora_rank + rope_dim, T) this pass's latent rows [c_kv | k_pe]
//        cache (kv_lora_rank + rope_dim, n_ctx) F32 or F16, one sequence's latent rows}
//   out {F32 (kv_lora_rank, n_head, T)}: the kernel stores kv at n_past.. of the cache and
//   for query t computes softmax_j(scale * (q_lat . c_j + q_pe . k_pe_j)) over j <= n_past+t,
//   then sum_j p_j c_j. Every head reads the same latent rows (MQA with one KV head); the
//   caller applies W_uv per head and the output projection.
//
// linear_heads: weights {W (n_in, n_out, n_head)}; in {x F32 (n_in, n_head,
//   T), any float strides}; out {F32 (n_out, n_head, T)}: y[:, h, t] = W_h x[:, h, t].
#include "kernel_api.h"
#include "kernels.h"
#include "ref_math.h"
#include "simd.h"
#include "thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace graft::amx_cpu {

namespace {

constexpr const char *kOp = "attention_mla";

// The latent cache (kv_lora_rank + rope_dim, n_ctx) of F32 or F16.
struct LatentCache {
    uint8_t *data = nullptr;
    bool f16 = false;
    int64_t nb1 = 0; // bytes between positions
    uint8_t *at(int64_t pos) const { return data + pos * nb1; }
};

inline void load_row(const LatentCache &c, int64_t pos, int64_t n, float *dst) {
    const uint8_t *src = c.at(pos);
    if (!c.f16) {
        std::memcpy(dst, src, static_cast<size_t>(n) * 4);
        return;
    }
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, simd::load_f16x8(src + 2 * i));
    for (; i < n; ++i)
        dst[i] = simd::f16_scalar(simd::load_u16(src + 2 * i));
}

struct MlaConfig {
    int64_t n_head = 0, d_c = 0, d_r = 0;
    float scale = 0.0f;
    int64_t row() const { return d_c + d_r; }

    graft_status init(const graft_kernel_config &c) {
        n_head = sdk::param_int(c.params, c.n_params, "n_head", 0);
        d_c = sdk::param_int(c.params, c.n_params, "kv_lora_rank", 0);
        d_r = sdk::param_int(c.params, c.n_params, "rope_dim", 0);
        if (n_head <= 0 || d_c <= 0 || d_r < 0)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "attention_mla: params n_head and kv_lora_rank must be positive and "
                             "rope_dim not negative, got " +
                                 std::to_string(n_head) + ", " + std::to_string(d_c) + ", " +
                                 std::to_string(d_r));
        scale = static_cast<float>(sdk::param_float(c.params, c.n_params, "scale", 1.0));
        return GRAFT_OK;
    }

    // Checks the call and stores the new latent rows into the cache.
    bool io(const graft_kernel_call &call, F32Heads &q_lat, F32Heads &q_pe, LatentCache &cache,
            F32Heads &out, int64_t &n_past) const {
        F32Rows kv;
        if (!arity(kOp, call, 4, 1) ||
            !f32_heads(kOp, "input q_lat", call.inputs[0], d_c, n_head, -1, q_lat) ||
            !f32_heads(kOp, "input q_pe", call.inputs[1], d_r, n_head, q_lat.ne2, q_pe) ||
            !f32_rows(kOp, "input kv", call.inputs[2], row(), kv) ||
            !f32_heads(kOp, "output", call.outputs[0], d_c, n_head, q_lat.ne2, out))
            return false;
        if (kv.rows != q_lat.ne2)
            return bad("attention_mla: input kv must have one row per token, got " +
                       describe(call.inputs[2]));
        const graft_tensor &t = call.inputs[3];
        if ((t.dtype != GRAFT_DTYPE_F32 && t.dtype != GRAFT_DTYPE_F16) || !t.data)
            return bad("attention_mla: input cache must be F32 or F16 with data, got " +
                       describe(t));
        const int64_t es = t.dtype == GRAFT_DTYPE_F16 ? 2 : 4;
        if (t.ne[0] != row() || t.ne[2] != 1 || t.ne[3] != 1 || t.nb[0] != es ||
            t.nb[1] < es * row())
            return bad("attention_mla: input cache must be (kv_lora_rank + rope_dim " +
                       std::to_string(row()) + ", n_ctx) with contiguous rows, got " + describe(t));
        cache.data = static_cast<uint8_t *>(t.data);
        cache.f16 = t.dtype == GRAFT_DTYPE_F16;
        cache.nb1 = t.nb[1];
        n_past = sdk::param_int(call.params, call.n_params, "n_past", 0);
        if (n_past < 0 || n_past + q_lat.ne2 > t.ne[1])
            return bad("attention_mla: n_past " + std::to_string(n_past) + " plus " +
                       std::to_string(q_lat.ne2) + " tokens does not fit the cache of " +
                       std::to_string(t.ne[1]) + " positions");
        for (int64_t i = 0; i < kv.rows; ++i) {
            uint8_t *dst = cache.at(n_past + i);
            const float *src = kv.row(i);
            if (!cache.f16) {
                std::memcpy(dst, src, static_cast<size_t>(row()) * 4);
                continue;
            }
            auto *h = reinterpret_cast<uint16_t *>(dst);
            for (int64_t e = 0; e < row(); ++e)
                h[e] = sdk::fp32_to_fp16(src[e]);
        }
        return true;
    }

    // The scaled query of head h, token t, as one row [q_lat | q_pe] (row() floats).
    void query(const F32Heads &q_lat, const F32Heads &q_pe, int64_t h, int64_t t,
               float *dst) const {
        const float *a = q_lat.at(h, t), *b = q_pe.at(h, t);
        for (int64_t i = 0; i < d_c; ++i)
            dst[i] = a[i] * scale;
        for (int64_t i = 0; i < d_r; ++i)
            dst[d_c + i] = b[i] * scale;
    }
};

inline float dot(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = simd::hsum(_mm256_add_ps(s0, s1));
    for (; i < n; ++i)
        s += a[i] * b[i];
    return s;
}

// y = y * keep + p * v over n floats.
inline void scale_add(float *y, float keep, float p, const float *v, int64_t n) {
    const __m256 kv = _mm256_set1_ps(keep), pv = _mm256_set1_ps(p);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + i),
                                                _mm256_mul_ps(kv, _mm256_loadu_ps(y + i))));
    for (; i < n; ++i)
        y[i] = y[i] * keep + p * v[i];
}

constexpr int64_t kKeyBlock = 64;

// Fast: tasks are (token, slice of heads); each block of latent rows is converted once and
// read by every head of the slice (all heads share it), with an online softmax.
class AttentionMla {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Heads q_lat, q_pe, out;
        LatentCache cache;
        int64_t n_past = 0;
        if (!cfg_.io(call, q_lat, q_pe, cache, out, n_past))
            return invalid();
        ThreadPool &pool = ThreadPool::instance();
        const int64_t T = q_lat.ne2, H = cfg_.n_head, D = cfg_.row();
        const int64_t want = 2 * int64_t{pool.size()};
        const int64_t slices = T >= want ? 1 : std::min(H, (want + T - 1) / T);
        const int64_t per_slice = (H + slices - 1) / slices;
        const int64_t per_thread =
            2 * per_slice * D + per_slice * kKeyBlock + kKeyBlock * D + 2 * per_slice + 64;
        float *scratch = scratch_.get_as<float>(static_cast<size_t>(per_thread * pool.size()));
        pool.parallel_for(T * slices, 1, [&](int64_t b, int64_t e, int thread) {
            float *base = scratch + per_thread * thread;
            for (int64_t task = b; task < e; ++task) {
                const int64_t t = task / slices;
                const int64_t h0 = (task % slices) * per_slice;
                const int64_t h1 = std::min(H, h0 + per_slice);
                if (h0 < h1)
                    attend(q_lat, q_pe, cache, out, h0, h1 - h0, t, n_past + t + 1, base);
            }
        });
        return GRAFT_OK;
    }

  private:
    void attend(const F32Heads &q_lat, const F32Heads &q_pe, const LatentCache &cache,
                const F32Heads &out, int64_t h0, int64_t nh, int64_t t, int64_t n_keys,
                float *scratch) const {
        const int64_t D = cfg_.row(), dc = cfg_.d_c;
        float *qs = scratch;               // nh x D
        float *acc = qs + nh * D;          // nh x D (the first dc used)
        float *sc = acc + nh * D;          // nh x kKeyBlock
        float *rows = sc + nh * kKeyBlock; // kKeyBlock x D
        float *m = rows + kKeyBlock * D;   // nh running maxima
        float *l = m + nh;                 // nh running sums
        for (int64_t g = 0; g < nh; ++g) {
            cfg_.query(q_lat, q_pe, h0 + g, t, qs + g * D);
            std::fill(acc + g * D, acc + g * D + dc, 0.0f);
            m[g] = -std::numeric_limits<float>::infinity();
            l[g] = 0.0f;
        }
        for (int64_t j0 = 0; j0 < n_keys; j0 += kKeyBlock) {
            const int64_t nj = std::min(kKeyBlock, n_keys - j0);
            for (int64_t j = 0; j < nj; ++j)
                load_row(cache, j0 + j, D, rows + j * D);
            for (int64_t g = 0; g < nh; ++g) {
                float *s = sc + g * kKeyBlock;
                float block_max = -std::numeric_limits<float>::infinity();
                for (int64_t j = 0; j < nj; ++j) {
                    s[j] = dot(qs + g * D, rows + j * D, D);
                    block_max = std::max(block_max, s[j]);
                }
                const float m_new = std::max(m[g], block_max);
                const float keep =
                    m[g] == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(m[g] - m_new);
                float block_sum = 0.0f;
                for (int64_t j = 0; j < nj; ++j) {
                    s[j] = std::exp(s[j] - m_new);
                    block_sum += s[j];
                }
                l[g] = l[g] * keep + block_sum;
                m[g] = m_new;
                float *y = acc + g * D;
                scale_add(y, keep, s[0], rows, dc);
                for (int64_t j = 1; j < nj; ++j)
                    scale_add(y, 1.0f, s[j], rows + j * D, dc);
            }
        }
        for (int64_t g = 0; g < nh; ++g) {
            float *dst = out.at(h0 + g, t);
            const float inv = 1.0f / l[g];
            for (int64_t i = 0; i < dc; ++i)
                dst[i] = acc[g * D + i] * inv;
        }
    }

    MlaConfig cfg_;
    ScratchBuffer scratch_;
};

// Reference: each head and token on its own: all scores, max, exp, sum, weighted rows.
class AttentionMlaRef {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Heads q_lat, q_pe, out;
        LatentCache cache;
        int64_t n_past = 0;
        if (!cfg_.io(call, q_lat, q_pe, cache, out, n_past))
            return invalid();
        const int64_t D = cfg_.row(), dc = cfg_.d_c;
        std::vector<float> q(static_cast<size_t>(D)), r(static_cast<size_t>(D)), scores,
            o(static_cast<size_t>(dc));
        for (int64_t t = 0; t < q_lat.ne2; ++t) {
            const int64_t n_keys = n_past + t + 1;
            scores.assign(static_cast<size_t>(n_keys), 0.0f);
            for (int64_t h = 0; h < cfg_.n_head; ++h) {
                cfg_.query(q_lat, q_pe, h, t, q.data());
                float max = -std::numeric_limits<float>::infinity();
                for (int64_t j = 0; j < n_keys; ++j) {
                    load_row(cache, j, D, r.data());
                    float s = 0.0f;
                    for (int64_t i = 0; i < D; ++i)
                        s += q[static_cast<size_t>(i)] * r[static_cast<size_t>(i)];
                    scores[static_cast<size_t>(j)] = s;
                    max = std::max(max, s);
                }
                float sum = 0.0f;
                for (float &s : scores) {
                    s = std::exp(s - max);
                    sum += s;
                }
                std::fill(o.begin(), o.end(), 0.0f);
                for (int64_t j = 0; j < n_keys; ++j) {
                    load_row(cache, j, D, r.data());
                    const float p = scores[static_cast<size_t>(j)] / sum;
                    for (int64_t i = 0; i < dc; ++i)
                        o[static_cast<size_t>(i)] += p * r[static_cast<size_t>(i)];
                }
                std::copy(o.begin(), o.end(), out.at(h, t));
            }
        }
        return GRAFT_OK;
    }

  private:
    MlaConfig cfg_;
};

// ------------------------------------------------------------------ linear_heads

struct HeadsConfig {
    Matrix w; // head 0's (n_in, n_out)
    int64_t n_head = 0, head_stride = 0;

    graft_status init(const graft_kernel_config &c) {
        if (c.n_weights < 1 || !c.weights)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "linear_heads: needs weights {W (n_in, n_out, n_head)}");
        const graft_tensor &t = c.weights[0];
        if (!weight_matrix("linear_heads", "weight", t, w))
            return invalid();
        if (t.ne[3] != 1)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "linear_heads: weight must be 3-D, got " + describe(t));
        n_head = t.ne[2];
        head_stride = t.ne[2] > 1 ? t.nb[2] : w.row_stride * w.n_out;
        return GRAFT_OK;
    }

    Matrix head(int64_t h) const {
        Matrix m = w;
        m.data = w.data + h * head_stride;
        return m;
    }

    bool io(const graft_kernel_call &call, F32Heads &x, F32Heads &y) const {
        return arity("linear", call, 1, 1) &&
               f32_heads("linear", "input x", call.inputs[0], w.n_in, n_head, -1, x) &&
               f32_heads("linear", "output", call.outputs[0], w.n_out, n_head, x.ne2, y);
    }
};

class LinearHeads {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Heads x, y;
        if (!cfg_.io(call, x, y))
            return invalid();
        const int64_t H = cfg_.n_head, T = x.ne2;
        if (x.nb2 != x.nb1 * H) { // heads not evenly spaced: one product per head
            for (int64_t h = 0; h < H; ++h)
                runner_.run(cfg_.head(h), nullptr, x.at(h, 0), x.nb2, T, y.at(h, 0), y.nb2);
            return GRAFT_OK;
        }
        // Every (token, head) row prepared once, then all heads' products in one parallel
        // job: per head the products are small, and a job per head would pay a join each.
        const GemmKernel *k = gemm_kernel_for(cfg_.w.dtype);
        const ActRows a = LinearRunner::prepare(*k, x.data, x.nb1, cfg_.w.n_in, H * T, acts_);
        index_.resize(static_cast<size_t>(H * T));
        problems_.clear();
        for (int64_t h = 0; h < H; ++h) {
            for (int64_t t = 0; t < T; ++t)
                index_[static_cast<size_t>(h * T + t)] = static_cast<int32_t>(t * H + h);
            GemmProblem p;
            p.w = cfg_.head(h);
            p.a = a;
            p.a.index = index_.data() + h * T;
            p.n_tokens = T;
            p.y = OutRows{y.at(h, 0), y.nb2, nullptr};
            problems_.push_back(p);
        }
        runner_.multiply(*k, problems_);
        return GRAFT_OK;
    }

  private:
    HeadsConfig cfg_;
    LinearRunner runner_;
    ScratchBuffer acts_;
    std::vector<int32_t> index_;
    std::vector<GemmProblem> problems_;
};

class LinearHeadsRef {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Heads x, y;
        if (!cfg_.io(call, x, y))
            return invalid();
        for (int64_t t = 0; t < x.ne2; ++t)
            for (int64_t h = 0; h < cfg_.n_head; ++h)
                ref::matvec(cfg_.head(h), x.at(h, t), y.at(h, t));
        return GRAFT_OK;
    }

  private:
    HeadsConfig cfg_;
};

} // namespace

void add_attention_mla_kernels(KernelLists &lists) {
    lists.fast.push_back(make_kernel<AttentionMla>(kOp, "attention_mla", {}));
    lists.fast.push_back(make_kernel<LinearHeads>("linear_heads", "linear_heads", linear_dtypes()));
    lists.ref.push_back(make_kernel<AttentionMlaRef>(kOp, "attention_mla_ref", {}));
    lists.ref.push_back(
        make_kernel<LinearHeadsRef>("linear_heads", "linear_heads_ref", linear_dtypes()));
}

} // namespace graft::amx_cpu
