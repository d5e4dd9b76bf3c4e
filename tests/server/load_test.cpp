// 16 concurrent streamed greedy requests against 4 slots: every one completes, and each
// output equals the same request run alone (continuous batching must not change results).
// Prints time to first token and inter-token latency percentiles; asserts no timings.
#include "harness.h"

#include <graft/testing/process.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <thread>

namespace graft::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct StreamRun {
    std::string text;
    double ttft_ms = 0;
    std::vector<double> gaps_ms; // between content chunks
    std::string finish_reason;
    std::string error;
};

json::object request(int i) {
    return {
        {"model", "load"},
        {"messages", json::array{json::object{{"role", "user"},
                                              {"content", "Request " + std::to_string(i) +
                                                              ": say something about the number " +
                                                              std::to_string(i * 7919 % 1000)}}}},
        {"max_tokens", 24},
        {"temperature", 0},
        {"ignore_eos", true},
        {"stream", true}};
}

StreamRun run_stream(uint16_t port, int i) {
    StreamRun run;
    std::string pending;
    const auto start = Clock::now();
    Clock::time_point last{};
    try {
        const HttpResponse head = http_stream(
            port, "/v1/chat/completions", request(i),
            [&](const std::string &data, Clock::time_point at) {
                pending += data;
                size_t cut;
                while ((cut = pending.find("\n\n")) != std::string::npos) {
                    const std::string event = pending.substr(0, cut);
                    pending.erase(0, cut + 2);
                    if (event.rfind("data: {", 0) != 0)
                        continue;
                    const json::value chunk = json::parse(event.substr(6));
                    const json::value &choice = chunk.at("choices").at(0);
                    if (!choice.at("finish_reason").is_null())
                        run.finish_reason = choice.at("finish_reason").as_string();
                    const json::value *content =
                        choice.at("delta").as_object().if_contains("content");
                    if (!content || content->as_string().empty())
                        continue;
                    if (run.text.empty() && last == Clock::time_point{})
                        run.ttft_ms = std::chrono::duration<double, std::milli>(at - start).count();
                    else
                        run.gaps_ms.push_back(
                            std::chrono::duration<double, std::milli>(at - last).count());
                    last = at;
                    run.text += content->as_string();
                }
            });
        if (head.status != 200)
            run.error = "status " + std::to_string(head.status) + ": " + head.body;
    } catch (const std::exception &e) {
        run.error = e.what();
    }
    return run;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const size_t at =
        std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    return v[at];
}

TEST(ServerLoad, ConcurrentStreamsMatchSoloRuns) {
    if (auto why = server_unavailable())
        GTEST_SKIP() << *why;
    TempDir dir;
    const auto model = dir.path() / "load.gguf";
    std::filesystem::copy_file(tiny_model(), model);
    ServeProcess server({model.string(), "--threads", "1", "--ctx", "256", "--parallel", "4"});
    constexpr int kRequests = 16;

    std::vector<StreamRun> solo(kRequests);
    for (int i = 0; i < kRequests; ++i) {
        solo[i] = run_stream(server.port(), i);
        ASSERT_TRUE(solo[i].error.empty()) << solo[i].error;
    }

    std::vector<StreamRun> together(kRequests);
    std::vector<std::thread> threads;
    for (int i = 0; i < kRequests; ++i)
        threads.emplace_back([&, i] { together[i] = run_stream(server.port(), i); });
    for (std::thread &t : threads)
        t.join();

    std::vector<double> ttft, gaps;
    for (int i = 0; i < kRequests; ++i) {
        ASSERT_TRUE(together[i].error.empty()) << "request " << i << ": " << together[i].error;
        EXPECT_EQ(together[i].finish_reason, "length") << "request " << i;
        EXPECT_EQ(together[i].text, solo[i].text)
            << "request " << i << " gave other text when batched with others";
        ttft.push_back(together[i].ttft_ms);
        gaps.insert(gaps.end(), together[i].gaps_ms.begin(), together[i].gaps_ms.end());
    }
    std::printf("[ load     ] %d concurrent streams, 4 slots: TTFT p50 %.1f ms p99 %.1f ms; "
                "inter-token p50 %.2f ms p99 %.2f ms\n",
                kRequests, percentile(ttft, 0.5), percentile(ttft, 0.99), percentile(gaps, 0.5),
                percentile(gaps, 0.99));
    EXPECT_EQ(server.stop(), 0);
}

} // namespace
} // namespace graft::testing
