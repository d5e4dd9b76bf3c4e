// Switching a served model's rules without a restart: POST /admin/rules under concurrent
// streamed load loses no request and changes the kernels /metrics and /api/ps report; a bad
// rules file is refused and the old plan keeps serving; the API key guards the endpoint;
// --watch-rules follows the file; cached prompts carry over when attention stays put.
#include "harness.h"

#include <graft/testing/process.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

namespace graft::testing {
namespace {

namespace json = boost::json;

#define REQUIRE_SERVER()                                                                           \
    do {                                                                                           \
        if (auto why = server_unavailable())                                                       \
            GTEST_SKIP() << *why;                                                                  \
    } while (false)

// Linear layers through one kernel of amx-cpu, attention through another; the rest takes
// the CPU's defaults.
std::string rules_text(const std::string &linear, const std::string &attention = "attention") {
    return "- match: {class: Linear}\n  replace: {kernel: amx-cpu/" + linear +
           ", device: cpu}\n- match: {class: Attention}\n  replace: {kernel: amx-cpu/" + attention +
           ", device: cpu}\n";
}

std::filesystem::path write_file(const std::filesystem::path &path, const std::string &text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
}

std::filesystem::path named_model(const TempDir &dir, const std::string &name) {
    const auto path = dir.path() / (name + ".gguf");
    std::filesystem::copy_file(tiny_model(), path);
    return path;
}

// Modules bound to `kernel` for decode in the plan /metrics reports.
double kernel_modules(uint16_t port, const std::string &model, const std::string &kernel,
                      const HeaderList &headers = {}) {
    return metric(http_get(port, "/metrics", headers).body,
                  "graft_kernel_modules{model=\"" + model + "\",kernel=\"" + kernel +
                      "\",device=\"cpu\",phase=\"decode\"}")
        .value_or(0);
}

double model_metric(uint16_t port, const std::string &name, const std::string &model) {
    return metric(http_get(port, "/metrics").body, name + "{model=\"" + model + "\"}").value_or(-1);
}

template <class F> bool eventually(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        if (done())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

json::object chat(const std::string &model, const std::string &text, int max_tokens, bool stream) {
    return {{"model", model},
            {"messages", json::array{json::object{{"role", "user"}, {"content", text}}}},
            {"max_tokens", max_tokens},
            {"temperature", 0},
            {"ignore_eos", true},
            {"stream", stream}};
}

// A streamed chat to its end: "" when it finished with finish_reason length, else what
// went wrong.
std::string stream_chat(uint16_t port, const std::string &model, int i) {
    std::string body;
    try {
        const HttpResponse head =
            http_stream(port, "/v1/chat/completions",
                        chat(model, "Stream " + std::to_string(i) + " goes on.", 48, true),
                        [&](const std::string &data, auto) { body += data; });
        if (head.status != 200)
            return "status " + std::to_string(head.status) + ": " + body;
    } catch (const std::exception &e) {
        return e.what();
    }
    if (body.find("\"finish_reason\":\"length\"") == std::string::npos ||
        body.find("data: [DONE]") == std::string::npos)
        return "the stream did not end normally: ..." +
               body.substr(body.size() > 300 ? body.size() - 300 : 0);
    return {};
}

TEST(ServerRulesSwitch, UnderStreamedLoadNoRequestIsLostAndKernelsChange) {
    REQUIRE_SERVER();
    TempDir dir;
    const auto fast = write_file(dir.path() / "fast.yaml", rules_text("linear"));
    const auto ref = write_file(dir.path() / "ref.yaml", rules_text("linear_ref"));
    ServeProcess server({named_model(dir, "swap").string(), "--threads", "1", "--ctx", "512",
                         "--parallel", "2", "--rules", fast.string()});
    const uint16_t port = server.port();
    const double linears = kernel_modules(port, "swap", "amx-cpu/linear");
    ASSERT_GT(linears, 0) << http_get(port, "/metrics").body;
    EXPECT_EQ(kernel_modules(port, "swap", "amx-cpu/linear_ref"), 0);
    EXPECT_EQ(model_metric(port, "graft_plan_generation", "swap"), 1);

    // Six clients stream four requests each while the rules switch twice.
    constexpr int kClients = 6, kEach = 4;
    std::vector<std::string> errors(kClients * kEach);
    std::atomic<int> finished{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c)
        clients.emplace_back([&, c] {
            for (int k = 0; k < kEach; ++k) {
                errors[static_cast<size_t>(c * kEach + k)] =
                    stream_chat(port, "swap", c * kEach + k);
                ++finished;
            }
        });
    EXPECT_TRUE(
        eventually([&] { return model_metric(port, "graft_active_requests", "swap") > 0; }));
    const HttpResponse first =
        http_post(port, "/admin/rules", json::object{{"rules", ref.string()}});
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.json().at("generation").as_int64(), 2);
    EXPECT_EQ(first.json().at("model").as_string(), "swap");
    EXPECT_EQ(first.json().at("kv_cache").as_string(), "kept"); // attention unchanged
    EXPECT_EQ(kernel_modules(port, "swap", "amx-cpu/linear_ref"), linears);
    EXPECT_EQ(kernel_modules(port, "swap", "amx-cpu/linear"), 0);

    // The second switch, posted as text, changes the attention kernel too.
    const HttpResponse second = http_post(
        port, "/admin/rules", json::object{{"yaml", rules_text("linear", "attention_ref")}});
    ASSERT_EQ(second.status, 200) << second.body;
    EXPECT_EQ(second.json().at("generation").as_int64(), 3);
    EXPECT_EQ(second.json().at("kv_cache").as_string(), "rebuilt");
    for (std::thread &t : clients)
        t.join();
    for (size_t i = 0; i < errors.size(); ++i)
        EXPECT_EQ(errors[i], "") << "request " << i;
    EXPECT_EQ(finished.load(), kClients * kEach);

    // /api/ps says what runs now.
    const json::value ps = http_get(port, "/api/ps").json();
    const json::object &plan = ps.at("models").at(0).at("graft").as_object();
    EXPECT_EQ(plan.at("generation").as_int64(), 3);
    bool attention_ref = false, linear = false;
    for (const json::value &k : plan.at("kernels").as_array()) {
        attention_ref |= k.at("kernel").as_string() == "amx-cpu/attention_ref";
        linear |= k.at("kernel").as_string() == "amx-cpu/linear";
        EXPECT_NE(k.at("kernel").as_string(), "amx-cpu/linear_ref");
    }
    EXPECT_TRUE(attention_ref && linear) << json::serialize(plan);
    // Old plans drain once their requests are done; every request is counted once.
    EXPECT_TRUE(eventually([&] {
        return http_get(port, "/api/ps").json().at("models").at(0).at("graft").at("draining") == 0;
    }));
    EXPECT_EQ(model_metric(port, "graft_requests_finished_total", "swap"), kClients * kEach);
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();
}

TEST(ServerRulesSwitch, BadRulesAreRefusedAndTheOldPlanKeepsServing) {
    REQUIRE_SERVER();
    TempDir dir;
    ServeProcess server({named_model(dir, "keep").string(), "--threads", "1", "--ctx", "256",
                         "--rules",
                         write_file(dir.path() / "ok.yaml", rules_text("linear")).string()});
    const uint16_t port = server.port();

    HttpResponse r = http_post(
        port, "/admin/rules",
        json::object{{"yaml", "- match: {class: Linear}\n  replace: {kernel: amx-cpu/nope}\n"}});
    EXPECT_EQ(r.status, 422);
    EXPECT_EQ(r.json().at("error").at("code").as_string(), "rules_rejected");
    const std::string message(r.json().at("error").at("message").as_string());
    EXPECT_NE(message.find("unknown kernel 'amx-cpu/nope'"), std::string::npos) << message;
    EXPECT_NE(message.find("the old plan keeps serving"), std::string::npos) << message;

    r = http_post(port, "/admin/rules",
                  json::object{{"rules", (dir.path() / "missing.yaml").string()}});
    EXPECT_EQ(r.status, 422);
    EXPECT_NE(r.body.find("cannot read rules file"), std::string::npos) << r.body;
    EXPECT_EQ(http_post(port, "/admin/rules", json::object{}).status, 400);
    EXPECT_EQ(
        http_post(port, "/admin/rules", json::object{{"model", "other"}, {"rules", "x"}}).status,
        404);

    EXPECT_EQ(model_metric(port, "graft_plan_generation", "keep"), 1);
    EXPECT_EQ(model_metric(port, "graft_rules_switches_failed_total", "keep"), 2);
    EXPECT_GT(kernel_modules(port, "keep", "amx-cpu/linear"), 0);
    const HttpResponse answer =
        http_post(port, "/v1/chat/completions", chat("keep", "Still there?", 4, false));
    EXPECT_EQ(answer.status, 200) << answer.body;
    EXPECT_EQ(server.stop(), 0);
}

TEST(ServerRulesSwitch, TheApiKeyGuardsTheEndpoint) {
    REQUIRE_SERVER();
    TempDir dir;
    const auto ref = write_file(dir.path() / "ref.yaml", rules_text("linear_ref"));
    ServeProcess server({named_model(dir, "guarded").string(), "--threads", "1", "--ctx", "256",
                         "--api-key", "sesame"});
    const uint16_t port = server.port();
    const HeaderList key = {{"Authorization", "Bearer sesame"}};
    EXPECT_EQ(http_post(port, "/admin/rules", json::object{{"rules", ref.string()}}).status, 401);
    EXPECT_EQ(http_post(port, "/admin/rules", json::object{{"rules", ref.string()}},
                        {{"Authorization", "Bearer wrong"}})
                  .status,
              401);
    EXPECT_EQ(kernel_modules(port, "guarded", "amx-cpu/linear_ref", key), 0);
    const HttpResponse ok =
        http_post(port, "/admin/rules", json::object{{"rules", ref.string()}}, key);
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_GT(kernel_modules(port, "guarded", "amx-cpu/linear_ref", key), 0);
    EXPECT_EQ(server.stop(), 0);
}

TEST(ServerRulesSwitch, WatchRulesFollowsTheFile) {
    REQUIRE_SERVER();
    TempDir dir;
    const auto rules = write_file(dir.path() / "watched.yaml", rules_text("linear"));
    ServeProcess server({named_model(dir, "watched").string(), "--threads", "1", "--ctx", "256",
                         "--rules", rules.string(), "--watch-rules"});
    const uint16_t port = server.port();
    EXPECT_EQ(kernel_modules(port, "watched", "amx-cpu/linear_ref"), 0);
    // Another size, so that the change shows even within the file system's time resolution.
    write_file(rules, rules_text("linear_ref") + "# edited\n");
    EXPECT_TRUE(eventually([&] {
        return kernel_modules(port, "watched", "amx-cpu/linear_ref") > 0;
    })) << server.stderr_text();
    EXPECT_EQ(model_metric(port, "graft_plan_generation", "watched"), 2);
    // A broken edit is refused; the plan stays.
    write_file(rules, "- match: {class: Linear}\n  replace: {kernel: [}\n# broken\n");
    EXPECT_TRUE(eventually([&] {
        return model_metric(port, "graft_rules_switches_failed_total", "watched") == 1;
    })) << server.stderr_text();
    EXPECT_EQ(model_metric(port, "graft_plan_generation", "watched"), 2);
    EXPECT_EQ(http_post(port, "/v1/chat/completions", chat("watched", "Hi", 3, false)).status, 200);
    EXPECT_EQ(server.stop(), 0);
    EXPECT_NE(server.stderr_text().find("now runs the rules of"), std::string::npos)
        << server.stderr_text();
}

TEST(ServerRulesSwitch, CachedPromptsCarryOverWhenAttentionStaysPut) {
    REQUIRE_SERVER();
    TempDir dir;
    const auto fast = write_file(dir.path() / "fast.yaml", rules_text("linear"));
    const auto ref = write_file(dir.path() / "ref.yaml", rules_text("linear_ref"));
    const auto other = write_file(dir.path() / "other.yaml", rules_text("linear", "attention_ref"));
    ServeProcess server({named_model(dir, "kv").string(), "--threads", "1", "--ctx", "256",
                         "--parallel", "1", "--rules", fast.string()});
    const uint16_t port = server.port();
    const json::object question = chat("kv", "Tell me about caches and plans.", 2, false);
    ASSERT_EQ(http_post(port, "/v1/chat/completions", question).status, 200);
    const double reused0 = model_metric(port, "graft_prompt_tokens_reused_total", "kv");

    auto switch_to = [&](const std::filesystem::path &rules) {
        const HttpResponse r =
            http_post(port, "/admin/rules", json::object{{"rules", rules.string()}});
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_TRUE(eventually([&] {
            return http_get(port, "/api/ps").json().at("models").at(0).at("graft").at("draining") ==
                   0;
        }));
        return r.status == 200 ? std::string(r.json().at("kv_cache").as_string()) : "";
    };
    // Same attention: the prompt's KV moved to the new plan and is reused.
    EXPECT_EQ(switch_to(ref), "kept");
    ASSERT_EQ(http_post(port, "/v1/chat/completions", question).status, 200);
    const double reused1 = model_metric(port, "graft_prompt_tokens_reused_total", "kv");
    EXPECT_GT(reused1, reused0);
    // Another attention kernel: the cache starts empty, nothing is reused.
    EXPECT_EQ(switch_to(other), "rebuilt");
    ASSERT_EQ(http_post(port, "/v1/chat/completions", question).status, 200);
    EXPECT_EQ(model_metric(port, "graft_prompt_tokens_reused_total", "kv"), reused1);
    EXPECT_EQ(server.stop(), 0);
}

} // namespace
} // namespace graft::testing
