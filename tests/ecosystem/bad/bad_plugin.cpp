// A plugin that misbehaves on purpose, one way per build (BAD_MODE), for the tests of
// `graft plugins check`: the checker must name each fault and survive it.
//   0 good          add and linear, correct (a control)
//   1 wrong         add is off by a little on one element
//   2 overrun       add writes one float past the end of its output
//   3 crash         add writes through a null pointer
//   4 null-run      add's run is NULL (the host refuses the plugin)
//   5 hang          add never returns
//   6 devmem        correct, on a device whose memory is not host memory (copies through
//                   the memory API, which keeps "device" memory in the heap)
//   7 devmem-overrun  as 6, but add writes past its output
#include <graft/plugin.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <thread>

#ifndef BAD_MODE
#define BAD_MODE 0
#endif
#ifndef BAD_NAME
#define BAD_NAME "bad"
#endif

namespace {

namespace sdk = graft::sdk;

constexpr bool kDeviceMemory = BAD_MODE == 6 || BAD_MODE == 7;
int marker = 0;

graft_status create_stateless(const graft_kernel_config *config, void **out) {
    if (!config || !out)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "NULL config or out");
    *out = &marker;
    return GRAFT_OK;
}
void destroy_stateless(void *) {}

bool f32_contiguous(const graft_tensor &t) {
    return t.dtype == GRAFT_DTYPE_F32 && t.data && sdk::is_contiguous(t) && t.nb[0] == 4;
}

graft_status run_add(void *, const graft_kernel_call *call) {
    if (!call || call->n_inputs != 2 || call->n_outputs != 1)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "add: 2 inputs and 1 output");
    const graft_tensor &a = call->inputs[0], &b = call->inputs[1], &y = call->outputs[0];
    if (!f32_contiguous(a) || !f32_contiguous(b) || !f32_contiguous(y) ||
        sdk::n_elements(a) != sdk::n_elements(y) || sdk::n_elements(b) != sdk::n_elements(y))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "add: contiguous F32 of one shape");
    const int64_t n = sdk::n_elements(y);
    const float *pa = static_cast<const float *>(a.data), *pb = static_cast<const float *>(b.data);
    float *py = static_cast<float *>(y.data);
    for (int64_t i = 0; i < n; ++i)
        py[i] = pa[i] + pb[i];
    if (BAD_MODE == 1)
        py[n / 2] += 0.25f;
    if (BAD_MODE == 2 || BAD_MODE == 7)
        py[n] = 1.0f;
    if (BAD_MODE == 3) {
        static float *volatile nowhere = nullptr;
        *nowhere = py[0];
    }
    if (BAD_MODE == 5)
        for (;;)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return GRAFT_OK;
}

// linear for F32 weights, correct in every mode: the checker must not blame it.
struct Linear {
    graft_tensor w;
    const float *bias; // (optional)
};
graft_status create_linear(const graft_kernel_config *config, void **out) {
    if (!config || !out || config->n_weights < 1 || !f32_contiguous(config->weights[0]))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: F32 weight W");
    const float *bias =
        config->n_weights > 1 ? static_cast<const float *>(config->weights[1].data) : nullptr;
    return sdk::guard([&] {
        *out = new Linear{config->weights[0], bias};
        return GRAFT_OK;
    });
}
void destroy_linear(void *state) {
    delete static_cast<Linear *>(state);
}
graft_status run_linear(void *state, const graft_kernel_call *call) {
    const graft_tensor &w = static_cast<Linear *>(state)->w;
    const float *bias = static_cast<Linear *>(state)->bias;
    if (!call || call->n_inputs != 1 || call->n_outputs != 1)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: 1 input and 1 output");
    const graft_tensor &x = call->inputs[0], &y = call->outputs[0];
    if (!f32_contiguous(x) || !f32_contiguous(y) || x.ne[0] != w.ne[0] || y.ne[0] != w.ne[1])
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "linear: shapes");
    const int64_t n_in = w.ne[0], n_out = w.ne[1], t_n = sdk::n_rows(x);
    const float *pw = static_cast<const float *>(w.data), *px = static_cast<const float *>(x.data);
    float *py = static_cast<float *>(y.data);
    for (int64_t t = 0; t < t_n; ++t)
        for (int64_t o = 0; o < n_out; ++o) {
            double sum = bias ? bias[o] : 0.0;
            for (int64_t i = 0; i < n_in; ++i)
                sum += static_cast<double>(pw[o * n_in + i]) * px[t * n_in + i];
            py[t * n_out + o] = static_cast<float>(sum);
        }
    return GRAFT_OK;
}

const graft_dtype kLinearDtypes[] = {GRAFT_DTYPE_F32};

// weight_dtypes: what weights[0] may be (NULL for an op without weights).
graft_kernel kernel(const char *op, graft_status (*create)(const graft_kernel_config *, void **),
                    graft_status (*run)(void *, const graft_kernel_call *), void (*destroy)(void *),
                    const graft_dtype *weight_dtypes = nullptr, uint32_t n_weight_dtypes = 0) {
    auto k = sdk::versioned<graft_kernel>();
    k.op = op;
    k.impl = op;
    k.weight_dtypes = weight_dtypes;
    k.n_weight_dtypes = n_weight_dtypes;
    k.device_kinds = 1u << (kDeviceMemory ? GRAFT_DEVICE_GPU : GRAFT_DEVICE_CPU);
    k.create = create;
    k.run = run;
    k.destroy = destroy;
    return k;
}

const graft_kernel kKernels[] = {
    kernel("add", create_stateless, BAD_MODE == 4 ? nullptr : run_add, destroy_stateless),
    kernel("linear", create_linear, run_linear, destroy_linear, kLinearDtypes,
           static_cast<uint32_t>(std::size(kLinearDtypes))),
};

graft_status device_info(uint32_t index, graft_device_info *out) {
    if (index != 0 || !out)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "one device");
    out->kind = kDeviceMemory ? GRAFT_DEVICE_GPU : GRAFT_DEVICE_CPU;
    out->name = kDeviceMemory ? "fakegpu:0" : "cpu";
    out->description = "a test device";
    out->memory_total = 1ull << 30;
    out->memory_free = 1ull << 30;
    out->caps = kDeviceMemory ? 0 : GRAFT_CAP_HOST_MEMORY;
    out->capabilities = "test";
    return GRAFT_OK;
}

// "Device" memory that is heap memory the host must still reach through these calls.
graft_status mem_alloc(uint32_t, uint32_t, uint64_t bytes, void **out) {
    *out = std::malloc(bytes ? bytes : 1);
    return *out ? GRAFT_OK : sdk::fail(GRAFT_ERR_OUT_OF_MEMORY, "out of memory");
}
void mem_free(uint32_t, void *p) {
    std::free(p);
}
graft_status mem_copy(uint32_t, void *dst, const void *src, uint64_t bytes, void *) {
    std::memcpy(dst, src, bytes);
    return GRAFT_OK;
}
graft_status mem_sync(uint32_t, void *) {
    return GRAFT_OK;
}

graft_memory_api make_memory() {
    auto m = sdk::versioned<graft_memory_api>();
    m.alloc = mem_alloc;
    m.free = mem_free;
    m.copy_to_device = mem_copy;
    m.copy_to_host = mem_copy;
    m.copy_on_device = mem_copy;
    m.synchronize = mem_sync;
    return m;
}
const graft_memory_api kMemory = make_memory();

graft_plugin make_table() {
    auto p = sdk::versioned<graft_plugin>();
    p.name = BAD_NAME;
    p.version = "1.0";
    p.vendor = "graft tests";
    p.n_devices = 1;
    p.device_info = device_info;
    p.memory = kDeviceMemory ? &kMemory : nullptr;
    p.kernels = kKernels;
    p.n_kernels = static_cast<uint32_t>(std::size(kKernels));
    p.last_error = sdk::last_error;
    p.device_prefix = kDeviceMemory ? "fakegpu" : "cpu";
    return p;
}

} // namespace

extern "C" GRAFT_PLUGIN_EXPORT graft_status graft_plugin_init(const graft_host_api *,
                                                              const graft_plugin **out,
                                                              const char **) {
    static const graft_plugin table = make_table();
    *out = &table;
    return GRAFT_OK;
}
