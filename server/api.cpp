#include "api.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>
#include <ctime>
#include <random>

namespace graft::server {

namespace json = boost::json;

ApiError::ApiError(http::status s, const std::string &message, std::string t, std::string p,
                   std::string c)
    : std::runtime_error(message), status(s), type(std::move(t)), param(std::move(p)),
      code(std::move(c)) {}

ApiError bad_request(const std::string &message, std::string param) {
    return ApiError(http::status::bad_request, message, "invalid_request_error", std::move(param));
}

Response json_response(const json::value &body, http::status status) {
    return Response{status, "application/json", json::serialize(body), {}};
}

Response error_response(Flavor flavor, const ApiError &error) {
    Response r;
    if (flavor == Flavor::ollama) {
        r = json_response(json::object{{"error", error.what()}}, error.status);
    } else {
        auto opt = [](const std::string &s) { return s.empty() ? json::value() : json::value(s); };
        r = json_response(json::object{{"error", json::object{{"message", error.what()},
                                                              {"type", error.type},
                                                              {"param", opt(error.param)},
                                                              {"code", opt(error.code)}}}},
                          error.status);
    }
    if (error.status == http::status::service_unavailable ||
        error.status == http::status::too_many_requests)
        r.headers.emplace_back("Retry-After", "1");
    return r;
}

json::object parse_body(const std::string &body) {
    if (body.empty())
        throw bad_request("the request body is empty; send a JSON object");
    json::error_code ec;
    json::parse_options options;
    options.max_depth = 64;
    json::value v = json::parse(body, ec, {}, options);
    if (ec)
        throw bad_request("the request body is not valid JSON: " + ec.message());
    if (!v.is_object())
        throw bad_request("the request body must be a JSON object");
    return std::move(v.get_object());
}

const json::value *Fields::find(std::string_view key) const {
    const json::value *v = object_.if_contains(key);
    return v == nullptr || v->is_null() ? nullptr : v;
}

std::optional<std::string> Fields::string(std::string_view key) const {
    const json::value *v = find(key);
    if (!v)
        return std::nullopt;
    if (!v->is_string())
        throw bad_request("'" + name(key) + "' must be a string", name(key));
    return std::string(v->get_string());
}

std::optional<bool> Fields::boolean(std::string_view key) const {
    const json::value *v = find(key);
    if (!v)
        return std::nullopt;
    if (!v->is_bool())
        throw bad_request("'" + name(key) + "' must be true or false", name(key));
    return v->get_bool();
}

std::optional<double> Fields::number(std::string_view key, double min, double max) const {
    const json::value *v = find(key);
    if (!v)
        return std::nullopt;
    double d = 0;
    if (v->is_double())
        d = v->get_double();
    else if (v->is_int64())
        d = static_cast<double>(v->get_int64());
    else if (v->is_uint64())
        d = static_cast<double>(v->get_uint64());
    else
        throw bad_request("'" + name(key) + "' must be a number", name(key));
    if (!std::isfinite(d) || d < min || d > max) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "'%s' must be between %g and %g", name(key).c_str(), min,
                      max);
        throw bad_request(buf, name(key));
    }
    return d;
}

std::optional<int64_t> Fields::integer(std::string_view key, int64_t min, int64_t max) const {
    const json::value *v = find(key);
    if (!v)
        return std::nullopt;
    int64_t i = 0;
    if (v->is_int64()) {
        i = v->get_int64();
    } else if (v->is_uint64()) {
        if (v->get_uint64() > static_cast<uint64_t>(INT64_MAX))
            throw bad_request("'" + name(key) + "' is too large", name(key));
        i = static_cast<int64_t>(v->get_uint64());
    } else if (v->is_double() && std::floor(v->get_double()) == v->get_double() &&
               std::fabs(v->get_double()) < 9e15) {
        i = static_cast<int64_t>(v->get_double());
    } else {
        throw bad_request("'" + name(key) + "' must be an integer", name(key));
    }
    if (i < min || i > max)
        throw bad_request("'" + name(key) + "' must be between " + std::to_string(min) + " and " +
                              std::to_string(max),
                          name(key));
    return i;
}

std::vector<std::string> Fields::strings(std::string_view key, size_t max_items) const {
    const json::value *v = find(key);
    std::vector<std::string> out;
    if (!v)
        return out;
    if (v->is_string()) {
        out.emplace_back(v->get_string());
    } else if (v->is_array()) {
        for (const json::value &item : v->get_array()) {
            if (!item.is_string())
                throw bad_request("'" + name(key) + "' must be a string or a list of strings",
                                  name(key));
            out.emplace_back(item.get_string());
        }
    } else {
        throw bad_request("'" + name(key) + "' must be a string or a list of strings", name(key));
    }
    if (out.size() > max_items)
        throw bad_request("'" + name(key) + "' takes at most " + std::to_string(max_items) +
                              " entries",
                          name(key));
    return out;
}

const json::object *Fields::object(std::string_view key) const {
    const json::value *v = find(key);
    if (!v)
        return nullptr;
    if (!v->is_object())
        throw bad_request("'" + name(key) + "' must be an object", name(key));
    return &v->get_object();
}

namespace {

std::mt19937_64 &thread_rng() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng;
}

} // namespace

engine::SamplingParams default_sampling() {
    engine::SamplingParams p;
    p.seed = thread_rng()();
    return p;
}

std::string random_id(std::string_view prefix) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string id(prefix);
    std::uniform_int_distribution<size_t> pick(0, sizeof alphabet - 2);
    for (int i = 0; i < 24; ++i)
        id += alphabet[pick(thread_rng())];
    return id;
}

int64_t unix_seconds() {
    return static_cast<int64_t>(std::time(nullptr));
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(ns % 1000000000));
    return buf;
}

std::string rfc3339_now() {
    return rfc3339(std::chrono::system_clock::now());
}

} // namespace graft::server
