// add and swiglu for AMD GPUs: one thread per element, grid-stride loops.
#include <hip/hip_runtime.h>

#include "kernels.h"

namespace graft::rocm {
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

constexpr unsigned kBlock = 256;

dim3 grid_for(int64_t n) {
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    return dim3(static_cast<unsigned>(blocks < 1 ? 1 : (blocks < (1 << 20) ? blocks : (1 << 20))));
}

} // namespace

hipError_t launch_add(const float *a, const float *b, float *y, int64_t n, hipStream_t stream) {
    hipLaunchKernelGGL(add_f32, grid_for(n), dim3(kBlock), 0, stream, a, b, y, n);
    return hipGetLastError();
}

hipError_t launch_swiglu(const float *gate, const float *up, float *y, int64_t n,
                         hipStream_t stream) {
    hipLaunchKernelGGL(swiglu_f32, grid_for(n), dim3(kBlock), 0, stream, gate, up, y, n);
    return hipGetLastError();
}

} // namespace graft::rocm
