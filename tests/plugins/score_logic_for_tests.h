// The plugin's pure CPUID decision logic, and this machine's CPUID read the plain way.
#pragma once

#include "../../plugins/amx-cpu/src/score_logic.h"

#include <cpuid.h>

namespace graft::test {

inline amx_cpu::IsaFeatures this_cpu_features() {
    amx_cpu::CpuidRegs r;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d))
        r.leaf1_ecx = c;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        r.leaf7_ebx = b;
        r.leaf7_ecx = c;
        r.leaf7_edx = d;
        if (a >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d))
            r.leaf7_1_eax = a;
    }
    if (r.leaf1_ecx & (1u << 27)) {
        unsigned lo = 0, hi = 0;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        r.xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
    }
    return amx_cpu::decode_features(r);
}

} // namespace graft::test
