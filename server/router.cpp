// Checks every request passes before it reaches an endpoint: the Host header (against DNS
// rebinding while bound to loopback), the Origin (CORS allowlist), the API key.
#include "routes.h"

#include <graft/util/error.h>

#include <boost/beast/core/string.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace graft::server {

namespace beast = boost::beast;

ModelHost &ServerState::require(std::string_view name, bool fallback_first) const {
    ModelHost *model = nullptr;
    if (name.empty()) {
        if (!fallback_first || models.empty())
            throw bad_request("'model' is required", "model");
        model = models.front().get();
    } else {
        model = find_model(models, name);
    }
    if (!model) {
        std::string names;
        for (const auto &m : models)
            names += (names.empty() ? "" : ", ") + m->name();
        throw ApiError(http::status::not_found,
                       "model '" + std::string(name) + "' not found; this server has: " + names,
                       "invalid_request_error", "model", "model_not_found");
    }
    switch (model->state()) {
    case ModelHost::State::ready:
        return *model;
    case ModelHost::State::loading:
        throw ApiError(http::status::service_unavailable,
                       "model '" + model->name() + "' is still loading; retry shortly",
                       "server_error", {}, "model_loading");
    case ModelHost::State::failed:
        break;
    }
    throw ApiError(http::status::internal_server_error,
                   "model '" + model->name() + "' failed to load: " + model->error(),
                   "server_error");
}

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Host header names of this machine's loopback interface, with our port or none.
bool loopback_host(std::string_view host, uint16_t port) {
    std::string_view name = host, port_text;
    if (host.starts_with('[')) {
        const size_t close = host.find(']');
        if (close == std::string_view::npos)
            return false;
        name = host.substr(0, close + 1);
        std::string_view rest = host.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':')
                return false;
            port_text = rest.substr(1);
        }
    } else if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
        name = host.substr(0, colon);
        port_text = host.substr(colon + 1);
    }
    const std::string n = lower(name);
    if (n != "localhost" && n != "127.0.0.1" && n != "[::1]")
        return false;
    return port_text.empty() || port_text == std::to_string(port);
}

// Compares without an early exit, so response times do not reveal how much of a key matched.
bool same_secret(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
    return diff == 0 && !b.empty();
}

bool authorized(const Request &request, const std::string &key) {
    auto auth = request.find(http::field::authorization);
    if (auth != request.end()) {
        std::string_view v(auth->value().data(), auth->value().size());
        if (v.size() > 7 && beast::iequals(v.substr(0, 7), "Bearer "))
            return same_secret(v.substr(7), key);
    }
    auto x = request.find("X-Api-Key");
    if (x != request.end())
        return same_secret(std::string_view(x->value().data(), x->value().size()), key);
    return false;
}

Flavor flavor_of_path(std::string_view path) {
    return path.starts_with("/api/") ? Flavor::ollama : Flavor::openai;
}

} // namespace

Router::Router(ServerState &state) : state_(state) {
    for (auto list : {openai_routes(), ollama_routes(), misc_routes(), admin_routes()})
        for (Route &r : list)
            routes_.push_back(std::move(r));
}

void Router::operator()(Request &request, const std::shared_ptr<Reply> &reply) {
    const std::string_view target(request.target().data(), request.target().size());
    const std::string path(target.substr(0, target.find('?')));
    const ServerOptions &options = state_.options;

    // Which route: exact paths first, then prefixes ("/v1/models/*").
    const Route *route = nullptr;
    bool path_known = false;
    for (int pass = 0; pass < 2 && !route; ++pass)
        for (const Route &r : routes_) {
            const bool prefix = r.path.ends_with('*');
            if (prefix != (pass == 1))
                continue;
            const bool match = prefix ? path.starts_with(r.path.substr(0, r.path.size() - 1)) &&
                                            path.size() >= r.path.size()
                                      : path == r.path;
            if (!match)
                continue;
            path_known = true;
            if (r.method == request.method()) {
                route = &r;
                break;
            }
        }
    const Flavor flavor = route ? route->flavor : flavor_of_path(path);
    const std::string endpoint = route ? route->path : (path_known ? path : "other");
    reply->on_answer([this, endpoint](http::status status) {
        state_.metrics.count_request(endpoint, static_cast<unsigned>(status));
    });
    auto fail = [&](http::status status, const std::string &message, std::string type,
                    std::string code = {}) {
        Response r =
            error_response(flavor, ApiError(status, message, std::move(type), {}, std::move(code)));
        if (status == http::status::unauthorized)
            r.headers.emplace_back("WWW-Authenticate", "Bearer");
        reply->send(std::move(r));
    };

    const auto host_field = request.find(http::field::host);
    const std::string host = host_field == request.end() ? "" : std::string(host_field->value());
    if (state_.loopback && !host.empty() && !loopback_host(host, state_.port))
        return fail(http::status::forbidden,
                    "Host '" + host +
                        "' is not this server's loopback address; requests through other "
                        "names are refused while it listens on loopback (DNS rebinding)",
                    "permission_error");

    // CORS: allowed origins get the Access-Control headers; other cross-origin requests are
    // refused, so that a web page cannot drive the local server from a visitor's browser.
    const auto origin_field = request.find(http::field::origin);
    if (origin_field != request.end()) {
        const std::string origin(origin_field->value());
        const bool listed = std::find(options.cors_origins.begin(), options.cors_origins.end(),
                                      origin) != options.cors_origins.end() ||
                            std::find(options.cors_origins.begin(), options.cors_origins.end(),
                                      "*") != options.cors_origins.end();
        const bool same_origin = !host.empty() && (beast::iequals(origin, "http://" + host));
        if (listed) {
            reply->add_common_header("Access-Control-Allow-Origin", origin);
            reply->add_common_header("Vary", "Origin");
        } else if (!same_origin) {
            return fail(http::status::forbidden,
                        "origin '" + origin +
                            "' is not allowed; start the server with --cors-origin " + origin,
                        "permission_error");
        }
        if (request.method() == http::verb::options && listed) {
            Response r{http::status::no_content, "", "", {}};
            r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            auto asked = request.find(http::field::access_control_request_headers);
            r.headers.emplace_back("Access-Control-Allow-Headers",
                                   asked != request.end()
                                       ? std::string(asked->value())
                                       : std::string("Authorization, Content-Type, X-Api-Key"));
            r.headers.emplace_back("Access-Control-Max-Age", "600");
            return reply->send(std::move(r));
        }
    }
    if (request.method() == http::verb::options) {
        Response r{http::status::no_content, "", "", {}};
        r.headers.emplace_back("Allow", "GET, POST, OPTIONS");
        return reply->send(std::move(r));
    }

    if (!options.api_key.empty() && !(route && route->is_public) &&
        !authorized(request, options.api_key))
        return fail(http::status::unauthorized,
                    "missing or wrong API key: send 'Authorization: Bearer <key>' or "
                    "'X-Api-Key: <key>'",
                    "invalid_request_error", "invalid_api_key");
    if (!route) {
        if (path_known)
            return fail(http::status::method_not_allowed,
                        std::string(request.method_string()) + " is not allowed on " + path,
                        "invalid_request_error");
        return fail(http::status::not_found, "no endpoint " + path + " (see docs/server.md)",
                    "invalid_request_error", "unknown_url");
    }
    try {
        route->handler(state_, request, reply);
    } catch (const ApiError &e) {
        reply->send(error_response(flavor, e));
    } catch (const Error &e) {
        reply->send(error_response(flavor, bad_request(e.what())));
    } catch (const std::exception &e) {
        spdlog::error("server: {} {}: {}", std::string(request.method_string()), path, e.what());
        reply->send(error_response(flavor, ApiError(http::status::internal_server_error,
                                                    std::string("internal error: ") + e.what(),
                                                    "server_error")));
    }
}

} // namespace graft::server
