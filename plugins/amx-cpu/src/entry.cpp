// The two exported symbols. Built with baseline x86-64 flags (see CMakeLists.txt): the
// host calls them before it knows whether this CPU can run the variant's instructions.
// Nothing compiled for the variant's ISA runs until init has checked the CPU; the ISA
// translation units have no dynamic initialisers either (their tables are built inside
// plugin_table()).
#include "cpu_features.h"

#include <graft/plugin.h>

#ifndef GRAFT_AMX_CPU_VARIANT
#error "GRAFT_AMX_CPU_VARIANT must name the ISA variant (1 avx2, 2 avx512, 3 amx)"
#endif

namespace graft::amx_cpu {
// Defined in plugin.cpp (built with the variant's flags).
graft_status plugin_table(const graft_host_api *host, const graft_plugin **out, const char **error);
} // namespace graft::amx_cpu

namespace {

constexpr graft::amx_cpu::Variant kVariant =
    static_cast<graft::amx_cpu::Variant>(GRAFT_AMX_CPU_VARIANT);

const char *unsupported_message() {
    switch (kVariant) {
    case graft::amx_cpu::Variant::avx2:
        return "this CPU lacks AVX2/FMA/F16C/BMI2 (or the OS does not enable AVX state), which "
               "the avx2 variant of amx-cpu needs";
    case graft::amx_cpu::Variant::avx512:
        return "this CPU lacks AVX-512 F/BW/VL/DQ/VNNI (or the OS does not enable AVX-512 "
               "state), which the avx512 variant of amx-cpu needs";
    case graft::amx_cpu::Variant::amx:
        return "this CPU lacks AMX tiles/AVX512-BF16, or Linux did not grant AMX tile state "
               "(arch_prctl ARCH_REQ_XCOMP_PERM; kernel 5.16 or later), which the amx variant "
               "of amx-cpu needs";
    }
    return "unknown amx-cpu variant";
}

} // namespace

extern "C" GRAFT_PLUGIN_EXPORT uint32_t graft_plugin_score(void) {
    return graft::amx_cpu::score_this_machine(kVariant);
}

extern "C" GRAFT_PLUGIN_EXPORT graft_status graft_plugin_init(const graft_host_api *host,
                                                              const graft_plugin **out,
                                                              const char **error) {
    static const char *const kNoOut = "graft_plugin_init: out must not be null";
    if (!out) {
        if (error)
            *error = kNoOut;
        return GRAFT_ERR_INVALID_ARGUMENT;
    }
    if (graft::amx_cpu::score_this_machine(kVariant) == 0) {
        if (error)
            *error = unsupported_message();
        return GRAFT_ERR_UNSUPPORTED;
    }
    return graft::amx_cpu::plugin_table(host, out, error);
}
