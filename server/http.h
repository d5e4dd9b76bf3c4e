// What a handler sees of one HTTP exchange: the request, and a Reply to answer it with a
// whole response or a chunked stream. Internal to the server.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace graft::server {

namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
    http::status status = http::status::ok;
    std::string content_type = "application/json";
    std::string body;
    Headers headers; // extra ones
};

class Session;

// The answer to one request. Every member runs on the connection's strand: code on other
// threads (the scheduler's) goes through post(). A Reply is answered once: send(), or
// start_stream() + write_chunk()... + end_stream(); later calls are ignored.
class Reply : public std::enable_shared_from_this<Reply> {
  public:
    Reply(const std::shared_ptr<Session> &session, Clock::time_point received);
    ~Reply();

    void send(Response response);
    void start_stream(std::string content_type, Headers headers = {});
    void write_chunk(std::string data);
    void end_stream();

    // Headers added to whatever is sent (CORS).
    void add_common_header(std::string name, std::string value);
    // Called with the status when the response (or the stream) starts (metrics).
    void on_answer(std::function<void(http::status)> observer) { observer_ = std::move(observer); }
    // True once the client disconnected; `hook` runs (once) when that happens.
    bool gone() const { return gone_; }
    void on_gone(std::function<void()> hook);
    // Runs `fn` on the connection's strand.
    void post(std::function<void()> fn);
    bool answered() const { return answered_; }
    Clock::time_point received() const { return received_; }
    http::status status() const { return status_; }

    // For the session.
    void notify_gone();

  private:
    std::string head(http::status status, const std::string &content_type, const Headers &extra,
                     bool chunked, size_t content_length) const;
    // Weak: the session owns its current Reply, and a Reply outlives a closed session
    // while the request it answers winds down.
    std::weak_ptr<Session> session_;
    boost::asio::any_io_executor executor_; // the session's strand
    Clock::time_point received_;
    Headers common_;
    std::function<void()> gone_hook_;
    std::function<void(http::status)> observer_;
    http::status status_ = http::status::ok;
    bool gone_ = false, answered_ = false, streaming_ = false;
};

using Request = http::request<http::string_body>;
// Takes a complete request; answers through the Reply now or later.
using Handler = std::function<void(Request &, const std::shared_ptr<Reply> &)>;

} // namespace graft::server
