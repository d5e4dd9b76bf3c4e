// The npu plugin: NPUs (Level Zero device type VPU, e.g. Intel AI Boost) through the Level
// Zero loader. Devices "npu:N"; device, host and shared memory; copies through immediate
// command lists. The loader is linked; without an NPU driver zeInit or the device list
// comes back empty and the plugin loads with no devices and a status note.
//
// Copies without a stream go through a synchronous immediate list and are complete on
// return. A stream is an asynchronous immediate list: every copy is followed by a barrier,
// so the stream's work runs in order, and synchronize waits on a host-visible event.
#include <graft/plugin.hpp>

#include <level_zero/ze_api.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace graft::npu {
namespace {

std::string result_name(ze_result_t r) {
    switch (r) {
    case ZE_RESULT_SUCCESS:
        return "ZE_RESULT_SUCCESS";
    case ZE_RESULT_NOT_READY:
        return "ZE_RESULT_NOT_READY";
    case ZE_RESULT_ERROR_DEVICE_LOST:
        return "ZE_RESULT_ERROR_DEVICE_LOST";
    case ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY:
        return "ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY";
    case ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY:
        return "ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY";
    case ZE_RESULT_ERROR_UNINITIALIZED:
        return "ZE_RESULT_ERROR_UNINITIALIZED (no driver)";
    case ZE_RESULT_ERROR_UNSUPPORTED_FEATURE:
        return "ZE_RESULT_ERROR_UNSUPPORTED_FEATURE";
    case ZE_RESULT_ERROR_INVALID_ARGUMENT:
        return "ZE_RESULT_ERROR_INVALID_ARGUMENT";
    case ZE_RESULT_ERROR_INVALID_NULL_POINTER:
        return "ZE_RESULT_ERROR_INVALID_NULL_POINTER";
    case ZE_RESULT_ERROR_UNSUPPORTED_SIZE:
        return "ZE_RESULT_ERROR_UNSUPPORTED_SIZE";
    default:
        break;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "ze_result_t 0x%x", static_cast<unsigned>(r));
    return buf;
}

graft_status check(ze_result_t r, const char *what) {
    if (r == ZE_RESULT_SUCCESS)
        return GRAFT_OK;
    graft_status status = GRAFT_ERR_RUNTIME;
    if (r == ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY || r == ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY)
        status = GRAFT_ERR_OUT_OF_MEMORY;
    else if (r == ZE_RESULT_ERROR_INVALID_ARGUMENT || r == ZE_RESULT_ERROR_INVALID_NULL_POINTER ||
             r == ZE_RESULT_ERROR_UNSUPPORTED_SIZE)
        status = GRAFT_ERR_INVALID_ARGUMENT;
    else if (r == ZE_RESULT_ERROR_DEVICE_LOST || r == ZE_RESULT_ERROR_UNINITIALIZED)
        status = GRAFT_ERR_NO_DEVICE;
    return sdk::fail(status, std::string("npu: ") + what + ": " + result_name(r));
}

struct Stream {
    uint32_t device = 0;
    ze_command_list_handle_t list = nullptr;
    ze_event_pool_handle_t pool = nullptr;
    ze_event_handle_t done = nullptr;
    std::mutex mutex; // a command list is not thread-safe
};

struct Device {
    ze_driver_handle_t driver = nullptr;
    ze_device_handle_t handle = nullptr;
    ze_context_handle_t context = nullptr;
    uint32_t copy_ordinal = 0; // command queue group used for copies
    ze_command_list_handle_t sync_list = nullptr;
    std::mutex sync_mutex;
    std::string name, description, capabilities;
    uint64_t memory_total = 0;
};

struct Registry {
    std::vector<std::unique_ptr<Device>> list;
    std::string note;
    std::mutex streams_mutex;
    std::set<Stream *> streams;

    Device *find(uint32_t index) { return index < list.size() ? list[index].get() : nullptr; }

    void discover();
    // Sets up one VPU device; false when a step fails (the device is then skipped).
    bool add(ze_driver_handle_t driver, ze_context_handle_t context, ze_device_handle_t dev,
             const ze_device_properties_t &props);
};

uint32_t copy_group(ze_device_handle_t dev) {
    uint32_t count = 0;
    if (zeDeviceGetCommandQueueGroupProperties(dev, &count, nullptr) != ZE_RESULT_SUCCESS)
        return 0;
    std::vector<ze_command_queue_group_properties_t> groups(count);
    for (auto &g : groups) {
        g = {};
        g.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES;
    }
    if (zeDeviceGetCommandQueueGroupProperties(dev, &count, groups.data()) != ZE_RESULT_SUCCESS)
        return 0;
    for (uint32_t i = 0; i < count; ++i)
        if (groups[i].flags & ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COPY)
            return i;
    return 0;
}

ze_result_t create_list(const Device &d, ze_command_queue_mode_t mode,
                        ze_command_list_handle_t *out) {
    ze_command_queue_desc_t desc = {};
    desc.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC;
    desc.ordinal = d.copy_ordinal;
    desc.mode = mode;
    desc.priority = ZE_COMMAND_QUEUE_PRIORITY_NORMAL;
    return zeCommandListCreateImmediate(d.context, d.handle, &desc, out);
}

bool Registry::add(ze_driver_handle_t driver, ze_context_handle_t context, ze_device_handle_t dev,
                   const ze_device_properties_t &props) {
    auto d = std::make_unique<Device>();
    d->driver = driver;
    d->handle = dev;
    d->context = context;
    d->copy_ordinal = copy_group(dev);
    if (create_list(*d, ZE_COMMAND_QUEUE_MODE_SYNCHRONOUS, &d->sync_list) != ZE_RESULT_SUCCESS)
        return false;
    const size_t index = list.size();
    d->name = "npu:" + std::to_string(index);
    d->description = props.name;
    ze_api_version_t api = ZE_API_VERSION_1_0;
    zeDriverGetApiVersion(driver, &api);
    d->capabilities = "level-zero " + std::to_string(ZE_MAJOR_VERSION(api)) + "." +
                      std::to_string(ZE_MINOR_VERSION(api));
    uint32_t n_mem = 0;
    if (zeDeviceGetMemoryProperties(dev, &n_mem, nullptr) == ZE_RESULT_SUCCESS && n_mem > 0) {
        std::vector<ze_device_memory_properties_t> mems(n_mem);
        for (auto &m : mems) {
            m = {};
            m.stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES;
        }
        if (zeDeviceGetMemoryProperties(dev, &n_mem, mems.data()) == ZE_RESULT_SUCCESS)
            for (uint32_t i = 0; i < n_mem; ++i)
                d->memory_total += mems[i].totalSize;
    }
    list.push_back(std::move(d));
    return true;
}

void Registry::discover() {
    ze_result_t r = zeInit(0);
    if (r != ZE_RESULT_SUCCESS) {
        note = "no NPU: zeInit: " + result_name(r);
        return;
    }
    uint32_t n_drivers = 0;
    r = zeDriverGet(&n_drivers, nullptr);
    if (r != ZE_RESULT_SUCCESS || n_drivers == 0) {
        note = "no NPU: no Level Zero driver (" + result_name(r) + ")";
        return;
    }
    std::vector<ze_driver_handle_t> drivers(n_drivers);
    zeDriverGet(&n_drivers, drivers.data());
    for (ze_driver_handle_t driver : drivers) {
        uint32_t n_devices = 0;
        if (zeDeviceGet(driver, &n_devices, nullptr) != ZE_RESULT_SUCCESS || n_devices == 0)
            continue;
        std::vector<ze_device_handle_t> devs(n_devices);
        zeDeviceGet(driver, &n_devices, devs.data());
        ze_context_handle_t context = nullptr;
        for (ze_device_handle_t dev : devs) {
            ze_device_properties_t props = {};
            props.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES;
            if (zeDeviceGetProperties(dev, &props) != ZE_RESULT_SUCCESS ||
                props.type != ZE_DEVICE_TYPE_VPU)
                continue;
            if (!context) { // one context per driver, shared by its NPUs
                ze_context_desc_t desc = {};
                desc.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC;
                if (zeContextCreate(driver, &desc, &context) != ZE_RESULT_SUCCESS)
                    break;
            }
            add(driver, context, dev, props);
        }
    }
    if (list.empty())
        note = "no NPU: the Level Zero drivers report no device of type VPU";
}

Registry &registry() {
    static Registry r;
    return r;
}

Device *device_or_fail(uint32_t index, graft_status &status) {
    Device *d = registry().find(index);
    status = d ? GRAFT_OK
               : sdk::fail(GRAFT_ERR_NO_DEVICE, "no NPU with index " + std::to_string(index) +
                                                    " (" + std::to_string(registry().list.size()) +
                                                    " present)");
    return d;
}

graft_status device_info(uint32_t index, graft_device_info *out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "device_info: out is NULL");
        graft_status s;
        Device *d = device_or_fail(index, s);
        if (!d)
            return s;
        out->kind = GRAFT_DEVICE_NPU;
        out->name = d->name.c_str();
        out->description = d->description.c_str();
        out->memory_total = d->memory_total;
        out->memory_free = 0; // Level Zero core has no free-memory query
        out->caps = GRAFT_CAP_FP16 | GRAFT_CAP_INT8;
        out->capabilities = d->capabilities.c_str();
        return GRAFT_OK;
    });
}

// ------------------------------------------------------------------ memory

constexpr uint32_t kBufferDevice = 0;
constexpr uint32_t kBufferHost = 1;
constexpr uint32_t kBufferShared = 2;
constexpr size_t kAlignment = 64;

graft_status mem_alloc(uint32_t device, uint32_t kind, uint64_t bytes, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "alloc: out is NULL");
        *out = nullptr;
        graft_status s;
        Device *d = device_or_fail(device, s);
        if (!d)
            return s;
        const size_t n = bytes == 0 ? 1 : static_cast<size_t>(bytes);
        ze_device_mem_alloc_desc_t dev_desc = {};
        dev_desc.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC;
        ze_host_mem_alloc_desc_t host_desc = {};
        host_desc.stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC;
        switch (kind) {
        case kBufferDevice:
            return check(zeMemAllocDevice(d->context, &dev_desc, n, kAlignment, d->handle, out),
                         "zeMemAllocDevice");
        case kBufferHost:
            return check(zeMemAllocHost(d->context, &host_desc, n, kAlignment, out),
                         "zeMemAllocHost");
        case kBufferShared:
            return check(
                zeMemAllocShared(d->context, &dev_desc, &host_desc, n, kAlignment, d->handle, out),
                "zeMemAllocShared");
        default:
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "alloc: unknown buffer kind " + std::to_string(kind));
        }
    });
}

void mem_free(uint32_t device, void *ptr) {
    Device *d = registry().find(device);
    if (ptr && d)
        zeMemFree(d->context, ptr);
}

graft_status copy(uint32_t device, void *dst, const void *src, uint64_t bytes, void *stream,
                  const char *what) {
    if (bytes == 0)
        return GRAFT_OK;
    if (!dst || !src)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, std::string(what) + ": NULL pointer");
    graft_status s;
    Device *d = device_or_fail(device, s);
    if (!d)
        return s;
    if (!stream) {
        std::lock_guard lock(d->sync_mutex);
        return check(
            zeCommandListAppendMemoryCopy(d->sync_list, dst, src, bytes, nullptr, 0, nullptr),
            what);
    }
    auto *st = static_cast<Stream *>(stream);
    std::lock_guard lock(st->mutex);
    if (graft_status c = check(
            zeCommandListAppendMemoryCopy(st->list, dst, src, bytes, nullptr, 0, nullptr), what);
        c != GRAFT_OK)
        return c;
    return check(zeCommandListAppendBarrier(st->list, nullptr, 0, nullptr), "ordering barrier");
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

graft_status sync_stream(Stream &st) {
    std::lock_guard lock(st.mutex);
    if (graft_status s = check(zeCommandListAppendBarrier(st.list, st.done, 0, nullptr),
                               "zeCommandListAppendBarrier");
        s != GRAFT_OK)
        return s;
    if (graft_status s =
            check(zeEventHostSynchronize(st.done, UINT64_MAX), "zeEventHostSynchronize");
        s != GRAFT_OK)
        return s;
    return check(zeEventHostReset(st.done), "zeEventHostReset");
}

graft_status synchronize(uint32_t device, void *stream) {
    graft_status s;
    if (!device_or_fail(device, s))
        return s;
    if (stream)
        return sync_stream(*static_cast<Stream *>(stream));
    // The default list is synchronous; wait for the device's streams.
    std::lock_guard lock(registry().streams_mutex);
    for (Stream *st : registry().streams)
        if (st->device == device)
            if (graft_status r = sync_stream(*st); r != GRAFT_OK)
                return r;
    return GRAFT_OK;
}

void stream_destroy(uint32_t device, void *stream);

graft_status stream_create(uint32_t device, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "stream_create: out is NULL");
        *out = nullptr;
        graft_status s;
        Device *d = device_or_fail(device, s);
        if (!d)
            return s;
        auto st = std::make_unique<Stream>();
        st->device = device;
        if (graft_status c = check(create_list(*d, ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS, &st->list),
                                   "zeCommandListCreateImmediate");
            c != GRAFT_OK)
            return c;
        ze_event_pool_desc_t pool_desc = {};
        pool_desc.stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC;
        pool_desc.flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE;
        pool_desc.count = 1;
        ze_event_desc_t event_desc = {};
        event_desc.stype = ZE_STRUCTURE_TYPE_EVENT_DESC;
        event_desc.index = 0;
        event_desc.signal = ZE_EVENT_SCOPE_FLAG_HOST;
        event_desc.wait = ZE_EVENT_SCOPE_FLAG_HOST;
        ze_device_handle_t dev = d->handle;
        graft_status c = check(zeEventPoolCreate(d->context, &pool_desc, 1, &dev, &st->pool),
                               "zeEventPoolCreate");
        if (c == GRAFT_OK)
            c = check(zeEventCreate(st->pool, &event_desc, &st->done), "zeEventCreate");
        if (c != GRAFT_OK) {
            stream_destroy(device, st.release());
            return c;
        }
        std::lock_guard lock(registry().streams_mutex);
        registry().streams.insert(st.get());
        *out = st.release();
        return GRAFT_OK;
    });
}

void stream_destroy(uint32_t device, void *stream) {
    (void)device;
    auto *st = static_cast<Stream *>(stream);
    if (!st)
        return;
    {
        std::lock_guard lock(registry().streams_mutex);
        registry().streams.erase(st);
    }
    if (st->done)
        zeEventDestroy(st->done);
    if (st->pool)
        zeEventPoolDestroy(st->pool);
    if (st->list)
        zeCommandListDestroy(st->list);
    delete st;
}

const graft_plugin &table() {
    static const graft_buffer_kind kinds[] = {
        {GRAFT_ABI_VERSION, sizeof(graft_buffer_kind), kBufferDevice, "device",
         GRAFT_BUFFER_DEVICE_LOCAL},
        {GRAFT_ABI_VERSION, sizeof(graft_buffer_kind), kBufferHost, "host",
         GRAFT_BUFFER_HOST_VISIBLE | GRAFT_BUFFER_PINNED},
        {GRAFT_ABI_VERSION, sizeof(graft_buffer_kind), kBufferShared, "shared",
         GRAFT_BUFFER_HOST_VISIBLE | GRAFT_BUFFER_DEVICE_LOCAL},
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
    static const graft_plugin plugin = [] {
        registry().discover();
        auto p = sdk::versioned<graft_plugin>();
        p.name = "npu";
        p.version = "0.1.0";
        p.vendor = "graft";
        p.description = "NPUs through Level Zero (memory and copies; no kernels yet)";
        p.status_note = registry().note.empty() ? nullptr : registry().note.c_str();
        p.n_devices = static_cast<uint32_t>(registry().list.size());
        p.device_info = device_info;
        p.buffer_kinds = kinds;
        p.n_buffer_kinds = 3;
        p.memory = &memory;
        p.last_error = sdk::last_error;
        p.device_prefix = "npu";
        return p;
    }();
    return plugin;
}

} // namespace
} // namespace graft::npu

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
        *out = &graft::npu::table();
    } catch (...) {
        if (error)
            *error = "npu: out of memory while reading the devices";
        return GRAFT_ERR_INTERNAL;
    }
    return GRAFT_OK;
}

extern "C" GRAFT_PLUGIN_EXPORT uint32_t graft_plugin_score(void) {
    return 1;
}
