#include "generation.h"

#include <graft/util/error.h>

#include <atomic>

namespace graft::server {

namespace {

// Lives from submit to on_done; shared by the scheduler's callbacks and the Reply's hook.
struct Job : std::enable_shared_from_this<Job> {
    std::shared_ptr<Reply> reply;
    std::unique_ptr<Format> format;
    ModelHost *model = nullptr;
    bool stream = false;
    Flavor flavor = Flavor::openai;
    uint64_t id = 0;
    std::atomic<bool> gone{false}; // read by the scheduler's thread
    Outcome outcome;

    void text(const std::string &piece) {
        if (stream)
            reply->write_chunk(format->delta(piece));
    }

    void done(engine::GenerateResult result, std::string error) {
        outcome.result = std::move(result);
        outcome.error = std::move(error);
        outcome.finished = Clock::now();
        if (reply->gone())
            return;
        const bool cancelled = outcome.error.empty() && outcome.result.finish_reason == "cancelled";
        const std::string failure =
            !outcome.error.empty()
                ? "generation failed: " + outcome.error
                : (cancelled ? "the request was cancelled: the server is shutting down" : "");
        if (stream) {
            reply->write_chunk(failure.empty() ? format->end(outcome)
                                               : format->stream_error(failure));
            reply->end_stream();
        } else if (!failure.empty()) {
            reply->send(
                error_response(flavor, ApiError(cancelled ? http::status::service_unavailable
                                                          : http::status::internal_server_error,
                                                failure, "server_error")));
        } else {
            reply->send(json_response(format->whole(outcome)));
        }
    }
};

} // namespace

int32_t token_limit(std::optional<int64_t> requested, int32_t server_cap) {
    int64_t limit = requested && *requested >= 0 ? *requested : -1;
    if (server_cap > 0 && (limit < 0 || limit > server_cap))
        limit = server_cap;
    return static_cast<int32_t>(std::min<int64_t>(limit, INT32_MAX));
}

void run_generation(const std::shared_ptr<Reply> &reply, Generation g) {
    const int64_t n_ctx = g.model->n_ctx();
    if (g.prompt.empty())
        throw bad_request("the prompt is empty");
    if (static_cast<int64_t>(g.prompt.size()) >= n_ctx)
        throw ApiError(http::status::bad_request,
                       "the prompt has " + std::to_string(g.prompt.size()) +
                           " tokens; this model's context holds " + std::to_string(n_ctx) +
                           " (start the server with a larger --ctx or shorten the prompt)",
                       "invalid_request_error", "messages", "context_length_exceeded");
    auto job = std::make_shared<Job>();
    job->reply = reply;
    job->format = std::move(g.format);
    job->model = g.model;
    job->stream = g.stream;
    job->flavor = g.flavor;
    job->outcome.received = reply->received();

    engine::Scheduler::Callbacks callbacks;
    // These run on the scheduler's thread: hand the work to the strand and return.
    callbacks.on_text = [job](std::string_view text) {
        if (job->gone.load(std::memory_order_relaxed))
            return false;
        job->reply->post([job, piece = std::string(text)] { job->text(piece); });
        return true;
    };
    callbacks.on_done = [job](const engine::GenerateResult &result, const std::string &error) {
        job->reply->post(
            [job, result, error]() mutable { job->done(std::move(result), std::move(error)); });
    };
    job->outcome.submitted = Clock::now();
    try {
        job->id = g.model->submit(std::move(g.prompt), std::move(g.params), std::move(callbacks));
    } catch (const engine::QueueFull &e) {
        throw ApiError(http::status::service_unavailable, std::string(e.what()) + "; retry shortly",
                       "server_error", {}, "queue_full");
    } catch (const ApiError &) {
        throw;
    } catch (const Error &e) {
        throw bad_request(e.what());
    }
    // The callbacks above are posted to this strand, so they run after this returns.
    reply->on_gone([weak = std::weak_ptr<Job>(job)] {
        if (auto j = weak.lock()) {
            j->gone = true;
            j->model->cancel(j->id);
        }
    });
    if (g.stream) {
        reply->start_stream(job->format->stream_content_type());
        reply->write_chunk(job->format->begin());
    }
}

} // namespace graft::server
