// Host-side checks shared by the kernels of the cuda and marlin plugins: the shape of a
// call, tensor dtypes and contiguity, and launch errors. Compiled by nvcc and the host
// compiler alike.
#pragma once

#include "runtime.h"
#include "tensor_checks.h"

#include <graft/plugin.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>

namespace graft::cuda {

using gpu::check_call;
using gpu::check_tensor;
using gpu::check_weight;
using gpu::same_shape;

inline cudaStream_t stream_of(const graft_kernel_call *call) {
    return static_cast<cudaStream_t>(call->stream);
}

inline graft_status check_config(const graft_kernel_config *config, const char *op) {
    if (!config || config->struct_size < sizeof(graft_kernel_config))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         std::string(op) + ": missing or incompatible kernel config");
    if (!devices().find(config->device))
        return sdk::fail(GRAFT_ERR_NO_DEVICE, std::string(op) + ": no CUDA device with index " +
                                                  std::to_string(config->device));
    if (config->n_weights > 0 && !config->weights)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, std::string(op) + ": weights is NULL");
    return GRAFT_OK;
}

// After a launch: a bad configuration shows up in cudaGetLastError.
inline graft_status check_launch(const char *op) {
    return check(cudaGetLastError(), op);
}

// Blocks for a grid-stride loop over n elements.
inline unsigned grid_for(int64_t n, unsigned block) {
    const int64_t blocks = (n + block - 1) / block;
    return static_cast<unsigned>(blocks < (1 << 20) ? (blocks < 1 ? 1 : blocks) : (1 << 20));
}

} // namespace graft::cuda
