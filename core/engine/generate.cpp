#include <graft/engine/generate.h>
#include <graft/util/error.h>

#include <algorithm>
#include <chrono>

namespace graft::engine {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
    std::erase_if(stops_, [](const std::string &s) { return s.empty(); });
}

std::string StopMatcher::push(std::string_view text) {
    if (stopped_)
        return {};
    pending_ += text;
    // A complete stop string: show what precedes the earliest one, drop the rest.
    size_t cut = std::string::npos;
    for (const std::string &s : stops_)
        cut = std::min(cut, pending_.find(s));
    if (cut != std::string::npos) {
        stopped_ = true;
        std::string out = pending_.substr(0, cut);
        pending_.clear();
        return out;
    }
    // Hold back the longest tail that is a prefix of some stop string.
    size_t hold = 0;
    for (const std::string &s : stops_) {
        const size_t max = std::min(s.size() - 1, pending_.size());
        for (size_t n = max; n > hold; --n)
            if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
                hold = n;
                break;
            }
    }
    std::string out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return out;
}

std::string StopMatcher::flush() {
    std::string out = stopped_ ? std::string() : pending_;
    pending_.clear();
    return out;
}

std::vector<float> prefill(Model &model, int slot, int64_t n_past, std::span<const int32_t> tokens,
                           bool all_logits) {
    std::vector<float> out;
    const auto n_vocab = static_cast<size_t>(model.n_vocab());
    for (size_t i = 0; i < tokens.size();) {
        const size_t n = std::min(tokens.size() - i, static_cast<size_t>(model.n_batch()));
        BatchItem item;
        item.slot = slot;
        item.n_past = n_past + static_cast<int64_t>(i);
        item.tokens = tokens.subspan(i, n);
        item.all_logits = all_logits;
        std::span<const float> logits = model.forward({&item, 1}, Phase::Prefill);
        if (all_logits)
            out.insert(out.end(), logits.begin(), logits.end());
        else if (i + n == tokens.size())
            out.assign(logits.end() - static_cast<std::ptrdiff_t>(n_vocab), logits.end());
        i += n;
    }
    return out;
}

GenerateResult generate(Model &model, const tokenizer::Tokenizer &tok,
                        std::span<const int32_t> prompt, const GenerateParams &params,
                        const TextFn &on_text, int slot) {
    using clock = std::chrono::steady_clock;
    if (prompt.empty())
        throw Error("the prompt is empty");
    if (static_cast<int64_t>(prompt.size()) >= model.n_ctx())
        throw Error("the prompt has " + std::to_string(prompt.size()) +
                    " tokens; the context holds " + std::to_string(model.n_ctx()));
    GenerateResult r;
    r.n_prompt = static_cast<int64_t>(prompt.size());
    std::vector<int32_t> history(prompt.begin(), prompt.end());
    Sampler sampler(params.sampling);
    tokenizer::StreamDecoder detok(tok, false);
    StopMatcher stops(params.stop);
    auto emit = [&](const std::string &text) {
        if (text.empty())
            return true;
        r.text += text;
        return on_text ? on_text(text) : true;
    };

    const auto t0 = clock::now();
    std::vector<float> logits = prefill(model, slot, 0, prompt);
    const auto t1 = clock::now();
    r.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

    int64_t n_past = r.n_prompt;
    r.finish_reason = "length";
    const int64_t limit = params.max_tokens < 0 ? model.n_ctx() - n_past : params.max_tokens;
    for (int64_t i = 0; i < limit; ++i) {
        const int32_t id = sampler.sample(logits, history);
        if (!params.ignore_eos && tok.is_eog(id)) {
            r.finish_reason = "stop";
            break;
        }
        r.tokens.push_back(id);
        history.push_back(id);
        if (!emit(stops.push(detok.push(id)))) {
            r.finish_reason = "cancelled";
            break;
        }
        if (stops.stopped()) {
            r.finish_reason = "stop";
            break;
        }
        if (n_past + 1 >= model.n_ctx() || i + 1 == limit)
            break;
        BatchItem item;
        item.slot = slot;
        item.n_past = n_past;
        item.tokens = {&history.back(), 1};
        const auto d0 = clock::now();
        std::span<const float> next = model.forward({&item, 1}, Phase::Decode);
        logits.assign(next.begin(), next.end());
        r.decode_seconds += std::chrono::duration<double>(clock::now() - d0).count();
        ++r.n_decoded;
        ++n_past;
    }
    if (r.finish_reason != "cancelled") {
        std::string tail = stops.push(detok.flush());
        tail += stops.flush();
        emit(tail);
        if (stops.stopped())
            r.finish_reason = "stop";
    }
    return r;
}

} // namespace graft::engine
