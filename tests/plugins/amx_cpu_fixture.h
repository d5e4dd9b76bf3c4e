// GoogleTest fixture parameterised by amx-cpu ISA variant ("avx2", "avx512", "amx"): a
// variant that is not built or cannot run on this CPU skips with a message naming it.
#pragma once

#include "amx_cpu_harness.h"

#include <gtest/gtest.h>

namespace graft::test {

class AmxCpuVariant : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        std::string why_not;
        plugin_ = load_amx_cpu(GetParam(), why_not);
        if (!plugin_)
            GTEST_SKIP() << why_not;
    }
    const LoadedPlugin &plugin() const { return *plugin_; }

  private:
    const LoadedPlugin *plugin_ = nullptr;
};

inline std::string variant_test_name(const ::testing::TestParamInfo<std::string> &info) {
    return info.param;
}

#define GRAFT_AMX_CPU_VARIANTS(suite)                                                              \
    INSTANTIATE_TEST_SUITE_P(Variants, suite,                                                      \
                             ::testing::ValuesIn(::graft::test::amx_cpu_variants()),               \
                             ::graft::test::variant_test_name)

} // namespace graft::test
