// The cuda plugin: NVIDIA GPUs through the CUDA runtime, linked statically so that the
// plugin loads on machines without the CUDA toolkit. Without a driver or a device it loads
// with no devices and a status note; it never refuses to load for that.
#include "kernels.h"
#include "runtime.h"

#include <graft/plugin.hpp>

namespace {

using namespace graft;

const graft_kernel *kernel_table() {
    static const graft_kernel table[] = {
        cuda::embedding_kernel(), cuda::rmsnorm_kernel(),   cuda::rope_kernel(),
        cuda::linear_kernel(),    cuda::attention_kernel(), cuda::swiglu_kernel(),
        cuda::add_kernel(),
    };
    return table;
}
constexpr uint32_t kKernelCount = 7;

graft_status device_info(uint32_t index, graft_device_info *out) {
    return sdk::guard([&] { return cuda::devices().info(index, out); });
}

const graft_plugin &table() {
    static const graft_plugin plugin = [] {
        cuda::devices().discover(0, "");
        auto p = sdk::versioned<graft_plugin>();
        p.name = "cuda";
        p.version = "0.1.0";
        p.vendor = "graft";
        p.description = "NVIDIA GPUs through the CUDA runtime (static cudart)";
        p.status_note = cuda::devices().note();
        p.n_devices = cuda::devices().count();
        p.device_info = device_info;
        p.buffer_kinds = cuda::buffer_kinds();
        p.n_buffer_kinds = cuda::n_buffer_kinds();
        p.memory = cuda::memory_api();
        p.kernels = kernel_table();
        p.n_kernels = kKernelCount;
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
            *error = "cuda: out of memory while reading the devices";
        return GRAFT_ERR_INTERNAL;
    }
    return GRAFT_OK;
}

// Loading is always possible: the runtime is inside the plugin and looks for the driver
// when asked. Whether devices exist is reported through n_devices and status_note.
extern "C" GRAFT_PLUGIN_EXPORT uint32_t graft_plugin_score(void) {
    return 1;
}
