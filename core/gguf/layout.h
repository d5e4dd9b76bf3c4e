// Internal helpers shared by the GGUF reader and writer.
#pragma once

#include <graft/gguf/gguf.h>

#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace graft::gguf {

static_assert(std::endian::native == std::endian::little,
              "GGUF values are read and written as little-endian host integers");

// Byte size of a tensor of shape `ne` (0 to 4 dims, innermost first); throws FormatError
// naming the tensor on a bad dimension count, a zero or negative dimension, an unknown
// dtype, ne[0] not a multiple of the block size, or an element count or byte size that
// overflows.
// `dtype_id` is a raw id: it is checked before it becomes a graft_dtype.
uint64_t shape_bytes(std::string_view tensor_name, uint32_t dtype_id, std::span<const int64_t> ne);

// "[4096, 32000]"
std::string shape_string(std::span<const int64_t> ne);

// Text from a file, quoted and made printable for an error message, cut after max_chars.
std::string printable(std::string_view text, size_t max_chars = 80);

// Rounds up to a multiple of a power of two; the caller keeps `v` far below UINT64_MAX.
inline uint64_t align_up(uint64_t v, uint64_t alignment) {
    return (v + alignment - 1) & ~(alignment - 1);
}

inline bool is_power_of_two(uint64_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

} // namespace graft::gguf
