// The reference a GPU kernel is compared with, and random test data.
#pragma once

#include "harness.h"

#include <graft/plugin.h>

#include <random>
#include <string>
#include <vector>

namespace graft::gputest {

// The reference kernel of `op` that accepts weights of `weight_dtype` (GRAFT_DTYPE_COUNT:
// the op takes no weights): the amx-cpu plugin's "<op>_ref" when that plugin is built and
// has it, else this suite's own reference plugin (plain C++, double accumulation).
struct Reference {
    Target *target = nullptr;
    const graft_kernel *kernel = nullptr;
    std::string source; // "amx-cpu/linear_ref" or "test-reference/linear_ref"
};
Reference reference_for(const std::string &op, graft_dtype weight_dtype = GRAFT_DTYPE_COUNT);

// This suite's reference plugin: a CPU plugin table with host memory only.
const graft_plugin *local_reference_plugin();

// Dequantises row `row` of a GGUF matrix (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K).
std::vector<float> dequantize_row(graft_dtype dtype, const uint8_t *data, int64_t n);

// Random data. Quantized weights get random blocks (scales in a range that keeps products
// of realistic size), so every code path of the block formats is exercised.
std::vector<float> random_floats(size_t n, std::mt19937 &rng, float lo = -1.0f, float hi = 1.0f);
HostTensor random_matrix(graft_dtype dtype, int64_t n_in, int64_t n_out, std::mt19937 &rng);

} // namespace graft::gputest
