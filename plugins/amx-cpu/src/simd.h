// Small vector helpers shared by the fast kernels. Every variant has AVX2/FMA/F16C; the
// 512-bit helpers exist when the variant is built with AVX-512.
#pragma once

// GCC 12 reports the deliberately undefined vectors inside its AVX-512 intrinsics as
// uninitialised (GCC bug 105593) once they are inlined; the warnings point into the
// header, so silencing them for the header's lines keeps them on for ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <cstring>

// Fully unrolls the small loops over the rows and tokens of a micro-tile, so that its
// accumulator arrays live in registers (GCC's -O2 leaves such loops rolled and the arrays
// on the stack).
#define GRAFT_UNROLL _Pragma("GCC unroll 16")

namespace graft::amx_cpu::simd {

// How far ahead of the block being read the kernels prefetch a weight row (past a row's
// end: into the rows that follow, which the next micro-tile reads). The hardware
// prefetcher alone left decode at about 75% of the speed it reaches with this hint on the
// llama-1b shapes; 2 KiB measured better than 0.5 and 1 KiB and as good as 4 KiB (see
// docs/performance.md).
constexpr int kPrefetchBytes = 2048;

// Prefetches the `Bytes` bytes that follow p by kPrefetchBytes (one hint per cache line).
template <int Bytes> inline void prefetch_ahead(const void *p) {
    const char *q = static_cast<const char *>(p) + kPrefetchBytes;
    GRAFT_UNROLL
    for (int o = 0; o < Bytes; o += 64)
        _mm_prefetch(q + o, _MM_HINT_T0);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

inline __m256 load_f16x8(const void *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i *>(p)));
}

inline __m256 load_bf16x8(const void *p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(static_cast<const __m128i *>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

inline float f16_scalar(uint16_t h) {
    return _cvtsh_ss(h);
}

inline uint16_t load_u16(const void *p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

// e^x to about 1 ulp (Cephes' polynomial after range reduction by ln 2). Inputs are
// clamped to [-87.3, 88.3], so the result stays finite and normal: e^-87.3 ~ 1e-38 is
// "zero" for softmax and silu.
inline __m256 exp(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// silu(x) = x / (1 + e^-x)
inline __m256 silu(__m256 x) {
    const __m256 e = exp(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

#ifdef __AVX512F__
// (Not _mm512_reduce_add_ps: GCC 12 warns inside it about an "uninitialised" undefined
// vector.) Fold the 128-bit quarters onto each other, then finish in 128 bits.
inline float hsum(__m512 v) {
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    __m128 s = _mm512_castps512_ps128(v);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline __m512 load_f16x16(const void *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(static_cast<const __m256i *>(p)));
}

inline __m512 load_bf16x16(const void *p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(static_cast<const __m256i *>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

inline __m512 exp(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

inline __m512 silu(__m512 x) {
    const __m512 e = exp(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}
#endif

// Scalar e^x with the same polynomial, for tails.
inline float exp_scalar(float x) {
    return _mm256_cvtss_f32(exp(_mm256_set1_ps(x)));
}

} // namespace graft::amx_cpu::simd
