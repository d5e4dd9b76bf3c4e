// rmsnorm: one block per row; the sum of squares is reduced in F32 across the block.
#include "kernel_support.h"
#include "kernels.h"

namespace graft::cuda {
namespace {

constexpr unsigned kBlock = 256;

__device__ float block_sum(float v) {
    __shared__ float partial[kBlock / 32];
    for (int offset = 16; offset > 0; offset /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0)
        partial[warp] = v;
    __syncthreads();
    float total = 0.0f;
    for (unsigned w = 0; w < blockDim.x / 32; ++w)
        total += partial[w];
    return total;
}

// y may alias x: each thread writes only the elements it read itself.
__global__ void rmsnorm_f32(const float *x, const float *gamma, float *y, int64_t n, float eps) {
    const float *row = x + static_cast<int64_t>(blockIdx.x) * n;
    float *out = y + static_cast<int64_t>(blockIdx.x) * n;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        sum += row[i] * row[i];
    const float scale = rsqrtf(block_sum(sum) / static_cast<float>(n) + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        out[i] = row[i] * scale * gamma[i];
}

struct State {
    uint32_t device;
    graft_tensor gamma;
    float eps;
};

graft_status create(const graft_kernel_config *config, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rmsnorm: out is NULL");
        if (graft_status s = check_config(config, "rmsnorm"); s != GRAFT_OK)
            return s;
        if (config->n_weights < 1)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rmsnorm: needs the weight gamma");
        const graft_tensor &gamma = config->weights[0];
        if (graft_status s =
                check_tensor(gamma, GRAFT_DTYPE_F32, config->device, "rmsnorm", "gamma");
            s != GRAFT_OK)
            return s;
        const double eps = sdk::param_float(config->params, config->n_params, "eps", 1e-5);
        if (!(eps >= 0.0))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rmsnorm: eps must be >= 0");
        *out = new State{config->device, gamma, static_cast<float>(eps)};
        return GRAFT_OK;
    });
}

graft_status run(void *state, const graft_kernel_call *call) {
    return sdk::guard([&] {
        const auto *st = static_cast<const State *>(state);
        if (!st)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rmsnorm: state is NULL");
        if (graft_status s = check_call(call, 1, 1, "rmsnorm"); s != GRAFT_OK)
            return s;
        const graft_tensor &x = call->inputs[0], &y = call->outputs[0];
        if (graft_status s = check_tensor(x, GRAFT_DTYPE_F32, st->device, "rmsnorm", "x");
            s != GRAFT_OK)
            return s;
        if (graft_status s = check_tensor(y, GRAFT_DTYPE_F32, st->device, "rmsnorm", "out");
            s != GRAFT_OK)
            return s;
        if (!same_shape(x, y))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rmsnorm: out must have x's shape");
        if (sdk::n_elements(st->gamma) != x.ne[0])
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "rmsnorm: gamma has " + std::to_string(sdk::n_elements(st->gamma)) +
                                 " elements, rows of x have " + std::to_string(x.ne[0]));
        const int64_t rows = sdk::n_rows(x);
        if (rows > 0x7fffffff)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "rmsnorm: too many rows");
        const float eps = static_cast<float>(
            sdk::param_float(call->params, call->n_params, "eps", static_cast<double>(st->eps)));
        if (graft_status s = devices().activate(st->device); s != GRAFT_OK)
            return s;
        rmsnorm_f32<<<static_cast<unsigned>(rows), kBlock, 0, stream_of(call)>>>(
            static_cast<const float *>(x.data), static_cast<const float *>(st->gamma.data),
            static_cast<float *>(y.data), x.ne[0], eps);
        return check_launch("rmsnorm");
    });
}

void destroy(void *state) {
    delete static_cast<State *>(state);
}

} // namespace

graft_kernel rmsnorm_kernel() {
    static const graft_dtype dtypes[] = {GRAFT_DTYPE_F32};
    auto k = sdk::versioned<graft_kernel>();
    k.op = "rmsnorm";
    k.impl = "rmsnorm";
    k.weight_dtypes = dtypes;
    k.n_weight_dtypes = 1;
    k.device_kinds = 1u << GRAFT_DEVICE_GPU;
    k.create = create;
    k.run = run;
    k.destroy = destroy;
    return k;
}

} // namespace graft::cuda
