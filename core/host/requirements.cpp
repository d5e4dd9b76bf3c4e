// Checking a package's `requires:` on this machine: a library that must dlopen (and report
// a version through a query function), or a command that must run.
#include <graft/host/package.h>
#include <graft/host/subprocess.h>

#include <dlfcn.h>

#include <cctype>
#include <sstream>

namespace graft::host {
namespace {

constexpr double kCommandTimeoutSeconds = 10.0;

struct RuntimeSpec {
    std::string name, op, version; // op and version empty: presence only
};

// "CUDA >= 12" -> {CUDA, >=, 12}; "CUDA" -> {CUDA}; a malformed spec keeps all as name.
RuntimeSpec parse_runtime(const std::string &runtime) {
    for (const char *op : {">=", "<=", "==", ">", "<", "="}) {
        const size_t at = runtime.find(op);
        if (at == std::string::npos)
            continue;
        auto trim = [](std::string s) {
            while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
                s.pop_back();
            size_t b = 0;
            while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b])))
                ++b;
            return s.substr(b);
        };
        return {trim(runtime.substr(0, at)), op == std::string("=") ? "==" : op,
                trim(runtime.substr(at + std::string(op).size()))};
    }
    return {runtime, "", ""};
}

bool satisfies(const std::string &have, const std::string &op, const std::string &want) {
    const int c = compare_versions(have, want);
    if (op == ">=")
        return c >= 0;
    if (op == "<=")
        return c <= 0;
    if (op == ">")
        return c > 0;
    if (op == "<")
        return c < 0;
    return c == 0;
}

// 12040 with {1000, 10} -> "12.4"; with no encoding the number as it is.
std::string decode_version(int value, const std::vector<int64_t> &encoding) {
    if (encoding.empty())
        return std::to_string(value);
    std::string text;
    int64_t rest = value;
    for (int64_t divisor : encoding) {
        text += (text.empty() ? "" : ".") + std::to_string(rest / divisor);
        rest %= divisor;
    }
    return text;
}

// The first "12", "12.4" or "535.104.05" in text; "" when there is none.
std::string first_dotted_number(const std::string &text) {
    for (size_t i = 0; i < text.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(text[i])))
            continue;
        size_t end = i;
        while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) ||
                                     (text[end] == '.' && end + 1 < text.size() &&
                                      std::isdigit(static_cast<unsigned char>(text[end + 1])))))
            ++end;
        return text.substr(i, end - i);
    }
    return "";
}

// The version the library or command reports; found = false with detail on failure.
bool probe_library(const Requirement &r, std::string &version, std::string &detail) {
    // RTLD_LOCAL: nothing of the library becomes visible to later loads. The handle is
    // kept (never dlclose'd), as with plugins: vendor runtimes misbehave on unload.
    void *handle = ::dlopen(r.library.c_str(), RTLD_LAZY | RTLD_LOCAL);
    if (!handle) {
        const char *message = ::dlerror();
        detail = r.library + " cannot be loaded: " + (message ? message : "unknown error");
        return false;
    }
    if (r.version_symbol.empty())
        return true;
    void *symbol = ::dlsym(handle, r.version_symbol.c_str());
    if (!symbol) {
        detail = r.library + " has no " + r.version_symbol;
        return false;
    }
    using VersionFn = int (*)(int *);
    int value = 0;
    const int status = reinterpret_cast<VersionFn>(symbol)(&value);
    if (status != 0) {
        detail = r.version_symbol + " failed with status " + std::to_string(status);
        return false;
    }
    version = decode_version(value, r.version_encoding);
    return true;
}

bool probe_command(const Requirement &r, std::string &version, std::string &detail) {
    const SubprocessResult run = run_subprocess(r.command, kCommandTimeoutSeconds, 1u << 20);
    if (!run.started) {
        detail = run.error;
        return false;
    }
    if (run.timed_out) {
        detail = r.command[0] + " did not finish within 10 s";
        return false;
    }
    if (!run.exited || run.exit_code != 0) {
        detail = r.command[0] + (run.exited ? " exited with " + std::to_string(run.exit_code)
                                            : " died of " + signal_text(run.signal));
        return false;
    }
    version = first_dotted_number(run.out);
    return true;
}

} // namespace

int compare_versions(const std::string &a, const std::string &b) {
    std::stringstream sa(a), sb(b);
    for (;;) {
        std::string pa, pb;
        const bool more_a = static_cast<bool>(std::getline(sa, pa, '.'));
        const bool more_b = static_cast<bool>(std::getline(sb, pb, '.'));
        if (!more_a && !more_b)
            return 0;
        const long long va = more_a ? std::atoll(pa.c_str()) : 0;
        const long long vb = more_b ? std::atoll(pb.c_str()) : 0;
        if (va != vb)
            return va < vb ? -1 : 1;
    }
}

RequirementCheck check_requirement(const Requirement &r) {
    RequirementCheck check;
    const RuntimeSpec spec = parse_runtime(r.runtime);
    std::string version, detail;
    const bool found =
        !r.library.empty() ? probe_library(r, version, detail) : probe_command(r, version, detail);
    const std::string what = r.library.empty() ? r.command[0] : r.library;
    if (!found) {
        check.detail = detail;
        return check;
    }
    if (spec.op.empty()) {
        check.met = true;
        check.detail = what + (version.empty() ? " found" : ": version " + version);
        return check;
    }
    if (version.empty()) {
        check.detail = what + " found, but it reports no version to compare with " + spec.op + " " +
                       spec.version;
        return check;
    }
    check.met = satisfies(version, spec.op, spec.version);
    check.detail = what + ": version " + version +
                   (check.met ? "" : ", needs " + spec.op + " " + spec.version);
    return check;
}

} // namespace graft::host
