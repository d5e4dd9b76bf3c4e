// Counters for GET /metrics (Prometheus text format): the server's own request counts and
// each model's scheduler statistics. Internal to the server.
#pragma once

#include "models.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace graft::server {

class Metrics {
  public:
    // One answered request; `endpoint` is the route's path pattern (bounded label values).
    void count_request(const std::string &endpoint, unsigned status);
    uint64_t requests(const std::string &endpoint, unsigned status) const;
    std::string render(const std::vector<std::unique_ptr<ModelHost>> &models) const;

  private:
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, unsigned>, uint64_t> requests_;
};

} // namespace graft::server
