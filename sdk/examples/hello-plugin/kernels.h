// Kernels of the example plugin: plain loops, easy to read, correct on any x86-64 CPU.
#pragma once

#include <graft/plugin.h>

namespace hello {

struct KernelTable {
    const graft_kernel *data;
    uint32_t size;
};

// The kernel table: add, swiglu and a naive linear for F32 weights.
KernelTable kernel_table();

} // namespace hello
