// The kernel table's entries, one function per op family (fast kernel and its reference).
#pragma once

#include <graft/plugin.h>

#include <vector>

namespace graft::amx_cpu {

struct KernelLists {
    std::vector<graft_kernel> fast; // impl "<op>": the table lists these first
    std::vector<graft_kernel> ref;  // impl "<op>_ref"
};

void add_embedding_kernels(KernelLists &lists);
void add_rmsnorm_kernels(KernelLists &lists);
void add_rope_kernels(KernelLists &lists);
void add_linear_kernels(KernelLists &lists);
void add_attention_kernels(KernelLists &lists);
void add_attention_mla_kernels(KernelLists &lists); // attention_mla, linear_heads
void add_router_kernels(KernelLists &lists);
void add_moe_kernels(KernelLists &lists);
void add_elementwise_kernels(KernelLists &lists); // swiglu, add

} // namespace graft::amx_cpu
