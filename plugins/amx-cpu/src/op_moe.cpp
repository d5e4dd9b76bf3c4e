// moe_experts: y_t = sum_j w_jt * down_e(silu(gate_e x_t) * up_e x_t), e = ids_jt.
//
// The fast kernel groups the (token, slot) pairs by expert, prepares x once for all
// experts, runs every active expert's gate and up products in one parallel job (tokens
// gathered through an index, no copies), applies swiglu, prepares the hidden rows once,
// runs all down products in a second job and sums each token's slots in slot order.
//
// sigmoid_mul: in {x F32 (n, T), g F32 (1, T)}; out {F32 (n, T)}: y_t = x_t * sigmoid(g_t)
// (out may alias x). Qwen2-MoE scales its shared expert's output by a sigmoid gate, one
// scalar per token; the op vocabulary has no element-wise sigmoid, so it has its own name.
#include "kernel_api.h"
#include "kernels.h"
#include "ref_math.h"
#include "simd.h"
#include "thread_pool.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace graft::amx_cpu {

namespace {

constexpr const char *kOp = "moe_experts";

// A stack of n_expert matrices; expert e's at data + e * expert_stride.
struct Experts {
    Matrix m;
    int64_t n_expert = 0, expert_stride = 0;
    Matrix expert(int64_t e) const {
        Matrix x = m;
        x.data = m.data + e * expert_stride;
        return x;
    }
};

bool read_experts(const graft_tensor &t, const char *what, Experts &x) {
    if (!weight_matrix(kOp, what, t, x.m))
        return false;
    if (t.ne[3] != 1)
        return bad(std::string("moe_experts: ") + what + " must be 3-D, got " + describe(t));
    x.n_expert = t.ne[2];
    x.expert_stride = t.ne[2] > 1 ? t.nb[2] : x.m.row_stride * x.m.n_out;
    return true;
}

struct MoeConfig {
    Experts gate, up, down;

    graft_status init(const graft_kernel_config &c) {
        if (c.n_weights < 3 || !c.weights)
            return sdk::fail(
                GRAFT_ERR_INVALID_ARGUMENT,
                "moe_experts: needs weights {gate (n_embd, n_ff, n_expert), up (n_embd, n_ff, "
                "n_expert), down (n_ff, n_embd, n_expert)}");
        if (!read_experts(c.weights[0], "weight gate", gate) ||
            !read_experts(c.weights[1], "weight up", up) ||
            !read_experts(c.weights[2], "weight down", down))
            return invalid();
        const int64_t n_embd = gate.m.n_in, n_ff = gate.m.n_out, ne = gate.n_expert;
        if (up.m.n_in != n_embd || up.m.n_out != n_ff || up.n_expert != ne || down.m.n_in != n_ff ||
            down.m.n_out != n_embd || down.n_expert != ne)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "moe_experts: shapes disagree: gate " +
                                                             describe(c.weights[0]) + ", up " +
                                                             describe(c.weights[1]) + ", down " +
                                                             describe(c.weights[2]));
        return GRAFT_OK;
    }

    bool io(const graft_kernel_call &call, F32Rows &x, const int32_t *&ids, F32Rows &w,
            F32Rows &y) const {
        if (!arity(kOp, call, 3, 1) || !f32_rows(kOp, "input x", call.inputs[0], gate.m.n_in, x) ||
            !f32_rows(kOp, "input weights", call.inputs[2], -1, w) ||
            !i32_vector(kOp, "input ids", call.inputs[1], w.n * x.rows, ids) ||
            !f32_rows(kOp, "output", call.outputs[0], gate.m.n_in, y))
            return false;
        if (w.rows != x.rows || y.rows != x.rows)
            return bad("moe_experts: x, ids, weights and output must have one row per token");
        for (int64_t i = 0; i < w.n * x.rows; ++i)
            if (ids[i] < 0 || ids[i] >= gate.n_expert)
                return bad("moe_experts: expert id " + std::to_string(ids[i]) + " is outside 0.." +
                           std::to_string(gate.n_expert - 1));
        return true;
    }
};

class MoeExperts {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Rows x, w, y;
        const int32_t *ids = nullptr;
        if (!cfg_.io(call, x, ids, w, y))
            return invalid();
        const int64_t T = x.rows, k = w.n, ne = cfg_.gate.n_expert;
        const int64_t n_embd = cfg_.gate.m.n_in, n_ff = cfg_.gate.m.n_out, n_pairs = T * k;

        // Pairs sorted by expert: pair p belongs to token pair_token[p]; slot (t, j) is pair
        // pair_of[t * k + j].
        offsets_.assign(static_cast<size_t>(ne + 1), 0);
        for (int64_t i = 0; i < n_pairs; ++i)
            ++offsets_[static_cast<size_t>(ids[i]) + 1];
        for (int64_t e = 0; e < ne; ++e)
            offsets_[static_cast<size_t>(e + 1)] += offsets_[static_cast<size_t>(e)];
        fill_.assign(offsets_.begin(), offsets_.end() - 1);
        pair_token_.resize(static_cast<size_t>(n_pairs));
        pair_of_.resize(static_cast<size_t>(n_pairs));
        for (int64_t i = 0; i < n_pairs; ++i) {
            const int64_t p = fill_[static_cast<size_t>(ids[i])]++;
            pair_token_[static_cast<size_t>(p)] = static_cast<int32_t>(i / k);
            pair_of_[static_cast<size_t>(i)] = static_cast<int32_t>(p);
        }

        // gate and up: one job over every active expert.
        const GemmKernel *kg = gemm_kernel_for(cfg_.gate.m.dtype);
        const GemmKernel *ku = gemm_kernel_for(cfg_.up.m.dtype);
        const GemmKernel *kd = gemm_kernel_for(cfg_.down.m.dtype);
        ActRows xa = LinearRunner::prepare(*kg, x.data, x.stride, n_embd, T, x_acts_);
        ActRows xu = xa;
        const bool same_acts = ku->act == kg->act && ku->act_offset == kg->act_offset;
        if (!same_acts)
            xu = LinearRunner::prepare(*ku, x.data, x.stride, n_embd, T, x_acts_up_);
        float *gate_out = hidden_.get_as<float>(static_cast<size_t>(2 * n_pairs * n_ff));
        float *up_out = gate_out + n_pairs * n_ff;
        problems_.clear();
        up_problems_.clear();
        for (int64_t e = 0; e < ne; ++e) {
            const int64_t p0 = offsets_[static_cast<size_t>(e)],
                          n = offsets_[static_cast<size_t>(e + 1)] - p0;
            if (n == 0)
                continue;
            GemmProblem g;
            g.w = cfg_.gate.expert(e);
            g.a = xa;
            g.a.index = pair_token_.data() + p0;
            g.n_tokens = n;
            g.y = OutRows{gate_out + p0 * n_ff, n_ff, nullptr};
            problems_.push_back(g);
            GemmProblem u = g;
            u.w = cfg_.up.expert(e);
            u.a = xu;
            u.a.index = pair_token_.data() + p0;
            u.y = OutRows{up_out + p0 * n_ff, n_ff, nullptr};
            (kg == ku ? problems_ : up_problems_).push_back(u);
        }
        runner_.multiply(*kg, problems_);
        if (!up_problems_.empty())
            runner_.multiply(*ku, up_problems_);

        // swiglu in place, then the hidden rows prepared for down.
        ThreadPool &pool = ThreadPool::instance();
        pool.parallel_for(n_pairs, 1, [&](int64_t b, int64_t e, int) {
            for (int64_t p = b; p < e; ++p)
                swiglu_inplace(gate_out + p * n_ff, up_out + p * n_ff, n_ff);
        });
        ActRows ha = LinearRunner::prepare(*kd, gate_out, n_ff, n_ff, n_pairs, h_acts_);

        float *down_out = down_.get_as<float>(static_cast<size_t>(n_pairs * n_embd));
        problems_.clear();
        for (int64_t e = 0; e < ne; ++e) {
            const int64_t p0 = offsets_[static_cast<size_t>(e)],
                          n = offsets_[static_cast<size_t>(e + 1)] - p0;
            if (n == 0)
                continue;
            GemmProblem d;
            d.w = cfg_.down.expert(e);
            d.a = ha;
            d.a.base = ha.base + p0 * ha.stride;
            d.n_tokens = n;
            d.y = OutRows{down_out + p0 * n_embd, n_embd, nullptr};
            problems_.push_back(d);
        }
        runner_.multiply(*kd, problems_);

        pool.parallel_for(T, 4, [&](int64_t b, int64_t e, int) {
            for (int64_t t = b; t < e; ++t) {
                float *dst = y.row(t);
                std::fill(dst, dst + n_embd, 0.0f);
                for (int64_t j = 0; j < k; ++j) {
                    const float wt = w.row(t)[j];
                    const float *src = down_out + pair_of_[static_cast<size_t>(t * k + j)] * n_embd;
                    for (int64_t i = 0; i < n_embd; ++i)
                        dst[i] += wt * src[i];
                }
            }
        });
        return GRAFT_OK;
    }

  private:
    static void swiglu_inplace(float *g, const float *u, int64_t n) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(
                g + i, _mm256_mul_ps(simd::silu(_mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
        for (; i < n; ++i)
            g[i] = g[i] / (1.0f + simd::exp_scalar(-g[i])) * u[i];
    }

    MoeConfig cfg_;
    LinearRunner runner_;
    ScratchBuffer x_acts_, x_acts_up_, h_acts_, hidden_, down_;
    std::vector<int64_t> offsets_, fill_;
    std::vector<int32_t> pair_token_, pair_of_;
    std::vector<GemmProblem> problems_, up_problems_;
};

// Reference: each (token, slot) on its own with the scalar matrix-vector product.
class MoeExpertsRef {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }

    graft_status run(const graft_kernel_call &call) {
        F32Rows x, w, y;
        const int32_t *ids = nullptr;
        if (!cfg_.io(call, x, ids, w, y))
            return invalid();
        const int64_t n_embd = cfg_.gate.m.n_in, n_ff = cfg_.gate.m.n_out;
        std::vector<float> g(static_cast<size_t>(n_ff)), u(static_cast<size_t>(n_ff)),
            d(static_cast<size_t>(n_embd));
        for (int64_t t = 0; t < x.rows; ++t) {
            float *dst = y.row(t);
            std::vector<float> sum(static_cast<size_t>(n_embd), 0.0f);
            for (int64_t j = 0; j < w.n; ++j) {
                const int64_t e = ids[t * w.n + j];
                ref::matvec(cfg_.gate.expert(e), x.row(t), g.data());
                ref::matvec(cfg_.up.expert(e), x.row(t), u.data());
                for (int64_t i = 0; i < n_ff; ++i)
                    g[static_cast<size_t>(i)] =
                        ref::silu(g[static_cast<size_t>(i)]) * u[static_cast<size_t>(i)];
                ref::matvec(cfg_.down.expert(e), g.data(), d.data());
                for (int64_t i = 0; i < n_embd; ++i)
                    sum[static_cast<size_t>(i)] += w.row(t)[j] * d[static_cast<size_t>(i)];
            }
            std::copy(sum.begin(), sum.end(), dst);
        }
        return GRAFT_OK;
    }

  private:
    MoeConfig cfg_;
};

constexpr const char *kSigmoidMulOp = "sigmoid_mul";

bool sigmoid_mul_io(const graft_kernel_call &call, F32Rows &x, F32Rows &g, F32Rows &y) {
    if (!arity(kSigmoidMulOp, call, 2, 1) ||
        !f32_rows(kSigmoidMulOp, "input x", call.inputs[0], -1, x) ||
        !f32_rows(kSigmoidMulOp, "input gate", call.inputs[1], 1, g) ||
        !f32_rows(kSigmoidMulOp, "output", call.outputs[0], x.n, y))
        return false;
    if (g.rows != x.rows || y.rows != x.rows)
        return bad("sigmoid_mul: x, gate and output must have one row per token, got " +
                   describe(call.inputs[0]) + ", " + describe(call.inputs[1]) + " and " +
                   describe(call.outputs[0]));
    return true;
}

class SigmoidMul {
  public:
    graft_status init(const graft_kernel_config &) { return GRAFT_OK; }
    graft_status run(const graft_kernel_call &call) {
        F32Rows x, g, y;
        if (!sigmoid_mul_io(call, x, g, y))
            return invalid();
        const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, x.n));
        ThreadPool::instance().parallel_for(x.rows, grain, [&](int64_t b, int64_t e, int) {
            for (int64_t t = b; t < e; ++t) {
                const __m256 s = _mm256_set1_ps(1.0f / (1.0f + simd::exp_scalar(-g.row(t)[0])));
                const float *src = x.row(t);
                float *dst = y.row(t);
                int64_t i = 0;
                for (; i + 8 <= x.n; i += 8)
                    _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_loadu_ps(src + i), s));
                for (; i < x.n; ++i)
                    dst[i] = src[i] * _mm256_cvtss_f32(s);
            }
        });
        return GRAFT_OK;
    }
};

class SigmoidMulRef {
  public:
    graft_status init(const graft_kernel_config &) { return GRAFT_OK; }
    graft_status run(const graft_kernel_call &call) {
        F32Rows x, g, y;
        if (!sigmoid_mul_io(call, x, g, y))
            return invalid();
        for (int64_t t = 0; t < x.rows; ++t) {
            const float s = 1.0f / (1.0f + std::exp(-g.row(t)[0]));
            for (int64_t i = 0; i < x.n; ++i)
                y.row(t)[i] = x.row(t)[i] * s;
        }
        return GRAFT_OK;
    }
};

} // namespace

void add_moe_kernels(KernelLists &lists) {
    lists.fast.push_back(make_kernel<MoeExperts>(kOp, "moe_experts", linear_dtypes()));
    lists.fast.push_back(make_kernel<SigmoidMul>(kSigmoidMulOp, "sigmoid_mul", {}));
    lists.ref.push_back(make_kernel<MoeExpertsRef>(kOp, "moe_experts_ref", linear_dtypes()));
    lists.ref.push_back(make_kernel<SigmoidMulRef>(kSigmoidMulOp, "sigmoid_mul_ref", {}));
}

} // namespace graft::amx_cpu
