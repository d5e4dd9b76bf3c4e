// Walks a (rows x tokens) range in micro-tiles. A micro-kernel computes RR x CC dot
// products over the whole of n_in while the RR weight rows stay in L1 and each activation
// row is loaded once per RR rows. Groups of C tokens use R x C tiles; the tokens left over
// (all of them in decode) use R1 x 1 tiles, R1 rows in flight per thread; edges use RR = 1.
// The shapes are chosen so that accumulators and operands fit the register file (16
// vector registers with AVX2, 32 with AVX-512).
//
// Micro provides: static constexpr int R, C, R1; and
//   template <int RR, int CC> static void run(const uint8_t *const *w, const uint8_t *const *a,
//                                             int64_t n_in, float *out);   // out[r * CC + c]
#pragma once

#include "linear_core.h"

namespace graft::amx_cpu {

template <class Micro, int RR, int CC>
inline void run_micro(const Matrix &w, const ActRows &a, int64_t r, int64_t t, const OutRows &y) {
    const uint8_t *wr[RR];
    const uint8_t *ar[CC];
    float out[RR * CC];
    for (int i = 0; i < RR; ++i)
        wr[i] = w.row(r + i);
    for (int j = 0; j < CC; ++j)
        ar[j] = a.row(t + j);
    Micro::template run<RR, CC>(wr, ar, w.n_in, out);
    for (int j = 0; j < CC; ++j) {
        float *dst = y.row(t + j) + r;
        for (int i = 0; i < RR; ++i)
            dst[i] = out[i * CC + j];
    }
}

template <class Micro>
void run_tiles(const Matrix &w, const ActRows &a, int64_t r0, int64_t r1, int64_t t0, int64_t t1,
               const OutRows &y, float * /*scratch*/) {
    constexpr int R = Micro::R, C = Micro::C, R1 = Micro::R1;
    const int64_t t_groups = C > 1 ? t0 + (t1 - t0) / C * C : t0;
    if constexpr (C > 1) {
        int64_t r = r0;
        for (; r + R <= r1; r += R)
            for (int64_t t = t0; t < t_groups; t += C)
                run_micro<Micro, R, C>(w, a, r, t, y);
        for (; r < r1; ++r)
            for (int64_t t = t0; t < t_groups; t += C)
                run_micro<Micro, 1, C>(w, a, r, t, y);
    }
    int64_t r = r0;
    for (; r + R1 <= r1; r += R1)
        for (int64_t t = t_groups; t < t1; ++t)
            run_micro<Micro, R1, 1>(w, a, r, t, y);
    for (; r < r1; ++r)
        for (int64_t t = t_groups; t < t1; ++t)
            run_micro<Micro, 1, 1>(w, a, r, t, y);
}

} // namespace graft::amx_cpu
