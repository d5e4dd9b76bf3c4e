// Running a command from a test and reading what it printed.
#pragma once

#include <string>

namespace graft::host_test {

struct ProcessResult {
    int exit_code = -1; // -1 when the command could not be run or did not exit normally
    std::string output; // its standard output
};

// Runs `command` through /bin/sh and collects its standard output.
ProcessResult run_process(const std::string &command);

// `text` quoted for /bin/sh.
std::string shell_quote(const std::string &text);

} // namespace graft::host_test
