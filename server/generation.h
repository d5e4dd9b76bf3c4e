// Running one generation for an HTTP request: submit to the model's scheduler, move the
// scheduler's callbacks onto the connection's strand, stream or collect the text, and
// cancel when the client goes away. The API-specific shapes come from a Format.
#pragma once

#include "api.h"
#include "http.h"
#include "models.h"

#include <graft/engine/generate.h>

#include <boost/json/value.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace graft::server {

struct Outcome {
    engine::GenerateResult result;
    std::string error; // set when generation failed
    Clock::time_point received, submitted, finished;
};

// How one API words a generation. Called on the connection's strand.
class Format {
  public:
    virtual ~Format() = default;
    virtual std::string stream_content_type() const = 0;
    virtual std::string begin() { return {}; } // first bytes of a stream
    virtual std::string delta(std::string_view text) = 0;
    virtual std::string end(const Outcome &outcome) = 0; // last bytes of a stream
    virtual std::string stream_error(const std::string &message) = 0;
    virtual boost::json::value whole(const Outcome &outcome) = 0; // a non-streamed answer
};

struct Generation {
    ModelHost *model = nullptr;
    std::vector<int32_t> prompt;
    engine::GenerateParams params;
    bool stream = false;
    Flavor flavor = Flavor::openai;
    std::unique_ptr<Format> format;
};

// Checks the prompt against the context, submits, and answers `reply` as the generation
// goes. Throws ApiError before anything is sent: 400 for a prompt that does not fit, 503
// when the model's queue is full.
void run_generation(const std::shared_ptr<Reply> &reply, Generation generation);

// The generated-token limit of a request: what it asked for (negative or absent: no limit
// of its own) under the server-wide cap (0: none). -1 means "until the context is full".
int32_t token_limit(std::optional<int64_t> requested, int32_t server_cap);

} // namespace graft::server
