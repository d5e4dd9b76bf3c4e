// Q4_0 and Q8_0 weights times q8_32 activations with integer dot products.
//
// Per 32-block: an int32 dot of the weight quants and the activation quants, converted to
// float and scaled by d_w * d_a. Unsigned weights use maddubs (AVX2) or dpbusd (VNNI);
// their offset (8 for Q4_0's 0..15, 128 for Q8_0 stored as w ^ 0x80) is removed by the
// activation's per-lane correction sums, so no per-block fix-up is needed. AVX2's Q8_0
// keeps the sign trick instead, because maddubs would saturate on 255 * 127 * 2.
// AVX-512 handles two blocks per 512-bit vector and one 256-bit block at an odd tail.
#include "gemm_tile.h"
#include "simd.h"

#include <graft/quants.h>

namespace graft::amx_cpu {

namespace {

using quants::BlockQ4_0;
using quants::BlockQ8_0;

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
constexpr bool kVnni = true;
#else
constexpr bool kVnni = false;
#endif

struct ActQ8 {
    const int8_t *qs;
    const float *d;
    const int32_t *corr;
};

inline ActQ8 act_q8(const uint8_t *row, int64_t n_in) {
    return {reinterpret_cast<const int8_t *>(row),
            reinterpret_cast<const float *>(row + q8_32_d_offset(n_in)),
            reinterpret_cast<const int32_t *>(row + q8_32_corr_offset(n_in))};
}

// sum over lanes of 4 bytes of u8 * s8, plus init.
inline __m256i dot_u8s8(__m256i init, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(init, u, s);
#else
    return _mm256_add_epi32(init,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// 32 nibbles of a Q4_0 block as bytes 0..15 in element order.
inline __m256i unpack_q4(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i *>(qs));
    const __m256i both = _mm256_setr_m128i(raw, _mm_srli_epi16(raw, 4));
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

inline const BlockQ4_0 *q4_blocks(const uint8_t *row) {
    return reinterpret_cast<const BlockQ4_0 *>(row);
}
inline const BlockQ8_0 *q8_blocks(const uint8_t *row) {
    return reinterpret_cast<const BlockQ8_0 *>(row);
}

#ifdef __AVX512F__
inline __m512 pair_ps(float a, float b) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(a)), _mm256_set1_ps(b), 1);
}
inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
#endif

#ifndef __AVX512F__
// One row times one token (decode on AVX2): two blocks per iteration into two accumulators,
// so that consecutive blocks' FMAs do not wait on each other's latency.
template <class Weights> float q8_row_dot(const uint8_t *w, const ActQ8 &act, int64_t nb) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const auto dot = [&](int64_t b, __m256 acc) {
        float dw;
        const typename Weights::Block256 q = Weights::load256(w, b, dw);
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(act.qs + 32 * b));
        const __m256i cv = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(act.corr + 8 * b));
        const __m256i p = Weights::dot256(q, av, cv);
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * act.d[b]), acc);
    };
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        simd::prefetch_ahead<2 * Weights::kBlockBytes>(w + b * Weights::kBlockBytes);
        acc0 = dot(b, acc0);
        acc1 = dot(b + 1, acc1);
    }
    if (b < nb)
        acc0 = dot(b, acc0);
    return simd::hsum(_mm256_add_ps(acc0, acc1));
}
#endif

// Shared block loop: Weights::load(row, b) gives the unsigned quants of block b (or the
// sign-trick pair) and its scale.
template <class Weights, int RR, int CC>
void q8_dot(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
    const int64_t nb = n_in / 32;
#ifndef __AVX512F__
    // Q4_0 only: its decode is bound by this loop's arithmetic (+8-21% decode measured),
    // Q8_0's by memory (+5%, within noise), and a changed summation order moves logits by
    // float rounding, which can break a near tie in the conformance tests' greedy runs.
    if constexpr (RR == 1 && CC == 1 && Weights::kTwoAccumulatorGemv) {
        out[0] = q8_row_dot<Weights>(w[0], act_q8(a[0], n_in), nb);
        return;
    }
#endif
    ActQ8 act[CC];
    GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        act[c] = act_q8(a[c], n_in);
    int64_t b = 0;
#ifdef __AVX512F__
    __m512 acc[RR][CC];
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        acc[r][c] = _mm512_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        __m512i q[RR];
        __m512 dw[RR];
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r) {
            simd::prefetch_ahead<2 * Weights::kBlockBytes>(w[r] + b * Weights::kBlockBytes);
            float d0, d1;
            const __m256i q0 = Weights::load_offset(w[r], b, d0);
            const __m256i q1 = Weights::load_offset(w[r], b + 1, d1);
            q[r] = join(q0, q1);
            dw[r] = pair_ps(d0, d1);
        }
        GRAFT_UNROLL
        for (int c = 0; c < CC; ++c) {
            const __m512i av = _mm512_loadu_si512(act[c].qs + 32 * b);
            const __m512i cv = _mm512_loadu_si512(act[c].corr + 8 * b);
            const __m512 da = pair_ps(act[c].d[b], act[c].d[b + 1]);
            GRAFT_UNROLL
            for (int r = 0; r < RR; ++r) {
                const __m512i p = _mm512_dpbusd_epi32(cv, q[r], av);
                acc[r][c] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw[r], da), acc[r][c]);
            }
        }
    }
    float tail[RR][CC] = {};
    for (; b < nb; ++b) {
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r) {
            float dw;
            const __m256i q = Weights::load_offset(w[r], b, dw);
            GRAFT_UNROLL
            for (int c = 0; c < CC; ++c) {
                const __m256i av =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i *>(act[c].qs + 32 * b));
                const __m256i cv =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i *>(act[c].corr + 8 * b));
                tail[r][c] += static_cast<float>(simd::hsum_i32(_mm256_dpbusd_epi32(cv, q, av))) *
                              dw * act[c].d[b];
            }
        }
    }
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        out[r * CC + c] = simd::hsum(acc[r][c]) + tail[r][c];
#else
    __m256 acc[RR][CC];
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        acc[r][c] = _mm256_setzero_ps();
    for (; b < nb; ++b) {
        typename Weights::Block256 q[RR];
        float dw[RR];
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r) {
            simd::prefetch_ahead<Weights::kBlockBytes>(w[r] + b * Weights::kBlockBytes);
            q[r] = Weights::load256(w[r], b, dw[r]);
        }
        GRAFT_UNROLL
        for (int c = 0; c < CC; ++c) {
            const __m256i av =
                _mm256_loadu_si256(reinterpret_cast<const __m256i *>(act[c].qs + 32 * b));
            const __m256i cv =
                _mm256_loadu_si256(reinterpret_cast<const __m256i *>(act[c].corr + 8 * b));
            const float da = act[c].d[b];
            GRAFT_UNROLL
            for (int r = 0; r < RR; ++r) {
                const __m256i p = Weights::dot256(q[r], av, cv);
                acc[r][c] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw[r] * da), acc[r][c]);
            }
        }
    }
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        out[r * CC + c] = simd::hsum(acc[r][c]);
#endif
}

struct Q4_0Weights {
    static constexpr int kBlockBytes = sizeof(BlockQ4_0);
    static constexpr bool kTwoAccumulatorGemv = true; // see q8_dot
    // Unsigned quants 0..15 (offset 8 removed by the activation's correction lanes).
    static __m256i load_offset(const uint8_t *row, int64_t b, float &d) {
        const BlockQ4_0 *blk = q4_blocks(row) + b;
        d = simd::f16_scalar(simd::load_u16(&blk->d));
        return unpack_q4(blk->qs);
    }
    using Block256 = __m256i;
    static __m256i load256(const uint8_t *row, int64_t b, float &d) {
        return load_offset(row, b, d);
    }
    static __m256i dot256(__m256i q, __m256i av, __m256i cv) { return dot_u8s8(cv, q, av); }
};

struct Q8_0Weights {
    static constexpr int kBlockBytes = sizeof(BlockQ8_0);
    static constexpr bool kTwoAccumulatorGemv = false;
    // 512-bit path: w + 128 as unsigned; the activation lanes carry -128 * sum(a).
    static __m256i load_offset(const uint8_t *row, int64_t b, float &d) {
        const BlockQ8_0 *blk = q8_blocks(row) + b;
        d = simd::f16_scalar(simd::load_u16(&blk->d));
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk->qs));
        return _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80)));
    }
    // 256-bit path: |w| and w for the sign trick (no offset).
    struct Block256 {
        __m256i abs, sign;
    };
    static Block256 load256(const uint8_t *row, int64_t b, float &d) {
        const BlockQ8_0 *blk = q8_blocks(row) + b;
        d = simd::f16_scalar(simd::load_u16(&blk->d));
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk->qs));
        return {_mm256_sign_epi8(w, w), w};
    }
    static __m256i dot256(const Block256 &q, __m256i av, __m256i cv) {
        return dot_u8s8(cv, q.abs, _mm256_sign_epi8(av, q.sign));
    }
};

// Decode (one token) walks one weight row at a time on AVX2: with four rows in flight the
// reads formed four short streams that restart at every row end (a 2048-wide Q4_0 row is
// 1152 bytes), and decode ran at 0.65-0.9x llama.cpp's one-row loops; one row plus the
// software prefetch made it 1.5-2x faster on the llama-1b shapes (see
// docs/performance.md). The AVX-512 shape is unmeasured on such a machine and unchanged.
// Prefill tiles are 2 rows x 4 tokens: faster than 2 x 3 in every interleaved round of the
// kernel benchmark at 256 tokens (2 x 5 and 3 x 3 were slower: they spill on AVX2's 16
// registers).
#ifdef __AVX512F__
constexpr int kRows = 4, kCols = 4, kRowsGemv = 4;
#else
constexpr int kRows = 2, kCols = 4, kRowsGemv = 1;
#endif

template <class Weights> struct Micro {
    static constexpr int R = kRows, C = kCols, R1 = kRowsGemv;
    template <int RR, int CC>
    static void run(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
        q8_dot<Weights, RR, CC>(w, a, n_in, out);
    }
};

#ifdef __AVX512F__
constexpr GemmKernel kQ4_0 = {"q4_0-avx512vnni", ActKind::q8_32, 8, run_tiles<Micro<Q4_0Weights>>,
                              4};
constexpr GemmKernel kQ8_0 = {"q8_0-avx512vnni", ActKind::q8_32, 128, run_tiles<Micro<Q8_0Weights>>,
                              4};
#else
constexpr GemmKernel kQ4_0 = {kVnni ? "q4_0-avxvnni" : "q4_0-avx2", ActKind::q8_32, 8,
                              run_tiles<Micro<Q4_0Weights>>, 4};
constexpr GemmKernel kQ8_0 = {kVnni ? "q8_0-avxvnni" : "q8_0-avx2", ActKind::q8_32, 0,
                              run_tiles<Micro<Q8_0Weights>>, 4};
#endif

} // namespace

const GemmKernel *gemm_q8_kernel(graft_dtype dtype) {
    switch (dtype) {
    case GRAFT_DTYPE_Q4_0:
        return &kQ4_0;
    case GRAFT_DTYPE_Q8_0:
        return &kQ8_0;
    default:
        return nullptr;
    }
}

} // namespace graft::amx_cpu
