#include "differential.h"

#include <gtest/gtest.h>

#include <iostream>
#include <set>

namespace graft::gputest {

void expect_matches_reference(Target &target, const std::string &impl, const OpCase &c,
                              double tolerance, const std::string &label) {
    const Reference ref = reference_for(c.op, c.weight_dtype);
    ASSERT_NE(ref.kernel, nullptr) << "no reference for " << c.op;
    const graft_kernel *kernel = target.kernel(impl);
    ASSERT_NE(kernel, nullptr) << target.plugin()->name << " has no kernel " << impl;
    ::testing::Test::RecordProperty("reference_" + c.op, ref.source);
    static std::set<std::string> announced; // say once per op which reference judges
    if (announced.insert(ref.source).second)
        std::cout << "[ reference] " << c.op << ": " << ref.source << std::endl;
    const auto want =
        run_once(*ref.target, ref.kernel, c.weights, c.params, c.inputs, c.outputs, c.call_params);
    const auto got =
        run_once(target, kernel, c.weights, c.params, c.inputs, c.outputs, c.call_params);
    ASSERT_EQ(want.size(), c.outputs.size())
        << label << ": the reference " << ref.source << " failed";
    ASSERT_EQ(got.size(), c.outputs.size()) << label << ": " << impl << " failed";
    for (size_t i = 0; i < want.size(); ++i) {
        const double err = relative_rms_error(want[i].floats(), got[i].floats());
        EXPECT_LE(err, tolerance) << label << ": output " << i << " of " << target.plugin()->name
                                  << "/" << impl << " against " << ref.source;
    }
}

} // namespace graft::gputest
