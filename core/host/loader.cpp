// Loading, scoring, initialising and checking one plugin file.
//
// Everything a plugin hands over is input: every pointer and count is checked before it
// is followed, and the first fault found becomes the Refused reason. Libraries are kept
// open until the process exits (see docs/design/plugin-loading.md for why).
#include "loader.h"

#include <graft/plugin.hpp>

#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include <dlfcn.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>

namespace graft::host::detail {
namespace {

namespace fs = std::filesystem;

// The plugin table as ABI version 1 first defined it: everything before device_prefix.
// A table smaller than this cannot be read safely.
constexpr size_t kPluginTableV1Size = offsetof(graft_plugin, device_prefix);
// Kernel, device-info and memory tables of ABI version 1 are the structs as they stand.
constexpr size_t kKernelTableV1Size = sizeof(graft_kernel);
constexpr size_t kMemoryTableV1Size = sizeof(graft_memory_api);
// Bounds on counts a plugin reports: far above any real plugin, low enough that a table
// full of garbage is caught before it is walked.
constexpr uint32_t kMaxDevices = 4096;
constexpr uint32_t kMaxKernels = 65536;
constexpr uint32_t kMaxWeightDtypes = 256;

void host_log(graft_log_level level, const char *plugin, const char *message) noexcept {
    spdlog::level::level_enum spd_level = spdlog::level::info;
    switch (level) {
    case GRAFT_LOG_DEBUG:
        spd_level = spdlog::level::debug;
        break;
    case GRAFT_LOG_INFO:
        spd_level = spdlog::level::info;
        break;
    case GRAFT_LOG_WARN:
        spd_level = spdlog::level::warn;
        break;
    case GRAFT_LOG_ERROR:
        spd_level = spdlog::level::err;
        break;
    }
    try {
        spdlog::log(spd_level, "[{}] {}", plugin ? plugin : "plugin", message ? message : "");
    } catch (...) {
        // A log line is never worth an exception crossing into the plugin.
    }
}

const graft_host_api *host_api() {
    static const graft_host_api api = {GRAFT_ABI_VERSION,
                                       static_cast<uint32_t>(sizeof(graft_host_api)), &host_log};
    return &api;
}

// What loading and initialising one file gave. Kept for the life of the process: the
// library must stay mapped while any pointer into it is held.
struct InitOutcome {
    boost::dll::shared_library library;
    bool has_score = false;
    uint32_t score = 0;
    const graft_plugin *table = nullptr; // set when init succeeded
    std::string refusal;                 // set when the file cannot be used
};

// A name for a file whose table could not be read: "graft-amx-cpu.so" -> "amx-cpu".
std::string name_from_file(const fs::path &file) {
    std::string stem = file.stem().string();
    constexpr std::string_view prefix = "graft-";
    if (stem.size() > prefix.size() && stem.compare(0, prefix.size(), prefix) == 0)
        stem.erase(0, prefix.size());
    return stem;
}

// Why the file cannot be a shared library at all, or "" when it starts like one.
std::string elf_header_problem(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return "cannot be read (permissions?)";
    std::array<char, 4> magic{};
    if (!in.read(magic.data(), magic.size()) || magic[0] != 0x7f || magic[1] != 'E' ||
        magic[2] != 'L' || magic[3] != 'F')
        return "not a shared library (no ELF header)";
    return "";
}

// Boost.DLL clears dlerror() before reporting a failed load, so the loader's own words
// ("libcudart.so.12: cannot open shared object file") are fetched by repeating the call.
std::string dlopen_error(const fs::path &file) {
    void *handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle)
        return "the library loads only on a second try"; // kept open, like every plugin
    const char *message = ::dlerror();
    return message ? message : "unknown dlopen error";
}

InitOutcome init_file(const fs::path &file) {
    InitOutcome outcome;
    outcome.refusal = elf_header_problem(file);
    if (!outcome.refusal.empty())
        return outcome;
    std::error_code ec;
    outcome.library.load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local,
                         ec);
    if (ec || !outcome.library.is_loaded()) {
        outcome.refusal = "cannot be loaded: " + dlopen_error(file);
        return outcome;
    }
    if (!outcome.library.has(GRAFT_PLUGIN_INIT_SYMBOL)) {
        outcome.refusal = "not a graft plugin (no " GRAFT_PLUGIN_INIT_SYMBOL " symbol)";
        return outcome;
    }
    if (outcome.library.has(GRAFT_PLUGIN_SCORE_SYMBOL)) {
        outcome.has_score = true;
        outcome.score = outcome.library.get<uint32_t()>(GRAFT_PLUGIN_SCORE_SYMBOL)();
        if (outcome.score == 0) {
            outcome.refusal = "cannot run on this CPU (score 0)";
            return outcome;
        }
    }
    auto &init =
        outcome.library
            .get<graft_status(const graft_host_api *, const graft_plugin **, const char **)>(
                GRAFT_PLUGIN_INIT_SYMBOL);
    const graft_plugin *table = nullptr;
    const char *error = nullptr;
    graft_status status = GRAFT_ERR_INTERNAL;
    try {
        status = init(host_api(), &table, &error);
    } catch (...) {
        outcome.refusal = "init failed: a C++ exception escaped " GRAFT_PLUGIN_INIT_SYMBOL;
        return outcome;
    }
    if (status != GRAFT_OK) {
        outcome.refusal =
            std::string("init failed: ") + (error && *error ? error : abi_status_name(status));
        return outcome;
    }
    if (!table) {
        outcome.refusal = "init returned no plugin table";
        return outcome;
    }
    outcome.table = table;
    return outcome;
}

// Each file is initialised once per process, whoever asks and however often.
const InitOutcome &init_once(const fs::path &file) {
    static std::mutex mutex;
    // Never destroyed: destroying an InitOutcome would unload its library.
    static auto *outcomes = new std::map<std::string, std::unique_ptr<InitOutcome>>();
    std::error_code ec;
    fs::path key = fs::weakly_canonical(file, ec);
    if (ec)
        key = file;
    std::lock_guard lock(mutex);
    auto &slot = (*outcomes)[key.string()];
    if (!slot)
        slot = std::make_unique<InitOutcome>(init_file(file));
    return *slot;
}

bool valid_name(const char *name) {
    if (!name || !*name)
        return false;
    for (const char *c = name; *c; ++c)
        if (*c == '/' || static_cast<unsigned char>(*c) <= ' ')
            return false;
    return true;
}

std::string text_or_empty(const char *text) {
    return text ? text : "";
}

// The bits of an enum a plugin filled in, read without assuming the value is one the enum
// names (a C enum may carry any int).
template <typename Enum> uint32_t raw_enum(const Enum &value) {
    static_assert(sizeof(Enum) == sizeof(uint32_t));
    uint32_t raw = 0;
    std::memcpy(&raw, &value, sizeof raw);
    return raw;
}

// An element of a plugin's array of versioned tables. The stride is the first element's
// struct_size, so that a plugin built against a later header (whose tables grew) is
// walked correctly.
template <typename T> const T *element(const T *array, size_t stride, uint32_t i) {
    return reinterpret_cast<const T *>(reinterpret_cast<const char *>(array) + stride * i);
}

// Checks the kernel array and fills record.kernels; returns a refusal or "".
std::string read_kernels(const graft_plugin &table, PluginRecord &record) {
    if (table.n_kernels == 0)
        return "";
    if (!table.kernels)
        return "declares " + std::to_string(table.n_kernels) + " kernels but no kernel table";
    if (table.n_kernels > kMaxKernels)
        return "declares " + std::to_string(table.n_kernels) + " kernels (at most " +
               std::to_string(kMaxKernels) + ")";
    const size_t stride = table.kernels[0].struct_size;
    if (stride < kKernelTableV1Size || stride % alignof(graft_kernel) != 0)
        return "kernel table entries of " + std::to_string(stride) + " bytes (ABI version " +
               std::to_string(GRAFT_ABI_VERSION) + " needs at least " +
               std::to_string(kKernelTableV1Size) + ")";
    std::set<std::string> impls;
    for (uint32_t i = 0; i < table.n_kernels; ++i) {
        const graft_kernel &k = *element(table.kernels, stride, i);
        const std::string where = "kernel " + std::to_string(i);
        if (k.abi_version != GRAFT_ABI_VERSION)
            return where + ": ABI version " + std::to_string(k.abi_version) + ", expected " +
                   std::to_string(GRAFT_ABI_VERSION);
        if (k.struct_size != stride)
            return where + ": struct_size " + std::to_string(k.struct_size) +
                   " differs from the first kernel's " + std::to_string(stride);
        if (!k.op || !*k.op)
            return where + ": op is NULL or empty";
        if (!valid_name(k.impl))
            return where + " (" + k.op + "): impl is NULL, empty or contains '/' or spaces";
        const std::string named = "kernel " + std::string(k.op) + "/" + k.impl;
        if (!k.create)
            return named + ": create is NULL";
        if (!k.run)
            return named + ": run is NULL";
        if (!k.destroy)
            return named + ": destroy is NULL";
        if (k.prepare_weights && !k.release_weights)
            return named + ": prepare_weights without release_weights";
        if (k.n_weight_dtypes > 0 && !k.weight_dtypes)
            return named + ": n_weight_dtypes is " + std::to_string(k.n_weight_dtypes) +
                   " but weight_dtypes is NULL";
        if (k.n_weight_dtypes > kMaxWeightDtypes)
            return named + ": " + std::to_string(k.n_weight_dtypes) + " weight dtypes";
        if (!impls.insert(k.impl).second)
            return "two kernels named " + record.name + "/" + k.impl;
        KernelRecord kernel;
        kernel.plugin = record.name;
        kernel.op = k.op;
        kernel.impl = k.impl;
        kernel.device_kinds = k.device_kinds;
        for (uint32_t d = 0; d < k.n_weight_dtypes; ++d) {
            // A dtype this graft does not know cannot come from a GGUF it reads: skip it.
            if (const uint32_t dtype = raw_enum(k.weight_dtypes[d]); sdk::dtype_known(dtype))
                kernel.weight_dtypes.push_back(static_cast<graft_dtype>(dtype));
        }
        kernel.api = &k;
        record.kernels.push_back(std::move(kernel));
    }
    return "";
}

std::string check_memory_api(const graft_memory_api *memory) {
    if (!memory)
        return "";
    if (memory->abi_version != GRAFT_ABI_VERSION)
        return "memory table: ABI version " + std::to_string(memory->abi_version);
    if (memory->struct_size < kMemoryTableV1Size)
        return "memory table of " + std::to_string(memory->struct_size) + " bytes (needs " +
               std::to_string(kMemoryTableV1Size) + ")";
    if (!memory->alloc || !memory->free || !memory->copy_to_device || !memory->copy_to_host ||
        !memory->synchronize)
        return "memory table: alloc, free, copy_to_device, copy_to_host and synchronize are "
               "required";
    return "";
}

// Reads every device; a device that cannot be described is left out and noted, since the
// plugin's other devices may still work.
void read_devices(const graft_plugin &table, PluginRecord &record, std::string &problems) {
    std::set<std::string> names;
    for (uint32_t i = 0; i < table.n_devices; ++i) {
        auto info = sdk::versioned<graft_device_info>();
        const graft_status status = table.device_info(i, &info);
        const std::string where = "device " + std::to_string(i);
        std::string problem;
        if (status != GRAFT_OK) {
            const char *message = table.last_error();
            problem = where + ": device_info failed: " +
                      (message && *message ? message : abi_status_name(status));
        } else if (!valid_name(info.name)) {
            problem = where + ": no valid name";
        } else if (raw_enum(info.kind) > GRAFT_DEVICE_NPU) {
            problem = where + ": unknown kind " + std::to_string(raw_enum(info.kind));
        } else if (!names.insert(info.name).second) {
            problem = where + ": a second device named " + info.name;
        }
        if (!problem.empty()) {
            problems += (problems.empty() ? "" : "; ") + problem;
            continue;
        }
        DeviceRecord device;
        device.name = info.name;
        device.kind = info.kind;
        device.description = text_or_empty(info.description);
        device.memory_total = info.memory_total;
        device.memory_free = info.memory_free;
        device.caps = info.caps;
        device.capabilities = text_or_empty(info.capabilities);
        device.index = i;
        record.devices.push_back(std::move(device));
    }
}

// Checks the table and fills the record from it; returns a refusal or "".
std::string describe_table(const graft_plugin &table, PluginRecord &record) {
    if (table.abi_version != GRAFT_ABI_VERSION)
        return "ABI version " + std::to_string(table.abi_version) + "; this graft speaks " +
               std::to_string(GRAFT_ABI_VERSION);
    if (table.struct_size < kPluginTableV1Size)
        return "plugin table of " + std::to_string(table.struct_size) +
               " bytes is smaller than ABI version " + std::to_string(GRAFT_ABI_VERSION) + "'s " +
               std::to_string(kPluginTableV1Size);
    if (!valid_name(table.name))
        return "plugin name is NULL, empty or contains '/' or spaces";
    record.name = table.name;
    record.version = text_or_empty(table.version);
    record.vendor = text_or_empty(table.vendor);
    record.description = text_or_empty(table.description);
    record.status_note = text_or_empty(table.status_note);
    if (GRAFT_HAS_MEMBER(&table, graft_plugin, device_prefix))
        record.device_prefix = text_or_empty(table.device_prefix);
    if (!table.last_error)
        return "last_error is NULL";
    if (table.n_devices > kMaxDevices)
        return "declares " + std::to_string(table.n_devices) + " devices (at most " +
               std::to_string(kMaxDevices) + ")";
    if (table.n_devices > 0 && !table.device_info)
        return "declares devices but device_info is NULL";
    if (table.n_buffer_kinds > 0 && !table.buffer_kinds)
        return "declares buffer kinds but no buffer kind table";
    if (std::string why = check_memory_api(table.memory); !why.empty())
        return why;
    if (std::string why = read_kernels(table, record); !why.empty())
        return why;
    std::string problems;
    read_devices(table, record, problems);
    if (record.devices.empty() && record.status_note.empty())
        record.status_note = "no device";
    if (!problems.empty())
        record.status_note += (record.status_note.empty() ? "" : "; ") + problems;
    return "";
}

} // namespace

PluginRecord load_plugin_file(const fs::path &file) {
    PluginRecord record;
    record.file = file;
    record.name = name_from_file(file);
    const InitOutcome &outcome = init_once(file);
    record.has_score = outcome.has_score;
    record.score = outcome.score;
    std::string refusal = outcome.refusal;
    if (refusal.empty()) {
        try {
            refusal = describe_table(*outcome.table, record);
        } catch (const std::exception &e) {
            refusal = std::string("reading its tables failed: ") + e.what();
        }
    }
    if (!refusal.empty()) {
        record.status = PluginStatus::Refused;
        record.reason = refusal;
        // Half-read tables would mislead: a refused plugin lists no devices or kernels.
        record.devices.clear();
        record.kernels.clear();
        spdlog::info("plugin {} refused: {}", file.string(), refusal);
        return record;
    }
    record.status = PluginStatus::Loaded;
    record.api = outcome.table;
    spdlog::debug("plugin {} {} loaded from {}: {} devices, {} kernels", record.name,
                  record.version, file.string(), record.devices.size(), record.kernels.size());
    return record;
}

} // namespace graft::host::detail
