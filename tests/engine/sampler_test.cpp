#include <graft/engine/sampler.h>

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace {

using graft::engine::Sampler;
using graft::engine::SamplingParams;

std::vector<float> logits() { return {1.0f, 3.0f, 2.5f, -1.0f, 0.5f, 2.9f}; }

int32_t draw(Sampler &s, std::vector<float> l, const std::vector<int32_t> &hist = {}) {
    return s.sample(l, hist);
}

TEST(Sampler, GreedyTakesTheLargestLogit) {
    SamplingParams p;
    p.temperature = 0;
    Sampler s(p);
    EXPECT_EQ(draw(s, logits()), 1);
}

TEST(Sampler, SameSeedSameTokens) {
    SamplingParams p;
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    Sampler a(p), b(p);
    std::vector<int32_t> ta, tb;
    for (int i = 0; i < 200; ++i) {
        ta.push_back(draw(a, logits()));
        tb.push_back(draw(b, logits()));
    }
    EXPECT_EQ(ta, tb);
    p.seed += 1;
    Sampler c(p);
    std::vector<int32_t> tc;
    for (int i = 0; i < 200; ++i)
        tc.push_back(draw(c, logits()));
    EXPECT_NE(ta, tc);
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
    SamplingParams p;
    p.temperature = 5;
    p.top_k = 1;
    Sampler s(p);
    for (int i = 0; i < 50; ++i)
        EXPECT_EQ(draw(s, logits()), 1);
}

TEST(Sampler, TopPKeepsTheSmallestSetAboveP) {
    SamplingParams p;
    p.temperature = 1;
    p.top_k = 0;
    p.min_p = 0;
    p.top_p = 0.3f; // token 1 alone holds more than 30% of the mass
    Sampler s(p);
    for (int i = 0; i < 50; ++i)
        EXPECT_EQ(draw(s, logits()), 1);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
    SamplingParams p;
    p.temperature = 1;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0.5f; // keeps tokens with p >= 0.5 * p(best): 1, 5, 2
    Sampler s(p);
    std::map<int32_t, int> seen;
    for (int i = 0; i < 2000; ++i)
        ++seen[draw(s, logits())];
    for (const auto &[id, n] : seen)
        EXPECT_TRUE(id == 1 || id == 5 || id == 2) << "token " << id << " drawn " << n;
    EXPECT_EQ(seen.size(), 3u);
}

TEST(Sampler, TemperatureFollowsTheSoftmax) {
    SamplingParams p;
    p.temperature = 1;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    Sampler s(p);
    std::vector<float> l = {0.0f, std::log(3.0f)}; // p = 1/4, 3/4
    int ones = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i)
        ones += draw(s, l) == 1;
    EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.02);
}

TEST(Sampler, RepeatPenaltyDemotesRecentTokens) {
    SamplingParams p;
    p.temperature = 0;
    p.repeat_penalty = 2.0f; // 3.0 -> 1.5, below 2.9
    Sampler s(p);
    EXPECT_EQ(draw(s, logits(), {1}), 5);
    p.repeat_last_n = 1; // only the last token counts
    Sampler t(p);
    EXPECT_EQ(draw(t, logits(), {1, 4}), 1);
}

TEST(Sampler, FrequencyAndPresencePenalties) {
    SamplingParams p;
    p.temperature = 0;
    p.frequency_penalty = 0.1f; // token 1 seen twice: 3.0 - 0.2 = 2.8 < 2.9
    Sampler s(p);
    EXPECT_EQ(draw(s, logits(), {1, 1}), 5);
    SamplingParams q;
    q.temperature = 0;
    q.presence_penalty = 0.2f; // once seen: 3.0 - 0.2 = 2.8 < 2.9
    Sampler t(q);
    EXPECT_EQ(draw(t, logits(), {1}), 5);
    EXPECT_EQ(draw(t, logits(), {}), 1);
}

} // namespace
