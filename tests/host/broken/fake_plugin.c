/* A configurable plugin for the host's tests, written in C to keep graft/plugin.h honest
 * about being a C header. Each test plugin is this file built with other definitions:
 *   FAKE_NAME, FAKE_VERSION   the table's name and version
 *   FAKE_ABI                  abi_version of the table (default GRAFT_ABI_VERSION)
 *   FAKE_STRUCT_SIZE          struct_size of the table (default sizeof(graft_plugin))
 *   FAKE_SCORE                when defined, graft_plugin_score returns it
 *   FAKE_INIT_ERROR           when defined, init fails with this message
 *   FAKE_NULL_RUN             when defined, the kernel's run is NULL
 *   FAKE_DEVICE               when defined, one GPU device of this name; else none
 *   FAKE_LOG                  when defined, init logs this line through the host */
#include <graft/plugin.h>

#include <stddef.h>

#ifndef FAKE_ABI
#define FAKE_ABI GRAFT_ABI_VERSION
#endif
#ifndef FAKE_STRUCT_SIZE
#define FAKE_STRUCT_SIZE sizeof(graft_plugin)
#endif

static const char *fake_last_error(void) {
    return "the fake plugin computes nothing";
}

#ifdef FAKE_DEVICE
static graft_status fake_device_info(uint32_t index, graft_device_info *out) {
    if (index != 0 || out == NULL)
        return GRAFT_ERR_INVALID_ARGUMENT;
    out->kind = GRAFT_DEVICE_GPU;
    out->name = FAKE_DEVICE;
    out->description = "fake accelerator";
    out->memory_total = 8ull << 30;
    out->memory_free = 6ull << 30;
    out->caps = GRAFT_CAP_FP16 | GRAFT_CAP_BF16;
    out->capabilities = "fake_sm";
    return GRAFT_OK;
}
#endif

static graft_status fake_create(const graft_kernel_config *config, void **out) {
    (void)config;
    (void)out;
    return GRAFT_ERR_UNSUPPORTED;
}

#ifndef FAKE_NULL_RUN
static graft_status fake_run(void *state, const graft_kernel_call *call) {
    (void)state;
    (void)call;
    return GRAFT_ERR_UNSUPPORTED;
}
#endif

static void fake_destroy(void *state) {
    (void)state;
}

static const graft_dtype fake_dtypes[] = {GRAFT_DTYPE_F16, GRAFT_DTYPE_Q4_K};

static graft_kernel fake_kernels[2];
static graft_plugin fake_table;

#ifdef FAKE_SCORE
GRAFT_PLUGIN_EXPORT uint32_t graft_plugin_score(void) {
    return FAKE_SCORE;
}
#endif

static const graft_plugin *fake_fill(void) {
    unsigned i;
    for (i = 0; i < 2; ++i) {
        fake_kernels[i].abi_version = GRAFT_ABI_VERSION;
        fake_kernels[i].struct_size = sizeof(graft_kernel);
        fake_kernels[i].device_kinds = 1u << GRAFT_DEVICE_GPU;
        fake_kernels[i].create = fake_create;
#ifndef FAKE_NULL_RUN
        fake_kernels[i].run = fake_run;
#endif
        fake_kernels[i].destroy = fake_destroy;
    }
    fake_kernels[0].op = "add";
    fake_kernels[0].impl = "fake-add";
    fake_kernels[1].op = "linear";
    fake_kernels[1].impl = "fake-linear";
    fake_kernels[1].weight_dtypes = fake_dtypes;
    fake_kernels[1].n_weight_dtypes = 2;

    fake_table.abi_version = FAKE_ABI;
    fake_table.struct_size = FAKE_STRUCT_SIZE;
    fake_table.name = FAKE_NAME;
    fake_table.version = FAKE_VERSION;
    fake_table.vendor = "graft tests";
#ifdef FAKE_DEVICE
    fake_table.n_devices = 1;
    fake_table.device_info = fake_device_info;
#else
    fake_table.status_note = "no fake device: the fake driver reports none";
#endif
    fake_table.kernels = fake_kernels;
    fake_table.n_kernels = 2;
    fake_table.last_error = fake_last_error;
    fake_table.device_prefix = "fake";
    return &fake_table;
}

GRAFT_PLUGIN_EXPORT graft_status graft_plugin_init(const graft_host_api *host,
                                                   const graft_plugin **out, const char **error) {
    const graft_plugin *table = fake_fill();
#ifdef FAKE_LOG
    if (host != NULL && host->log != NULL)
        host->log(GRAFT_LOG_WARN, FAKE_NAME, FAKE_LOG);
#else
    (void)host;
#endif
#ifdef FAKE_INIT_ERROR
    (void)table;
    (void)out;
    *error = FAKE_INIT_ERROR;
    return GRAFT_ERR_RUNTIME;
#else
    (void)error;
    *out = table;
    return GRAFT_OK;
#endif
}
