// graft/quants.h: block sizes agree with plugin.hpp's dtype table, the documented element
// order holds for hand-built blocks, and quantise/dequantise round trips stay within half
// a quantisation step.
#include <graft/quants.h>

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace graft::quants {
namespace {

TEST(Quants, BlockSizesMatchDtypeTable) {
    EXPECT_EQ(sizeof(BlockQ4_0), sdk::dtype_info(GRAFT_DTYPE_Q4_0).block_bytes);
    EXPECT_EQ(sizeof(BlockQ4_1), sdk::dtype_info(GRAFT_DTYPE_Q4_1).block_bytes);
    EXPECT_EQ(sizeof(BlockQ5_0), sdk::dtype_info(GRAFT_DTYPE_Q5_0).block_bytes);
    EXPECT_EQ(sizeof(BlockQ5_1), sdk::dtype_info(GRAFT_DTYPE_Q5_1).block_bytes);
    EXPECT_EQ(sizeof(BlockQ8_0), sdk::dtype_info(GRAFT_DTYPE_Q8_0).block_bytes);
    EXPECT_EQ(sizeof(BlockQ2_K), sdk::dtype_info(GRAFT_DTYPE_Q2_K).block_bytes);
    EXPECT_EQ(sizeof(BlockQ3_K), sdk::dtype_info(GRAFT_DTYPE_Q3_K).block_bytes);
    EXPECT_EQ(sizeof(BlockQ4_K), sdk::dtype_info(GRAFT_DTYPE_Q4_K).block_bytes);
    EXPECT_EQ(sizeof(BlockQ5_K), sdk::dtype_info(GRAFT_DTYPE_Q5_K).block_bytes);
    EXPECT_EQ(sizeof(BlockQ6_K), sdk::dtype_info(GRAFT_DTYPE_Q6_K).block_bytes);
    EXPECT_EQ(sizeof(BlockQ8_K), sdk::dtype_info(GRAFT_DTYPE_Q8_K).block_bytes);
    EXPECT_EQ(kBlock, sdk::dtype_info(GRAFT_DTYPE_Q4_0).block_size);
    EXPECT_EQ(kBlockK, sdk::dtype_info(GRAFT_DTYPE_Q4_K).block_size);
}

constexpr uint16_t kOne = 0x3C00; // fp16 1.0

TEST(Quants, Q4_0NibbleOrder) {
    BlockQ4_0 b{};
    b.d = kOne;
    for (int j = 0; j < 16; ++j)
        b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    float y[32];
    dequantize_row_q4_0(&b, y, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], static_cast<float>(j - 8));
        EXPECT_EQ(y[j + 16], static_cast<float>(7 - j));
    }
}

TEST(Quants, Q5_0HighBits) {
    BlockQ5_0 b{};
    b.d = kOne;
    const uint32_t qh = 0x80000001u; // element 0 and element 31 get bit 4
    std::memcpy(b.qh, &qh, 4);
    float y[32];
    dequantize_row_q5_0(&b, y, 32);
    EXPECT_EQ(y[0], 0.0f);   // 16 - 16
    EXPECT_EQ(y[1], -16.0f); // 0 - 16
    EXPECT_EQ(y[31], 0.0f);
    EXPECT_EQ(y[16], -16.0f);
}

// Packs eight 6-bit (scale, min) pairs as k_scale_min documents.
void pack_k_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t out[12]) {
    std::memset(out, 0, 12);
    for (int j = 0; j < 4; ++j) {
        out[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}

TEST(Quants, KScalesRoundTrip) {
    std::mt19937 rng(1);
    for (int trial = 0; trial < 200; ++trial) {
        uint8_t sc[8], m[8], packed[12];
        for (int j = 0; j < 8; ++j) {
            sc[j] = static_cast<uint8_t>(rng() % 64);
            m[j] = static_cast<uint8_t>(rng() % 64);
        }
        pack_k_scales(sc, m, packed);
        for (int j = 0; j < 8; ++j) {
            uint8_t s, mm;
            k_scale_min(j, packed, s, mm);
            ASSERT_EQ(s, sc[j]) << j;
            ASSERT_EQ(mm, m[j]) << j;
        }
    }
}

TEST(Quants, Q4_KSubBlocks) {
    BlockQ4_K b{};
    b.d = kOne;
    b.dmin = kOne;
    const uint8_t sc[8] = {1, 2, 3, 4, 5, 6, 7, 63}, m[8] = {0, 1, 0, 2, 0, 3, 0, 40};
    pack_k_scales(sc, m, b.scales);
    for (int l = 0; l < 128; ++l)
        b.qs[l] = static_cast<uint8_t>(0x21); // low nibble 1, high nibble 2
    float y[256];
    dequantize_row_q4_k(&b, y, 256);
    for (int e = 0; e < 256; ++e) {
        const int sub = e / 32; // sub-block 2j: low nibbles, 2j+1: high nibbles
        const int q = sub % 2 == 0 ? 1 : 2;
        EXPECT_EQ(y[e], static_cast<float>(sc[sub] * q - m[sub])) << e;
    }
}

TEST(Quants, Q6_KElementOrder) {
    std::mt19937 rng(2);
    BlockQ6_K b{};
    b.d = kOne;
    for (int i = 0; i < 16; ++i)
        b.scales[i] = static_cast<int8_t>(i + 1);
    int q[256];
    for (int e = 0; e < 256; ++e)
        q[e] = static_cast<int>(rng() % 64);
    // Pack with the layout documented at BlockQ6_K.
    for (int h = 0; h < 2; ++h)
        for (int l = 0; l < 32; ++l) {
            const int *qq = q + 128 * h;
            b.ql[64 * h + l] = static_cast<uint8_t>((qq[l] & 15) | ((qq[l + 64] & 15) << 4));
            b.ql[64 * h + l + 32] =
                static_cast<uint8_t>((qq[l + 32] & 15) | ((qq[l + 96] & 15) << 4));
            b.qh[32 * h + l] =
                static_cast<uint8_t>((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) |
                                     ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
        }
    float y[256];
    dequantize_row_q6_k(&b, y, 256);
    for (int e = 0; e < 256; ++e)
        EXPECT_EQ(y[e], static_cast<float>((e / 16 + 1) * (q[e] - 32))) << e;
}

TEST(Quants, Q3_KScalesAndHighBit) {
    BlockQ3_K b{};
    b.d = kOne;
    // Scale i = i - 32 + 5: low four bits and high two bits per q3_k_scale's description.
    for (int i = 0; i < 16; ++i) {
        const int v = i + 5; // stored value (scale + 32)
        if (i < 8)
            b.scales[i] = static_cast<uint8_t>((b.scales[i] & 0xF0) | (v & 0xF));
        else
            b.scales[i - 8] = static_cast<uint8_t>((b.scales[i - 8] & 0x0F) | ((v & 0xF) << 4));
        b.scales[8 + i % 4] =
            static_cast<uint8_t>(b.scales[8 + i % 4] | (((v >> 4) & 3) << (2 * (i / 4))));
    }
    for (int i = 0; i < 16; ++i)
        EXPECT_EQ(q3_k_scale(b.scales, i), i + 5 - 32);
    // All quants 3; the high bit set only for element 0 (bit 0 of hmask[0]).
    std::memset(b.qs, 0xFF, sizeof b.qs);
    b.hmask[0] = 1;
    float y[256];
    dequantize_row_q3_k(&b, y, 256);
    EXPECT_EQ(y[0], static_cast<float>((5 - 32) * 3));
    EXPECT_EQ(y[1], static_cast<float>((5 - 32) * (3 - 4)));
    EXPECT_EQ(y[255], static_cast<float>((15 + 5 - 32) * (3 - 4)));
}

std::vector<float> random_row(int64_t n, uint32_t seed, float scale) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> x(static_cast<size_t>(n));
    for (float &v : x)
        v = u(rng);
    return x;
}

TEST(Quants, Q8_0RoundTrip) {
    const std::vector<float> x = random_row(256, 3, 5.0f);
    std::vector<BlockQ8_0> q(8);
    quantize_row_q8_0(x.data(), q.data(), 256);
    std::vector<float> y(256);
    dequantize_row_q8_0(q.data(), y.data(), 256);
    for (int i = 0; i < 256; ++i)
        EXPECT_LE(std::fabs(y[i] - x[i]), 0.5f * sdk::fp16_to_fp32(q[i / 32].d) * 1.01f) << i;
}

TEST(Quants, Q4_0RoundTrip) {
    const std::vector<float> x = random_row(256, 4, 5.0f);
    std::vector<BlockQ4_0> q(8);
    quantize_row_q4_0(x.data(), q.data(), 256);
    std::vector<float> y(256);
    dequantize_row_q4_0(q.data(), y.data(), 256);
    for (int i = 0; i < 256; ++i) {
        const float d = std::fabs(sdk::fp16_to_fp32(q[i / 32].d));
        // Level +8 does not exist: values near +8 steps clamp to +7, one step away.
        EXPECT_LE(std::fabs(y[i] - x[i]), d * 1.01f) << i;
    }
}

TEST(Quants, Q8_KRoundTripAndSums) {
    std::vector<float> x = random_row(512, 5, 3.0f);
    std::fill(x.begin() + 256, x.end(), 0.0f); // an empty block
    std::vector<BlockQ8_K> q(2);
    quantize_row_q8_k(x.data(), q.data(), 512);
    std::vector<float> y(512);
    dequantize_row_q8_k(q.data(), y.data(), 512);
    for (int i = 0; i < 256; ++i)
        EXPECT_LE(std::fabs(y[i] - x[i]), 0.5f * std::fabs(q[0].d) * 1.01f) << i;
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j)
            sum += q[0].qs[16 * g + j];
        EXPECT_EQ(q[0].bsums[g], sum);
    }
    EXPECT_EQ(q[1].d, 0.0f);
    for (int i = 256; i < 512; ++i)
        EXPECT_EQ(y[i], 0.0f);
}

TEST(Quants, DequantizeRowDispatch) {
    const std::vector<float> x = random_row(64, 6, 1.0f);
    std::vector<uint16_t> h(64);
    for (int i = 0; i < 64; ++i)
        h[i] = sdk::fp32_to_bf16(x[i]);
    std::vector<float> y(64);
    ASSERT_TRUE(dequantize_row(GRAFT_DTYPE_BF16, h.data(), y.data(), 64));
    for (int i = 0; i < 64; ++i)
        EXPECT_EQ(y[i], sdk::bf16_to_fp32(h[i]));
    EXPECT_FALSE(dequantize_row(GRAFT_DTYPE_Q4_0, h.data(), y.data(), 48))
        << "not a multiple of 32";
    EXPECT_FALSE(dequantize_row(GRAFT_DTYPE_IQ2_XXS, h.data(), y.data(), 256)) << "not supported";
    EXPECT_FALSE(can_dequantize(GRAFT_DTYPE_MXFP4));
}

} // namespace
} // namespace graft::quants
