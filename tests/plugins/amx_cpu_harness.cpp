#include "amx_cpu_harness.h"

#include <graft/quants.h>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

namespace graft::test {

// ------------------------------------------------------------------ loading

const graft_kernel *LoadedPlugin::kernel(const std::string &impl) const {
    for (uint32_t i = 0; i < api->n_kernels; ++i)
        if (api->kernels[i].impl && impl == api->kernels[i].impl)
            return &api->kernels[i];
    return nullptr;
}

std::string amx_cpu_path(const std::string &variant) {
    const std::string file = "graft-amx-cpu-" + variant + ".so";
    if (const char *one = std::getenv("GRAFT_AMX_CPU_PLUGIN"); one && *one) {
        const std::string name = std::filesystem::path(one).filename().string();
        return name == file ? std::string(one) : std::string();
    }
    if (const char *dir = std::getenv("GRAFT_AMX_CPU_PLUGIN_DIR"); dir && *dir)
        return (std::filesystem::path(dir) / file).string();
    return (std::filesystem::path(GRAFT_BUILD_PLUGIN_DIR) / file).string();
}

namespace {

struct Loaded {
    std::unique_ptr<LoadedPlugin> plugin;
    std::string why_not;
};

Loaded load(const std::string &variant) {
    Loaded r;
    const std::string path = amx_cpu_path(variant);
    if (path.empty()) {
        r.why_not = "GRAFT_AMX_CPU_PLUGIN names another variant than " + variant;
        return r;
    }
    if (!std::filesystem::exists(path)) {
        r.why_not = "variant " + variant + " is not built (" + path + " is missing)";
        return r;
    }
    // Plugins are never unloaded (their threads and tables live until exit).
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        r.why_not = "variant " + variant + " cannot be loaded: " + dlerror();
        return r;
    }
    auto score = reinterpret_cast<graft_plugin_score_fn>(dlsym(handle, GRAFT_PLUGIN_SCORE_SYMBOL));
    auto init = reinterpret_cast<graft_plugin_init_fn>(dlsym(handle, GRAFT_PLUGIN_INIT_SYMBOL));
    if (!score || !init) {
        r.why_not = path + " lacks graft_plugin_score or graft_plugin_init";
        return r;
    }
    auto p = std::make_unique<LoadedPlugin>();
    p->variant = variant;
    p->path = path;
    p->score = score();
    if (p->score == 0) {
        r.why_not = "variant " + variant + " cannot run on this CPU (graft_plugin_score = 0)";
        return r;
    }
    graft_host_api host = sdk::versioned<graft_host_api>();
    const char *error = nullptr;
    if (init(&host, &p->api, &error) != GRAFT_OK || !p->api) {
        r.why_not = "variant " + variant + ": graft_plugin_init failed: " + (error ? error : "?");
        return r;
    }
    r.plugin = std::move(p);
    return r;
}

} // namespace

const LoadedPlugin *load_amx_cpu(const std::string &variant, std::string &why_not) {
    static std::mutex mutex;
    static std::map<std::string, Loaded> cache;
    std::lock_guard lock(mutex);
    auto it = cache.find(variant);
    if (it == cache.end())
        it = cache.emplace(variant, load(variant)).first;
    why_not = it->second.why_not;
    return it->second.plugin.get();
}

// ------------------------------------------------------------------ tensors

Tensor::Tensor(graft_dtype dtype, std::vector<int64_t> ne) {
    std::memset(&view_, 0, sizeof view_);
    view_.dtype = dtype;
    view_.n_dims = static_cast<uint32_t>(ne.size());
    for (int i = 0; i < GRAFT_MAX_DIMS; ++i)
        view_.ne[i] = i < static_cast<int>(ne.size()) ? ne[static_cast<size_t>(i)] : 1;
    sdk::set_contiguous_strides(view_);
    size_ = sdk::n_bytes(view_);
    const size_t alloc = (size_ + 64 + 63) / 64 * 64;
    storage_.reset(static_cast<uint8_t *>(std::aligned_alloc(64, alloc)), Free{});
    std::memset(storage_.get(), 0, alloc);
    view_.data = storage_.get();
}

Tensor Tensor::f32_strided(std::vector<int64_t> ne, int64_t row_stride) {
    std::vector<int64_t> full = ne;
    full.resize(4, 1);
    const int64_t rows = full[1] * full[2] * full[3];
    Tensor s(GRAFT_DTYPE_F32, {row_stride, rows});
    s.view_.n_dims = static_cast<uint32_t>(ne.size());
    for (int i = 0; i < GRAFT_MAX_DIMS; ++i)
        s.view_.ne[i] = full[static_cast<size_t>(i)];
    s.view_.nb[0] = 4;
    s.view_.nb[1] = row_stride * 4;
    for (int i = 2; i < GRAFT_MAX_DIMS; ++i)
        s.view_.nb[i] = s.view_.nb[i - 1] * s.view_.ne[i - 1];
    return s;
}

Tensor Tensor::clone() const {
    Tensor t = *this;
    const size_t alloc = (size_ + 64 + 63) / 64 * 64;
    t.storage_.reset(static_cast<uint8_t *>(std::aligned_alloc(64, alloc)), Free{});
    std::memcpy(t.storage_.get(), storage_.get(), alloc);
    t.view_.data = t.storage_.get();
    return t;
}

void fill_uniform(Tensor &t, Rng &rng, float scale) {
    std::uniform_real_distribution<float> u(-scale, scale);
    const int64_t rows = t.rows();
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < t.ne(0); ++i)
            t.row(r)[i] = u(rng);
}

namespace {

void put_u16(uint8_t *p, uint16_t v) {
    std::memcpy(p, &v, 2);
}

// fp16 of a random magnitude in [lo, hi], random sign when `signed_`.
uint16_t random_half(Rng &rng, float lo, float hi, bool signed_) {
    std::uniform_real_distribution<float> u(lo, hi);
    float v = u(rng);
    if (signed_ && (rng() & 1))
        v = -v;
    return sdk::fp32_to_fp16(v);
}

} // namespace

void fill_random(Tensor &t, Rng &rng, float scale) {
    const graft_dtype d = t.view().dtype;
    if (d == GRAFT_DTYPE_F32) {
        fill_uniform(t, rng, scale);
        return;
    }
    uint8_t *p = t.bytes();
    const size_t n = t.size_bytes();
    if (d == GRAFT_DTYPE_F16 || d == GRAFT_DTYPE_BF16) {
        std::uniform_real_distribution<float> u(-scale, scale);
        for (size_t i = 0; i + 1 < n; i += 2)
            put_u16(p + i,
                    d == GRAFT_DTYPE_F16 ? sdk::fp32_to_fp16(u(rng)) : sdk::fp32_to_bf16(u(rng)));
        return;
    }
    // Any bit pattern is a valid quant; only the fp16 scales need sane values.
    for (size_t i = 0; i < n; ++i)
        p[i] = static_cast<uint8_t>(rng());
    const uint64_t bb = sdk::dtype_info(d).block_bytes;
    for (size_t off = 0; off + bb <= n; off += bb) {
        uint8_t *b = p + off;
        switch (d) {
        case GRAFT_DTYPE_Q4_0:   // |q - 8| <= 8
        case GRAFT_DTYPE_Q8_0:   // |q| <= 128
        case GRAFT_DTYPE_Q5_0: { // |q - 16| <= 16
            const float levels = d == GRAFT_DTYPE_Q4_0   ? 8.0f
                                 : d == GRAFT_DTYPE_Q8_0 ? 128.0f
                                                         : 16.0f;
            put_u16(b, sdk::fp32_to_fp16(sdk::fp16_to_fp32(random_half(rng, 0.25f, 1.0f, true)) *
                                         scale / levels));
            break;
        }
        case GRAFT_DTYPE_Q4_1:
        case GRAFT_DTYPE_Q5_1: { // d * q + m, q up to 15 or 31
            const float levels = d == GRAFT_DTYPE_Q4_1 ? 15.0f : 31.0f;
            put_u16(b, sdk::fp32_to_fp16(sdk::fp16_to_fp32(random_half(rng, 0.5f, 1.0f, false)) *
                                         2 * scale / levels));
            put_u16(b + 2, sdk::fp32_to_fp16(
                               -scale * sdk::fp16_to_fp32(random_half(rng, 0.5f, 1.0f, false))));
            break;
        }
        case GRAFT_DTYPE_Q2_K: // scales 0..15, q 0..3
            put_u16(b + 80,
                    sdk::fp32_to_fp16(scale / 45 *
                                      sdk::fp16_to_fp32(random_half(rng, 0.5f, 1.0f, false))));
            put_u16(b + 82,
                    sdk::fp32_to_fp16(scale / 15 *
                                      sdk::fp16_to_fp32(random_half(rng, 0.5f, 1.0f, false))));
            break;
        case GRAFT_DTYPE_Q3_K: // scales -32..31, q -4..3
            put_u16(b + 108,
                    sdk::fp32_to_fp16(scale / 128 *
                                      sdk::fp16_to_fp32(random_half(rng, 0.5f, 1.0f, true))));
            break;
        case GRAFT_DTYPE_Q4_K:
        case GRAFT_DTYPE_Q5_K: { // 6-bit scales and mins; q up to 15 or 31
            const float levels = d == GRAFT_DTYPE_Q4_K ? 15.0f : 31.0f;
            put_u16(b, sdk::fp32_to_fp16(2 * scale / (63 * levels) *
                                         sdk::fp16_to_fp32(random_half(rng, 0.5f, 1.0f, false))));
            put_u16(b + 2,
                    sdk::fp32_to_fp16(scale / 63 *
                                      sdk::fp16_to_fp32(random_half(rng, 0.5f, 1.0f, false))));
            break;
        }
        case GRAFT_DTYPE_Q6_K: // int8 scales, q -32..31
            put_u16(b + 208,
                    sdk::fp32_to_fp16(scale / (128 * 32) *
                                      sdk::fp16_to_fp32(random_half(rng, 0.5f, 1.0f, true))));
            break;
        default:
            break;
        }
    }
}

Tensor random_weights(graft_dtype dtype, int64_t n_in, int64_t n_out, Rng &rng, int64_t n_mat) {
    Tensor t(dtype, n_mat > 1 ? std::vector<int64_t>{n_in, n_out, n_mat}
                              : std::vector<int64_t>{n_in, n_out});
    fill_random(t, rng, 1.0f);
    return t;
}

std::vector<float> dequantized_row(const Tensor &t, int64_t r) {
    std::vector<float> out(static_cast<size_t>(t.ne(0)));
    quants::dequantize_row(t.view().dtype, t.bytes() + r * t.view().nb[1], out.data(), t.ne(0));
    return out;
}

// ------------------------------------------------------------------ kernels

namespace {

graft_kernel_config make_config(std::span<const graft_tensor> weights,
                                std::span<const graft_param> params) {
    graft_kernel_config c = sdk::versioned<graft_kernel_config>();
    c.device = 0;
    c.weights = weights.empty() ? nullptr : weights.data();
    c.n_weights = static_cast<uint32_t>(weights.size());
    c.params = params.empty() ? nullptr : params.data();
    c.n_params = static_cast<uint32_t>(params.size());
    return c;
}

} // namespace

KernelInstance::KernelInstance(const LoadedPlugin &plugin, const std::string &impl,
                               std::span<const graft_tensor> weights,
                               std::span<const graft_param> params)
    : plugin_(plugin), kernel_(plugin.kernel(impl)) {
    if (!kernel_) {
        created_ = {GRAFT_ERR_UNSUPPORTED, "no kernel " + impl};
        return;
    }
    const graft_kernel_config c = make_config(weights, params);
    created_.status = kernel_->create(&c, &state_);
    if (created_.status != GRAFT_OK) {
        created_.error = plugin_.api->last_error();
        state_ = nullptr;
    }
}

KernelInstance::~KernelInstance() {
    if (state_)
        kernel_->destroy(state_);
}

KernelResult KernelInstance::run(std::span<const graft_tensor> inputs,
                                 std::span<graft_tensor> outputs,
                                 std::span<const graft_param> call_params) {
    if (!state_)
        return created_;
    graft_kernel_call call = sdk::versioned<graft_kernel_call>();
    call.inputs = inputs.data();
    call.n_inputs = static_cast<uint32_t>(inputs.size());
    call.outputs = outputs.data();
    call.n_outputs = static_cast<uint32_t>(outputs.size());
    call.params = call_params.empty() ? nullptr : call_params.data();
    call.n_params = static_cast<uint32_t>(call_params.size());
    KernelResult r;
    r.status = kernel_->run(state_, &call);
    if (r.status != GRAFT_OK)
        r.error = plugin_.api->last_error();
    return r;
}

KernelResult run_kernel(const LoadedPlugin &plugin, const std::string &impl,
                        std::span<const graft_tensor> weights, std::span<const graft_param> params,
                        std::span<const graft_tensor> inputs, std::span<graft_tensor> outputs,
                        std::span<const graft_param> call_params) {
    KernelInstance k(plugin, impl, weights, params);
    if (!k.ok())
        return k.create_result();
    return k.run(inputs, outputs, call_params);
}

} // namespace graft::test
