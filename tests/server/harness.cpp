#include "harness.h"

#include <graft/testing/synth.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef GRAFT_BINARY_DIR
#define GRAFT_BINARY_DIR ""
#endif

namespace graft::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// A connected socket whose blocking reads and writes give up after `timeout`, so that a
// server that hangs fails the test instead of stalling it.
tcp::socket connect(asio::io_context &ioc, uint16_t port,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    tcp::socket socket(ioc);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return socket;
}

http::request<http::string_body> make_request(uint16_t port, const std::string &method,
                                              const std::string &target, const std::string &body,
                                              const HeaderList &headers) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    bool host_given = false;
    for (const auto &[name, value] : headers) {
        req.set(name, value);
        host_given = host_given || lower(name) == "host";
    }
    if (!host_given)
        req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    req.set(http::field::connection, "close");
    if (!body.empty() || method == "POST") {
        if (req.find(http::field::content_type) == req.end())
            req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
    }
    return req;
}

template <class Fields> void copy_headers(const Fields &fields, HttpResponse &out) {
    for (const auto &field : fields)
        out.headers[lower(std::string(field.name_string()))] = std::string(field.value());
}

} // namespace

bool HttpResponse::has_header(const std::string &name) const {
    return headers.count(lower(name)) != 0;
}

std::string HttpResponse::header(const std::string &name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
}

json::value HttpResponse::json() const {
    return json::parse(body);
}

HttpResponse http_request(uint16_t port, const std::string &method, const std::string &target,
                          const std::string &body, const HeaderList &headers) {
    asio::io_context ioc;
    tcp::socket socket = connect(ioc, port);
    http::write(socket, make_request(port, method, target, body, headers));
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(socket, buffer, parser);
    HttpResponse out;
    out.status = static_cast<int>(parser.get().result_int());
    copy_headers(parser.get(), out);
    out.body = parser.get().body();
    return out;
}

HttpResponse http_get(uint16_t port, const std::string &target, const HeaderList &headers) {
    return http_request(port, "GET", target, {}, headers);
}

HttpResponse http_post(uint16_t port, const std::string &target, const json::value &body,
                       const HeaderList &headers) {
    return http_request(port, "POST", target, json::serialize(body), headers);
}

std::string raw_exchange(uint16_t port, const std::string &bytes,
                         std::chrono::milliseconds timeout) {
    asio::io_context ioc;
    tcp::socket socket = connect(ioc, port, timeout);
    asio::write(socket, asio::buffer(bytes));
    std::string out;
    char buf[4096];
    for (;;) {
        boost::system::error_code ec;
        const size_t n = socket.read_some(asio::buffer(buf), ec);
        out.append(buf, n);
        if (ec)
            break;
    }
    return out;
}

HttpResponse http_stream(
    uint16_t port, const std::string &target, const json::value &body,
    const std::function<void(const std::string &, std::chrono::steady_clock::time_point)> &on_data,
    const HeaderList &headers) {
    asio::io_context ioc;
    tcp::socket socket = connect(ioc, port);
    http::write(socket, make_request(port, "POST", target, json::serialize(body), headers));
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read_header(socket, buffer, parser);
    HttpResponse out;
    out.status = static_cast<int>(parser.get().result_int());
    copy_headers(parser.get(), out);
    if (!parser.chunked()) { // an error answer: read it whole
        http::read(socket, buffer, parser);
        out.body = parser.get().body();
        return out;
    }
    auto on_chunk = [&](uint64_t, beast::string_view data, beast::error_code &) {
        on_data(std::string(data), std::chrono::steady_clock::now());
        return data.size();
    };
    parser.on_chunk_body(on_chunk);
    while (!parser.is_done()) {
        beast::error_code ec;
        http::read_some(socket, buffer, parser, ec);
        if (ec)
            throw std::runtime_error("reading the stream failed: " + ec.message());
    }
    return out;
}

std::vector<std::string> sse_data(const std::string &stream) {
    std::vector<std::string> out;
    size_t pos = 0;
    for (;;) {
        const size_t end = stream.find("\n\n", pos);
        if (end == std::string::npos)
            break;
        std::istringstream event(stream.substr(pos, end - pos));
        std::string line, data;
        while (std::getline(event, line))
            if (line.rfind("data: ", 0) == 0)
                data += line.substr(6);
        out.push_back(data);
        pos = end + 2;
    }
    return out;
}

std::vector<json::value> ndjson(const std::string &stream) {
    std::vector<json::value> out;
    std::istringstream in(stream);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty())
            out.push_back(json::parse(line));
    return out;
}

std::optional<double> metric(const std::string &text, const std::string &series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
            line[series.size()] == ' ')
            return std::stod(line.substr(series.size() + 1));
    return std::nullopt;
}

std::filesystem::path graft_binary() {
    return std::filesystem::path(GRAFT_BINARY_DIR) / "bin" / "graft";
}

std::optional<std::string> server_unavailable() {
    if (::access(graft_binary().c_str(), X_OK) != 0)
        return "the graft program is not built (" + graft_binary().string() + ")";
    SynthSpec spec;
    spec.vocab = "";
    if (auto why = synth_unavailable(spec))
        return why;
    return std::nullopt;
}

std::filesystem::path tiny_model() {
    SynthSpec spec;
    spec.vocab = ""; // graft-synth's own byte-level vocabulary: no llama.cpp needed
    spec.dtype = "F16";
    spec.seed = 7;
    return synth_model(spec);
}

ServeProcess::ServeProcess(std::vector<std::string> args, bool wait_ready) {
    log_ = std::filesystem::temp_directory_path() /
           ("graft-serve-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ".log");
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    std::vector<std::string> argv_text = {graft_binary().string(), "serve", "--port", "0"};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ < 0)
        throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        const int err = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (err >= 0)
            ::dup2(err, STDERR_FILENO);
        std::vector<char *> argv;
        for (std::string &s : argv_text)
            argv.push_back(s.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        std::perror("execv");
        ::_exit(127);
    }
    ::close(out[1]);
    // The first line names the address: "graft: serving http://127.0.0.1:PORT (...)".
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0)
            continue;
        char c[256];
        const ssize_t n = ::read(out[0], c, sizeof c);
        if (n <= 0)
            break;
        line.append(c, static_cast<size_t>(n));
    }
    ::close(out[0]);
    const std::string marker = "serving http://127.0.0.1:";
    const size_t at = line.find(marker);
    if (at == std::string::npos) {
        stop();
        throw std::runtime_error("graft serve did not start: " + line + "\n" + stderr_text());
    }
    port_ = static_cast<uint16_t>(std::stoi(line.substr(at + marker.size())));
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    if (wait_ready && !wait_healthy(std::chrono::seconds(120))) {
        const std::string err = stderr_text();
        stop();
        throw std::runtime_error("graft serve did not become healthy:\n" + err);
    }
}

ServeProcess::~ServeProcess() {
    if (pid_ > 0 && !exit_code_)
        stop();
    std::error_code ec;
    std::filesystem::remove(log_, ec);
}

bool ServeProcess::wait_healthy(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (wait_exit(std::chrono::seconds(0)))
            return false;
        try {
            if (http_get(port_, "/health").status == 200)
                return true;
        } catch (const std::exception &) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

std::optional<int> ServeProcess::wait_exit(std::chrono::seconds timeout) {
    if (exit_code_)
        return exit_code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return exit_code_;
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int ServeProcess::stop() {
    if (exit_code_)
        return *exit_code_;
    ::kill(pid_, SIGTERM);
    if (auto code = wait_exit(std::chrono::seconds(30)))
        return *code;
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
    return -1;
}

std::string ServeProcess::stderr_text() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace graft::testing
