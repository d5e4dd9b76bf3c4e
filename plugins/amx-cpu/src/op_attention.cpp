// attention: store k and v at positions n_past.. of the sequence's caches, then causal
// softmax(scale * q.k) v with grouped-query heads.
//
// The fast kernel walks the keys in blocks with an online softmax (running max and sum,
// the partial output rescaled when the max grows), processing all query heads that share
// a KV head together so each cached key and value row is read once per block.
#include "kernel_api.h"
#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace graft::amx_cpu {

namespace {

constexpr const char *kOp = "attention";

// A KV cache (head_dim, n_head_kv, n_ctx) of F32 or F16.
struct Cache {
    uint8_t *data = nullptr;
    bool f16 = false;
    int64_t nb1 = 0, nb2 = 0; // bytes
    uint8_t *at(int64_t head, int64_t pos) const { return data + head * nb1 + pos * nb2; }
};

struct AttentionConfig {
    int64_t n_head = 0, n_head_kv = 0, head_dim = 0;
    float scale = 0.0f;

    graft_status init(const graft_kernel_config &c) {
        n_head = sdk::param_int(c.params, c.n_params, "n_head", 0);
        n_head_kv = sdk::param_int(c.params, c.n_params, "n_head_kv", n_head);
        head_dim = sdk::param_int(c.params, c.n_params, "head_dim", 0);
        if (n_head <= 0 || n_head_kv <= 0 || head_dim <= 0 || n_head % n_head_kv != 0)
            return sdk::fail(
                GRAFT_ERR_INVALID_ARGUMENT,
                "attention: params n_head, n_head_kv and head_dim must be positive with "
                "n_head a multiple of n_head_kv, got " +
                    std::to_string(n_head) + ", " + std::to_string(n_head_kv) + ", " +
                    std::to_string(head_dim));
        scale = static_cast<float>(sdk::param_float(
            c.params, c.n_params, "scale", 1.0 / std::sqrt(static_cast<double>(head_dim))));
        return GRAFT_OK;
    }

    bool cache(const char *what, const graft_tensor &t, Cache &c) const {
        const std::string where = std::string(kOp) + ": " + what;
        if ((t.dtype != GRAFT_DTYPE_F32 && t.dtype != GRAFT_DTYPE_F16) || !t.data)
            return bad(where + " must be F32 or F16 with data, got " + describe(t));
        const int64_t es = t.dtype == GRAFT_DTYPE_F16 ? 2 : 4;
        if (t.ne[0] != head_dim || t.ne[1] != n_head_kv || t.ne[2] < 1 || t.ne[3] != 1 ||
            t.nb[0] != es || t.nb[1] < 0 || t.nb[2] < 0)
            return bad(where + " must be (head_dim " + std::to_string(head_dim) + ", n_head_kv " +
                       std::to_string(n_head_kv) + ", n_ctx) with contiguous elements, got " +
                       describe(t));
        c.data = static_cast<uint8_t *>(t.data);
        c.f16 = t.dtype == GRAFT_DTYPE_F16;
        c.nb1 = t.nb[1];
        c.nb2 = t.nb[2];
        return true;
    }

    // Checks the call and stores k and v into the caches.
    bool io(const graft_kernel_call &call, F32Heads &q, F32Heads &out, Cache &kc, Cache &vc,
            int64_t &n_past) const {
        F32Heads k, v;
        if (!arity(kOp, call, 5, 1) ||
            !f32_heads(kOp, "input q", call.inputs[0], head_dim, n_head, -1, q) ||
            !f32_heads(kOp, "input k", call.inputs[1], head_dim, n_head_kv, q.ne2, k) ||
            !f32_heads(kOp, "input v", call.inputs[2], head_dim, n_head_kv, q.ne2, v) ||
            !cache("input k_cache", call.inputs[3], kc) ||
            !cache("input v_cache", call.inputs[4], vc) ||
            !f32_heads(kOp, "output", call.outputs[0], head_dim, n_head, q.ne2, out))
            return false;
        const int64_t n_ctx = std::min(call.inputs[3].ne[2], call.inputs[4].ne[2]);
        n_past = sdk::param_int(call.params, call.n_params, "n_past", 0);
        if (n_past < 0 || n_past + q.ne2 > n_ctx)
            return bad("attention: n_past " + std::to_string(n_past) + " plus " +
                       std::to_string(q.ne2) + " tokens does not fit the cache of " +
                       std::to_string(n_ctx) + " positions");
        for (int64_t t = 0; t < q.ne2; ++t) {
            for (int64_t h = 0; h < n_head_kv; ++h) {
                store(k.at(h, t), kc, h, n_past + t);
                store(v.at(h, t), vc, h, n_past + t);
            }
        }
        return true;
    }

    void store(const float *src, const Cache &c, int64_t head, int64_t pos) const {
        uint8_t *dst = c.at(head, pos);
        if (!c.f16) {
            std::memcpy(dst, src, static_cast<size_t>(head_dim) * 4);
            return;
        }
        auto *h = reinterpret_cast<uint16_t *>(dst);
        int64_t i = 0;
        for (; i + 8 <= head_dim; i += 8)
            _mm_storeu_si128(reinterpret_cast<__m128i *>(h + i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
        for (; i < head_dim; ++i)
            h[i] = sdk::fp32_to_fp16(src[i]);
    }
};

// Row of a cache as floats (converted when F16) into dst.
inline void load_row(const Cache &c, int64_t head, int64_t pos, int64_t n, float *dst) {
    const uint8_t *src = c.at(head, pos);
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

class Attention {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Heads q, out;
        Cache kc, vc;
        int64_t n_past = 0;
        if (!cfg_.io(call, q, out, kc, vc, n_past))
            return invalid();
        ThreadPool &pool = ThreadPool::instance();
        const int64_t group = cfg_.n_head / cfg_.n_head_kv;
        const int64_t T = q.ne2;
        // Tasks: (KV head, token, slice of its query heads); slice the group only when
        // there are too few (KV head, token) pairs to keep every thread busy.
        const int64_t pairs = cfg_.n_head_kv * T;
        const int64_t want = 2 * int64_t{pool.size()};
        const int64_t slices = pairs >= want ? 1 : std::min(group, (want + pairs - 1) / pairs);
        const int64_t per_slice = (group + slices - 1) / slices;
        const int64_t d = cfg_.head_dim;
        // Per thread: scaled queries, outputs (group x d), scores (group x block), keys and
        // values converted to f32 (block x d each), running max and sum per query head.
        const int64_t per_thread =
            2 * group * d + group * kKeyBlock + 2 * kKeyBlock * d + 2 * group + 64;
        float *scratch = scratch_.get_as<float>(static_cast<size_t>(per_thread * pool.size()));

        pool.parallel_for(pairs * slices, 1, [&](int64_t b, int64_t e, int thread) {
            float *base = scratch + per_thread * thread;
            for (int64_t task = b; task < e; ++task) {
                const int64_t t = task / (cfg_.n_head_kv * slices);
                const int64_t hkv = (task / slices) % cfg_.n_head_kv;
                const int64_t g0 = (task % slices) * per_slice;
                const int64_t g1 = std::min(group, g0 + per_slice);
                if (g0 < g1)
                    attend(q, out, kc, vc, hkv, hkv * group + g0, g1 - g0, t, n_past + t + 1, base);
            }
        });
        return GRAFT_OK;
    }

  private:
    // Query heads h0 .. h0+ng-1 (all on KV head hkv) of token t over keys 0 .. n_keys-1.
    void attend(const F32Heads &q, const F32Heads &out, const Cache &kc, const Cache &vc,
                int64_t hkv, int64_t h0, int64_t ng, int64_t t, int64_t n_keys,
                float *scratch) const {
        const int64_t d = cfg_.head_dim;
        float *qs = scratch;                // ng x d
        float *acc = qs + ng * d;           // ng x d
        float *sc = acc + ng * d;           // ng x kKeyBlock
        float *keys = sc + ng * kKeyBlock;  // kKeyBlock x d
        float *vals = keys + kKeyBlock * d; // kKeyBlock x d
        float *m = vals + kKeyBlock * d;    // ng running maxima
        float *l = m + ng;                  // ng running sums
        for (int64_t g = 0; g < ng; ++g) {
            const float *src = q.at(h0 + g, t);
            for (int64_t i = 0; i < d; ++i)
                qs[g * d + i] = src[i] * cfg_.scale;
            std::fill(acc + g * d, acc + (g + 1) * d, 0.0f);
            m[g] = -std::numeric_limits<float>::infinity();
            l[g] = 0.0f;
        }
        for (int64_t j0 = 0; j0 < n_keys; j0 += kKeyBlock) {
            const int64_t nj = std::min(kKeyBlock, n_keys - j0);
            for (int64_t j = 0; j < nj; ++j) {
                load_row(kc, hkv, j0 + j, d, keys + j * d);
                load_row(vc, hkv, j0 + j, d, vals + j * d);
            }
            for (int64_t g = 0; g < ng; ++g) {
                float *s = sc + g * kKeyBlock;
                float block_max = -std::numeric_limits<float>::infinity();
                for (int64_t j = 0; j < nj; ++j) {
                    s[j] = dot(qs + g * d, keys + j * d, d);
                    block_max = std::max(block_max, s[j]);
                }
                const float m_new = std::max(m[g], block_max);
                // exp(-inf) = 0 on the first block: nothing to rescale.
                const float keep =
                    m[g] == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(m[g] - m_new);
                int64_t j = 0;
                const __m256 mv = _mm256_set1_ps(m_new);
                __m256 sum = _mm256_setzero_ps();
                for (; j + 8 <= nj; j += 8) {
                    const __m256 p = simd::exp(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
                    _mm256_storeu_ps(s + j, p);
                    sum = _mm256_add_ps(sum, p);
                }
                float block_sum = simd::hsum(sum);
                for (; j < nj; ++j) {
                    s[j] = std::exp(s[j] - m_new);
                    block_sum += s[j];
                }
                l[g] = l[g] * keep + block_sum;
                m[g] = m_new;
                float *y = acc + g * d;
                scale_add(y, keep, s[0], vals, d);
                for (j = 1; j < nj; ++j)
                    scale_add(y, 1.0f, s[j], vals + j * d, d);
            }
        }
        for (int64_t g = 0; g < ng; ++g) {
            float *dst = out.at(h0 + g, t);
            const float inv = 1.0f / l[g];
            for (int64_t i = 0; i < d; ++i)
                dst[i] = acc[g * d + i] * inv;
        }
    }

    AttentionConfig cfg_;
    ScratchBuffer scratch_;
};

// Reference: for each query head and token, all scores, max, exp, sum, weighted values.
class AttentionRef {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Heads q, out;
        Cache kc, vc;
        int64_t n_past = 0;
        if (!cfg_.io(call, q, out, kc, vc, n_past))
            return invalid();
        const int64_t d = cfg_.head_dim, group = cfg_.n_head / cfg_.n_head_kv;
        std::vector<float> k(static_cast<size_t>(d)), v(static_cast<size_t>(d)), scores,
            o(static_cast<size_t>(d));
        for (int64_t t = 0; t < q.ne2; ++t) {
            const int64_t n_keys = n_past + t + 1;
            scores.assign(static_cast<size_t>(n_keys), 0.0f);
            for (int64_t h = 0; h < cfg_.n_head; ++h) {
                const int64_t hkv = h / group;
                const float *qh = q.at(h, t);
                float max = -std::numeric_limits<float>::infinity();
                for (int64_t j = 0; j < n_keys; ++j) {
                    load_row(kc, hkv, j, d, k.data());
                    float s = 0.0f;
                    for (int64_t i = 0; i < d; ++i)
                        s += qh[i] * k[static_cast<size_t>(i)];
                    scores[static_cast<size_t>(j)] = s * cfg_.scale;
                    max = std::max(max, scores[static_cast<size_t>(j)]);
                }
                float sum = 0.0f;
                for (float &s : scores) {
                    s = std::exp(s - max);
                    sum += s;
                }
                std::fill(o.begin(), o.end(), 0.0f);
                for (int64_t j = 0; j < n_keys; ++j) {
                    load_row(vc, hkv, j, d, v.data());
                    const float p = scores[static_cast<size_t>(j)] / sum;
                    for (int64_t i = 0; i < d; ++i)
                        o[static_cast<size_t>(i)] += p * v[static_cast<size_t>(i)];
                }
                std::copy(o.begin(), o.end(), out.at(h, t));
            }
        }
        return GRAFT_OK;
    }

  private:
    AttentionConfig cfg_;
};

} // namespace

void add_attention_kernels(KernelLists &lists) {
    lists.fast.push_back(make_kernel<Attention>(kOp, "attention", {}));
    lists.ref.push_back(make_kernel<AttentionRef>(kOp, "attention_ref", {}));
}

} // namespace graft::amx_cpu
