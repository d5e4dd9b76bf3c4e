// The matrix-times-activations engine behind linear, router and moe_experts.
//
// Activations are prepared once per op for the weight dtype's dot product (quantised to
// int8 blocks, or rounded to bf16, or left as f32), then tiles of (weight rows x tokens)
// are spread over the thread pool. Each dtype has one tile function; see gemm_*.cpp.
#pragma once

#include <graft/plugin.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

namespace graft::amx_cpu {

// n_out rows of n_in elements of `dtype` (GGUF layout), row r at data + r * row_stride.
struct Matrix {
    const uint8_t *data = nullptr;
    graft_dtype dtype = GRAFT_DTYPE_F32;
    int64_t n_in = 0, n_out = 0;
    int64_t row_stride = 0; // bytes
    const uint8_t *row(int64_t r) const { return data + r * row_stride; }
};

// How a dtype's dot product wants its activations.
enum class ActKind : uint8_t {
    f32,    // the F32 rows as given
    q8_32,  // int8 blocks of 32: qs, float scales, per-lane correction sums (see below)
    q8_256, // int8 blocks of 256: qs, float scales, int16 sums of 16
    bf16,   // bf16 rows (for the AVX512-BF16 dot product)
};

// Prepared activation rows; logical row t lives at base + (index ? index[t] : t) * stride.
struct ActRows {
    ActKind kind = ActKind::f32;
    const uint8_t *base = nullptr;
    int64_t stride = 0; // bytes
    const int32_t *index = nullptr;
    int64_t n_in = 0;
    const uint8_t *row(int64_t t) const { return base + (index ? index[t] : t) * stride; }
};

// Output rows: logical row t at base + (index ? index[t] : t) * stride floats.
struct OutRows {
    float *base = nullptr;
    int64_t stride = 0; // floats
    const int32_t *index = nullptr;
    float *row(int64_t t) const { return base + (index ? index[t] : t) * stride; }
};

// Computes y[t][r] for r in [r0, r1), t in [t0, t1). `scratch` holds scratch_floats(n_in)
// floats private to the calling thread.
using TileFn = void (*)(const Matrix &w, const ActRows &a, int64_t r0, int64_t r1, int64_t t0,
                        int64_t t1, const OutRows &y, float *scratch);

struct GemmKernel {
    const char *name; // for benchmarks and messages, e.g. "q4_0-avx2"
    ActKind act;
    int act_offset; // q8_32 only: the unsigned offset the weights carry (see act_quant)
    TileFn tile;
    int rows_per_tile; // R of the micro-kernel: row chunks are multiples of it
};

// The kernel this variant uses for weights of `dtype`; nullptr for dtypes linear does not
// take. Dtypes without a dedicated kernel get the dequantise-then-dot one.
const GemmKernel *gemm_kernel_for(graft_dtype dtype);
// The dequantise-then-dot kernel (every dtype quants.h dequantises); for tests and benches.
const GemmKernel *gemm_fallback_kernel();
// Weight dtypes of linear, router and moe_experts.
std::span<const graft_dtype> linear_dtypes();
bool is_linear_dtype(graft_dtype dtype);
// Floats of per-thread scratch a tile needs for rows of n_in.
inline int64_t scratch_floats(int64_t n_in) {
    return (n_in + 63) / 64 * 64 + 64;
}

// ------------------------------------------------------------------ activations

// Layout of one q8_32 row of n_in (a multiple of 32) elements, nb = n_in / 32:
//   int8  qs[n_in]           at 0
//   float d[nb]              at q8_32_d_offset(n_in)
//   int32 corr[nb * 8]       at q8_32_corr_offset(n_in): lane i of block b is
//                            -offset * (qs[32b + 4i] + ... + qs[32b + 4i + 3])
// The lanes line up with the eight int32 lanes of a maddubs/madd or dpbusd over the
// block, so a kernel whose weights are stored as (w + offset) unsigned adds the lane to
// get sum(w * a).
// Layout of one q8_256 row, nsb = n_in / 256:
//   int8 qs[n_in] at 0; float d[nsb] at q8_256_d_offset; int16 bsums[nsb * 16] after d.
inline int64_t align64(int64_t n) {
    return (n + 63) / 64 * 64;
}
inline int64_t q8_32_d_offset(int64_t n_in) {
    return align64(n_in);
}
inline int64_t q8_32_corr_offset(int64_t n_in) {
    return align64(n_in) + align64(n_in / 32 * 4);
}
inline int64_t q8_256_d_offset(int64_t n_in) {
    return align64(n_in);
}
inline int64_t q8_256_bsums_offset(int64_t n_in) {
    return align64(n_in) + align64(n_in / 256 * 4);
}

// Bytes of one prepared row (a multiple of 64).
int64_t act_row_bytes(ActKind kind, int64_t n_in);
// Prepares one row; dst is 64-byte aligned and act_row_bytes long. Not for ActKind::f32.
void prepare_act_row(ActKind kind, int offset, const float *x, int64_t n_in, uint8_t *dst);

// ------------------------------------------------------------------ driver

// 64-byte aligned growable byte buffer; grows, never shrinks, so steady-state calls do
// not allocate.
class ScratchBuffer {
  public:
    uint8_t *get(size_t bytes);
    template <typename T> T *get_as(size_t count) {
        return reinterpret_cast<T *>(get(count * sizeof(T)));
    }

  private:
    struct Free {
        void operator()(uint8_t *p) const { std::free(p); }
    };
    std::unique_ptr<uint8_t, Free> data_;
    size_t size_ = 0;
};

// One product inside a batch: y = W a (+ bias) for a's first n_tokens rows.
struct GemmProblem {
    Matrix w;
    ActRows a;
    int64_t n_tokens = 0;
    OutRows y;
    const float *bias = nullptr; // (optional) n_out floats
};

class LinearRunner {
  public:
    // y = W x (+ bias): x row t at x + t * x_stride floats, y row t at y + t * y_stride.
    void run(const Matrix &w, const float *bias, const float *x, int64_t x_stride, int64_t n_tokens,
             float *y, int64_t y_stride);

    // Prepares activations for `kernel` into `buffer` (in parallel over rows).
    static ActRows prepare(const GemmKernel &kernel, const float *x, int64_t x_stride, int64_t n_in,
                           int64_t n_tokens, ScratchBuffer &buffer);
    // Runs all problems (same kernel) in one parallel job.
    void multiply(const GemmKernel &kernel, std::span<const GemmProblem> problems);

  private:
    ScratchBuffer acts_;
    ScratchBuffer scratch_;            // per-thread tile scratch
    std::vector<int64_t> task_starts_; // per problem: first task index
};

} // namespace graft::amx_cpu
