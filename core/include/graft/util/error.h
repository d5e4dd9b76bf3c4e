// Errors inside core: one exception type carrying a message for people.
// At the boundaries (CLI, server, plugin ABI) it becomes an exit code or a status.
#pragma once

#include <stdexcept>
#include <string>

namespace graft {

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string &message) : std::runtime_error(message) {}
};

} // namespace graft
