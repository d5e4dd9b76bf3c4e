// Generation for one sequence: prefill the prompt in batches, then decode token by token
// with a sampler, streaming text that is valid UTF-8 and never part of a stop string.
#pragma once

#include <graft/engine/model.h>
#include <graft/engine/sampler.h>
#include <graft/tokenizer/tokenizer.h>

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace graft::engine {

// Holds back text that could be the start of a stop string, and cuts at the first stop.
class StopMatcher {
  public:
    explicit StopMatcher(std::vector<std::string> stops);
    // Adds generated text; returns the part that can be shown now.
    std::string push(std::string_view text);
    // At the end of generation: what was held back (nothing after a stop).
    std::string flush();
    bool stopped() const { return stopped_; }

  private:
    std::vector<std::string> stops_;
    std::string pending_;
    bool stopped_ = false;
};

struct GenerateParams {
    SamplingParams sampling;
    int32_t max_tokens = 256; // < 0: until the context is full
    std::vector<std::string> stop;
    bool ignore_eos = false;  // keep going past end-of-generation tokens
};

struct GenerateResult {
    std::vector<int32_t> tokens; // generated ids
    std::string text;            // what was streamed
    std::string finish_reason;   // "stop" (EOG token or stop string), "length", "cancelled"
    int64_t n_prompt = 0;
    int64_t n_decoded = 0; // single-token forward passes after the prompt
    double prefill_seconds = 0, decode_seconds = 0; // time in those forward passes
    double prefill_tps() const {
        return prefill_seconds > 0 ? static_cast<double>(n_prompt) / prefill_seconds : 0;
    }
    double decode_tps() const {
        return decode_seconds > 0 ? static_cast<double>(n_decoded) / decode_seconds : 0;
    }
};

// Returns false to stop generation early.
using TextFn = std::function<bool(std::string_view)>;

// Runs `prompt` (token ids) in slot `slot` from an empty cache and generates.
GenerateResult generate(Model &model, const tokenizer::Tokenizer &tok,
                        std::span<const int32_t> prompt, const GenerateParams &params,
                        const TextFn &on_text, int slot = 0);

// Feeds tokens into a slot in batches of model.n_batch() starting at n_past; returns the
// logits of the last token (n_vocab).
std::vector<float> prefill(Model &model, int slot, int64_t n_past, std::span<const int32_t> tokens,
                           bool all_logits = false);

} // namespace graft::engine
