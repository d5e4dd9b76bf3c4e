// The HTTP server: OpenAI and Ollama APIs over the engine's schedulers, plus the chat page.
//
// The server listens before its models are loaded (GET /health answers 503 until they are),
// runs one engine::Scheduler per model, and serves HTTP/1.1 on a few I/O threads. See
// docs/server.md for the endpoints and docs/design/server.md for the threading.
#pragma once

#include <graft/engine/open.h>
#include <graft/host/registry.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace graft::server {

// A loaded model with what must outlive it (the plugin registry its kernels come from).
// Members are destroyed in reverse order: the model before the registry.
struct LoadedModel {
    std::unique_ptr<host::Registry> registry;
    std::unique_ptr<engine::OpenedModel> model;
};

// A model to serve: its public name and how to load it. `load` runs on a loader thread and
// throws graft::Error when the model cannot be loaded. It may poll `stopping` (e.g. from a
// progress callback) and throw to give up when the server is stopped during the load.
struct ModelSource {
    std::string name;
    std::function<LoadedModel(const std::atomic<bool> &stopping)> load;
    // The rules file `load` uses ("" for the family's default rules): what --watch-rules
    // watches.
    std::filesystem::path rules;
    // (optional) Loads the same model with another rules file, for switching the plan of a
    // running model (POST /admin/rules, --watch-rules). Without it, switching is refused.
    std::function<LoadedModel(const std::filesystem::path &rules,
                              const std::atomic<bool> &stopping)>
        load_with_rules;
};

// What a switch of rules did (Server::switch_rules, POST /admin/rules).
struct RulesSwitch {
    std::string model;
    std::filesystem::path rules;
    uint64_t generation = 0; // of the plan now serving: 1 for the first, +1 per switch
    bool kv_kept = false;    // attention placement unchanged: cached prompts carry over
    double seconds = 0;      // loading the new plan
};

struct ServerOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 11434;  // 0: any free port (see Server::port())
    std::string api_key;    // empty: no authentication
    size_t max_queue = 64;  // waiting requests per model beyond the slots; more is 503
    int32_t max_tokens = 0; // server-wide cap on generated tokens per request; 0: none
    std::vector<std::string> cors_origins; // allowed Origins ("*": any)
    // Switch a model's plan when its rules file changes (polled every watch_interval_ms).
    bool watch_rules = false;
    int watch_interval_ms = 500;
    uint64_t body_limit = 8u << 20; // bytes of a request body; more is 413
    int io_threads = 0;             // 0: a few, by core count
    bool handle_signals = true;     // SIGINT/SIGTERM stop run()
    // (optional) Lines about the server's life for people: a model loaded, shutting down.
    std::function<void(const std::string &)> log;
};

class Server {
  public:
    // Binds the listening socket. Throws graft::Error when the address cannot be used.
    Server(ServerOptions options, std::vector<ModelSource> models);
    ~Server();
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    // The bound port (useful with port 0) and the base URL ("http://127.0.0.1:11434").
    uint16_t port() const;
    std::string url() const;

    // Serves until stop() or a signal: starts the I/O threads, loads the models one after
    // the other, then waits. Returns 0 after a clean stop, 1 when a model failed to load.
    int run();
    // Stops run() from any thread: no new connections, running requests are cancelled.
    void stop();

    // Switches a loaded model (by name; "" for the first) to the plan of another rules file
    // while it serves: requests in flight finish on the old plan, new ones use the new
    // plan. Blocks while the new plan loads. Throws graft::Error (the old plan keeps
    // serving) when the model is unknown or not ready, or the new plan cannot be built.
    RulesSwitch switch_rules(const std::string &model, const std::filesystem::path &rules);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace graft::server
