#include "metrics.h"

#include <cstdio>

namespace graft::server {

void Metrics::count_request(const std::string &endpoint, unsigned status) {
    std::lock_guard lk(mutex_);
    ++requests_[{endpoint, status}];
}

uint64_t Metrics::requests(const std::string &endpoint, unsigned status) const {
    std::lock_guard lk(mutex_);
    auto it = requests_.find({endpoint, status});
    return it == requests_.end() ? 0 : it->second;
}

namespace {

// Label values are model names and route patterns; escape what the format reserves.
std::string label(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void header(std::string &out, const char *name, const char *type, const char *help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

} // namespace

std::string Metrics::render(const std::vector<std::unique_ptr<ModelHost>> &models) const {
    std::string out;
    header(out, "graft_http_requests_total", "counter",
           "HTTP requests answered, by endpoint and status code.");
    {
        std::lock_guard lk(mutex_);
        for (const auto &[key, count] : requests_)
            out += "graft_http_requests_total{endpoint=\"" + label(key.first) + "\",status=\"" +
                   std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
    }

    struct Row {
        std::string model;
        engine::SchedulerStats stats;
        bool ready;
    };
    std::vector<Row> rows;
    for (const auto &m : models) {
        auto stats = m->stats();
        rows.push_back(
            {label(m->name()), stats.value_or(engine::SchedulerStats{}), stats.has_value()});
    }
    struct Series {
        const char *name, *type, *help;
        std::string (*value)(const Row &);
    };
    static const Series series[] = {
        {"graft_model_ready", "gauge", "1 when the model is loaded and serving.",
         [](const Row &r) { return std::string(r.ready ? "1" : "0"); }},
        {"graft_requests_finished_total", "counter",
         "Generation requests finished (any reason), by model.",
         [](const Row &r) { return std::to_string(r.stats.requests); }},
        {"graft_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.",
         [](const Row &r) { return std::to_string(r.stats.prompt_tokens); }},
        {"graft_prompt_tokens_reused_total", "counter",
         "Prompt tokens whose KV was reused from a cached prefix instead of computed.",
         [](const Row &r) { return std::to_string(r.stats.reused_tokens); }},
        {"graft_generated_tokens_total", "counter", "Tokens generated.",
         [](const Row &r) { return std::to_string(r.stats.generated_tokens); }},
        {"graft_prefill_seconds_total", "counter", "Wall time of forward passes with prompts.",
         [](const Row &r) { return number(r.stats.prefill_seconds); }},
        {"graft_decode_seconds_total", "counter", "Wall time of decode-only forward passes.",
         [](const Row &r) { return number(r.stats.decode_seconds); }},
        {"graft_queue_depth", "gauge", "Requests waiting for a slot.",
         [](const Row &r) { return std::to_string(r.stats.queued); }},
        {"graft_active_requests", "gauge", "Requests holding a slot.",
         [](const Row &r) { return std::to_string(r.stats.active); }},
        {"graft_slots", "gauge", "Sequence slots (--parallel).",
         [](const Row &r) { return std::to_string(r.stats.slots); }},
        {"graft_kv_tokens_used", "gauge", "Tokens held in the KV caches of all slots.",
         [](const Row &r) { return std::to_string(r.stats.kv_tokens_used); }},
        {"graft_kv_tokens_total", "gauge", "Token capacity of the KV caches of all slots.",
         [](const Row &r) { return std::to_string(r.stats.kv_tokens_total); }},
    };
    for (const Series &s : series) {
        header(out, s.name, s.type, s.help);
        for (const Row &r : rows)
            out += std::string(s.name) + "{model=\"" + r.model + "\"} " + s.value(r) + "\n";
    }

    // The plan each model serves: its generation and the kernels it runs.
    std::string generations, failed, kernels;
    for (const auto &m : models) {
        const std::string model = label(m->name());
        failed += "graft_rules_switches_failed_total{model=\"" + model + "\"} " +
                  std::to_string(m->switches_failed()) + "\n";
        const auto plan = m->ready() ? m->plan() : nullptr;
        if (!plan)
            continue;
        generations += "graft_plan_generation{model=\"" + model + "\"} " +
                       std::to_string(plan->generation) + "\n";
        for (const auto &[key, modules] : plan->kernels) {
            const auto &[kernel, device, phase] = key;
            kernels += "graft_kernel_modules{model=\"" + model + "\",kernel=\"" + label(kernel) +
                       "\",device=\"" + label(device) + "\",phase=\"" + phase + "\"} " +
                       std::to_string(modules) + "\n";
        }
    }
    header(out, "graft_plan_generation", "gauge",
           "The plan serving new requests: 1 for the first, +1 per switch of rules.");
    out += generations;
    header(out, "graft_rules_switches_failed_total", "counter",
           "Switches of rules whose new plan could not be built (the old one kept serving).");
    out += failed;
    header(out, "graft_kernel_modules", "gauge",
           "Modules of the serving plan bound to each kernel, by device and phase.");
    out += kernels;
    return out;
}

} // namespace graft::server
