// amx-cpu: which ISA variant may run, as a pure function of CPUID bits and XCR0. No
// variant may claim a CPU (or an OS) that lacks what it was compiled for.
#include "score_logic.h"

#include <gtest/gtest.h>

namespace graft::amx_cpu {
namespace {

constexpr uint32_t kOsxsave = 1u << 27, kAvx = 1u << 28, kFma = 1u << 12, kF16c = 1u << 29;
constexpr uint32_t kAvx2 = 1u << 5, kBmi2 = 1u << 8, kAvx512f = 1u << 16, kAvx512dq = 1u << 17,
                   kAvx512bw = 1u << 30, kAvx512vl = 1u << 31;
constexpr uint32_t kVnni = 1u << 11;                                              // leaf 7 ECX
constexpr uint32_t kAmxBf16 = 1u << 22, kAmxTile = 1u << 24, kAmxInt8 = 1u << 25; // leaf 7 EDX
constexpr uint32_t kAvxVnni = 1u << 4, kAvx512Bf16 = 1u << 5;                     // leaf 7.1 EAX
constexpr uint64_t kXcrYmm = 0x7, kXcrZmm = 0xe7, kXcrTile = 0x60000;

CpuidRegs haswell() {
    CpuidRegs r;
    r.leaf1_ecx = kOsxsave | kAvx | kFma | kF16c;
    r.leaf7_ebx = kAvx2 | kBmi2;
    r.xcr0 = kXcrYmm;
    return r;
}
CpuidRegs icelake() {
    CpuidRegs r = haswell();
    r.leaf7_ebx |= kAvx512f | kAvx512dq | kAvx512bw | kAvx512vl;
    r.leaf7_ecx |= kVnni;
    r.xcr0 = kXcrZmm;
    return r;
}
CpuidRegs sapphire_rapids() {
    CpuidRegs r = icelake();
    r.leaf7_edx |= kAmxBf16 | kAmxTile | kAmxInt8;
    r.leaf7_1_eax |= kAvxVnni | kAvx512Bf16;
    r.xcr0 |= kXcrTile;
    return r;
}

uint32_t score(Variant v, const CpuidRegs &r, bool amx_permitted = true) {
    return variant_score(v, decode_features(r), amx_permitted);
}

TEST(AmxCpuScore, HaswellRunsOnlyAvx2) {
    EXPECT_GT(score(Variant::avx2, haswell()), 0u);
    EXPECT_EQ(score(Variant::avx512, haswell()), 0u);
    EXPECT_EQ(score(Variant::amx, haswell()), 0u);
}

TEST(AmxCpuScore, BetterVariantsScoreHigher) {
    EXPECT_GT(score(Variant::avx512, icelake()), score(Variant::avx2, icelake()));
    EXPECT_EQ(score(Variant::amx, icelake()), 0u);
    const CpuidRegs spr = sapphire_rapids();
    EXPECT_GT(score(Variant::amx, spr), score(Variant::avx512, spr));
    EXPECT_GT(score(Variant::avx512, spr), score(Variant::avx2, spr));
}

TEST(AmxCpuScore, EachMissingFeatureDisqualifies) {
    for (uint32_t bit : {kAvx, kFma, kF16c}) {
        CpuidRegs r = haswell();
        r.leaf1_ecx &= ~bit;
        EXPECT_EQ(score(Variant::avx2, r), 0u) << "leaf 1 ECX bit " << bit;
    }
    for (uint32_t bit : {kAvx2, kBmi2}) {
        CpuidRegs r = haswell();
        r.leaf7_ebx &= ~bit;
        EXPECT_EQ(score(Variant::avx2, r), 0u) << "leaf 7 EBX bit " << bit;
    }
    for (uint32_t bit : {kAvx512f, kAvx512dq, kAvx512bw, kAvx512vl}) {
        CpuidRegs r = icelake();
        r.leaf7_ebx &= ~bit;
        EXPECT_EQ(score(Variant::avx512, r), 0u) << "leaf 7 EBX bit " << bit;
        EXPECT_GT(score(Variant::avx2, r), 0u);
    }
    CpuidRegs no_vnni = icelake();
    no_vnni.leaf7_ecx &= ~kVnni; // Skylake-X: AVX-512 without VNNI
    EXPECT_EQ(score(Variant::avx512, no_vnni), 0u);
    for (uint32_t bit : {kAmxBf16, kAmxTile, kAmxInt8}) {
        CpuidRegs r = sapphire_rapids();
        r.leaf7_edx &= ~bit;
        EXPECT_EQ(score(Variant::amx, r), 0u) << "leaf 7 EDX bit " << bit;
        EXPECT_GT(score(Variant::avx512, r), 0u);
    }
    CpuidRegs no_bf16 = sapphire_rapids();
    no_bf16.leaf7_1_eax &= ~kAvx512Bf16;
    EXPECT_EQ(score(Variant::amx, no_bf16), 0u);
}

// The CPU may have the instructions while the OS does not save their registers.
TEST(AmxCpuScore, OsStateIsRequired) {
    CpuidRegs no_osxsave = haswell();
    no_osxsave.leaf1_ecx &= ~kOsxsave;
    EXPECT_EQ(score(Variant::avx2, no_osxsave), 0u);

    CpuidRegs no_ymm = haswell();
    no_ymm.xcr0 = 0x3; // x87 + SSE only
    EXPECT_EQ(score(Variant::avx2, no_ymm), 0u);

    CpuidRegs no_zmm = icelake();
    no_zmm.xcr0 = kXcrYmm; // e.g. AVX-512 disabled by the kernel
    EXPECT_EQ(score(Variant::avx512, no_zmm), 0u);
    EXPECT_GT(score(Variant::avx2, no_zmm), 0u);

    CpuidRegs no_tile = sapphire_rapids();
    no_tile.xcr0 = kXcrZmm;
    EXPECT_EQ(score(Variant::amx, no_tile), 0u);
    EXPECT_GT(score(Variant::avx512, no_tile), 0u);

    // Linux refuses the AMX tile state until the process asks (arch_prctl).
    EXPECT_EQ(score(Variant::amx, sapphire_rapids(), /*amx_permitted=*/false), 0u);
}

TEST(AmxCpuScore, DecodeReadsTheDocumentedBits) {
    const IsaFeatures f = decode_features(sapphire_rapids());
    EXPECT_TRUE(f.avx2 && f.fma && f.f16c && f.bmi2);
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_vnni &&
                f.avx512_bf16);
    EXPECT_TRUE(f.avx_vnni && f.amx_tile && f.amx_int8 && f.amx_bf16);
    const IsaFeatures none = decode_features(CpuidRegs{});
    EXPECT_FALSE(none.avx2 || none.avx512f || none.amx_tile || none.os_ymm);
}

} // namespace
} // namespace graft::amx_cpu
