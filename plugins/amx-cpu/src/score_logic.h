// Which ISA variant of amx-cpu can run on a CPU, as a pure function of CPUID bits.
//
// Kept free of intrinsics and of any instruction beyond baseline x86-64 so that it can be
// compiled into the plain-flags entry point of every variant and into the unit tests.
#pragma once

#include <cstdint>

namespace graft::amx_cpu {

enum class Variant : uint32_t { avx2 = 1, avx512 = 2, amx = 3 };

inline const char *variant_name(Variant v) {
    switch (v) {
    case Variant::avx2:
        return "avx2";
    case Variant::avx512:
        return "avx512";
    case Variant::amx:
        return "amx";
    }
    return "unknown";
}

// The raw registers the decision depends on.
struct CpuidRegs {
    uint32_t leaf1_ecx = 0;   // CPUID.(EAX=1):ECX
    uint32_t leaf7_ebx = 0;   // CPUID.(EAX=7,ECX=0):EBX
    uint32_t leaf7_ecx = 0;   // CPUID.(EAX=7,ECX=0):ECX
    uint32_t leaf7_edx = 0;   // CPUID.(EAX=7,ECX=0):EDX
    uint32_t leaf7_1_eax = 0; // CPUID.(EAX=7,ECX=1):EAX
    uint64_t xcr0 = 0;        // XGETBV(0); 0 when the OS has not enabled XSAVE
};

// Decoded features: the CPU has the instruction set AND the OS saves its registers.
struct IsaFeatures {
    bool avx2 = false, fma = false, f16c = false, bmi2 = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
    bool avx512_vnni = false, avx512_bf16 = false, avx_vnni = false;
    bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
    bool os_ymm = false;  // XCR0 enables SSE and AVX state
    bool os_zmm = false;  // XCR0 enables opmask, ZMM_Hi256 and Hi16_ZMM state
    bool os_tile = false; // XCR0 enables XTILECFG and XTILEDATA state
};

constexpr bool bit(uint64_t value, unsigned index) {
    return ((value >> index) & 1u) != 0;
}

constexpr IsaFeatures decode_features(const CpuidRegs &r) {
    IsaFeatures f;
    const bool osxsave = bit(r.leaf1_ecx, 27);
    const uint64_t xcr0 = osxsave ? r.xcr0 : 0;
    f.os_ymm = bit(xcr0, 1) && bit(xcr0, 2);
    f.os_zmm = f.os_ymm && bit(xcr0, 5) && bit(xcr0, 6) && bit(xcr0, 7);
    f.os_tile = bit(xcr0, 17) && bit(xcr0, 18);
    const bool avx = bit(r.leaf1_ecx, 28) && f.os_ymm;
    f.fma = avx && bit(r.leaf1_ecx, 12);
    f.f16c = avx && bit(r.leaf1_ecx, 29);
    f.avx2 = avx && bit(r.leaf7_ebx, 5);
    f.bmi2 = bit(r.leaf7_ebx, 8);
    f.avx512f = f.os_zmm && bit(r.leaf7_ebx, 16);
    f.avx512dq = f.avx512f && bit(r.leaf7_ebx, 17);
    f.avx512bw = f.avx512f && bit(r.leaf7_ebx, 30);
    f.avx512vl = f.avx512f && bit(r.leaf7_ebx, 31);
    f.avx512_vnni = f.avx512f && bit(r.leaf7_ecx, 11);
    f.avx512_bf16 = f.avx512f && bit(r.leaf7_1_eax, 5);
    f.avx_vnni = f.avx2 && bit(r.leaf7_1_eax, 4);
    f.amx_bf16 = f.os_tile && bit(r.leaf7_edx, 22);
    f.amx_tile = f.os_tile && bit(r.leaf7_edx, 24);
    f.amx_int8 = f.os_tile && bit(r.leaf7_edx, 25);
    return f;
}

// What each variant was compiled for (see plugins/amx-cpu/CMakeLists.txt).
constexpr bool supports(Variant v, const IsaFeatures &f, bool amx_permitted) {
    const bool haswell = f.avx2 && f.fma && f.f16c && f.bmi2;
    const bool skylake_vnni =
        haswell && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_vnni;
    switch (v) {
    case Variant::avx2:
        return haswell;
    case Variant::avx512:
        return skylake_vnni;
    case Variant::amx:
        return skylake_vnni && f.avx512_bf16 && f.amx_tile && f.amx_int8 && f.amx_bf16 &&
               amx_permitted;
    }
    return false;
}

// 0 = cannot run; otherwise higher for wider vectors and matrix units, so the host keeps
// the best variant that runs.
constexpr uint32_t variant_score(Variant v, const IsaFeatures &f, bool amx_permitted) {
    if (!supports(v, f, amx_permitted))
        return 0;
    switch (v) {
    case Variant::avx2:
        return 100;
    case Variant::avx512:
        return 200;
    case Variant::amx:
        return 300;
    }
    return 0;
}

} // namespace graft::amx_cpu
