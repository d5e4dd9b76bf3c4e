// Running `graft serve` from a test and talking HTTP to it: a server process on a free port
// (the port the server picked itself, read from its first line), a small blocking client,
// and a reader for streamed (chunked) bodies that timestamps each piece.
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace graft::testing {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers; // names in lower case
    std::string body;
    bool has_header(const std::string &name) const;
    std::string header(const std::string &name) const; // "" when absent
    boost::json::value json() const;                   // throws on a body that is not JSON
};

// One request per connection ("Connection: close"), Host "127.0.0.1:<port>" unless given.
HttpResponse http_request(uint16_t port, const std::string &method, const std::string &target,
                          const std::string &body = {}, const HeaderList &headers = {});
HttpResponse http_get(uint16_t port, const std::string &target, const HeaderList &headers = {});
HttpResponse http_post(uint16_t port, const std::string &target, const boost::json::value &body,
                       const HeaderList &headers = {});

// Sends `bytes` as they are and returns what comes back until the server closes the
// connection (or `timeout`).
std::string raw_exchange(uint16_t port, const std::string &bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A streamed POST: `on_data` sees each piece of the body as it arrives with the time it
// arrived; returns the status and headers (the body is what on_data saw).
HttpResponse http_stream(
    uint16_t port, const std::string &target, const boost::json::value &body,
    const std::function<void(const std::string &, std::chrono::steady_clock::time_point)> &on_data,
    const HeaderList &headers = {});

// Server-Sent Events: the `data:` payloads of a complete event stream, in order.
std::vector<std::string> sse_data(const std::string &stream);
// Newline-delimited JSON: one value per non-empty line.
std::vector<boost::json::value> ndjson(const std::string &stream);

// Prometheus text: the value of the series whose name and labels are exactly `series`
// (e.g. `graft_slots{model="m"}`), or nullopt.
std::optional<double> metric(const std::string &metrics_text, const std::string &series);

std::filesystem::path graft_binary();
// Why the server tests cannot run here (graft or graft-synth not built), or nullopt.
std::optional<std::string> server_unavailable();
// A tiny random-weight llama model with graft-synth's own vocabulary (cached).
std::filesystem::path tiny_model();

class ServeProcess {
  public:
    // Starts `graft serve <args>` with --port 0 and waits for its address and for
    // GET /health to say ok. Throws std::runtime_error (with the server's stderr) if it
    // does not come up.
    explicit ServeProcess(std::vector<std::string> args, bool wait_ready = true);
    ~ServeProcess();
    ServeProcess(const ServeProcess &) = delete;
    ServeProcess &operator=(const ServeProcess &) = delete;

    uint16_t port() const { return port_; }
    const std::string &url() const { return url_; }
    // SIGTERM and wait: the exit code, or 128 + signal; -1 when it had to be killed.
    int stop();
    // Waits for the process to exit by itself (up to `timeout`); the exit code or nullopt.
    std::optional<int> wait_exit(std::chrono::seconds timeout);
    std::string stderr_text() const;
    bool wait_healthy(std::chrono::seconds timeout);

  private:
    int pid_ = -1;
    uint16_t port_ = 0;
    std::string url_;
    std::filesystem::path log_;
    std::optional<int> exit_code_;
};

} // namespace graft::testing
