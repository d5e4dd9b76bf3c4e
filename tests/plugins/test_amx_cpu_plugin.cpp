// amx-cpu: the plugin table as the host sees it: name, version, one device "cpu" with
// facts from CPUID and /proc/meminfo, the kernel list (the whole op vocabulary, fast
// kernels first, a "_ref" for each op), configure, and the score of this machine.
#include "amx_cpu_fixture.h"

#include "score_logic_for_tests.h"

#include <cpuid.h>

#include <map>
#include <set>

namespace graft::test {
namespace {

const char *const kVocabulary[] = {"embedding", "rmsnorm",     "rope",   "linear", "attention",
                                   "router",    "moe_experts", "swiglu", "add"};

class Plugin : public AmxCpuVariant {};

TEST_P(Plugin, TableDescribesItself) {
    const graft_plugin &p = *plugin().api;
    EXPECT_EQ(p.abi_version, GRAFT_ABI_VERSION);
    EXPECT_EQ(p.struct_size, sizeof(graft_plugin));
    EXPECT_STREQ(p.name, "amx-cpu");
    EXPECT_NE(std::string(p.version), "");
    EXPECT_NE(std::string(p.description), "");
    EXPECT_STREQ(p.device_prefix, "cpu");
    EXPECT_EQ(p.memory, nullptr) << "host memory only";
    ASSERT_NE(p.last_error, nullptr);
    EXPECT_NE(p.last_error(), nullptr);
}

TEST_P(Plugin, OneCpuDevice) {
    const graft_plugin &p = *plugin().api;
    ASSERT_EQ(p.n_devices, 1u);
    graft_device_info info = sdk::versioned<graft_device_info>();
    ASSERT_EQ(p.device_info(0, &info), GRAFT_OK) << p.last_error();
    EXPECT_EQ(info.kind, GRAFT_DEVICE_CPU);
    EXPECT_STREQ(info.name, "cpu");
    EXPECT_NE(std::string(info.description).find(GetParam()), std::string::npos)
        << info.description;
    EXPECT_GT(info.memory_total, 0u);
    EXPECT_LE(info.memory_free, info.memory_total);
    EXPECT_TRUE(info.caps & GRAFT_CAP_HOST_MEMORY);
    // The caps follow CPUID: the variant runs, so the CPU has at least AVX2.
    const amx_cpu::IsaFeatures f = this_cpu_features();
    EXPECT_EQ((info.caps & GRAFT_CAP_AVX2) != 0, f.avx2);
    EXPECT_EQ((info.caps & GRAFT_CAP_AVX512F) != 0, f.avx512f);
    EXPECT_EQ((info.caps & GRAFT_CAP_AVX512_VNNI) != 0, f.avx512_vnni);
    EXPECT_EQ((info.caps & GRAFT_CAP_AMX_TILE) != 0, f.amx_tile);
    EXPECT_NE(std::string(info.capabilities).find("avx2"), std::string::npos);
    EXPECT_EQ(p.device_info(1, &info), GRAFT_ERR_INVALID_ARGUMENT);
    // An older host's smaller struct is filled only as far as it reaches.
    graft_device_info small = sdk::versioned<graft_device_info>();
    small.struct_size = offsetof(graft_device_info, description);
    small.description = "untouched";
    ASSERT_EQ(p.device_info(0, &small), GRAFT_OK);
    EXPECT_STREQ(small.name, "cpu");
    EXPECT_STREQ(small.description, "untouched");
}

TEST_P(Plugin, KernelsCoverTheVocabulary) {
    const graft_plugin &p = *plugin().api;
    std::set<std::string> impls;
    std::map<std::string, std::string> first_of_op;
    for (uint32_t i = 0; i < p.n_kernels; ++i) {
        const graft_kernel &k = p.kernels[i];
        EXPECT_EQ(k.abi_version, GRAFT_ABI_VERSION);
        ASSERT_NE(k.op, nullptr);
        ASSERT_NE(k.impl, nullptr);
        EXPECT_TRUE(impls.insert(k.impl).second) << "duplicate impl " << k.impl;
        first_of_op.emplace(k.op, k.impl);
        EXPECT_EQ(k.device_kinds, 1u << GRAFT_DEVICE_CPU) << k.impl;
        EXPECT_NE(k.create, nullptr);
        EXPECT_NE(k.run, nullptr);
        EXPECT_NE(k.destroy, nullptr);
        EXPECT_EQ(k.prepare_weights == nullptr, k.release_weights == nullptr) << k.impl;
    }
    for (const char *op : kVocabulary) {
        SCOPED_TRACE(op);
        EXPECT_TRUE(impls.count(op)) << "no fast kernel";
        EXPECT_TRUE(impls.count(std::string(op) + "_ref")) << "no reference kernel";
        // The planner takes an op's first kernel as the device default: the fast one.
        EXPECT_EQ(first_of_op[op], op);
    }
    // Every dtype the assignment names, for each op that takes a weight matrix.
    const graft_dtype wanted[] = {
        GRAFT_DTYPE_F32,  GRAFT_DTYPE_F16,  GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0,
        GRAFT_DTYPE_Q4_1, GRAFT_DTYPE_Q5_0, GRAFT_DTYPE_Q5_1, GRAFT_DTYPE_Q2_K, GRAFT_DTYPE_Q3_K,
        GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q5_K, GRAFT_DTYPE_Q6_K};
    for (const char *impl :
         {"linear", "linear_ref", "embedding", "router", "moe_experts", "moe_experts_ref"}) {
        const graft_kernel *k = plugin().kernel(impl);
        ASSERT_NE(k, nullptr) << impl;
        const std::set<graft_dtype> has(k->weight_dtypes, k->weight_dtypes + k->n_weight_dtypes);
        for (graft_dtype d : wanted)
            EXPECT_TRUE(has.count(d)) << impl << " lacks " << sdk::dtype_name(d);
    }
}

TEST_P(Plugin, ConfigureThreads) {
    const graft_plugin &p = *plugin().api;
    ASSERT_NE(p.configure, nullptr);
    const graft_param two[] = {sdk::make_int_param("threads", 2),
                               sdk::make_int_param("spin_us", 50)};
    EXPECT_EQ(p.configure(two, 2), GRAFT_OK) << p.last_error();
    const graft_param bad[] = {sdk::make_int_param("threads", -3)};
    EXPECT_EQ(p.configure(bad, 1), GRAFT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(p.last_error()).find("threads"), std::string::npos) << p.last_error();
    EXPECT_EQ(p.configure(nullptr, 0), GRAFT_OK) << "defaults: physical cores";
}

TEST_P(Plugin, ScoreAgreesWithCpuid) {
    const auto variant = GetParam() == "avx2"     ? amx_cpu::Variant::avx2
                         : GetParam() == "avx512" ? amx_cpu::Variant::avx512
                                                  : amx_cpu::Variant::amx;
    // The AMX permission is a property of the process; the loaded plugin already asked.
    const uint32_t expected = amx_cpu::variant_score(variant, this_cpu_features(), true);
    EXPECT_EQ(plugin().score, expected);
}

TEST_P(Plugin, CreateRejectsNull) {
    const graft_kernel *k = plugin().kernel("linear");
    ASSERT_NE(k, nullptr);
    void *state = nullptr;
    EXPECT_EQ(k->create(nullptr, &state), GRAFT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(k->run(nullptr, nullptr), GRAFT_ERR_INVALID_ARGUMENT);
}

GRAFT_AMX_CPU_VARIANTS(Plugin);

} // namespace
} // namespace graft::test
