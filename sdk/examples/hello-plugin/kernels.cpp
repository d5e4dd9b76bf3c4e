// add, swiglu and linear as the op vocabulary of graft/plugin.h defines them, for F32
// tensors in host memory. Rows may be strided; elements within a row are contiguous.
#include "kernels.h"

#include <graft/plugin.hpp>

#include <cmath>
#include <cstddef>
#include <iterator>
#include <string>

namespace hello {
namespace {

namespace sdk = graft::sdk;

// Element (i0, i1, i2, i3) of an F32 tensor.
float *at(const graft_tensor &t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return reinterpret_cast<float *>(static_cast<char *>(t.data) + i1 * t.nb[1] + i2 * t.nb[2] +
                                     i3 * t.nb[3]) +
           i0;
}

// An F32 tensor with contiguous rows and data to read or write.
graft_status check_f32(const graft_tensor &t, const char *what) {
    if (t.dtype != GRAFT_DTYPE_F32)
        return sdk::fail(GRAFT_ERR_UNSUPPORTED, std::string(what) + ": dtype " +
                                                    sdk::dtype_name(t.dtype) +
                                                    ", this kernel takes F32");
    if (!t.data || t.nb[0] != static_cast<int64_t>(sizeof(float)))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         std::string(what) + ": no data or rows that are not contiguous");
    for (int d = 0; d < GRAFT_MAX_DIMS; ++d)
        if (t.ne[d] < 0)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, std::string(what) + ": negative ne");
    return GRAFT_OK;
}

bool same_shape(const graft_tensor &a, const graft_tensor &b) {
    for (int d = 0; d < GRAFT_MAX_DIMS; ++d)
        if (a.ne[d] != b.ne[d])
            return false;
    return true;
}

graft_status check_call(const graft_kernel_call *call, uint32_t n_inputs) {
    if (!call || !call->inputs || !call->outputs || call->n_inputs != n_inputs ||
        call->n_outputs != 1)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         "expected " + std::to_string(n_inputs) + " inputs and 1 output");
    for (uint32_t i = 0; i < n_inputs; ++i)
        if (graft_status s = check_f32(call->inputs[i], "input"); s != GRAFT_OK)
            return s;
    return check_f32(call->outputs[0], "output");
}

// Elementwise kernels keep no state; create hands out this marker so that a state is
// never NULL.
int stateless_marker = 0;

graft_status create_stateless(const graft_kernel_config *config, void **out) {
    if (!config || !out)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "create: NULL config or out");
    *out = &stateless_marker;
    return GRAFT_OK;
}

void destroy_stateless(void *) {}

// add: out = a + b, all three of one shape.
graft_status run_add(void *, const graft_kernel_call *call) {
    if (graft_status s = check_call(call, 2); s != GRAFT_OK)
        return s;
    const graft_tensor &a = call->inputs[0], &b = call->inputs[1], &y = call->outputs[0];
    if (!same_shape(a, b) || !same_shape(a, y))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "add: a, b and out differ in shape");
    for (int64_t i3 = 0; i3 < a.ne[3]; ++i3)
        for (int64_t i2 = 0; i2 < a.ne[2]; ++i2)
            for (int64_t i1 = 0; i1 < a.ne[1]; ++i1) {
                const float *pa = at(a, 0, i1, i2, i3), *pb = at(b, 0, i1, i2, i3);
                float *py = at(y, 0, i1, i2, i3);
                for (int64_t i0 = 0; i0 < a.ne[0]; ++i0)
                    py[i0] = pa[i0] + pb[i0];
            }
    return GRAFT_OK;
}

// swiglu: out = silu(gate) * up, silu(x) = x / (1 + e^-x).
graft_status run_swiglu(void *, const graft_kernel_call *call) {
    if (graft_status s = check_call(call, 2); s != GRAFT_OK)
        return s;
    const graft_tensor &g = call->inputs[0], &u = call->inputs[1], &y = call->outputs[0];
    if (!same_shape(g, u) || !same_shape(g, y))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "swiglu: gate, up and out differ in shape");
    for (int64_t i3 = 0; i3 < g.ne[3]; ++i3)
        for (int64_t i2 = 0; i2 < g.ne[2]; ++i2)
            for (int64_t i1 = 0; i1 < g.ne[1]; ++i1) {
                const float *pg = at(g, 0, i1, i2, i3), *pu = at(u, 0, i1, i2, i3);
                float *py = at(y, 0, i1, i2, i3);
                for (int64_t i0 = 0; i0 < g.ne[0]; ++i0)
                    py[i0] = pg[i0] / (1.0f + std::exp(-pg[i0])) * pu[i0];
            }
    return GRAFT_OK;
}

// linear: what create() keeps of the module's weights (host memory, GGUF layout).
struct LinearState {
    graft_tensor weight; // F32 (n_in, n_out)
    const float *bias;   // F32 (n_out) or NULL
};

graft_status create_linear(const graft_kernel_config *config, void **out) {
    return sdk::guard([&] {
        if (!config || !out || !config->weights || config->n_weights < 1)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: needs the weight W");
        const graft_tensor &w = config->weights[0];
        if (graft_status s = check_f32(w, "linear weight"); s != GRAFT_OK)
            return s;
        const float *bias = nullptr;
        if (config->n_weights > 1) {
            const graft_tensor &b = config->weights[1];
            if (graft_status s = check_f32(b, "linear bias"); s != GRAFT_OK)
                return s;
            if (b.ne[0] != w.ne[1] || sdk::n_rows(b) != 1)
                return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: bias is not (n_out)");
            bias = static_cast<const float *>(b.data);
        }
        *out = new LinearState{w, bias};
        return GRAFT_OK;
    });
}

void destroy_linear(void *state) {
    delete static_cast<LinearState *>(state);
}

// y[:, t] = W x[:, t] + b, one dot product per output element.
graft_status run_linear(void *state, const graft_kernel_call *call) {
    if (!state)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: NULL state");
    if (graft_status s = check_call(call, 1); s != GRAFT_OK)
        return s;
    const LinearState &linear = *static_cast<const LinearState *>(state);
    const graft_tensor &w = linear.weight, &x = call->inputs[0], &y = call->outputs[0];
    const int64_t n_in = w.ne[0], n_out = w.ne[1], n_tokens = sdk::n_rows(x);
    if (x.ne[0] != n_in || y.ne[0] != n_out || sdk::n_rows(y) != n_tokens)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         "linear: x must be (n_in, T) and out (n_out, T) for W (n_in, n_out)");
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float *px = at(x, 0, t % x.ne[1], (t / x.ne[1]) % x.ne[2], t / (x.ne[1] * x.ne[2]));
        float *py = at(y, 0, t % y.ne[1], (t / y.ne[1]) % y.ne[2], t / (y.ne[1] * y.ne[2]));
        for (int64_t o = 0; o < n_out; ++o) {
            const float *pw = at(w, 0, o, 0, 0);
            double sum = linear.bias ? linear.bias[o] : 0.0;
            for (int64_t i = 0; i < n_in; ++i)
                sum += static_cast<double>(pw[i]) * px[i];
            py[o] = static_cast<float>(sum);
        }
    }
    return GRAFT_OK;
}

const graft_dtype linear_dtypes[] = {GRAFT_DTYPE_F32};

graft_kernel make_kernel(const char *op, const char *impl,
                         graft_status (*create)(const graft_kernel_config *, void **),
                         graft_status (*run)(void *, const graft_kernel_call *),
                         void (*destroy)(void *)) {
    auto k = sdk::versioned<graft_kernel>();
    k.op = op;
    k.impl = impl;
    k.device_kinds = 1u << GRAFT_DEVICE_CPU;
    k.create = create;
    k.run = run;
    k.destroy = destroy;
    return k;
}

} // namespace

KernelTable kernel_table() {
    static const graft_kernel table[] = {
        make_kernel("add", "add", create_stateless, run_add, destroy_stateless),
        make_kernel("swiglu", "swiglu", create_stateless, run_swiglu, destroy_stateless),
        [] {
            graft_kernel k =
                make_kernel("linear", "linear", create_linear, run_linear, destroy_linear);
            k.weight_dtypes = linear_dtypes;
            k.n_weight_dtypes = 1;
            return k;
        }(),
    };
    return KernelTable{table, static_cast<uint32_t>(std::size(table))};
}

} // namespace hello
