#include <graft/testing/oracle.h>
#include <graft/testing/process.h>
#include <graft/testing/synth.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#ifndef GRAFT_TEST_SYNTH
#define GRAFT_TEST_SYNTH ""
#endif
#ifndef GRAFT_TEST_CACHE_DIR
#define GRAFT_TEST_CACHE_DIR ""
#endif

namespace graft::testing {
namespace {

// FNV-1a: a stable hash (std::hash may differ between builds) for cache file names.
uint64_t fnv1a(const std::string &text) {
    uint64_t hash = 1469598103934665603ULL;
    for (unsigned char c : text) {
        hash = (hash ^ c) * 1099511628211ULL;
    }
    return hash;
}

std::string hex(uint64_t value) {
    static const char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i) {
        out[static_cast<size_t>(i)] = digits[value & 15];
        value >>= 4;
    }
    return out;
}

// Size and mtime of a file: what changes when a program is rebuilt or a model rewritten.
std::string file_stamp(const std::filesystem::path &path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        return "missing";
    }
    return std::to_string(info.st_size) + ":" + std::to_string(info.st_mtim.tv_sec) + "." +
           std::to_string(info.st_mtim.tv_nsec);
}

std::string read_text(const std::filesystem::path &path) {
    std::ifstream in(path, std::ios::binary);
    return in ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string();
}

// An exclusive flock held for the lifetime of the object.
class FileLock {
  public:
    explicit FileLock(const std::filesystem::path &path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            throw std::runtime_error("cannot open lock " + path.string() + ": " +
                                     std::strerror(errno));
        }
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno != EINTR) {
                ::close(fd_);
                throw std::runtime_error("cannot lock " + path.string() + ": " +
                                         std::strerror(errno));
            }
        }
    }
    ~FileLock() { ::close(fd_); } // closing releases the lock
    FileLock(const FileLock &) = delete;
    FileLock &operator=(const FileLock &) = delete;

  private:
    int fd_ = -1;
};

// Makes `target` with `make(temp_path)` unless it exists with the same stamp. The file
// appears atomically (rename), so a reader never sees half a model.
template <typename Make>
void make_cached(const std::filesystem::path &target, const std::string &stamp, Make make) {
    const std::filesystem::path stamp_path = target.string() + ".stamp";
    FileLock lock(target.string() + ".lock");
    std::error_code ec;
    if (std::filesystem::exists(target, ec) && read_text(stamp_path) == stamp) {
        return;
    }
    const std::filesystem::path temp = target.string() + ".tmp";
    std::filesystem::remove(temp, ec);
    make(temp);
    std::filesystem::rename(temp, target);
    std::ofstream(stamp_path, std::ios::binary | std::ios::trunc) << stamp;
}

} // namespace

std::filesystem::path synth_program() {
    if (const char *env = std::getenv("GRAFT_SYNTH"); env != nullptr && *env != '\0') {
        return env;
    }
    return GRAFT_TEST_SYNTH;
}

std::filesystem::path test_cache_dir() {
    if (const char *env = std::getenv("GRAFT_TEST_CACHE_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    return GRAFT_TEST_CACHE_DIR;
}

std::optional<std::string> synth_unavailable(const SynthSpec &spec) {
    if (!is_executable(synth_program())) {
        return "graft-synth is not built (" + synth_program().string() +
               "; cmake --build <build> --target graft-synth)";
    }
    if (!spec.vocab.empty()) {
        if (auto why = llama_source_unavailable()) {
            return *why;
        }
        std::error_code ec;
        if (!std::filesystem::exists(llama_vocab(spec.vocab), ec)) {
            return "no vocabulary " + llama_vocab(spec.vocab).string();
        }
    }
    if (!spec.quant.empty()) {
        return oracle_unavailable();
    }
    return std::nullopt;
}

std::vector<std::string> synth_args(const SynthSpec &spec) {
    std::vector<std::string> args = {"--preset", spec.preset, "--dtype",
                                     spec.dtype, "--seed",    std::to_string(spec.seed)};
    if (!spec.family.empty()) {
        args.insert(args.end(), {"--family", spec.family});
    }
    if (!spec.vocab.empty()) {
        args.insert(args.end(), {"--vocab", llama_vocab(spec.vocab).string()});
    }
    args.insert(args.end(), spec.extra_args.begin(), spec.extra_args.end());
    return args;
}

std::filesystem::path synth_model(const SynthSpec &spec) {
    if (auto why = synth_unavailable(spec)) {
        throw std::runtime_error(*why);
    }
    const std::filesystem::path dir = test_cache_dir() / "synth";
    std::filesystem::create_directories(dir);

    const std::vector<std::string> args = synth_args(spec);
    std::string key;
    for (const std::string &arg : args) {
        key += arg + '\n';
    }
    const std::string base_name = (spec.family.empty() ? "" : spec.family + "-") + spec.preset +
                                  "-" + spec.dtype + "-s" + std::to_string(spec.seed) + "-" +
                                  hex(fnv1a(key));
    const std::filesystem::path base = dir / (base_name + ".gguf");
    make_cached(base, "graft-synth " + file_stamp(synth_program()) + "\n" + key,
                [&](const std::filesystem::path &temp) {
                    std::vector<std::string> full = args;
                    full.insert(full.end(), {"--out", temp.string()});
                    run_checked(synth_program(), full);
                });
    if (spec.quant.empty()) {
        return base;
    }

    const std::string suffix = spec.quant + (spec.quant_pure ? "-pure" : "");
    const std::filesystem::path quantized = dir / (base_name + "." + suffix + ".gguf");
    make_cached(quantized,
                "graft-oracle " + file_stamp(oracle_path()) + "\nfrom " + file_stamp(base) + "\n",
                [&](const std::filesystem::path &temp) {
                    oracle_quantize(base, temp, spec.quant, spec.quant_pure);
                });
    return quantized;
}

} // namespace graft::testing
