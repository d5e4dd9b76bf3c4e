#include "session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>

#include <spdlog/spdlog.h>

namespace graft::server {

namespace asio = boost::asio;
namespace beast = boost::beast;

// --- Reply ------------------------------------------------------------------------------

Reply::Reply(const std::shared_ptr<Session> &session, Clock::time_point received)
    : session_(session), executor_(session->executor()), received_(received) {}

Reply::~Reply() = default;

void Reply::add_common_header(std::string name, std::string value) {
    common_.emplace_back(std::move(name), std::move(value));
}

void Reply::on_gone(std::function<void()> hook) {
    if (gone_) {
        if (hook)
            hook();
        return;
    }
    gone_hook_ = std::move(hook);
}

void Reply::notify_gone() {
    if (gone_)
        return;
    gone_ = true;
    if (auto hook = std::move(gone_hook_))
        hook();
}

void Reply::post(std::function<void()> fn) {
    asio::post(executor_, std::move(fn));
}

std::string Reply::head(http::status status, const std::string &content_type, const Headers &extra,
                        bool chunked, size_t content_length) const {
    std::string out = "HTTP/1.1 ";
    out += std::to_string(static_cast<unsigned>(status));
    out += ' ';
    out += http::obsolete_reason(status);
    out += "\r\nServer: graft\r\n";
    if (!content_type.empty())
        out += "Content-Type: " + content_type + "\r\n";
    if (chunked)
        out += "Transfer-Encoding: chunked\r\n";
    else
        out += "Content-Length: " + std::to_string(content_length) + "\r\n";
    for (const Headers *list : {&common_, &extra})
        for (const auto &[name, value] : *list)
            out += name + ": " + value + "\r\n";
    out += "\r\n";
    return out;
}

void Reply::send(Response response) {
    if (answered_)
        return;
    answered_ = true;
    status_ = response.status;
    if (observer_)
        observer_(status_);
    std::shared_ptr<Session> session = session_.lock();
    if (!session)
        return;
    if (!gone_) {
        std::string bytes = head(response.status, response.content_type, response.headers, false,
                                 response.body.size());
        bytes += response.body;
        session->write(std::move(bytes));
    }
    session->reply_finished(*this);
}

void Reply::start_stream(std::string content_type, Headers headers) {
    if (answered_)
        return;
    answered_ = streaming_ = true;
    status_ = http::status::ok;
    if (observer_)
        observer_(status_);
    headers.emplace_back("Cache-Control", "no-cache");
    headers.emplace_back("X-Accel-Buffering", "no");
    if (auto session = session_.lock(); session && !gone_)
        session->write(head(http::status::ok, content_type, headers, true, 0));
}

void Reply::write_chunk(std::string data) {
    if (!streaming_ || gone_ || data.empty())
        return;
    char size[20];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string bytes(size, static_cast<size_t>(n));
    bytes += data;
    bytes += "\r\n";
    if (auto session = session_.lock())
        session->write(std::move(bytes));
}

void Reply::end_stream() {
    if (!streaming_)
        return;
    streaming_ = false;
    std::shared_ptr<Session> session = session_.lock();
    if (!session)
        return;
    if (!gone_)
        session->write("0\r\n\r\n");
    session->reply_finished(*this);
}

// --- Session ----------------------------------------------------------------------------

namespace {

// The parser refused what the client sent (as opposed to the connection ending).
bool malformed(const beast::error_code &ec) {
    const beast::error_code end = http::error::end_of_stream;
    return ec.category() == end.category() && ec != http::error::end_of_stream &&
           ec != http::error::partial_message;
}

} // namespace

Session::Session(asio::ip::tcp::socket socket, const Handler &handler, SessionLimits limits)
    : stream_(std::move(socket)), handler_(handler), limits_(limits),
      idle_timer_(stream_.get_executor()) {}

void Session::start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
        self->arm_idle_timer(self->limits_.idle_timeout);
        self->read_header();
    });
}

void Session::shut_down() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
        if (self->current_)
            self->current_->notify_gone();
        self->close_after_write_ = true;
        self->stopping_ = true;
        if (self->writing_.empty() && self->queued_.empty())
            self->finish_connection();
    });
}

void Session::arm_idle_timer(std::chrono::steady_clock::duration timeout) {
    idle_timer_.expires_after(timeout);
    idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec || self->closed_ || (self->current_ && !self->close_after_write_))
            return;
        // Nothing asked of us for a while (or a request that never completes): drop it.
        self->close_socket();
    });
}

void Session::read_header() {
    if (closed_ || reading_)
        return;
    parser_.emplace();
    parser_->header_limit(limits_.header_limit);
    parser_->body_limit(limits_.body_limit);
    reading_ = true;
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
}

void Session::on_header(beast::error_code ec) {
    reading_ = false;
    if (closed_)
        return;
    if (close_after_write_) // closing: whatever comes now is not answered
        return ec ? close_socket() : drain();
    if (ec == http::error::body_limit) {
        return reject(http::status::payload_too_large,
                      "the request body is larger than the server's limit of " +
                          std::to_string(limits_.body_limit) + " bytes");
    }
    if (ec == http::error::header_limit) {
        return reject(http::status::request_header_fields_too_large,
                      "the request headers are too large");
    }
    if (ec) {
        // A client that went away, or one that sent something that is not HTTP.
        if (malformed(ec) && !current_)
            return reject(http::status::bad_request, "malformed HTTP request: " + ec.message());
        return lost();
    }
    if (current_) {
        header_parked_ = true; // pipelined: the body waits for the current answer
        return;
    }
    read_body();
}

void Session::read_body() {
    const auto &request = parser_->get();
    auto expect = request.find(http::field::expect);
    if (expect != request.end() && beast::iequals(expect->value(), "100-continue"))
        write("HTTP/1.1 100 Continue\r\n\r\n");
    if (parser_->is_done())
        return on_body({});
    reading_ = true;
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
}

void Session::on_body(beast::error_code ec) {
    reading_ = false;
    if (closed_)
        return;
    if (close_after_write_)
        return ec ? close_socket() : drain();
    if (ec == http::error::body_limit) {
        return reject(http::status::payload_too_large,
                      "the request body is larger than the server's limit of " +
                          std::to_string(limits_.body_limit) + " bytes");
    }
    if (ec) {
        if (malformed(ec))
            return reject(http::status::bad_request, "malformed HTTP request: " + ec.message());
        return lost();
    }
    dispatch(parser_->release());
}

void Session::dispatch(Request request) {
    idle_timer_.cancel();
    keep_alive_ = request.keep_alive();
    auto reply = std::make_shared<Reply>(shared_from_this(), Clock::now());
    current_ = reply;
    // Read ahead: a pending read is how a disconnect is noticed while the answer is made.
    read_header();
    try {
        handler_(request, reply);
    } catch (const std::exception &e) {
        spdlog::error("server: unhandled error: {}", e.what());
        reply->send({http::status::internal_server_error,
                     "application/json",
                     R"({"error":"internal server error"})",
                     {}});
    }
}

void Session::reject(http::status status, const std::string &message) {
    // The request could not be read to its end: answer, then close the connection.
    keep_alive_ = false;
    std::string body = R"({"error":{"message":")";
    for (char c : message)
        body += (c == '"' || c == '\\') ? ' ' : c;
    body += R"(","type":"invalid_request_error","param":null,"code":null}})";
    auto reply = std::make_shared<Reply>(shared_from_this(), Clock::now());
    if (current_)
        current_->notify_gone();
    current_ = reply;
    reply->send({status, "application/json", std::move(body), {{"Connection", "close"}}});
}

void Session::reply_finished(const Reply &reply) {
    if (current_.get() != &reply)
        return;
    current_.reset();
    if (!keep_alive_) {
        close_after_write_ = true;
        if (writing_.empty() && queued_.empty())
            finish_connection();
        return;
    }
    arm_idle_timer(limits_.idle_timeout);
    if (header_parked_) {
        header_parked_ = false;
        read_body();
    } else {
        read_header();
    }
}

void Session::write(std::string bytes) {
    if (closed_)
        return;
    queued_.push_back(std::move(bytes));
    if (writing_.empty())
        do_write();
}

void Session::do_write() {
    writing_.assign(std::make_move_iterator(queued_.begin()),
                    std::make_move_iterator(queued_.end()));
    queued_.clear();
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(writing_.size());
    for (const std::string &s : writing_)
        buffers.emplace_back(s.data(), s.size());
    asio::async_write(stream_, buffers, [self = shared_from_this()](beast::error_code ec, size_t) {
        self->on_write(ec);
    });
}

void Session::on_write(beast::error_code ec) {
    writing_.clear();
    if (ec)
        return lost();
    if (!queued_.empty())
        return do_write();
    if (close_after_write_)
        finish_connection();
}

void Session::finish_connection() {
    if (closed_)
        return;
    if (stopping_)
        return close_socket();
    beast::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    arm_idle_timer(std::chrono::seconds(5)); // a client that never closes
    if (!reading_)
        drain();
}

void Session::drain() {
    if (closed_)
        return;
    reading_ = true;
    stream_.socket().async_read_some(asio::buffer(scratch_),
                                     [self = shared_from_this()](beast::error_code ec, size_t) {
                                         self->reading_ = false;
                                         if (ec || self->closed_)
                                             return self->close_socket();
                                         self->drain();
                                     });
}

void Session::lost() {
    if (current_)
        current_->notify_gone();
    close_socket();
}

void Session::close_socket() {
    if (closed_)
        return;
    closed_ = true;
    queued_.clear();
    idle_timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
}

} // namespace graft::server
