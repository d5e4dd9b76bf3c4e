// posix_spawn rather than fork: test binaries run threads (and sanitizers), and spawn does
// not copy the parent's address space or run anything between fork and exec.
#include <graft/testing/process.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

extern char **environ;

namespace graft::testing {
namespace {

struct Pipe {
    int read_end = -1;
    int write_end = -1;
    Pipe() {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
        }
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    Pipe(const Pipe &) = delete;
    Pipe &operator=(const Pipe &) = delete;
    void close_read() {
        if (read_end >= 0) {
            ::close(read_end);
            read_end = -1;
        }
    }
    void close_write() {
        if (write_end >= 0) {
            ::close(write_end);
            write_end = -1;
        }
    }
};

std::string quote_for_display(const std::string &arg) {
    if (!arg.empty() && arg.find_first_of(" \t\n'\"\\$") == std::string::npos) {
        return arg;
    }
    std::string quoted = "'";
    for (char c : arg) {
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return quoted + "'";
}

// Reads both pipes until they close or the deadline passes; returns false on timeout.
bool drain(Pipe &out, Pipe &err, ProcessResult &result,
           std::chrono::steady_clock::time_point deadline) {
    char buffer[65536];
    while (out.read_end >= 0 || err.read_end >= 0) {
        pollfd fds[2];
        nfds_t n = 0;
        if (out.read_end >= 0) {
            fds[n++] = {out.read_end, POLLIN, 0};
        }
        if (err.read_end >= 0) {
            fds[n++] = {err.read_end, POLLIN, 0};
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        const int ready = ::poll(fds, n, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (ready < 0 && errno != EINTR) {
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        }
        for (nfds_t i = 0; i < n && ready > 0; ++i) {
            if (fds[i].revents == 0) {
                continue;
            }
            const bool is_out = fds[i].fd == out.read_end;
            const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
            if (got > 0) {
                (is_out ? result.out : result.err).append(buffer, static_cast<size_t>(got));
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                (is_out ? out : err).close_read();
            }
        }
    }
    return true;
}

} // namespace

std::string ProcessResult::describe() const {
    std::string what = command_line + ": ";
    if (timed_out) {
        what += "timed out";
    } else if (signal != 0) {
        what += "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
    } else {
        what += "exit code " + std::to_string(exit_code);
    }
    if (!err.empty()) {
        // The end of stderr is where the reason is; keep messages readable.
        constexpr size_t keep = 4000;
        what += "\nstderr: " + (err.size() > keep ? "..." + err.substr(err.size() - keep) : err);
    }
    return what;
}

ProcessResult run_process(const std::filesystem::path &program,
                          const std::vector<std::string> &args, std::chrono::seconds timeout) {
    ProcessResult result;
    result.command_line = quote_for_display(program.string());
    for (const std::string &arg : args) {
        result.command_line += " " + quote_for_display(arg);
    }

    std::vector<std::string> storage;
    storage.push_back(program.string());
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (std::string &s : storage) {
        argv.push_back(s.data());
    }
    argv.push_back(nullptr);

    Pipe out;
    Pipe err;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out.write_end, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err.write_end, STDERR_FILENO);
    pid_t pid = -1;
    const int spawn_error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawn_error != 0) {
        throw std::runtime_error("cannot start " + result.command_line + ": " +
                                 std::strerror(spawn_error));
    }
    out.close_write();
    err.close_write();

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!drain(out, err, result, deadline)) {
        result.timed_out = true;
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
    }
    if (result.timed_out) {
        result.signal = 0;
    }
    return result;
}

ProcessResult run_checked(const std::filesystem::path &program,
                          const std::vector<std::string> &args, std::chrono::seconds timeout) {
    ProcessResult result = run_process(program, args, timeout);
    if (!result.ok()) {
        throw std::runtime_error(result.describe());
    }
    return result;
}

bool is_executable(const std::filesystem::path &path) {
    struct stat info {};
    return !path.empty() && ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
}

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "graft-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

} // namespace graft::testing
