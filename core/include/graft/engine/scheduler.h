// Continuous batching: many requests share each forward pass. Requests wait in a bounded
// queue, take a KV slot (the one whose cached tokens share the longest prefix with the
// prompt, so the next turn of a chat reuses its KV), prefill in chunks beside other
// sequences' decode steps, and leave their slot as soon as they finish or are cancelled.
#pragma once

#include <graft/engine/generate.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace graft::engine {

class QueueFull : public Error {
  public:
    using Error::Error;
};

struct SchedulerOptions {
    size_t max_queue = 64; // waiting requests beyond the slots; more is QueueFull
};

struct SchedulerStats {
    size_t queued = 0, active = 0, slots = 0;
    uint64_t requests = 0;          // finished, any reason
    uint64_t prompt_tokens = 0;     // prompt tokens of admitted requests
    uint64_t reused_tokens = 0;     // of those, taken from a cached prefix
    uint64_t generated_tokens = 0;
    double prefill_seconds = 0, decode_seconds = 0; // wall time of the forward passes
    int64_t kv_tokens_used = 0, kv_tokens_total = 0;
};

class Scheduler {
  public:
    struct Callbacks {
        // Generated text, valid UTF-8, stop strings held back. Runs on the scheduler's
        // thread: keep it short. Return false when the client is gone (cancels).
        std::function<bool(std::string_view)> on_text;
        // Exactly once at the end: the result, and an error message when it failed.
        std::function<void(const GenerateResult &, const std::string &error)> on_done;
    };

    Scheduler(Model &model, const tokenizer::Tokenizer &tok, SchedulerOptions options = {});
    ~Scheduler(); // cancels what is left and joins the thread
    Scheduler(const Scheduler &) = delete;
    Scheduler &operator=(const Scheduler &) = delete;

    // Queues a request and returns its id. Throws QueueFull when the queue is full and
    // graft::Error when the prompt cannot fit the context.
    uint64_t submit(std::vector<int32_t> prompt, GenerateParams params, Callbacks callbacks);
    // Cancels a queued or running request (its slot is free after the current step).
    void cancel(uint64_t id);
    SchedulerStats stats() const;

    // Moving cached prompts to another scheduler (a switch of plans in a server): the
    // tokens whose KV each slot holds, empty for a slot that runs a request.
    std::vector<std::vector<int32_t>> idle_prefixes() const;
    // Gives a slot that holds nothing and runs nothing the KV of `tokens`: `copy` fills the
    // model's cache of that slot and runs under the scheduler's lock. False (and `copy` not
    // run) when the slot is in use or already holds tokens.
    bool adopt_prefix(int slot, std::vector<int32_t> tokens, const std::function<void()> &copy);

  private:
    struct Job;
    struct Slot {
        std::vector<int32_t> cached; // tokens whose KV is in this slot
        Job *job = nullptr;
    };
    void loop();
    void admit();            // queue -> free slots; under lock
    void step();             // one forward pass over every active job
    void finish(Job &job, const std::string &error);

    Model &model_;
    const tokenizer::Tokenizer &tok_;
    SchedulerOptions options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::unique_ptr<Job>> queue_;
    std::vector<std::unique_ptr<Job>> active_;
    std::vector<Slot> slots_;
    SchedulerStats stats_;
    uint64_t next_id_ = 1;
    bool stopping_ = false;
    std::thread worker_;
};

} // namespace graft::engine
