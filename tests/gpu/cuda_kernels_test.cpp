// Differential tests of the cuda plugin's kernels against the reference kernels (amx-cpu's
// "<op>_ref" when built, else the suite's own) on random inputs: one row, many rows, odd
// sizes. Skipped without a CUDA device.
#include "support/device.h"
#include "support/differential.h"

#include <graft/plugin.hpp>

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace graft::gputest {
namespace {

using sdk::make_float_param;
using sdk::make_int_param;

class CudaKernels : public ::testing::Test {
  protected:
    void SetUp() override { GRAFT_OPEN_DEVICE_OR_SKIP(cuda_, "cuda"); }
    std::unique_ptr<Target> cuda_;
    std::mt19937 rng_{1234};

    HostTensor random_f32(std::vector<int64_t> shape, float lo = -1.0f, float hi = 1.0f) {
        int64_t n = 1;
        for (int64_t d : shape)
            n *= d;
        return HostTensor::f32(shape, random_floats(static_cast<size_t>(n), rng_, lo, hi));
    }
    HostTensor random_ids(int64_t n, int32_t lo, int32_t hi) {
        std::uniform_int_distribution<int32_t> dist(lo, hi);
        std::vector<int32_t> ids(static_cast<size_t>(n));
        for (auto &id : ids)
            id = dist(rng_);
        return HostTensor::i32({n}, ids);
    }
};

TEST_F(CudaKernels, AddAndSwiglu) {
    for (const auto &shape : std::vector<std::vector<int64_t>>{{1}, {1000, 3}, {4097, 7}}) {
        for (const char *op : {"add", "swiglu"}) {
            OpCase c;
            c.op = op;
            c.inputs = {random_f32(shape, -6.0f, 6.0f), random_f32(shape)};
            c.outputs = {HostTensor::zeros(GRAFT_DTYPE_F32, shape)};
            expect_matches_reference(*cuda_, op, c, 1e-6,
                                     std::string(op) + " of " + std::to_string(shape[0]));
        }
    }
}

TEST_F(CudaKernels, AddAndSwigluInPlace) { // out may alias a / gate
    for (const char *op : {"add", "swiglu"}) {
        const HostTensor a = random_f32({777, 3}, -6.0f, 6.0f), b = random_f32({777, 3});
        const Reference ref = reference_for(op);
        const auto want = run_once(*ref.target, ref.kernel, {}, {}, {a, b},
                                   {HostTensor::zeros(GRAFT_DTYPE_F32, {777, 3})});
        ASSERT_EQ(want.size(), 1u);
        Instance inst(*cuda_, cuda_->kernel(op), {}, {});
        ASSERT_TRUE(inst.ok()) << inst.error();
        DeviceTensor da = cuda_->upload(a), db = cuda_->upload(b);
        ASSERT_EQ(inst.run({&da, &db}, {&da}), GRAFT_OK) << inst.last_error();
        EXPECT_LE(relative_rms_error(want[0].floats(), cuda_->download(da).floats()), 1e-6) << op;
    }
}

TEST_F(CudaKernels, Rmsnorm) {
    struct Case {
        int64_t n, rows;
    };
    for (const Case s : {Case{4096, 1}, Case{128, 37}, Case{1001, 5}}) {
        OpCase c;
        c.op = "rmsnorm";
        c.weight_dtype = GRAFT_DTYPE_F32;
        c.weights = {random_f32({s.n}, 0.5f, 1.5f)};
        c.params = {make_float_param("eps", 1e-6)};
        c.inputs = {random_f32({s.n, s.rows}, -3.0f, 3.0f)};
        c.outputs = {HostTensor::zeros(GRAFT_DTYPE_F32, {s.n, s.rows})};
        expect_matches_reference(*cuda_, "rmsnorm", c, 1e-5,
                                 "rmsnorm " + std::to_string(s.n) + "x" + std::to_string(s.rows));
    }
}

TEST_F(CudaKernels, RmsnormInPlace) {
    const HostTensor gamma = random_f32({300}, 0.5f, 1.5f);
    const HostTensor x = random_f32({300, 4});
    const std::vector<graft_param> params = {make_float_param("eps", 1e-5)};
    const Reference ref = reference_for("rmsnorm", GRAFT_DTYPE_F32);
    const auto want = run_once(*ref.target, ref.kernel, {gamma}, params, {x},
                               {HostTensor::zeros(GRAFT_DTYPE_F32, {300, 4})});
    ASSERT_EQ(want.size(), 1u);
    Instance inst(*cuda_, cuda_->kernel("rmsnorm"), {gamma}, params);
    ASSERT_TRUE(inst.ok()) << inst.error();
    DeviceTensor buf = cuda_->upload(x);
    ASSERT_EQ(inst.run({&buf}, {&buf}), GRAFT_OK) << inst.last_error();
    EXPECT_LE(relative_rms_error(want[0].floats(), cuda_->download(buf).floats()), 1e-5);
}

struct RopeCase {
    int mode;
    int64_t head_dim, n_rot, n_head, n_tok;
    bool freq_factors;
    bool yarn;
};

std::string describe(const RopeCase &r) {
    return "rope mode " + std::to_string(r.mode) + " head_dim " + std::to_string(r.head_dim) +
           " n_rot " + std::to_string(r.n_rot) + " T " + std::to_string(r.n_tok) +
           (r.freq_factors ? " freq_factors" : "") + (r.yarn ? " yarn" : "");
}

TEST_F(CudaKernels, Rope) {
    const RopeCase cases[] = {
        {0, 128, 128, 4, 1, false, false}, {2, 128, 128, 4, 7, false, false},
        {0, 64, 32, 3, 5, false, false},   {2, 64, 32, 3, 5, false, false},
        {2, 128, 128, 2, 3, true, false},  {0, 96, 96, 2, 4, false, true},
        {2, 128, 64, 2, 3, true, true},
    };
    for (const RopeCase &r : cases) {
        OpCase c;
        c.op = "rope";
        c.weight_dtype = GRAFT_DTYPE_F32;
        if (r.freq_factors)
            c.weights = {random_f32({r.n_rot / 2}, 1.0f, 8.0f)};
        c.params = {make_int_param("n_rot", r.n_rot), make_int_param("mode", r.mode),
                    make_float_param("freq_base", r.yarn ? 10000.0 : 500000.0),
                    make_float_param("freq_scale", r.yarn ? 0.25 : 1.0)};
        if (r.yarn) {
            c.params.push_back(make_float_param("ext_factor", 1.0));
            c.params.push_back(make_float_param("attn_factor", 1.0));
            c.params.push_back(make_float_param("beta_fast", 32.0));
            c.params.push_back(make_float_param("beta_slow", 1.0));
            c.params.push_back(make_int_param("n_ctx_orig", 4096));
        }
        c.inputs = {random_f32({r.head_dim, r.n_head, r.n_tok}), random_ids(r.n_tok, 0, 500)};
        c.outputs = {HostTensor::zeros(GRAFT_DTYPE_F32, {r.head_dim, r.n_head, r.n_tok})};
        expect_matches_reference(*cuda_, "rope", c, 5e-4, describe(r));
    }
}

TEST_F(CudaKernels, RopeInPlace) {
    const HostTensor x = random_f32({64, 2, 3});
    const HostTensor pos = random_ids(3, 0, 100);
    const std::vector<graft_param> params = {make_int_param("n_rot", 64),
                                             make_int_param("mode", 2)};
    const Reference ref = reference_for("rope", GRAFT_DTYPE_F32);
    const auto want = run_once(*ref.target, ref.kernel, {}, params, {x, pos},
                               {HostTensor::zeros(GRAFT_DTYPE_F32, {64, 2, 3})});
    ASSERT_EQ(want.size(), 1u);
    Instance inst(*cuda_, cuda_->kernel("rope"), {}, params);
    ASSERT_TRUE(inst.ok()) << inst.error();
    DeviceTensor buf = cuda_->upload(x);
    DeviceTensor p = cuda_->upload(pos);
    ASSERT_EQ(inst.run({&buf, &p}, {&buf}), GRAFT_OK) << inst.last_error();
    EXPECT_LE(relative_rms_error(want[0].floats(), cuda_->download(buf).floats()), 5e-4);
}

const graft_dtype kWeightDtypes[] = {GRAFT_DTYPE_F32,  GRAFT_DTYPE_F16,  GRAFT_DTYPE_BF16,
                                     GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q4_K,
                                     GRAFT_DTYPE_Q6_K};

TEST_F(CudaKernels, Embedding) {
    for (graft_dtype d : kWeightDtypes) {
        for (int64_t n_tok : {1, 9}) {
            OpCase c;
            c.op = "embedding";
            c.weight_dtype = d;
            c.weights = {random_matrix(d, 256, 37, rng_)};
            c.inputs = {random_ids(n_tok, 0, 36)};
            c.outputs = {HostTensor::zeros(GRAFT_DTYPE_F32, {256, n_tok})};
            expect_matches_reference(*cuda_, "embedding", c, 1e-6,
                                     std::string("embedding ") + sdk::dtype_name(d) + " T " +
                                         std::to_string(n_tok));
        }
    }
}

TEST_F(CudaKernels, EmbeddingOutOfRangeIdsGiveZeros) {
    const HostTensor table = random_matrix(GRAFT_DTYPE_Q4_0, 64, 10, rng_);
    const auto out = run_once(*cuda_, cuda_->kernel("embedding"), {table}, {},
                              {HostTensor::i32({3}, {-1, 10, 5})},
                              {HostTensor::zeros(GRAFT_DTYPE_F32, {64, 3})});
    ASSERT_EQ(out.size(), 1u);
    const auto y = out[0].floats();
    const auto row5 = dequantize_row(GRAFT_DTYPE_Q4_0, table.bytes.data() + 5 * 36, 64);
    for (int k = 0; k < 64; ++k) {
        EXPECT_EQ(y[k], 0.0f);
        EXPECT_EQ(y[64 + k], 0.0f);
        EXPECT_EQ(y[128 + k], row5[k]);
    }
}

struct LinearShape {
    int64_t n_in, n_out, n_tok;
    bool bias;
};

TEST_F(CudaKernels, Linear) {
    // One token (GEMV), a few (GEMV, several per pass), many (tiled GEMM), odd sizes.
    const LinearShape shapes[] = {
        {256, 1, 1, false},   {256, 67, 3, true},    {256, 300, 8, false},  {256, 300, 9, true},
        {512, 67, 37, false}, {256, 130, 130, true}, {4096, 256, 1, false}, {4096, 256, 70, true}};
    for (graft_dtype d : kWeightDtypes) {
        for (LinearShape s : shapes) {
            const bool float_type =
                d == GRAFT_DTYPE_F32 || d == GRAFT_DTYPE_F16 || d == GRAFT_DTYPE_BF16;
            if (float_type && s.n_in == 512)
                s.n_in = 99; // float weights take any row length
            OpCase c;
            c.op = "linear";
            c.weight_dtype = d;
            c.weights = {random_matrix(d, s.n_in, s.n_out, rng_)};
            if (s.bias)
                c.weights.push_back(random_f32({s.n_out}));
            c.inputs = {random_f32({s.n_in, s.n_tok})};
            c.outputs = {HostTensor::zeros(GRAFT_DTYPE_F32, {s.n_out, s.n_tok})};
            expect_matches_reference(*cuda_, "linear", c, 1e-4,
                                     std::string("linear ") + sdk::dtype_name(d) + " " +
                                         std::to_string(s.n_in) + "->" + std::to_string(s.n_out) +
                                         " T " + std::to_string(s.n_tok));
        }
    }
}

TEST_F(CudaKernels, LinearRejectsAMismatchedInput) {
    Instance inst(*cuda_, cuda_->kernel("linear"), {random_matrix(GRAFT_DTYPE_Q8_0, 64, 8, rng_)},
                  {});
    ASSERT_TRUE(inst.ok()) << inst.error();
    DeviceTensor x = cuda_->upload(random_f32({32, 2}));
    DeviceTensor y = cuda_->empty(GRAFT_DTYPE_F32, {8, 2});
    EXPECT_EQ(inst.run({&x}, {&y}), GRAFT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(inst.last_error().find("features"), std::string::npos) << inst.last_error();
}

struct AttentionCase {
    int64_t head_dim, n_head, n_head_kv;
    graft_dtype cache;
};

TEST_F(CudaKernels, AttentionOverSeveralCalls) {
    const AttentionCase cases[] = {{64, 8, 2, GRAFT_DTYPE_F32},
                                   {64, 8, 2, GRAFT_DTYPE_F16},
                                   {128, 4, 4, GRAFT_DTYPE_F16},
                                   {80, 6, 3, GRAFT_DTYPE_F32},
                                   {256, 2, 1, GRAFT_DTYPE_F16}};
    const int64_t n_ctx = 48;
    const int64_t steps[] = {5, 1, 1, 4, 20}; // prefill, decode, decode, chunk, long chunk
    for (const AttentionCase &a : cases) {
        const std::string label = "attention head_dim " + std::to_string(a.head_dim) + " heads " +
                                  std::to_string(a.n_head) + "/" + std::to_string(a.n_head_kv) +
                                  " " + sdk::dtype_name(a.cache);
        const std::vector<graft_param> params = {make_int_param("n_head", a.n_head),
                                                 make_int_param("n_head_kv", a.n_head_kv),
                                                 make_int_param("head_dim", a.head_dim)};
        const Reference ref = reference_for("attention");
        Instance want_inst(*ref.target, ref.kernel, {}, params);
        Instance got_inst(*cuda_, cuda_->kernel("attention"), {}, params);
        ASSERT_TRUE(want_inst.ok()) << want_inst.error();
        ASSERT_TRUE(got_inst.ok()) << got_inst.error();
        const HostTensor empty_cache = HostTensor::zeros(a.cache, {a.head_dim, a.n_head_kv, n_ctx});
        DeviceTensor ref_k = ref.target->upload(empty_cache),
                     ref_v = ref.target->upload(empty_cache);
        DeviceTensor dev_k = cuda_->upload(empty_cache), dev_v = cuda_->upload(empty_cache);
        int64_t n_past = 0;
        for (int64_t t : steps) {
            const HostTensor q = random_f32({a.head_dim, a.n_head, t}, -2.0f, 2.0f);
            const HostTensor k = random_f32({a.head_dim, a.n_head_kv, t}, -2.0f, 2.0f);
            const HostTensor v = random_f32({a.head_dim, a.n_head_kv, t});
            const std::vector<graft_param> call = {make_int_param("n_past", n_past)};
            const HostTensor out_shape =
                HostTensor::zeros(GRAFT_DTYPE_F32, {a.head_dim, a.n_head, t});
            DeviceTensor rq = ref.target->upload(q), rk = ref.target->upload(k),
                         rv = ref.target->upload(v), ro = ref.target->upload(out_shape);
            DeviceTensor dq = cuda_->upload(q), dk = cuda_->upload(k), dv = cuda_->upload(v),
                         dout = cuda_->upload(out_shape);
            ASSERT_EQ(want_inst.run({&rq, &rk, &rv, &ref_k, &ref_v}, {&ro}, call), GRAFT_OK)
                << ref.source << ": " << want_inst.last_error();
            ASSERT_EQ(got_inst.run({&dq, &dk, &dv, &dev_k, &dev_v}, {&dout}, call), GRAFT_OK)
                << got_inst.last_error();
            EXPECT_LE(relative_rms_error(ref.target->download(ro).floats(),
                                         cuda_->download(dout).floats()),
                      1e-4)
                << label << " at n_past " << n_past << " T " << t << " against " << ref.source;
            n_past += t;
        }
        EXPECT_LE(relative_rms_error(ref.target->download(ref_k).floats(),
                                     cuda_->download(dev_k).floats()),
                  0.0)
            << label << ": the K caches differ";
        EXPECT_LE(relative_rms_error(ref.target->download(ref_v).floats(),
                                     cuda_->download(dev_v).floats()),
                  0.0)
            << label << ": the V caches differ";
    }
}

TEST_F(CudaKernels, AttentionRefusesToOverflowTheCache) {
    Instance inst(*cuda_, cuda_->kernel("attention"), {}, {});
    ASSERT_TRUE(inst.ok()) << inst.error();
    DeviceTensor q = cuda_->empty(GRAFT_DTYPE_F32, {64, 2, 3});
    DeviceTensor k = cuda_->empty(GRAFT_DTYPE_F32, {64, 1, 3});
    DeviceTensor v = cuda_->empty(GRAFT_DTYPE_F32, {64, 1, 3});
    DeviceTensor kc = cuda_->empty(GRAFT_DTYPE_F16, {64, 1, 8});
    DeviceTensor vc = cuda_->empty(GRAFT_DTYPE_F16, {64, 1, 8});
    DeviceTensor out = cuda_->empty(GRAFT_DTYPE_F32, {64, 2, 3});
    EXPECT_EQ(inst.run({&q, &k, &v, &kc, &vc}, {&out}, {make_int_param("n_past", 6)}),
              GRAFT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(inst.run({&q, &k, &v, &kc, &vc}, {&out}, {make_int_param("n_past", 5)}), GRAFT_OK)
        << inst.last_error();
}

} // namespace
} // namespace graft::gputest
