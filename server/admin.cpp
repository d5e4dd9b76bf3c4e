// Switching rules while serving: the admin endpoint, the file watcher, plan descriptions.
#include "admin.h"

#include "routes.h"

#include <graft/util/error.h>

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <fstream>

#include <unistd.h>

namespace graft::server {

namespace json = boost::json;

json::object plan_json(const ModelHost &model, const PlanRun &plan) {
    json::array kernels;
    for (const auto &[key, modules] : plan.kernels) {
        const auto &[kernel, device, phase] = key;
        kernels.push_back(json::object{
            {"kernel", kernel}, {"device", device}, {"phase", phase}, {"modules", modules}});
    }
    return {{"rules", plan.rules.string()},
            {"generation", plan.generation},
            {"draining", model.draining()},
            {"kernels", std::move(kernels)}};
}

json::object switch_json(const RulesSwitch &result, bool with_path) {
    json::object o{{"model", result.model},
                   {"generation", result.generation},
                   {"kv_cache", result.kv_kept ? "kept" : "rebuilt"},
                   {"seconds", result.seconds}};
    if (with_path)
        o["rules"] = result.rules.string();
    return o;
}

TempRules::TempRules(const std::string &yaml) {
    static std::atomic<uint64_t> counter{0};
    path_ = std::filesystem::temp_directory_path() / ("graft-rules-" + std::to_string(::getpid()) +
                                                      "-" + std::to_string(++counter) + ".yaml");
    std::ofstream out(path_, std::ios::binary);
    out << yaml;
    if (!out.flush())
        throw ApiError(http::status::internal_server_error,
                       "cannot write the posted rules to " + path_.string(), "server_error");
}

TempRules::~TempRules() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
}

namespace {

// POST /admin/rules {"model"?, "rules": PATH} or {"model"?, "yaml": TEXT}: switches the
// model's plan; the answer comes once the new plan serves, or with the reason it was not
// applied (422; the old plan keeps serving).
void admin_rules(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const json::object body = parse_body(request.body());
    const Fields f(body);
    ModelHost &m = state.require(f.string("model").value_or(""), true);
    const std::optional<std::string> path = f.string("rules");
    const std::optional<std::string> yaml = f.string("yaml");
    if (path.has_value() == yaml.has_value())
        throw bad_request(
            "give either 'rules' (the path of a rules file on the server) or 'yaml' (the "
            "rules themselves)",
            "rules");
    std::filesystem::path rules;
    std::shared_ptr<TempRules> temp;
    if (path) {
        rules = *path;
    } else {
        temp = std::make_shared<TempRules>(*yaml);
        rules = temp->path();
    }
    m.switch_rules_async(rules, [reply, temp, named = path.has_value()](const RulesSwitch *done,
                                                                        const std::string &error) {
        Response response =
            done ? json_response(switch_json(*done, named))
                 : error_response(Flavor::openai,
                                  ApiError(http::status::unprocessable_entity, error,
                                           "invalid_request_error", "rules", "rules_rejected"));
        reply->post([reply, response = std::move(response)]() mutable {
            reply->send(std::move(response));
        });
    });
}

} // namespace

std::vector<Route> admin_routes() {
    return {{http::verb::post, "/admin/rules", Flavor::openai, false, admin_rules}};
}

RulesWatcher::RulesWatcher(const std::vector<std::unique_ptr<ModelHost>> &models, int interval_ms,
                           Log log)
    : models_(models), interval_ms_(std::max(interval_ms, 10)), log_(std::move(log)) {
    thread_ = std::thread([this] { loop(); });
}

RulesWatcher::~RulesWatcher() {
    {
        std::lock_guard lk(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void RulesWatcher::loop() {
    for (;;) {
        {
            std::unique_lock lk(mutex_);
            if (wake_.wait_for(lk, std::chrono::milliseconds(interval_ms_),
                               [this] { return stop_; }))
                return;
        }
        for (const auto &m : models_)
            if (m->ready())
                check(*m, seen_[m.get()]);
    }
}

void RulesWatcher::check(ModelHost &model, Seen &seen) {
    const auto plan = model.plan();
    if (!plan || plan->rules.empty())
        return; // the family's default rules: nothing of the user's to watch
    const std::string stamp = file_stamp(plan->rules);
    if (stamp.empty() || stamp == plan->rules_stamp)
        return; // unreadable (e.g. mid-rename), or the version the plan was built from
    if (seen.path == plan->rules && seen.stamp == stamp)
        return; // this version was tried and refused: wait for the next edit
    seen.path = plan->rules;
    seen.stamp = stamp;
    try {
        const RulesSwitch s = model.switch_rules(plan->rules);
        if (log_)
            log_("graft: model '" + model.name() + "' now runs the rules of " +
                 plan->rules.string() + " (plan " + std::to_string(s.generation) + ", KV cache " +
                 (s.kv_kept ? "kept" : "rebuilt") + ")");
    } catch (const std::exception &e) {
        if (log_)
            log_("graft: model '" + model.name() + "': " + e.what());
    }
}

} // namespace graft::server
