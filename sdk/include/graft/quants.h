// graft SDK: block layouts of GGUF's quantized types and reference (de)quantisation.
//
// Header-only C++ for plugins and core alike. The structs are byte-exact images of the
// blocks stored in GGUF files (little-endian, no padding); the functions are the plain
// reference semantics every optimised kernel is tested against. Half floats are kept as
// their raw uint16_t bits and converted with graft/plugin.hpp's helpers.
//
// Element order inside a block follows the file format, which is not always the obvious
// one: Q4_0/Q4_1/Q5_x keep element j in the low nibble and element j+16 in the high
// nibble of byte j; the K-quants interleave their sub-blocks as described at each type.
#pragma once

#include <graft/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace graft::quants {

inline constexpr int64_t kBlock = 32;   // elements per block of Q4_0 .. Q8_0
inline constexpr int64_t kBlockK = 256; // elements per super-block of the K-quants

// ------------------------------------------------------------------ block layouts

// x = d * (q - 8), q in 0..15.
struct BlockQ4_0 {
    uint16_t d;     // fp16 scale
    uint8_t qs[16]; // element j: low nibble of qs[j]; element j+16: high nibble
};
// x = d * q + m, q in 0..15.
struct BlockQ4_1 {
    uint16_t d;     // fp16 scale
    uint16_t m;     // fp16 offset (the block minimum)
    uint8_t qs[16]; // as BlockQ4_0
};
// x = d * (q - 16), q in 0..31: four low bits as in Q4_0, bit 4 of element j is bit j of qh.
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4]; // 32 high bits, little-endian
    uint8_t qs[16];
};
// x = d * q + m, q in 0..31; bits as in Q5_0.
struct BlockQ5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[16];
};
// x = d * q, q in -128..127.
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[32];
};
// 16 sub-blocks of 16: x = d * (sc & 15) * q - dmin * (sc >> 4), q in 0..3.
// Element e = 128*h + 32*j + l (h < 2, j < 4, l < 32): q = (qs[32*h + l] >> 2*j) & 3,
// sc = scales[e / 16].
struct BlockQ2_K {
    uint8_t scales[16]; // 4-bit scale (low) and 4-bit min (high) per sub-block
    uint8_t qs[64];
    uint16_t d;    // fp16 scale of the scales
    uint16_t dmin; // fp16 scale of the mins
};
// 16 sub-blocks of 16: x = d * (s - 32) * (q - 4 * !hbit), q in 0..3, s 6-bit.
// Element e = 128*h + 32*j + l: q = (qs[32*h + l] >> 2*j) & 3,
// hbit = (hmask[l] >> (4*h + j)) & 1, s = q3_k_scale(scales, e / 16).
struct BlockQ3_K {
    uint8_t hmask[32];
    uint8_t qs[64];
    uint8_t scales[12]; // 16 6-bit scales, see q3_k_scale
    uint16_t d;
};
// 8 sub-blocks of 32: x = d * sc * q - dmin * m, q in 0..15, sc and m 6-bit.
// Element e = 64*j + l (l < 32): low nibble of qs[32*j + l], sub-block 2*j;
// element 64*j + 32 + l: high nibble of qs[32*j + l], sub-block 2*j+1.
struct BlockQ4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12]; // see k_scale_min
    uint8_t qs[128];
};
// As Q4_K with a fifth bit: element 64*j + l takes bit 2*j of qh[l], element
// 64*j + 32 + l takes bit 2*j+1 of qh[l]; q in 0..31.
struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
};
// 16 sub-blocks of 16: x = d * scales[e / 16] * (q - 32), q in 0..63.
// For half h < 2 and l < 32, with L = ql + 64*h and H = qh + 32*h:
//   element 128*h + l      : (L[l] & 15)      | ((H[l] >> 0) & 3) << 4
//   element 128*h + 32 + l : (L[l + 32] & 15) | ((H[l] >> 2) & 3) << 4
//   element 128*h + 64 + l : (L[l] >> 4)      | ((H[l] >> 4) & 3) << 4
//   element 128*h + 96 + l : (L[l + 32] >> 4) | ((H[l] >> 6) & 3) << 4
struct BlockQ6_K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
};
// Activation blocks of the K-quant dot products: x = d * q; bsums[i] = sum of qs[16*i ..].
struct BlockQ8_K {
    float d;
    int8_t qs[256];
    int16_t bsums[16];
};

// The sizes are those of graft/plugin.hpp's dtype_info (which the tests also check at run
// time); dtype_info is not constexpr, so the numbers are repeated here.
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// ------------------------------------------------------------------ scale helpers

// Q4_K/Q5_K: the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes.
// Sub-blocks 0-3 keep their six bits in bytes j (scale) and j+4 (min); sub-blocks 4-7
// keep four bits in byte j+4 (scale low, min high) and their top two bits in the top
// bits of bytes j-4 (scale) and j (min).
inline void k_scale_min(int j, const uint8_t *scales, uint8_t &sc, uint8_t &m) {
    if (j < 4) {
        sc = scales[j] & 63;
        m = scales[j + 4] & 63;
    } else {
        sc = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
        m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

// Q3_K: the scale of sub-block i (0..15), already minus 32 (so -32..31). Four low bits:
// low nibbles of bytes 0-7 for i < 8, high nibbles of bytes 0-7 for i >= 8; two high bits:
// bits 2*(i/4) of byte 8 + i%4.
inline int q3_k_scale(const uint8_t *scales, int i) {
    const int low = i < 8 ? (scales[i] & 0xF) : (scales[i - 8] >> 4);
    const int high = (scales[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// ------------------------------------------------------------------ dequantisation

inline void dequantize_row_q4_0(const BlockQ4_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, y += kBlock) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        for (int j = 0; j < 16; ++j) {
            y[j] = static_cast<float>((x[b].qs[j] & 0xF) - 8) * d;
            y[j + 16] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

inline void dequantize_row_q4_1(const BlockQ4_1 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, y += kBlock) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        const float m = sdk::fp16_to_fp32(x[b].m);
        for (int j = 0; j < 16; ++j) {
            y[j] = static_cast<float>(x[b].qs[j] & 0xF) * d + m;
            y[j + 16] = static_cast<float>(x[b].qs[j] >> 4) * d + m;
        }
    }
}

inline uint32_t load_u32_le(const uint8_t *p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline void dequantize_row_q5_0(const BlockQ5_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, y += kBlock) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        const uint32_t qh = load_u32_le(x[b].qh);
        for (int j = 0; j < 16; ++j) {
            const int lo = (x[b].qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1u) << 4);
            const int hi = (x[b].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
            y[j] = static_cast<float>(lo - 16) * d;
            y[j + 16] = static_cast<float>(hi - 16) * d;
        }
    }
}

inline void dequantize_row_q5_1(const BlockQ5_1 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, y += kBlock) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        const float m = sdk::fp16_to_fp32(x[b].m);
        const uint32_t qh = load_u32_le(x[b].qh);
        for (int j = 0; j < 16; ++j) {
            const int lo = (x[b].qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1u) << 4);
            const int hi = (x[b].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
            y[j] = static_cast<float>(lo) * d + m;
            y[j + 16] = static_cast<float>(hi) * d + m;
        }
    }
}

inline void dequantize_row_q8_0(const BlockQ8_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, y += kBlock) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        for (int j = 0; j < 32; ++j)
            y[j] = static_cast<float>(x[b].qs[j]) * d;
    }
}

inline void dequantize_row_q2_k(const BlockQ2_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockK; ++b, y += kBlockK) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        const float dmin = sdk::fp16_to_fp32(x[b].dmin);
        for (int e = 0; e < 256; ++e) {
            const int h = e / 128, j = (e % 128) / 32, l = e % 32;
            const uint8_t sc = x[b].scales[e / 16];
            const float dl = d * static_cast<float>(sc & 0xF);
            const float ml = dmin * static_cast<float>(sc >> 4);
            const int q = (x[b].qs[32 * h + l] >> (2 * j)) & 3;
            y[e] = dl * static_cast<float>(q) - ml;
        }
    }
}

inline void dequantize_row_q3_k(const BlockQ3_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockK; ++b, y += kBlockK) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        for (int e = 0; e < 256; ++e) {
            const int h = e / 128, j = (e % 128) / 32, l = e % 32;
            const float dl = d * static_cast<float>(q3_k_scale(x[b].scales, e / 16));
            const int q = (x[b].qs[32 * h + l] >> (2 * j)) & 3;
            const int hbit = (x[b].hmask[l] >> (4 * h + j)) & 1;
            y[e] = dl * static_cast<float>(q - (hbit ? 0 : 4));
        }
    }
}

inline void dequantize_row_q4_k(const BlockQ4_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockK; ++b, y += kBlockK) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        const float dmin = sdk::fp16_to_fp32(x[b].dmin);
        for (int j = 0; j < 4; ++j) {
            uint8_t sc, m;
            k_scale_min(2 * j, x[b].scales, sc, m);
            const float d1 = d * sc, m1 = dmin * m;
            k_scale_min(2 * j + 1, x[b].scales, sc, m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; ++l) {
                y[64 * j + l] = d1 * static_cast<float>(x[b].qs[32 * j + l] & 0xF) - m1;
                y[64 * j + 32 + l] = d2 * static_cast<float>(x[b].qs[32 * j + l] >> 4) - m2;
            }
        }
    }
}

inline void dequantize_row_q5_k(const BlockQ5_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockK; ++b, y += kBlockK) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        const float dmin = sdk::fp16_to_fp32(x[b].dmin);
        for (int j = 0; j < 4; ++j) {
            uint8_t sc, m;
            k_scale_min(2 * j, x[b].scales, sc, m);
            const float d1 = d * sc, m1 = dmin * m;
            k_scale_min(2 * j + 1, x[b].scales, sc, m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; ++l) {
                const uint8_t q = x[b].qs[32 * j + l], h = x[b].qh[l];
                const int lo = (q & 0xF) | (((h >> (2 * j)) & 1) << 4);
                const int hi = (q >> 4) | (((h >> (2 * j + 1)) & 1) << 4);
                y[64 * j + l] = d1 * static_cast<float>(lo) - m1;
                y[64 * j + 32 + l] = d2 * static_cast<float>(hi) - m2;
            }
        }
    }
}

inline void dequantize_row_q6_k(const BlockQ6_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockK; ++b, y += kBlockK) {
        const float d = sdk::fp16_to_fp32(x[b].d);
        for (int h = 0; h < 2; ++h) {
            const uint8_t *ql = x[b].ql + 64 * h;
            const uint8_t *qh = x[b].qh + 32 * h;
            float *out = y + 128 * h;
            for (int l = 0; l < 32; ++l) {
                const int q[4] = {
                    (ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4,
                    (ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4,
                    (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4,
                    (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4,
                };
                for (int k = 0; k < 4; ++k) {
                    const int e = 128 * h + 32 * k + l;
                    out[32 * k + l] =
                        d * static_cast<float>(x[b].scales[e / 16]) * static_cast<float>(q[k] - 32);
                }
            }
        }
    }
}

inline void dequantize_row_q8_k(const BlockQ8_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockK; ++b, y += kBlockK)
        for (int j = 0; j < 256; ++j)
            y[j] = x[b].d * static_cast<float>(x[b].qs[j]);
}

// The dtypes dequantize_row understands.
inline bool can_dequantize(graft_dtype dtype) {
    switch (dtype) {
    case GRAFT_DTYPE_F32:
    case GRAFT_DTYPE_F16:
    case GRAFT_DTYPE_BF16:
    case GRAFT_DTYPE_Q4_0:
    case GRAFT_DTYPE_Q4_1:
    case GRAFT_DTYPE_Q5_0:
    case GRAFT_DTYPE_Q5_1:
    case GRAFT_DTYPE_Q8_0:
    case GRAFT_DTYPE_Q2_K:
    case GRAFT_DTYPE_Q3_K:
    case GRAFT_DTYPE_Q4_K:
    case GRAFT_DTYPE_Q5_K:
    case GRAFT_DTYPE_Q6_K:
    case GRAFT_DTYPE_Q8_K:
        return true;
    default:
        return false;
    }
}

// Converts one row of n elements of `dtype` at src to floats. Returns false (writing
// nothing) when the dtype is not one of can_dequantize's or n is not a multiple of its
// block size.
inline bool dequantize_row(graft_dtype dtype, const void *src, float *dst, int64_t n) {
    if (!can_dequantize(dtype) || n < 0 || (n != 0 && sdk::row_bytes(dtype, n) == 0))
        return false;
    switch (dtype) {
    case GRAFT_DTYPE_F32:
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
        return true;
    case GRAFT_DTYPE_F16:
    case GRAFT_DTYPE_BF16: {
        const auto *h = static_cast<const uint8_t *>(src);
        for (int64_t i = 0; i < n; ++i) {
            uint16_t v;
            std::memcpy(&v, h + 2 * i, 2);
            dst[i] = dtype == GRAFT_DTYPE_F16 ? sdk::fp16_to_fp32(v) : sdk::bf16_to_fp32(v);
        }
        return true;
    }
    case GRAFT_DTYPE_Q4_0:
        dequantize_row_q4_0(static_cast<const BlockQ4_0 *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q4_1:
        dequantize_row_q4_1(static_cast<const BlockQ4_1 *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q5_0:
        dequantize_row_q5_0(static_cast<const BlockQ5_0 *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q5_1:
        dequantize_row_q5_1(static_cast<const BlockQ5_1 *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q8_0:
        dequantize_row_q8_0(static_cast<const BlockQ8_0 *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q2_K:
        dequantize_row_q2_k(static_cast<const BlockQ2_K *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q3_K:
        dequantize_row_q3_k(static_cast<const BlockQ3_K *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q4_K:
        dequantize_row_q4_k(static_cast<const BlockQ4_K *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q5_K:
        dequantize_row_q5_k(static_cast<const BlockQ5_K *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q6_K:
        dequantize_row_q6_k(static_cast<const BlockQ6_K *>(src), dst, n);
        return true;
    case GRAFT_DTYPE_Q8_K:
        dequantize_row_q8_k(static_cast<const BlockQ8_K *>(src), dst, n);
        return true;
    default:
        return false;
    }
}

// ------------------------------------------------------------------ quantisation

// Round half away from zero, as C's roundf.
inline int round_to_int(float v) {
    return static_cast<int>(std::lround(v));
}

// Q8_0: d = max|x| / 127, q = round(x / d). n is a multiple of 32.
inline void quantize_row_q8_0(const float *x, BlockQ8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, x += kBlock) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j)
            amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = sdk::fp32_to_fp16(d);
        for (int j = 0; j < 32; ++j)
            y[b].qs[j] = static_cast<int8_t>(round_to_int(x[j] * id));
    }
}

// Q4_0: the element of largest magnitude maps to -8 exactly (d = that element / -8), the
// others to the nearest of 16 levels (clamped at 15). n is a multiple of 32.
inline void quantize_row_q4_0(const float *x, BlockQ4_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b, x += kBlock) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; ++j) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = sdk::fp32_to_fp16(d);
        for (int j = 0; j < 16; ++j) {
            // x*id lies in [-8, 8]; +8.5 then truncation rounds to the nearest level.
            const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
            const int hi = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
            y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

// Q8_K: the element of largest magnitude maps to -127 (d = that element / -127), the
// others round to nearest (ties to even); bsums hold the sums of 16 quants. A block of
// zeros gets d = 0. n is a multiple of 256.
inline void quantize_row_q8_k(const float *x, BlockQ8_K *y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockK; ++b, x += kBlockK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 256; ++j) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < 256; ++j) {
            const int v = static_cast<int>(std::nearbyint(iscale * x[j]));
            y[b].qs[j] = static_cast<int8_t>(std::min(127, v));
        }
        for (int i = 0; i < 16; ++i) {
            int sum = 0;
            for (int j = 0; j < 16; ++j)
                sum += y[b].qs[16 * i + j];
            y[b].bsums[i] = static_cast<int16_t>(sum);
        }
        y[b].d = 1.0f / iscale;
    }
}

} // namespace graft::quants
