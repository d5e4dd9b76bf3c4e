/*
 * graft plugin ABI: the only header a kernel plugin includes.
 *
 * Rules of the boundary
 *  - Plain C. No C++ types, exceptions or STL cross it.
 *  - Every table begins with `uint32_t abi_version; uint32_t struct_size;` and only grows:
 *    new members are appended, never reordered or removed. A reader checks `struct_size`
 *    before touching a member that a later ABI version added. In an array of tables
 *    (kernels, buffer kinds) the elements sit `struct_size` bytes apart, as the first
 *    element's struct_size says, so that a table can grow without breaking arrays.
 *  - Every fallible call returns a graft_status; on failure the plugin's `last_error`
 *    gives a human-readable message (thread-local in the plugin, valid until the next
 *    call into the plugin from that thread).
 *  - Whoever allocates frees: memory a plugin hands out is returned to that plugin
 *    through the release function that came with it.
 *  - Strings a plugin returns (names, descriptions, messages other than last_error)
 *    live as long as the plugin, which is never unloaded.
 *
 * A plugin is a shared library exporting exactly two symbols:
 *    graft_plugin_init   (required)  see GRAFT_PLUGIN_INIT_SYMBOL
 *    graft_plugin_score  (optional)  see GRAFT_PLUGIN_SCORE_SYMBOL
 */
#ifndef GRAFT_PLUGIN_H
#define GRAFT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. A host refuses a plugin whose tables carry
 * another major version. */
#define GRAFT_ABI_VERSION 1u

#define GRAFT_PLUGIN_INIT_SYMBOL "graft_plugin_init"
#define GRAFT_PLUGIN_SCORE_SYMBOL "graft_plugin_score"

#if defined(_WIN32)
#define GRAFT_PLUGIN_EXPORT __declspec(dllexport)
#else
#define GRAFT_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------ status */

typedef enum graft_status {
    GRAFT_OK = 0,
    GRAFT_ERR_INVALID_ARGUMENT = 1, /* a caller passed something the callee cannot take */
    GRAFT_ERR_UNSUPPORTED = 2,      /* dtype, shape or op this kernel does not do */
    GRAFT_ERR_OUT_OF_MEMORY = 3,
    GRAFT_ERR_NO_DEVICE = 4,        /* the runtime works but the device is absent */
    GRAFT_ERR_RUNTIME = 5,          /* the vendor runtime or driver failed */
    GRAFT_ERR_INTERNAL = 6
} graft_status;

/* ------------------------------------------------------------------ dtypes */

/* Element types. The numeric values are GGUF's tensor type ids, so a GGUF tensor's type
 * field is a graft_dtype as it stands. Quantized types are stored in blocks; see
 * graft_dtype_block_size / graft_dtype_block_bytes in graft/plugin.hpp. */
typedef enum graft_dtype {
    GRAFT_DTYPE_F32 = 0,
    GRAFT_DTYPE_F16 = 1,
    GRAFT_DTYPE_Q4_0 = 2,
    GRAFT_DTYPE_Q4_1 = 3,
    GRAFT_DTYPE_Q5_0 = 6,
    GRAFT_DTYPE_Q5_1 = 7,
    GRAFT_DTYPE_Q8_0 = 8,
    GRAFT_DTYPE_Q8_1 = 9,
    GRAFT_DTYPE_Q2_K = 10,
    GRAFT_DTYPE_Q3_K = 11,
    GRAFT_DTYPE_Q4_K = 12,
    GRAFT_DTYPE_Q5_K = 13,
    GRAFT_DTYPE_Q6_K = 14,
    GRAFT_DTYPE_Q8_K = 15,
    GRAFT_DTYPE_IQ2_XXS = 16,
    GRAFT_DTYPE_IQ2_XS = 17,
    GRAFT_DTYPE_IQ3_XXS = 18,
    GRAFT_DTYPE_IQ1_S = 19,
    GRAFT_DTYPE_IQ4_NL = 20,
    GRAFT_DTYPE_IQ3_S = 21,
    GRAFT_DTYPE_IQ2_S = 22,
    GRAFT_DTYPE_IQ4_XS = 23,
    GRAFT_DTYPE_I8 = 24,
    GRAFT_DTYPE_I16 = 25,
    GRAFT_DTYPE_I32 = 26,
    GRAFT_DTYPE_I64 = 27,
    GRAFT_DTYPE_F64 = 28,
    GRAFT_DTYPE_IQ1_M = 29,
    GRAFT_DTYPE_BF16 = 30,
    GRAFT_DTYPE_TQ1_0 = 34,
    GRAFT_DTYPE_TQ2_0 = 35,
    GRAFT_DTYPE_MXFP4 = 39,
    GRAFT_DTYPE_NVFP4 = 40,
    GRAFT_DTYPE_Q1_0 = 41,
    GRAFT_DTYPE_Q2_0 = 42,
    GRAFT_DTYPE_COUNT = 43 /* one past the largest id; not every id below is used */
} graft_dtype;

/* ------------------------------------------------------------------ tensors */

#define GRAFT_MAX_DIMS 4

/* A view of memory. Dimension 0 is the innermost (contiguous) one, as in GGUF:
 * a weight of a linear layer mapping n_in to n_out has ne = {n_in, n_out}.
 * For quantized dtypes ne[0] counts elements (a multiple of the block size) and
 * nb[1] is the byte size of one row of blocks. */
typedef struct graft_tensor {
    void *data;                   /* device or host pointer, per `device` */
    graft_dtype dtype;
    uint32_t n_dims;              /* 1..GRAFT_MAX_DIMS; unused ne are 1 */
    int64_t ne[GRAFT_MAX_DIMS];   /* elements per dimension */
    int64_t nb[GRAFT_MAX_DIMS];   /* stride in bytes per dimension */
    uint32_t device;              /* the plugin-local device index the data lives on */
    uint32_t layout;              /* 0 = GGUF layout; otherwise a plugin-defined packed
                                     layout id returned by prepare_weights */
} graft_tensor;

/* ------------------------------------------------------------------ parameters */

typedef enum graft_param_type {
    GRAFT_PARAM_INT = 0,
    GRAFT_PARAM_FLOAT = 1,
    GRAFT_PARAM_STRING = 2
} graft_param_type;

/* A named attribute: op hyper-parameters (eps, rope base, head counts) and the rule's
 * kwargs. Keys are documented per op below; unknown keys are ignored by kernels. */
typedef struct graft_param {
    const char *key;
    graft_param_type type;
    int64_t i;
    double f;
    const char *s; /* (optional) for GRAFT_PARAM_STRING */
} graft_param;

/* ------------------------------------------------------------------ devices */

typedef enum graft_device_kind {
    GRAFT_DEVICE_CPU = 0,
    GRAFT_DEVICE_GPU = 1,
    GRAFT_DEVICE_NPU = 2
} graft_device_kind;

/* Capability bits of a device (graft_device_info.caps). */
#define GRAFT_CAP_AVX2 (1ull << 0)
#define GRAFT_CAP_AVX512F (1ull << 1)
#define GRAFT_CAP_AVX512_VNNI (1ull << 2)
#define GRAFT_CAP_AVX512_BF16 (1ull << 3)
#define GRAFT_CAP_AMX_TILE (1ull << 4)
#define GRAFT_CAP_AMX_INT8 (1ull << 5)
#define GRAFT_CAP_AMX_BF16 (1ull << 6)
#define GRAFT_CAP_AVX_VNNI (1ull << 7)
#define GRAFT_CAP_FP16 (1ull << 16)      /* accelerator: fast fp16 arithmetic */
#define GRAFT_CAP_BF16 (1ull << 17)      /* accelerator: fast bf16 arithmetic */
#define GRAFT_CAP_INT8 (1ull << 18)      /* accelerator: int8 matrix units */
#define GRAFT_CAP_HOST_MEMORY (1ull << 32) /* device memory is host memory (CPU, APU) */

typedef struct graft_device_info {
    uint32_t abi_version;
    uint32_t struct_size;
    graft_device_kind kind;
    /* Name the rules use: "cpu", "cuda:0", "rocm:1", "npu:0". Devices of several plugins
     * that carry one name are one device and share one address space (the cuda and marlin
     * plugins both see "cuda:0"). */
    const char *name;
    const char *description;   /* e.g. "NVIDIA H100 80GB HBM3", "AMD EPYC (avx512)" */
    uint64_t memory_total;     /* bytes; 0 when unknown */
    uint64_t memory_free;      /* bytes at the time of the call; 0 when unknown */
    uint64_t caps;             /* GRAFT_CAP_* bits */
    const char *capabilities;  /* free text for people, e.g. "sm_90", "gfx942", "avx512 vnni" */
} graft_device_info;

/* ------------------------------------------------------------------ buffer kinds */

#define GRAFT_BUFFER_HOST_VISIBLE (1u << 0) /* the host may read and write it directly */
#define GRAFT_BUFFER_DEVICE_LOCAL (1u << 1) /* lives in the device's own memory */
#define GRAFT_BUFFER_PINNED (1u << 2)       /* page-locked host memory for fast copies */
#define GRAFT_BUFFER_PACKED (1u << 3)       /* holds weights in a kernel-private layout */

typedef struct graft_buffer_kind {
    uint32_t abi_version;
    uint32_t struct_size;
    uint32_t id;         /* passed to graft_memory_api.alloc */
    const char *name;    /* "device", "pinned", "packed-q4-avx512" */
    uint32_t flags;      /* GRAFT_BUFFER_* */
} graft_buffer_kind;

/* ------------------------------------------------------------------ memory */

/* Memory functions of a plugin. `device` is the plugin-local device index. */
typedef struct graft_memory_api {
    uint32_t abi_version;
    uint32_t struct_size;
    /* Allocate `bytes` of buffer kind `buffer_kind` on `device`; *out receives the pointer. */
    graft_status (*alloc)(uint32_t device, uint32_t buffer_kind, uint64_t bytes, void **out);
    /* Free what alloc returned. NULL is a no-op. */
    void (*free)(uint32_t device, void *ptr);
    /* Copy host memory to device memory (blocking unless `stream` is given). */
    graft_status (*copy_to_device)(uint32_t device, void *dst, const void *src, uint64_t bytes,
                                   void *stream);
    /* Copy device memory to host memory (blocking unless `stream` is given). */
    graft_status (*copy_to_host)(uint32_t device, void *dst, const void *src, uint64_t bytes,
                                 void *stream);
    /* (optional) Copy within the device. */
    graft_status (*copy_on_device)(uint32_t device, void *dst, const void *src, uint64_t bytes,
                                   void *stream);
    /* Wait until all work queued on the device (or on `stream`, when not NULL) is done. */
    graft_status (*synchronize)(uint32_t device, void *stream);
    /* (optional) Create and destroy an ordered work queue (CUDA/HIP stream, L0 command
     * list). Kernels and copies given a stream run in its order. */
    graft_status (*stream_create)(uint32_t device, void **out);
    void (*stream_destroy)(uint32_t device, void *stream);
} graft_memory_api;

/* ------------------------------------------------------------------ kernels */

/* What create() receives. */
typedef struct graft_kernel_config {
    uint32_t abi_version;
    uint32_t struct_size;
    uint32_t device;                /* plugin-local device index */
    const graft_tensor *weights;    /* (optional) the module's weights, as prepared */
    uint32_t n_weights;
    const graft_param *params;      /* (optional) op attributes and rule kwargs */
    uint32_t n_params;
} graft_kernel_config;

/* What run() receives. Tensors live on the kernel's device. */
typedef struct graft_kernel_call {
    uint32_t abi_version;
    uint32_t struct_size;
    const graft_tensor *inputs;
    uint32_t n_inputs;
    graft_tensor *outputs;          /* allocated by the caller, shapes set by the caller */
    uint32_t n_outputs;
    const graft_param *params;      /* (optional) per-call values, e.g. "n_past" */
    uint32_t n_params;
    void *stream;                   /* (optional) queue to run on; NULL = default */
} graft_kernel_call;

/* A prepared weight: the memory a kernel keeps for one GGUF tensor. */
typedef struct graft_prepared_weight {
    graft_tensor tensor;            /* what create() will see in config.weights */
    void *handle;                   /* plugin-owned; given back to release_weights */
} graft_prepared_weight;

/*
 * One kernel: an implementation `impl` of one op of the vocabulary.
 *
 * Op vocabulary and calling conventions (shapes in GGUF order, innermost first; T tokens):
 *  embedding   weights {table (n_embd, n_vocab)}; in {ids I32 (T)}; out {F32 (n_embd, T)}
 *  rmsnorm     weights {gamma F32 (n)}; params eps; in {x F32 (n, R)}; out {F32 (n, R)}:
 *              y = x / sqrt(mean(x^2) + eps) * gamma, per row of n (R rows: tokens, or
 *              heads times tokens for per-head norms); out may alias in
 *  rope        weights {freq_factors F32 (n_rot/2)} (optional: Llama 3 scaling divides
 *              each frequency by its factor); params n_rot, freq_base, freq_scale, mode
 *              (0 = adjacent pairs, 2 = neox halves), and optionally ext_factor,
 *              attn_factor, beta_fast, beta_slow, n_ctx_orig (YaRN); in {x F32 (head_dim,
 *              n_head, T), pos I32 (T)}; out {F32 same shape} (may alias the input). Only
 *              the first n_rot elements of each head rotate; the rest pass through.
 *  linear      weights {W (n_in, n_out), bias F32 (n_out) (optional)};
 *              in {x F32 (n_in, T)}; out {F32 (n_out, T)}: y = W x + b, any T >= 1
 *  attention   params n_head, n_head_kv, head_dim, scale; per call n_past;
 *              in {q F32 (head_dim, n_head, T), k F32 (head_dim, n_head_kv, T),
 *                  v F32 (head_dim, n_head_kv, T), k_cache (head_dim, n_head_kv, n_ctx),
 *                  v_cache (head_dim, n_head_kv, n_ctx)}; the caches belong to one
 *              sequence and are F32 or F16 (the cache tensors' dtype says which);
 *              the kernel stores k and v at positions n_past..n_past+T-1 of the caches
 *              and attends causally over 0..n_past+T-1 (query t sees 0..n_past+t);
 *              softmax(scale * q.k) in F32; out {F32 (head_dim, n_head, T)}. Query head h
 *              uses KV head h / (n_head / n_head_kv).
 *  attention_mla  multi-head latent attention (DeepSeek-V2/V3) in the latent space;
 *              params n_head, kv_lora_rank, rope_dim, scale; per call n_past;
 *              in {q_lat F32 (kv_lora_rank, n_head, T) (queries times W_uk, per head),
 *                  q_pe F32 (rope_dim, n_head, T) (rotated), kv F32 (kv_lora_rank +
 *                  rope_dim, T) (this pass's latent rows [c_kv | k_pe]), cache F32 or F16
 *                  (kv_lora_rank + rope_dim, n_ctx) (one sequence's latent rows)};
 *              the kernel stores kv at positions n_past..n_past+T-1 of the cache and for
 *              query t attends over 0..n_past+t: p = softmax(scale * (q_lat . c + q_pe .
 *              k_pe)) in F32; out {F32 (kv_lora_rank, n_head, T)} = sum p c. All heads
 *              read the same latent rows; the caller applies W_uv per head.
 *  linear_heads  a linear per head (DeepSeek's W_uk and W_uv): weights {W (n_in, n_out,
 *              n_head), any dtype the kernel declares}; in {x F32 (n_in, n_head, T)};
 *              out {F32 (n_out, n_head, T)}: out[:, h, t] = x[:, h, t] . W[:, :, h].
 *  router      weights {gate W (n_embd, n_expert), bias F32 (n_expert) (optional)};
 *              params top_k, gating ("softmax" | "sigmoid"), norm_topk (0/1), scale,
 *              n_group, topk_group; in {x F32 (n_embd, T)};
 *              out {ids I32 (top_k, T), weights F32 (top_k, T)}: probs = softmax or
 *              sigmoid of W x; experts chosen by probs + bias (the bias only selects),
 *              among the topk_group best of n_group groups (a group scores the sum of
 *              its two best); weights are the chosen probs, divided by their sum when
 *              norm_topk, times scale. Ties go to the lower expert id.
 *  moe_experts weights {gate (n_embd, n_ff, n_expert), up (n_embd, n_ff, n_expert),
 *              down (n_ff, n_embd, n_expert)}; in {x F32 (n_embd, T), ids I32 (k, T),
 *              weights F32 (k, T)}; out {F32 (n_embd, T)}:
 *              y_t = sum_j w_jt * down_e(silu(gate_e x_t) * up_e x_t), e = ids_jt
 *  swiglu      in {gate F32 (n, T), up F32 (n, T)}; out {F32 (n, T)}: silu(gate) * up
 *              (out may alias gate)
 *  add         in {a F32, b F32 (same shape)}; out {F32 same shape}: a + b (out may
 *              alias a)
 * A fused op gets its own name and documents itself in its plugin.
 */
typedef struct graft_kernel {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *op;                  /* one of the vocabulary above, or a fused op's name */
    const char *impl;                /* unique within the plugin; rules say "plugin/impl" */
    const graft_dtype *weight_dtypes; /* (optional) dtypes of weights[0] it accepts; NULL
                                         when the op takes no weights */
    uint32_t n_weight_dtypes;
    uint32_t device_kinds;           /* bit (1 << graft_device_kind) per kind it runs on */
    /* (optional) Repack one GGUF tensor (host memory, GGUF layout) for this kernel on
     * `device`. When NULL the host passes the GGUF bytes as they are: in place (mmap)
     * on a host-memory device, copied into device memory otherwise. `index` is the
     * weight's position in config.weights. */
    graft_status (*prepare_weights)(uint32_t device, uint32_t index, const graft_tensor *src,
                                    graft_prepared_weight *out);
    /* (optional, required when prepare_weights is given) Free a prepared weight. */
    void (*release_weights)(uint32_t device, graft_prepared_weight *weight);
    /* Build an instance for one module; *out receives its state. */
    graft_status (*create)(const graft_kernel_config *config, void **out);
    /* Compute. Thread-safe across different states; one state runs one call at a time. */
    graft_status (*run)(void *state, const graft_kernel_call *call);
    /* Free an instance. */
    void (*destroy)(void *state);
} graft_kernel;

/* ------------------------------------------------------------------ host services */

typedef enum graft_log_level {
    GRAFT_LOG_DEBUG = 0,
    GRAFT_LOG_INFO = 1,
    GRAFT_LOG_WARN = 2,
    GRAFT_LOG_ERROR = 3
} graft_log_level;

/* What the host gives a plugin at init. */
typedef struct graft_host_api {
    uint32_t abi_version;
    uint32_t struct_size;
    /* Log a line through the host's logger. */
    void (*log)(graft_log_level level, const char *plugin, const char *message);
} graft_host_api;

/* ------------------------------------------------------------------ the plugin */

typedef struct graft_plugin {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *name;        /* e.g. "amx-cpu"; ISA variants of one plugin share a name */
    const char *version;     /* semantic version of the plugin itself */
    const char *vendor;
    const char *description; /* (optional) one line; for ISA variants, which ISA */
    /* (optional) A one-line note on the plugin's state when it works but is limited,
     * e.g. "no CUDA device: CUDA driver version is insufficient". */
    const char *status_note;
    uint32_t n_devices;
    /* Fill *out (whose abi_version and struct_size the caller has set) for device
     * `index` < n_devices. Memory figures are read at the time of the call. */
    graft_status (*device_info)(uint32_t index, graft_device_info *out);
    const graft_buffer_kind *buffer_kinds; /* (optional) */
    uint32_t n_buffer_kinds;
    const graft_memory_api *memory;        /* (optional) NULL: host memory only */
    const graft_kernel *kernels;           /* (optional) */
    uint32_t n_kernels;
    /* Message of the last failed call made from this thread; never NULL. */
    const char *(*last_error)(void);
    /* (optional) Plugin-wide settings, e.g. "threads". Called before any create(). */
    graft_status (*configure)(const graft_param *params, uint32_t n_params);
    /* (optional) The prefix of the device names this plugin gives out ("cuda" for
     * "cuda:0"), declared even when no device is present, so that a rules file naming
     * "cuda:0" can be checked and explained on a machine without one. */
    const char *device_prefix;
} graft_plugin;

/* Required export. Fill *out with the plugin's table (which lives as long as the plugin).
 * On failure return a status and set *error to a message that lives as long as the
 * plugin (e.g. "CUDA driver not found"). */
typedef graft_status (*graft_plugin_init_fn)(const graft_host_api *host, const graft_plugin **out,
                                             const char **error);

/* Optional export. 0 = cannot run on this machine; higher = better. Must run on any
 * x86-64 CPU: it may not execute the instructions its variant was built for. The host
 * keeps, per plugin name, the variant with the highest score. */
typedef uint32_t (*graft_plugin_score_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* GRAFT_PLUGIN_H */
