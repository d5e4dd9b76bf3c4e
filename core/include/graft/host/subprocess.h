// Running a program in a child process with a time limit and collecting what it prints:
// how graft looks at a plugin it does not yet trust (a crash or a hang in the child is
// reported, not suffered) and how a package's `command:` requirement is checked.
#pragma once

#include <string>
#include <vector>

namespace graft::host {

struct SubprocessResult {
    bool started = false; // false: fork or exec failed (error says why)
    bool exited = false;  // exited normally; exit_code is valid
    int exit_code = -1;
    int signal = 0;         // the signal that ended it, when it did not exit
    bool timed_out = false; // killed (SIGKILL) after the time limit
    double seconds = 0.0;   // wall time until it ended
    std::string out, err;   // its standard output and standard error
    std::string error;      // why it could not be started
};

struct SubprocessLimits {
    double timeout_seconds = 0;    // SIGKILL after this long in all (<= 0: no limit)
    double idle_seconds = 0;       // SIGKILL after this long without a byte on stdout (<= 0: none)
    size_t max_output = 64u << 20; // bytes kept per stream; the rest is read and dropped
};

// Runs argv[0] (a path, or a name looked up on PATH) with argv, stdin from /dev/null,
// no shell, within the limits (timed_out is set when one was reached). Never throws.
SubprocessResult run_subprocess(const std::vector<std::string> &argv,
                                const SubprocessLimits &limits);
inline SubprocessResult run_subprocess(const std::vector<std::string> &argv, double timeout_seconds,
                                       size_t max_output = 64u << 20) {
    return run_subprocess(argv, SubprocessLimits{timeout_seconds, 0, max_output});
}

// "SIGSEGV (segmentation fault)" for a signal number.
std::string signal_text(int signal);

// This process's executable (/proc/self/exe), for running graft itself as a child.
std::string self_executable();

} // namespace graft::host
