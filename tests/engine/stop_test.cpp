#include <graft/engine/generate.h>

#include <gtest/gtest.h>

namespace {

using graft::engine::StopMatcher;

TEST(StopMatcher, WithoutStopsTextPassesThrough) {
    StopMatcher m({});
    EXPECT_EQ(m.push("hello "), "hello ");
    EXPECT_EQ(m.push("world"), "world");
    EXPECT_EQ(m.flush(), "");
    EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, StopSplitAcrossPiecesIsCut) {
    StopMatcher m({"lo w"});
    std::string out = m.push("Hel");
    out += m.push("lo wor");
    EXPECT_TRUE(m.stopped());
    out += m.push("ld");
    out += m.flush();
    EXPECT_EQ(out, "Hel");
}

TEST(StopMatcher, PartialMatchIsHeldThenReleased) {
    StopMatcher m({"</s>"});
    EXPECT_EQ(m.push("a</"), "a");
    EXPECT_EQ(m.push("b"), "</b");
    EXPECT_FALSE(m.stopped());
    EXPECT_EQ(m.push("<"), "");
    EXPECT_EQ(m.flush(), "<");
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
    StopMatcher m({"world", "lo"});
    EXPECT_EQ(m.push("hello world"), "hel");
    EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
    StopMatcher m({""});
    EXPECT_EQ(m.push("abc"), "abc");
    EXPECT_FALSE(m.stopped());
}

} // namespace
