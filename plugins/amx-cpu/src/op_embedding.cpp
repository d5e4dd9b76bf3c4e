// embedding: out[t] = table row ids[t], dequantised to F32.
#include "kernel_api.h"
#include "kernels.h"
#include "simd.h"
#include "thread_pool.h"

#include <graft/quants.h>

namespace graft::amx_cpu {

namespace {

constexpr const char *kOp = "embedding";

struct TableConfig {
    Matrix table; // n_out = n_vocab rows of n_in = n_embd

    graft_status init(const graft_kernel_config &c) {
        if (c.n_weights < 1 || !c.weights)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "embedding: needs weights {table (n_embd, n_vocab)}");
        if (!weight_matrix(kOp, "weight table", c.weights[0], table))
            return invalid();
        return GRAFT_OK;
    }

    bool io(const graft_kernel_call &call, const int32_t *&ids, F32Rows &y) const {
        if (!arity(kOp, call, 1, 1) || !f32_rows(kOp, "output", call.outputs[0], table.n_in, y) ||
            !i32_vector(kOp, "input ids", call.inputs[0], y.rows, ids))
            return false;
        for (int64_t t = 0; t < y.rows; ++t)
            if (ids[t] < 0 || ids[t] >= table.n_out)
                return bad("embedding: token id " + std::to_string(ids[t]) + " at position " +
                           std::to_string(t) + " is outside the vocabulary of " +
                           std::to_string(table.n_out));
        return true;
    }
};

void copy_row(const Matrix &m, int64_t r, float *y) {
    const uint8_t *src = m.row(r);
    const int64_t n = m.n_in;
    if (m.dtype == GRAFT_DTYPE_F16) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, simd::load_f16x8(src + 2 * i));
        for (; i < n; ++i)
            y[i] = simd::f16_scalar(simd::load_u16(src + 2 * i));
        return;
    }
    quants::dequantize_row(m.dtype, src, y, n);
}

class Embedding {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }
    graft_status run(const graft_kernel_call &call) {
        const int32_t *ids = nullptr;
        F32Rows y;
        if (!cfg_.io(call, ids, y))
            return invalid();
        ThreadPool::instance().parallel_for(y.rows, 16, [&](int64_t b, int64_t e, int) {
            for (int64_t t = b; t < e; ++t)
                copy_row(cfg_.table, ids[t], y.row(t));
        });
        return GRAFT_OK;
    }

  private:
    TableConfig cfg_;
};

class EmbeddingRef {
  public:
    graft_status init(const graft_kernel_config &c) { return cfg_.init(c); }
    graft_status run(const graft_kernel_call &call) {
        const int32_t *ids = nullptr;
        F32Rows y;
        if (!cfg_.io(call, ids, y))
            return invalid();
        for (int64_t t = 0; t < y.rows; ++t)
            quants::dequantize_row(cfg_.table.dtype, cfg_.table.row(ids[t]), y.row(t), y.n);
        return GRAFT_OK;
    }

  private:
    TableConfig cfg_;
};

} // namespace

void add_embedding_kernels(KernelLists &lists) {
    lists.fast.push_back(make_kernel<Embedding>(kOp, "embedding", linear_dtypes()));
    lists.ref.push_back(make_kernel<EmbeddingRef>(kOp, "embedding_ref", linear_dtypes()));
}

} // namespace graft::amx_cpu
