// Plain scalar building blocks of the reference kernels: obviously correct, F32
// accumulation, no tricks.
#pragma once

#include "linear_core.h"

#include <graft/quants.h>

#include <cmath>
#include <vector>

namespace graft::amx_cpu::ref {

// y = W x for one token: each weight row dequantised, then summed in order in F32.
inline void matvec(const Matrix &w, const float *x, float *y) {
    std::vector<float> row(static_cast<size_t>(w.n_in));
    for (int64_t r = 0; r < w.n_out; ++r) {
        quants::dequantize_row(w.dtype, w.row(r), row.data(), w.n_in);
        float sum = 0.0f;
        for (int64_t i = 0; i < w.n_in; ++i)
            sum += row[static_cast<size_t>(i)] * x[i];
        y[r] = sum;
    }
}

inline float silu(float x) {
    return x / (1.0f + std::exp(-x));
}

} // namespace graft::amx_cpu::ref
