// The kernels of the marlin plugin.
#pragma once

#include <graft/plugin.h>

namespace graft::marlin {

graft_kernel linear_kernel(); // linear.cu: int4 (Q4_0, Q4_K) x F32 on tensor cores

} // namespace graft::marlin
