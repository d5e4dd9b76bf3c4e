// Sampling: logits in, one token out. Penalties, then temperature with top-k, top-p and
// min-p filtering, in llama.cpp's default order; greedy when the temperature is 0.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace graft::engine {

struct SamplingParams {
    float temperature = 0.8f; // <= 0: greedy (argmax)
    int32_t top_k = 40;       // <= 0: off
    float top_p = 0.95f;      // >= 1: off
    float min_p = 0.05f;      // <= 0: off
    float repeat_penalty = 1.0f;    // 1: off; divides positive logits of recent tokens
    int32_t repeat_last_n = 64;     // how many recent tokens the penalties look at
    float frequency_penalty = 0.0f; // minus count * this
    float presence_penalty = 0.0f;  // minus this once a token has appeared
    uint64_t seed = 0xfeedf00dULL;  // same seed, same tokens
};

class Sampler {
  public:
    explicit Sampler(const SamplingParams &params);
    // Picks the next token. `logits` (n_vocab) is used as scratch and changed.
    // `history` holds the tokens so far (prompt and generated), for the penalties.
    int32_t sample(std::span<float> logits, std::span<const int32_t> history);
    const SamplingParams &params() const { return params_; }

  private:
    void apply_penalties(std::span<float> logits, std::span<const int32_t> history);
    SamplingParams params_;
    std::mt19937_64 rng_;
    std::vector<std::pair<float, int32_t>> candidates_; // reused between calls
};

// Index of the largest logit (first on ties).
int32_t argmax(std::span<const float> logits);

} // namespace graft::engine
