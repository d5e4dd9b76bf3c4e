// Registry look-ups for the rules layer.
#include "lookup.h"

#include <cstdlib>

namespace graft::rules::detail {

KernelRef find_kernel(const host::Registry &registry, const std::string &full_name) {
    const size_t slash = full_name.find('/');
    if (slash == std::string::npos)
        return {};
    const std::string plugin = full_name.substr(0, slash);
    const std::string impl = full_name.substr(slash + 1);
    for (const host::PluginRecord &p : registry.plugins()) {
        if (p.status != host::PluginStatus::Loaded || p.name != plugin)
            continue;
        for (const host::KernelRecord &k : p.kernels)
            if (k.impl == impl)
                return {&p, &k};
    }
    return {};
}

std::string device_prefix(const std::string &device) {
    const size_t colon = device.find(':');
    return colon == std::string::npos ? device : device.substr(0, colon);
}

uint32_t device_number(const std::string &device) {
    const size_t colon = device.find(':');
    if (colon == std::string::npos)
        return 0;
    return static_cast<uint32_t>(std::strtoul(device.c_str() + colon + 1, nullptr, 10));
}

DeviceView view_device(const std::string &device, const host::Registry &registry) {
    DeviceView v;
    v.name = device;
    for (const host::PluginRecord &p : registry.plugins()) {
        if (p.status != host::PluginStatus::Loaded)
            continue;
        for (const host::DeviceRecord &d : p.devices)
            if (d.name == device) {
                v.present = true;
                v.kind = d.kind;
                return v;
            }
    }
    if (device == "cpu")
        return v;
    // Absent: the kind its plugins' kernels run on, other than cpu (a GPU when unsure).
    const std::string prefix = device_prefix(device);
    v.kind = GRAFT_DEVICE_GPU;
    for (const host::PluginRecord &p : registry.plugins()) {
        if (p.status != host::PluginStatus::Loaded || p.device_prefix != prefix)
            continue;
        for (const host::KernelRecord &k : p.kernels)
            for (graft_device_kind kind : {GRAFT_DEVICE_GPU, GRAFT_DEVICE_NPU})
                if ((k.device_kinds >> kind) & 1u) {
                    v.kind = kind;
                    return v;
                }
    }
    return v;
}

bool plugin_serves(const host::PluginRecord &plugin, const DeviceView &device, uint32_t *index) {
    if (plugin.status != host::PluginStatus::Loaded)
        return false;
    if (device.present) {
        for (const host::DeviceRecord &d : plugin.devices)
            if (d.name == device.name) {
                *index = d.index;
                return true;
            }
        return false;
    }
    if (!plugin.device_prefix.empty() && plugin.device_prefix == device_prefix(device.name)) {
        *index = device_number(device.name);
        return true;
    }
    return false;
}

const char *kind_name(graft_device_kind kind) {
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

} // namespace graft::rules::detail
