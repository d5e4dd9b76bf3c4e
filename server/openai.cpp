// OpenAI-compatible endpoints: /v1/models, /v1/chat/completions, /v1/completions.
#include "generation.h"
#include "routes.h"

#include <boost/json.hpp>

namespace graft::server {

namespace json = boost::json;

namespace {

std::string sse(const json::value &v) {
    return "data: " + json::serialize(v) + "\n\n";
}

json::object usage(const Outcome &o) {
    const auto completion = static_cast<int64_t>(o.result.tokens.size());
    return {{"prompt_tokens", o.result.n_prompt},
            {"completion_tokens", completion},
            {"total_tokens", o.result.n_prompt + completion}};
}

std::string finish_reason(const Outcome &o) {
    return o.result.finish_reason == "length" ? "length" : "stop";
}

// Chat completions and text completions differ in their object names and in where the text
// goes; the stream framing is the same.
class OpenAIFormat : public Format {
  public:
    OpenAIFormat(bool chat, std::string model, bool include_usage)
        : chat_(chat), id_(random_id(chat ? "chatcmpl-" : "cmpl-")), created_(unix_seconds()),
          model_(std::move(model)), include_usage_(include_usage) {}

    std::string stream_content_type() const override { return "text/event-stream"; }

    std::string begin() override {
        if (!chat_)
            return {};
        return sse(chunk(json::object{{"role", "assistant"}, {"content", ""}}, nullptr));
    }
    std::string delta(std::string_view text) override {
        if (chat_)
            return sse(chunk(json::object{{"content", text}}, nullptr));
        return sse(chunk(json::string(text), nullptr));
    }
    std::string end(const Outcome &o) override {
        std::string out = sse(chunk(chat_ ? json::value(json::object{}) : json::value(""),
                                    json::string(finish_reason(o))));
        if (include_usage_) {
            json::object u = envelope();
            u["choices"] = json::array{};
            u["usage"] = usage(o);
            out += sse(u);
        }
        return out + "data: [DONE]\n\n";
    }
    std::string stream_error(const std::string &message) override {
        return sse(json::object{{"error", json::object{{"message", message},
                                                       {"type", "server_error"},
                                                       {"param", nullptr},
                                                       {"code", nullptr}}}}) +
               "data: [DONE]\n\n";
    }
    json::value whole(const Outcome &o) override {
        json::object r = envelope(false);
        json::object choice{{"index", 0}};
        if (chat_)
            choice["message"] = json::object{{"role", "assistant"}, {"content", o.result.text}};
        else
            choice["text"] = o.result.text;
        choice["logprobs"] = nullptr;
        choice["finish_reason"] = finish_reason(o);
        r["choices"] = json::array{std::move(choice)};
        r["usage"] = usage(o);
        return r;
    }

  private:
    json::object envelope(bool chunk_object = true) const {
        const char *object = chat_ ? (chunk_object ? "chat.completion.chunk" : "chat.completion")
                                   : "text_completion";
        return {{"id", id_},
                {"object", object},
                {"created", created_},
                {"model", model_},
                {"system_fingerprint", "graft"}};
    }
    // One streamed choice: `content` is the chat delta object or the completion's text.
    json::object chunk(json::value content, json::value finish) const {
        json::object r = envelope();
        json::object choice{{"index", 0}};
        choice[chat_ ? "delta" : "text"] = std::move(content);
        choice["logprobs"] = nullptr;
        choice["finish_reason"] = std::move(finish);
        r["choices"] = json::array{std::move(choice)};
        if (include_usage_)
            r["usage"] = nullptr;
        return r;
    }

    bool chat_;
    std::string id_;
    int64_t created_;
    std::string model_;
    bool include_usage_;
};

// The sampling and length fields both OpenAI endpoints take (and llama.cpp's extensions).
engine::GenerateParams openai_params(const Fields &f, int32_t server_cap) {
    engine::GenerateParams p;
    p.sampling = default_sampling();
    if (auto n = f.integer("n", 1, 128); n && *n != 1)
        throw bad_request("only n=1 is supported: ask for one choice per request", "n");
    if (auto best = f.integer("best_of", 1, 128); best && *best != 1)
        throw bad_request("only best_of=1 is supported", "best_of");
    if (f.boolean("logprobs").value_or(false) || f.integer("top_logprobs", 0, 20).value_or(0) > 0)
        throw bad_request("logprobs are not supported", "logprobs");
    if (f.boolean("echo").value_or(false))
        throw bad_request("echo is not supported", "echo");
    if (const json::object *bias = f.object("logit_bias"); bias && !bias->empty())
        throw bad_request("logit_bias is not supported", "logit_bias");
    std::optional<int64_t> max = f.integer("max_completion_tokens", 1, INT32_MAX);
    if (!max)
        max = f.integer("max_tokens", 1, INT32_MAX);
    p.max_tokens = token_limit(max, server_cap);
    if (auto v = f.number("temperature", 0, 2))
        p.sampling.temperature = static_cast<float>(*v);
    if (auto v = f.number("top_p", 0, 1))
        p.sampling.top_p = static_cast<float>(*v);
    if (auto v = f.integer("top_k", 0, INT32_MAX))
        p.sampling.top_k = static_cast<int32_t>(*v);
    if (auto v = f.number("min_p", 0, 1))
        p.sampling.min_p = static_cast<float>(*v);
    if (auto v = f.number("presence_penalty", -2, 2))
        p.sampling.presence_penalty = static_cast<float>(*v);
    if (auto v = f.number("frequency_penalty", -2, 2))
        p.sampling.frequency_penalty = static_cast<float>(*v);
    if (auto v = f.number("repeat_penalty", 0, 10))
        p.sampling.repeat_penalty = static_cast<float>(*v);
    if (auto v = f.integer("seed", INT64_MIN, INT64_MAX))
        p.sampling.seed = static_cast<uint64_t>(*v);
    p.stop = f.strings("stop", 16);
    p.ignore_eos = f.boolean("ignore_eos").value_or(false); // llama.cpp's extension
    return p;
}

bool include_usage(const Fields &f) {
    const json::object *options = f.object("stream_options");
    return options && Fields(*options, "stream_options.").boolean("include_usage").value_or(false);
}

void chat_completions(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const json::object body = parse_body(request.body());
    const Fields f(body);
    ModelHost &model = state.require(f.string("model").value_or(""));
    const json::value *messages = f.find("messages");
    if (!messages || !messages->is_array() || messages->get_array().empty())
        throw bad_request("'messages' must be a non-empty list of messages", "messages");
    std::vector<chat::Message> list;
    for (size_t i = 0; i < messages->get_array().size(); ++i) {
        try {
            list.push_back(chat::Message::from_json(messages->get_array()[i]));
        } catch (const Error &e) {
            throw bad_request("messages[" + std::to_string(i) + "]: " + e.what(), "messages");
        }
    }
    Generation g;
    g.params = openai_params(f, state.options.max_tokens);
    g.stream = f.boolean("stream").value_or(false);
    const std::string prompt =
        model.render_chat(list, f.find("tools"), f.object("chat_template_kwargs"));
    g.model = &model;
    g.prompt = model.encode_prompt(prompt);
    g.flavor = Flavor::openai;
    g.format = std::make_unique<OpenAIFormat>(true, model.name(), g.stream && include_usage(f));
    run_generation(reply, std::move(g));
}

void completions(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const json::object body = parse_body(request.body());
    const Fields f(body);
    ModelHost &model = state.require(f.string("model").value_or(""));
    Generation g;
    g.params = openai_params(f, state.options.max_tokens);
    g.stream = f.boolean("stream").value_or(false);
    // A string, a list of one string, a list of token ids, or a list of one such list.
    const json::value *prompt = f.find("prompt");
    if (prompt && prompt->is_array() && prompt->get_array().size() == 1 &&
        !prompt->get_array()[0].is_number())
        prompt = &prompt->get_array()[0];
    if (prompt && prompt->is_string()) {
        g.prompt = model.encode_prompt(prompt->get_string());
    } else if (prompt && prompt->is_array() && !prompt->get_array().empty()) {
        const int64_t n_vocab = model.tokenizer().n_vocab();
        for (const json::value &v : prompt->get_array()) {
            if (!v.is_int64() || v.get_int64() < 0 || v.get_int64() >= n_vocab)
                throw bad_request("'prompt' must be a string or token ids between 0 and " +
                                      std::to_string(n_vocab - 1) + " (one prompt per request)",
                                  "prompt");
            g.prompt.push_back(static_cast<int32_t>(v.get_int64()));
        }
    } else {
        throw bad_request("'prompt' must be a non-empty string or a list of token ids (one "
                          "prompt per request)",
                          "prompt");
    }
    g.model = &model;
    g.flavor = Flavor::openai;
    g.format = std::make_unique<OpenAIFormat>(false, model.name(), g.stream && include_usage(f));
    run_generation(reply, std::move(g));
}

json::object model_object(const ModelHost &m) {
    int64_t created = unix_seconds();
    if (m.ready())
        created = std::chrono::duration_cast<std::chrono::seconds>(
                      m.details().modified.time_since_epoch())
                      .count();
    return {{"id", m.name()}, {"object", "model"}, {"created", created}, {"owned_by", "graft"}};
}

void list_models(ServerState &state, Request &, const std::shared_ptr<Reply> &reply) {
    json::array data;
    for (const auto &m : state.models)
        data.push_back(model_object(*m));
    reply->send(json_response(json::object{{"object", "list"}, {"data", std::move(data)}}));
}

void get_model(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const std::string_view target(request.target().data(), request.target().size());
    const std::string_view name = target.substr(0, target.find('?')).substr(11); // "/v1/models/"
    const ModelHost *m = find_model(state.models, name);
    if (!m)
        throw ApiError(http::status::not_found, "model '" + std::string(name) + "' not found",
                       "invalid_request_error", "model", "model_not_found");
    reply->send(json_response(model_object(*m)));
}

} // namespace

std::vector<Route> openai_routes() {
    return {
        {http::verb::get, "/v1/models", Flavor::openai, false, list_models},
        {http::verb::get, "/v1/models/*", Flavor::openai, false, get_model},
        {http::verb::post, "/v1/chat/completions", Flavor::openai, false, chat_completions},
        {http::verb::post, "/v1/completions", Flavor::openai, false, completions},
    };
}

} // namespace graft::server
