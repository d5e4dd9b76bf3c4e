// embedding: gathers rows of the table (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K) into F32.
// An id outside the vocabulary gives a row of zeros: the ids live on the device, where a
// kernel cannot report an error, and zeros keep a bad id from reading foreign memory.
#include "dequant.cuh"
#include "kernel_support.h"
#include "kernels.h"

namespace graft::cuda {
namespace {

template <graft_dtype D>
__global__ void embedding_rows(const uint8_t *table, int64_t row_stride, int64_t n_vocab,
                               const int32_t *ids, float *y, int64_t n_embd, int64_t n_tokens) {
    const int64_t n = n_embd * n_tokens;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        const int64_t t = i / n_embd, k = i % n_embd;
        const int64_t id = ids[t];
        y[i] = (id >= 0 && id < n_vocab) ? Element<D>::load(table + id * row_stride, k) : 0.0f;
    }
}

using Launch = void (*)(const uint8_t *, int64_t, int64_t, const int32_t *, float *, int64_t,
                        int64_t, cudaStream_t);

template <graft_dtype D>
void launch(const uint8_t *table, int64_t row_stride, int64_t n_vocab, const int32_t *ids, float *y,
            int64_t n_embd, int64_t n_tokens, cudaStream_t stream) {
    const unsigned block = 256;
    embedding_rows<D><<<grid_for(n_embd * n_tokens, block), block, 0, stream>>>(
        table, row_stride, n_vocab, ids, y, n_embd, n_tokens);
}

const graft_dtype kDtypes[] = {GRAFT_DTYPE_F32,  GRAFT_DTYPE_F16,  GRAFT_DTYPE_BF16,
                               GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q4_K,
                               GRAFT_DTYPE_Q6_K};

Launch launch_for(graft_dtype d) {
    switch (d) {
    case GRAFT_DTYPE_F32:
        return launch<GRAFT_DTYPE_F32>;
    case GRAFT_DTYPE_F16:
        return launch<GRAFT_DTYPE_F16>;
    case GRAFT_DTYPE_BF16:
        return launch<GRAFT_DTYPE_BF16>;
    case GRAFT_DTYPE_Q8_0:
        return launch<GRAFT_DTYPE_Q8_0>;
    case GRAFT_DTYPE_Q4_0:
        return launch<GRAFT_DTYPE_Q4_0>;
    case GRAFT_DTYPE_Q4_K:
        return launch<GRAFT_DTYPE_Q4_K>;
    case GRAFT_DTYPE_Q6_K:
        return launch<GRAFT_DTYPE_Q6_K>;
    default:
        return nullptr;
    }
}

struct State {
    uint32_t device;
    graft_tensor table;
    Launch launch;
};

graft_status create(const graft_kernel_config *config, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "embedding: out is NULL");
        if (graft_status s = check_config(config, "embedding"); s != GRAFT_OK)
            return s;
        if (config->n_weights < 1)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "embedding: needs the weight table");
        const graft_tensor &table = config->weights[0];
        const Launch fn = launch_for(table.dtype);
        if (!fn)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, std::string("embedding: table dtype ") +
                                                        sdk::dtype_name(table.dtype) +
                                                        " is not supported");
        if (table.layout != 0)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "embedding: the table must be in GGUF layout");
        if (graft_status s = check_weight(table, config->device, "embedding", "table");
            s != GRAFT_OK)
            return s;
        *out = new State{config->device, table, fn};
        return GRAFT_OK;
    });
}

graft_status run(void *state, const graft_kernel_call *call) {
    return sdk::guard([&] {
        const auto *st = static_cast<const State *>(state);
        if (!st)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "embedding: state is NULL");
        if (graft_status s = check_call(call, 1, 1, "embedding"); s != GRAFT_OK)
            return s;
        const graft_tensor &ids = call->inputs[0], &y = call->outputs[0];
        if (graft_status s = check_tensor(ids, GRAFT_DTYPE_I32, st->device, "embedding", "ids");
            s != GRAFT_OK)
            return s;
        if (graft_status s = check_tensor(y, GRAFT_DTYPE_F32, st->device, "embedding", "out");
            s != GRAFT_OK)
            return s;
        const int64_t n_embd = st->table.ne[0], n_tokens = sdk::n_elements(ids);
        if (y.ne[0] != n_embd || sdk::n_rows(y) != n_tokens)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "embedding: out must be (n_embd " +
                                                             std::to_string(n_embd) + ", T " +
                                                             std::to_string(n_tokens) + ")");
        if (graft_status s = devices().activate(st->device); s != GRAFT_OK)
            return s;
        st->launch(static_cast<const uint8_t *>(st->table.data), st->table.nb[1],
                   sdk::n_rows(st->table), static_cast<const int32_t *>(ids.data),
                   static_cast<float *>(y.data), n_embd, n_tokens, stream_of(call));
        return check_launch("embedding");
    });
}

void destroy(void *state) {
    delete static_cast<State *>(state);
}

} // namespace

graft_kernel embedding_kernel() {
    auto k = sdk::versioned<graft_kernel>();
    k.op = "embedding";
    k.impl = "embedding";
    k.weight_dtypes = kDtypes;
    k.n_weight_dtypes = sizeof kDtypes / sizeof kDtypes[0];
    k.device_kinds = 1u << GRAFT_DEVICE_GPU;
    k.create = create;
    k.run = run;
    k.destroy = destroy;
    return k;
}

} // namespace graft::cuda
