// The registry: which files of the search path become the plugins in use (ISA variants
// within a directory, then shadowing along the path), and the lookups the planner and
// the engine make. Loading one file is loader.cpp's work.
#include <graft/host/package.h>
#include <graft/host/registry.h>

#include "loader.h"

#include <algorithm>
#include <map>
#include <optional>
#include <system_error>

namespace graft::host {
namespace {

namespace fs = std::filesystem;

// The `*.so` files of one directory (not its subdirectories), sorted by name so that
// discovery does not depend on the order the file system lists them in.
std::vector<fs::path> plugin_files(const fs::path &dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path &file = it->path();
        std::error_code file_ec;
        if (file.extension() == ".so" && it->is_regular_file(file_ec))
            files.push_back(file);
    }
    std::sort(files.begin(), files.end(), [](const fs::path &a, const fs::path &b) {
        return a.filename().string() < b.filename().string();
    });
    return files;
}

// The subdirectories of a search directory, in name order, without hidden ones (where
// install stages and removes packages).
std::vector<fs::path> sub_dirs(const fs::path &dir) {
    std::vector<fs::path> dirs;
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return dirs;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code dir_ec;
        const std::string name = it->path().filename().string();
        if (!name.empty() && name[0] != '.' && it->is_directory(dir_ec))
            dirs.push_back(it->path());
    }
    std::sort(dirs.begin(), dirs.end());
    return dirs;
}

// One directory's plugin files, as one unit for ISA variants.
struct DirGroup {
    std::vector<fs::path> files;
    std::string package;      // "name version" of an installed package
    fs::path package_dir;     // its directory
    std::string not_loadable; // set: every file is Refused with this reason, unloaded
    std::string name;         // the package's plugin name, for records of unloaded files
};

// A subdirectory: an installed package (its manifest says which files are plugins), or
// a plain directory of plugin files.
DirGroup scan_sub_dir(const fs::path &dir) {
    DirGroup group;
    std::optional<InstalledPackage> package;
    try {
        package = read_installed_package(dir);
    } catch (const std::exception &e) {
        group.files = plugin_files(dir);
        group.package_dir = dir;
        group.not_loadable = std::string("package is broken: ") + e.what();
        return group;
    }
    if (!package) {
        group.files = plugin_files(dir);
        return group;
    }
    group.package = package->manifest.name + " " + package->manifest.version;
    group.name = package->manifest.name;
    group.package_dir = dir;
    for (const PackageFile *file : package->manifest.files_of(PackageFileKind::Plugin))
        group.files.push_back(dir / file->path);
    std::sort(group.files.begin(), group.files.end());
    if (package->record && !package->record->usable)
        group.not_loadable = "present, not usable here: " + package->record->reason +
                             " (installed with --force; install again to check again)";
    return group;
}

std::vector<DirGroup> scan_search_dir(const fs::path &dir) {
    std::vector<DirGroup> groups;
    groups.push_back(DirGroup{plugin_files(dir), "", {}, "", ""});
    for (const fs::path &sub : sub_dirs(dir))
        groups.push_back(scan_sub_dir(sub));
    return groups;
}

PluginRecord refused_unloaded(const fs::path &file, const std::string &name,
                              const std::string &reason) {
    PluginRecord record;
    record.file = file;
    record.name = name.empty() ? file.stem().string() : name;
    if (name.empty() && record.name.rfind("graft-", 0) == 0 && record.name.size() > 6)
        record.name.erase(0, 6);
    record.status = PluginStatus::Refused;
    record.reason = reason;
    return record;
}

void set_aside(PluginRecord &record, PluginStatus status, std::string reason) {
    record.status = status;
    record.reason = std::move(reason);
    record.api = nullptr;
    for (KernelRecord &kernel : record.kernels)
        kernel.api = nullptr;
}

// Among the loaded files of one directory that share a plugin name and export a score,
// the highest score wins (the first in name order on a tie); the others stand by.
void resolve_variants(std::vector<PluginRecord> &dir_records) {
    auto is_variant = [](const PluginRecord &r) {
        return r.status == PluginStatus::Loaded && r.has_score;
    };
    std::map<std::string, const PluginRecord *> best;
    for (const PluginRecord &record : dir_records) {
        if (!is_variant(record))
            continue;
        auto [it, first] = best.emplace(record.name, &record);
        if (!first && record.score > it->second->score)
            it->second = &record;
    }
    for (PluginRecord &record : dir_records) {
        if (!is_variant(record))
            continue;
        const PluginRecord &winner = *best.at(record.name);
        if (&winner == &record)
            continue;
        const std::string why =
            winner.score == record.score
                ? "same score " + std::to_string(record.score) + ", first by file name"
                : "score " + std::to_string(winner.score) + " > " + std::to_string(record.score);
        set_aside(record, PluginStatus::Standby,
                  "variant " + winner.file.filename().string() + " is preferred (" + why + ")");
    }
}

// Along the search path, the first loaded plugin of a name wins.
void resolve_shadowing(std::vector<PluginRecord> &records) {
    std::map<std::string, fs::path> winners;
    for (PluginRecord &record : records) {
        if (record.status != PluginStatus::Loaded)
            continue;
        auto [it, first] = winners.emplace(record.name, record.file);
        if (!first)
            set_aside(record, PluginStatus::Shadowed, it->second.string());
    }
}

} // namespace

const char *status_name(PluginStatus status) {
    switch (status) {
    case PluginStatus::Loaded:
        return "loaded";
    case PluginStatus::Refused:
        return "refused";
    case PluginStatus::Shadowed:
        return "shadowed";
    case PluginStatus::Standby:
        return "standby";
    }
    return "unknown";
}

std::string status_text(const PluginRecord &record) {
    switch (record.status) {
    case PluginStatus::Loaded:
        return "loaded";
    case PluginStatus::Shadowed:
        return "shadowed by " + record.reason;
    case PluginStatus::Refused:
    case PluginStatus::Standby:
        break;
    }
    return std::string(status_name(record.status)) + ": " + record.reason;
}

const char *device_kind_name(graft_device_kind kind) {
    switch (kind) {
    case GRAFT_DEVICE_CPU:
        return "cpu";
    case GRAFT_DEVICE_GPU:
        return "gpu";
    case GRAFT_DEVICE_NPU:
        return "npu";
    }
    return "unknown";
}

std::vector<std::string> caps_names(uint64_t caps) {
    static const std::pair<uint64_t, const char *> names[] = {
        {GRAFT_CAP_AVX2, "avx2"},
        {GRAFT_CAP_AVX512F, "avx512f"},
        {GRAFT_CAP_AVX512_VNNI, "avx512-vnni"},
        {GRAFT_CAP_AVX512_BF16, "avx512-bf16"},
        {GRAFT_CAP_AMX_TILE, "amx-tile"},
        {GRAFT_CAP_AMX_INT8, "amx-int8"},
        {GRAFT_CAP_AMX_BF16, "amx-bf16"},
        {GRAFT_CAP_AVX_VNNI, "avx-vnni"},
        {GRAFT_CAP_FP16, "fp16"},
        {GRAFT_CAP_BF16, "bf16"},
        {GRAFT_CAP_INT8, "int8"},
        {GRAFT_CAP_HOST_MEMORY, "host-memory"},
    };
    std::vector<std::string> words;
    uint64_t named = 0;
    for (const auto &[bit, name] : names) {
        named |= bit;
        if (caps & bit)
            words.emplace_back(name);
    }
    for (int bit = 0; bit < 64; ++bit)
        if ((caps & ~named) & (1ull << bit))
            words.push_back("bit " + std::to_string(bit));
    return words;
}

std::string caps_text(uint64_t caps) {
    std::string text;
    for (const std::string &word : caps_names(caps))
        text += (text.empty() ? "" : " ") + word;
    return text;
}

const char *abi_status_name(graft_status status) {
    switch (status) {
    case GRAFT_OK:
        return "ok";
    case GRAFT_ERR_INVALID_ARGUMENT:
        return "invalid argument";
    case GRAFT_ERR_UNSUPPORTED:
        return "unsupported";
    case GRAFT_ERR_OUT_OF_MEMORY:
        return "out of memory";
    case GRAFT_ERR_NO_DEVICE:
        return "no device";
    case GRAFT_ERR_RUNTIME:
        return "runtime error";
    case GRAFT_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown status";
}

PluginRecord inspect_plugin_file(const fs::path &file) {
    return detail::load_plugin_file(file);
}

bool KernelRecord::takes(graft_dtype dtype) const {
    return std::find(weight_dtypes.begin(), weight_dtypes.end(), dtype) != weight_dtypes.end();
}

Registry Registry::discover(const std::vector<fs::path> &search_path) {
    std::vector<SearchDir> dirs;
    for (const fs::path &dir : search_path)
        dirs.push_back(SearchDir{dir, ""});
    return discover(dirs);
}

Registry Registry::discover(const std::vector<SearchDir> &search_path) {
    Registry registry;
    for (const SearchDir &entry : search_path) {
        for (DirGroup &group : scan_search_dir(entry.dir)) {
            std::vector<PluginRecord> dir_records;
            for (const fs::path &file : group.files)
                dir_records.push_back(group.not_loadable.empty()
                                          ? detail::load_plugin_file(file)
                                          : refused_unloaded(file, group.name, group.not_loadable));
            resolve_variants(dir_records);
            for (PluginRecord &record : dir_records) {
                record.origin = entry.origin;
                record.package = group.package;
                record.package_dir = group.package_dir;
                registry.plugins_.push_back(std::move(record));
            }
        }
    }
    resolve_shadowing(registry.plugins_);
    return registry;
}

Registry Registry::from_records(std::vector<PluginRecord> records) {
    Registry registry;
    registry.plugins_ = std::move(records);
    return registry;
}

const PluginRecord *Registry::plugin(const std::string &name) const {
    for (const PluginRecord &record : plugins_)
        if (record.status == PluginStatus::Loaded && record.name == name)
            return &record;
    return nullptr;
}

std::vector<DeviceRecord> Registry::devices() const {
    std::vector<DeviceRecord> merged;
    for (const PluginRecord &record : plugins_) {
        if (record.status != PluginStatus::Loaded)
            continue;
        for (const DeviceRecord &device : record.devices) {
            const bool seen = std::any_of(merged.begin(), merged.end(),
                                          [&](const auto &d) { return d.name == device.name; });
            if (!seen)
                merged.push_back(device);
        }
    }
    return merged;
}

std::vector<DeviceOwner> Registry::device_owners(const std::string &device_name) const {
    std::vector<DeviceOwner> owners;
    for (const PluginRecord &record : plugins_) {
        if (record.status != PluginStatus::Loaded)
            continue;
        for (const DeviceRecord &device : record.devices)
            if (device.name == device_name)
                owners.push_back(DeviceOwner{&record, device.index});
    }
    return owners;
}

const KernelRecord *Registry::kernel(const std::string &full_name) const {
    const size_t slash = full_name.find('/');
    if (slash == std::string::npos)
        return nullptr;
    const PluginRecord *owner = plugin(full_name.substr(0, slash));
    if (!owner)
        return nullptr;
    const std::string impl = full_name.substr(slash + 1);
    for (const KernelRecord &kernel : owner->kernels)
        if (kernel.impl == impl)
            return &kernel;
    return nullptr;
}

} // namespace graft::host
