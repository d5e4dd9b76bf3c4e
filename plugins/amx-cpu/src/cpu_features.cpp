// Built without the variant's ISA flags: everything here runs before the CPU is known
// to support them.
#include "cpu_features.h"

#include <cpuid.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

namespace graft::amx_cpu {

namespace {

uint64_t read_xcr0() {
    uint32_t eax = 0, edx = 0;
    // XGETBV with ECX = 0; only executed when CPUID reports OSXSAVE.
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

} // namespace

CpuidRegs read_cpuid() {
    CpuidRegs r;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const unsigned max_leaf = __get_cpuid_max(0, nullptr);
    if (max_leaf >= 1 && __get_cpuid(1, &eax, &ebx, &ecx, &edx))
        r.leaf1_ecx = ecx;
    if (max_leaf >= 7 && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
        r.leaf7_ebx = ebx;
        r.leaf7_ecx = ecx;
        r.leaf7_edx = edx;
        const unsigned max_sub = eax;
        if (max_sub >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx))
            r.leaf7_1_eax = eax;
    }
    if (bit(r.leaf1_ecx, 27))
        r.xcr0 = read_xcr0();
    return r;
}

bool request_amx_permission() {
#if defined(__linux__) && defined(SYS_arch_prctl)
    constexpr long kArchGetXcompPerm = 0x1022;
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr unsigned long kXfeatureXtiledata = 18;
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0)
        return false;
    unsigned long granted = 0;
    if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &granted) != 0)
        return false;
    return (granted >> kXfeatureXtiledata) & 1u;
#else
    return false;
#endif
}

uint32_t score_this_machine(Variant variant) {
    const IsaFeatures f = decode_features(read_cpuid());
    bool amx_permitted = false;
    if (variant == Variant::amx && f.amx_tile)
        amx_permitted = request_amx_permission();
    return variant_score(variant, f, amx_permitted);
}

std::string cpu_brand() {
    unsigned regs[12] = {};
    if (__get_cpuid_max(0x80000000u, nullptr) < 0x80000004u)
        return "x86-64 CPU";
    for (unsigned i = 0; i < 3; ++i)
        __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2],
                    &regs[4 * i + 3]);
    char text[49] = {};
    std::memcpy(text, regs, 48);
    std::string brand(text);
    // Trim the padding some vendors put around the name.
    const auto first = brand.find_first_not_of(' ');
    const auto last = brand.find_last_not_of(' ');
    if (first == std::string::npos)
        return "x86-64 CPU";
    return brand.substr(first, last - first + 1);
}

int physical_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return std::max(1u, std::thread::hardware_concurrency());
    std::set<std::pair<int, int>> cores; // (package, core) of each allowed logical CPU
    int logical = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        ++logical;
        const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        std::ifstream pkg(base + "physical_package_id"), core(base + "core_id");
        int p = -1, c = -1;
        if (!(pkg >> p) || !(core >> c))
            return logical > 0 ? CPU_COUNT(&set) : 1; // no topology: count logical CPUs
        cores.insert({p, c});
    }
    return std::max<int>(1, static_cast<int>(cores.size()));
}

void host_memory(uint64_t &total, uint64_t &available) {
    total = available = 0;
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string key;
        uint64_t kib = 0;
        if (!(fields >> key >> kib))
            continue;
        if (key == "MemTotal:")
            total = kib * 1024;
        else if (key == "MemAvailable:")
            available = kib * 1024;
    }
}

} // namespace graft::amx_cpu

namespace graft::amx_cpu {
const IsaFeatures &cpu_isa() {
    static const IsaFeatures features = decode_features(read_cpuid());
    return features;
}
} // namespace graft::amx_cpu
