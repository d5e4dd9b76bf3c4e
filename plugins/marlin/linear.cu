// marlin/linear: int4 weights (layout.h) times F32 activations on tensor cores.
// Each block owns 16 output rows and 8 * NT tokens; its 4 warps split K into 64-column
// chunks. Per chunk a lane loads its four A fragments with one 16-byte load, turns nibbles
// into fp16 with the 0x6400 exponent trick (0x6400 | q is the half 1024 + q), applies the
// group's (s, m) with one fma per pair, and issues mma.sync m16n8k16 (fp16 in, fp32
// accumulate) against activations converted to fp16 on the way in. The warps' partial
// sums meet in shared memory.
#include "layout.h"
#include "marlin.h"

#include "kernel_support.h"

#include <cuda_fp16.h>

#include <cstring>
#include <vector>

namespace graft::marlin {
namespace {

using cuda::check;
using cuda::devices;

constexpr int kWarps = 4;

__device__ __forceinline__ uint32_t half2_bits(__half2 h) {
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
}

__device__ __forceinline__ __half2 bits_half2(uint32_t u) {
    __half2 h;
    memcpy(&h, &u, 4);
    return h;
}

__device__ __forceinline__ void mma_m16n8k16(float (&c)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap(); // the plugin exposes only devices of compute capability 8.0 and up
#endif
}

template <int NT>
__global__ void __launch_bounds__(kWarps * 32)
    int4_gemm(const uint4 *q, const __half2 *scales, const float *x, const float *bias, float *y,
              int64_t n_in, int64_t n_out, int64_t n_tok, int64_t k_chunks, int64_t groups) {
    __shared__ float partial[kWarps][NT][4][32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane >> 2, t4 = lane & 3;
    const int64_t tile = blockIdx.x;
    const int64_t tok0 = static_cast<int64_t>(blockIdx.y) * 8 * NT;
    const uint4 *q_tile = q + tile * k_chunks * 32;
    const __half2 *s_tile = scales + tile * groups * 16;
    const __half2 magic = bits_half2(0x64006400u); // (1024, 1024)

    float acc[NT][4];
#pragma unroll
    for (int n = 0; n < NT; ++n)
        acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;

    for (int64_t kc = warp; kc < k_chunks; kc += kWarps) {
        const uint4 packed = q_tile[kc * 32 + lane];
        const uint32_t words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
        for (int sub = 0; sub < 4; ++sub) {
            const int64_t k0 = kc * 64 + sub * 16;
            if (k0 >= n_in) // zero padding past n_in: nothing to add
                break;
            const int64_t group = k0 / 32;
            const __half2 sm_lo = s_tile[group * 16 + g], sm_hi = s_tile[group * 16 + g + 8];
            uint32_t a[4];
#pragma unroll
            for (int j = 0; j < 4; ++j) { // a[j] holds fragment elements 2j, 2j+1
                const __half2 sm = (j & 1) ? sm_hi : sm_lo;
                const uint32_t nibbles = words[sub] >> (8 * j);
                const uint32_t bits = 0x64006400u | (nibbles & 0xFu) | ((nibbles & 0xF0u) << 12);
                const __half2 qv = __hsub2(bits_half2(bits), magic);
                a[j] = half2_bits(__hfma2(qv, __low2half2(sm), __high2half2(sm)));
            }
#pragma unroll
            for (int n = 0; n < NT; ++n) {
                const int64_t tok = tok0 + n * 8 + g;
                uint32_t b[2] = {0u, 0u};
                if (tok < n_tok) {
                    const float *xr = x + tok * n_in + k0 + 2 * t4;
                    const float2 lo = *reinterpret_cast<const float2 *>(xr);
                    const float2 hi = *reinterpret_cast<const float2 *>(xr + 8);
                    b[0] = half2_bits(__floats2half2_rn(lo.x, lo.y));
                    b[1] = half2_bits(__floats2half2_rn(hi.x, hi.y));
                }
                mma_m16n8k16(acc[n], a, b);
            }
        }
    }
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int c = 0; c < 4; ++c)
            partial[warp][n][c][lane] = acc[n][c];
    __syncthreads();
    if (warp != 0)
        return;
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
            float v = 0.0f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w)
                v += partial[w][n][c][lane];
            // C fragment: c0, c1 at row g, c2, c3 at row g + 8; columns 2 t4 and 2 t4 + 1
            const int64_t row = tile * 16 + g + (c >= 2 ? 8 : 0);
            const int64_t tok = tok0 + n * 8 + 2 * t4 + (c & 1);
            if (row < n_out && tok < n_tok)
                y[tok * n_out + row] = v + (bias ? bias[row] : 0.0f);
        }
}

struct State {
    uint32_t device;
    PackedShape shape;
    const uint8_t *packed; // device memory: q, then scales
    const float *bias;     // (n_out) or NULL
};

template <int NT>
void launch(const State &st, const float *x, float *y, int64_t n_tok, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(st.shape.n_pad / 16),
                    static_cast<unsigned>((n_tok + 8 * NT - 1) / (8 * NT)));
    int4_gemm<NT><<<grid, kWarps * 32, 0, stream>>>(
        reinterpret_cast<const uint4 *>(st.packed),
        reinterpret_cast<const __half2 *>(st.packed + st.shape.q_bytes), x, st.bias, y,
        st.shape.n_in, st.shape.n_out, n_tok, st.shape.k_chunks, st.shape.groups);
}

graft_status prepare(uint32_t device, uint32_t index, const graft_tensor *src,
                     graft_prepared_weight *out) {
    return sdk::guard([&] {
        if (!src || !out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "marlin: prepare_weights: NULL argument");
        std::memset(out, 0, sizeof *out);
        if (graft_status s = devices().activate(device); s != GRAFT_OK)
            return s;
        std::vector<uint8_t> bytes;
        graft_tensor t = *src;
        if (index == 0) {
            const std::string why = repack(*src, bytes);
            if (!why.empty())
                return sdk::fail(GRAFT_ERR_UNSUPPORTED, "marlin: " + why);
            t.layout = kLayoutId; // ne and dtype stay; nb describe the GGUF rows it came from
        } else {                  // the bias and anything else: copied as it is
            if (src->layout != 0 || !src->data || !sdk::is_contiguous(*src))
                return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "marlin: weight " +
                                                                 std::to_string(index) +
                                                                 " must be contiguous GGUF data");
            const auto *p = static_cast<const uint8_t *>(src->data);
            bytes.assign(p, p + sdk::n_bytes(*src));
        }
        void *dev = nullptr;
        if (graft_status s =
                check(cudaMalloc(&dev, bytes.empty() ? 1 : bytes.size()), "marlin: cudaMalloc");
            s != GRAFT_OK)
            return s;
        if (graft_status s =
                check(cudaMemcpy(dev, bytes.data(), bytes.size(), cudaMemcpyHostToDevice),
                      "marlin: copying the packed weight");
            s != GRAFT_OK) {
            cudaFree(dev);
            return s;
        }
        t.data = dev;
        t.device = device;
        out->tensor = t;
        out->handle = dev;
        return GRAFT_OK;
    });
}

void release(uint32_t device, graft_prepared_weight *weight) {
    if (!weight || !weight->handle || devices().activate(device) != GRAFT_OK)
        return;
    cudaFree(weight->handle);
    cudaGetLastError();
    weight->handle = nullptr;
}

graft_status create(const graft_kernel_config *config, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "marlin/linear: out is NULL");
        if (graft_status s = cuda::check_config(config, "marlin/linear"); s != GRAFT_OK)
            return s;
        if (config->n_weights < 1)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "marlin/linear: needs the weight W");
        const graft_tensor &w = config->weights[0];
        if (w.layout != kLayoutId)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED,
                             "marlin/linear: W must come from marlin's prepare_weights");
        if (w.dtype != GRAFT_DTYPE_Q4_0 && w.dtype != GRAFT_DTYPE_Q4_K)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "marlin/linear: W must be Q4_0 or Q4_K");
        if (!w.data || w.device != config->device || w.ne[0] < 1 || w.ne[1] < 1)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "marlin/linear: W has no data on the kernel's device");
        auto st = std::make_unique<State>();
        st->device = config->device;
        st->shape = packed_shape(w.ne[0], w.ne[1]);
        st->packed = static_cast<const uint8_t *>(w.data);
        st->bias = nullptr;
        if (config->n_weights >= 2 && config->weights[1].data) {
            const graft_tensor &b = config->weights[1];
            if (graft_status s =
                    cuda::check_tensor(b, GRAFT_DTYPE_F32, config->device, "marlin/linear", "bias");
                s != GRAFT_OK)
                return s;
            if (sdk::n_elements(b) != w.ne[1])
                return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                                 "marlin/linear: bias must hold n_out values");
            st->bias = static_cast<const float *>(b.data);
        }
        *out = st.release();
        return GRAFT_OK;
    });
}

graft_status run(void *state, const graft_kernel_call *call) {
    return sdk::guard([&] {
        const auto *st = static_cast<const State *>(state);
        if (!st)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "marlin/linear: state is NULL");
        if (graft_status s = cuda::check_call(call, 1, 1, "marlin/linear"); s != GRAFT_OK)
            return s;
        const graft_tensor &x = call->inputs[0], &y = call->outputs[0];
        if (graft_status s =
                cuda::check_tensor(x, GRAFT_DTYPE_F32, st->device, "marlin/linear", "x");
            s != GRAFT_OK)
            return s;
        if (graft_status s =
                cuda::check_tensor(y, GRAFT_DTYPE_F32, st->device, "marlin/linear", "out");
            s != GRAFT_OK)
            return s;
        const int64_t n_tok = sdk::n_rows(x);
        if (x.ne[0] != st->shape.n_in)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "marlin/linear: x has " + std::to_string(x.ne[0]) +
                                 " features, W takes " + std::to_string(st->shape.n_in));
        if (y.ne[0] != st->shape.n_out || sdk::n_rows(y) != n_tok)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "marlin/linear: out must be (n_out " +
                                                             std::to_string(st->shape.n_out) +
                                                             ", T " + std::to_string(n_tok) + ")");
        if (reinterpret_cast<uintptr_t>(x.data) % 8 != 0)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "marlin/linear: x must be 8-byte aligned");
        if ((n_tok + 31) / 32 > 65535)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "marlin/linear: too many tokens in one call");
        if (graft_status s = devices().activate(st->device); s != GRAFT_OK)
            return s;
        const auto *xp = static_cast<const float *>(x.data);
        auto *yp = static_cast<float *>(y.data);
        if (n_tok <= 8)
            launch<1>(*st, xp, yp, n_tok, cuda::stream_of(call));
        else if (n_tok <= 16)
            launch<2>(*st, xp, yp, n_tok, cuda::stream_of(call));
        else
            launch<4>(*st, xp, yp, n_tok, cuda::stream_of(call));
        return cuda::check_launch("marlin/linear");
    });
}

void destroy(void *state) {
    delete static_cast<State *>(state);
}

const graft_dtype kDtypes[] = {GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q4_K};

} // namespace

graft_kernel linear_kernel() {
    auto k = sdk::versioned<graft_kernel>();
    k.op = "linear";
    k.impl = "linear";
    k.weight_dtypes = kDtypes;
    k.n_weight_dtypes = 2;
    k.device_kinds = 1u << GRAFT_DEVICE_GPU;
    k.prepare_weights = prepare;
    k.release_weights = release;
    k.create = create;
    k.run = run;
    k.destroy = destroy;
    return k;
}

} // namespace graft::marlin
