// Activation preparation: int8 blocks for the integer dot products (as llama.cpp
// quantises activations to Q8_0 / Q8_K, but with float scales), bf16 rows for the BF16
// dot product.
#include "linear_core.h"
#include "simd.h"

#include <graft/plugin.hpp>

#include <cmath>
#include <cstring>

namespace graft::amx_cpu {

namespace {

// Round-to-nearest-even int8 of 32 floats scaled by `inv`, in element order.
inline __m256i quantize32(const float *x, __m256 inv) {
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), inv));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), inv));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), inv));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), inv));
    // packs work per 128-bit lane; the permute restores element order.
    const __m256i p01 = _mm256_packs_epi32(i0, i1);
    const __m256i p23 = _mm256_packs_epi32(i2, i3);
    const __m256i p = _mm256_packs_epi16(p01, p23);
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline float abs_max(const float *x, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

void prepare_q8_32(int offset, const float *x, int64_t n_in, uint8_t *dst) {
    auto *qs = reinterpret_cast<int8_t *>(dst);
    auto *d = reinterpret_cast<float *>(dst + q8_32_d_offset(n_in));
    auto *corr = reinterpret_cast<int32_t *>(dst + q8_32_corr_offset(n_in));
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    const __m256i neg_offset = _mm256_set1_epi32(-offset);
    for (int64_t b = 0; b < n_in / 32; ++b) {
        const float amax = abs_max(x + 32 * b, 32);
        // The scale is kept at F16 precision, as the Q8_0 format stores it: the dot
        // product then equals llama.cpp's to float rounding (a float scale would differ by
        // ~2e-4 relative per op, which quantised layers downstream amplify).
        d[b] = sdk::fp16_to_fp32(sdk::fp32_to_fp16(amax / 127.0f));
        const __m256 inv = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        const __m256i q = quantize32(x + 32 * b, inv);
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(qs + 32 * b), q);
        if (offset != 0) {
            const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(corr + 8 * b),
                                _mm256_mullo_epi32(sums, neg_offset));
        } else {
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(corr + 8 * b), _mm256_setzero_si256());
        }
    }
}

void prepare_q8_256(const float *x, int64_t n_in, uint8_t *dst) {
    auto *qs = reinterpret_cast<int8_t *>(dst);
    auto *d = reinterpret_cast<float *>(dst + q8_256_d_offset(n_in));
    auto *bsums = reinterpret_cast<int16_t *>(dst + q8_256_bsums_offset(n_in));
    for (int64_t b = 0; b < n_in / 256; ++b) {
        const float amax = abs_max(x + 256 * b, 256);
        // 1 / (127 / amax), as Q8_K's reference computes its scale.
        d[b] = amax != 0.0f ? 1.0f / (127.0f / amax) : 0.0f;
        const __m256 inv = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        for (int k = 0; k < 8; ++k) {
            const __m256i q = quantize32(x + 256 * b + 32 * k, inv);
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(qs + 256 * b + 32 * k), q);
        }
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j)
                sum += qs[256 * b + 16 * g + j];
            bsums[16 * b + g] = static_cast<int16_t>(sum);
        }
    }
}

void prepare_bf16(const float *x, int64_t n_in, uint8_t *dst) {
    auto *out = reinterpret_cast<uint16_t *>(dst);
    for (int64_t i = 0; i < n_in; ++i)
        out[i] = sdk::fp32_to_bf16(x[i]);
    // Zero the padding so that whole-vector loads past n_in read zeros.
    std::memset(out + n_in, 0, static_cast<size_t>(act_row_bytes(ActKind::bf16, n_in) - 2 * n_in));
}

} // namespace

int64_t act_row_bytes(ActKind kind, int64_t n_in) {
    switch (kind) {
    case ActKind::f32:
        return align64(n_in * 4);
    case ActKind::q8_32:
        return q8_32_corr_offset(n_in) + align64(n_in / 32 * 32);
    case ActKind::q8_256:
        return q8_256_bsums_offset(n_in) + align64(n_in / 256 * 32);
    case ActKind::bf16:
        return align64(n_in * 2);
    }
    return 0;
}

void prepare_act_row(ActKind kind, int offset, const float *x, int64_t n_in, uint8_t *dst) {
    switch (kind) {
    case ActKind::q8_32:
        prepare_q8_32(offset, x, n_in, dst);
        break;
    case ActKind::q8_256:
        prepare_q8_256(x, n_in, dst);
        break;
    case ActKind::bf16:
        prepare_bf16(x, n_in, dst);
        break;
    case ActKind::f32:
        std::memcpy(dst, x, static_cast<size_t>(n_in) * 4);
        break;
    }
}

} // namespace graft::amx_cpu
