#include "reference.h"

#include "plugin_loader.h"

#include <graft/plugin.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <numbers>

namespace graft::gputest {

// ------------------------------------------------------------------ dequantisation

namespace {

float f16_at(const uint8_t *p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return sdk::fp16_to_fp32(h);
}

void q4k_scale_min(const uint8_t *q, int j, int &sc, int &m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

} // namespace

std::vector<float> dequantize_row(graft_dtype dtype, const uint8_t *data, int64_t n) {
    std::vector<float> y(static_cast<size_t>(n));
    switch (dtype) {
    case GRAFT_DTYPE_F32:
        std::memcpy(y.data(), data, static_cast<size_t>(n) * 4);
        break;
    case GRAFT_DTYPE_F16:
        for (int64_t i = 0; i < n; ++i)
            y[i] = f16_at(data + 2 * i);
        break;
    case GRAFT_DTYPE_BF16:
        for (int64_t i = 0; i < n; ++i) {
            uint16_t h;
            std::memcpy(&h, data + 2 * i, 2);
            y[i] = sdk::bf16_to_fp32(h);
        }
        break;
    case GRAFT_DTYPE_Q8_0:
        for (int64_t b = 0; b < n / 32; ++b) {
            const uint8_t *blk = data + b * 34;
            for (int j = 0; j < 32; ++j)
                y[b * 32 + j] = f16_at(blk) * static_cast<float>(static_cast<int8_t>(blk[2 + j]));
        }
        break;
    case GRAFT_DTYPE_Q4_0:
        for (int64_t b = 0; b < n / 32; ++b) {
            const uint8_t *blk = data + b * 18;
            const float d = f16_at(blk);
            for (int j = 0; j < 16; ++j) {
                y[b * 32 + j] = d * static_cast<float>((blk[2 + j] & 0xF) - 8);
                y[b * 32 + j + 16] = d * static_cast<float>((blk[2 + j] >> 4) - 8);
            }
        }
        break;
    case GRAFT_DTYPE_Q4_K:
        for (int64_t b = 0; b < n / 256; ++b) {
            const uint8_t *blk = data + b * 144;
            const float d = f16_at(blk), dmin = f16_at(blk + 2);
            const uint8_t *q = blk + 16;
            float *out = y.data() + b * 256;
            for (int c = 0; c < 4; ++c) { // 64 values: 32 low nibbles, 32 high nibbles
                int sc, m;
                q4k_scale_min(blk + 4, 2 * c, sc, m);
                const float d1 = d * sc, m1 = dmin * m;
                q4k_scale_min(blk + 4, 2 * c + 1, sc, m);
                const float d2 = d * sc, m2 = dmin * m;
                for (int l = 0; l < 32; ++l) {
                    out[c * 64 + l] = d1 * (q[c * 32 + l] & 0xF) - m1;
                    out[c * 64 + 32 + l] = d2 * (q[c * 32 + l] >> 4) - m2;
                }
            }
        }
        break;
    case GRAFT_DTYPE_Q6_K:
        for (int64_t b = 0; b < n / 256; ++b) {
            const uint8_t *blk = data + b * 210;
            const float d = f16_at(blk + 208);
            float *out = y.data() + b * 256;
            for (int half = 0; half < 2; ++half) {
                const uint8_t *ql = blk + half * 64, *qh = blk + 128 + half * 32;
                const auto *sc = reinterpret_cast<const int8_t *>(blk + 192) + half * 8;
                for (int l = 0; l < 32; ++l) {
                    const int is = l / 16;
                    const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    out[half * 128 + l] = d * sc[is + 0] * q1;
                    out[half * 128 + l + 32] = d * sc[is + 2] * q2;
                    out[half * 128 + l + 64] = d * sc[is + 4] * q3;
                    out[half * 128 + l + 96] = d * sc[is + 6] * q4;
                }
            }
        }
        break;
    default:
        ADD_FAILURE() << "dequantize_row: " << sdk::dtype_name(dtype);
        break;
    }
    return y;
}

// ------------------------------------------------------------------ random data

std::vector<float> random_floats(size_t n, std::mt19937 &rng, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (float &x : v)
        x = dist(rng);
    return v;
}

HostTensor random_matrix(graft_dtype dtype, int64_t n_in, int64_t n_out, std::mt19937 &rng) {
    HostTensor t = HostTensor::zeros(dtype, {n_in, n_out});
    std::uniform_int_distribution<int> byte(0, 255);
    auto put_f16 = [](uint8_t *p, float v) {
        const uint16_t h = sdk::fp32_to_fp16(v);
        std::memcpy(p, &h, 2);
    };
    std::uniform_real_distribution<float> scale(0.002f, 0.02f), small(0.0005f, 0.002f);
    uint8_t *p = t.bytes.data();
    const size_t n = t.bytes.size();
    switch (dtype) {
    case GRAFT_DTYPE_F32: {
        const auto v = random_floats(static_cast<size_t>(n_in * n_out), rng);
        std::memcpy(p, v.data(), n);
        break;
    }
    case GRAFT_DTYPE_F16:
    case GRAFT_DTYPE_BF16: {
        const auto v = random_floats(static_cast<size_t>(n_in * n_out), rng);
        for (size_t i = 0; i < v.size(); ++i) {
            const uint16_t h =
                dtype == GRAFT_DTYPE_F16 ? sdk::fp32_to_fp16(v[i]) : sdk::fp32_to_bf16(v[i]);
            std::memcpy(p + 2 * i, &h, 2);
        }
        break;
    }
    case GRAFT_DTYPE_Q8_0:
    case GRAFT_DTYPE_Q4_0: {
        const size_t block = dtype == GRAFT_DTYPE_Q8_0 ? 34 : 18;
        for (size_t b = 0; b < n / block; ++b) {
            put_f16(p + b * block, scale(rng));
            for (size_t j = 2; j < block; ++j)
                p[b * block + j] = static_cast<uint8_t>(byte(rng));
        }
        break;
    }
    case GRAFT_DTYPE_Q4_K:
        for (size_t b = 0; b < n / 144; ++b) {
            put_f16(p + b * 144, small(rng));
            put_f16(p + b * 144 + 2, small(rng));
            for (size_t j = 4; j < 144; ++j)
                p[b * 144 + j] = static_cast<uint8_t>(byte(rng));
        }
        break;
    case GRAFT_DTYPE_Q6_K:
        for (size_t b = 0; b < n / 210; ++b) {
            for (size_t j = 0; j < 208; ++j)
                p[b * 210 + j] = static_cast<uint8_t>(byte(rng));
            put_f16(p + b * 210 + 208, small(rng));
        }
        break;
    default:
        ADD_FAILURE() << "random_matrix: " << sdk::dtype_name(dtype);
        break;
    }
    return t;
}

// ------------------------------------------------------------------ the local reference

namespace {

struct RefState {
    std::string op;
    std::vector<graft_tensor> weights;
    std::map<std::string, double> params;

    double param(const char *key, double fallback) const {
        auto it = params.find(key);
        return it == params.end() ? fallback : it->second;
    }
};

const float *f32(const graft_tensor &t) {
    return static_cast<const float *>(t.data);
}
float *f32(graft_tensor &t) {
    return static_cast<float *>(t.data);
}

graft_status run_add(const RefState &, const graft_kernel_call *c) {
    const int64_t n = sdk::n_elements(c->inputs[0]);
    for (int64_t i = 0; i < n; ++i)
        f32(c->outputs[0])[i] = f32(c->inputs[0])[i] + f32(c->inputs[1])[i];
    return GRAFT_OK;
}

graft_status run_swiglu(const RefState &, const graft_kernel_call *c) {
    const int64_t n = sdk::n_elements(c->inputs[0]);
    for (int64_t i = 0; i < n; ++i) {
        const double g = f32(c->inputs[0])[i];
        f32(c->outputs[0])[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * f32(c->inputs[1])[i]);
    }
    return GRAFT_OK;
}

graft_status run_rmsnorm(const RefState &st, const graft_kernel_call *c) {
    const graft_tensor &x = c->inputs[0];
    const int64_t n = x.ne[0], rows = sdk::n_rows(x);
    const double eps = st.param("eps", 1e-5);
    for (int64_t r = 0; r < rows; ++r) {
        const float *xr = f32(x) + r * n;
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i)
            sum += static_cast<double>(xr[i]) * xr[i];
        const double scale = 1.0 / std::sqrt(sum / static_cast<double>(n) + eps);
        float *yr = f32(c->outputs[0]) + r * n;
        for (int64_t i = 0; i < n; ++i)
            yr[i] = static_cast<float>(xr[i] * scale * f32(st.weights[0])[i]);
    }
    return GRAFT_OK;
}

double yarn_corr_dim(int n_rot, int n_ctx_orig, double rotations, double base) {
    return n_rot * std::log(n_ctx_orig / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

graft_status run_rope(const RefState &st, const graft_kernel_call *c) {
    const graft_tensor &x = c->inputs[0];
    const auto *pos = static_cast<const int32_t *>(c->inputs[1].data);
    const int64_t head_dim = x.ne[0], n_head = x.ne[1], n_tok = x.ne[2] * x.ne[3];
    int n_rot = static_cast<int>(st.param("n_rot", 0));
    if (n_rot == 0)
        n_rot = static_cast<int>(head_dim);
    const int mode = static_cast<int>(st.param("mode", 0));
    const double base = st.param("freq_base", 10000.0), freq_scale = st.param("freq_scale", 1.0);
    const double ext = st.param("ext_factor", 0.0), attn = st.param("attn_factor", 1.0);
    const int n_ctx_orig = static_cast<int>(st.param("n_ctx_orig", 0));
    const double low = std::max(
        0.0, std::floor(yarn_corr_dim(n_rot, n_ctx_orig, st.param("beta_fast", 32.0), base)));
    const double high =
        std::min(static_cast<double>(n_rot - 1),
                 std::ceil(yarn_corr_dim(n_rot, n_ctx_orig, st.param("beta_slow", 1.0), base)));
    const float *ff = st.weights.empty() || !st.weights[0].data ? nullptr : f32(st.weights[0]);
    std::vector<float> src(static_cast<size_t>(head_dim));
    for (int64_t t = 0; t < n_tok; ++t)
        for (int64_t h = 0; h < n_head; ++h) {
            const float *xr = f32(x) + (t * n_head + h) * head_dim;
            float *yr = f32(c->outputs[0]) + (t * n_head + h) * head_dim;
            std::copy(xr, xr + head_dim, src.begin()); // out may alias in
            std::copy(src.begin(), src.end(), yr);
            for (int i = 0; i < n_rot / 2; ++i) {
                const double extrap =
                    pos[t] * std::pow(base, -2.0 * i / n_rot) / (ff ? ff[i] : 1.0);
                const double interp = freq_scale * extrap;
                double theta = interp, mscale = attn;
                if (ext != 0.0) {
                    const double y = ((2 * i) / 2 - low) / std::max(0.001, high - low);
                    const double mix = (1.0 - std::min(1.0, std::max(0.0, y))) * ext;
                    theta = interp * (1 - mix) + extrap * mix;
                    mscale *= 1.0 + 0.1 * std::log(1.0 / freq_scale);
                }
                const double cs = std::cos(theta) * mscale, sn = std::sin(theta) * mscale;
                const int a = mode == 2 ? i : 2 * i, b = mode == 2 ? i + n_rot / 2 : 2 * i + 1;
                yr[a] = static_cast<float>(src[a] * cs - src[b] * sn);
                yr[b] = static_cast<float>(src[a] * sn + src[b] * cs);
            }
        }
    return GRAFT_OK;
}

graft_status run_embedding(const RefState &st, const graft_kernel_call *c) {
    const graft_tensor &table = st.weights[0];
    const auto *ids = static_cast<const int32_t *>(c->inputs[0].data);
    const int64_t n_tok = sdk::n_elements(c->inputs[0]), n_embd = table.ne[0];
    for (int64_t t = 0; t < n_tok; ++t) {
        if (ids[t] < 0 || ids[t] >= table.ne[1])
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "embedding_ref: id out of range");
        const auto row = dequantize_row(
            table.dtype, static_cast<const uint8_t *>(table.data) + ids[t] * table.nb[1], n_embd);
        std::copy(row.begin(), row.end(), f32(c->outputs[0]) + t * n_embd);
    }
    return GRAFT_OK;
}

graft_status run_linear(const RefState &st, const graft_kernel_call *c) {
    const graft_tensor &w = st.weights[0];
    const float *bias = st.weights.size() > 1 && st.weights[1].data ? f32(st.weights[1]) : nullptr;
    const int64_t n_in = w.ne[0], n_out = w.ne[1], n_tok = sdk::n_rows(c->inputs[0]);
    const float *x = f32(c->inputs[0]);
    for (int64_t o = 0; o < n_out; ++o) {
        const auto row =
            dequantize_row(w.dtype, static_cast<const uint8_t *>(w.data) + o * w.nb[1], n_in);
        for (int64_t t = 0; t < n_tok; ++t) {
            double acc = bias ? bias[o] : 0.0;
            for (int64_t k = 0; k < n_in; ++k)
                acc += static_cast<double>(row[k]) * x[t * n_in + k];
            f32(c->outputs[0])[t * n_out + o] = static_cast<float>(acc);
        }
    }
    return GRAFT_OK;
}

graft_status run_attention(const RefState &st, const graft_kernel_call *c) {
    const graft_tensor &q = c->inputs[0], &k = c->inputs[1], &v = c->inputs[2];
    const graft_tensor &kc = c->inputs[3], &vc = c->inputs[4];
    const int64_t hd = q.ne[0], n_head = q.ne[1], n_tok = q.ne[2], n_kv = k.ne[1];
    const int64_t n_past = sdk::param_int(c->params, c->n_params, "n_past", 0);
    if (n_past + n_tok > kc.ne[2])
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "attention_ref: cache overflow");
    double scale = st.param("scale", 0.0);
    if (scale <= 0.0)
        scale = 1.0 / std::sqrt(static_cast<double>(hd));
    const bool f16 = kc.dtype == GRAFT_DTYPE_F16;
    auto store = [&](const graft_tensor &cache, int64_t i, float value) {
        if (f16) {
            const uint16_t h = sdk::fp32_to_fp16(value);
            std::memcpy(static_cast<uint8_t *>(cache.data) + 2 * i, &h, 2);
        } else {
            static_cast<float *>(cache.data)[i] = value;
        }
    };
    auto load = [&](const graft_tensor &cache, int64_t i) {
        return f16 ? f16_at(static_cast<const uint8_t *>(cache.data) + 2 * i)
                   : static_cast<const float *>(cache.data)[i];
    };
    const int64_t row = hd * n_kv;
    for (int64_t i = 0; i < row * n_tok; ++i) {
        store(kc, n_past * row + i, f32(k)[i]);
        store(vc, n_past * row + i, f32(v)[i]);
    }
    for (int64_t t = 0; t < n_tok; ++t)
        for (int64_t h = 0; h < n_head; ++h) {
            const int64_t kvh = h / (n_head / n_kv), last = n_past + t;
            const float *qh = f32(q) + (t * n_head + h) * hd;
            std::vector<double> s(static_cast<size_t>(last + 1));
            double mx = -INFINITY;
            for (int64_t j = 0; j <= last; ++j) {
                double dot = 0.0;
                for (int64_t d = 0; d < hd; ++d)
                    dot += static_cast<double>(qh[d]) * load(kc, j * row + kvh * hd + d);
                s[j] = dot * scale;
                mx = std::max(mx, s[j]);
            }
            double sum = 0.0;
            for (double &e : s)
                sum += (e = std::exp(e - mx));
            float *out = f32(c->outputs[0]) + (t * n_head + h) * hd;
            for (int64_t d = 0; d < hd; ++d) {
                double acc = 0.0;
                for (int64_t j = 0; j <= last; ++j)
                    acc += s[j] * load(vc, j * row + kvh * hd + d);
                out[d] = static_cast<float>(acc / sum);
            }
        }
    return GRAFT_OK;
}

using RunFn = graft_status (*)(const RefState &, const graft_kernel_call *);

const std::map<std::string, RunFn> &run_table() {
    static const std::map<std::string, RunFn> table = {
        {"add", run_add},
        {"swiglu", run_swiglu},
        {"rmsnorm", run_rmsnorm},
        {"rope", run_rope},
        {"embedding", run_embedding},
        {"linear", run_linear},
        {"attention", run_attention},
    };
    return table;
}

template <const char *Op> graft_status ref_create(const graft_kernel_config *c, void **out) {
    auto st = std::make_unique<RefState>();
    st->op = Op;
    for (uint32_t i = 0; i < c->n_weights; ++i)
        st->weights.push_back(c->weights[i]);
    for (uint32_t i = 0; i < c->n_params; ++i)
        st->params[c->params[i].key] = c->params[i].type == GRAFT_PARAM_INT
                                           ? static_cast<double>(c->params[i].i)
                                           : c->params[i].f;
    *out = st.release();
    return GRAFT_OK;
}

graft_status ref_run(void *state, const graft_kernel_call *call) {
    const auto *st = static_cast<const RefState *>(state);
    return run_table().at(st->op)(*st, call);
}

void ref_destroy(void *state) {
    delete static_cast<RefState *>(state);
}

graft_status ref_device_info(uint32_t index, graft_device_info *out) {
    if (index != 0)
        return GRAFT_ERR_NO_DEVICE;
    out->kind = GRAFT_DEVICE_CPU;
    out->name = "cpu";
    out->description = "test reference";
    out->caps = GRAFT_CAP_HOST_MEMORY;
    out->capabilities = "";
    return GRAFT_OK;
}

constexpr char kAdd[] = "add", kSwiglu[] = "swiglu", kRmsnorm[] = "rmsnorm", kRope[] = "rope",
               kEmbedding[] = "embedding", kLinear[] = "linear", kAttention[] = "attention";

graft_kernel ref_kernel(const char *op, const char *impl,
                        graft_status (*create)(const graft_kernel_config *, void **)) {
    auto k = sdk::versioned<graft_kernel>();
    k.op = op;
    k.impl = impl;
    k.device_kinds = 1u << GRAFT_DEVICE_CPU;
    k.create = create;
    k.run = ref_run;
    k.destroy = ref_destroy;
    return k;
}

} // namespace

const graft_plugin *local_reference_plugin() {
    static const graft_kernel kernels[] = {
        ref_kernel(kAdd, "add_ref", ref_create<kAdd>),
        ref_kernel(kSwiglu, "swiglu_ref", ref_create<kSwiglu>),
        ref_kernel(kRmsnorm, "rmsnorm_ref", ref_create<kRmsnorm>),
        ref_kernel(kRope, "rope_ref", ref_create<kRope>),
        ref_kernel(kEmbedding, "embedding_ref", ref_create<kEmbedding>),
        ref_kernel(kLinear, "linear_ref", ref_create<kLinear>),
        ref_kernel(kAttention, "attention_ref", ref_create<kAttention>),
    };
    static const graft_plugin plugin = [] {
        auto p = sdk::versioned<graft_plugin>();
        p.name = "test-reference";
        p.version = "0";
        p.vendor = "graft tests";
        p.n_devices = 1;
        p.device_info = ref_device_info;
        p.kernels = kernels;
        p.n_kernels = sizeof kernels / sizeof kernels[0];
        p.last_error = sdk::last_error;
        p.device_prefix = "cpu";
        return p;
    }();
    return &plugin;
}

Reference reference_for(const std::string &op, graft_dtype weight_dtype) {
    const std::string impl = op + "_ref";
    const LoadedPlugin &amx = load_plugin("amx-cpu");
    if (amx.table && amx.table->n_devices > 0) {
        const graft_kernel *k = find_kernel(amx.table, impl);
        bool accepts = k != nullptr;
        if (k && weight_dtype != GRAFT_DTYPE_COUNT && k->weight_dtypes) {
            accepts = false;
            for (uint32_t i = 0; i < k->n_weight_dtypes; ++i)
                accepts = accepts || k->weight_dtypes[i] == weight_dtype;
        }
        if (accepts) {
            static Target amx_target(amx.table, 0);
            return {&amx_target, k, "amx-cpu/" + impl};
        }
    }
    static Target local(local_reference_plugin(), 0);
    return {&local, find_kernel(local_reference_plugin(), impl), "test-reference/" + impl};
}

} // namespace graft::gputest
