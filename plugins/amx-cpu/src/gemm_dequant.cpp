// Dequantise-then-dot: the kernel for weight dtypes without a dedicated integer path
// (Q4_1, Q5_0, Q5_1, Q2_K, Q3_K). Each weight row is expanded to f32 once per tile
// (quants.h reference code) and dotted with every token's f32 activations.
#include "linear_core.h"
#include "simd.h"

#include <graft/quants.h>

namespace graft::amx_cpu {

namespace {

float dot_f32(const float *x, const float *y, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(y + k + 8), a1);
    }
    for (; k + 8 <= n; k += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), a0);
    float s = simd::hsum(_mm256_add_ps(a0, a1));
    for (; k < n; ++k)
        s += x[k] * y[k];
    return s;
}

void tile_dequant(const Matrix &w, const ActRows &a, int64_t r0, int64_t r1, int64_t t0, int64_t t1,
                  const OutRows &y, float *scratch) {
    for (int64_t r = r0; r < r1; ++r) {
        quants::dequantize_row(w.dtype, w.row(r), scratch, w.n_in);
        for (int64_t t = t0; t < t1; ++t)
            y.row(t)[r] = dot_f32(scratch, reinterpret_cast<const float *>(a.row(t)), w.n_in);
    }
}

constexpr GemmKernel kDequant = {"dequant-f32", ActKind::f32, 0, tile_dequant, 1};

} // namespace

const GemmKernel *gemm_fallback_kernel() {
    return &kDequant;
}

} // namespace graft::amx_cpu
