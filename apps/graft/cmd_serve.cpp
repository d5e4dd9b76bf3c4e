// graft serve: the OpenAI- and Ollama-compatible HTTP server with its chat page.
#include "commands.h"
#include "loading.h"

#include <graft/rules/explain.h>
#include <graft/server/server.h>
#include <graft/util/error.h>

#include <cstdio>
#include <set>

namespace graft::cli {

namespace {

struct ServeOptions {
    std::vector<std::string> models;
    ModelOptions model; // --rules, --threads, --ctx, --kv-type, --no-prefetch
    server::ServerOptions server;
    int parallel = 4;
};

// Loads one model for the server: like load_model, with plain progress lines (the server's
// log is not a terminal widget) and a way out when the server is stopped meanwhile.
server::LoadedModel load_for_server(const GlobalOptions &global, const ModelOptions &o,
                                    const std::filesystem::path &path,
                                    const std::filesystem::path &rules, int n_slots,
                                    const std::atomic<bool> &stopping) {
    server::LoadedModel out;
    out.registry =
        std::make_unique<host::Registry>(host::Registry::discover(plugin_search_path(global)));
    engine::OpenOptions open;
    open.model = path;
    open.rules = rules;
    open.load.threads = o.threads;
    open.load.n_ctx = o.ctx;
    open.load.n_slots = n_slots;
    open.load.kv_dtype = o.kv_type == "f32" ? GRAFT_DTYPE_F32 : GRAFT_DTYPE_F16;
    open.load.prefetch = !o.no_prefetch;
    const std::string name = path.stem().string();
    int next = 25;
    open.load.progress = [&](uint64_t done, uint64_t total) {
        if (stopping)
            throw Error("stopped while loading " + name);
        const int pct = total ? static_cast<int>(done * 100 / total) : 100;
        if (pct >= next && pct < 100) {
            std::fprintf(stderr, "graft: loading %s %d%% (%s of %s)\n", name.c_str(), pct,
                         rules::human_bytes(done).c_str(), rules::human_bytes(total).c_str());
            next = pct / 25 * 25 + 25;
        }
    };
    out.model = engine::open_model(open, *out.registry);
    return out;
}

int serve(const GlobalOptions &global, ServeOptions &o) {
    std::vector<std::filesystem::path> paths(o.models.begin(), o.models.end());
    if (o.server.watch_rules && o.model.rules.empty())
        throw Error("--watch-rules needs --rules: the file to watch");
    if (paths.empty()) {
        paths.push_back(demo_model_path());
        if (!std::filesystem::exists(paths.back()))
            throw Error("no model given and the demo model is missing (" + paths.back().string() +
                        "); name a GGUF file");
    }
    std::vector<server::ModelSource> sources;
    std::set<std::string> names;
    for (const std::filesystem::path &path : paths) {
        const std::string name = path.stem().string();
        if (!names.insert(name).second)
            throw Error("two models are named '" + name + "' (the file name without .gguf)");
        server::ModelSource source;
        source.name = name;
        source.rules = o.model.rules;
        source.load = [&global, &o, path](const std::atomic<bool> &stopping) {
            return load_for_server(global, o.model, path, o.model.rules, o.parallel, stopping);
        };
        // A switch of rules (POST /admin/rules, --watch-rules) loads the model again with
        // the other file; the plugins are discovered again, so a new plugin can be used.
        source.load_with_rules = [&global, &o, path](const std::filesystem::path &rules,
                                                     const std::atomic<bool> &stopping) {
            return load_for_server(global, o.model, path, rules, o.parallel, stopping);
        };
        sources.push_back(std::move(source));
    }
    o.server.log = [](const std::string &line) {
        std::fprintf(stderr, "%s\n", line.c_str());
        std::fflush(stderr);
    };
    server::Server srv(o.server, std::move(sources));
    std::printf("graft: serving %s (chat page at /)\n", srv.url().c_str());
    std::fflush(stdout);
    if (o.server.api_key.empty() && !o.server.host.empty() && o.server.host != "127.0.0.1" &&
        o.server.host != "localhost" && o.server.host != "::1")
        std::fprintf(stderr,
                     "graft: warning: listening on %s without --api-key: anyone who "
                     "can reach this address can use the models\n",
                     o.server.host.c_str());
    return srv.run();
}

} // namespace

void add_serve_command(CLI::App &app, GlobalOptions &global) {
    auto o = std::make_shared<ServeOptions>();
    CLI::App *cmd = app.add_subcommand(
        "serve", "Serve models over HTTP: the OpenAI and Ollama APIs and a chat page at /");
    cmd->add_option("model", o->models,
                    "GGUF model files; each is served under its file name without .gguf "
                    "(default: the built-in demo model)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--host", o->server.host,
                    "Address to listen on (a non-loopback address exposes the server)")
        ->capture_default_str();
    cmd->add_option("--port", o->server.port, "Port to listen on (0: any free port)")
        ->capture_default_str();
    cmd->add_option("--api-key", o->server.api_key,
                    "Require this key (Authorization: Bearer KEY or X-Api-Key: KEY)")
        ->envname("GRAFT_API_KEY");
    cmd->add_option("--parallel", o->parallel,
                    "Requests generated at once per model (slots, each with its own KV cache)")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    cmd->add_option("--max-queue", o->server.max_queue,
                    "Requests that may wait for a slot per model; beyond that, 503")
        ->capture_default_str();
    cmd->add_option("--max-tokens", o->server.max_tokens,
                    "Most tokens generated for any request (0: no cap beyond the context)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 30));
    cmd->add_option("--cors-origin", o->server.cors_origins,
                    "Allow browser pages from this origin (repeatable; * for any)")
        ->type_name("ORIGIN");
    cmd->add_option("--body-limit", o->server.body_limit, "Largest request body in bytes")
        ->capture_default_str()
        ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 32));
    cmd->add_flag("--watch-rules", o->server.watch_rules,
                  "Switch to the new plan when the --rules file changes, without a restart "
                  "(requests in flight finish on the old plan)");
    add_model_options(*cmd, o->model);
    cmd->callback([&global, o] {
        const int code = serve(global, *o);
        if (code != 0)
            throw CLI::RuntimeError(code);
    });
}

} // namespace graft::cli
