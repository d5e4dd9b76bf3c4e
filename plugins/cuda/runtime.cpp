#include "runtime.h"

#include <graft/plugin.hpp>

#include <string>

namespace graft::cuda {

graft_status check(cudaError_t err, const char *what) {
    if (err == cudaSuccess)
        return GRAFT_OK;
    cudaGetLastError(); // clear a non-sticky error so the next call starts clean
    graft_status status = GRAFT_ERR_RUNTIME;
    if (err == cudaErrorMemoryAllocation)
        status = GRAFT_ERR_OUT_OF_MEMORY;
    else if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver ||
             err == cudaErrorInvalidDevice)
        status = GRAFT_ERR_NO_DEVICE;
    else if (err == cudaErrorInvalidValue)
        status = GRAFT_ERR_INVALID_ARGUMENT;
    return sdk::fail(status, std::string("cuda: ") + what + ": " + cudaGetErrorString(err));
}

void DeviceTable::discover(int min_cc, const char *requirement) {
    devices_.clear();
    note_.clear();
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cudaGetLastError();
        note_ = std::string("no CUDA device: ") + cudaGetErrorString(err);
        return;
    }
    std::string skipped;
    for (int ordinal = 0; ordinal < count; ++ordinal) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, ordinal) != cudaSuccess) {
            cudaGetLastError();
            continue;
        }
        Device d;
        d.ordinal = ordinal;
        d.cc = prop.major * 10 + prop.minor;
        d.name = "cuda:" + std::to_string(ordinal);
        d.description = prop.name;
        d.capabilities = "sm_" + std::to_string(d.cc);
        d.memory_total = prop.totalGlobalMem;
        if (d.cc >= 53)
            d.caps |= GRAFT_CAP_FP16;
        if (d.cc >= 80)
            d.caps |= GRAFT_CAP_BF16;
        if (d.cc >= 75)
            d.caps |= GRAFT_CAP_INT8;
        if (prop.integrated)
            d.caps |= GRAFT_CAP_HOST_MEMORY;
        if (d.cc < min_cc) {
            skipped += (skipped.empty() ? "" : ", ") + d.name + " " + d.capabilities;
            continue;
        }
        devices_.push_back(std::move(d));
    }
    if (devices_.empty()) {
        if (count == 0)
            note_ = "no CUDA device: the driver reports none";
        else if (!skipped.empty())
            note_ = std::string("no CUDA device ") + requirement + " (found " + skipped + ")";
        else
            note_ = "no CUDA device: reading the device properties failed";
    }
}

graft_status DeviceTable::info(uint32_t index, graft_device_info *out) const {
    const Device *d = find(index);
    if (!out)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "device_info: out is NULL");
    if (!d)
        return sdk::fail(GRAFT_ERR_NO_DEVICE, "device_info: no device " + std::to_string(index));
    out->kind = GRAFT_DEVICE_GPU;
    out->name = d->name.c_str();
    out->description = d->description.c_str();
    out->memory_total = d->memory_total;
    out->memory_free = 0;
    out->caps = d->caps;
    out->capabilities = d->capabilities.c_str();
    // cudaMemGetInfo needs a context on the device; creating one here is the cost of an
    // accurate figure, and the host asks for it only when it plans placements.
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(d->ordinal) == cudaSuccess &&
        cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess)
        out->memory_free = free_bytes;
    else
        cudaGetLastError();
    return GRAFT_OK;
}

graft_status DeviceTable::activate(uint32_t index) const {
    const Device *d = find(index);
    if (!d)
        return sdk::fail(GRAFT_ERR_NO_DEVICE, "no CUDA device with index " + std::to_string(index) +
                                                  " (" + std::to_string(count()) + " present)");
    return check(cudaSetDevice(d->ordinal), "cudaSetDevice");
}

DeviceTable &devices() {
    static DeviceTable table;
    return table;
}

namespace {

graft_status mem_alloc(uint32_t device, uint32_t kind, uint64_t bytes, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "alloc: out is NULL");
        *out = nullptr;
        if (graft_status s = devices().activate(device); s != GRAFT_OK)
            return s;
        const size_t n = bytes == 0 ? 1 : static_cast<size_t>(bytes);
        if (kind == kBufferDevice)
            return check(cudaMalloc(out, n), "cudaMalloc");
        if (kind == kBufferPinned)
            return check(cudaMallocHost(out, n), "cudaMallocHost");
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         "alloc: unknown buffer kind " + std::to_string(kind));
    });
}

void mem_free(uint32_t device, void *ptr) {
    if (!ptr || devices().activate(device) != GRAFT_OK)
        return;
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, ptr) == cudaSuccess && attr.type == cudaMemoryTypeHost)
        cudaFreeHost(ptr);
    else
        cudaFree(ptr);
    cudaGetLastError();
}

// cudaMemcpyDefault lets unified addressing tell pageable, pinned and device memory apart,
// so a pinned buffer works on either side of any copy.
graft_status copy(uint32_t device, void *dst, const void *src, uint64_t bytes, void *stream,
                  cudaMemcpyKind kind, const char *what) {
    if (bytes == 0)
        return GRAFT_OK;
    if (!dst || !src)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, std::string(what) + ": NULL pointer");
    if (graft_status s = devices().activate(device); s != GRAFT_OK)
        return s;
    if (stream)
        return check(cudaMemcpyAsync(dst, src, bytes, kind, static_cast<cudaStream_t>(stream)),
                     what);
    return check(cudaMemcpy(dst, src, bytes, kind), what);
}

graft_status copy_to_device(uint32_t device, void *dst, const void *src, uint64_t bytes,
                            void *stream) {
    return copy(device, dst, src, bytes, stream, cudaMemcpyDefault, "copy_to_device");
}

graft_status copy_to_host(uint32_t device, void *dst, const void *src, uint64_t bytes,
                          void *stream) {
    return copy(device, dst, src, bytes, stream, cudaMemcpyDefault, "copy_to_host");
}

graft_status copy_on_device(uint32_t device, void *dst, const void *src, uint64_t bytes,
                            void *stream) {
    return copy(device, dst, src, bytes, stream, cudaMemcpyDefault, "copy_on_device");
}

graft_status synchronize(uint32_t device, void *stream) {
    if (graft_status s = devices().activate(device); s != GRAFT_OK)
        return s;
    if (stream)
        return check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
                     "cudaStreamSynchronize");
    return check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

graft_status stream_create(uint32_t device, void **out) {
    if (!out)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "stream_create: out is NULL");
    *out = nullptr;
    if (graft_status s = devices().activate(device); s != GRAFT_OK)
        return s;
    cudaStream_t stream = nullptr;
    // A blocking stream: work on the legacy default stream (copies without a stream)
    // waits for it, which keeps mixed use ordered.
    if (graft_status s = check(cudaStreamCreate(&stream), "cudaStreamCreate"); s != GRAFT_OK)
        return s;
    *out = stream;
    return GRAFT_OK;
}

void stream_destroy(uint32_t device, void *stream) {
    if (!stream || devices().activate(device) != GRAFT_OK)
        return;
    cudaStreamDestroy(static_cast<cudaStream_t>(stream));
    cudaGetLastError();
}

} // namespace

const graft_buffer_kind *buffer_kinds() {
    static const graft_buffer_kind kinds[] = {
        {GRAFT_ABI_VERSION, sizeof(graft_buffer_kind), kBufferDevice, "device",
         GRAFT_BUFFER_DEVICE_LOCAL},
        {GRAFT_ABI_VERSION, sizeof(graft_buffer_kind), kBufferPinned, "pinned",
         GRAFT_BUFFER_HOST_VISIBLE | GRAFT_BUFFER_PINNED},
    };
    return kinds;
}

uint32_t n_buffer_kinds() {
    return 2;
}

const graft_memory_api *memory_api() {
    static const graft_memory_api api = [] {
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
    return &api;
}

} // namespace graft::cuda
