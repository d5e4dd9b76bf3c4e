// add and swiglu: one thread per element, grid-stride loops.
#include "kernel_support.h"
#include "kernels.h"

namespace graft::cuda {
namespace {

__global__ void add_f32(const float *a, const float *b, float *y, int64_t n) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += stride)
        y[i] = a[i] + b[i];
}

__global__ void swiglu_f32(const float *gate, const float *up, float *y, int64_t n) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        const float g = gate[i];
        y[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

struct State {
    uint32_t device;
};

graft_status create(const graft_kernel_config *config, void **out, const char *op) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, std::string(op) + ": out is NULL");
        if (graft_status s = check_config(config, op); s != GRAFT_OK)
            return s;
        *out = new State{config->device};
        return GRAFT_OK;
    });
}

graft_status create_add(const graft_kernel_config *config, void **out) {
    return create(config, out, "add");
}
graft_status create_swiglu(const graft_kernel_config *config, void **out) {
    return create(config, out, "swiglu");
}

void destroy(void *state) {
    delete static_cast<State *>(state);
}

// Both ops: two F32 inputs of one shape, one F32 output of that shape.
graft_status run_binary(void *state, const graft_kernel_call *call, const char *op, bool swiglu) {
    return sdk::guard([&] {
        const auto *st = static_cast<const State *>(state);
        if (!st)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, std::string(op) + ": state is NULL");
        if (graft_status s = check_call(call, 2, 1, op); s != GRAFT_OK)
            return s;
        const graft_tensor &a = call->inputs[0], &b = call->inputs[1];
        const graft_tensor &y = call->outputs[0];
        for (const auto &[t, what] : {std::pair{&a, swiglu ? "gate" : "a"},
                                      std::pair{&b, swiglu ? "up" : "b"}, std::pair{&y, "out"}})
            if (graft_status s = check_tensor(*t, GRAFT_DTYPE_F32, st->device, op, what);
                s != GRAFT_OK)
                return s;
        if (!same_shape(a, b) || !same_shape(a, y))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             std::string(op) + ": inputs and output must have one shape");
        if (graft_status s = devices().activate(st->device); s != GRAFT_OK)
            return s;
        const int64_t n = sdk::n_elements(a);
        const unsigned block = 256;
        if (swiglu)
            swiglu_f32<<<grid_for(n, block), block, 0, stream_of(call)>>>(
                static_cast<const float *>(a.data), static_cast<const float *>(b.data),
                static_cast<float *>(y.data), n);
        else
            add_f32<<<grid_for(n, block), block, 0, stream_of(call)>>>(
                static_cast<const float *>(a.data), static_cast<const float *>(b.data),
                static_cast<float *>(y.data), n);
        return check_launch(op);
    });
}

graft_status run_add(void *state, const graft_kernel_call *call) {
    return run_binary(state, call, "add", false);
}
graft_status run_swiglu(void *state, const graft_kernel_call *call) {
    return run_binary(state, call, "swiglu", true);
}

} // namespace

graft_kernel add_kernel() {
    auto k = sdk::versioned<graft_kernel>();
    k.op = "add";
    k.impl = "add";
    k.device_kinds = 1u << GRAFT_DEVICE_GPU;
    k.create = create_add;
    k.run = run_add;
    k.destroy = destroy;
    return k;
}

graft_kernel swiglu_kernel() {
    auto k = sdk::versioned<graft_kernel>();
    k.op = "swiglu";
    k.impl = "swiglu";
    k.device_kinds = 1u << GRAFT_DEVICE_GPU;
    k.create = create_swiglu;
    k.run = run_swiglu;
    k.destroy = destroy;
    return k;
}

} // namespace graft::cuda
