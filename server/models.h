// One served model: loaded in the background, its scheduler, and what the endpoints need
// of it (chat prompts, token counts, details for listings). Internal to the server.
#pragma once

#include <graft/chat/chat.h>
#include <graft/engine/scheduler.h>
#include <graft/server/server.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
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
    const engine::OpenedModel &opened() const { return *loaded_.model; }
    const tokenizer::Tokenizer &tokenizer() const { return *loaded_.model->tokenizer; }
    int64_t n_ctx() const;
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
    void prepare_chat();
    void describe();

    std::string name_;
    ModelSource source_;
    size_t max_queue_;
    std::atomic<State> state_{State::loading};
    mutable std::mutex error_mutex_;
    std::string error_;
    LoadedModel loaded_;
    ModelDetails details_;
    double load_seconds_ = 0;
    std::unique_ptr<chat::Template> template_;
    std::string template_source_, template_label_, builtin_;
    std::string bos_text_, eos_text_;
    mutable std::shared_mutex scheduler_mutex_; // unique only to destroy the scheduler
    std::unique_ptr<engine::Scheduler> scheduler_;
};

// Finds a model by the name a client gives: exact, or with Ollama's ":latest" tag.
ModelHost *find_model(const std::vector<std::unique_ptr<ModelHost>> &models, std::string_view name);

} // namespace graft::server
