// fork + exec with pipes, a deadline and SIGKILL: see graft/host/subprocess.h.
#include <graft/host/subprocess.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace graft::host {
namespace {

using Clock = std::chrono::steady_clock;

void close_fd(int &fd) {
    if (fd >= 0)
        ::close(fd);
    fd = -1;
}

// Reads what is available on fd into out (up to max bytes kept); returns false at EOF.
bool drain(int fd, std::string &out, size_t max) {
    char buffer[65536];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    const size_t keep = out.size() < max ? std::min(max - out.size(), static_cast<size_t>(n)) : 0;
    out.append(buffer, keep);
    return true;
}

} // namespace

std::string signal_text(int signal) {
    const char *name = nullptr;
    switch (signal) {
    case SIGSEGV:
        name = "SIGSEGV";
        break;
    case SIGBUS:
        name = "SIGBUS";
        break;
    case SIGFPE:
        name = "SIGFPE";
        break;
    case SIGILL:
        name = "SIGILL";
        break;
    case SIGABRT:
        name = "SIGABRT";
        break;
    case SIGKILL:
        name = "SIGKILL";
        break;
    case SIGTERM:
        name = "SIGTERM";
        break;
    case SIGTRAP:
        name = "SIGTRAP";
        break;
    default:
        break;
    }
    const char *what = ::strsignal(signal);
    std::string text = name ? name : "signal " + std::to_string(signal);
    if (what)
        text += std::string(" (") + what + ")";
    return text;
}

std::string self_executable() {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : exe.string();
}

SubprocessResult run_subprocess(const std::vector<std::string> &argv,
                                const SubprocessLimits &limits) {
    const double timeout_seconds = limits.timeout_seconds;
    const size_t max_output = limits.max_output;
    SubprocessResult result;
    if (argv.empty()) {
        result.error = "no command";
        return result;
    }
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, exec_pipe[2] = {-1, -1};
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
        result.error = std::string("pipe: ") + std::strerror(errno);
        for (int *p : {out_pipe, err_pipe, exec_pipe}) {
            close_fd(p[0]);
            close_fd(p[1]);
        }
        return result;
    }
    // Everything the child needs is prepared before fork: after it, only async-signal-safe
    // calls are allowed in the child.
    std::vector<char *> args;
    for (const std::string &arg : argv)
        args.push_back(const_cast<char *>(arg.c_str()));
    args.push_back(nullptr);
    const auto start = Clock::now();
    const pid_t pid = ::fork();
    if (pid < 0) {
        result.error = std::string("fork: ") + std::strerror(errno);
        for (int *p : {out_pipe, err_pipe, exec_pipe}) {
            close_fd(p[0]);
            close_fd(p[1]);
        }
        return result;
    }
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            ::dup2(devnull, STDIN_FILENO);
        ::dup2(out_pipe[1], STDOUT_FILENO);
        ::dup2(err_pipe[1], STDERR_FILENO);
        ::execvp(args[0], args.data());
        const int code = errno;
        (void)!::write(exec_pipe[1], &code, sizeof code);
        ::_exit(127);
    }
    close_fd(out_pipe[1]);
    close_fd(err_pipe[1]);
    close_fd(exec_pipe[1]);
    int exec_errno = 0;
    if (::read(exec_pipe[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
        result.error = "cannot run " + argv[0] + ": " + std::strerror(exec_errno);
        int status = 0;
        ::waitpid(pid, &status, 0);
        close_fd(out_pipe[0]);
        close_fd(err_pipe[0]);
        close_fd(exec_pipe[0]);
        return result;
    }
    close_fd(exec_pipe[0]);
    result.started = true;

    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(timeout_seconds));
    const auto idle = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(limits.idle_seconds));
    auto last_output = start;
    bool out_open = true, err_open = true;
    while (out_open || err_open) {
        int wait_ms = -1;
        auto next_deadline = Clock::time_point::max();
        if (timeout_seconds > 0)
            next_deadline = deadline;
        if (limits.idle_seconds > 0)
            next_deadline = std::min(next_deadline, last_output + idle);
        if (next_deadline != Clock::time_point::max()) {
            const auto left = next_deadline - Clock::now();
            if (left <= Clock::duration::zero()) {
                result.timed_out = true;
                break;
            }
            wait_ms = static_cast<int>(
                std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1);
        }
        pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                         {err_open ? err_pipe[0] : -1, POLLIN, 0}};
        const int ready = ::poll(fds, 2, wait_ms);
        if (ready < 0 && errno != EINTR)
            break;
        if (ready <= 0)
            continue;
        if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            out_open = drain(out_pipe[0], result.out, max_output);
            last_output = Clock::now();
        }
        if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            err_open = drain(err_pipe[0], result.err, max_output);
    }
    if (result.timed_out)
        ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // A grandchild may still hold the pipes; what it writes later is not ours to wait for.
    close_fd(out_pipe[0]);
    close_fd(err_pipe[0]);
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (WIFEXITED(status)) {
        result.exited = !result.timed_out;
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
    }
    return result;
}

} // namespace graft::host
