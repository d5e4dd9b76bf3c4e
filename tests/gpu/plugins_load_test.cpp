// The cuda, marlin, rocm and npu plugins load on any machine: with their runtime present but
// no device they report no devices and say why, declare their device prefix and kernels,
// and answer memory and kernel calls for a missing device with an error, never a crash.
#include "support/plugin_loader.h"

#include <graft/plugin.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace graft::gputest {
namespace {

struct Expected {
    const char *name;
    const char *prefix;
    bool built;                // configure found the toolchain
    const char *device_node;   // present when the machine may have such a device
    std::set<std::string> ops; // the ops its kernels implement
    bool vendor_runtime;       // links a vendor runtime that a machine may lack
};

void PrintTo(const Expected &e, std::ostream *os) {
    *os << e.name;
}

std::vector<Expected> expected_plugins() {
    return {
        {"cuda",
         "cuda",
         GRAFT_TEST_HAVE_CUDA,
         "/dev/nvidiactl",
         {"embedding", "rmsnorm", "rope", "linear", "attention", "swiglu", "add"},
         false},
        {"marlin", "cuda", GRAFT_TEST_HAVE_CUDA, "/dev/nvidiactl", {"linear"}, false},
        {"rocm", "rocm", GRAFT_TEST_HAVE_ROCM, "/dev/kfd", {"add", "swiglu"}, true},
        {"npu", "npu", GRAFT_TEST_HAVE_NPU, "/dev/accel", {}, true},
    };
}

bool device_node_present(const char *path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}

// The plugin, or nullptr after skipping: the cuda plugins carry their runtime and must
// load everywhere; rocm and npu link libamdhip64 / libze_loader, which a machine where the
// tree was not built (a GPU box given only the build output) may lack.
const graft_plugin *load_or_skip(const Expected &e, std::string &skip_reason) {
    if (!e.built) {
        skip_reason = std::string("plugin ") + e.name + " was skipped at configure time";
        return nullptr;
    }
    const LoadedPlugin &p = load_plugin(e.name);
    if (!p.table && e.vendor_runtime &&
        p.error.find("cannot open shared object file") != std::string::npos) {
        skip_reason = std::string("plugin ") + e.name + ": its runtime is not installed here (" +
                      p.error + ")";
        return nullptr;
    }
    EXPECT_TRUE(p.table) << p.path << ": " << p.error;
    return p.table;
}

class PluginLoad : public ::testing::TestWithParam<Expected> {};

TEST_P(PluginLoad, LoadsAndDescribesItself) {
    const Expected &e = GetParam();
    std::string skip;
    const graft_plugin *loaded = load_or_skip(e, skip);
    if (!skip.empty())
        GTEST_SKIP() << skip;
    ASSERT_TRUE(loaded);
    const graft_plugin &t = *loaded;
    EXPECT_EQ(t.abi_version, GRAFT_ABI_VERSION);
    EXPECT_GE(t.struct_size, sizeof(graft_plugin));
    EXPECT_STREQ(t.name, e.name);
    ASSERT_NE(t.device_prefix, nullptr);
    EXPECT_STREQ(t.device_prefix, e.prefix);
    ASSERT_NE(t.last_error, nullptr);
    EXPECT_NE(t.last_error(), nullptr);
    ASSERT_NE(t.memory, nullptr) << "every accelerator plugin has a memory API";
    ASSERT_NE(t.device_info, nullptr);

    std::set<std::string> ops;
    for (uint32_t i = 0; i < t.n_kernels; ++i) {
        const graft_kernel &k = t.kernels[i];
        ops.insert(k.op);
        EXPECT_NE(k.create, nullptr);
        EXPECT_NE(k.run, nullptr);
        EXPECT_NE(k.destroy, nullptr);
        EXPECT_TRUE(k.device_kinds & (1u << GRAFT_DEVICE_GPU)) << k.impl;
        if (k.prepare_weights) {
            EXPECT_NE(k.release_weights, nullptr) << k.impl;
        }
    }
    EXPECT_EQ(ops, e.ops);

    if (!device_node_present(e.device_node)) {
        // No device here: loaded anyway, with no devices and a note that says why.
        EXPECT_EQ(t.n_devices, 0u);
        ASSERT_NE(t.status_note, nullptr);
        EXPECT_EQ(std::string(t.status_note).rfind("no ", 0), 0u) << t.status_note;
    }
    for (uint32_t i = 0; i < t.n_devices; ++i) {
        auto info = sdk::versioned<graft_device_info>();
        ASSERT_EQ(t.device_info(i, &info), GRAFT_OK) << t.last_error();
        EXPECT_EQ(std::string(info.name).rfind(std::string(e.prefix) + ":", 0), 0u) << info.name;
    }
}

TEST_P(PluginLoad, MissingDeviceIsAnErrorNotACrash) {
    const Expected &e = GetParam();
    std::string skip;
    const graft_plugin *loaded = load_or_skip(e, skip);
    if (!skip.empty())
        GTEST_SKIP() << skip;
    ASSERT_TRUE(loaded);
    const graft_plugin &t = *loaded;
    const uint32_t missing = t.n_devices; // one past the last device

    auto info = sdk::versioned<graft_device_info>();
    EXPECT_EQ(t.device_info(missing, &info), GRAFT_ERR_NO_DEVICE);

    void *ptr = reinterpret_cast<void *>(0x1);
    EXPECT_EQ(t.memory->alloc(missing, 0, 1024, &ptr), GRAFT_ERR_NO_DEVICE);
    EXPECT_EQ(ptr, nullptr);
    EXPECT_NE(std::string(t.last_error()), "");
    char host[16] = {};
    EXPECT_NE(t.memory->copy_to_device(missing, host, host, sizeof host, nullptr), GRAFT_OK);
    EXPECT_NE(t.memory->copy_to_host(missing, host, host, sizeof host, nullptr), GRAFT_OK);
    EXPECT_NE(t.memory->synchronize(missing, nullptr), GRAFT_OK);
    t.memory->free(missing, nullptr); // a no-op, not a crash
    if (t.memory->stream_create) {
        void *stream = nullptr;
        EXPECT_NE(t.memory->stream_create(missing, &stream), GRAFT_OK);
        EXPECT_EQ(stream, nullptr);
    }

    for (uint32_t i = 0; i < t.n_kernels; ++i) {
        auto config = sdk::versioned<graft_kernel_config>();
        config.device = missing;
        void *state = nullptr;
        EXPECT_NE(t.kernels[i].create(&config, &state), GRAFT_OK) << t.kernels[i].impl;
        EXPECT_EQ(state, nullptr);
        EXPECT_NE(t.kernels[i].create(nullptr, &state), GRAFT_OK) << t.kernels[i].impl;
    }
}

INSTANTIATE_TEST_SUITE_P(Gpu, PluginLoad, ::testing::ValuesIn(expected_plugins()),
                         [](const ::testing::TestParamInfo<Expected> &param_info) {
                             return std::string(param_info.param.name);
                         });

TEST(PluginLoad, MarlinDeclaresInt4LinearWithItsOwnLayout) {
    if (!GRAFT_TEST_HAVE_CUDA)
        GTEST_SKIP() << "the CUDA plugins were skipped at configure time";
    const LoadedPlugin &p = load_plugin("marlin");
    ASSERT_TRUE(p.table) << p.error;
    const graft_kernel *k = find_kernel(p.table, "linear");
    ASSERT_NE(k, nullptr);
    ASSERT_NE(k->prepare_weights, nullptr) << "marlin repacks GGUF blocks at load";
    std::set<int> dtypes(k->weight_dtypes, k->weight_dtypes + k->n_weight_dtypes);
    EXPECT_EQ(dtypes, (std::set<int>{GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q4_K}));
}

TEST(PluginLoad, CudaLinearAcceptsTheGgufWeightTypes) {
    if (!GRAFT_TEST_HAVE_CUDA)
        GTEST_SKIP() << "the CUDA plugins were skipped at configure time";
    const LoadedPlugin &p = load_plugin("cuda");
    ASSERT_TRUE(p.table) << p.error;
    for (const char *impl : {"linear", "embedding"}) {
        const graft_kernel *k = find_kernel(p.table, impl);
        ASSERT_NE(k, nullptr) << impl;
        std::set<int> dtypes(k->weight_dtypes, k->weight_dtypes + k->n_weight_dtypes);
        for (int d : {GRAFT_DTYPE_F32, GRAFT_DTYPE_F16, GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q8_0,
                      GRAFT_DTYPE_Q4_0})
            EXPECT_TRUE(dtypes.count(d)) << impl << " lacks dtype " << d;
    }
}

} // namespace
} // namespace graft::gputest
