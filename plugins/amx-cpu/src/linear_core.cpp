#include "linear_core.h"

#include "thread_pool.h"

#include <algorithm>
#include <array>
#include <new>

namespace graft::amx_cpu {

// Defined by gemm_q8.cpp, gemm_kquant.cpp and gemm_float.cpp.
const GemmKernel *gemm_q8_kernel(graft_dtype dtype);
const GemmKernel *gemm_kquant_kernel(graft_dtype dtype);
const GemmKernel *gemm_float_kernel(graft_dtype dtype);

namespace {

constexpr std::array<graft_dtype, 13> kLinearDtypes = {
    GRAFT_DTYPE_F32,  GRAFT_DTYPE_F16,  GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0,
    GRAFT_DTYPE_Q4_1, GRAFT_DTYPE_Q5_0, GRAFT_DTYPE_Q5_1, GRAFT_DTYPE_Q2_K, GRAFT_DTYPE_Q3_K,
    GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q5_K, GRAFT_DTYPE_Q6_K,
};

int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

} // namespace

std::span<const graft_dtype> linear_dtypes() {
    return kLinearDtypes;
}

bool is_linear_dtype(graft_dtype dtype) {
    return std::find(kLinearDtypes.begin(), kLinearDtypes.end(), dtype) != kLinearDtypes.end();
}

const GemmKernel *gemm_kernel_for(graft_dtype dtype) {
    if (!is_linear_dtype(dtype))
        return nullptr;
    if (const GemmKernel *k = gemm_q8_kernel(dtype))
        return k;
    if (const GemmKernel *k = gemm_kquant_kernel(dtype))
        return k;
    if (const GemmKernel *k = gemm_float_kernel(dtype))
        return k;
    return gemm_fallback_kernel();
}

uint8_t *ScratchBuffer::get(size_t bytes) {
    if (bytes > size_) {
        const size_t rounded = (bytes + 63) / 64 * 64;
        void *p = std::aligned_alloc(64, rounded);
        if (!p)
            throw std::bad_alloc();
        data_.reset(static_cast<uint8_t *>(p));
        size_ = rounded;
    }
    return data_.get();
}

ActRows LinearRunner::prepare(const GemmKernel &kernel, const float *x, int64_t x_stride,
                              int64_t n_in, int64_t n_tokens, ScratchBuffer &buffer) {
    ActRows a;
    a.kind = kernel.act;
    a.n_in = n_in;
    if (kernel.act == ActKind::f32) {
        a.base = reinterpret_cast<const uint8_t *>(x);
        a.stride = x_stride * static_cast<int64_t>(sizeof(float));
        return a;
    }
    a.stride = act_row_bytes(kernel.act, n_in);
    uint8_t *dst = buffer.get(static_cast<size_t>(a.stride * n_tokens));
    a.base = dst;
    const ActKind kind = kernel.act;
    const int offset = kernel.act_offset;
    const int64_t stride = a.stride;
    ThreadPool::instance().parallel_for(n_tokens, 4, [&](int64_t b, int64_t e, int) {
        for (int64_t t = b; t < e; ++t)
            prepare_act_row(kind, offset, x + t * x_stride, n_in, dst + t * stride);
    });
    return a;
}

void LinearRunner::multiply(const GemmKernel &kernel, std::span<const GemmProblem> problems) {
    ThreadPool &pool = ThreadPool::instance();
    const int threads = pool.size();
    int64_t max_in = 0, total_rows = 0;
    for (const GemmProblem &p : problems) {
        max_in = std::max(max_in, p.w.n_in);
        total_rows += p.w.n_out * ceil_div(p.n_tokens, 64);
    }
    // Chunks of rows: about 8 per thread so that uneven progress (other processes, turbo)
    // balances out, a multiple of the micro-tile, and not so large that one chunk's
    // weights leave L2 before the next token tile reuses them.
    const int64_t R = kernel.rows_per_tile;
    const int64_t target = ceil_div(total_rows, int64_t{threads} * 8);
    const int64_t row_chunk = std::clamp(ceil_div(target, R) * R, R, ceil_div(512, R) * R);

    task_starts_.resize(problems.size() + 1);
    int64_t n_tasks = 0;
    for (size_t i = 0; i < problems.size(); ++i) {
        task_starts_[i] = n_tasks;
        n_tasks += ceil_div(problems[i].w.n_out, row_chunk) * ceil_div(problems[i].n_tokens, 64);
    }
    task_starts_[problems.size()] = n_tasks;

    const int64_t scratch_stride = scratch_floats(max_in);
    float *scratch = scratch_.get_as<float>(static_cast<size_t>(scratch_stride * threads));
    const int64_t *starts = task_starts_.data();

    pool.parallel_for(n_tasks, 1, [&](int64_t begin, int64_t end, int thread) {
        size_t p = 0;
        for (int64_t task = begin; task < end; ++task) {
            while (starts[p + 1] <= task)
                ++p;
            const GemmProblem &prob = problems[p];
            const int64_t local = task - starts[p];
            const int64_t n_tok_chunks = ceil_div(prob.n_tokens, 64);
            const int64_t r0 = (local / n_tok_chunks) * row_chunk;
            const int64_t t0 = (local % n_tok_chunks) * 64;
            const int64_t r1 = std::min(prob.w.n_out, r0 + row_chunk);
            const int64_t t1 = std::min(prob.n_tokens, t0 + 64);
            kernel.tile(prob.w, prob.a, r0, r1, t0, t1, prob.y, scratch + thread * scratch_stride);
            if (prob.bias) {
                for (int64_t t = t0; t < t1; ++t) {
                    float *dst = prob.y.row(t);
                    for (int64_t r = r0; r < r1; ++r)
                        dst[r] += prob.bias[r];
                }
            }
        }
    });
}

void LinearRunner::run(const Matrix &w, const float *bias, const float *x, int64_t x_stride,
                       int64_t n_tokens, float *y, int64_t y_stride) {
    const GemmKernel *kernel = gemm_kernel_for(w.dtype);
    if (!kernel || n_tokens <= 0)
        return;
    GemmProblem p;
    p.w = w;
    p.a = prepare(*kernel, x, x_stride, w.n_in, n_tokens, acts_);
    p.n_tokens = n_tokens;
    p.y = OutRows{y, y_stride, nullptr};
    p.bias = bias;
    multiply(*kernel, std::span<const GemmProblem>(&p, 1));
}

} // namespace graft::amx_cpu
