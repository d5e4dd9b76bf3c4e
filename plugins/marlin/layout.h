// marlin's packed layout of int4 weights (layout id kLayoutId), built from GGUF Q4_0 and
// Q4_K blocks. Every weight becomes an unsigned 4-bit q with a per-(row, 32-group) fp16 pair
// (s, m) such that w = s * q + m:
//   Q4_0: s = d,      m = -8 d
//   Q4_K: s = d * sc, m = -dmin * min   (sc, min: the 6-bit values of the sub-block)
// The matrix (n_out rows of n_in) is padded to a multiple of 16 rows and 64 columns with
// zeros and stored in two parts:
//   q:      [n_pad / 16][k_pad / 64][32 lanes] of uint4. The four 32-bit words of a lane
//           are the A fragments of mma.sync m16n8k16 for the four 16-column sub-tiles of
//           the 64-column chunk: nibble i of a word is fragment element a_i of that lane,
//           so a warp loads its whole 16x64 tile with one coalesced 16-byte load per lane.
//   scales: [n_pad / 16][k_pad / 32][16 rows] of (s, m) fp16 pairs.
#pragma once

#include <graft/plugin.h>

#include <cstdint>
#include <string>
#include <vector>

namespace graft::marlin {

inline constexpr uint32_t kLayoutId = 0x4d524c31u; // "MRL1"

struct PackedShape {
    int64_t n_in = 0, n_out = 0;
    int64_t k_pad = 0, n_pad = 0; // padded to multiples of 64 and 16
    int64_t k_chunks = 0;         // k_pad / 64
    int64_t groups = 0;           // k_pad / 32
    uint64_t q_bytes = 0, scale_bytes = 0;
    uint64_t total_bytes() const { return q_bytes + scale_bytes; }
};

PackedShape packed_shape(int64_t n_in, int64_t n_out);

// Repacks a GGUF tensor (Q4_0 or Q4_K, (n_in, n_out), host memory) into `out`. Returns
// an empty string on success, else why the tensor cannot be packed.
std::string repack(const graft_tensor &src, std::vector<uint8_t> &out);

} // namespace graft::marlin
