// Checks of kernel calls and tensors that every GPU plugin of this tree makes the same way
// (cuda, marlin, rocm): the shape of a call, dtypes, device and contiguity. Header-only and
// free of vendor headers.
#pragma once

#include <graft/plugin.hpp>

#include <cstdint>
#include <string>

namespace graft::gpu {

inline graft_status check_call(const graft_kernel_call *call, uint32_t n_inputs, uint32_t n_outputs,
                               const char *op) {
    if (!call || call->struct_size < sizeof(graft_kernel_call))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         std::string(op) + ": missing or incompatible kernel call");
    if (call->n_inputs < n_inputs || (n_inputs > 0 && !call->inputs))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         std::string(op) + ": expects " + std::to_string(n_inputs) + " inputs");
    if (call->n_outputs < n_outputs || (n_outputs > 0 && !call->outputs))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         std::string(op) + ": expects " + std::to_string(n_outputs) + " outputs");
    return GRAFT_OK;
}

// A tensor the kernel reads or writes: on `device`, contiguous, of dtype `dtype`.
inline graft_status check_tensor(const graft_tensor &t, graft_dtype dtype, uint32_t device,
                                 const char *op, const char *what) {
    const std::string where = std::string(op) + ": " + what;
    if (t.dtype != dtype)
        return sdk::fail(GRAFT_ERR_UNSUPPORTED, where + " must be " + sdk::dtype_name(dtype) +
                                                    ", not " + sdk::dtype_name(t.dtype));
    if (t.n_dims < 1 || t.n_dims > GRAFT_MAX_DIMS)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, where + " has a bad n_dims");
    for (int i = 0; i < GRAFT_MAX_DIMS; ++i)
        if (t.ne[i] < 1)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, where + " has an empty dimension");
    if (!t.data)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, where + " has no data");
    if (t.device != device)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         where + " lives on device " + std::to_string(t.device) +
                             ", the kernel on " + std::to_string(device));
    if (sdk::row_bytes(t.dtype, t.ne[0]) == 0)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         where + ": ne[0] is not a multiple of the dtype's block size");
    if (!sdk::is_contiguous(t))
        return sdk::fail(GRAFT_ERR_UNSUPPORTED, where + " must be contiguous");
    return GRAFT_OK;
}

// Same, for a weight whose dtype the caller checked against its own table.
inline graft_status check_weight(const graft_tensor &t, uint32_t device, const char *op,
                                 const char *what) {
    return check_tensor(t, t.dtype, device, op, what);
}

inline bool same_shape(const graft_tensor &a, const graft_tensor &b) {
    for (int i = 0; i < GRAFT_MAX_DIMS; ++i)
        if (a.ne[i] != b.ne[i])
            return false;
    return true;
}

} // namespace graft::gpu
