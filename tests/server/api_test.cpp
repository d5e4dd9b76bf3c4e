// The HTTP API of `graft serve` against a real server process with a tiny random model:
// every endpoint's shape, streaming framing, errors and limits, CORS, metrics.
#include "harness.h"

#include <graft/testing/process.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cctype>
#include <memory>
#include <set>

namespace graft::testing {
namespace {

namespace json = boost::json;

constexpr const char *kModel = "server-tiny";

// One server for the whole suite; the model file is copied to a fixed name so that the
// model's name (the file stem) is known.
class ServerApi : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (server_unavailable())
            return;
        dir_ = new TempDir();
        const auto model = dir_->path() / (std::string(kModel) + ".gguf");
        std::filesystem::copy_file(tiny_model(), model);
        server_ = new ServeProcess({model.string(), "--threads", "1", "--ctx", "512", "--parallel",
                                    "2", "--max-tokens", "48", "--body-limit", "65536",
                                    "--cors-origin", "http://allowed.example"});
    }
    static void TearDownTestSuite() {
        if (server_) {
            EXPECT_EQ(server_->stop(), 0) << "graft serve did not shut down cleanly:\n"
                                          << server_->stderr_text();
        }
        delete server_;
        delete dir_;
        server_ = nullptr;
        dir_ = nullptr;
    }
    void SetUp() override {
        if (auto why = server_unavailable())
            GTEST_SKIP() << *why;
        ASSERT_NE(server_, nullptr);
    }
    static uint16_t port() { return server_->port(); }
    static json::object chat_body(const std::string &text, int max_tokens = 8) {
        return {{"model", kModel},
                {"messages", json::array{json::object{{"role", "user"}, {"content", text}}}},
                {"max_tokens", max_tokens},
                {"temperature", 0}};
    }
    static std::string metrics() { return http_get(port(), "/metrics").body; }

    static TempDir *dir_;
    static ServeProcess *server_;
};

TempDir *ServerApi::dir_ = nullptr;
ServeProcess *ServerApi::server_ = nullptr;

TEST_F(ServerApi, HealthAndChatPage) {
    const HttpResponse health = http_get(port(), "/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.json().at("status"), "ok");

    const HttpResponse page = http_get(port(), "/");
    EXPECT_EQ(page.status, 200);
    EXPECT_NE(page.header("content-type").find("text/html"), std::string::npos);
    EXPECT_NE(page.body.find("<script src=\"/app.js\""), std::string::npos);
    for (const char *asset : {"/app.js", "/markdown.js", "/style.css"}) {
        const HttpResponse r = http_get(port(), asset);
        EXPECT_EQ(r.status, 200) << asset;
        EXPECT_GT(r.body.size(), 100u) << asset;
    }
}

TEST_F(ServerApi, OpenAIModels) {
    const json::value list = http_get(port(), "/v1/models").json();
    EXPECT_EQ(list.at("object"), "list");
    ASSERT_EQ(list.at("data").as_array().size(), 1u);
    EXPECT_EQ(list.at("data").at(0).at("id"), kModel);
    EXPECT_EQ(list.at("data").at(0).at("object"), "model");
    EXPECT_EQ(http_get(port(), std::string("/v1/models/") + kModel).json().at("id"), kModel);
    const HttpResponse missing = http_get(port(), "/v1/models/nope");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.json().at("error").at("code"), "model_not_found");
}

TEST_F(ServerApi, ChatCompletionShape) {
    const HttpResponse r = http_post(port(), "/v1/chat/completions", chat_body("Hello there"));
    ASSERT_EQ(r.status, 200) << r.body;
    const json::value v = r.json();
    EXPECT_EQ(v.at("object"), "chat.completion");
    EXPECT_EQ(v.at("model"), kModel);
    EXPECT_EQ(v.at("id").as_string().subview().substr(0, 9), "chatcmpl-");
    EXPECT_TRUE(v.at("created").is_int64());
    const json::value &choice = v.at("choices").at(0);
    EXPECT_EQ(choice.at("index"), 0);
    EXPECT_EQ(choice.at("message").at("role"), "assistant");
    EXPECT_TRUE(choice.at("message").at("content").is_string());
    const std::string finish(choice.at("finish_reason").as_string());
    EXPECT_TRUE(finish == "stop" || finish == "length") << finish;
    const json::value &usage = v.at("usage");
    EXPECT_GT(usage.at("prompt_tokens").as_int64(), 0);
    EXPECT_LE(usage.at("completion_tokens").as_int64(), 8);
    EXPECT_EQ(usage.at("total_tokens").as_int64(),
              usage.at("prompt_tokens").as_int64() + usage.at("completion_tokens").as_int64());
}

TEST_F(ServerApi, IgnoreEosGivesExactLengthAndServerCapApplies) {
    json::object body = chat_body("Count with me", 5);
    body["ignore_eos"] = true;
    json::value v = http_post(port(), "/v1/chat/completions", body).json();
    EXPECT_EQ(v.at("usage").at("completion_tokens"), 5);
    EXPECT_EQ(v.at("choices").at(0).at("finish_reason"), "length");
    // --max-tokens 48 caps what a request may ask for.
    body["max_tokens"] = 400;
    v = http_post(port(), "/v1/chat/completions", body).json();
    EXPECT_EQ(v.at("usage").at("completion_tokens"), 48);
    EXPECT_EQ(v.at("choices").at(0).at("finish_reason"), "length");
}

TEST_F(ServerApi, ChatStreamFraming) {
    json::object body = chat_body("Tell me something", 12);
    body["ignore_eos"] = true;
    const std::string whole(http_post(port(), "/v1/chat/completions", body)
                                .json()
                                .at("choices")
                                .at(0)
                                .at("message")
                                .at("content")
                                .as_string());

    body["stream"] = true;
    body["stream_options"] = json::object{{"include_usage", true}};
    std::string raw;
    const HttpResponse head = http_stream(port(), "/v1/chat/completions", body,
                                          [&](const std::string &data, auto) { raw += data; });
    ASSERT_EQ(head.status, 200);
    EXPECT_EQ(head.header("content-type"), "text/event-stream");
    EXPECT_EQ(head.header("transfer-encoding"), "chunked");
    const std::vector<std::string> events = sse_data(raw);
    ASSERT_GE(events.size(), 4u) << raw;
    EXPECT_EQ(events.back(), "[DONE]");
    std::set<std::string> ids;
    std::string text;
    bool finished = false, usage_seen = false;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
        const json::value chunk = json::parse(events[i]);
        EXPECT_EQ(chunk.at("object"), "chat.completion.chunk");
        ids.insert(std::string(chunk.at("id").as_string()));
        const json::array &choices = chunk.at("choices").as_array();
        if (choices.empty()) { // the usage chunk, last before [DONE]
            EXPECT_EQ(i + 2, events.size());
            EXPECT_EQ(chunk.at("usage").at("completion_tokens"), 12);
            usage_seen = true;
            continue;
        }
        const json::value &delta = choices.at(0).at("delta");
        if (i == 0) {
            EXPECT_EQ(delta.at("role"), "assistant");
        }
        if (const json::value *c = delta.as_object().if_contains("content"))
            text += c->as_string();
        if (!choices.at(0).at("finish_reason").is_null()) {
            EXPECT_EQ(choices.at(0).at("finish_reason"), "length");
            finished = true;
        }
    }
    EXPECT_EQ(ids.size(), 1u) << "every chunk carries the same id";
    EXPECT_TRUE(finished);
    EXPECT_TRUE(usage_seen);
    EXPECT_EQ(text, whole) << "greedy text streamed equals the same request not streamed";
}

TEST_F(ServerApi, TextCompletions) {
    json::object body{{"model", kModel},
                      {"prompt", "Once upon a time"},
                      {"max_tokens", 6},
                      {"temperature", 0},
                      {"ignore_eos", true}};
    const json::value v = http_post(port(), "/v1/completions", body).json();
    EXPECT_EQ(v.at("object"), "text_completion");
    EXPECT_EQ(v.at("choices").at(0).at("finish_reason"), "length");
    EXPECT_EQ(v.at("usage").at("completion_tokens"), 6);
    const std::string whole(v.at("choices").at(0).at("text").as_string());

    body["stream"] = true;
    std::string raw;
    http_stream(port(), "/v1/completions", body, [&](const std::string &d, auto) { raw += d; });
    const auto events = sse_data(raw);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]");
    std::string text;
    for (size_t i = 0; i + 1 < events.size(); ++i)
        text += json::parse(events[i]).at("choices").at(0).at("text").as_string();
    EXPECT_EQ(text, whole);

    // Token ids work as a prompt too.
    const json::value ids =
        http_post(port(), "/tokenize", json::object{{"content", "Once upon"}}).json().at("tokens");
    body = {{"model", kModel}, {"prompt", ids}, {"max_tokens", 2}, {"ignore_eos", true}};
    EXPECT_EQ(http_post(port(), "/v1/completions", body).status, 200);
}

TEST_F(ServerApi, StopStringsAreNotShown) {
    json::object body{{"model", kModel},
                      {"prompt", "abc"},
                      {"max_tokens", 24},
                      {"temperature", 0},
                      {"ignore_eos", true}};
    const std::string full(http_post(port(), "/v1/completions", body)
                               .json()
                               .at("choices")
                               .at(0)
                               .at("text")
                               .as_string());
    // Two ASCII letters after the start (the random model's text is mostly not ASCII;
    // a stop string must not cut a UTF-8 character).
    size_t at = 1;
    while (at + 1 < full.size() && !(std::isalnum(static_cast<unsigned char>(full[at])) &&
                                     std::isalnum(static_cast<unsigned char>(full[at + 1]))))
        ++at;
    ASSERT_LT(at + 1, full.size()) << "no ASCII pair in: " << full;
    const std::string stop = full.substr(at, 2);
    body["stop"] = stop;
    const json::value v = http_post(port(), "/v1/completions", body).json();
    const std::string cut(v.at("choices").at(0).at("text").as_string());
    EXPECT_EQ(cut, full.substr(0, full.find(stop)));
    EXPECT_EQ(v.at("choices").at(0).at("finish_reason"), "stop");
}

TEST_F(ServerApi, OpenAIErrors) {
    auto error_of = [](const HttpResponse &r) { return r.json().at("error"); };
    HttpResponse r = http_request(port(), "POST", "/v1/chat/completions", "{not json");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r).at("type"), "invalid_request_error");
    EXPECT_NE(std::string(error_of(r).at("message").as_string()).find("JSON"), std::string::npos);

    json::object body = chat_body("hi");
    body["n"] = 2;
    r = http_post(port(), "/v1/chat/completions", body);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r).at("param"), "n");

    body = chat_body("hi");
    body["temperature"] = "hot";
    r = http_post(port(), "/v1/chat/completions", body);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r).at("param"), "temperature");

    body = chat_body("hi");
    body["model"] = "no-such-model";
    r = http_post(port(), "/v1/chat/completions", body);
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(error_of(r).at("code"), "model_not_found");

    body = chat_body("hi");
    body["messages"] = json::array{};
    EXPECT_EQ(http_post(port(), "/v1/chat/completions", body).status, 400);
    body["messages"] = json::array{json::object{{"content", "no role"}}};
    EXPECT_EQ(http_post(port(), "/v1/chat/completions", body).status, 400);

    // A prompt longer than the context (512) is refused before generation.
    std::string longer;
    for (int i = 0; i < 600; ++i)
        longer += "word" + std::to_string(i) + " ";
    r = http_post(port(), "/v1/chat/completions", chat_body(longer));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r).at("code"), "context_length_exceeded");

    r = http_get(port(), "/v1/nothing-here");
    EXPECT_EQ(r.status, 404);
    r = http_get(port(), "/v1/chat/completions");
    EXPECT_EQ(r.status, 405);
}

TEST_F(ServerApi, BodyLimit) {
    const std::string big(70000, 'x');
    json::object body = chat_body(big);
    const HttpResponse r = http_post(port(), "/v1/chat/completions", body);
    EXPECT_EQ(r.status, 413);
    // The server is fine afterwards.
    EXPECT_EQ(http_get(port(), "/health").status, 200);
}

TEST_F(ServerApi, MalformedHttpIsRefusedNotFatal) {
    const std::string reply = raw_exchange(port(), "THIS IS NOT HTTP\r\n\r\n");
    EXPECT_NE(reply.find(" 400 "), std::string::npos) << reply;
    const std::string chunked =
        raw_exchange(port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Transfer-Encoding: chunked\r\n\r\nZZZ\r\n");
    EXPECT_NE(chunked.find(" 400 "), std::string::npos) << chunked;
    EXPECT_EQ(http_get(port(), "/health").status, 200);
}

TEST_F(ServerApi, KeepAliveServesSeveralRequestsOnOneConnection) {
    const std::string two =
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    const std::string reply = raw_exchange(port(), two);
    size_t first = reply.find("HTTP/1.1 200");
    ASSERT_NE(first, std::string::npos);
    EXPECT_NE(reply.find("HTTP/1.1 200", first + 1), std::string::npos) << reply;
    EXPECT_NE(reply.find("\"object\":\"list\""), std::string::npos);
}

TEST_F(ServerApi, HostHeaderGuardsAgainstDnsRebinding) {
    EXPECT_EQ(
        http_get(port(), "/v1/models", {{"Host", "evil.example:" + std::to_string(port())}}).status,
        403);
    EXPECT_EQ(http_get(port(), "/v1/models", {{"Host", "localhost:1"}}).status, 403);
    EXPECT_EQ(
        http_get(port(), "/v1/models", {{"Host", "localhost:" + std::to_string(port())}}).status,
        200);
    EXPECT_EQ(http_get(port(), "/v1/models", {{"Host", "[::1]:" + std::to_string(port())}}).status,
              200);
}

TEST_F(ServerApi, Cors) {
    const HeaderList preflight = {
        {"Origin", "http://allowed.example"},
        {"Access-Control-Request-Method", "POST"},
        {"Access-Control-Request-Headers", "content-type, authorization"}};
    HttpResponse r = http_request(port(), "OPTIONS", "/v1/chat/completions", {}, preflight);
    EXPECT_EQ(r.status, 204);
    EXPECT_EQ(r.header("access-control-allow-origin"), "http://allowed.example");
    EXPECT_NE(r.header("access-control-allow-methods").find("POST"), std::string::npos);
    EXPECT_NE(r.header("access-control-allow-headers").find("authorization"), std::string::npos);

    r = http_get(port(), "/v1/models", {{"Origin", "http://allowed.example"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("access-control-allow-origin"), "http://allowed.example");

    r = http_request(
        port(), "OPTIONS", "/v1/chat/completions", {},
        {{"Origin", "http://evil.example"}, {"Access-Control-Request-Method", "POST"}});
    EXPECT_EQ(r.status, 403);
    EXPECT_FALSE(r.has_header("access-control-allow-origin"));
    r = http_get(port(), "/v1/models", {{"Origin", "http://evil.example"}});
    EXPECT_EQ(r.status, 403);
    EXPECT_FALSE(r.has_header("access-control-allow-origin"));

    // The chat page's own requests are same-origin.
    r = http_get(port(), "/v1/models", {{"Origin", server_->url()}});
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.has_header("access-control-allow-origin"));
}

TEST_F(ServerApi, TokenizeRoundTrip) {
    const std::string text = "Hello, server world!";
    const json::value t = http_post(port(), "/tokenize", json::object{{"content", text}}).json();
    ASSERT_FALSE(t.at("tokens").as_array().empty());
    const json::value d =
        http_post(port(), "/detokenize", json::object{{"tokens", t.at("tokens")}}).json();
    EXPECT_EQ(d.at("content"), json::value(text));
    EXPECT_EQ(http_post(port(), "/detokenize", json::object{{"tokens", json::array{-1}}}).status,
              400);
    EXPECT_EQ(http_post(port(), "/tokenize", json::object{{"text", text}}).status, 400);
}

TEST_F(ServerApi, MetricsCountRequestsAndTokens) {
    const std::string before = metrics();
    const std::string series = "graft_http_requests_total{endpoint=\"/v1/models\",status=\"200\"}";
    const double models_before = metric(before, series).value_or(0);
    http_get(port(), "/v1/models");
    http_get(port(), "/v1/models");
    json::object body = chat_body("metrics please", 4);
    body["ignore_eos"] = true;
    const json::value v = http_post(port(), "/v1/chat/completions", body).json();
    const std::string after = metrics();
    EXPECT_EQ(metric(after, series).value_or(0) - models_before, 2);
    const std::string model = std::string("{model=\"") + kModel + "\"}";
    EXPECT_EQ(metric(after, "graft_generated_tokens_total" + model).value_or(0) -
                  metric(before, "graft_generated_tokens_total" + model).value_or(0),
              4);
    EXPECT_EQ(metric(after, "graft_prompt_tokens_total" + model).value_or(0) -
                  metric(before, "graft_prompt_tokens_total" + model).value_or(0),
              static_cast<double>(v.at("usage").at("prompt_tokens").as_int64()));
    EXPECT_EQ(metric(after, "graft_slots" + model), 2);
    EXPECT_EQ(metric(after, "graft_kv_tokens_total" + model), 2 * 512);
    EXPECT_EQ(metric(after, "graft_active_requests" + model), 0);
    EXPECT_EQ(metric(after, "graft_queue_depth" + model), 0);
    EXPECT_GT(metric(after, "graft_kv_tokens_used" + model).value_or(0), 0);
    EXPECT_GT(metric(after, "graft_decode_seconds_total" + model).value_or(0) +
                  metric(after, "graft_prefill_seconds_total" + model).value_or(0),
              0);
    EXPECT_EQ(metric(after, "graft_model_ready" + model), 1);
}

TEST_F(ServerApi, SecondChatTurnReusesThePromptPrefix) {
    const json::array turn1 = {
        json::object{{"role", "system"}, {"content", "You are a careful assistant."}},
        json::object{{"role", "user"}, {"content", "Tell me a long story about a lighthouse."}}};
    json::object body{{"model", kModel},
                      {"messages", turn1},
                      {"max_tokens", 6},
                      {"temperature", 0},
                      {"ignore_eos", true}};
    const json::value first = http_post(port(), "/v1/chat/completions", body).json();
    json::array turn2 = turn1;
    turn2.push_back(first.at("choices").at(0).at("message"));
    turn2.push_back(json::object{{"role", "user"}, {"content", "And then what happened?"}});
    body["messages"] = turn2;

    const std::string model = std::string("{model=\"") + kModel + "\"}";
    const double reused_before =
        metric(metrics(), "graft_prompt_tokens_reused_total" + model).value_or(0);
    const json::value second = http_post(port(), "/v1/chat/completions", body).json();
    const double reused =
        metric(metrics(), "graft_prompt_tokens_reused_total" + model).value_or(0) - reused_before;
    EXPECT_GT(reused, first.at("usage").at("prompt_tokens").as_int64() / 2)
        << "the second turn should reuse the first turn's prompt";

    // usage counts the whole prompt, reused or not: as many tokens as the prompt has.
    const json::value prompt =
        http_post(port(), "/apply-template", json::object{{"messages", turn2}}).json().at("prompt");
    const json::value tokens =
        http_post(port(), "/tokenize", json::object{{"content", prompt}, {"add_special", true}})
            .json()
            .at("tokens");
    EXPECT_EQ(second.at("usage").at("prompt_tokens").as_int64(),
              static_cast<int64_t>(tokens.as_array().size()));
}

TEST_F(ServerApi, OllamaListingEndpoints) {
    EXPECT_FALSE(http_get(port(), "/api/version").json().at("version").as_string().empty());
    const json::value tags = http_get(port(), "/api/tags").json();
    ASSERT_EQ(tags.at("models").as_array().size(), 1u);
    const json::value &m = tags.at("models").at(0);
    EXPECT_EQ(m.at("name"), kModel);
    EXPECT_GT(m.at("size").to_number<uint64_t>(), 0u);
    EXPECT_EQ(m.at("details").at("family"), "llama");
    EXPECT_EQ(m.at("details").at("format"), "gguf");

    const json::value ps = http_get(port(), "/api/ps").json();
    ASSERT_EQ(ps.at("models").as_array().size(), 1u);
    EXPECT_EQ(ps.at("models").at(0).at("name"), kModel);

    const json::value show =
        http_post(port(), "/api/show", json::object{{"model", std::string(kModel) + ":latest"}})
            .json();
    EXPECT_EQ(show.at("model_info").at("general.architecture"), "llama");
    EXPECT_TRUE(show.at("template").is_string());
    EXPECT_EQ(show.at("details").at("family"), "llama");
    const HttpResponse missing = http_post(port(), "/api/show", json::object{{"model", "nope"}});
    EXPECT_EQ(missing.status, 404);
    EXPECT_TRUE(missing.json().at("error").is_string());
}

TEST_F(ServerApi, OllamaChatAndGenerate) {
    const json::object options{{"temperature", 0}, {"num_predict", 7}, {"seed", 3}};
    json::object body{{"model", kModel},
                      {"messages", json::array{json::object{{"role", "user"}, {"content", "Hi"}}}},
                      {"stream", false},
                      {"options", options}};
    const json::value whole = http_post(port(), "/api/chat", body).json();
    EXPECT_EQ(whole.at("done"), true);
    EXPECT_EQ(whole.at("message").at("role"), "assistant");
    EXPECT_LE(whole.at("eval_count").as_int64(), 7);
    for (const char *key : {"total_duration", "load_duration", "prompt_eval_count",
                            "prompt_eval_duration", "eval_count", "eval_duration"})
        EXPECT_TRUE(whole.at(key).is_int64()) << key;
    EXPECT_GT(whole.at("total_duration").as_int64(), 0);

    // Streaming is the default: NDJSON lines, then the final one with the counts.
    body.erase("stream");
    std::string raw;
    const HttpResponse head =
        http_stream(port(), "/api/chat", body, [&](const std::string &d, auto) { raw += d; });
    EXPECT_EQ(head.header("content-type"), "application/x-ndjson");
    const auto lines = ndjson(raw);
    ASSERT_GE(lines.size(), 1u);
    std::string text;
    for (size_t i = 0; i < lines.size(); ++i) {
        EXPECT_EQ(lines[i].at("done"), i + 1 == lines.size());
        text += lines[i].at("message").at("content").as_string();
    }
    EXPECT_EQ(text, whole.at("message").at("content").as_string());
    EXPECT_EQ(lines.back().at("eval_count"), whole.at("eval_count"));
    EXPECT_TRUE(lines.back().at("done_reason").is_string());

    json::object gen{{"model", kModel},
                     {"prompt", "Why is the sky blue?"},
                     {"stream", false},
                     {"options", options}};
    const json::value g = http_post(port(), "/api/generate", gen).json();
    EXPECT_TRUE(g.at("response").is_string());
    EXPECT_EQ(g.at("done"), true);
    gen["raw"] = true;
    const json::value raw_g = http_post(port(), "/api/generate", gen).json();
    EXPECT_LT(raw_g.at("prompt_eval_count").as_int64(), g.at("prompt_eval_count").as_int64())
        << "raw skips the chat template";

    const HttpResponse bad = http_request(port(), "POST", "/api/chat", "[1,2");
    EXPECT_EQ(bad.status, 400);
    EXPECT_TRUE(bad.json().at("error").is_string());
    body["model"] = "missing";
    EXPECT_EQ(http_post(port(), "/api/chat", body).status, 404);
}

} // namespace
} // namespace graft::testing
