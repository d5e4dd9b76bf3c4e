// The example plugin's table: one CPU device named "cpu" and the kernels of kernels.cpp.
//
// "cpu" is also the name the amx-cpu plugin gives its device: devices of several plugins
// that carry one name are one device, so rules may bind some modules of a model to
// example/... kernels and others to amx-cpu/... kernels on that same "cpu".
#include "kernels.h"

#include <graft/plugin.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace sdk = graft::sdk;

// "MemTotal:  16318480 kB" -> bytes; 0 when /proc/meminfo lacks the field.
uint64_t meminfo_bytes(const std::string &field) {
    std::ifstream in("/proc/meminfo");
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string key;
        uint64_t kib = 0;
        if (words >> key >> kib && key == field + ":")
            return kib * 1024;
    }
    return 0;
}

const char *cpu_model() {
    static const std::string model = [] {
        std::ifstream in("/proc/cpuinfo");
        for (std::string line; std::getline(in, line);)
            if (line.rfind("model name", 0) == 0) {
                const size_t colon = line.find(':');
                if (colon != std::string::npos && colon + 2 <= line.size())
                    return line.substr(colon + 2);
            }
        return std::string("x86-64 CPU");
    }();
    return model.c_str();
}

graft_status device_info(uint32_t index, graft_device_info *out) {
    if (index != 0 || !out)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "the example plugin has one device");
    if (!GRAFT_HAS_MEMBER(out, graft_device_info, capabilities))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "graft_device_info too small");
    return sdk::guard([&] {
        out->kind = GRAFT_DEVICE_CPU;
        out->name = "cpu";
        out->description = cpu_model();
        out->memory_total = meminfo_bytes("MemTotal");
        out->memory_free = meminfo_bytes("MemAvailable");
        out->caps = GRAFT_CAP_HOST_MEMORY;
        if (__builtin_cpu_supports("avx2"))
            out->caps |= GRAFT_CAP_AVX2;
        out->capabilities = "plain C++ loops (example)";
        return GRAFT_OK;
    });
}

graft_plugin make_table() {
    auto p = sdk::versioned<graft_plugin>();
    p.name = "example";
    p.version = "0.1.0";
    p.vendor = "graft SDK examples";
    p.description = "add, swiglu and a naive F32 linear: a template for new plugins";
    p.n_devices = 1;
    p.device_info = device_info;
    const hello::KernelTable kernels = hello::kernel_table();
    p.kernels = kernels.data;
    p.n_kernels = kernels.size;
    p.last_error = sdk::last_error;
    p.device_prefix = "cpu";
    return p;
}

} // namespace

extern "C" GRAFT_PLUGIN_EXPORT graft_status graft_plugin_init(const graft_host_api *host,
                                                              const graft_plugin **out,
                                                              const char **error) {
    if (!out) {
        if (error)
            *error = "graft_plugin_init: out is NULL";
        return GRAFT_ERR_INVALID_ARGUMENT;
    }
    static const graft_plugin table = make_table();
    *out = &table;
    if (host && GRAFT_HAS_MEMBER(host, graft_host_api, log) && host->log)
        host->log(GRAFT_LOG_DEBUG, table.name,
                  ("ready: 1 device, " + std::to_string(table.n_kernels) + " kernels").c_str());
    return GRAFT_OK;
}
