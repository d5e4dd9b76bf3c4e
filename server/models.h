// One served model: loaded in the background, its scheduler, and what the endpoints need
// of it (chat prompts, token counts, details for listings). Internal to the server.
#pragma once

#include <graft/chat/chat.h>
#include <graft/engine/scheduler.h>
#include <graft/server/server.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace graft::server {

struct ModelDetails {
    std::string family;         // "llama", "qwen3", ...
    std::string parameter_size; // "1.4M", "7.2B"
    std::string quantization;   // the dtype holding most weight bytes: "Q4_K", "F16"
    uint64_t n_params = 0, size_bytes = 0;
    std::string digest; // a fingerprint of the file (path, size, time)
    std::chrono::system_clock::time_point modified;
};

// One plan of a served model, loaded, with the scheduler that runs it. A switch of rules
// makes a new one; the old one drains (its requests finish) and is then destroyed.
struct PlanRun {
    uint64_t generation = 0;                      // 1 for the first plan, +1 per switch
    std::filesystem::path rules;                  // "" for the family's default rules
    std::string rules_stamp;                      // file_stamp(rules) before it was read
    LoadedModel loaded;                           // its tokenizer is moved to the ModelHost
    std::unique_ptr<engine::Scheduler> scheduler; // after `loaded`: destroyed before it
    // The kernels in use: (kernel "plugin/impl", device, phase "decode"/"prefill") ->
    // modules, from the loaded model.
    std::map<std::tuple<std::string, std::string, std::string>, int> kernels;
    std::string attention_placement; // attention modules' kernels and devices, for KV reuse
};

class ModelHost {
  public:
    enum class State { loading, ready, failed };

    ModelHost(ModelSource source, size_t max_queue);
    ~ModelHost();
    ModelHost(const ModelHost &) = delete;
    ModelHost &operator=(const ModelHost &) = delete;

    const std::string &name() const { return name_; }
    State state() const { return state_.load(std::memory_order_acquire); }
    bool ready() const { return state() == State::ready; }
    std::string error() const;

    // On the loader thread: loads the model and starts its scheduler. Never throws.
    void load(const std::atomic<bool> &stopping);
    // Cancels what runs (every request gets its on_done) and ends the scheduler.
    void stop();

    // --- the rest only once ready() ---
    // The GGUF file and module tree (the same for every plan).
    const gguf::File &file() const { return *file_; }
    const models::Model &tree() const { return *tree_; }
    const tokenizer::Tokenizer &tokenizer() const { return *tokenizer_; }
    int64_t n_ctx() const { return n_ctx_; }
    int n_slots() const { return n_slots_; }
    // The plan serving new requests (null once stopped).
    std::shared_ptr<const PlanRun> plan() const;
    // Plans still finishing requests after a switch.
    size_t draining() const;
    uint64_t switches_failed() const { return switches_failed_.load(); }

    // Loads the model with `rules` and makes it the plan for new requests; the old plan
    // drains. Serialised with other switches. Throws graft::Error when the new plan cannot
    // be built (the old one keeps serving) or the model is not ready or stopping.
    RulesSwitch switch_rules(const std::filesystem::path &rules);
    // The same on a thread of the host's own; `done` gets the result or the error.
    void switch_rules_async(std::filesystem::path rules,
                            std::function<void(const RulesSwitch *, const std::string &)> done);
    const ModelDetails &details() const { return details_; }
    double load_seconds() const { return load_seconds_; }

    // Queues a generation. Throws engine::QueueFull, graft::Error (prompt too long), or
    // ApiError 503 once stopped.
    uint64_t submit(std::vector<int32_t> prompt, engine::GenerateParams params,
                    engine::Scheduler::Callbacks callbacks);
    void cancel(uint64_t id);
    std::optional<engine::SchedulerStats> stats() const;

    // The prompt of a chat, generation prompt added, through the GGUF's chat template or
    // the built-in format picked for the model. Throws ApiError (400 when the template
    // rejects the conversation).
    std::string render_chat(const std::vector<chat::Message> &messages,
                            const boost::json::value *tools,
                            const boost::json::object *extra) const;
    // Text to prompt tokens: special tokens added as the vocabulary asks (once: a BOS the
    // template already wrote is not doubled) and special-token text parsed.
    std::vector<int32_t> encode_prompt(std::string_view text) const;
    // The GGUF's chat template source (empty when it has none) and what formats chats:
    // "tokenizer.chat_template" or the name of the built-in format.
    const std::string &template_source() const { return template_source_; }
    const std::string &template_label() const { return template_label_; }

  private:
    void prepare_chat(const engine::OpenedModel &m);
    void describe(const engine::OpenedModel &m);
    std::shared_ptr<PlanRun> start_plan(LoadedModel loaded, std::filesystem::path rules,
                                        std::string stamp, uint64_t generation);
    void drain(std::shared_ptr<PlanRun> old, std::shared_ptr<PlanRun> next, bool keep_kv);
    std::shared_ptr<PlanRun> find_plan(uint64_t generation) const;

    std::string name_;
    ModelSource source_;
    size_t max_queue_;
    std::atomic<State> state_{State::loading};
    mutable std::mutex error_mutex_;
    std::string error_;
    std::shared_ptr<const gguf::File> file_;
    std::shared_ptr<const models::Model> tree_;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer_; // the first plan's, shared by all
    int64_t n_ctx_ = 0;
    int n_slots_ = 0;
    ModelDetails details_;
    double load_seconds_ = 0;
    std::unique_ptr<chat::Template> template_;
    std::string template_source_, template_label_, builtin_;
    std::string bos_text_, eos_text_;
    // Unique only to install or remove plans; submits hold it shared so that a plan is
    // never destroyed under them.
    mutable std::shared_mutex plans_mutex_;
    std::shared_ptr<PlanRun> current_;
    std::vector<std::shared_ptr<PlanRun>> draining_;
    std::mutex switch_mutex_; // one switch at a time
    std::atomic<bool> stopping_{false};
    std::atomic<uint64_t> switches_failed_{0};
    engine::SchedulerStats retired_; // counters of plans drained and destroyed (plans_mutex_)
    // Switches and drains run on threads of their own; finished ones are joined when the
    // next starts, the rest by stop().
    struct Worker {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    void spawn(std::function<void()> fn); // under threads_mutex_
    std::mutex threads_mutex_;
    std::vector<Worker> threads_;
};

// Size and modification time of a file, "" when it cannot be read: what --watch-rules
// compares.
std::string file_stamp(const std::filesystem::path &path);

// Finds a model by the name a client gives: exact, or with Ollama's ":latest" tag.
ModelHost *find_model(const std::vector<std::unique_ptr<ModelHost>> &models, std::string_view name);

} // namespace graft::server
