// attention: causal multi-head attention with grouped KV heads over a per-sequence KV cache
// (F32 or F16). A call first stores its T new keys and values at n_past.., then every
// (query head, token) pair is one block: its warps walk disjoint keys with an online
// softmax in F32 and are merged at the end. Naive (no tiling of queries), but exact and
// independent of the context length's size in shared memory.
#include "kernel_support.h"
#include "kernels.h"

#include <cuda_fp16.h>

#include <cmath>

namespace graft::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxHeadDim = 512;

__device__ __forceinline__ float to_float(float v) {
    return v;
}
__device__ __forceinline__ float to_float(__half v) {
    return __half2float(v);
}
__device__ __forceinline__ void from_float(float v, float &out) {
    out = v;
}
__device__ __forceinline__ void from_float(float v, __half &out) {
    out = __float2half_rn(v);
}

// k, v: (head_dim, n_head_kv, T) F32 -> caches (head_dim, n_head_kv, n_ctx) at n_past.
template <typename C>
__global__ void store_kv(const float *k, const float *v, C *k_cache, C *v_cache, int64_t row,
                         int64_t n_past, int64_t n) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t base = n_past * row;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        from_float(k[i], k_cache[base + i]);
        from_float(v[i], v_cache[base + i]);
    }
}

struct Dims {
    int head_dim, n_head, n_head_kv;
    int64_t n_past;
    float scale;
};

// Grid (n_head, T); kWarps warps per block; PER_LANE = ceil(head_dim / 32).
template <typename C, int PER_LANE>
__global__ void __launch_bounds__(kWarps * 32)
    attend(const float *q, const C *k_cache, const C *v_cache, float *out, Dims d) {
    __shared__ float s_max[kWarps], s_sum[kWarps];
    __shared__ float s_acc[kWarps][PER_LANE * 32];
    const int h = blockIdx.x;
    const int64_t t = blockIdx.y;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kv_head = h / (d.n_head / d.n_head_kv);
    const int64_t kv_row = static_cast<int64_t>(d.head_dim) * d.n_head_kv; // one position
    const float *qh = q + (t * d.n_head + h) * d.head_dim;

    float qr[PER_LANE], acc[PER_LANE];
#pragma unroll
    for (int i = 0; i < PER_LANE; ++i) {
        const int c = lane + 32 * i;
        qr[i] = c < d.head_dim ? qh[c] * d.scale : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const int64_t last = d.n_past + t; // causal: keys 0..last
    for (int64_t j = warp; j <= last; j += kWarps) {
        const C *kj = k_cache + j * kv_row + static_cast<int64_t>(kv_head) * d.head_dim;
        const C *vj = v_cache + j * kv_row + static_cast<int64_t>(kv_head) * d.head_dim;
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < PER_LANE; ++i) {
            const int c = lane + 32 * i;
            if (c < d.head_dim)
                s += qr[i] * to_float(kj[c]);
        }
        for (int offset = 16; offset > 0; offset /= 2)
            s += __shfl_xor_sync(0xffffffffu, s, offset);
        const float m_new = fmaxf(m, s);
        const float correction = expf(m - m_new);
        const float p = expf(s - m_new);
        l = l * correction + p;
#pragma unroll
        for (int i = 0; i < PER_LANE; ++i) {
            const int c = lane + 32 * i;
            acc[i] = acc[i] * correction + (c < d.head_dim ? p * to_float(vj[c]) : 0.0f);
        }
        m = m_new;
    }
    if (lane == 0) {
        s_max[warp] = m;
        s_sum[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < PER_LANE; ++i)
        s_acc[warp][lane + 32 * i] = acc[i];
    __syncthreads();
    if (warp != 0)
        return;
    float m_all = -INFINITY;
    for (int w = 0; w < kWarps; ++w)
        if (s_sum[w] > 0.0f)
            m_all = fmaxf(m_all, s_max[w]);
    float l_all = 0.0f, factor[kWarps];
    for (int w = 0; w < kWarps; ++w) {
        factor[w] = s_sum[w] > 0.0f ? expf(s_max[w] - m_all) : 0.0f;
        l_all += s_sum[w] * factor[w];
    }
    float *oh = out + (t * d.n_head + h) * d.head_dim;
#pragma unroll
    for (int i = 0; i < PER_LANE; ++i) {
        const int c = lane + 32 * i;
        if (c >= d.head_dim)
            continue;
        float v = 0.0f;
        for (int w = 0; w < kWarps; ++w)
            v += s_acc[w][c] * factor[w];
        oh[c] = v / l_all;
    }
}

template <typename C> void launch(const graft_kernel_call *call, const Dims &d, int64_t n_tokens) {
    const graft_tensor *in = call->inputs;
    const int64_t row = static_cast<int64_t>(d.head_dim) * d.n_head_kv;
    const unsigned block = 256;
    store_kv<C><<<grid_for(row * n_tokens, block), block, 0, stream_of(call)>>>(
        static_cast<const float *>(in[1].data), static_cast<const float *>(in[2].data),
        static_cast<C *>(in[3].data), static_cast<C *>(in[4].data), row, d.n_past, row * n_tokens);
    const dim3 grid(static_cast<unsigned>(d.n_head), static_cast<unsigned>(n_tokens));
    const auto *q = static_cast<const float *>(in[0].data);
    const auto *kc = static_cast<const C *>(in[3].data);
    const auto *vc = static_cast<const C *>(in[4].data);
    auto *out = static_cast<float *>(call->outputs[0].data);
    const int per_lane = (d.head_dim + 31) / 32;
    if (per_lane <= 2)
        attend<C, 2><<<grid, kWarps * 32, 0, stream_of(call)>>>(q, kc, vc, out, d);
    else if (per_lane <= 4)
        attend<C, 4><<<grid, kWarps * 32, 0, stream_of(call)>>>(q, kc, vc, out, d);
    else if (per_lane <= 8)
        attend<C, 8><<<grid, kWarps * 32, 0, stream_of(call)>>>(q, kc, vc, out, d);
    else
        attend<C, 16><<<grid, kWarps * 32, 0, stream_of(call)>>>(q, kc, vc, out, d);
}

struct State {
    uint32_t device;
    int64_t n_head, n_head_kv, head_dim; // 0: taken from q and k
    double scale;                        // 0: 1 / sqrt(head_dim)
};

graft_status create(const graft_kernel_config *config, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "attention: out is NULL");
        if (graft_status s = check_config(config, "attention"); s != GRAFT_OK)
            return s;
        const graft_param *p = config->params;
        const uint32_t n = config->n_params;
        auto st = std::make_unique<State>();
        st->device = config->device;
        st->n_head = sdk::param_int(p, n, "n_head", 0);
        st->n_head_kv = sdk::param_int(p, n, "n_head_kv", 0);
        st->head_dim = sdk::param_int(p, n, "head_dim", 0);
        st->scale = sdk::param_float(p, n, "scale", 0.0);
        if (st->n_head < 0 || st->n_head_kv < 0 || st->head_dim < 0 || !(st->scale >= 0.0))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "attention: n_head, n_head_kv, head_dim and scale must be >= 0");
        *out = st.release();
        return GRAFT_OK;
    });
}

graft_status run(void *state, const graft_kernel_call *call) {
    return sdk::guard([&] {
        const auto *st = static_cast<const State *>(state);
        if (!st)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "attention: state is NULL");
        if (graft_status s = check_call(call, 5, 1, "attention"); s != GRAFT_OK)
            return s;
        const graft_tensor *in = call->inputs;
        const graft_tensor &y = call->outputs[0];
        const char *names[] = {"q", "k", "v"};
        for (int i = 0; i < 3; ++i)
            if (graft_status s =
                    check_tensor(in[i], GRAFT_DTYPE_F32, st->device, "attention", names[i]);
                s != GRAFT_OK)
                return s;
        const graft_dtype cache_dtype = in[3].dtype;
        if (cache_dtype != GRAFT_DTYPE_F32 && cache_dtype != GRAFT_DTYPE_F16)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "attention: the KV cache must be F32 or F16");
        if (graft_status s = check_tensor(in[3], cache_dtype, st->device, "attention", "k_cache");
            s != GRAFT_OK)
            return s;
        if (graft_status s = check_tensor(in[4], cache_dtype, st->device, "attention", "v_cache");
            s != GRAFT_OK)
            return s;
        if (graft_status s = check_tensor(y, GRAFT_DTYPE_F32, st->device, "attention", "out");
            s != GRAFT_OK)
            return s;
        const int64_t head_dim = in[0].ne[0], n_head = in[0].ne[1], n_tokens = in[0].ne[2];
        const int64_t n_head_kv = in[1].ne[1], n_ctx = in[3].ne[2];
        const int64_t n_past = sdk::param_int(call->params, call->n_params, "n_past", 0);
        if ((st->head_dim && st->head_dim != head_dim) || (st->n_head && st->n_head != n_head) ||
            (st->n_head_kv && st->n_head_kv != n_head_kv))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "attention: q and k do not match head_dim, n_head, n_head_kv");
        if (head_dim > kMaxHeadDim)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "attention: head_dim above 512");
        if (n_head % n_head_kv != 0)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "attention: n_head must be a multiple of n_head_kv");
        auto shaped = [](const graft_tensor &t, int64_t a, int64_t b, int64_t c) {
            return t.ne[0] == a && t.ne[1] == b && t.ne[2] == c && t.ne[3] == 1;
        };
        if (!shaped(in[0], head_dim, n_head, n_tokens) || !shaped(y, head_dim, n_head, n_tokens) ||
            !shaped(in[1], head_dim, n_head_kv, n_tokens) ||
            !shaped(in[2], head_dim, n_head_kv, n_tokens) ||
            !shaped(in[3], head_dim, n_head_kv, n_ctx) ||
            !shaped(in[4], head_dim, n_head_kv, n_ctx))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "attention: shapes must be q, out (head_dim, n_head, T); k, v "
                             "(head_dim, n_head_kv, T); caches (head_dim, n_head_kv, n_ctx)");
        if (n_past < 0 || n_past + n_tokens > n_ctx)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "attention: n_past " + std::to_string(n_past) + " + T " +
                                 std::to_string(n_tokens) + " exceeds the cache's n_ctx " +
                                 std::to_string(n_ctx));
        if (n_head > 65535 * 1024 || n_tokens > 65535)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "attention: too many heads or tokens");
        Dims d{};
        d.head_dim = static_cast<int>(head_dim);
        d.n_head = static_cast<int>(n_head);
        d.n_head_kv = static_cast<int>(n_head_kv);
        d.n_past = n_past;
        d.scale = static_cast<float>(
            st->scale > 0.0 ? st->scale : 1.0 / std::sqrt(static_cast<double>(head_dim)));
        if (graft_status s = devices().activate(st->device); s != GRAFT_OK)
            return s;
        if (cache_dtype == GRAFT_DTYPE_F16)
            launch<__half>(call, d, n_tokens);
        else
            launch<float>(call, d, n_tokens);
        return check_launch("attention");
    });
}

void destroy(void *state) {
    delete static_cast<State *>(state);
}

} // namespace

graft_kernel attention_kernel() {
    auto k = sdk::versioned<graft_kernel>();
    k.op = "attention";
    k.impl = "attention";
    k.device_kinds = 1u << GRAFT_DEVICE_GPU;
    k.create = create;
    k.run = run;
    k.destroy = destroy;
    return k;
}

} // namespace graft::cuda
