// Hand-made plugin records for planner tests (Registry::from_records): no plugin is loaded,
// only the facts the planner reads (devices, prefixes, kernel tables) are set.
#pragma once

#include <graft/host/registry.h>

#include <string>
#include <vector>

namespace graft::test {

constexpr uint32_t kCpu = 1u << GRAFT_DEVICE_CPU;
constexpr uint32_t kGpu = 1u << GRAFT_DEVICE_GPU;

inline host::KernelRecord kernel(const std::string &plugin, const std::string &op,
                                 const std::string &impl, std::vector<graft_dtype> dtypes,
                                 uint32_t kinds) {
    host::KernelRecord k;
    k.plugin = plugin;
    k.op = op;
    k.impl = impl;
    k.weight_dtypes = std::move(dtypes);
    k.device_kinds = kinds;
    return k;
}

inline host::DeviceRecord device(const std::string &name, graft_device_kind kind, uint32_t index) {
    host::DeviceRecord d;
    d.name = name;
    d.kind = kind;
    d.index = index;
    return d;
}

inline host::PluginRecord plugin(const std::string &name, const std::string &prefix,
                                 std::vector<host::DeviceRecord> devices,
                                 std::vector<host::KernelRecord> kernels) {
    host::PluginRecord p;
    p.name = name;
    p.device_prefix = prefix;
    p.status = host::PluginStatus::Loaded;
    p.devices = std::move(devices);
    p.kernels = std::move(kernels);
    for (auto &k : p.kernels)
        k.plugin = name;
    return p;
}

// A CPU plugin with every op: fast "linear" for F32/F16 only, "linear_ref" for more.
inline host::PluginRecord cpu_plugin(const std::string &name = "cpuk") {
    const std::vector<graft_dtype> floats = {GRAFT_DTYPE_F32, GRAFT_DTYPE_F16, GRAFT_DTYPE_BF16};
    return plugin(
        name, "cpu", {device("cpu", GRAFT_DEVICE_CPU, 0)},
        {kernel(name, "embedding", "embedding", floats, kCpu),
         kernel(name, "rmsnorm", "rmsnorm", {GRAFT_DTYPE_F32}, kCpu),
         kernel(name, "rope", "rope", {}, kCpu),
         kernel(name, "linear", "linear", {GRAFT_DTYPE_F32, GRAFT_DTYPE_F16}, kCpu),
         kernel(name, "linear", "linear_ref",
                {GRAFT_DTYPE_F32, GRAFT_DTYPE_F16, GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q4_0}, kCpu),
         kernel(name, "attention", "attention", {}, kCpu),
         kernel(name, "attention_mla", "attention_mla", {}, kCpu),
         kernel(name, "swiglu", "swiglu", {}, kCpu), kernel(name, "add", "add", {}, kCpu),
         kernel(name, "router", "router", floats, kCpu),
         kernel(name, "moe_experts", "moe",
                {GRAFT_DTYPE_F32, GRAFT_DTYPE_F16, GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q4_0}, kCpu)});
}

// A GPU plugin for "cuda:N" (no router kernel); `present` gives it device cuda:0.
inline host::PluginRecord gpu_plugin(bool present, uint32_t index = 0) {
    std::vector<host::DeviceRecord> devices;
    if (present)
        devices.push_back(device("cuda:0", GRAFT_DEVICE_GPU, index));
    return plugin("gpuk", "cuda", devices,
                  {kernel("gpuk", "embedding", "embedding", {GRAFT_DTYPE_F16}, kGpu),
                   kernel("gpuk", "rmsnorm", "rmsnorm", {GRAFT_DTYPE_F32}, kGpu),
                   kernel("gpuk", "rope", "rope", {}, kGpu),
                   kernel("gpuk", "linear", "linear", {GRAFT_DTYPE_F16, GRAFT_DTYPE_Q4_0}, kGpu),
                   kernel("gpuk", "attention", "attention", {}, kGpu),
                   kernel("gpuk", "swiglu", "swiglu", {}, kGpu),
                   kernel("gpuk", "add", "add", {}, kGpu),
                   kernel("gpuk", "moe_experts", "moe", {GRAFT_DTYPE_F16}, kGpu)});
}

// An int4-only linear plugin that shares the cuda devices, like marlin.
inline host::PluginRecord q4_plugin(bool present, uint32_t index = 0) {
    std::vector<host::DeviceRecord> devices;
    if (present)
        devices.push_back(device("cuda:0", GRAFT_DEVICE_GPU, index));
    return plugin("q4k", "cuda", devices,
                  {kernel("q4k", "linear", "linear", {GRAFT_DTYPE_Q4_0}, kGpu)});
}

inline host::PluginRecord refused_plugin(const std::string &name, const std::string &reason) {
    host::PluginRecord p;
    p.name = name;
    p.status = host::PluginStatus::Refused;
    p.reason = reason;
    return p;
}

// cpu present, cuda:0 declared but absent.
inline host::Registry cpu_machine() {
    return host::Registry::from_records({cpu_plugin(), gpu_plugin(false), q4_plugin(false),
                                         refused_plugin("npuk", "init failed: no driver")});
}

// cpu_machine() plus kernels of the real amx-cpu plugin that the shipped CPU rules name
// explicitly (after cpuk, so that the default kernels stay cpuk's).
inline host::Registry shipped_cpu_machine() {
    const std::vector<graft_dtype> floats = {GRAFT_DTYPE_F32, GRAFT_DTYPE_F16, GRAFT_DTYPE_BF16};
    return host::Registry::from_records(
        {cpu_plugin(), gpu_plugin(false), q4_plugin(false),
         refused_plugin("npuk", "init failed: no driver"),
         plugin("amx-cpu", "cpu", {device("cpu", GRAFT_DEVICE_CPU, 0)},
                {kernel("amx-cpu", "linear_heads", "linear_heads", floats, kCpu)})});
}

// cpu and cuda:0 present (q4k numbers the device 3 locally).
inline host::Registry gpu_machine() {
    return host::Registry::from_records({cpu_plugin(), gpu_plugin(true), q4_plugin(true, 3)});
}

} // namespace graft::test
