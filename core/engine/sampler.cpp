#include <graft/engine/sampler.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace graft::engine {

int32_t argmax(std::span<const float> logits) {
    int32_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i)
        if (logits[i] > logits[static_cast<size_t>(best)])
            best = static_cast<int32_t>(i);
    return best;
}

Sampler::Sampler(const SamplingParams &params) : params_(params), rng_(params.seed) {}

void Sampler::apply_penalties(std::span<float> logits, std::span<const int32_t> history) {
    const bool repeat = params_.repeat_penalty != 1.0f;
    const bool freq = params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f;
    if ((!repeat && !freq) || params_.repeat_last_n == 0 || history.empty())
        return;
    size_t n = history.size();
    if (params_.repeat_last_n > 0)
        n = std::min(n, static_cast<size_t>(params_.repeat_last_n));
    std::unordered_map<int32_t, int> counts;
    for (size_t i = history.size() - n; i < history.size(); ++i)
        ++counts[history[i]];
    for (const auto &[id, count] : counts) {
        if (id < 0 || static_cast<size_t>(id) >= logits.size())
            continue;
        float &l = logits[static_cast<size_t>(id)];
        if (repeat)
            l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
        l -= static_cast<float>(count) * params_.frequency_penalty +
             (count > 0 ? params_.presence_penalty : 0.0f);
    }
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
    apply_penalties(logits, history);
    if (params_.temperature <= 0.0f)
        return argmax(logits);

    // Candidates sorted by logit, cut by top-k.
    candidates_.clear();
    for (size_t i = 0; i < logits.size(); ++i)
        candidates_.emplace_back(logits[i], static_cast<int32_t>(i));
    size_t k = candidates_.size();
    if (params_.top_k > 0)
        k = std::min(k, static_cast<size_t>(params_.top_k));
    auto by_logit = [](const auto &a, const auto &b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k),
                      candidates_.end(), by_logit);
    candidates_.resize(k);

    // Probabilities at temperature 1 for the top-p and min-p cuts, as llama.cpp's
    // default chain applies them before the temperature.
    auto softmax = [&](float temp, std::vector<double> &p) {
        p.resize(candidates_.size());
        const double mx = candidates_.front().first;
        double sum = 0;
        for (size_t i = 0; i < candidates_.size(); ++i)
            sum += p[i] = std::exp((candidates_[i].first - mx) / temp);
        for (double &x : p)
            x /= sum;
    };
    std::vector<double> p;
    softmax(1.0f, p);
    if (params_.top_p < 1.0f) {
        double cum = 0;
        size_t keep = p.size();
        for (size_t i = 0; i < p.size(); ++i) {
            cum += p[i];
            if (cum >= params_.top_p) {
                keep = i + 1;
                break;
            }
        }
        candidates_.resize(keep);
        softmax(1.0f, p);
    }
    if (params_.min_p > 0.0f) {
        const double cut = p.front() * params_.min_p;
        size_t keep = 1;
        while (keep < p.size() && p[keep] >= cut)
            ++keep;
        candidates_.resize(keep);
    }
    softmax(params_.temperature, p);
    std::discrete_distribution<size_t> pick(p.begin(), p.end());
    return candidates_[pick(rng_)].second;
}

} // namespace graft::engine
