#include "plugin_loader.h"

#include <graft/plugin.hpp>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

// Under LeakSanitizer: vendor runtimes (HIP, HSA, Level Zero, the CUDA driver) keep
// allocations for the life of the process that LSan cannot always trace; they are not ours.
extern "C" const char *__lsan_default_suppressions() {
    return "leak:libamdhip64\nleak:libhsa-runtime64\nleak:libhsakmt\nleak:libze_loader\n"
           "leak:libcuda\n";
}

namespace graft::gputest {

namespace fs = std::filesystem;

std::string plugin_dir() {
    if (const char *env = std::getenv("GRAFT_TEST_PLUGIN_DIR"); env && *env)
        return env;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path beside = exe.parent_path().parent_path() / "lib" / "graft" / "plugins";
        if (fs::is_directory(beside, ec))
            return beside.string();
    }
    return GRAFT_BUILD_PLUGIN_DIR;
}

namespace {

void log_to_stderr(graft_log_level level, const char *plugin, const char *message) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    const int i = level >= GRAFT_LOG_DEBUG && level <= GRAFT_LOG_ERROR ? level : 1;
    std::fprintf(stderr, "[%s] %s: %s\n", names[i], plugin ? plugin : "?", message ? message : "");
}

// dlopen + graft_plugin_init of one file.
LoadedPlugin load_file(const std::string &path) {
    LoadedPlugin p;
    p.path = path;
    std::error_code ec;
    p.file_exists = fs::exists(p.path, ec);
    if (!p.file_exists) {
        p.error = p.path + " does not exist (plugin not built)";
        return p;
    }
    void *handle = dlopen(p.path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *e = dlerror();
        p.error = std::string("dlopen failed: ") + (e ? e : "?");
        return p;
    }
    auto init = reinterpret_cast<graft_plugin_init_fn>(dlsym(handle, GRAFT_PLUGIN_INIT_SYMBOL));
    if (!init) {
        p.error = "no graft_plugin_init symbol";
        return p;
    }
    static const graft_host_api host = [] {
        auto h = sdk::versioned<graft_host_api>();
        h.log = log_to_stderr;
        return h;
    }();
    const graft_plugin *table = nullptr;
    const char *error = nullptr;
    const graft_status s = init(&host, &table, &error);
    if (s != GRAFT_OK || !table) {
        p.error = std::string("graft_plugin_init failed: ") + (error ? error : "?");
        return p;
    }
    p.table = table;
    return p;
}

// graft-<name>.so, or among ISA variants graft-<name>-<isa>.so the one whose
// graft_plugin_score is highest (as the host picks them).
LoadedPlugin load(const std::string &name) {
    const fs::path dir = plugin_dir();
    const fs::path single = dir / ("graft-" + name + ".so");
    std::error_code ec;
    if (fs::exists(single, ec))
        return load_file(single.string());
    std::string best;
    uint32_t best_score = 0;
    const std::string prefix = "graft-" + name + "-";
    for (const auto &entry : fs::directory_iterator(dir, ec)) {
        const std::string file = entry.path().filename().string();
        if (file.rfind(prefix, 0) != 0 || entry.path().extension() != ".so")
            continue;
        void *handle = dlopen(entry.path().c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle)
            continue;
        auto score =
            reinterpret_cast<graft_plugin_score_fn>(dlsym(handle, GRAFT_PLUGIN_SCORE_SYMBOL));
        const uint32_t value = score ? score() : 1;
        if (value > best_score) {
            best_score = value;
            best = entry.path().string();
        }
    }
    if (best.empty()) {
        LoadedPlugin p;
        p.path = single.string();
        p.error = "no graft-" + name + "[-<variant>].so in " + dir.string() + " that can run here";
        return p;
    }
    return load_file(best);
}

} // namespace

const LoadedPlugin &load_plugin(const std::string &name) {
    static std::mutex mutex;
    static std::map<std::string, LoadedPlugin> cache;
    std::lock_guard lock(mutex);
    auto it = cache.find(name);
    if (it == cache.end())
        it = cache.emplace(name, load(name)).first;
    return it->second;
}

const graft_kernel *find_kernel(const graft_plugin *plugin, const std::string &impl) {
    if (!plugin || !plugin->kernels)
        return nullptr;
    for (uint32_t i = 0; i < plugin->n_kernels; ++i)
        if (plugin->kernels[i].impl && impl == plugin->kernels[i].impl)
            return &plugin->kernels[i];
    return nullptr;
}

int find_device(const graft_plugin *plugin, const std::string &name) {
    if (!plugin || !plugin->device_info)
        return -1;
    for (uint32_t i = 0; i < plugin->n_devices; ++i) {
        auto info = sdk::versioned<graft_device_info>();
        if (plugin->device_info(i, &info) == GRAFT_OK && info.name && name == info.name)
            return static_cast<int>(i);
    }
    return -1;
}

} // namespace graft::gputest
