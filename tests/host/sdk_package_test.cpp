// The SDK as a plugin author meets it: install the SDK of this build tree into a fresh
// prefix, build sdk/examples/hello-plugin out of tree against that prefix alone, install
// the plugin, discover it, and run its kernels through the ABI against references.
#include "process.h"

#include <graft/host/registry.h>
#include <graft/plugin.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace graft::host_test {
namespace {

namespace fs = std::filesystem;
using host::KernelRecord;

// Runs a command, failing the test with its output when it does not exit 0.
::testing::AssertionResult succeeds(const std::string &command) {
    const ProcessResult result = run_process(command + " 2>&1");
    if (result.exit_code == 0)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << command << "\nexited " << result.exit_code << ":\n"
                                         << result.output;
}

class TempDir {
  public:
    TempDir()
        : path_(fs::temp_directory_path() / ("graft-sdk-test-" + std::to_string(::getpid()))) {
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const fs::path &path() const { return path_; }

  private:
    fs::path path_;
};

graft_tensor f32_tensor(std::vector<float> &data, int64_t ne0, int64_t ne1) {
    graft_tensor t{};
    t.data = data.data();
    t.dtype = GRAFT_DTYPE_F32;
    t.n_dims = 2;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = t.ne[3] = 1;
    sdk::set_contiguous_strides(t);
    return t;
}

std::vector<float> random_values(size_t n, std::mt19937 &rng) {
    std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
    std::vector<float> v(n);
    for (float &x : v)
        x = dist(rng);
    return v;
}

// create + run + destroy of one kernel; returns run's status.
graft_status run_kernel(const KernelRecord &kernel, const std::vector<graft_tensor> &weights,
                        const std::vector<graft_tensor> &inputs, graft_tensor output) {
    auto config = sdk::versioned<graft_kernel_config>();
    config.weights = weights.empty() ? nullptr : weights.data();
    config.n_weights = static_cast<uint32_t>(weights.size());
    void *state = nullptr;
    if (graft_status s = kernel.api->create(&config, &state); s != GRAFT_OK)
        return s;
    auto call = sdk::versioned<graft_kernel_call>();
    call.inputs = inputs.data();
    call.n_inputs = static_cast<uint32_t>(inputs.size());
    call.outputs = &output;
    call.n_outputs = 1;
    const graft_status status = kernel.api->run(state, &call);
    kernel.api->destroy(state);
    return status;
}

TEST(SdkPackage, ExamplePluginBuildsOutOfTreeAndRuns) {
    const TempDir tmp;
    const fs::path prefix = tmp.path() / "sdk";
    const fs::path build = tmp.path() / "build";
    const fs::path plugin_prefix = tmp.path() / "plugin";

    // 1. The SDK component of this build tree, and nothing else, into a fresh prefix.
    ASSERT_TRUE(succeeds(shell_quote(HOST_CMAKE_COMMAND) + " --install " +
                         shell_quote(GRAFT_BINARY_DIR) + " --prefix " +
                         shell_quote(prefix.string()) + " --component sdk"));
    for (const char *file :
         {"include/graft/plugin.h", "include/graft/plugin.hpp",
          "lib/cmake/graft-sdk/graft-sdkConfig.cmake",
          "lib/cmake/graft-sdk/graft-sdkConfigVersion.cmake",
          "lib/cmake/graft-sdk/GraftPlugin.cmake", "lib/cmake/graft-sdk/graft-plugin.map"})
        EXPECT_TRUE(fs::is_regular_file(prefix / file)) << file;
    if (fs::exists(fs::path(GRAFT_SOURCE_DIR) / "sdk/include/graft/quants.h")) {
        EXPECT_TRUE(fs::is_regular_file(prefix / "include/graft/quants.h"));
    }
    EXPECT_FALSE(fs::exists(prefix / "bin")) << "the sdk component installs only the SDK";

    // 2. The example, configured against that prefix alone, with warnings as errors.
    std::string configure =
        shell_quote(HOST_CMAKE_COMMAND) + " -S " +
        shell_quote(std::string(GRAFT_SOURCE_DIR) + "/sdk/examples/hello-plugin") + " -B " +
        shell_quote(build.string()) + " -G " + shell_quote(HOST_CMAKE_GENERATOR) +
        " -DCMAKE_MAKE_PROGRAM=" + shell_quote(HOST_CMAKE_MAKE_PROGRAM) +
        " -DCMAKE_CXX_COMPILER=" + shell_quote(HOST_CXX_COMPILER) +
        " -DCMAKE_PREFIX_PATH=" + shell_quote(prefix.string()) +
        " -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=Release" +
        " '-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Wshadow -Werror'";
    if (std::string(HOST_CXX_LAUNCHER).size() > 0)
        configure += " -DCMAKE_CXX_COMPILER_LAUNCHER=" + shell_quote(HOST_CXX_LAUNCHER);
    ASSERT_TRUE(succeeds(configure));
    ASSERT_TRUE(
        succeeds(shell_quote(HOST_CMAKE_COMMAND) + " --build " + shell_quote(build.string())));
    ASSERT_TRUE(succeeds(shell_quote(HOST_CMAKE_COMMAND) + " --install " +
                         shell_quote(build.string()) + " --prefix " +
                         shell_quote(plugin_prefix.string())));
    const fs::path plugin_dir = plugin_prefix / "lib/graft/plugins";
    ASSERT_TRUE(fs::is_regular_file(plugin_dir / "graft-example.so"));

    // 3. Discovered like any plugin.
    const host::Registry registry = host::Registry::discover({plugin_dir});
    const host::PluginRecord *example = registry.plugin("example");
    ASSERT_NE(example, nullptr) << (registry.plugins().empty()
                                        ? std::string("nothing found")
                                        : host::status_text(registry.plugins()[0]));
    ASSERT_EQ(example->devices.size(), 1u);
    EXPECT_EQ(example->devices[0].name, "cpu");
    EXPECT_EQ(example->devices[0].kind, GRAFT_DEVICE_CPU);
    EXPECT_TRUE(example->devices[0].caps & GRAFT_CAP_HOST_MEMORY);
    EXPECT_GT(example->devices[0].memory_total, 0u);
    EXPECT_EQ(example->device_prefix, "cpu");
    const KernelRecord *add = registry.kernel("example/add");
    const KernelRecord *swiglu = registry.kernel("example/swiglu");
    const KernelRecord *linear = registry.kernel("example/linear");
    ASSERT_TRUE(add && swiglu && linear);
    EXPECT_EQ(swiglu->op, "swiglu");
    EXPECT_TRUE(linear->takes(GRAFT_DTYPE_F32));
    EXPECT_FALSE(linear->takes(GRAFT_DTYPE_Q4_0));
    EXPECT_TRUE(add->runs_on(GRAFT_DEVICE_CPU));

    // 4. The kernels, through the ABI, against references computed here.
    std::mt19937 rng(1234);
    const int64_t n = 37, tokens = 3;
    std::vector<float> a = random_values(n * tokens, rng), b = random_values(n * tokens, rng);
    std::vector<float> out(n * tokens, -1.0f);
    ASSERT_EQ(run_kernel(*add, {}, {f32_tensor(a, n, tokens), f32_tensor(b, n, tokens)},
                         f32_tensor(out, n, tokens)),
              GRAFT_OK)
        << example->api->last_error();
    for (size_t i = 0; i < out.size(); ++i)
        ASSERT_EQ(out[i], a[i] + b[i]) << "add, element " << i;

    ASSERT_EQ(run_kernel(*swiglu, {}, {f32_tensor(a, n, tokens), f32_tensor(b, n, tokens)},
                         f32_tensor(out, n, tokens)),
              GRAFT_OK)
        << example->api->last_error();
    for (size_t i = 0; i < out.size(); ++i) {
        const double silu = a[i] / (1.0 + std::exp(-static_cast<double>(a[i])));
        ASSERT_NEAR(out[i], silu * b[i], 1e-5 * (1.0 + std::fabs(silu * b[i])))
            << "swiglu, element " << i;
    }

    const int64_t n_in = 19, n_out = 7;
    std::vector<float> w = random_values(n_in * n_out, rng), bias = random_values(n_out, rng);
    std::vector<float> x = random_values(n_in * tokens, rng), y(n_out * tokens, 0.0f);
    graft_tensor bias_tensor = f32_tensor(bias, n_out, 1);
    bias_tensor.n_dims = 1;
    ASSERT_EQ(run_kernel(*linear, {f32_tensor(w, n_in, n_out), bias_tensor},
                         {f32_tensor(x, n_in, tokens)}, f32_tensor(y, n_out, tokens)),
              GRAFT_OK)
        << example->api->last_error();
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t o = 0; o < n_out; ++o) {
            double expected = bias[o];
            for (int64_t i = 0; i < n_in; ++i)
                expected += static_cast<double>(w[o * n_in + i]) * x[t * n_in + i];
            ASSERT_NEAR(y[t * n_out + o], expected, 1e-4) << "linear, token " << t << " row " << o;
        }

    // 5. Bad calls are refused with a message, not a crash.
    std::vector<float> short_b(n, 0.0f);
    EXPECT_EQ(run_kernel(*add, {}, {f32_tensor(a, n, tokens), f32_tensor(short_b, n, 1)},
                         f32_tensor(out, n, tokens)),
              GRAFT_ERR_INVALID_ARGUMENT);
    EXPECT_STRNE(example->api->last_error(), "");
}

} // namespace
} // namespace graft::host_test
