// Test harness for the amx-cpu plugin: loads its ISA variants through the C ABI (dlopen +
// graft_plugin_init), owns tensors, fills them with random but valid data of any dtype,
// and runs kernels by impl name.
//
// Which file each variant comes from:
//   GRAFT_AMX_CPU_PLUGIN=<file.so>   test only this file (under the variant its name says,
//                                    graft-amx-cpu-<variant>.so; other variants skip)
//   GRAFT_AMX_CPU_PLUGIN_DIR=<dir>   take graft-amx-cpu-<variant>.so from dir
//   otherwise                        the build tree's plugin directory
#pragma once

#include <graft/plugin.hpp>

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace graft::test {

inline const std::vector<std::string> &amx_cpu_variants() {
    static const std::vector<std::string> v = {"avx2", "avx512", "amx"};
    return v;
}

struct LoadedPlugin {
    std::string variant;
    std::string path;
    const graft_plugin *api = nullptr;
    uint32_t score = 0;
    // The kernel with this impl; nullptr when absent.
    const graft_kernel *kernel(const std::string &impl) const;
};

// The variant's plugin, loaded once per process; nullptr with the reason in why_not when it
// is not built, cannot be loaded, or cannot run on this CPU (score 0).
const LoadedPlugin *load_amx_cpu(const std::string &variant, std::string &why_not);

// Where the variant's file is looked for (see the header comment); "" when an explicit
// GRAFT_AMX_CPU_PLUGIN names another variant.
std::string amx_cpu_path(const std::string &variant);

// ------------------------------------------------------------------ tensors

class Tensor {
  public:
    Tensor() = default;
    // Contiguous tensor of dtype with ne (1 to 4 dims; missing dims are 1), zero-filled.
    Tensor(graft_dtype dtype, std::vector<int64_t> ne);
    // F32 tensor whose rows (dim 1 and up) are `row_stride` floats apart (>= ne[0]).
    static Tensor f32_strided(std::vector<int64_t> ne, int64_t row_stride);

    graft_tensor view() const { return view_; }
    graft_tensor &mut_view() { return view_; }
    uint8_t *bytes() const { return static_cast<uint8_t *>(view_.data); }
    float *f32() const { return reinterpret_cast<float *>(view_.data); }
    int32_t *i32() const { return reinterpret_cast<int32_t *>(view_.data); }
    size_t size_bytes() const { return size_; }
    int64_t rows() const { return sdk::n_rows(view_); }
    int64_t ne(int i) const { return view_.ne[i]; }
    // Row i (dims 1.. flattened) of an F32 tensor.
    float *row(int64_t i) const { return reinterpret_cast<float *>(bytes() + i * view_.nb[1]); }
    Tensor clone() const;

  private:
    struct Free {
        void operator()(uint8_t *p) const { std::free(p); }
    };
    std::shared_ptr<uint8_t> storage_;
    size_t size_ = 0;
    graft_tensor view_{};
};

using Rng = std::mt19937_64;

// Uniform floats in [-scale, scale].
void fill_uniform(Tensor &t, Rng &rng, float scale = 1.0f);
// Random valid data of t.dtype: F32/F16/BF16 uniform in [-scale, scale]; quantized blocks
// with random quants and sensible scales (so values stay in about [-scale, scale]).
void fill_random(Tensor &t, Rng &rng, float scale = 1.0f);
// Weight tensor (n_in, n_out[, n_mat]) of dtype with random valid content.
Tensor random_weights(graft_dtype dtype, int64_t n_in, int64_t n_out, Rng &rng, int64_t n_mat = 1);
// Row r (of n_rows(t)) as floats through quants.h.
std::vector<float> dequantized_row(const Tensor &t, int64_t r);

// ------------------------------------------------------------------ running kernels

struct KernelResult {
    graft_status status = GRAFT_OK;
    std::string error; // last_error when status != OK
};

// create + run + destroy of plugin kernel `impl`.
KernelResult run_kernel(const LoadedPlugin &plugin, const std::string &impl,
                        std::span<const graft_tensor> weights, std::span<const graft_param> params,
                        std::span<const graft_tensor> inputs, std::span<graft_tensor> outputs,
                        std::span<const graft_param> call_params = {});

// A created kernel instance for repeated runs.
class KernelInstance {
  public:
    KernelInstance(const LoadedPlugin &plugin, const std::string &impl,
                   std::span<const graft_tensor> weights, std::span<const graft_param> params);
    ~KernelInstance();
    KernelInstance(const KernelInstance &) = delete;
    KernelInstance &operator=(const KernelInstance &) = delete;
    bool ok() const { return state_ != nullptr; }
    const KernelResult &create_result() const { return created_; }
    KernelResult run(std::span<const graft_tensor> inputs, std::span<graft_tensor> outputs,
                     std::span<const graft_param> call_params = {});

  private:
    const LoadedPlugin &plugin_;
    const graft_kernel *kernel_ = nullptr;
    void *state_ = nullptr;
    KernelResult created_;
};

} // namespace graft::test
