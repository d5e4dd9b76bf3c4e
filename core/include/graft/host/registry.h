// Plugin discovery and loading. Plugins are found on a search path, loaded with
// Boost.DLL (rtld_now | rtld_local), checked, and kept loaded until exit.
// A plugin that cannot be used is recorded with its reason; discovery never throws
// because of a plugin. See docs/design/plugin-loading.md for the rules.
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
// "loaded", "refused", "shadowed", "standby".
const char *status_name(PluginStatus status);

// "cpu", "gpu", "npu"; "unknown" for a value outside the enum.
const char *device_kind_name(graft_device_kind kind);
// The GRAFT_CAP_* bits as words, e.g. {"avx2", "avx512f", "host-memory"}; a bit without
// a name becomes "bit N".
std::vector<std::string> caps_names(uint64_t caps);
// caps_names joined by spaces; "" for none.
std::string caps_text(uint64_t caps);
// "ok", "invalid argument", ... for a status returned through the ABI.
const char *abi_status_name(graft_status status);

struct DeviceRecord {
    std::string name; // "cpu", "cuda:0"
    graft_device_kind kind = GRAFT_DEVICE_CPU;
    std::string description;
    uint64_t memory_total = 0, memory_free = 0;
    uint64_t caps = 0;
    std::string capabilities;
    uint32_t index = 0; // plugin-local index
};

struct KernelRecord {
    std::string plugin;   // name of the plugin that declares it
    std::string op, impl; // rules name it "plugin/impl" (see full_name)
    std::vector<graft_dtype> weight_dtypes;
    uint32_t device_kinds = 0;         // bit (1 << graft_device_kind) per kind
    const graft_kernel *api = nullptr; // null unless the plugin is Loaded
    // True when weights[0] may have this dtype; false for a kernel that declares none.
    bool takes(graft_dtype dtype) const;
    bool runs_on(graft_device_kind kind) const { return (device_kinds >> kind) & 1u; }
    std::string full_name() const { return plugin + "/" + impl; }
};

struct PluginRecord {
    std::string name; // from the plugin's table; the file name without "graft-" and
                      // ".so" when the table could not be read
    std::string version, vendor, description, status_note;
    std::string device_prefix; // "" when the plugin declares none (or predates it)
    std::filesystem::path file;
    PluginStatus status = PluginStatus::Refused;
    // Refused: why ("init failed: CUDA driver not found"). Shadowed: the file that wins.
    // Standby: which variant is preferred and the scores. Empty when Loaded.
    std::string reason;
    uint32_t score = 0; // graft_plugin_score(); meaningful only when has_score
    bool has_score = false;
    std::vector<DeviceRecord> devices;
    std::vector<KernelRecord> kernels;
    const graft_plugin *api = nullptr; // non-null only when Loaded
    // Where it was found: the origin of its search directory ("user", "prefix", "build
    // tree", "--plugin-path", "GRAFT_PLUGIN_PATH"); empty when discovered from bare paths.
    std::string origin;
    // The installed package the file belongs to ("example 0.1.0") and its directory;
    // empty for a file lying directly in a search directory.
    std::string package;
    std::filesystem::path package_dir;
};

// One line for people: "loaded", "refused: REASON", "shadowed by FILE", "standby: ...".
std::string status_text(const PluginRecord &record);

// One directory of the search path and where it came from: "--plugin-path",
// "GRAFT_PLUGIN_PATH", "user", "prefix" (next to the executable), "build tree" (also the
// prefix's name when graft runs from its build tree).
struct SearchDir {
    std::filesystem::path dir;
    std::string origin;
};

// Where plugins are looked for, first wins: explicit paths (--plugin-path and
// GRAFT_PLUGIN_PATH, colon-separated), the user's dir (~/.local/lib/graft/plugins),
// <prefix>/lib/graft/plugins (relative to the running executable), the build tree.
// Entries naming one directory are kept once, at their first place. Directories that do
// not exist are kept (discovery skips them) so that a listing can show them.
std::vector<SearchDir>
describe_search_path(const std::vector<std::filesystem::path> &explicit_paths);
std::vector<std::filesystem::path>
default_search_path(const std::vector<std::filesystem::path> &explicit_paths);

// A device of a loaded plugin: which plugin and the plugin-local index to pass it.
struct DeviceOwner {
    const PluginRecord *plugin = nullptr;
    uint32_t index = 0;
};

// Loads and checks one plugin file as discovery would (Loaded or Refused), outside any
// search path: `graft plugins check` and `install` look at a file this way.
PluginRecord inspect_plugin_file(const std::filesystem::path &file);

class Registry {
  public:
    // Scans every directory for `*.so` files, in name order, and loads them. Its
    // subdirectories are scanned too, one level deep (not further), each as a directory of
    // its own: first the files directly in the search directory, then each subdirectory
    // in name order; hidden ones (".name") are skipped. A subdirectory holding plugin.yaml
    // is an installed package: only the files it lists as plugins are loaded, and none
    // when its install record says it is not usable here (they are Refused with the
    // recorded reason, without being loaded).
    // Within one directory, files of one plugin name that export a score are ISA
    // variants: the highest score is kept, the others are Standby. Then, along the search
    // path, the first loaded plugin of a name wins and later ones are Shadowed. Each file
    // is loaded and initialised once per process; later calls reuse it.
    static Registry discover(const std::vector<std::filesystem::path> &search_path);
    // As above, recording each directory's origin in the records.
    static Registry discover(const std::vector<SearchDir> &search_path);
    // A registry over records made by hand (tests of the planner, tools); no loading.
    static Registry from_records(std::vector<PluginRecord> records);

    // Every file found, in search order, whatever its status.
    const std::vector<PluginRecord> &plugins() const { return plugins_; }
    const PluginRecord *plugin(const std::string &name) const; // the Loaded one, or nullptr
    // Every device of every loaded plugin, merged by name (first plugin wins for info).
    std::vector<DeviceRecord> devices() const;
    // The loaded plugins that have a device of this name, in search order, with their
    // plugin-local index of it; empty when none has it.
    std::vector<DeviceOwner> device_owners(const std::string &device_name) const;
    // "plugin/impl" -> kernel of a loaded plugin, or nullptr.
    const KernelRecord *kernel(const std::string &full_name) const;

  private:
    std::vector<PluginRecord> plugins_;
};

} // namespace graft::host
