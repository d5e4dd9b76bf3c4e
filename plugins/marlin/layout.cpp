#include "layout.h"

#include <graft/plugin.hpp>

#include <cstring>

namespace graft::marlin {

PackedShape packed_shape(int64_t n_in, int64_t n_out) {
    PackedShape s;
    s.n_in = n_in;
    s.n_out = n_out;
    s.k_pad = (n_in + 63) / 64 * 64;
    s.n_pad = (n_out + 15) / 16 * 16;
    s.k_chunks = s.k_pad / 64;
    s.groups = s.k_pad / 32;
    s.q_bytes = static_cast<uint64_t>(s.n_pad) * static_cast<uint64_t>(s.k_pad) / 2;
    s.scale_bytes = static_cast<uint64_t>(s.n_pad) * static_cast<uint64_t>(s.groups) * 4;
    return s;
}

namespace {

uint16_t f16_at(const uint8_t *p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return h;
}

// Reads q (0..15) and the group's (s, m) of one GGUF row, per dtype.
struct Q4_0Reader {
    static constexpr int64_t kBlock = 32, kBytes = 18;
    static int nibble(const uint8_t *row, int64_t k) {
        const uint8_t *b = row + (k / kBlock) * kBytes;
        const int j = static_cast<int>(k % kBlock);
        return j < 16 ? (b[2 + j] & 0xF) : (b[2 + j - 16] >> 4);
    }
    static void scale_min(const uint8_t *row, int64_t group, float &s, float &m) {
        const float d = sdk::fp16_to_fp32(f16_at(row + group * kBytes));
        s = d;
        m = -8.0f * d;
    }
};

struct Q4_KReader {
    static constexpr int64_t kBlock = 256, kBytes = 144;
    static int nibble(const uint8_t *row, int64_t k) {
        const uint8_t *b = row + (k / kBlock) * kBytes;
        const int j = static_cast<int>(k % kBlock);
        const uint8_t byte = b[16 + (j / 64) * 32 + j % 32];
        return ((j / 32) & 1) ? (byte >> 4) : (byte & 0xF);
    }
    static void scale_min(const uint8_t *row, int64_t group, float &s, float &m) {
        const uint8_t *b = row + (group / 8) * kBytes;
        const uint8_t *q = b + 4;
        const int j = static_cast<int>(group % 8);
        int sc, mn;
        if (j < 4) {
            sc = q[j] & 63;
            mn = q[j + 4] & 63;
        } else {
            sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
        s = sdk::fp16_to_fp32(f16_at(b)) * static_cast<float>(sc);
        m = -sdk::fp16_to_fp32(f16_at(b + 2)) * static_cast<float>(mn);
    }
};

template <typename Reader>
void pack(const uint8_t *data, int64_t row_bytes, const PackedShape &s, uint8_t *out) {
    auto *q = reinterpret_cast<uint32_t *>(out);
    for (int64_t nt = 0; nt < s.n_pad / 16; ++nt)
        for (int64_t kc = 0; kc < s.k_chunks; ++kc)
            for (int lane = 0; lane < 32; ++lane) {
                const int g = lane >> 2, t = lane & 3;
                for (int sub = 0; sub < 4; ++sub) {
                    uint32_t word = 0;
                    for (int i = 0; i < 8; ++i) {
                        const int64_t row = nt * 16 + g + ((i >> 1) & 1) * 8;
                        const int64_t col =
                            kc * 64 + sub * 16 + 2 * t + (i & 1) + ((i >> 2) & 1) * 8;
                        if (row < s.n_out && col < s.n_in)
                            word |=
                                static_cast<uint32_t>(Reader::nibble(data + row * row_bytes, col))
                                << (4 * i);
                    }
                    *q++ = word;
                }
            }
    auto *sm = reinterpret_cast<uint16_t *>(out + s.q_bytes);
    for (int64_t nt = 0; nt < s.n_pad / 16; ++nt)
        for (int64_t grp = 0; grp < s.groups; ++grp)
            for (int r = 0; r < 16; ++r) {
                const int64_t row = nt * 16 + r;
                float sc = 0.0f, mn = 0.0f;
                if (row < s.n_out && grp * 32 < s.n_in)
                    Reader::scale_min(data + row * row_bytes, grp, sc, mn);
                *sm++ = sdk::fp32_to_fp16(sc);
                *sm++ = sdk::fp32_to_fp16(mn);
            }
}

} // namespace

std::string repack(const graft_tensor &src, std::vector<uint8_t> &out) {
    if (src.dtype != GRAFT_DTYPE_Q4_0 && src.dtype != GRAFT_DTYPE_Q4_K)
        return std::string("weight dtype ") + sdk::dtype_name(src.dtype) +
               " is not int4 (Q4_0 or Q4_K)";
    if (src.layout != 0)
        return "the weight is not in GGUF layout";
    if (!src.data)
        return "the weight has no data";
    if (src.n_dims > 2 || src.ne[2] != 1 || src.ne[3] != 1 || src.ne[0] < 1 || src.ne[1] < 1)
        return "the weight must be a matrix (n_in, n_out)";
    const int64_t row_bytes = static_cast<int64_t>(sdk::row_bytes(src.dtype, src.ne[0]));
    if (row_bytes == 0)
        return "n_in is not a multiple of the block size";
    if (src.nb[1] != row_bytes)
        return "the weight's rows must be contiguous";
    const PackedShape s = packed_shape(src.ne[0], src.ne[1]);
    out.assign(s.total_bytes(), 0);
    const auto *data = static_cast<const uint8_t *>(src.data);
    if (src.dtype == GRAFT_DTYPE_Q4_0)
        pack<Q4_0Reader>(data, row_bytes, s, out.data());
    else
        pack<Q4_KReader>(data, row_bytes, s, out.data());
    return {};
}

} // namespace graft::marlin
