// Opening device 0 of a plugin for a test, or saying why the test cannot run here.
#pragma once

#include "harness.h"

#include <memory>
#include <string>

namespace graft::gputest {

// Device 0 of plugin `name`. On nullptr, `why` says why (not built, no device, or for
// plugins with an external runtime, not loadable); `failure` is set when the reason is a bug
// rather than the machine (the cuda plugin carries its runtime and must always load).
std::unique_ptr<Target> open_device(const std::string &name, std::string &why, bool &failure);

// For fixtures: skips or fails the current test when device 0 of `name` is not usable.
#define GRAFT_OPEN_DEVICE_OR_SKIP(target, name)                                                    \
    do {                                                                                           \
        std::string why_;                                                                          \
        bool failure_ = false;                                                                     \
        target = ::graft::gputest::open_device(name, why_, failure_);                              \
        if (!target) {                                                                             \
            if (failure_)                                                                          \
                FAIL() << why_;                                                                    \
            GTEST_SKIP() << why_;                                                                  \
        }                                                                                          \
    } while (0)

} // namespace graft::gputest
