// Sample contents for writer tests, shared by the round-trip and the llama.cpp oracle tests.
#pragma once

#include <graft/gguf/gguf.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace graft::gguf::testing {

// One key per scalar type and per array element type, at the edges of each range.
Writer writer_with_every_value_type();

struct SampleTensor {
    graft_dtype dtype;
    std::vector<int64_t> ne;
    std::vector<std::byte> data; // random bytes of the tensor's size
};

// Tensors of a dozen dtypes (float, quantized, integer) and 1 to 4 dimensions.
std::vector<SampleTensor> sample_tensors();

// Adds sample_tensors() to `w` as "t0", "t1", ... and returns them.
std::vector<SampleTensor> add_sample_tensors(Writer &w);

std::vector<std::byte> random_bytes(size_t n, uint32_t seed);

} // namespace graft::gguf::testing
