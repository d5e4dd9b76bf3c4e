// The kernels of the cuda plugin, one op family per file; plugin.cpp lists them.
#pragma once

#include <graft/plugin.h>

namespace graft::cuda {

graft_kernel add_kernel();       // elementwise.cu
graft_kernel swiglu_kernel();    // elementwise.cu
graft_kernel rmsnorm_kernel();   // rmsnorm.cu
graft_kernel rope_kernel();      // rope.cu
graft_kernel embedding_kernel(); // embedding.cu
graft_kernel linear_kernel();    // linear.cu
graft_kernel attention_kernel(); // attention.cu

} // namespace graft::cuda
