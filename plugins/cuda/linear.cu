// linear: y = W x + b for W in F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K (GGUF layout, read
// in place) and F32 activations, any number of tokens. Weights are dequantised on the fly
// and accumulated in F32.
//  - up to kGemvTokens tokens: one warp per output row, lanes stride over the row (reads
//    of W and x are coalesced), every token of the pass shares each weight read;
//  - more tokens: a 64x64 output tile per block, K in steps of 32 staged in shared memory,
//    4x4 outputs per thread.
#include "dequant.cuh"
#include "kernel_support.h"
#include "kernels.h"

namespace graft::cuda {
namespace {

constexpr int kGemvTokens = 8;
constexpr int kGemvWarps = 8;

template <graft_dtype D>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv(const uint8_t *w, int64_t row_stride, const float *x, const float *bias, float *y,
         int64_t n_in, int64_t n_out, int n_tok) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kGemvWarps + warp;
    if (row >= n_out)
        return;
    const uint8_t *wrow = w + row * row_stride;
    float acc[kGemvTokens] = {};
    for (int64_t k = lane; k < n_in; k += 32) {
        const float wk = Element<D>::load(wrow, k);
#pragma unroll
        for (int t = 0; t < kGemvTokens; ++t)
            if (t < n_tok)
                acc[t] += wk * x[t * n_in + k];
    }
#pragma unroll
    for (int t = 0; t < kGemvTokens; ++t) {
        float v = acc[t];
        for (int offset = 16; offset > 0; offset /= 2)
            v += __shfl_xor_sync(0xffffffffu, v, offset);
        if (lane == 0 && t < n_tok)
            y[t * n_out + row] = v + (bias ? bias[row] : 0.0f);
    }
}

constexpr int kTileM = 64; // output rows per block
constexpr int kTileN = 64; // tokens per block
constexpr int kTileK = 32;
constexpr int kGemmThreads = 256;

template <graft_dtype D>
__global__ void __launch_bounds__(kGemmThreads)
    gemm(const uint8_t *w, int64_t row_stride, const float *x, const float *bias, float *y,
         int64_t n_in, int64_t n_out, int64_t n_tok) {
    // +1 column: the stores below hit 32 different banks.
    __shared__ float ws[kTileK][kTileM + 1];
    __shared__ float xs[kTileK][kTileN + 1];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kTileM;
    const int64_t t0 = static_cast<int64_t>(blockIdx.y) * kTileN;
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < n_in; k0 += kTileK) {
        for (int e = tid; e < kTileM * kTileK; e += kGemmThreads) {
            const int m = e / kTileK, kk = e % kTileK;
            const int64_t row = m0 + m, k = k0 + kk;
            ws[kk][m] =
                (row < n_out && k < n_in) ? Element<D>::load(w + row * row_stride, k) : 0.0f;
        }
        for (int e = tid; e < kTileN * kTileK; e += kGemmThreads) {
            const int t = e / kTileK, kk = e % kTileK;
            const int64_t tok = t0 + t, k = k0 + kk;
            xs[kk][t] = (tok < n_tok && k < n_in) ? x[tok * n_in + k] : 0.0f;
        }
        __syncthreads();
#pragma unroll 8
        for (int kk = 0; kk < kTileK; ++kk) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                a[i] = ws[kk][tx + 16 * i];
                b[i] = xs[kk][ty + 16 * i];
            }
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j)
                    acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int64_t row = m0 + tx + 16 * i;
        if (row >= n_out)
            continue;
        const float b = bias ? bias[row] : 0.0f;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int64_t tok = t0 + ty + 16 * j;
            if (tok < n_tok)
                y[tok * n_out + row] = acc[i][j] + b;
        }
    }
}

struct Shape {
    int64_t n_in, n_out, n_tok, row_stride;
};

using Launch = void (*)(const uint8_t *, const float *, const float *, float *, Shape,
                        cudaStream_t);

template <graft_dtype D>
void launch(const uint8_t *w, const float *x, const float *bias, float *y, Shape s,
            cudaStream_t stream) {
    if (s.n_tok <= kGemvTokens) {
        const unsigned blocks = static_cast<unsigned>((s.n_out + kGemvWarps - 1) / kGemvWarps);
        gemv<D><<<blocks, kGemvWarps * 32, 0, stream>>>(w, s.row_stride, x, bias, y, s.n_in,
                                                        s.n_out, static_cast<int>(s.n_tok));
        return;
    }
    const dim3 grid(static_cast<unsigned>((s.n_out + kTileM - 1) / kTileM),
                    static_cast<unsigned>((s.n_tok + kTileN - 1) / kTileN));
    gemm<D>
        <<<grid, kGemmThreads, 0, stream>>>(w, s.row_stride, x, bias, y, s.n_in, s.n_out, s.n_tok);
}

const graft_dtype kDtypes[] = {GRAFT_DTYPE_F32,  GRAFT_DTYPE_F16,  GRAFT_DTYPE_BF16,
                               GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q4_K,
                               GRAFT_DTYPE_Q6_K};

Launch launch_for(graft_dtype d) {
    switch (d) {
    case GRAFT_DTYPE_F32:
        return launch<GRAFT_DTYPE_F32>;
    case GRAFT_DTYPE_F16:
        return launch<GRAFT_DTYPE_F16>;
    case GRAFT_DTYPE_BF16:
        return launch<GRAFT_DTYPE_BF16>;
    case GRAFT_DTYPE_Q8_0:
        return launch<GRAFT_DTYPE_Q8_0>;
    case GRAFT_DTYPE_Q4_0:
        return launch<GRAFT_DTYPE_Q4_0>;
    case GRAFT_DTYPE_Q4_K:
        return launch<GRAFT_DTYPE_Q4_K>;
    case GRAFT_DTYPE_Q6_K:
        return launch<GRAFT_DTYPE_Q6_K>;
    default:
        return nullptr;
    }
}

struct State {
    uint32_t device;
    graft_tensor weight;
    const float *bias; // (n_out) or NULL
    Launch launch;
};

graft_status create(const graft_kernel_config *config, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: out is NULL");
        if (graft_status s = check_config(config, "linear"); s != GRAFT_OK)
            return s;
        if (config->n_weights < 1)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: needs the weight W");
        const graft_tensor &w = config->weights[0];
        const Launch fn = launch_for(w.dtype);
        if (!fn)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, std::string("linear: weight dtype ") +
                                                        sdk::dtype_name(w.dtype) +
                                                        " is not supported");
        if (w.layout != 0)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "linear: W must be in GGUF layout");
        if (graft_status s = check_weight(w, config->device, "linear", "W"); s != GRAFT_OK)
            return s;
        const float *bias = nullptr;
        if (config->n_weights >= 2 && config->weights[1].data) {
            const graft_tensor &b = config->weights[1];
            if (graft_status s = check_tensor(b, GRAFT_DTYPE_F32, config->device, "linear", "bias");
                s != GRAFT_OK)
                return s;
            if (sdk::n_elements(b) != sdk::n_rows(w))
                return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: bias must hold n_out values");
            bias = static_cast<const float *>(b.data);
        }
        *out = new State{config->device, w, bias, fn};
        return GRAFT_OK;
    });
}

graft_status run(void *state, const graft_kernel_call *call) {
    return sdk::guard([&] {
        const auto *st = static_cast<const State *>(state);
        if (!st)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: state is NULL");
        if (graft_status s = check_call(call, 1, 1, "linear"); s != GRAFT_OK)
            return s;
        const graft_tensor &x = call->inputs[0], &y = call->outputs[0];
        if (graft_status s = check_tensor(x, GRAFT_DTYPE_F32, st->device, "linear", "x");
            s != GRAFT_OK)
            return s;
        if (graft_status s = check_tensor(y, GRAFT_DTYPE_F32, st->device, "linear", "out");
            s != GRAFT_OK)
            return s;
        const Shape shape{st->weight.ne[0], sdk::n_rows(st->weight), sdk::n_rows(x),
                          st->weight.nb[1]};
        if (x.ne[0] != shape.n_in)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "linear: x has " + std::to_string(x.ne[0]) + " features, W takes " +
                                 std::to_string(shape.n_in));
        if (y.ne[0] != shape.n_out || sdk::n_rows(y) != shape.n_tok)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: out must be (n_out " +
                                                             std::to_string(shape.n_out) + ", T " +
                                                             std::to_string(shape.n_tok) + ")");
        if ((shape.n_tok + kTileN - 1) / kTileN > 65535)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "linear: too many tokens in one call");
        if (graft_status s = devices().activate(st->device); s != GRAFT_OK)
            return s;
        st->launch(static_cast<const uint8_t *>(st->weight.data),
                   static_cast<const float *>(x.data), st->bias, static_cast<float *>(y.data),
                   shape, stream_of(call));
        return check_launch("linear");
    });
}

void destroy(void *state) {
    delete static_cast<State *>(state);
}

} // namespace

graft_kernel linear_kernel() {
    auto k = sdk::versioned<graft_kernel>();
    k.op = "linear";
    k.impl = "linear";
    k.weight_dtypes = kDtypes;
    k.n_weight_dtypes = sizeof kDtypes / sizeof kDtypes[0];
    k.device_kinds = 1u << GRAFT_DEVICE_GPU;
    k.create = create;
    k.run = run;
    k.destroy = destroy;
    return k;
}

} // namespace graft::cuda
