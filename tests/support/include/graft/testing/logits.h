// The error metric of graft's conformance tests: graft's logits against llama.cpp's.
//
// Per position, e = ||graft - ref|| / ||ref - mean(ref)||: the error relative to the spread
// of the reference logits. The spread, not ||ref||, is the scale because softmax ignores a
// common offset: logits that all sit near 50 would make ||ref|| large and hide real errors.
// Alongside: whether the argmax (the greedy token) agrees.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace graft::testing {

struct PositionComparison {
    double error = 0; // e as above; +inf when graft has a NaN/inf or ref is flat
    size_t graft_argmax = 0;
    size_t ref_argmax = 0;
    // graft's choice is the reference's, or scores within `tie_margin` of it in the
    // reference (a near tie that rounding may flip).
    bool argmax_agrees = false;
};

struct LogitComparison {
    std::vector<PositionComparison> positions;

    double max_error() const;
    double mean_error() const;
    size_t argmax_agreements() const;
    double argmax_agreement() const; // fraction of positions, 1.0 when there are none
    // One line per position plus totals, for failure messages.
    std::string summary() const;
};

// Compares position-major rows of n_vocab logits. Throws std::invalid_argument when the
// sizes differ or are not a multiple of n_vocab. `tie_margin` is in logit units; 0 means
// only an exact argmax match agrees.
LogitComparison compare_logits(std::span<const float> graft, std::span<const float> ref,
                               size_t n_vocab, double tie_margin = 0.0);

// e for one row.
double relative_error(std::span<const float> graft, std::span<const float> ref);
// Index of the largest value, ties to the lowest index; NaNs never win.
size_t argmax(std::span<const float> values);
bool all_finite(std::span<const float> values);

} // namespace graft::testing
