#include "models.h"

#include "api.h"

#include <graft/gguf/gguf.h>
#include <graft/models/module.h>
#include <graft/util/error.h>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

namespace graft::server {

ModelHost::ModelHost(ModelSource source, size_t max_queue)
    : name_(source.name), source_(std::move(source)), max_queue_(max_queue) {}

ModelHost::~ModelHost() {
    stop();
}

std::string ModelHost::error() const {
    std::lock_guard lk(error_mutex_);
    return error_;
}

void ModelHost::load(const std::atomic<bool> &stopping) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
        loaded_ = source_.load(stopping);
        if (!loaded_.model || !loaded_.model->model || !loaded_.model->tokenizer)
            throw Error("the loader returned no model");
        prepare_chat();
        describe();
        engine::SchedulerOptions options;
        options.max_queue = max_queue_;
        scheduler_ = std::make_unique<engine::Scheduler>(*loaded_.model->model,
                                                         *loaded_.model->tokenizer, options);
        load_seconds_ =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        state_.store(State::ready, std::memory_order_release);
    } catch (const std::exception &e) {
        {
            std::lock_guard lk(error_mutex_);
            error_ = e.what();
        }
        state_.store(State::failed, std::memory_order_release);
    }
}

void ModelHost::stop() {
    std::unique_lock lk(scheduler_mutex_);
    scheduler_.reset();
}

int64_t ModelHost::n_ctx() const {
    return loaded_.model->model->n_ctx();
}

uint64_t ModelHost::submit(std::vector<int32_t> prompt, engine::GenerateParams params,
                           engine::Scheduler::Callbacks callbacks) {
    std::shared_lock lk(scheduler_mutex_);
    if (!scheduler_)
        throw ApiError(http::status::service_unavailable, "the server is shutting down",
                       "server_error");
    return scheduler_->submit(std::move(prompt), std::move(params), std::move(callbacks));
}

void ModelHost::cancel(uint64_t id) {
    std::shared_lock lk(scheduler_mutex_);
    if (scheduler_)
        scheduler_->cancel(id);
}

std::optional<engine::SchedulerStats> ModelHost::stats() const {
    if (!ready())
        return std::nullopt;
    std::shared_lock lk(scheduler_mutex_);
    if (!scheduler_)
        return std::nullopt;
    return scheduler_->stats();
}

namespace {

// The built-in format for a model without a chat template: by the special tokens its
// vocabulary has, then by family; ChatML when nothing says otherwise.
std::string pick_builtin(const tokenizer::Tokenizer &tok, const std::string &family) {
    if (tok.find_token("<|start_header_id|>") >= 0)
        return "llama3";
    if (tok.find_token("<|im_start|>") >= 0)
        return "chatml";
    if (family == "deepseek2")
        return "deepseek2";
    if (family == "mixtral")
        return "mistral-v1";
    if (family == "llama" && tok.model() == "llama")
        return "llama2";
    return "chatml";
}

std::string human_count(uint64_t n) {
    const char *suffix[] = {"", "K", "M", "B", "T"};
    double v = static_cast<double>(n);
    int i = 0;
    while (v >= 1000.0 && i < 4) {
        v /= 1000.0;
        ++i;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, i ? "%.1f%s" : "%.0f%s", v, suffix[i]);
    return buf;
}

} // namespace

void ModelHost::prepare_chat() {
    const engine::OpenedModel &m = *loaded_.model;
    const tokenizer::Tokenizer &tok = *m.tokenizer;
    if (tok.bos() >= 0)
        bos_text_ = tok.token_text(tok.bos());
    if (tok.eos() >= 0)
        eos_text_ = tok.token_text(tok.eos());
    template_source_ = m.file->get_string("tokenizer.chat_template", "");
    if (!template_source_.empty()) {
        try {
            template_ = std::make_unique<chat::Template>(template_source_);
            template_label_ = "tokenizer.chat_template";
            return;
        } catch (const std::exception &e) {
            spdlog::warn("{}: the chat template does not compile ({}); using a built-in format",
                         name_, e.what());
        }
    }
    builtin_ = pick_builtin(tok, m.tree->hparams.family);
    template_label_ = builtin_;
}

void ModelHost::describe() {
    const engine::OpenedModel &m = *loaded_.model;
    details_.family = m.tree->hparams.family;
    std::map<std::string, uint64_t> bytes_by_dtype;
    for (const gguf::TensorInfo &t : m.file->tensors()) {
        details_.n_params += static_cast<uint64_t>(t.n_elements());
        if (t.n_dims >= 2)
            bytes_by_dtype[gguf::dtype_traits(t.dtype).name] += t.n_bytes;
    }
    uint64_t best = 0;
    for (const auto &[dtype, bytes] : bytes_by_dtype)
        if (bytes > best) {
            best = bytes;
            details_.quantization = dtype;
        }
    details_.parameter_size = human_count(details_.n_params);
    details_.size_bytes = m.file->file_size();
    std::error_code ec;
    const std::filesystem::path path = m.file->name();
    const auto mtime = std::filesystem::last_write_time(path, ec);
    details_.modified = ec ? std::chrono::system_clock::now()
                           : std::chrono::time_point_cast<std::chrono::system_clock::duration>(
                                 std::chrono::file_clock::to_sys(mtime));
    // FNV-1a over what identifies the file; hashing gigabytes of weights would delay start.
    uint64_t h = 1469598103934665603ull;
    const std::string key = path.string() + "|" + std::to_string(details_.size_bytes) + "|" +
                            std::to_string(details_.modified.time_since_epoch().count());
    for (char c : key) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    details_.digest = buf;
}

std::string ModelHost::render_chat(const std::vector<chat::Message> &messages,
                                   const boost::json::value *tools,
                                   const boost::json::object *extra) const {
    if (messages.empty())
        throw bad_request("'messages' must hold at least one message", "messages");
    if (!template_) {
        try {
            return chat::apply_builtin_template(builtin_, messages, true);
        } catch (const std::exception &e) {
            throw bad_request(std::string("cannot format the chat: ") + e.what(), "messages");
        }
    }
    try {
        return chat::apply_chat_template(*template_, messages, true, bos_text_, eos_text_, tools,
                                         extra);
    } catch (const chat::TemplateError &e) {
        if (e.raised_by_template())
            throw bad_request("the model's chat template rejected the conversation: " + e.detail(),
                              "messages");
        throw ApiError(http::status::internal_server_error,
                       std::string("the model's chat template failed: ") + e.what(),
                       "server_error");
    }
}

std::vector<int32_t> ModelHost::encode_prompt(std::string_view text) const {
    const tokenizer::Tokenizer &tok = tokenizer();
    if (tok.add_bos() && !bos_text_.empty() && text.starts_with(bos_text_))
        text.remove_prefix(bos_text_.size());
    return tok.encode(text, true, true);
}

ModelHost *find_model(const std::vector<std::unique_ptr<ModelHost>> &models,
                      std::string_view name) {
    for (const auto &m : models)
        if (m->name() == name)
            return m.get();
    if (name.ends_with(":latest")) {
        name.remove_suffix(7);
        for (const auto &m : models)
            if (m->name() == name)
                return m.get();
    }
    return nullptr;
}

} // namespace graft::server
