// The memory API of every accelerator plugin on a real device: each buffer kind, copies in
// both directions with and without a stream, copies on the device, synchronisation, and a
// refused allocation. Also the rocm kernels and a kernel on a stream. Skipped per plugin
// when it has no device.
#include "support/device.h"
#include "support/differential.h"

#include <graft/plugin.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>
#include <vector>

namespace graft::gputest {
namespace {

class DeviceMemory : public ::testing::TestWithParam<const char *> {
  protected:
    void SetUp() override { GRAFT_OPEN_DEVICE_OR_SKIP(target_, GetParam()); }
    std::unique_ptr<Target> target_;
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = static_cast<uint8_t>(i * 131u + seed);
    return v;
}

TEST_P(DeviceMemory, EveryBufferKindRoundTrips) {
    const graft_plugin *p = target_->plugin();
    const graft_memory_api &m = *p->memory;
    const size_t n = (1u << 20) + 13; // not a multiple of any page or block
    for (uint32_t k = 0; k < p->n_buffer_kinds; ++k) {
        const graft_buffer_kind &kind = p->buffer_kinds[k];
        SCOPED_TRACE(kind.name);
        void *a = nullptr, *b = nullptr;
        ASSERT_EQ(m.alloc(0, kind.id, n, &a), GRAFT_OK) << p->last_error();
        ASSERT_EQ(m.alloc(0, kind.id, n, &b), GRAFT_OK) << p->last_error();
        const auto in = pattern(n, static_cast<uint8_t>(k));
        std::vector<uint8_t> out(n, 0);
        ASSERT_EQ(m.copy_to_device(0, a, in.data(), n, nullptr), GRAFT_OK) << p->last_error();
        if (m.copy_on_device) {
            ASSERT_EQ(m.copy_on_device(0, b, a, n, nullptr), GRAFT_OK) << p->last_error();
        } else {
            m.free(0, b);
            b = a;
        }
        ASSERT_EQ(m.synchronize(0, nullptr), GRAFT_OK) << p->last_error();
        ASSERT_EQ(m.copy_to_host(0, out.data(), b, n, nullptr), GRAFT_OK) << p->last_error();
        EXPECT_EQ(in, out);
        if (kind.flags & GRAFT_BUFFER_HOST_VISIBLE) { // the host reads it directly
            EXPECT_EQ(std::memcmp(static_cast<uint8_t *>(a), in.data(), n), 0);
        }
        if (b != a)
            m.free(0, b);
        m.free(0, a);
    }
}

TEST_P(DeviceMemory, CopiesOnAStreamRunInOrder) {
    const graft_plugin *p = target_->plugin();
    const graft_memory_api &m = *p->memory;
    if (!m.stream_create)
        GTEST_SKIP() << p->name << " has no streams";
    void *stream = nullptr;
    ASSERT_EQ(m.stream_create(0, &stream), GRAFT_OK) << p->last_error();
    ASSERT_NE(stream, nullptr);
    const size_t n = 3u << 20;
    void *a = target_->alloc(n), *b = target_->alloc(n);
    const auto first = pattern(n, 1), second = pattern(n, 2);
    std::vector<uint8_t> out(n, 0);
    // Two writes to one buffer, then a copy and a read: only the order makes `second` win.
    ASSERT_EQ(m.copy_to_device(0, a, first.data(), n, stream), GRAFT_OK) << p->last_error();
    ASSERT_EQ(m.copy_to_device(0, a, second.data(), n, stream), GRAFT_OK) << p->last_error();
    if (m.copy_on_device) {
        ASSERT_EQ(m.copy_on_device(0, b, a, n, stream), GRAFT_OK) << p->last_error();
    }
    ASSERT_EQ(m.copy_to_host(0, out.data(), m.copy_on_device ? b : a, n, stream), GRAFT_OK)
        << p->last_error();
    ASSERT_EQ(m.synchronize(0, stream), GRAFT_OK) << p->last_error();
    EXPECT_EQ(out, second);
    m.stream_destroy(0, stream);
}

TEST_P(DeviceMemory, AnImpossibleAllocationIsRefused) {
    const graft_plugin *p = target_->plugin();
    void *ptr = nullptr;
    const graft_status s = p->memory->alloc(0, 0, uint64_t{1} << 60, &ptr);
    EXPECT_NE(s, GRAFT_OK);
    EXPECT_EQ(ptr, nullptr);
    EXPECT_NE(std::string(p->last_error()), "");
    // The device still works afterwards.
    void *small = nullptr;
    ASSERT_EQ(p->memory->alloc(0, 0, 4096, &small), GRAFT_OK) << p->last_error();
    p->memory->free(0, small);
}

INSTANTIATE_TEST_SUITE_P(Gpu, DeviceMemory, ::testing::Values("cuda", "marlin", "rocm", "npu"),
                         [](const ::testing::TestParamInfo<const char *> &param_info) {
                             return std::string(param_info.param);
                         });

class ElementwiseKernels : public ::testing::TestWithParam<const char *> {
  protected:
    void SetUp() override { GRAFT_OPEN_DEVICE_OR_SKIP(target_, GetParam()); }
    std::unique_ptr<Target> target_;
    std::mt19937 rng_{7};
};

TEST_P(ElementwiseKernels, AddAndSwigluMatchTheReference) {
    for (int64_t n : {1, 1000, 65537}) {
        for (const char *op : {"add", "swiglu"}) {
            OpCase c;
            c.op = op;
            c.inputs = {HostTensor::f32({n}, random_floats(static_cast<size_t>(n), rng_, -6, 6)),
                        HostTensor::f32({n}, random_floats(static_cast<size_t>(n), rng_))};
            c.outputs = {HostTensor::zeros(GRAFT_DTYPE_F32, {n})};
            expect_matches_reference(*target_, op, c, 1e-6,
                                     std::string(op) + " of " + std::to_string(n));
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Gpu, ElementwiseKernels, ::testing::Values("cuda", "rocm"),
                         [](const ::testing::TestParamInfo<const char *> &param_info) {
                             return std::string(param_info.param);
                         });

TEST(CudaStreams, AKernelOnAStreamMatchesTheDefaultStream) {
    std::unique_ptr<Target> cuda;
    GRAFT_OPEN_DEVICE_OR_SKIP(cuda, "cuda");
    const graft_memory_api &m = *cuda->plugin()->memory;
    std::mt19937 rng(3);
    const HostTensor w = random_matrix(GRAFT_DTYPE_Q4_0, 512, 96, rng);
    const HostTensor x = HostTensor::f32({512, 20}, random_floats(512 * 20, rng));
    Instance inst(*cuda, cuda->kernel("linear"), {w}, {});
    ASSERT_TRUE(inst.ok()) << inst.error();
    DeviceTensor dx = cuda->upload(x);
    DeviceTensor y_default = cuda->empty(GRAFT_DTYPE_F32, {96, 20});
    DeviceTensor y_stream = cuda->empty(GRAFT_DTYPE_F32, {96, 20});
    ASSERT_EQ(inst.run({&dx}, {&y_default}), GRAFT_OK) << inst.last_error();
    void *stream = nullptr;
    ASSERT_EQ(m.stream_create(0, &stream), GRAFT_OK);
    ASSERT_EQ(inst.run({&dx}, {&y_stream}, {}, stream), GRAFT_OK) << inst.last_error();
    std::vector<float> from_stream(96 * 20, -1.0f);
    ASSERT_EQ(m.copy_to_host(0, from_stream.data(), y_stream.tensor.data, 96 * 20 * 4, stream),
              GRAFT_OK);
    ASSERT_EQ(m.synchronize(0, stream), GRAFT_OK);
    m.stream_destroy(0, stream);
    EXPECT_EQ(cuda->download(y_default).floats(), from_stream);
}

} // namespace
} // namespace graft::gputest
