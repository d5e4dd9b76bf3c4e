#include <graft/testing/logits.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace graft::testing {

double relative_error(std::span<const float> graft, std::span<const float> ref) {
    if (graft.size() != ref.size()) {
        throw std::invalid_argument("relative_error: " + std::to_string(graft.size()) +
                                    " values against " + std::to_string(ref.size()));
    }
    if (ref.empty()) {
        return 0.0;
    }
    // Double accumulation: 150k-entry rows of float logits lose digits otherwise.
    double mean = 0;
    for (float r : ref) {
        mean += r;
    }
    mean /= static_cast<double>(ref.size());
    double diff_sq = 0;
    double spread_sq = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double d = static_cast<double>(graft[i]) - ref[i];
        const double s = static_cast<double>(ref[i]) - mean;
        diff_sq += d * d;
        spread_sq += s * s;
    }
    if (!std::isfinite(diff_sq) || !std::isfinite(spread_sq)) {
        return std::numeric_limits<double>::infinity();
    }
    if (spread_sq == 0) {
        return diff_sq == 0 ? 0.0 : std::numeric_limits<double>::infinity();
    }
    return std::sqrt(diff_sq / spread_sq);
}

size_t argmax(std::span<const float> values) {
    size_t best = values.size();
    for (size_t i = 0; i < values.size(); ++i) {
        if (std::isnan(values[i])) {
            continue;
        }
        if (best == values.size() || values[i] > values[best]) {
            best = i;
        }
    }
    return best == values.size() ? 0 : best;
}

bool all_finite(std::span<const float> values) {
    return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

LogitComparison compare_logits(std::span<const float> graft, std::span<const float> ref,
                               size_t n_vocab, double tie_margin) {
    if (n_vocab == 0 || graft.size() != ref.size() || ref.size() % n_vocab != 0) {
        throw std::invalid_argument("compare_logits: " + std::to_string(graft.size()) +
                                    " graft values, " + std::to_string(ref.size()) +
                                    " reference values, rows of " + std::to_string(n_vocab));
    }
    LogitComparison result;
    for (size_t start = 0; start < ref.size(); start += n_vocab) {
        const auto g = graft.subspan(start, n_vocab);
        const auto r = ref.subspan(start, n_vocab);
        PositionComparison position;
        position.error = relative_error(g, r);
        position.graft_argmax = argmax(g);
        position.ref_argmax = argmax(r);
        const double gap = static_cast<double>(r[position.ref_argmax]) - r[position.graft_argmax];
        position.argmax_agrees =
            position.graft_argmax == position.ref_argmax || (all_finite(g) && gap <= tie_margin);
        result.positions.push_back(position);
    }
    return result;
}

double LogitComparison::max_error() const {
    double worst = 0;
    for (const PositionComparison &p : positions) {
        worst = std::max(worst, p.error);
    }
    return worst;
}

double LogitComparison::mean_error() const {
    if (positions.empty()) {
        return 0.0;
    }
    double sum = 0;
    for (const PositionComparison &p : positions) {
        sum += p.error;
    }
    return sum / static_cast<double>(positions.size());
}

size_t LogitComparison::argmax_agreements() const {
    return static_cast<size_t>(std::count_if(positions.begin(), positions.end(),
                                             [](const auto &p) { return p.argmax_agrees; }));
}

double LogitComparison::argmax_agreement() const {
    return positions.empty()
               ? 1.0
               : static_cast<double>(argmax_agreements()) / static_cast<double>(positions.size());
}

std::string LogitComparison::summary() const {
    std::string text;
    char line[160];
    for (size_t i = 0; i < positions.size(); ++i) {
        const PositionComparison &p = positions[i];
        std::snprintf(line, sizeof line, "  pos %zu: e=%.3g argmax graft %zu ref %zu%s\n", i,
                      p.error, p.graft_argmax, p.ref_argmax, p.argmax_agrees ? "" : "  MISMATCH");
        text += line;
    }
    std::snprintf(line, sizeof line, "  max e=%.3g mean e=%.3g argmax agreement %zu/%zu\n",
                  max_error(), mean_error(), argmax_agreements(), positions.size());
    return text + line;
}

} // namespace graft::testing
