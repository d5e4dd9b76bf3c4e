// Look-ups over the registry's records that the parser and the planner share (private to
// core/rules). They read only PluginRecord fields, so registries made by hand with
// Registry::from_records behave like discovered ones.
#pragma once

#include <graft/host/registry.h>

#include <string>
#include <vector>

namespace graft::rules::detail {

struct KernelRef {
    const host::PluginRecord *plugin = nullptr;
    const host::KernelRecord *kernel = nullptr;
};

// "plugin/impl" among the Loaded plugins; {} when absent.
KernelRef find_kernel(const host::Registry &registry, const std::string &full_name);

// "cuda" for "cuda:0", "cpu" for "cpu".
std::string device_prefix(const std::string &device);
// "cuda:0" -> 0; 0 when the name has no number.
uint32_t device_number(const std::string &device);

// A device as the planner sees it.
struct DeviceView {
    std::string name;
    bool present = false;
    graft_device_kind kind = GRAFT_DEVICE_CPU;
};
DeviceView view_device(const std::string &device, const host::Registry &registry);

// Whether `plugin` drives `device` (has it, or declares its prefix when it is absent),
// and the plugin-local index to pass it.
bool plugin_serves(const host::PluginRecord &plugin, const DeviceView &device, uint32_t *index);

const char *kind_name(graft_device_kind kind);

} // namespace graft::rules::detail
