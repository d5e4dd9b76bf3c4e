// Launchers of the HIP kernels (elementwise.hip, built by hipcc for every offload target);
// plugin.cpp, built by the host compiler, calls them.
#pragma once

#include <hip/hip_runtime_api.h>

#include <cstdint>

namespace graft::rocm {

hipError_t launch_add(const float *a, const float *b, float *y, int64_t n, hipStream_t stream);
hipError_t launch_swiglu(const float *gate, const float *up, float *y, int64_t n,
                         hipStream_t stream);

} // namespace graft::rocm
