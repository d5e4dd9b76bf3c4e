// Q4_K, Q5_K and Q6_K weights times q8_256 activations with integer dot products.
//
// Per 256-element super-block and (row, token): the unsigned weight quants meet the int8
// activations in maddubs (u8 x s8 -> pairs of int16, no saturation for quants below 64),
// madd multiplies the pair sums by the sub-block scale into int32 lanes, and the lanes are
// converted to float once per super-block with d_w * d_a. The min (Q4_K/Q5_K) and the -32
// offset (Q6_K) are applied once per super-block through the activation's sums of 16.
#include "gemm_tile.h"
#include "simd.h"

#include <graft/quants.h>

#include <cstring>

namespace graft::amx_cpu {

namespace {

using quants::BlockQ4_K;
using quants::BlockQ5_K;
using quants::BlockQ6_K;

struct ActQ8K {
    const int8_t *qs;
    const float *d;
    const int16_t *bsums;
};

inline ActQ8K act_q8k(const uint8_t *row, int64_t n_in) {
    return {reinterpret_cast<const int8_t *>(row),
            reinterpret_cast<const float *>(row + q8_256_d_offset(n_in)),
            reinterpret_cast<const int16_t *>(row + q8_256_bsums_offset(n_in))};
}

inline __m256i load256(const void *p) {
    return _mm256_loadu_si256(static_cast<const __m256i *>(p));
}

inline __m256i mul_sum(__m256i q, __m256i a, __m256i scale16) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), scale16);
}

// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block (see quants::k_scale_min),
// unpacked four at a time with 32-bit masks; byte j of sc/m belongs to sub-block j.
struct KScales {
    uint64_t sc, m;
};

inline KScales unpack_k_scales(const uint8_t *s) {
    uint32_t u0, u1, u2;
    std::memcpy(&u0, s, 4);
    std::memcpy(&u1, s + 4, 4);
    std::memcpy(&u2, s + 8, 4);
    const uint32_t sc_lo = u0 & 0x3f3f3f3fu;
    const uint32_t m_lo = u1 & 0x3f3f3f3fu;
    const uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
    const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
    return {sc_lo | static_cast<uint64_t>(sc_hi) << 32, m_lo | static_cast<uint64_t>(m_hi) << 32};
}

// Eight bytes as int16 in both 128-bit halves, ready for broadcast_lane.
inline __m256i bytes_to_i16x2(uint64_t bytes) {
    return _mm256_broadcastsi128_si256(
        _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(bytes))));
}

// int16 lane k (0..7) of v (as from bytes_to_i16x2) in all sixteen lanes: one shuffle.
inline __m256i broadcast_lane(__m256i v, int k) {
    return _mm256_shuffle_epi8(v,
                               _mm256_set1_epi16(static_cast<short>((2 * k) | ((2 * k + 1) << 8))));
}

// Mins duplicated per pair of 16-sums: (m0, m0, m1, m1, ..., m7, m7) as int16.
inline __m256i mins_per_16(const KScales &k) {
    const __m128i m = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(k.m)));
    return _mm256_setr_m128i(_mm_unpacklo_epi16(m, m), _mm_unpackhi_epi16(m, m));
}

// Bytes of hb with bit k moved to bit 4 (others cleared).
inline __m256i bit_to_4(__m256i hb, int k) {
    const __m256i x = k <= 4 ? _mm256_slli_epi16(hb, 4 - k) : _mm256_srli_epi16(hb, k - 4);
    return _mm256_and_si256(x, _mm256_set1_epi8(0x10));
}

// Q4_K (kHigh = false) and Q5_K (kHigh = true).
template <bool kHigh, int RR, int CC>
void q45k_dot(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
    using Block = std::conditional_t<kHigh, BlockQ5_K, BlockQ4_K>;
    const int64_t nsb = n_in / 256;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    ActQ8K act[CC];
    GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        act[c] = act_q8k(a[c], n_in);
    __m256 acc[RR][CC];
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        acc[r][c] = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; ++s) {
        const Block *blk[RR];
        __m256i scales[RR];
        float d[RR];
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r) {
            blk[r] = reinterpret_cast<const Block *>(w[r]) + s;
            simd::prefetch_ahead<sizeof(Block)>(blk[r]);
            const KScales ks = unpack_k_scales(blk[r]->scales);
            scales[r] = bytes_to_i16x2(ks.sc);
            d[r] = simd::f16_scalar(simd::load_u16(&blk[r]->d));
            const float dmin = simd::f16_scalar(simd::load_u16(&blk[r]->dmin));
            const __m256i mins = mins_per_16(ks);
            // The min term's eight lanes go into the same accumulator (its lanes are summed
            // only at the end).
            GRAFT_UNROLL
            for (int c = 0; c < CC; ++c) {
                const __m256i bs = load256(act[c].bsums + 16 * s);
                acc[r][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(mins, bs)),
                                             _mm256_set1_ps(dmin * act[c].d[s]), acc[r][c]);
            }
        }
        __m256i isum[RR][CC];
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r)
            GRAFT_UNROLL
        for (int c = 0; c < CC; ++c)
            isum[r][c] = _mm256_setzero_si256();
        __m256i hb[RR];
        if constexpr (kHigh) {
            GRAFT_UNROLL
            for (int r = 0; r < RR; ++r)
                hb[r] = load256(reinterpret_cast<const BlockQ5_K *>(blk[r])->qh);
        }
        GRAFT_UNROLL
        for (int j = 0; j < 4; ++j) {
            __m256i lo[RR], hi[RR], sl[RR], sh[RR];
            GRAFT_UNROLL
            for (int r = 0; r < RR; ++r) {
                const __m256i raw = load256(blk[r]->qs + 32 * j);
                lo[r] = _mm256_and_si256(raw, m4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
                if constexpr (kHigh) {
                    lo[r] = _mm256_or_si256(lo[r], bit_to_4(hb[r], 2 * j));
                    hi[r] = _mm256_or_si256(hi[r], bit_to_4(hb[r], 2 * j + 1));
                }
                sl[r] = broadcast_lane(scales[r], 2 * j);
                sh[r] = broadcast_lane(scales[r], 2 * j + 1);
            }
            GRAFT_UNROLL
            for (int c = 0; c < CC; ++c) {
                const __m256i alo = load256(act[c].qs + 256 * s + 64 * j);
                const __m256i ahi = load256(act[c].qs + 256 * s + 64 * j + 32);
                GRAFT_UNROLL
                for (int r = 0; r < RR; ++r) {
                    const __m256i p =
                        _mm256_add_epi32(mul_sum(lo[r], alo, sl[r]), mul_sum(hi[r], ahi, sh[r]));
                    isum[r][c] = _mm256_add_epi32(isum[r][c], p);
                }
            }
        }
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r)
            GRAFT_UNROLL
        for (int c = 0; c < CC; ++c)
            acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][c]),
                                        _mm256_set1_ps(d[r] * act[c].d[s]), acc[r][c]);
    }
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        out[r * CC + c] = simd::hsum(acc[r][c]);
}

// Quants 32*i .. 32*i+31 of a Q6_K half (see quants::BlockQ6_K) as bytes 0..63.
inline __m256i q6_quants(__m256i l0, __m256i l1, __m256i hh, int i, __m256i m4, __m256i m30) {
    switch (i) {
    case 0:
        return _mm256_or_si256(_mm256_and_si256(l0, m4),
                               _mm256_and_si256(_mm256_slli_epi16(hh, 4), m30));
    case 1:
        return _mm256_or_si256(_mm256_and_si256(l1, m4),
                               _mm256_and_si256(_mm256_slli_epi16(hh, 2), m30));
    case 2:
        return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                               _mm256_and_si256(hh, m30));
    default:
        return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(hh, 2), m30));
    }
}

template <int RR, int CC>
void q6k_dot(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
    const int64_t nsb = n_in / 256;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    // Within each 128-bit half: low half repeats int16 0 of the dword, high half int16 1.
    const __m256i pair_ctrl = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, //
                                               2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    ActQ8K act[CC];
    GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        act[c] = act_q8k(a[c], n_in);
    __m256 acc[RR][CC];
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        acc[r][c] = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; ++s) {
        const BlockQ6_K *blk[RR];
        __m256i sc16[RR];
        float d[RR];
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r) {
            blk[r] = reinterpret_cast<const BlockQ6_K *>(w[r]) + s;
            simd::prefetch_ahead<sizeof(BlockQ6_K)>(blk[r]);
            d[r] = simd::f16_scalar(simd::load_u16(&blk[r]->d));
            sc16[r] = _mm256_cvtepi8_epi16(
                _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk[r]->scales)));
            // The -32 offset: 32 * sum(scale * sums of 16), lane-wise into the accumulator.
            GRAFT_UNROLL
            for (int c = 0; c < CC; ++c) {
                const __m256i bs = load256(act[c].bsums + 16 * s);
                acc[r][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(sc16[r], bs)),
                                             _mm256_set1_ps(32.0f * d[r] * act[c].d[s]), acc[r][c]);
            }
        }
        __m256i isum[RR][CC];
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r)
            GRAFT_UNROLL
        for (int c = 0; c < CC; ++c)
            isum[r][c] = _mm256_setzero_si256();
        GRAFT_UNROLL
        for (int h = 0; h < 2; ++h) {
            __m256i l0[RR], l1[RR], hh[RR];
            GRAFT_UNROLL
            for (int r = 0; r < RR; ++r) {
                l0[r] = load256(blk[r]->ql + 64 * h);
                l1[r] = load256(blk[r]->ql + 64 * h + 32);
                hh[r] = load256(blk[r]->qh + 32 * h);
            }
            // One group of 32 quants (two scale groups of 16) at a time keeps few registers
            // live: its quants, its scale pair, the activations of each token.
            GRAFT_UNROLL
            for (int i = 0; i < 4; ++i) {
                __m256i q[RR], sp[RR];
                GRAFT_UNROLL
                for (int r = 0; r < RR; ++r) {
                    q[r] = q6_quants(l0[r], l1[r], hh[r], i, m4, m30);
                    sp[r] = _mm256_shuffle_epi8(
                        _mm256_permutevar8x32_epi32(sc16[r], _mm256_set1_epi32(4 * h + i)),
                        pair_ctrl);
                }
                GRAFT_UNROLL
                for (int c = 0; c < CC; ++c) {
                    const __m256i av = load256(act[c].qs + 256 * s + 128 * h + 32 * i);
                    GRAFT_UNROLL
                    for (int r = 0; r < RR; ++r)
                        isum[r][c] = _mm256_add_epi32(isum[r][c], mul_sum(q[r], av, sp[r]));
                }
            }
        }
        GRAFT_UNROLL
        for (int r = 0; r < RR; ++r)
            GRAFT_UNROLL
        for (int c = 0; c < CC; ++c)
            acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][c]),
                                        _mm256_set1_ps(d[r] * act[c].d[s]), acc[r][c]);
    }
    GRAFT_UNROLL
    for (int r = 0; r < RR; ++r)
        GRAFT_UNROLL
    for (int c = 0; c < CC; ++c)
        out[r * CC + c] = simd::hsum(acc[r][c]);
}

// Tile shapes: AVX2 has 16 vector registers, so GEMM tiles are one row by a few tokens
// (the row's unpacked quants are reused across them); AVX-512's 32 registers hold 2 x 4.
// Decode reads one row at a time on AVX2, one memory stream per thread (see gemm_q8.cpp).
#ifdef __AVX512F__
constexpr int kRows = 2, kCols = 4, kRowsGemv = 2, kRows6 = 2, kCols6 = 4, kRowsGemv6 = 2;
#define KQ_SUFFIX "-avx512"
#else
constexpr int kRows = 1, kCols = 3, kRowsGemv = 1, kRows6 = 1, kCols6 = 3, kRowsGemv6 = 1;
#define KQ_SUFFIX "-avx2"
#endif

template <bool kHigh> struct MicroQ45K {
    static constexpr int R = kRows, C = kCols, R1 = kRowsGemv;
    template <int RR, int CC>
    static void run(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
        q45k_dot<kHigh, RR, CC>(w, a, n_in, out);
    }
};

struct MicroQ6K {
    static constexpr int R = kRows6, C = kCols6, R1 = kRowsGemv6;
    template <int RR, int CC>
    static void run(const uint8_t *const *w, const uint8_t *const *a, int64_t n_in, float *out) {
        q6k_dot<RR, CC>(w, a, n_in, out);
    }
};

constexpr GemmKernel kQ4_K = {"q4_k" KQ_SUFFIX, ActKind::q8_256, 0, run_tiles<MicroQ45K<false>>, 2};
constexpr GemmKernel kQ5_K = {"q5_k" KQ_SUFFIX, ActKind::q8_256, 0, run_tiles<MicroQ45K<true>>, 2};
constexpr GemmKernel kQ6_K = {"q6_k" KQ_SUFFIX, ActKind::q8_256, 0, run_tiles<MicroQ6K>, 2};

} // namespace

const GemmKernel *gemm_kquant_kernel(graft_dtype dtype) {
    switch (dtype) {
    case GRAFT_DTYPE_Q4_K:
        return &kQ4_K;
    case GRAFT_DTYPE_Q5_K:
        return &kQ5_K;
    case GRAFT_DTYPE_Q6_K:
        return &kQ6_K;
    default:
        return nullptr;
    }
}

} // namespace graft::amx_cpu
