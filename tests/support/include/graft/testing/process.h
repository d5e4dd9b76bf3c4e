// Running a helper program from a test (the llama.cpp oracle, graft-synth, the graft CLI):
// arguments passed as a vector, no shell, stdout and stderr captured, a time limit.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace graft::testing {

struct ProcessResult {
    int exit_code = -1; // valid when exited normally
    int signal = 0;     // the signal that ended it, or 0
    bool timed_out = false;
    std::string out; // everything written to stdout
    std::string err; // everything written to stderr

    bool ok() const { return !timed_out && signal == 0 && exit_code == 0; }
    // "program args...: exit 1: <stderr>" for test failure messages.
    std::string describe() const;
    std::string command_line; // for describe()
};

// Starts `program` with `args` (argv[1..]) and waits for it, killing it after `timeout`.
// Throws std::runtime_error only when the program cannot be started at all.
ProcessResult run_process(const std::filesystem::path &program,
                          const std::vector<std::string> &args,
                          std::chrono::seconds timeout = std::chrono::seconds(600));

// Like run_process, but throws std::runtime_error with describe() unless it succeeded.
ProcessResult run_checked(const std::filesystem::path &program,
                          const std::vector<std::string> &args,
                          std::chrono::seconds timeout = std::chrono::seconds(600));

// True when `path` names an executable regular file.
bool is_executable(const std::filesystem::path &path);

// A fresh private directory under the system temp dir, removed by the destructor.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::filesystem::path &path() const { return path_; }
    std::filesystem::path operator/(const std::string &name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

} // namespace graft::testing
