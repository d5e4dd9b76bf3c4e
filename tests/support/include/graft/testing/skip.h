// Skips for tests that need llama.cpp or graft-synth: GTEST_SKIP with the reason, so a
// checkout without scripts/fetch-llama.sh runs every other test and says what it skipped.
// Use at the top of a test body (GTEST_SKIP returns from the enclosing function).
#pragma once

#include <graft/testing/oracle.h>
#include <graft/testing/synth.h>

#include <gtest/gtest.h>

// llama.cpp's source tree (vocabulary GGUFs, tokenizer test pairs, chat templates).
#define GRAFT_REQUIRE_LLAMA_SOURCE()                                                               \
    do {                                                                                           \
        if (auto graft_skip_reason = ::graft::testing::llama_source_unavailable()) {               \
            GTEST_SKIP() << *graft_skip_reason;                                                    \
        }                                                                                          \
    } while (false)

// The graft-oracle program (llama.cpp itself).
#define GRAFT_REQUIRE_ORACLE()                                                                     \
    do {                                                                                           \
        if (auto graft_skip_reason = ::graft::testing::oracle_unavailable()) {                     \
            GTEST_SKIP() << *graft_skip_reason;                                                    \
        }                                                                                          \
    } while (false)

// graft-synth, and llama.cpp's vocabularies it copies tokenizers from.
#define GRAFT_REQUIRE_SYNTH()                                                                      \
    do {                                                                                           \
        if (auto graft_skip_reason = ::graft::testing::synth_unavailable()) {                      \
            GTEST_SKIP() << *graft_skip_reason;                                                    \
        }                                                                                          \
    } while (false)
