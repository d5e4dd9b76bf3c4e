// Ollama-compatible endpoints: /api/chat, /api/generate, /api/tags, /api/show, /api/ps,
// /api/version.
#include "admin.h"
#include "generation.h"
#include "routes.h"

#include <graft/gguf/gguf.h>
#include <graft/models/module.h>

#include <boost/json.hpp>

namespace graft::server {

namespace json = boost::json;

namespace {

int64_t nanoseconds(Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

int64_t nanoseconds(double seconds) {
    return static_cast<int64_t>(seconds * 1e9);
}

// NDJSON lines: {"model", "created_at", <content>, "done": false}, then a final line with
// done_reason, the token counts and the durations in nanoseconds.
class OllamaFormat : public Format {
  public:
    OllamaFormat(bool chat, std::string model) : chat_(chat), model_(std::move(model)) {}

    std::string stream_content_type() const override { return "application/x-ndjson"; }
    std::string delta(std::string_view text) override {
        json::object line = head();
        put_text(line, text);
        line["done"] = false;
        return json::serialize(line) + "\n";
    }
    std::string end(const Outcome &o) override { return json::serialize(final(o, "")) + "\n"; }
    std::string stream_error(const std::string &message) override {
        return json::serialize(json::object{{"error", message}}) + "\n";
    }
    json::value whole(const Outcome &o) override { return final(o, o.result.text); }

  private:
    json::object head() const { return {{"model", model_}, {"created_at", rfc3339_now()}}; }
    void put_text(json::object &line, std::string_view text) const {
        if (chat_)
            line["message"] = json::object{{"role", "assistant"}, {"content", text}};
        else
            line["response"] = text;
    }
    json::object final(const Outcome &o, std::string_view text) const {
        json::object line = head();
        put_text(line, text);
        line["done"] = true;
        line["done_reason"] = o.result.finish_reason == "length" ? "length" : "stop";
        const int64_t total = nanoseconds(o.finished - o.received);
        line["total_duration"] = total;
        // Models stay loaded; what precedes generation here is preparing the request
        // (chat template, tokenizer).
        line["load_duration"] = nanoseconds(o.submitted - o.received);
        line["prompt_eval_count"] = o.result.n_prompt;
        line["prompt_eval_duration"] = nanoseconds(o.result.prefill_seconds);
        line["eval_count"] = static_cast<int64_t>(o.result.tokens.size());
        line["eval_duration"] = nanoseconds(o.result.decode_seconds);
        return line;
    }

    bool chat_;
    std::string model_;
};

engine::GenerateParams ollama_params(const Fields &body, int32_t server_cap) {
    engine::GenerateParams p;
    p.sampling = default_sampling();
    p.max_tokens = token_limit(std::nullopt, server_cap);
    const json::object *options = body.object("options");
    if (!options)
        return p;
    const Fields f(*options, "options.");
    p.max_tokens = token_limit(f.integer("num_predict", -2, INT32_MAX), server_cap);
    if (auto v = f.number("temperature", 0, 100))
        p.sampling.temperature = static_cast<float>(*v);
    if (auto v = f.number("top_p", 0, 1))
        p.sampling.top_p = static_cast<float>(*v);
    if (auto v = f.integer("top_k", 0, INT32_MAX))
        p.sampling.top_k = static_cast<int32_t>(*v);
    if (auto v = f.number("min_p", 0, 1))
        p.sampling.min_p = static_cast<float>(*v);
    if (auto v = f.number("repeat_penalty", 0, 10))
        p.sampling.repeat_penalty = static_cast<float>(*v);
    if (auto v = f.integer("repeat_last_n", -1, INT32_MAX))
        p.sampling.repeat_last_n = static_cast<int32_t>(*v);
    if (auto v = f.number("presence_penalty", -2, 2))
        p.sampling.presence_penalty = static_cast<float>(*v);
    if (auto v = f.number("frequency_penalty", -2, 2))
        p.sampling.frequency_penalty = static_cast<float>(*v);
    if (auto v = f.integer("seed", INT64_MIN, INT64_MAX); v && *v >= 0)
        p.sampling.seed = static_cast<uint64_t>(*v); // -1: random, as Ollama
    p.stop = f.strings("stop", 16);
    p.ignore_eos = f.boolean("ignore_eos").value_or(false); // an extension, as llama.cpp's
    return p;
}

std::string model_name(const Fields &f) {
    // "name" is what older clients send.
    std::string name = f.string("model").value_or("");
    return name.empty() ? f.string("name").value_or("") : name;
}

void chat(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const json::object body = parse_body(request.body());
    const Fields f(body);
    ModelHost &model = state.require(model_name(f));
    const json::value *messages = f.find("messages");
    if (messages && !messages->is_array())
        throw bad_request("'messages' must be a list of messages");
    Generation g;
    g.params = ollama_params(f, state.options.max_tokens);
    g.stream = f.boolean("stream").value_or(true);
    g.model = &model;
    g.flavor = Flavor::ollama;
    if (!messages || messages->get_array().empty()) {
        // Ollama's way to load a model: an empty chat answers at once.
        return reply->send(json_response(
            json::object{{"model", model.name()},
                         {"created_at", rfc3339_now()},
                         {"message", json::object{{"role", "assistant"}, {"content", ""}}},
                         {"done", true},
                         {"done_reason", "load"}}));
    }
    std::vector<chat::Message> list;
    for (size_t i = 0; i < messages->get_array().size(); ++i) {
        try {
            list.push_back(chat::Message::from_json(messages->get_array()[i]));
        } catch (const Error &e) {
            throw bad_request("messages[" + std::to_string(i) + "]: " + e.what());
        }
    }
    g.prompt = model.encode_prompt(model.render_chat(list, f.find("tools"), nullptr));
    g.format = std::make_unique<OllamaFormat>(true, model.name());
    run_generation(reply, std::move(g));
}

void generate(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const json::object body = parse_body(request.body());
    const Fields f(body);
    ModelHost &model = state.require(model_name(f));
    Generation g;
    g.params = ollama_params(f, state.options.max_tokens);
    g.stream = f.boolean("stream").value_or(true);
    g.model = &model;
    g.flavor = Flavor::ollama;
    const std::string prompt = f.string("prompt").value_or("");
    if (prompt.empty())
        return reply->send(json_response(json::object{{"model", model.name()},
                                                      {"created_at", rfc3339_now()},
                                                      {"response", ""},
                                                      {"done", true},
                                                      {"done_reason", "load"}}));
    if (f.boolean("raw").value_or(false)) {
        g.prompt = model.encode_prompt(prompt);
    } else {
        // The prompt is a user turn of the model's chat format, after the system message.
        std::vector<chat::Message> list;
        if (auto system = f.string("system"); system && !system->empty())
            list.push_back({"system", json::string(*system), {}, {}, {}, {}});
        list.push_back({"user", json::string(prompt), {}, {}, {}, {}});
        g.prompt = model.encode_prompt(model.render_chat(list, nullptr, nullptr));
    }
    g.format = std::make_unique<OllamaFormat>(false, model.name());
    run_generation(reply, std::move(g));
}

json::object details(const ModelHost &m) {
    if (!m.ready())
        return {{"format", "gguf"}};
    const ModelDetails &d = m.details();
    return {{"parent_model", ""},
            {"format", "gguf"},
            {"family", d.family},
            {"families", json::array{json::string(d.family)}},
            {"parameter_size", d.parameter_size},
            {"quantization_level", d.quantization}};
}

json::object listing(const ModelHost &m) {
    json::object o{{"name", m.name()}, {"model", m.name()}};
    if (m.ready()) {
        o["modified_at"] = rfc3339(m.details().modified);
        o["size"] = m.details().size_bytes;
        o["digest"] = m.details().digest;
    }
    o["details"] = details(m);
    return o;
}

void tags(ServerState &state, Request &, const std::shared_ptr<Reply> &reply) {
    json::array models;
    for (const auto &m : state.models)
        models.push_back(listing(*m));
    reply->send(json_response(json::object{{"models", std::move(models)}}));
}

void ps(ServerState &state, Request &, const std::shared_ptr<Reply> &reply) {
    json::array models;
    for (const auto &m : state.models) {
        if (!m->ready())
            continue;
        json::object o = listing(*m);
        o["expires_at"] = "9999-12-31T23:59:59Z"; // loaded for the server's lifetime
        const auto plan = m->plan();
        if (!plan)
            continue;
        uint64_t vram = 0;
        for (const auto &[device, bytes] : plan->loaded.model->model->bytes_per_device())
            if (device != "cpu")
                vram += bytes;
        o["size_vram"] = vram;
        o["context_length"] = m->n_ctx();
        o["graft"] = plan_json(*m, *plan);
        models.push_back(std::move(o));
    }
    reply->send(json_response(json::object{{"models", std::move(models)}}));
}

void show(ServerState &state, Request &request, const std::shared_ptr<Reply> &reply) {
    const json::object body = parse_body(request.body());
    const Fields f(body);
    ModelHost &m = state.require(model_name(f));
    const models::HParams &hp = m.tree().hparams;
    const std::string &arch = hp.arch;
    json::object info{{"general.architecture", arch},
                      {"general.parameter_count", m.details().n_params},
                      {arch + ".context_length", hp.n_ctx_train},
                      {arch + ".embedding_length", hp.n_embd},
                      {arch + ".block_count", hp.n_layer},
                      {arch + ".attention.head_count", hp.n_head},
                      {arch + ".attention.head_count_kv", hp.n_head_kv},
                      {"tokenizer.ggml.model", m.tokenizer().model()},
                      {"tokenizer.ggml.pre", m.tokenizer().pre()},
                      {"tokenizer.ggml.vocab_size", m.tokenizer().n_vocab()}};
    if (hp.n_expert > 0) {
        info[arch + ".expert_count"] = hp.n_expert;
        info[arch + ".expert_used_count"] = hp.n_expert_used;
    }
    const std::string name = m.file().get_string("general.name", "");
    if (!name.empty())
        info["general.name"] = name;
    const std::string path = m.file().name();
    reply->send(json_response(json::object{
        {"modelfile", "# served by graft\nFROM " + path + "\n"},
        {"parameters", ""},
        {"template", m.template_source().empty() ? "(built-in " + m.template_label() + " format)"
                                                 : m.template_source()},
        {"details", details(m)},
        {"model_info", std::move(info)},
        {"capabilities", json::array{"completion"}},
        {"modified_at", rfc3339(m.details().modified)}}));
}

void version(ServerState &, Request &, const std::shared_ptr<Reply> &reply) {
    reply->send(json_response(json::object{{"version", GRAFT_VERSION}}));
}

} // namespace

std::vector<Route> ollama_routes() {
    return {
        {http::verb::get, "/api/version", Flavor::ollama, false, version},
        {http::verb::get, "/api/tags", Flavor::ollama, false, tags},
        {http::verb::get, "/api/ps", Flavor::ollama, false, ps},
        {http::verb::post, "/api/show", Flavor::ollama, false, show},
        {http::verb::post, "/api/chat", Flavor::ollama, false, chat},
        {http::verb::post, "/api/generate", Flavor::ollama, false, generate},
    };
}

} // namespace graft::server
