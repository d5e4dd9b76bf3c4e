// The rocm plugin: AMD GPUs through the HIP runtime (libamdhip64). Devices "rocm:N" with
// their gcnArchName; device and pinned memory, copies, streams; add and swiglu kernels in
// code objects built by hipcc. Without /dev/kfd (no driver or no GPU) it loads with no
// devices and a status note.
#include "kernels.h"
#include "tensor_checks.h"

#include <graft/plugin.hpp>

#include <hip/hip_runtime_api.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace graft::rocm {
namespace {

graft_status check(hipError_t err, const char *what) {
    if (err == hipSuccess)
        return GRAFT_OK;
    (void)hipGetLastError();
    graft_status status = GRAFT_ERR_RUNTIME;
    if (err == hipErrorOutOfMemory)
        status = GRAFT_ERR_OUT_OF_MEMORY;
    else if (err == hipErrorNoDevice || err == hipErrorInvalidDevice)
        status = GRAFT_ERR_NO_DEVICE;
    else if (err == hipErrorInvalidValue)
        status = GRAFT_ERR_INVALID_ARGUMENT;
    return sdk::fail(status, std::string("rocm: ") + what + ": " + hipGetErrorString(err));
}

struct Device {
    int ordinal = 0;
    std::string name, description, arch;
    uint64_t memory_total = 0;
    uint64_t caps = 0;
};

struct Devices {
    std::vector<Device> list;
    std::string note;
    // Pinned allocations, to free them with hipHostFree rather than hipFree.
    std::mutex pinned_mutex;
    std::set<void *> pinned;

    void discover() {
        int count = 0;
        const hipError_t err = hipGetDeviceCount(&count);
        if (err != hipSuccess || count == 0) {
            (void)hipGetLastError();
            note = std::string("no ROCm device: ") +
                   (err != hipSuccess ? hipGetErrorString(err) : "the driver reports none");
            return;
        }
        for (int ordinal = 0; ordinal < count; ++ordinal) {
            hipDeviceProp_t prop{};
            if (hipGetDeviceProperties(&prop, ordinal) != hipSuccess) {
                (void)hipGetLastError();
                continue;
            }
            Device d;
            d.ordinal = ordinal;
            d.name = "rocm:" + std::to_string(ordinal);
            d.description = prop.name;
            d.arch = prop.gcnArchName;
            d.memory_total = prop.totalGlobalMem;
            d.caps = GRAFT_CAP_FP16;
            // Matrix cores with bf16 and int8: CDNA (gfx908, gfx90a, gfx94x) and RDNA 3.
            if (d.arch.rfind("gfx908", 0) == 0 || d.arch.rfind("gfx90a", 0) == 0 ||
                d.arch.rfind("gfx94", 0) == 0 || d.arch.rfind("gfx11", 0) == 0)
                d.caps |= GRAFT_CAP_BF16 | GRAFT_CAP_INT8;
            if (prop.integrated)
                d.caps |= GRAFT_CAP_HOST_MEMORY;
            list.push_back(std::move(d));
        }
        if (list.empty())
            note = "no ROCm device: reading the device properties failed";
    }

    graft_status activate(uint32_t index) const {
        if (index >= list.size())
            return sdk::fail(GRAFT_ERR_NO_DEVICE, "no ROCm device with index " +
                                                      std::to_string(index) + " (" +
                                                      std::to_string(list.size()) + " present)");
        return check(hipSetDevice(list[index].ordinal), "hipSetDevice");
    }
};

Devices &devices() {
    static Devices d;
    return d;
}

graft_status device_info(uint32_t index, graft_device_info *out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "device_info: out is NULL");
        if (index >= devices().list.size())
            return sdk::fail(GRAFT_ERR_NO_DEVICE,
                             "device_info: no device " + std::to_string(index));
        const Device &d = devices().list[index];
        out->kind = GRAFT_DEVICE_GPU;
        out->name = d.name.c_str();
        out->description = d.description.c_str();
        out->memory_total = d.memory_total;
        out->memory_free = 0;
        out->caps = d.caps;
        out->capabilities = d.arch.c_str();
        size_t free_bytes = 0, total_bytes = 0;
        if (hipSetDevice(d.ordinal) == hipSuccess &&
            hipMemGetInfo(&free_bytes, &total_bytes) == hipSuccess)
            out->memory_free = free_bytes;
        else
            (void)hipGetLastError();
        return GRAFT_OK;
    });
}

// ------------------------------------------------------------------ memory

constexpr uint32_t kBufferDevice = 0;
constexpr uint32_t kBufferPinned = 1;

graft_status mem_alloc(uint32_t device, uint32_t kind, uint64_t bytes, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "alloc: out is NULL");
        *out = nullptr;
        if (graft_status s = devices().activate(device); s != GRAFT_OK)
            return s;
        const size_t n = bytes == 0 ? 1 : static_cast<size_t>(bytes);
        if (kind == kBufferDevice)
            return check(hipMalloc(out, n), "hipMalloc");
        if (kind != kBufferPinned)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "alloc: unknown buffer kind " + std::to_string(kind));
        if (graft_status s = check(hipHostMalloc(out, n, hipHostMallocDefault), "hipHostMalloc");
            s != GRAFT_OK)
            return s;
        std::lock_guard lock(devices().pinned_mutex);
        devices().pinned.insert(*out);
        return GRAFT_OK;
    });
}

void mem_free(uint32_t device, void *ptr) {
    if (!ptr || devices().activate(device) != GRAFT_OK)
        return;
    bool pinned = false;
    {
        std::lock_guard lock(devices().pinned_mutex);
        pinned = devices().pinned.erase(ptr) > 0;
    }
    if (pinned)
        (void)hipHostFree(ptr);
    else
        (void)hipFree(ptr);
    (void)hipGetLastError();
}

graft_status copy(uint32_t device, void *dst, const void *src, uint64_t bytes, void *stream,
                  const char *what) {
    if (bytes == 0)
        return GRAFT_OK;
    if (!dst || !src)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, std::string(what) + ": NULL pointer");
    if (graft_status s = devices().activate(device); s != GRAFT_OK)
        return s;
    // hipMemcpyDefault: unified addressing tells host, pinned and device memory apart.
    if (stream)
        return check(
            hipMemcpyAsync(dst, src, bytes, hipMemcpyDefault, static_cast<hipStream_t>(stream)),
            what);
    return check(hipMemcpy(dst, src, bytes, hipMemcpyDefault), what);
}

graft_status copy_to_device(uint32_t device, void *dst, const void *src, uint64_t bytes,
                            void *stream) {
    return copy(device, dst, src, bytes, stream, "copy_to_device");
}
graft_status copy_to_host(uint32_t device, void *dst, const void *src, uint64_t bytes,
                          void *stream) {
    return copy(device, dst, src, bytes, stream, "copy_to_host");
}
graft_status copy_on_device(uint32_t device, void *dst, const void *src, uint64_t bytes,
                            void *stream) {
    return copy(device, dst, src, bytes, stream, "copy_on_device");
}

graft_status synchronize(uint32_t device, void *stream) {
    if (graft_status s = devices().activate(device); s != GRAFT_OK)
        return s;
    if (stream)
        return check(hipStreamSynchronize(static_cast<hipStream_t>(stream)),
                     "hipStreamSynchronize");
    return check(hipDeviceSynchronize(), "hipDeviceSynchronize");
}

graft_status stream_create(uint32_t device, void **out) {
    if (!out)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "stream_create: out is NULL");
    *out = nullptr;
    if (graft_status s = devices().activate(device); s != GRAFT_OK)
        return s;
    hipStream_t stream = nullptr;
    if (graft_status s = check(hipStreamCreate(&stream), "hipStreamCreate"); s != GRAFT_OK)
        return s;
    *out = stream;
    return GRAFT_OK;
}

void stream_destroy(uint32_t device, void *stream) {
    if (!stream || devices().activate(device) != GRAFT_OK)
        return;
    (void)hipStreamDestroy(static_cast<hipStream_t>(stream));
    (void)hipGetLastError();
}

// ------------------------------------------------------------------ kernels

struct State {
    uint32_t device;
};

graft_status create(const graft_kernel_config *config, void **out) {
    return sdk::guard([&] {
        if (!out || !config || config->struct_size < sizeof(graft_kernel_config))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rocm: bad kernel config");
        if (config->device >= devices().list.size())
            return sdk::fail(GRAFT_ERR_NO_DEVICE,
                             "rocm: no device with index " + std::to_string(config->device));
        *out = new State{config->device};
        return GRAFT_OK;
    });
}

void destroy(void *state) {
    delete static_cast<State *>(state);
}

using Launcher = hipError_t (*)(const float *, const float *, float *, int64_t, hipStream_t);

graft_status run_binary(void *state, const graft_kernel_call *call, const char *op,
                        Launcher launch) {
    return sdk::guard([&] {
        const auto *st = static_cast<const State *>(state);
        if (!st)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, std::string(op) + ": state is NULL");
        if (graft_status s = gpu::check_call(call, 2, 1, op); s != GRAFT_OK)
            return s;
        const graft_tensor &a = call->inputs[0], &b = call->inputs[1];
        const graft_tensor &y = call->outputs[0];
        for (const graft_tensor *t : {&a, &b, &y})
            if (graft_status s = gpu::check_tensor(*t, GRAFT_DTYPE_F32, st->device, op,
                                                   t == &y ? "out" : "input");
                s != GRAFT_OK)
                return s;
        if (!gpu::same_shape(a, b) || !gpu::same_shape(a, y))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             std::string(op) + ": inputs and output must have one shape");
        if (graft_status s = devices().activate(st->device); s != GRAFT_OK)
            return s;
        return check(launch(static_cast<const float *>(a.data), static_cast<const float *>(b.data),
                            static_cast<float *>(y.data), sdk::n_elements(a),
                            static_cast<hipStream_t>(call->stream)),
                     op);
    });
}

graft_status run_add(void *state, const graft_kernel_call *call) {
    return run_binary(state, call, "add", launch_add);
}
graft_status run_swiglu(void *state, const graft_kernel_call *call) {
    return run_binary(state, call, "swiglu", launch_swiglu);
}

graft_kernel make_kernel(const char *op, graft_status (*run)(void *, const graft_kernel_call *)) {
    auto k = sdk::versioned<graft_kernel>();
    k.op = op;
    k.impl = op;
    k.device_kinds = 1u << GRAFT_DEVICE_GPU;
    k.create = create;
    k.run = run;
    k.destroy = destroy;
    return k;
}

const graft_plugin &table() {
    static const graft_buffer_kind kinds[] = {
        {GRAFT_ABI_VERSION, sizeof(graft_buffer_kind), kBufferDevice, "device",
         GRAFT_BUFFER_DEVICE_LOCAL},
        {GRAFT_ABI_VERSION, sizeof(graft_buffer_kind), kBufferPinned, "pinned",
         GRAFT_BUFFER_HOST_VISIBLE | GRAFT_BUFFER_PINNED},
    };
    static const graft_memory_api memory = [] {
        auto m = sdk::versioned<graft_memory_api>();
        m.alloc = mem_alloc;
        m.free = mem_free;
        m.copy_to_device = copy_to_device;
        m.copy_to_host = copy_to_host;
        m.copy_on_device = copy_on_device;
        m.synchronize = synchronize;
        m.stream_create = stream_create;
        m.stream_destroy = stream_destroy;
        return m;
    }();
    static const graft_kernel kernels[] = {make_kernel("add", run_add),
                                           make_kernel("swiglu", run_swiglu)};
    static const graft_plugin plugin = [] {
        devices().discover();
        auto p = sdk::versioned<graft_plugin>();
        p.name = "rocm";
        p.version = "0.1.0";
        p.vendor = "graft";
        p.description = "AMD GPUs through the HIP runtime";
        p.status_note = devices().note.empty() ? nullptr : devices().note.c_str();
        p.n_devices = static_cast<uint32_t>(devices().list.size());
        p.device_info = device_info;
        p.buffer_kinds = kinds;
        p.n_buffer_kinds = 2;
        p.memory = &memory;
        p.kernels = kernels;
        p.n_kernels = 2;
        p.last_error = sdk::last_error;
        p.device_prefix = "rocm";
        return p;
    }();
    return plugin;
}

} // namespace
} // namespace graft::rocm

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
        *out = &graft::rocm::table();
    } catch (...) {
        if (error)
            *error = "rocm: out of memory while reading the devices";
        return GRAFT_ERR_INTERNAL;
    }
    return GRAFT_OK;
}

extern "C" GRAFT_PLUGIN_EXPORT uint32_t graft_plugin_score(void) {
    return 1;
}
