// The cases `graft plugins check` runs per op of the vocabulary in graft/plugin.h: random
// inputs over a grid of shapes (one row, many rows, odd sizes) for each weight dtype, and
// the tolerance each is held to. docs/writing-a-plugin.md lists the tolerances.
#pragma once

#include "plugin_check_data.h"

#include <string>
#include <vector>

namespace graft::cli::check {

struct Case {
    std::string label;    // "linear Q4_0 (n_in 256, n_out 67, T 7, bias)"
    std::string variety;  // what the tolerance depends on: a weight dtype ("Q4_0"),
                          // "F32" for ops without weights, "cache F16" for attention
    double tolerance = 0; // on the error measure below
    bool perf = false;    // the case --perf times (a larger shape)
    std::vector<HostTensor> weights, inputs, outputs;
    std::vector<graft_param> config_params, call_params; // keys and strings are literals
    std::vector<uint32_t> written_inputs; // inputs the op writes (attention's caches)
    // router: outputs are top-k ids and their weights, compared as sets (see compare).
    bool top_k_outputs = false;
};

// Ops this checker has cases for.
bool op_known(const std::string &op);

// The varieties to check for a kernel of `op` that takes these weight dtypes, given what
// the reference takes: dtypes in both that the checker can make; "F32" for ops without
// weights, "cache F32" and "cache F16" for attention.
std::vector<std::string> varieties(const std::string &op, const std::vector<graft_dtype> &kernel,
                                   const std::vector<graft_dtype> &reference);

// The grid of one variety; with `perf` one larger case (marked perf) is added.
std::vector<Case> make_cases(const std::string &op, const std::string &variety, bool perf);

// The tolerance of a variety, on the error measure: the largest |plugin - reference| over
// the output divided by the root mean square of the reference output.
double tolerance_of(const std::string &variety);

} // namespace graft::cli::check
