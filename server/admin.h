// Switching a served model's rules: POST /admin/rules, the --watch-rules poller, and how a
// plan is described in /api/ps. Internal to the server.
#pragma once

#include "models.h"

#include <boost/json/object.hpp>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace graft::server {

// The plan a model serves: {"rules", "generation", "switching", "kernels": [{kernel, device,
// phase, modules}]}.
boost::json::object plan_json(const ModelHost &model, const PlanRun &plan);
// The answer to a switch: {"model", "rules", "generation", "kv_cache": "kept"|"rebuilt",
// "seconds"}; `rules` only when the client named a file.
boost::json::object switch_json(const RulesSwitch &result, bool with_path);

// Rules posted as text, in a file of their own for the loader; removed with the object.
class TempRules {
  public:
    explicit TempRules(const std::string &yaml);
    ~TempRules();
    TempRules(const TempRules &) = delete;
    TempRules &operator=(const TempRules &) = delete;
    const std::filesystem::path &path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// Polls the rules file of every ready model and switches its plan when the file differs
// (size or modification time) from the version the plan was built from. Each model's file
// is the one its current plan came from, so a switch through POST /admin/rules moves the
// watch to the new file. A version that fails to build is tried once.
class RulesWatcher {
  public:
    using Log = std::function<void(const std::string &)>;
    RulesWatcher(const std::vector<std::unique_ptr<ModelHost>> &models, int interval_ms, Log log);
    ~RulesWatcher(); // stops and joins
    RulesWatcher(const RulesWatcher &) = delete;
    RulesWatcher &operator=(const RulesWatcher &) = delete;

  private:
    struct Seen { // the last version tried
        std::filesystem::path path;
        std::string stamp;
    };
    void loop();
    void check(ModelHost &model, Seen &seen);

    const std::vector<std::unique_ptr<ModelHost>> &models_;
    int interval_ms_;
    Log log_;
    std::map<const ModelHost *, Seen> seen_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

} // namespace graft::server
