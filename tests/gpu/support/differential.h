// Differential checks: run one op on a kernel under test and on its reference with the same
// inputs, and compare every output.
#pragma once

#include "harness.h"
#include "reference.h"

#include <string>
#include <vector>

namespace graft::gputest {

struct OpCase {
    std::string op;
    graft_dtype weight_dtype = GRAFT_DTYPE_COUNT; // dtype of weights[0]; COUNT: none
    std::vector<HostTensor> weights;
    std::vector<graft_param> params;
    std::vector<HostTensor> inputs;
    std::vector<HostTensor> outputs; // dtypes and shapes
    std::vector<graft_param> call_params;
};

// Runs `c` on target's kernel `impl` and on the reference; expects the relative RMS error of
// every output to be at most `tolerance`. `label` names the case in failure messages.
void expect_matches_reference(Target &target, const std::string &impl, const OpCase &c,
                              double tolerance, const std::string &label);

} // namespace graft::gputest
