// linear: y = W x + b over T tokens.
#include "kernel_api.h"
#include "kernels.h"

#include <graft/quants.h>

#include <vector>

namespace graft::amx_cpu {

namespace {

constexpr const char *kOp = "linear";

// Weights and bias of a linear module, checked.
graft_status read_linear_weights(const graft_kernel_config &c, Matrix &w, const float *&bias) {
    if (c.n_weights < 1 || !c.weights)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         "linear: needs weights {W (n_in, n_out), bias F32 (n_out) (optional)}");
    if (!weight_matrix(kOp, "weight W", c.weights[0], w))
        return invalid();
    if (c.weights[0].ne[2] != 1 || c.weights[0].ne[3] != 1)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         "linear: weight W must be 2-D (n_in, n_out), got " +
                             describe(c.weights[0]));
    if (!optional_f32_vector(kOp, "bias", c, 1, w.n_out, bias))
        return invalid();
    return GRAFT_OK;
}

bool read_linear_io(const graft_kernel_call &call, const Matrix &w, F32Rows &x, F32Rows &y) {
    if (!arity(kOp, call, 1, 1) || !f32_rows(kOp, "input x", call.inputs[0], w.n_in, x) ||
        !f32_rows(kOp, "output y", call.outputs[0], w.n_out, y))
        return false;
    if (x.rows != y.rows)
        return bad("linear: input x has " + std::to_string(x.rows) + " rows but output y has " +
                   std::to_string(y.rows));
    return true;
}

class Linear {
  public:
    graft_status init(const graft_kernel_config &c) { return read_linear_weights(c, w_, bias_); }

    graft_status run(const graft_kernel_call &call) {
        F32Rows x, y;
        if (!read_linear_io(call, w_, x, y))
            return invalid();
        runner_.run(w_, bias_, x.data, x.stride, x.rows, y.data, y.stride);
        return GRAFT_OK;
    }

  private:
    Matrix w_;
    const float *bias_ = nullptr;
    LinearRunner runner_;
};

// Reference: dequantise each weight row, then a plain F32 dot product per token.
class LinearRef {
  public:
    graft_status init(const graft_kernel_config &c) { return read_linear_weights(c, w_, bias_); }

    graft_status run(const graft_kernel_call &call) {
        F32Rows x, y;
        if (!read_linear_io(call, w_, x, y))
            return invalid();
        std::vector<float> row(static_cast<size_t>(w_.n_in));
        for (int64_t r = 0; r < w_.n_out; ++r) {
            quants::dequantize_row(w_.dtype, w_.row(r), row.data(), w_.n_in);
            for (int64_t t = 0; t < x.rows; ++t) {
                const float *xt = x.row(t);
                float sum = 0.0f;
                for (int64_t i = 0; i < w_.n_in; ++i)
                    sum += row[static_cast<size_t>(i)] * xt[i];
                y.row(t)[r] = sum + (bias_ ? bias_[r] : 0.0f);
            }
        }
        return GRAFT_OK;
    }

  private:
    Matrix w_;
    const float *bias_ = nullptr;
};

} // namespace

void add_linear_kernels(KernelLists &lists) {
    lists.fast.push_back(make_kernel<Linear>(kOp, "linear", linear_dtypes()));
    lists.ref.push_back(make_kernel<LinearRef>(kOp, "linear_ref", linear_dtypes()));
}

} // namespace graft::amx_cpu
