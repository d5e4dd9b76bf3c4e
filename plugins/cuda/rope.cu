// rope: rotary position embedding, modes 0 (adjacent pairs) and 2 (neox halves), with
// optional frequency factors and YaRN scaling as ggml defines them. One thread per pair.
#include "kernel_support.h"
#include "kernels.h"

#include <cmath>

namespace graft::cuda {
namespace {

struct RopeParams {
    int n_rot;
    int mode;
    float theta_scale; // freq_base^(-2 / n_rot)
    float freq_scale;
    float ext_factor;
    float attn_factor;
    float corr_low, corr_high; // YaRN correction dims
};

__device__ float yarn_ramp(float low, float high, int i0) {
    const float y = static_cast<float>(i0 / 2 - low) / fmaxf(0.001f, high - low);
    return 1.0f - fminf(1.0f, fmaxf(0.0f, y));
}

// x and y: (head_dim, n_head, T) contiguous; y may alias x (each thread owns its pair).
__global__ void rope_f32(const float *x, const int32_t *pos, const float *freq_factors, float *y,
                         int head_dim, int n_head, int64_t n_tokens, RopeParams p) {
    const int half = head_dim / 2;
    const int64_t n_pairs = static_cast<int64_t>(half) * n_head * n_tokens;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n_pairs;
         idx += stride) {
        const int i = static_cast<int>(idx % half); // pair index within the head
        const int64_t row = idx / half;             // head + n_head * token
        const int64_t token = row / n_head;
        const float *src = x + row * head_dim;
        float *dst = y + row * head_dim;
        const int i0 = 2 * i;
        if (i0 >= p.n_rot) { // past the rotated part: pass through
            const float a = src[i0], b = src[i0 + 1];
            dst[i0] = a;
            dst[i0 + 1] = b;
            continue;
        }
        const float ff = freq_factors ? freq_factors[i] : 1.0f;
        const float theta_extrap = static_cast<float>(pos[token]) * powf(p.theta_scale, i) / ff;
        const float theta_interp = p.freq_scale * theta_extrap;
        float theta = theta_interp;
        float mscale = p.attn_factor;
        if (p.ext_factor != 0.0f) {
            const float mix = yarn_ramp(p.corr_low, p.corr_high, i0) * p.ext_factor;
            theta = theta_interp * (1.0f - mix) + theta_extrap * mix;
            mscale *= 1.0f + 0.1f * logf(1.0f / p.freq_scale);
        }
        const float c = cosf(theta) * mscale, s = sinf(theta) * mscale;
        const int a_idx = p.mode == 2 ? i : i0;
        const int b_idx = p.mode == 2 ? i + p.n_rot / 2 : i0 + 1;
        const float a = src[a_idx], b = src[b_idx];
        dst[a_idx] = a * c - b * s;
        dst[b_idx] = a * s + b * c;
    }
}

float corr_dim(int n_rot, int n_ctx_orig, float rotations, float base) {
    return static_cast<float>(n_rot) *
           logf(static_cast<float>(n_ctx_orig) / (rotations * 2.0f * 3.14159265358979f)) /
           (2.0f * logf(base));
}

struct State {
    uint32_t device;
    const float *freq_factors; // (n_rot / 2) or NULL
    int64_t n_freq_factors;
    int n_rot; // 0: the head dimension
    int mode;
    float freq_base, freq_scale, ext_factor, attn_factor, beta_fast, beta_slow;
    int n_ctx_orig;
};

graft_status create(const graft_kernel_config *config, void **out) {
    return sdk::guard([&] {
        if (!out)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rope: out is NULL");
        if (graft_status s = check_config(config, "rope"); s != GRAFT_OK)
            return s;
        const graft_param *p = config->params;
        const uint32_t n = config->n_params;
        auto st = std::make_unique<State>();
        st->device = config->device;
        st->freq_factors = nullptr;
        st->n_freq_factors = 0;
        if (config->n_weights >= 1 && config->weights[0].data) {
            const graft_tensor &ff = config->weights[0];
            if (graft_status s =
                    check_tensor(ff, GRAFT_DTYPE_F32, config->device, "rope", "freq_factors");
                s != GRAFT_OK)
                return s;
            st->freq_factors = static_cast<const float *>(ff.data);
            st->n_freq_factors = sdk::n_elements(ff);
        }
        st->n_rot = static_cast<int>(sdk::param_int(p, n, "n_rot", 0));
        st->mode = static_cast<int>(sdk::param_int(p, n, "mode", 0));
        st->freq_base = static_cast<float>(sdk::param_float(p, n, "freq_base", 10000.0));
        st->freq_scale = static_cast<float>(sdk::param_float(p, n, "freq_scale", 1.0));
        st->ext_factor = static_cast<float>(sdk::param_float(p, n, "ext_factor", 0.0));
        st->attn_factor = static_cast<float>(sdk::param_float(p, n, "attn_factor", 1.0));
        st->beta_fast = static_cast<float>(sdk::param_float(p, n, "beta_fast", 32.0));
        st->beta_slow = static_cast<float>(sdk::param_float(p, n, "beta_slow", 1.0));
        st->n_ctx_orig = static_cast<int>(sdk::param_int(p, n, "n_ctx_orig", 0));
        if (st->mode != 0 && st->mode != 2)
            return sdk::fail(GRAFT_ERR_UNSUPPORTED, "rope: mode " + std::to_string(st->mode) +
                                                        " is not supported (0 or 2)");
        if (st->n_rot < 0 || st->n_rot % 2 != 0)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rope: n_rot must be even and >= 0");
        if (!(st->freq_base > 0.0f) || !(st->freq_scale > 0.0f))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "rope: freq_base and freq_scale must be > 0");
        *out = st.release();
        return GRAFT_OK;
    });
}

graft_status run(void *state, const graft_kernel_call *call) {
    return sdk::guard([&] {
        const auto *st = static_cast<const State *>(state);
        if (!st)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rope: state is NULL");
        if (graft_status s = check_call(call, 2, 1, "rope"); s != GRAFT_OK)
            return s;
        const graft_tensor &x = call->inputs[0], &pos = call->inputs[1];
        const graft_tensor &y = call->outputs[0];
        if (graft_status s = check_tensor(x, GRAFT_DTYPE_F32, st->device, "rope", "x");
            s != GRAFT_OK)
            return s;
        if (graft_status s = check_tensor(pos, GRAFT_DTYPE_I32, st->device, "rope", "pos");
            s != GRAFT_OK)
            return s;
        if (graft_status s = check_tensor(y, GRAFT_DTYPE_F32, st->device, "rope", "out");
            s != GRAFT_OK)
            return s;
        if (!same_shape(x, y))
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "rope: out must have x's shape");
        const int64_t head_dim = x.ne[0], n_head = x.ne[1], n_tokens = x.ne[2] * x.ne[3];
        const int n_rot = st->n_rot == 0 ? static_cast<int>(head_dim) : st->n_rot;
        if (head_dim % 2 != 0 || n_rot > head_dim)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "rope: head_dim must be even and >= n_rot (head_dim " +
                                 std::to_string(head_dim) + ", n_rot " + std::to_string(n_rot) +
                                 ")");
        if (sdk::n_elements(pos) != n_tokens)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "rope: pos must hold one position per token (" +
                                 std::to_string(n_tokens) + ")");
        if (st->freq_factors && st->n_freq_factors < n_rot / 2)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "rope: freq_factors must hold n_rot / 2 values");
        RopeParams p{};
        p.n_rot = n_rot;
        p.mode = st->mode;
        p.theta_scale = powf(st->freq_base, -2.0f / static_cast<float>(n_rot));
        p.freq_scale = st->freq_scale;
        p.ext_factor = st->ext_factor;
        p.attn_factor = st->attn_factor;
        // YaRN's correction range, exactly as ggml_rope_yarn_corr_dims computes it.
        const float start = floorf(corr_dim(n_rot, st->n_ctx_orig, st->beta_fast, st->freq_base));
        const float end = ceilf(corr_dim(n_rot, st->n_ctx_orig, st->beta_slow, st->freq_base));
        p.corr_low = fmaxf(0.0f, start);
        p.corr_high = fminf(static_cast<float>(n_rot - 1), end);
        if (graft_status s = devices().activate(st->device); s != GRAFT_OK)
            return s;
        const int64_t n_pairs = head_dim / 2 * n_head * n_tokens;
        const unsigned block = 256;
        rope_f32<<<grid_for(n_pairs, block), block, 0, stream_of(call)>>>(
            static_cast<const float *>(x.data), static_cast<const int32_t *>(pos.data),
            st->freq_factors, static_cast<float *>(y.data), static_cast<int>(head_dim),
            static_cast<int>(n_head), n_tokens, p);
        return check_launch("rope");
    });
}

void destroy(void *state) {
    delete static_cast<State *>(state);
}

} // namespace

graft_kernel rope_kernel() {
    static const graft_dtype dtypes[] = {GRAFT_DTYPE_F32};
    auto k = sdk::versioned<graft_kernel>();
    k.op = "rope";
    k.impl = "rope";
    k.weight_dtypes = dtypes;
    k.n_weight_dtypes = 1;
    k.device_kinds = 1u << GRAFT_DEVICE_GPU;
    k.create = create;
    k.run = run;
    k.destroy = destroy;
    return k;
}

} // namespace graft::cuda
