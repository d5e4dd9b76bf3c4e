// Glue between the C kernel table and the C++ kernel classes, and the argument checks
// every op shares. A kernel class provides
//     graft_status init(const graft_kernel_config &config);
//     graft_status run(const graft_kernel_call &call);
// and reports bad input through sdk::fail with a message naming the op and the tensor.
#pragma once

#include "linear_core.h"

#include <graft/plugin.hpp>

#include <memory>
#include <span>
#include <string>

namespace graft::amx_cpu {

template <class K> graft_status create_kernel(const graft_kernel_config *config, void **out) {
    if (!config || !out)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "create: config and out must not be null");
    return sdk::guard([&] {
        auto kernel = std::make_unique<K>();
        const graft_status status = kernel->init(*config);
        if (status == GRAFT_OK)
            *out = kernel.release();
        return status;
    });
}

template <class K> graft_status run_kernel(void *state, const graft_kernel_call *call) {
    if (!state || !call)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "run: state and call must not be null");
    return sdk::guard([&] { return static_cast<K *>(state)->run(*call); });
}

template <class K> void destroy_kernel(void *state) {
    delete static_cast<K *>(state);
}

// A table entry for kernel class K on the cpu device.
template <class K>
graft_kernel make_kernel(const char *op, const char *impl, std::span<const graft_dtype> dtypes) {
    graft_kernel k = sdk::versioned<graft_kernel>();
    k.op = op;
    k.impl = impl;
    k.weight_dtypes = dtypes.empty() ? nullptr : dtypes.data();
    k.n_weight_dtypes = static_cast<uint32_t>(dtypes.size());
    k.device_kinds = 1u << GRAFT_DEVICE_CPU;
    k.create = create_kernel<K>;
    k.run = run_kernel<K>;
    k.destroy = destroy_kernel<K>;
    return k;
}

// ------------------------------------------------------------------ checks

// "F32 (4096, 7)" for messages.
std::string describe(const graft_tensor &t);

// An F32 tensor seen as rows of ne[0] floats: the outer dimensions must collapse into one
// (each stride the product of the ones below). Row i at data + i * stride floats.
struct F32Rows {
    float *data = nullptr;
    int64_t n = 0;      // ne[0]
    int64_t rows = 0;   // ne[1] * ne[2] * ne[3]
    int64_t stride = 0; // floats between rows
    float *row(int64_t i) const { return data + i * stride; }
};

// Checks `t` (called `what` in the message) and fills rows; ne0 < 0 accepts any ne[0].
// On failure records "<op>: <what> must be ..." and returns false.
bool f32_rows(const char *op, const char *what, const graft_tensor &t, int64_t ne0, F32Rows &rows);

// A 3-D F32 tensor (ne0, ne1, ne2) such as (head_dim, n_head, T), any strides that are
// whole floats, ne[3] = 1. Element (i0, i1, i2) at data + i0 + i1 * nb1 + i2 * nb2.
struct F32Heads {
    float *data = nullptr;
    int64_t ne0 = 0, ne1 = 0, ne2 = 0;
    int64_t nb1 = 0, nb2 = 0; // floats
    float *at(int64_t i1, int64_t i2) const { return data + i1 * nb1 + i2 * nb2; }
};

// Checks `t` against the expected sizes (-1 accepts any) and fills v.
bool f32_heads(const char *op, const char *what, const graft_tensor &t, int64_t ne0, int64_t ne1,
               int64_t ne2, F32Heads &v);

// An I32 vector of n elements (any shape whose element count is n, contiguous).
bool i32_vector(const char *op, const char *what, const graft_tensor &t, int64_t n,
                const int32_t *&data);

// Checks a weight matrix (n_in, n_out[, n_mat]) of a linear dtype and fills the Matrix of
// slice 0 (callers step by nb[2] for further slices).
bool weight_matrix(const char *op, const char *what, const graft_tensor &t, Matrix &m);

// An optional F32 vector of n elements (weights[index] when present); data is nullptr
// when absent.
bool optional_f32_vector(const char *op, const char *what, const graft_kernel_config &config,
                         uint32_t index, int64_t n, const float *&data);

// Counts of inputs and outputs.
bool arity(const char *op, const graft_kernel_call &call, uint32_t inputs, uint32_t outputs);

// Records a failure and returns false, for one-line checks: `if (x) return bad(...)`.
bool bad(const std::string &message);
inline graft_status invalid() {
    return GRAFT_ERR_INVALID_ARGUMENT;
}

} // namespace graft::amx_cpu
