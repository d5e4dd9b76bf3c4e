// Limits that keep a hostile template (a GGUF file is untrusted input) from exhausting the
// stack, memory or time of the process rendering it. Real templates stay far below them.
#pragma once

#include <graft/util/error.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace graft::chat::detail {

constexpr int64_t kMaxRangeLength = 1'000'000; // items of one range()
constexpr size_t kMaxStringBytes = 64u << 20;  // one string, and the output
constexpr int kMaxCallDepth = 200;             // nested macro calls
constexpr int64_t kMaxSteps = 1'000'000;       // loop iterations + macro calls per render
constexpr int kMaxValueNesting = 500;          // lists/dicts inside each other

// Counts the nesting of the value being printed, compared, copied or converted; deeper
// values are refused instead of overflowing the stack.
class NestingGuard {
  public:
    NestingGuard() {
        if (++depth() > kMaxValueNesting) {
            --depth();
            throw Error("a value is nested deeper than " + std::to_string(kMaxValueNesting) +
                        " lists or dicts");
        }
    }
    ~NestingGuard() { --depth(); }
    NestingGuard(const NestingGuard &) = delete;
    NestingGuard &operator=(const NestingGuard &) = delete;

  private:
    static int &depth() {
        thread_local int value = 0;
        return value;
    }
};

} // namespace graft::chat::detail
