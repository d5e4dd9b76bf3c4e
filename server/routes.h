// The endpoint table and what handlers share. Internal to the server.
#pragma once

#include "api.h"
#include "http.h"
#include "metrics.h"
#include "models.h"

#include <graft/server/server.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace graft::server {

struct ServerState {
    ServerOptions options;
    uint16_t port = 0;
    bool loopback = true; // bound to a loopback address: Host headers are checked
    std::vector<std::unique_ptr<ModelHost>> models;
    Metrics metrics;

    // The model a request names, ready to use. Throws ApiError: 400 when `name` is empty
    // and `fallback_first` is false, 404 for an unknown name, 503 while it loads.
    ModelHost &require(std::string_view name, bool fallback_first = false) const;
};

using RouteFn = std::function<void(ServerState &, Request &, const std::shared_ptr<Reply> &)>;

struct Route {
    http::verb method;
    std::string path;       // exact, or a prefix when it ends with '*'
    Flavor flavor;          // shape of its errors
    bool is_public = false; // answered without the API key
    RouteFn handler;
};

std::vector<Route> openai_routes();
std::vector<Route> ollama_routes();
std::vector<Route> misc_routes();  // health, metrics, tokenize, the chat page
std::vector<Route> admin_routes(); // switching rules (admin.cpp)

// The connection handler: Host and Origin checks, CORS, the API key, routing, errors,
// request counting.
class Router {
  public:
    explicit Router(ServerState &state);
    void operator()(Request &request, const std::shared_ptr<Reply> &reply);

  private:
    ServerState &state_;
    std::vector<Route> routes_;
};

} // namespace graft::server
