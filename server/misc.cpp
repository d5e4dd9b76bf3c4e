// Endpoints beside the two APIs: health, metrics, tokenizing, and the chat page.
#include "assets.h"
#include "routes.h"

#include <boost/json.hpp>

namespace graft::server {

namespace json = boost::json;

namespace {

void health(ServerState &state, Request &, const std::shared_ptr<Reply> &reply) {
    bool loading = false;
    for (const auto &m : state.models) {
        if (m->state() == ModelHost::State::failed)
            return reply->send(json_response(
                json::object{{"status", "error"},
                             {"error", "model '" + m->name() + "' failed to load: " + m->error()}},
                http::status::internal_server_error));
        loading = loading || m->state() == ModelHost::State::loading;
    }
    if (loading)
        return reply->send(
            json_response(json::object{{"status", "loading"}}, http::status::service_unavailable));
    reply->send(json_response(json::object{{"status", "ok"}}));
}

void metrics(ServerState &state, Request &, const std::shared_ptr<Reply> &reply) {
    reply->send({http::status::ok,
                 "text/plain; version=0.0.4; charset=utf-8",
                 state.metrics.render(state.models),
                 {}});
}

void tokenize(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const json::object body = parse_body(request.body());
    const Fields f(body);
    ModelHost &m = state.require(f.string("model").value_or(""), true);
    const std::optional<std::string> content = f.string("content");
    if (!content)
        throw bad_request("'content' is required", "content");
    const std::vector<int32_t> ids =
        m.tokenizer().encode(*content, f.boolean("add_special").value_or(false),
                             f.boolean("parse_special").value_or(true));
    json::array tokens;
    for (int32_t id : ids)
        tokens.emplace_back(id);
    reply->send(json_response(json::object{{"tokens", std::move(tokens)}}));
}

void detokenize(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const json::object body = parse_body(request.body());
    const Fields f(body);
    ModelHost &m = state.require(f.string("model").value_or(""), true);
    const json::value *tokens = f.find("tokens");
    if (!tokens || !tokens->is_array())
        throw bad_request("'tokens' must be a list of token ids", "tokens");
    std::vector<int32_t> ids;
    const int64_t n_vocab = m.tokenizer().n_vocab();
    for (const json::value &v : tokens->get_array()) {
        if (!v.is_int64() || v.get_int64() < 0 || v.get_int64() >= n_vocab)
            throw bad_request("'tokens' must hold token ids between 0 and " +
                                  std::to_string(n_vocab - 1),
                              "tokens");
        ids.push_back(static_cast<int32_t>(v.get_int64()));
    }
    reply->send(json_response(json::object{{"content", m.tokenizer().decode(ids, true)}}));
}

// The prompt a chat turns into, as the chat endpoints build it.
void apply_template(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const json::object body = parse_body(request.body());
    const Fields f(body);
    ModelHost &m = state.require(f.string("model").value_or(""), true);
    const json::value *messages = f.find("messages");
    if (!messages || !messages->is_array())
        throw bad_request("'messages' must be a list of messages", "messages");
    std::vector<chat::Message> list;
    for (const json::value &v : messages->get_array())
        list.push_back(chat::Message::from_json(v));
    reply->send(json_response(json::object{
        {"prompt", m.render_chat(list, f.find("tools"), f.object("chat_template_kwargs"))}}));
}

} // namespace

std::vector<Route> misc_routes() {
    std::vector<Route> routes = {
        {http::verb::get, "/health", Flavor::openai, true, health},
        {http::verb::get, "/metrics", Flavor::openai, false, metrics},
        {http::verb::post, "/tokenize", Flavor::openai, false, tokenize},
        {http::verb::post, "/detokenize", Flavor::openai, false, detokenize},
        {http::verb::post, "/apply-template", Flavor::openai, false, apply_template},
    };
    for (const Asset &asset : web_assets()) {
        auto serve = [&asset](ServerState &, Request &, const std::shared_ptr<Reply> &reply) {
            reply->send({http::status::ok,
                         std::string(asset.content_type),
                         std::string(asset.data),
                         {{"Cache-Control", "no-cache"},
                          {"X-Content-Type-Options", "nosniff"},
                          {"Content-Security-Policy",
                           "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:"}}});
        };
        routes.push_back({http::verb::get, std::string(asset.path), Flavor::openai, true, serve});
        if (asset.path == "/index.html")
            routes.push_back({http::verb::get, "/", Flavor::openai, true, serve});
    }
    return routes;
}

} // namespace graft::server
