// Helpers shared by the endpoint handlers: errors in each API's shape, reading typed fields
// from a JSON body, ids and times. Internal to the server.
#pragma once

#include "http.h"

#include <graft/engine/sampler.h>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace graft::server {

// Which API an endpoint belongs to: it decides the shape of error bodies.
enum class Flavor {
    openai, // {"error": {"message", "type", "param", "code"}}
    ollama, // {"error": "..."}
};

// An error a handler answers with. `type` and `code` follow OpenAI's vocabulary
// ("invalid_request_error", "model_not_found", ...).
class ApiError : public std::runtime_error {
  public:
    ApiError(http::status status, const std::string &message,
             std::string type = "invalid_request_error", std::string param = {},
             std::string code = {});
    http::status status;
    std::string type, param, code;
};

ApiError bad_request(const std::string &message, std::string param = {});

// The error body for `flavor`.
Response error_response(Flavor flavor, const ApiError &error);

Response json_response(const boost::json::value &body, http::status status = http::status::ok);

// Parses a request body that must be a JSON object (400 with the parser's message).
boost::json::object parse_body(const std::string &body);

// Typed, optional fields of a request object. A field that is present but null counts as
// absent; a field of the wrong type or out of range is a 400 naming it.
class Fields {
  public:
    explicit Fields(const boost::json::object &object, std::string prefix = {})
        : object_(object), prefix_(std::move(prefix)) {}
    const boost::json::value *find(std::string_view key) const;
    std::optional<std::string> string(std::string_view key) const;
    std::optional<bool> boolean(std::string_view key) const;
    std::optional<double> number(std::string_view key, double min, double max) const;
    std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max) const;
    // A string or a list of strings (stop sequences).
    std::vector<std::string> strings(std::string_view key, size_t max_items) const;
    const boost::json::object *object(std::string_view key) const;
    std::string name(std::string_view key) const { return prefix_ + std::string(key); }

  private:
    const boost::json::object &object_;
    std::string prefix_;
};

// Sampling defaults for a request: the engine's, with a fresh random seed (a request that
// names no seed gets different text each time, as with the APIs it speaks).
engine::SamplingParams default_sampling();

// "chatcmpl-<24 random characters>" style ids.
std::string random_id(std::string_view prefix);
int64_t unix_seconds();
// RFC 3339 with nanoseconds, UTC ("2024-05-01T12:00:00.123456789Z"), as Ollama writes.
std::string rfc3339_now();
std::string rfc3339(std::chrono::system_clock::time_point t);

} // namespace graft::server
