// The marlin plugin: int4 linear layers on the tensor cores of NVIDIA GPUs of compute
// capability 8.0 and up. It sees the same "cuda:N" devices as the cuda plugin (one device,
// one address space), lists only those it can run on, and brings its own memory API so that
// it works without the cuda plugin.
#include "marlin.h"
#include "runtime.h"

#include <graft/plugin.hpp>

namespace {

using namespace graft;

const graft_kernel *kernel_table() {
    static const graft_kernel table[] = {marlin::linear_kernel()};
    return table;
}

graft_status device_info(uint32_t index, graft_device_info *out) {
    return sdk::guard([&] { return cuda::devices().info(index, out); });
}

const graft_plugin &table() {
    static const graft_plugin plugin = [] {
        cuda::devices().discover(80, "of compute capability 8.0 or newer");
        auto p = sdk::versioned<graft_plugin>();
        p.name = "marlin";
        p.version = "0.1.0";
        p.vendor = "graft";
        p.description = "int4 x fp16 linear layers on tensor cores (Q4_0, Q4_K), sm_80 and up";
        p.status_note = cuda::devices().note();
        p.n_devices = cuda::devices().count();
        p.device_info = device_info;
        p.buffer_kinds = cuda::buffer_kinds();
        p.n_buffer_kinds = cuda::n_buffer_kinds();
        p.memory = cuda::memory_api();
        p.kernels = kernel_table();
        p.n_kernels = 1;
        p.last_error = sdk::last_error;
        p.device_prefix = "cuda";
        return p;
    }();
    return plugin;
}

} // namespace

extern "C" GRAFT_PLUGIN_EXPORT graft_status graft_plugin_init(const graft_host_api *host,
                                                              const graft_plugin **out,
                                                              const char **error) {
    (void)host;
    if (!out) {
        if (error)
            *error = "graft_plugin_init: out is NULL";
        return GRAFT_ERR_INVALID_ARGUMENT;
    }
    try {
        *out = &table();
    } catch (...) {
        if (error)
            *error = "marlin: out of memory while reading the devices";
        return GRAFT_ERR_INTERNAL;
    }
    return GRAFT_OK;
}

// Loads wherever the cuda plugin loads; devices it cannot use are simply not listed.
extern "C" GRAFT_PLUGIN_EXPORT uint32_t graft_plugin_score(void) {
    return 1;
}
