// One HTTP/1.1 connection: reads requests, hands them to the handler, writes responses in
// order. A read stays pending while a response is produced, so a client that disconnects
// is noticed at once (its Reply is told, and the request is cancelled). Internal.
#pragma once

#include "http.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>

#include <array>
#include <deque>
#include <optional>

namespace graft::server {

struct SessionLimits {
    uint64_t body_limit = 8u << 20;
    uint32_t header_limit = 16u << 10;
    std::chrono::seconds idle_timeout{120}; // no request in progress and none arriving
};

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(boost::asio::ip::tcp::socket socket, const Handler &handler, SessionLimits limits);
    void start();
    // Closes the connection once what is queued is written (from any thread).
    void shut_down();
    boost::asio::any_io_executor executor() { return stream_.get_executor(); }

    // For Reply, on the strand.
    void write(std::string bytes);
    void reply_finished(const Reply &reply);

  private:
    void read_header();
    void on_header(boost::beast::error_code ec);
    void read_body();
    void on_body(boost::beast::error_code ec);
    void dispatch(Request request);
    void reject(http::status status, const std::string &message); // and close
    void do_write();
    void on_write(boost::beast::error_code ec);
    void lost(); // the client went away or the socket failed
    void close_socket();
    // After the last response of a connection: stop sending, read and drop what the client
    // still sends until it closes (closing with unread data would reset the connection and
    // could destroy the response before the client reads it).
    void finish_connection();
    void drain();
    void arm_idle_timer(std::chrono::steady_clock::duration timeout);

    boost::beast::tcp_stream stream_;
    const Handler &handler_;
    SessionLimits limits_;
    boost::beast::flat_buffer buffer_;
    std::array<char, 4096> scratch_{}; // drained bytes
    std::optional<http::request_parser<http::string_body>> parser_;
    boost::asio::steady_timer idle_timer_;
    std::deque<std::string> queued_;
    std::vector<std::string> writing_; // in the write in flight
    std::shared_ptr<Reply> current_;   // the request being answered
    bool reading_ = false;
    bool header_parked_ = false; // a next request's header arrived while busy
    bool keep_alive_ = true;
    bool close_after_write_ = false;
    bool stopping_ = false; // the server is shutting down: no lingering
    bool closed_ = false;
};

} // namespace graft::server
