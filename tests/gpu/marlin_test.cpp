// Differential tests of marlin/linear (int4 weights repacked by prepare_weights, tensor-core
// GEMM/GEMV with fp16 operands and fp32 accumulation) against the reference linear kernel.
// Skipped without a CUDA device of compute capability 8.0 or newer.
#include "support/device.h"
#include "support/differential.h"
#include "support/plugin_loader.h"

#include <graft/plugin.hpp>

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace graft::gputest {
namespace {

class Marlin : public ::testing::Test {
  protected:
    void SetUp() override { GRAFT_OPEN_DEVICE_OR_SKIP(marlin_, "marlin"); }
    std::unique_ptr<Target> marlin_;
    std::mt19937 rng_{99};

    HostTensor random_f32(std::vector<int64_t> shape) {
        int64_t n = 1;
        for (int64_t d : shape)
            n *= d;
        return HostTensor::f32(shape, random_floats(static_cast<size_t>(n), rng_));
    }
};

// fp16 operands: each product carries ~2^-11 relative rounding; a wrong layout or scale
// gives errors of order 1.
constexpr double kTolerance = 1e-2;

struct Shape {
    int64_t n_in, n_out, n_tok;
    bool bias;
};

std::string label(graft_dtype d, const Shape &s) {
    return std::string("marlin ") + sdk::dtype_name(d) + " " + std::to_string(s.n_in) + "->" +
           std::to_string(s.n_out) + " T " + std::to_string(s.n_tok) + (s.bias ? " bias" : "");
}

TEST_F(Marlin, Q4_0MatchesTheReference) {
    // n_in 96: not a multiple of the 64-column chunk (zero padding); n_out 40: not a
    // multiple of the 16-row tile; T across the 8/16/32-token tile sizes.
    const Shape shapes[] = {{96, 40, 1, false},  {96, 40, 3, true},     {256, 100, 8, false},
                            {256, 100, 9, true}, {256, 100, 16, false}, {256, 100, 17, false},
                            {512, 64, 33, true}, {4096, 256, 1, false}, {4096, 256, 100, true}};
    for (const Shape &s : shapes) {
        OpCase c;
        c.op = "linear";
        c.weight_dtype = GRAFT_DTYPE_Q4_0;
        c.weights = {random_matrix(GRAFT_DTYPE_Q4_0, s.n_in, s.n_out, rng_)};
        if (s.bias)
            c.weights.push_back(random_f32({s.n_out}));
        c.inputs = {random_f32({s.n_in, s.n_tok})};
        c.outputs = {HostTensor::zeros(GRAFT_DTYPE_F32, {s.n_out, s.n_tok})};
        expect_matches_reference(*marlin_, "linear", c, kTolerance, label(GRAFT_DTYPE_Q4_0, s));
    }
}

TEST_F(Marlin, Q4_KMatchesTheReference) {
    const Shape shapes[] = {{256, 1, 1, false},  {512, 100, 5, true},   {512, 100, 12, false},
                            {768, 48, 40, true}, {4096, 128, 1, false}, {4096, 128, 64, false}};
    for (const Shape &s : shapes) {
        OpCase c;
        c.op = "linear";
        c.weight_dtype = GRAFT_DTYPE_Q4_K;
        c.weights = {random_matrix(GRAFT_DTYPE_Q4_K, s.n_in, s.n_out, rng_)};
        if (s.bias)
            c.weights.push_back(random_f32({s.n_out}));
        c.inputs = {random_f32({s.n_in, s.n_tok})};
        c.outputs = {HostTensor::zeros(GRAFT_DTYPE_F32, {s.n_out, s.n_tok})};
        expect_matches_reference(*marlin_, "linear", c, kTolerance, label(GRAFT_DTYPE_Q4_K, s));
    }
}

TEST_F(Marlin, PreparedWeightsUseMarlinsOwnLayoutInDeviceMemory) {
    const graft_kernel *k = marlin_->kernel("linear");
    ASSERT_NE(k, nullptr);
    const HostTensor w = random_matrix(GRAFT_DTYPE_Q4_0, 64, 16, rng_);
    graft_tensor src = w.view(const_cast<uint8_t *>(w.bytes.data()), 0);
    graft_prepared_weight pw{};
    ASSERT_EQ(k->prepare_weights(0, 0, &src, &pw), GRAFT_OK) << marlin_->plugin()->last_error();
    EXPECT_NE(pw.tensor.layout, 0u);
    EXPECT_NE(pw.tensor.data, src.data);
    EXPECT_EQ(pw.tensor.ne[0], 64);
    EXPECT_EQ(pw.tensor.ne[1], 16);
    k->release_weights(0, &pw);

    // Weights in GGUF layout (not prepared) are refused by create, as are other dtypes.
    auto config = sdk::versioned<graft_kernel_config>();
    config.weights = &src;
    config.n_weights = 1;
    void *state = nullptr;
    EXPECT_EQ(k->create(&config, &state), GRAFT_ERR_UNSUPPORTED);
    const HostTensor q8 = random_matrix(GRAFT_DTYPE_Q8_0, 64, 16, rng_);
    graft_tensor q8_src = q8.view(const_cast<uint8_t *>(q8.bytes.data()), 0);
    EXPECT_EQ(k->prepare_weights(0, 0, &q8_src, &pw), GRAFT_ERR_UNSUPPORTED);
}

// "cuda:0" of the cuda and marlin plugins is one device: memory from one works in the other.
TEST_F(Marlin, SharesDeviceMemoryWithTheCudaPlugin) {
    std::string why;
    bool failure = false;
    std::unique_ptr<Target> cuda = open_device("cuda", why, failure);
    if (!cuda)
        GTEST_SKIP() << why;
    auto name_of = [](const graft_plugin *p, uint32_t i) {
        auto info = sdk::versioned<graft_device_info>();
        EXPECT_EQ(p->device_info(i, &info), GRAFT_OK);
        return std::string(info.name);
    };
    ASSERT_EQ(name_of(marlin_->plugin(), 0), name_of(cuda->plugin(), 0));
    ASSERT_EQ(find_device(cuda->plugin(), name_of(marlin_->plugin(), 0)), 0);

    const HostTensor w = random_matrix(GRAFT_DTYPE_Q4_0, 128, 32, rng_);
    const HostTensor x = random_f32({128, 4});
    Instance inst(*marlin_, marlin_->kernel("linear"), {w}, {});
    ASSERT_TRUE(inst.ok()) << inst.error();
    DeviceTensor dx = cuda->upload(x); // allocated and filled by the cuda plugin
    DeviceTensor dy = cuda->empty(GRAFT_DTYPE_F32, {32, 4});
    ASSERT_EQ(inst.run({&dx}, {&dy}), GRAFT_OK) << inst.last_error();
    cuda->synchronize();
    const Reference ref = reference_for("linear", GRAFT_DTYPE_Q4_0);
    const auto want = run_once(*ref.target, ref.kernel, {w}, {}, {x},
                               {HostTensor::zeros(GRAFT_DTYPE_F32, {32, 4})});
    ASSERT_EQ(want.size(), 1u);
    EXPECT_LE(relative_rms_error(want[0].floats(), cuda->download(dy).floats()), kTolerance);
}

} // namespace
} // namespace graft::gputest
