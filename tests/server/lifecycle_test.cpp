// What `graft serve` does around requests: the API key, a full queue, a client that goes
// away mid-stream, a model that cannot load, stopping while a reply streams.
#include "harness.h"

#include <graft/testing/process.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

namespace graft::testing {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

#define REQUIRE_SERVER()                                                                           \
    do {                                                                                           \
        if (auto why = server_unavailable())                                                       \
            GTEST_SKIP() << *why;                                                                  \
    } while (false)

std::filesystem::path named_model(const TempDir &dir, const std::string &name) {
    const auto path = dir.path() / (name + ".gguf");
    std::filesystem::copy_file(tiny_model(), path);
    return path;
}

json::object long_chat(const std::string &model, bool stream, int max_tokens = 6000) {
    return {{"model", model},
            {"messages", json::array{json::object{{"role", "user"}, {"content", "Go on."}}}},
            {"max_tokens", max_tokens},
            {"ignore_eos", true},
            {"stream", stream}};
}

std::string request_bytes(uint16_t port, const json::value &body) {
    const std::string text = json::serialize(body);
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(text.size()) +
           "\r\n\r\n" + text;
}

// A streamed request on its own socket, read up to its first token, then left open.
class OpenStream {
  public:
    OpenStream(uint16_t port, const json::value &body) : socket_(ioc_) {
        socket_.connect({asio::ip::make_address("127.0.0.1"), port});
        asio::write(socket_, asio::buffer(request_bytes(port, body)));
        while (seen_.find("data: {") == std::string::npos ||
               seen_.find("\"content\":\"\"") == seen_.rfind("\"content\"")) {
            char buf[4096];
            boost::system::error_code ec;
            const size_t n = socket_.read_some(asio::buffer(buf), ec);
            if (ec)
                throw std::runtime_error("stream ended early: " + seen_);
            seen_.append(buf, n);
        }
    }
    void close() {
        boost::system::error_code ec;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        socket_.close(ec);
    }
    const std::string &seen() const { return seen_; }
    // Everything until the server closes the connection.
    std::string rest() {
        std::string out;
        char buf[4096];
        for (;;) {
            boost::system::error_code ec;
            const size_t n = socket_.read_some(asio::buffer(buf), ec);
            out.append(buf, n);
            if (ec)
                return out;
        }
    }

  private:
    asio::io_context ioc_;
    asio::ip::tcp::socket socket_;
    std::string seen_;
};

double model_metric(uint16_t port, const std::string &name, const std::string &model) {
    return metric(http_get(port, "/metrics").body, name + "{model=\"" + model + "\"}").value_or(-1);
}

// Polls until `done` holds (up to 30 s); the whole wait is what the assertion is about,
// never its length.
template <class F> bool eventually(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        if (done())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

TEST(ServerLifecycle, ApiKey) {
    REQUIRE_SERVER();
    TempDir dir;
    ServeProcess server({named_model(dir, "keyed").string(), "--threads", "1", "--ctx", "256",
                         "--api-key", "sesame"});
    const uint16_t port = server.port();
    EXPECT_EQ(http_get(port, "/v1/models").status, 401);
    const HttpResponse wrong = http_get(port, "/v1/models", {{"Authorization", "Bearer nope"}});
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(wrong.json().at("error").at("code"), "invalid_api_key");
    EXPECT_EQ(http_get(port, "/api/tags").status, 401);
    EXPECT_EQ(http_get(port, "/metrics").status, 401);
    EXPECT_EQ(http_get(port, "/v1/models", {{"Authorization", "Bearer sesame"}}).status, 200);
    EXPECT_EQ(http_get(port, "/api/tags", {{"X-Api-Key", "sesame"}}).status, 200);
    // Public: health and the chat page (which asks for the key itself).
    EXPECT_EQ(http_get(port, "/health").status, 200);
    EXPECT_EQ(http_get(port, "/").status, 200);
    EXPECT_EQ(http_get(port, "/app.js").status, 200);
    EXPECT_EQ(server.stop(), 0);
}

TEST(ServerLifecycle, DisconnectFreesTheSlot) {
    REQUIRE_SERVER();
    TempDir dir;
    ServeProcess server({named_model(dir, "cancel").string(), "--threads", "1", "--ctx", "8192",
                         "--parallel", "1"});
    const uint16_t port = server.port();
    OpenStream stream(port, long_chat("cancel", true));
    EXPECT_EQ(model_metric(port, "graft_active_requests", "cancel"), 1);
    stream.close();
    EXPECT_TRUE(eventually([&] {
        return model_metric(port, "graft_active_requests", "cancel") == 0;
    })) << "the slot stays taken after the client left";
    EXPECT_EQ(model_metric(port, "graft_requests_finished_total", "cancel"), 1);
    EXPECT_LT(model_metric(port, "graft_generated_tokens_total", "cancel"), 6000)
        << "the request ran to its end instead of being cancelled";
    // The freed slot serves the next request.
    const HttpResponse next =
        http_post(port, "/v1/chat/completions", long_chat("cancel", false, 3));
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.json().at("usage").at("completion_tokens"), 3);

    // The same for a non-streamed request: the connection is watched while it generates.
    {
        asio::io_context ioc;
        asio::ip::tcp::socket socket(ioc);
        socket.connect({asio::ip::make_address("127.0.0.1"), port});
        asio::write(socket, asio::buffer(request_bytes(port, long_chat("cancel", false))));
        EXPECT_TRUE(
            eventually([&] { return model_metric(port, "graft_active_requests", "cancel") == 1; }));
        socket.close();
    }
    EXPECT_TRUE(
        eventually([&] { return model_metric(port, "graft_active_requests", "cancel") == 0; }));
    EXPECT_EQ(server.stop(), 0);
}

TEST(ServerLifecycle, FullQueueIs503) {
    REQUIRE_SERVER();
    TempDir dir;
    ServeProcess server({named_model(dir, "queue").string(), "--threads", "1", "--ctx", "8192",
                         "--parallel", "1", "--max-queue", "1"});
    const uint16_t port = server.port();
    OpenStream running(port, long_chat("queue", true)); // holds the only slot
    // The next one waits in the queue (its headers come once it is queued).
    asio::io_context ioc;
    asio::ip::tcp::socket waiting(ioc);
    waiting.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(waiting, asio::buffer(request_bytes(port, long_chat("queue", true))));
    EXPECT_TRUE(eventually([&] { return model_metric(port, "graft_queue_depth", "queue") == 1; }));

    HttpResponse full = http_post(port, "/v1/chat/completions", long_chat("queue", false, 2));
    EXPECT_EQ(full.status, 503);
    EXPECT_EQ(full.json().at("error").at("code"), "queue_full");
    EXPECT_EQ(full.header("retry-after"), "1");
    full = http_post(
        port, "/api/chat",
        json::object{{"model", "queue"},
                     {"messages", json::array{json::object{{"role", "user"}, {"content", "hi"}}}}});
    EXPECT_EQ(full.status, 503);
    EXPECT_TRUE(full.json().at("error").is_string());
    // A queued request whose client leaves never takes the slot.
    waiting.close();
    running.close();
    EXPECT_TRUE(eventually([&] {
        return model_metric(port, "graft_active_requests", "queue") == 0 &&
               model_metric(port, "graft_queue_depth", "queue") == 0;
    }));
    EXPECT_EQ(server.stop(), 0);
}

TEST(ServerLifecycle, StopWhileStreamingEndsTheStreamAndExitsCleanly) {
    REQUIRE_SERVER();
    TempDir dir;
    ServeProcess server({named_model(dir, "stopping").string(), "--threads", "1", "--ctx", "8192",
                         "--parallel", "1"});
    OpenStream stream(server.port(), long_chat("stopping", true));
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();
    // The stream was ended properly: an error event, [DONE], the last chunk.
    const std::string rest = stream.rest();
    EXPECT_NE(rest.find("shutting down"), std::string::npos) << rest;
    EXPECT_NE(rest.find("data: [DONE]"), std::string::npos) << rest;
    EXPECT_TRUE(rest.ends_with("\r\n0\r\n\r\n")) << rest;
}

TEST(ServerLifecycle, ModelThatCannotLoad) {
    REQUIRE_SERVER();
    TempDir dir;
    const auto bad = dir.path() / "broken.gguf";
    std::ofstream(bad) << "this is not a GGUF file";
    // It listens first (the address is printed), then the load fails and it exits 1.
    ServeProcess server({bad.string()}, false);
    EXPECT_EQ(server.wait_exit(std::chrono::seconds(60)), 1);
    EXPECT_NE(server.stderr_text().find("broken"), std::string::npos) << server.stderr_text();
}

TEST(ServerLifecycle, PortInUseIsAnError) {
    REQUIRE_SERVER();
    TempDir dir;
    ServeProcess first({named_model(dir, "first").string(), "--threads", "1", "--ctx", "128"});
    const ProcessResult second = run_process(
        graft_binary(),
        {"serve", named_model(dir, "second").string(), "--port", std::to_string(first.port())},
        std::chrono::seconds(60));
    EXPECT_EQ(second.exit_code, 1);
    EXPECT_NE(second.err.find("cannot listen"), std::string::npos) << second.err;
    EXPECT_EQ(first.stop(), 0);
}

} // namespace
} // namespace graft::testing
