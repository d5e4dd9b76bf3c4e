// The server's life: listening, I/O threads, loading models in the background, stopping.
#include "admin.h"
#include "routes.h"
#include "session.h"

#include <graft/server/server.h>
#include <graft/util/error.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <thread>

namespace graft::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Server::Impl {
    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    asio::signal_set signals{ioc};
    ServerState state;
    std::unique_ptr<Router> router;
    Handler handler;
    std::string url;

    std::mutex sessions_mutex;
    std::vector<std::weak_ptr<Session>> sessions;

    std::mutex stop_mutex;
    std::condition_variable stop_cv;
    bool stop_requested = false;
    std::atomic<bool> stopping{false};
    std::atomic<int> exit_code{0};

    void log(const std::string &line) const {
        if (state.options.log)
            state.options.log(line);
    }

    void request_stop() {
        {
            std::lock_guard lk(stop_mutex);
            stop_requested = true;
        }
        stopping = true;
        stop_cv.notify_all();
    }

    void accept() {
        acceptor.async_accept(
            asio::make_strand(ioc), [this](boost::system::error_code ec, tcp::socket socket) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open())
                    return;
                if (!ec) {
                    boost::system::error_code ignored;
                    socket.set_option(tcp::no_delay(true), ignored);
                    SessionLimits limits;
                    limits.body_limit = state.options.body_limit;
                    auto session = std::make_shared<Session>(std::move(socket), handler, limits);
                    {
                        std::lock_guard lk(sessions_mutex);
                        if (sessions.size() > 64)
                            std::erase_if(sessions, [](const auto &w) { return w.expired(); });
                        sessions.push_back(session);
                    }
                    session->start();
                } else {
                    spdlog::warn("server: accept failed: {}", ec.message());
                }
                accept();
            });
    }

    void load_models() {
        for (auto &model : state.models) {
            if (stopping)
                return;
            model->load(stopping);
            if (model->state() != ModelHost::State::ready) {
                if (!stopping) {
                    log("graft: model '" + model->name() + "' failed to load: " + model->error());
                    exit_code = 1;
                    request_stop();
                }
                return;
            }
            char seconds[32];
            std::snprintf(seconds, sizeof seconds, "%.1f", model->load_seconds());
            log("graft: model '" + model->name() + "' ready (" + std::to_string(model->n_ctx()) +
                " tokens of context, " + std::to_string(model->n_slots()) + " slots, loaded in " +
                seconds + " s)");
        }
    }
};

Server::Server(ServerOptions options, std::vector<ModelSource> models)
    : impl_(std::make_unique<Impl>()) {
    Impl &s = *impl_;
    for (ModelSource &source : models)
        s.state.models.push_back(std::make_unique<ModelHost>(std::move(source), options.max_queue));
    if (s.state.models.empty())
        throw Error("no model to serve");
    const std::string where = options.host + ":" + std::to_string(options.port);
    boost::system::error_code ec;
    tcp::resolver resolver(s.ioc);
    auto endpoints = resolver.resolve(options.host, std::to_string(options.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || endpoints.empty())
        throw Error("cannot resolve --host " + options.host + ": " + ec.message());
    const tcp::endpoint endpoint = *endpoints.begin();
    s.acceptor.open(endpoint.protocol(), ec);
    if (!ec)
        s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec)
        s.acceptor.bind(endpoint, ec);
    if (!ec)
        s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw Error(
            "cannot listen on " + where + ": " + ec.message() +
            (ec == asio::error::address_in_use ? " (another server runs there? use --port)" : ""));
    const tcp::endpoint bound = s.acceptor.local_endpoint();
    s.state.options = std::move(options);
    s.state.port = bound.port();
    s.state.loopback = bound.address().is_loopback();
    const std::string address = bound.address().to_string();
    s.url = "http://" + (bound.address().is_v6() ? "[" + address + "]" : address) + ":" +
            std::to_string(bound.port());
    s.router = std::make_unique<Router>(s.state);
    s.handler = [router = s.router.get()](Request &request, const std::shared_ptr<Reply> &reply) {
        (*router)(request, reply);
    };
}

Server::~Server() = default;

uint16_t Server::port() const {
    return impl_->state.port;
}
std::string Server::url() const {
    return impl_->url;
}

void Server::stop() {
    impl_->request_stop();
}

RulesSwitch Server::switch_rules(const std::string &model, const std::filesystem::path &rules) {
    const auto &models = impl_->state.models;
    ModelHost *host = model.empty() ? models.front().get() : find_model(models, model);
    if (!host)
        throw Error("no model '" + model + "' is served here");
    return host->switch_rules(rules);
}

int Server::run() {
    Impl &s = *impl_;
    if (s.state.options.handle_signals) {
        s.signals.add(SIGINT);
        s.signals.add(SIGTERM);
        s.signals.async_wait([&s](boost::system::error_code ec, int) {
            if (!ec)
                s.request_stop();
        });
    }
    s.accept();
    auto work = asio::make_work_guard(s.ioc);
    int n_threads = s.state.options.io_threads;
    if (n_threads <= 0)
        n_threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency() / 2, 2u, 4u));
    std::mutex done_mutex;
    std::condition_variable done_cv;
    int running = n_threads;
    std::vector<std::thread> threads;
    for (int i = 0; i < n_threads; ++i)
        threads.emplace_back([&] {
            s.ioc.run();
            std::lock_guard lk(done_mutex);
            --running;
            done_cv.notify_all();
        });
    std::unique_ptr<RulesWatcher> watcher;
    std::thread loader([&s, &watcher] {
        s.load_models();
        if (s.state.options.watch_rules && !s.stopping)
            watcher =
                std::make_unique<RulesWatcher>(s.state.models, s.state.options.watch_interval_ms,
                                               [&s](const std::string &l) { s.log(l); });
    });

    {
        std::unique_lock lk(s.stop_mutex);
        s.stop_cv.wait(lk, [&s] { return s.stop_requested; });
    }
    s.log("graft: shutting down");
    asio::post(s.ioc, [&s] {
        boost::system::error_code ignored;
        s.acceptor.close(ignored);
        s.signals.cancel(ignored);
    });
    loader.join();
    // Ending the schedulers answers every request still running (its on_done is posted to
    // its connection), then the connections close once those answers are written.
    for (auto &model : s.state.models)
        model->stop();
    watcher.reset(); // after the models: a switch it runs gives up once they stop
    {
        std::lock_guard lk(s.sessions_mutex);
        for (auto &weak : s.sessions)
            if (auto session = weak.lock())
                session->shut_down();
        s.sessions.clear();
    }
    work.reset();
    {
        std::unique_lock lk(done_mutex);
        if (!done_cv.wait_for(lk, std::chrono::seconds(3), [&] { return running == 0; }))
            s.ioc.stop(); // a client that does not read what we write
    }
    for (std::thread &t : threads)
        t.join();
    return s.exit_code;
}

} // namespace graft::server
