// Facts about the machine: CPUID, the OS's register-state support, core count, memory.
//
// Compiled with baseline x86-64 flags only (see CMakeLists.txt): graft_plugin_score and
// graft_plugin_init call these before anything built for the variant's ISA may run.
#pragma once

#include "score_logic.h"

#include <cstdint>
#include <string>

namespace graft::amx_cpu {

// Reads the CPUID leaves and XCR0 that decode_features needs.
CpuidRegs read_cpuid();

// Asks Linux for permission to use the AMX tile data state (arch_prctl
// ARCH_REQ_XCOMP_PERM). True when granted (or already granted) for this process.
bool request_amx_permission();

// decode_features(read_cpuid()) plus, for the AMX variant, the permission request.
uint32_t score_this_machine(Variant variant);

// "AMD EPYC 7B13" from the CPUID brand string; "x86-64 CPU" when there is none.
std::string cpu_brand();

// Physical cores usable by this process (threads sharing a core count once); at least 1.
int physical_cores();

// MemTotal and MemAvailable from /proc/meminfo in bytes; 0 when unknown.
void host_memory(uint64_t &total, uint64_t &available);

} // namespace graft::amx_cpu

namespace graft::amx_cpu {
// This machine's decoded features, read once.
const IsaFeatures &cpu_isa();
} // namespace graft::amx_cpu
