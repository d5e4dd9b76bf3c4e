// Device-side reads of one element of a GGUF row, per dtype. Rows are addressed by their
// first byte; k is the element index within the row. Block layouts follow GGUF (ggml):
//   Q8_0: {f16 d; i8 qs[32]}                                  x = d * q
//   Q4_0: {f16 d; u8 qs[16]}  element j < 16: low nibble of qs[j], else high nibble of
//         qs[j - 16]                                          x = d * (q - 8)
//   Q4_K: {f16 d, dmin; u8 scales[12]; u8 qs[128]}, 8 sub-blocks of 32 with 6-bit scale and
//         min                                                 x = d * sc * q - dmin * m
//   Q6_K: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}        x = d * sc * (q - 32)
#pragma once

#include <graft/plugin.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace graft::cuda {

__device__ __forceinline__ float load_f16(const uint8_t *p) {
    __half h;
    memcpy(&h, p, 2);
    return __half2float(h);
}

// 6-bit scale and min of sub-block j of a Q4_K block (get_scale_min_k4 in ggml).
__device__ __forceinline__ void q4k_scale_min(const uint8_t *scales, int j, int &sc, int &m) {
    if (j < 4) {
        sc = scales[j] & 63;
        m = scales[j + 4] & 63;
    } else {
        sc = (scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4);
        m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
}

template <graft_dtype D> struct Element;

template <> struct Element<GRAFT_DTYPE_F32> {
    __device__ static float load(const uint8_t *row, int64_t k) {
        return reinterpret_cast<const float *>(row)[k];
    }
};

template <> struct Element<GRAFT_DTYPE_F16> {
    __device__ static float load(const uint8_t *row, int64_t k) {
        return __half2float(reinterpret_cast<const __half *>(row)[k]);
    }
};

template <> struct Element<GRAFT_DTYPE_BF16> {
    __device__ static float load(const uint8_t *row, int64_t k) {
        return __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(row)[k]);
    }
};

template <> struct Element<GRAFT_DTYPE_Q8_0> {
    __device__ static float load(const uint8_t *row, int64_t k) {
        const uint8_t *block = row + (k / 32) * 34;
        return load_f16(block) * static_cast<float>(static_cast<int8_t>(block[2 + k % 32]));
    }
};

template <> struct Element<GRAFT_DTYPE_Q4_0> {
    __device__ static float load(const uint8_t *row, int64_t k) {
        const uint8_t *block = row + (k / 32) * 18;
        const int j = static_cast<int>(k % 32);
        const int q = j < 16 ? (block[2 + j] & 0xF) : (block[2 + j - 16] >> 4);
        return load_f16(block) * static_cast<float>(q - 8);
    }
};

template <> struct Element<GRAFT_DTYPE_Q4_K> {
    __device__ static float load(const uint8_t *row, int64_t k) {
        const uint8_t *block = row + (k / 256) * 144;
        const int j = static_cast<int>(k % 256);
        const int sub = j / 32; // 8 sub-blocks; pairs share the bytes of one 64-chunk
        const uint8_t byte = block[16 + (j / 64) * 32 + j % 32];
        const int q = (sub & 1) ? (byte >> 4) : (byte & 0xF);
        int sc, m;
        q4k_scale_min(block + 4, sub, sc, m);
        return load_f16(block) * static_cast<float>(sc) * static_cast<float>(q) -
               load_f16(block + 2) * static_cast<float>(m);
    }
};

template <> struct Element<GRAFT_DTYPE_Q6_K> {
    __device__ static float load(const uint8_t *row, int64_t k) {
        const uint8_t *block = row + (k / 256) * 210;
        const int j = static_cast<int>(k % 256);
        const int half = j / 128, r = j % 128, quarter = r / 32, l = r % 32;
        const uint8_t *ql = block + half * 64;
        const uint8_t *qh = block + 128 + half * 32;
        const int8_t *scales = reinterpret_cast<const int8_t *>(block + 192) + half * 8;
        const int low = (ql[l + 32 * (quarter & 1)] >> (4 * (quarter >> 1))) & 0xF;
        const int high = (qh[l] >> (2 * quarter)) & 3;
        const int q = (low | (high << 4)) - 32;
        return load_f16(block + 208) * static_cast<float>(scales[l / 16 + 2 * quarter]) *
               static_cast<float>(q);
    }
};

} // namespace graft::cuda
