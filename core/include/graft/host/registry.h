// Plugin discovery and loading. Plugins are found on a search path, loaded with
// Boost.DLL (rtld_now | rtld_local), checked, and kept loaded until exit.
// A plugin that cannot be used is recorded with its reason; discovery never throws
// because of a plugin.
#pragma once

#include <graft/plugin.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace graft::host {

enum class PluginStatus {
    Loaded,   // usable
    Refused,  // reason says why (not a plugin, ABI mismatch, score 0, init failed)
    Shadowed, // a plugin of the same name earlier on the search path wins; reason names it
    Standby,  // an ISA variant with a lower score than the chosen one; reason names it
};
const char *status_name(PluginStatus status);

struct DeviceRecord {
    std::string name;        // "cpu", "cuda:0"
    graft_device_kind kind = GRAFT_DEVICE_CPU;
    std::string description;
    uint64_t memory_total = 0, memory_free = 0;
    uint64_t caps = 0;
    std::string capabilities;
    uint32_t index = 0;      // plugin-local index
};

struct KernelRecord {
    std::string op, impl;    // full name: plugin/impl
    std::vector<graft_dtype> weight_dtypes;
    uint32_t device_kinds = 0;
    const graft_kernel *api = nullptr; // null unless the plugin is Loaded
    bool takes(graft_dtype dtype) const;
};

struct PluginRecord {
    std::string name;        // from the plugin's table; the file stem when it never loaded
    std::string version, vendor, description, status_note;
    std::filesystem::path file;
    PluginStatus status = PluginStatus::Refused;
    std::string reason;      // for Refused / Shadowed / Standby
    uint32_t score = 0;      // 0 when the plugin has no score function... see has_score
    bool has_score = false;
    std::vector<DeviceRecord> devices;
    std::vector<KernelRecord> kernels;
    const graft_plugin *api = nullptr; // non-null only when Loaded
};

// Where plugins are looked for, first wins: explicit paths (--plugin-path and
// GRAFT_PLUGIN_PATH, colon-separated), the user's dir (~/.local/lib/graft/plugins),
// <prefix>/lib/graft/plugins (relative to the running executable), the build tree.
std::vector<std::filesystem::path> default_search_path(const std::vector<std::filesystem::path> &explicit_paths);

class Registry {
  public:
    // Scans every directory (non-recursively) for shared libraries and loads them.
    static Registry discover(const std::vector<std::filesystem::path> &search_path);
    // A registry over records made by hand (tests of the planner, tools); no loading.
    static Registry from_records(std::vector<PluginRecord> records);

    const std::vector<PluginRecord> &plugins() const { return plugins_; }
    const PluginRecord *plugin(const std::string &name) const; // the Loaded one, or nullptr
    // Every device of every loaded plugin, merged by name (first plugin wins for info).
    std::vector<DeviceRecord> devices() const;
    // "plugin/impl" -> kernel of a loaded plugin, or nullptr.
    const KernelRecord *kernel(const std::string &full_name) const;

  private:
    std::vector<PluginRecord> plugins_;
};

} // namespace graft::host
