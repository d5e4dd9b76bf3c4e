#include <graft/engine/scheduler.h>

#include <algorithm>
#include <chrono>

namespace graft::engine {

struct Scheduler::Job {
    uint64_t id = 0;
    std::vector<int32_t> prompt;
    GenerateParams params;
    Callbacks cb;
    bool cancelled = false; // under mutex_
    int slot = -1;
    int64_t n_past = 0; // tokens in the slot's cache
    size_t fed = 0;     // prompt tokens in the cache
    int32_t pending = -1; // sampled, not yet fed
    int64_t limit = 0;
    std::vector<int32_t> history;
    std::vector<float> scratch;
    std::unique_ptr<Sampler> sampler;
    std::unique_ptr<tokenizer::StreamDecoder> detok;
    std::unique_ptr<StopMatcher> stops;
    GenerateResult result;
    bool done = false;
    std::string error;
};

Scheduler::Scheduler(Model &model, const tokenizer::Tokenizer &tok, SchedulerOptions options)
    : model_(model), tok_(tok), options_(options),
      slots_(static_cast<size_t>(model.n_slots())) {
    stats_.slots = slots_.size();
    stats_.kv_tokens_total = model.n_ctx() * model.n_slots();
    worker_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
    {
        std::lock_guard lk(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
}

uint64_t Scheduler::submit(std::vector<int32_t> prompt, GenerateParams params,
                           Callbacks callbacks) {
    if (prompt.empty())
        throw Error("the prompt is empty");
    if (static_cast<int64_t>(prompt.size()) >= model_.n_ctx())
        throw Error("the prompt has " + std::to_string(prompt.size()) +
                    " tokens; the context holds " + std::to_string(model_.n_ctx()));
    auto job = std::make_unique<Job>();
    job->prompt = std::move(prompt);
    job->params = std::move(params);
    job->cb = std::move(callbacks);
    std::lock_guard lk(mutex_);
    if (queue_.size() >= options_.max_queue)
        throw QueueFull("the queue is full (" + std::to_string(options_.max_queue) +
                        " requests waiting)");
    job->id = next_id_++;
    const uint64_t id = job->id;
    queue_.push_back(std::move(job));
    wake_.notify_all();
    return id;
}

void Scheduler::cancel(uint64_t id) {
    std::lock_guard lk(mutex_);
    for (auto &j : queue_)
        if (j->id == id)
            j->cancelled = true;
    for (auto &j : active_)
        if (j->id == id)
            j->cancelled = true;
    wake_.notify_all();
}

SchedulerStats Scheduler::stats() const {
    std::lock_guard lk(mutex_);
    SchedulerStats s = stats_;
    s.queued = queue_.size();
    s.active = active_.size();
    s.kv_tokens_used = 0;
    for (const Slot &slot : slots_)
        s.kv_tokens_used += static_cast<int64_t>(slot.cached.size());
    return s;
}

std::vector<std::vector<int32_t>> Scheduler::idle_prefixes() const {
    std::lock_guard lk(mutex_);
    std::vector<std::vector<int32_t>> out(slots_.size());
    for (size_t s = 0; s < slots_.size(); ++s)
        if (!slots_[s].job)
            out[s] = slots_[s].cached;
    return out;
}

bool Scheduler::adopt_prefix(int slot, std::vector<int32_t> tokens,
                             const std::function<void()> &copy) {
    std::lock_guard lk(mutex_);
    if (slot < 0 || static_cast<size_t>(slot) >= slots_.size())
        return false;
    Slot &s = slots_[static_cast<size_t>(slot)];
    if (s.job || !s.cached.empty() || tokens.empty())
        return false;
    copy();
    s.cached = std::move(tokens);
    return true;
}

void Scheduler::loop() {
    for (;;) {
        std::vector<std::unique_ptr<Job>> dropped;
        {
            std::unique_lock lk(mutex_);
            wake_.wait(lk, [&] { return stopping_ || !queue_.empty() || !active_.empty(); });
            if (stopping_)
                break;
            // Requests cancelled while they waited never take a slot.
            for (auto it = queue_.begin(); it != queue_.end();)
                if ((*it)->cancelled) {
                    dropped.push_back(std::move(*it));
                    it = queue_.erase(it);
                } else {
                    ++it;
                }
            admit();
        }
        for (auto &j : dropped) {
            j->result.finish_reason = "cancelled";
            if (j->cb.on_done)
                j->cb.on_done(j->result, "");
            std::lock_guard lk(mutex_);
            ++stats_.requests;
        }
        step();
    }
    // Shutting down: whatever is left ends as cancelled.
    std::lock_guard lk(mutex_);
    for (auto &j : queue_)
        active_.push_back(std::move(j));
    queue_.clear();
    for (auto &j : active_) {
        j->result.finish_reason = "cancelled";
        if (j->cb.on_done)
            j->cb.on_done(j->result, "");
    }
    active_.clear();
}

void Scheduler::admit() {
    while (!queue_.empty()) {
        // The free slot whose cached tokens share the longest prefix with the prompt.
        int best = -1;
        size_t best_len = 0;
        const std::vector<int32_t> &prompt = queue_.front()->prompt;
        for (size_t s = 0; s < slots_.size(); ++s) {
            if (slots_[s].job)
                continue;
            const auto &c = slots_[s].cached;
            const size_t n = static_cast<size_t>(
                std::mismatch(c.begin(), c.end(), prompt.begin(), prompt.end()).first -
                c.begin());
            if (best < 0 || n > best_len) {
                best = static_cast<int>(s);
                best_len = n;
            }
        }
        if (best < 0)
            return; // every slot is busy
        std::unique_ptr<Job> job = std::move(queue_.front());
        queue_.pop_front();
        // At least the last prompt token runs again: its logits start the generation.
        const size_t reuse = std::min(best_len, job->prompt.size() - 1);
        Slot &slot = slots_[static_cast<size_t>(best)];
        slot.cached.resize(reuse);
        slot.job = job.get();
        job->slot = best;
        job->n_past = static_cast<int64_t>(reuse);
        job->fed = reuse;
        job->history = job->prompt;
        job->result.n_prompt = static_cast<int64_t>(job->prompt.size());
        job->limit = job->params.max_tokens < 0 ? model_.n_ctx() : job->params.max_tokens;
        job->sampler = std::make_unique<Sampler>(job->params.sampling);
        job->detok = std::make_unique<tokenizer::StreamDecoder>(tok_, false);
        job->stops = std::make_unique<StopMatcher>(job->params.stop);
        job->scratch.resize(static_cast<size_t>(model_.n_vocab()));
        stats_.prompt_tokens += job->prompt.size();
        stats_.reused_tokens += reuse;
        active_.push_back(std::move(job));
    }
}

void Scheduler::finish(Job &job, const std::string &error) {
    job.done = true;
    job.error = error;
}

void Scheduler::step() {
    std::vector<BatchItem> items;
    std::vector<Job *> owners;
    {
        std::lock_guard lk(mutex_);
        for (auto &j : active_)
            if (j->cancelled && !j->done) {
                j->result.finish_reason = "cancelled";
                finish(*j, "");
            }
    }
    int64_t budget = model_.n_batch();
    for (auto &j : active_) { // decode steps first: one token each
        if (j->done || j->fed < j->prompt.size() || budget <= 0)
            continue;
        BatchItem it;
        it.slot = j->slot;
        it.n_past = j->n_past;
        it.tokens = {&j->pending, 1};
        items.push_back(it);
        owners.push_back(j.get());
        --budget;
    }
    bool prefilling = false;
    for (auto &j : active_) { // then prompt chunks in the room left
        if (j->done || j->fed >= j->prompt.size() || budget <= 0)
            continue;
        const size_t n = std::min(j->prompt.size() - j->fed, static_cast<size_t>(budget));
        BatchItem it;
        it.slot = j->slot;
        it.n_past = j->n_past;
        it.tokens = std::span<const int32_t>(j->prompt).subspan(j->fed, n);
        it.logits = j->fed + n == j->prompt.size();
        items.push_back(it);
        owners.push_back(j.get());
        budget -= static_cast<int64_t>(n);
        prefilling = true;
    }

    if (!items.empty()) {
        const auto t0 = std::chrono::steady_clock::now();
        std::span<const float> logits;
        std::string error;
        try {
            logits = model_.forward(items, prefilling ? Phase::Prefill : Phase::Decode);
        } catch (const std::exception &e) {
            error = e.what();
        }
        const double dt =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        {
            std::lock_guard lk(mutex_);
            (prefilling ? stats_.prefill_seconds : stats_.decode_seconds) += dt;
        }
        const size_t n_vocab = static_cast<size_t>(model_.n_vocab());
        size_t row = 0;
        for (size_t i = 0; i < items.size(); ++i) {
            Job &j = *owners[i];
            Slot &slot = slots_[static_cast<size_t>(j.slot)];
            if (!error.empty()) {
                slot.cached.clear();
                finish(j, error);
                continue;
            }
            const bool was_prefill = j.fed < j.prompt.size();
            slot.cached.insert(slot.cached.end(), items[i].tokens.begin(), items[i].tokens.end());
            j.n_past += static_cast<int64_t>(items[i].tokens.size());
            if (was_prefill) {
                j.fed += items[i].tokens.size();
                j.result.prefill_seconds += dt;
                if (!items[i].logits)
                    continue;
            } else {
                j.result.decode_seconds += dt;
                ++j.result.n_decoded;
            }
            std::copy_n(logits.begin() + static_cast<std::ptrdiff_t>(row * n_vocab), n_vocab,
                        j.scratch.begin());
            ++row;
            const int32_t id = j.sampler->sample(j.scratch, j.history);
            if (!j.params.ignore_eos && tok_.is_eog(id)) {
                j.result.finish_reason = "stop";
                finish(j, "");
                continue;
            }
            j.result.tokens.push_back(id);
            j.history.push_back(id);
            j.pending = id;
            std::string text = j.stops->push(j.detok->push(id));
            bool keep = true;
            if (!text.empty()) {
                j.result.text += text;
                try {
                    keep = !j.cb.on_text || j.cb.on_text(text);
                } catch (...) {
                    keep = false;
                }
            }
            if (!keep) {
                j.result.finish_reason = "cancelled";
                finish(j, "");
            } else if (j.stops->stopped()) {
                j.result.finish_reason = "stop";
                finish(j, "");
            } else if (static_cast<int64_t>(j.result.tokens.size()) >= j.limit ||
                       j.n_past + 1 >= model_.n_ctx()) {
                j.result.finish_reason = "length";
                finish(j, "");
            }
        }
    }

    // Hand finished jobs back and free their slots.
    std::vector<std::unique_ptr<Job>> finished;
    {
        std::lock_guard lk(mutex_);
        for (auto it = active_.begin(); it != active_.end();) {
            if ((*it)->done) {
                slots_[static_cast<size_t>((*it)->slot)].job = nullptr;
                stats_.generated_tokens += (*it)->result.tokens.size();
                ++stats_.requests;
                finished.push_back(std::move(*it));
                it = active_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto &j : finished) {
        if (j->error.empty() && j->result.finish_reason != "cancelled") {
            std::string tail = j->stops->push(j->detok->flush());
            tail += j->stops->flush();
            if (!tail.empty()) {
                j->result.text += tail;
                if (j->cb.on_text) {
                    try {
                        j->cb.on_text(tail);
                    } catch (...) {
                    }
                }
            }
        }
        if (j->cb.on_done)
            j->cb.on_done(j->result, j->error);
    }
}

} // namespace graft::engine
