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

namespace {

// Request ids the host hands out carry the plan's generation, so that a cancel reaches the
// scheduler that runs the request even after a switch.
constexpr int kGenerationShift = 40;

uint64_t host_id(uint64_t generation, uint64_t scheduler_id) {
    return generation << kGenerationShift | scheduler_id;
}

// Attention modules' kernels and devices: when they are unchanged, so is the KV cache's
// place and layout, and cached prompts can move to the new plan.
std::string attention_placement(const engine::Model &model) {
    std::string out;
    for (const engine::KernelProfile &k : model.profile())
        if (k.op.rfind("attention", 0) == 0)
            out += k.module + "=" + k.kernel + "@" + k.device + (k.prefill_only ? "(p)" : "") + ";";
    return out;
}

} // namespace

std::string file_stamp(const std::filesystem::path &path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec)
        return {};
    const auto time = std::filesystem::last_write_time(path, ec);
    if (ec)
        return {};
    return std::to_string(size) + "@" + std::to_string(time.time_since_epoch().count());
}

std::shared_ptr<PlanRun> ModelHost::start_plan(LoadedModel loaded, std::filesystem::path rules,
                                               std::string stamp, uint64_t generation) {
    if (!loaded.model || !loaded.model->model)
        throw Error("the loader returned no model");
    auto run = std::make_shared<PlanRun>();
    run->generation = generation;
    run->rules = std::move(rules);
    run->rules_stamp = std::move(stamp);
    run->loaded = std::move(loaded);
    const engine::Model &model = *run->loaded.model->model;
    if (model.n_ctx() != n_ctx_ || model.n_slots() != n_slots_)
        throw Error("the new plan has a context of " + std::to_string(model.n_ctx()) +
                    " tokens and " + std::to_string(model.n_slots()) + " slots; the model has " +
                    std::to_string(n_ctx_) + " and " + std::to_string(n_slots_));
    for (const engine::KernelProfile &k : model.profile())
        ++run->kernels[{k.kernel, k.device, k.prefill_only ? "prefill" : "decode"}];
    run->attention_placement = attention_placement(model);
    engine::SchedulerOptions options;
    options.max_queue = max_queue_;
    run->scheduler =
        std::make_unique<engine::Scheduler>(*run->loaded.model->model, *tokenizer_, options);
    return run;
}

void ModelHost::load(const std::atomic<bool> &stopping) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
        const std::string stamp = source_.rules.empty() ? "" : file_stamp(source_.rules);
        LoadedModel loaded = source_.load(stopping);
        if (!loaded.model || !loaded.model->model || !loaded.model->tokenizer)
            throw Error("the loader returned no model");
        engine::OpenedModel &m = *loaded.model;
        file_ = m.file;
        tree_ = m.tree;
        tokenizer_ = std::move(m.tokenizer);
        n_ctx_ = m.model->n_ctx();
        n_slots_ = m.model->n_slots();
        prepare_chat(m);
        describe(m);
        auto run = start_plan(std::move(loaded), source_.rules, stamp, 1);
        {
            std::unique_lock lk(plans_mutex_);
            current_ = std::move(run);
        }
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
    stopping_ = true;
    // Switches give up (their loads poll stopping_), drains stop waiting. A switch that
    // ends meanwhile may add its drain: join until none is left.
    for (;;) {
        std::vector<Worker> threads;
        {
            std::lock_guard lk(threads_mutex_);
            threads.swap(threads_);
        }
        if (threads.empty())
            break;
        for (Worker &w : threads)
            w.thread.join();
    }
    std::shared_ptr<PlanRun> current;
    std::vector<std::shared_ptr<PlanRun>> draining;
    {
        std::unique_lock lk(plans_mutex_);
        current = std::move(current_);
        draining.swap(draining_);
    }
    // Destroying the schedulers answers what they still run (as cancelled).
    if (current)
        current->scheduler.reset();
    for (auto &d : draining)
        d->scheduler.reset();
}

std::shared_ptr<const PlanRun> ModelHost::plan() const {
    std::shared_lock lk(plans_mutex_);
    return current_;
}

size_t ModelHost::draining() const {
    std::shared_lock lk(plans_mutex_);
    return draining_.size();
}

std::shared_ptr<PlanRun> ModelHost::find_plan(uint64_t generation) const {
    if (current_ && current_->generation == generation)
        return current_;
    for (const auto &d : draining_)
        if (d->generation == generation)
            return d;
    return nullptr;
}

uint64_t ModelHost::submit(std::vector<int32_t> prompt, engine::GenerateParams params,
                           engine::Scheduler::Callbacks callbacks) {
    std::shared_lock lk(plans_mutex_);
    if (!current_ || !current_->scheduler)
        throw ApiError(http::status::service_unavailable, "the server is shutting down",
                       "server_error");
    return host_id(
        current_->generation,
        current_->scheduler->submit(std::move(prompt), std::move(params), std::move(callbacks)));
}

void ModelHost::cancel(uint64_t id) {
    std::shared_lock lk(plans_mutex_);
    const auto run = find_plan(id >> kGenerationShift);
    if (run && run->scheduler)
        run->scheduler->cancel(id & ((uint64_t{1} << kGenerationShift) - 1));
}

std::optional<engine::SchedulerStats> ModelHost::stats() const {
    if (!ready())
        return std::nullopt;
    std::shared_lock lk(plans_mutex_);
    if (!current_ || !current_->scheduler)
        return std::nullopt;
    engine::SchedulerStats total = current_->scheduler->stats();
    // Requests still finishing on an old plan count as active; its counters carry on.
    for (const auto &d : draining_) {
        if (!d->scheduler)
            continue;
        const engine::SchedulerStats s = d->scheduler->stats();
        total.queued += s.queued;
        total.active += s.active;
        total.requests += s.requests;
        total.prompt_tokens += s.prompt_tokens;
        total.reused_tokens += s.reused_tokens;
        total.generated_tokens += s.generated_tokens;
        total.prefill_seconds += s.prefill_seconds;
        total.decode_seconds += s.decode_seconds;
    }
    total.requests += retired_.requests;
    total.prompt_tokens += retired_.prompt_tokens;
    total.reused_tokens += retired_.reused_tokens;
    total.generated_tokens += retired_.generated_tokens;
    total.prefill_seconds += retired_.prefill_seconds;
    total.decode_seconds += retired_.decode_seconds;
    return total;
}

RulesSwitch ModelHost::switch_rules(const std::filesystem::path &rules) {
    if (!ready())
        throw Error("model '" + name_ + "' is not loaded");
    if (!source_.load_with_rules)
        throw Error("model '" + name_ + "' cannot switch rules (its loader does not say how)");
    std::lock_guard serial(switch_mutex_);
    if (stopping_)
        throw Error("the server is stopping");
    const auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<PlanRun> old = std::const_pointer_cast<PlanRun>(plan());
    if (!old)
        throw Error("the server is stopping");
    std::shared_ptr<PlanRun> next;
    try {
        const std::string stamp = file_stamp(rules);
        next = start_plan(source_.load_with_rules(rules, stopping_), rules, stamp,
                          old->generation + 1);
    } catch (const std::exception &e) {
        ++switches_failed_;
        throw Error(std::string("the new rules were not applied (the old plan keeps serving): ") +
                    e.what());
    }
    RulesSwitch result;
    result.model = name_;
    result.rules = rules;
    result.generation = next->generation;
    result.kv_kept = next->attention_placement == old->attention_placement;
    {
        std::unique_lock lk(plans_mutex_);
        if (stopping_ || current_ != old)
            throw Error("the server is stopping");
        draining_.push_back(old);
        current_ = next;
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard lk(threads_mutex_);
    spawn([this, old = std::move(old), next = std::move(next), keep = result.kv_kept]() mutable {
        drain(std::move(old), std::move(next), keep);
    });
    return result;
}

void ModelHost::switch_rules_async(
    std::filesystem::path rules,
    std::function<void(const RulesSwitch *, const std::string &)> done) {
    std::lock_guard lk(threads_mutex_);
    if (stopping_) {
        done(nullptr, "the server is stopping");
        return;
    }
    spawn([this, rules = std::move(rules), done = std::move(done)] {
        try {
            const RulesSwitch result = switch_rules(rules);
            done(&result, "");
        } catch (const std::exception &e) {
            done(nullptr, e.what());
        }
    });
}

void ModelHost::spawn(std::function<void()> fn) {
    for (auto it = threads_.begin(); it != threads_.end();)
        if (it->done->load()) {
            it->thread.join();
            it = threads_.erase(it);
        } else {
            ++it;
        }
    auto done = std::make_shared<std::atomic<bool>>(false);
    threads_.push_back({std::thread([fn = std::move(fn), done] {
                            fn();
                            done->store(true);
                        }),
                        done});
}

// Waits until the old plan has finished its requests, moves the prompts cached in its
// slots to the new plan when the KV cache's placement is unchanged, and destroys it.
void ModelHost::drain(std::shared_ptr<PlanRun> old, std::shared_ptr<PlanRun> next, bool keep_kv) {
    while (!stopping_) {
        const engine::SchedulerStats s = old->scheduler->stats();
        if (s.queued == 0 && s.active == 0)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (stopping_)
        return; // stop() destroys what is left
    if (keep_kv && next->scheduler) {
        engine::Model &from = *old->loaded.model->model;
        engine::Model &to = *next->loaded.model->model;
        const auto prefixes = old->scheduler->idle_prefixes();
        for (size_t slot = 0; slot < prefixes.size(); ++slot) {
            if (prefixes[slot].empty())
                continue;
            const int64_t n = static_cast<int64_t>(prefixes[slot].size());
            const int s = static_cast<int>(slot);
            try {
                next->scheduler->adopt_prefix(s, prefixes[slot],
                                              [&] { to.copy_slot_from(from, s, n); });
            } catch (const std::exception &e) { // the cache stays empty: only slower
                spdlog::warn("{}: cached prompt of slot {} not carried over: {}", name_, s,
                             e.what());
            }
        }
    }
    const engine::SchedulerStats last = old->scheduler->stats();
    std::unique_lock lk(plans_mutex_);
    std::erase(draining_, old);
    retired_.requests += last.requests;
    retired_.prompt_tokens += last.prompt_tokens;
    retired_.reused_tokens += last.reused_tokens;
    retired_.generated_tokens += last.generated_tokens;
    retired_.prefill_seconds += last.prefill_seconds;
    retired_.decode_seconds += last.decode_seconds;
    lk.unlock();
    old.reset(); // the scheduler's thread ends, then the model's memory is freed
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

void ModelHost::prepare_chat(const engine::OpenedModel &m) {
    const tokenizer::Tokenizer &tok = *tokenizer_;
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

void ModelHost::describe(const engine::OpenedModel &m) {
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
