// swiglu: silu(gate) * up; add: a + b. Output may alias an input.
#include "kernel_api.h"
#include "kernels.h"
#include "ref_math.h"
#include "simd.h"
#include "thread_pool.h"

namespace graft::amx_cpu {

namespace {

// Inputs and output of a binary element-wise op: all F32 with the same ne[0] and rows.
bool binary_io(const char *op, const char *a_name, const char *b_name,
               const graft_kernel_call &call, F32Rows &a, F32Rows &b, F32Rows &y) {
    if (!arity(op, call, 2, 1) || !f32_rows(op, a_name, call.inputs[0], -1, a) ||
        !f32_rows(op, b_name, call.inputs[1], a.n, b) ||
        !f32_rows(op, "output", call.outputs[0], a.n, y))
        return false;
    if (a.rows != b.rows || a.rows != y.rows)
        return bad(std::string(op) + ": inputs and output must have the same shape, got " +
                   describe(call.inputs[0]) + ", " + describe(call.inputs[1]) + " and " +
                   describe(call.outputs[0]));
    return true;
}

// Rows in chunks of about 16K elements: small ops stay on the calling thread.
template <typename Fn> void for_rows(const F32Rows &y, Fn &&fn) {
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, y.n));
    ThreadPool::instance().parallel_for(y.rows, grain, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r)
            fn(r);
    });
}

void swiglu_row(const float *g, const float *u, float *y, int64_t n) {
    int64_t i = 0;
#ifdef __AVX512F__
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i,
                         _mm512_mul_ps(simd::silu(_mm512_loadu_ps(g + i)), _mm512_loadu_ps(u + i)));
#endif
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_mul_ps(simd::silu(_mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
    if (i < n) {
        float gt[8] = {}, ut[8] = {}, yt[8];
        std::memcpy(gt, g + i, static_cast<size_t>(n - i) * 4);
        std::memcpy(ut, u + i, static_cast<size_t>(n - i) * 4);
        _mm256_storeu_ps(yt, _mm256_mul_ps(simd::silu(_mm256_loadu_ps(gt)), _mm256_loadu_ps(ut)));
        std::memcpy(y + i, yt, static_cast<size_t>(n - i) * 4);
    }
}

void add_row(const float *a, const float *b, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; ++i)
        y[i] = a[i] + b[i];
}

class Swiglu {
  public:
    graft_status init(const graft_kernel_config &) { return GRAFT_OK; }
    graft_status run(const graft_kernel_call &call) {
        F32Rows g, u, y;
        if (!binary_io("swiglu", "input gate", "input up", call, g, u, y))
            return invalid();
        for_rows(y, [&](int64_t r) { swiglu_row(g.row(r), u.row(r), y.row(r), y.n); });
        return GRAFT_OK;
    }
};

class SwigluRef {
  public:
    graft_status init(const graft_kernel_config &) { return GRAFT_OK; }
    graft_status run(const graft_kernel_call &call) {
        F32Rows g, u, y;
        if (!binary_io("swiglu", "input gate", "input up", call, g, u, y))
            return invalid();
        for (int64_t r = 0; r < y.rows; ++r)
            for (int64_t i = 0; i < y.n; ++i)
                y.row(r)[i] = ref::silu(g.row(r)[i]) * u.row(r)[i];
        return GRAFT_OK;
    }
};

class Add {
  public:
    graft_status init(const graft_kernel_config &) { return GRAFT_OK; }
    graft_status run(const graft_kernel_call &call) {
        F32Rows a, b, y;
        if (!binary_io("add", "input a", "input b", call, a, b, y))
            return invalid();
        for_rows(y, [&](int64_t r) { add_row(a.row(r), b.row(r), y.row(r), y.n); });
        return GRAFT_OK;
    }
};

class AddRef {
  public:
    graft_status init(const graft_kernel_config &) { return GRAFT_OK; }
    graft_status run(const graft_kernel_call &call) {
        F32Rows a, b, y;
        if (!binary_io("add", "input a", "input b", call, a, b, y))
            return invalid();
        for (int64_t r = 0; r < y.rows; ++r)
            for (int64_t i = 0; i < y.n; ++i)
                y.row(r)[i] = a.row(r)[i] + b.row(r)[i];
        return GRAFT_OK;
    }
};

} // namespace

void add_elementwise_kernels(KernelLists &lists) {
    lists.fast.push_back(make_kernel<Swiglu>("swiglu", "swiglu", {}));
    lists.fast.push_back(make_kernel<Add>("add", "add", {}));
    lists.ref.push_back(make_kernel<SwigluRef>("swiglu", "swiglu_ref", {}));
    lists.ref.push_back(make_kernel<AddRef>("add", "add_ref", {}));
}

} // namespace graft::amx_cpu
