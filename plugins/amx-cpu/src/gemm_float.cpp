// F32, F16 and BF16 weights. The weights are widened to f32 in registers and meet the
// activations in FMAs (F32 accumulation). F32 and F16 weights meet the f32 activations as
// given; BF16 weights meet activations rounded to bf16 on every CPU, as llama.cpp rounds
// them before its BF16 dot products (results then agree to summation order, where f32
// activations would differ by the rounding, ~3e-3 of the logits). Where the CPU has
// AVX512-BF16 the product runs in vdpbf16ps: a quarter of the instructions.
#include "cpu_features.h"
#include "gemm_tile.h"
#include "simd.h"

#include <graft/plugin.hpp>

namespace graft::amx_cpu {

namespace {

enum class Elem { f32, f16, bf16 };

inline float scalar_at(Elem e, const uint8_t *row, int64_t k) {
    switch (e) {
    case Elem::f32: {
        float v;
        std::memcpy(&v, row + 4 * k, 4);
        return v;
    }
    case Elem::f16:
        return sdk::fp16_to_fp32(simd::load_u16(row + 2 * k));
    case Elem::bf16:
        return sdk::bf16_to_fp32(simd::load_u16(row + 2 * k));
    }
    return 0.0f;
}

#ifdef __AVX512F__
constexpr int kStep = 16;
using VecF = __m512;

template <Elem E> inline __m512 load_w(const uint8_t *row, int64_t k) {
    if constexpr (E == Elem::f32)
        return _mm512_loadu_ps(row + 4 * k);
    else if constexpr (E == Elem::f16)
        return simd::load_f16x16(row + 2 * k);
    else
        return simd::load_bf16x16(row + 2 * k);
}
template <Elem E> inline __m512 load_w_masked(const uint8_t *row, int64_t k, __mmask16 m) {
    if constexpr (E == Elem::f32) {
        return _mm512_maskz_loadu_ps(m, row + 4 * k);
    } else {
        const __m256i h = _mm256_maskz_loadu_epi16(m, row + 2 * k);
        if constexpr (E == Elem::f16)
            return _mm512_cvtph_ps(h);
        else
            return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
}
#else
constexpr int kStep = 8;
using VecF = __m256;

template <Elem E> inline __m256 load_w(const uint8_t *row, int64_t k) {
    if constexpr (E == Elem::f32)
        return _mm256_loadu_ps(reinterpret_cast<const float *>(row + 4 * k));
    else if constexpr (E == Elem::f16)
        return simd::load_f16x8(row + 2 * k);
    else
        return simd::load_bf16x8(row + 2 * k);
}
#endif

// Activations are f32 rows, or (A == Elem::bf16) prepared bf16 rows zero-padded to 64 bytes.
template <Elem E, Elem A, int RR, int CC>
void float_dot(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
    VecF acc[RR][CC];
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        acc[r][c] = VecF{};
    const int64_t n_full = n_in / kStep * kStep;
    for (int64_t k = 0; k < n_full; k += kStep) {
        VecF av[CC];
        GRAFT_UNROLL
        for (int c = 0; c < CC; ++c)
            av[c] = load_w<A>(a[c], k);
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r) {
            const VecF wv = load_w<E>(w[r], k);
            GRAFT_UNROLL
            for (int c = 0; c < CC; ++c) {
#ifdef __AVX512F__
                acc[r][c] = _mm512_fmadd_ps(wv, av[c], acc[r][c]);
#else
                acc[r][c] = _mm256_fmadd_ps(wv, av[c], acc[r][c]);
#endif
            }
        }
    }
#ifdef __AVX512F__
    if (n_full < n_in) {
        const __mmask16 m = static_cast<__mmask16>((1u << (n_in - n_full)) - 1u);
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r) {
            const __m512 wv = load_w_masked<E>(w[r], n_full, m);
            GRAFT_UNROLL
            for (int c = 0; c < CC; ++c)
                acc[r][c] = _mm512_fmadd_ps(wv, load_w_masked<A>(a[c], n_full, m), acc[r][c]);
        }
    }
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        out[r * CC + c] = simd::hsum(acc[r][c]);
#else
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r) {
        GRAFT_UNROLL
        for (int c = 0; c < CC; ++c) {
            float s = simd::hsum(acc[r][c]);
            for (int64_t k = n_full; k < n_in; ++k)
                s += scalar_at(E, w[r], k) * scalar_at(A, a[c], k);
            out[r * CC + c] = s;
        }
    }
#endif
}

#ifdef __AVX512F__
constexpr int kRows = 4, kCols = 4, kRowsGemv = 4;
#define FLOAT_SUFFIX "-avx512"
#else
constexpr int kRows = 4, kCols = 2, kRowsGemv = 4;
#define FLOAT_SUFFIX "-avx2"
#endif

template <Elem E, Elem A> struct MicroFloat {
    static constexpr int R = kRows, C = kCols, R1 = kRowsGemv;
    template <int RR, int CC>
    static void run(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
        float_dot<E, A, RR, CC>(w, a, n_in, out);
    }
};

constexpr GemmKernel kF32 = {"f32" FLOAT_SUFFIX, ActKind::f32, 0,
                             run_tiles<MicroFloat<Elem::f32, Elem::f32>>, kRows};
constexpr GemmKernel kF16 = {"f16" FLOAT_SUFFIX, ActKind::f32, 0,
                             run_tiles<MicroFloat<Elem::f16, Elem::f32>>, kRows};
constexpr GemmKernel kBF16 = {"bf16" FLOAT_SUFFIX, ActKind::bf16, 0,
                              run_tiles<MicroFloat<Elem::bf16, Elem::bf16>>, kRows};

#ifdef __AVX512F__
// vdpbf16ps: compiled for AVX512-BF16 inside this region only, and reached only when
// the CPU reports it (cpu_isa().avx512_bf16).
#pragma GCC push_options
#pragma GCC target("avx512bf16")

template <int RR, int CC>
void bf16_dp(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
    __m512 acc[RR][CC];
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        acc[r][c] = _mm512_setzero_ps();
    for (int64_t k = 0; k < n_in; k += 32) {
        // Activation rows are zero-padded to 64 bytes; weight rows are not.
        const __mmask32 m =
            n_in - k >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << (n_in - k)) - 1u);
        __m512i av[CC];
        GRAFT_UNROLL
        for (int c = 0; c < CC; ++c)
            av[c] = _mm512_loadu_si512(a[c] + 2 * k);
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r) {
            const __m512i wv = _mm512_maskz_loadu_epi16(m, w[r] + 2 * k);
            GRAFT_UNROLL
            for (int c = 0; c < CC; ++c)
                acc[r][c] = _mm512_dpbf16_ps(acc[r][c], (__m512bh)av[c], (__m512bh)wv);
        }
    }
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        out[r * CC + c] = simd::hsum(acc[r][c]);
}

struct MicroBf16Dp {
    static constexpr int R = 4, C = 4, R1 = 4;
    template <int RR, int CC>
    static void run(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
        bf16_dp<RR, CC>(w, a, n_in, out);
    }
};

void tile_bf16_dp(const Matrix &w, const ActRows &a, int64_t r0, int64_t r1, int64_t t0, int64_t t1,
                  const OutRows &y, float *scratch) {
    run_tiles<MicroBf16Dp>(w, a, r0, r1, t0, t1, y, scratch);
}

#pragma GCC pop_options

constexpr GemmKernel kBF16Dp = {"bf16-avx512bf16", ActKind::bf16, 0, tile_bf16_dp, 4};
#endif

} // namespace

const GemmKernel *gemm_float_kernel(graft_dtype dtype) {
    switch (dtype) {
    case GRAFT_DTYPE_F32:
        return &kF32;
    case GRAFT_DTYPE_F16:
        return &kF16;
    case GRAFT_DTYPE_BF16:
#ifdef __AVX512F__
        if (cpu_isa().avx512_bf16)
            return &kBF16Dp;
#endif
        return &kBF16;
    default:
        return nullptr;
    }
}

} // namespace graft::amx_cpu
