// Running one kernel of a plugin on one device from host data: tensors on the host, their
// copies in the device's memory, kernel instances with prepared weights. The same harness
// drives the kernel under test and the reference it is compared with.
#pragma once

#include <graft/plugin.hpp>

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

namespace graft::gputest {

// A tensor in host memory, contiguous, GGUF order (ne[0] innermost).
struct HostTensor {
    graft_dtype dtype = GRAFT_DTYPE_F32;
    uint32_t n_dims = 1;
    std::array<int64_t, GRAFT_MAX_DIMS> ne{1, 1, 1, 1};
    std::vector<uint8_t> bytes;

    // Zero-filled tensor of this dtype and shape.
    static HostTensor zeros(graft_dtype dtype, std::vector<int64_t> shape);
    static HostTensor f32(std::vector<int64_t> shape, const std::vector<float> &values);
    static HostTensor i32(std::vector<int64_t> shape, const std::vector<int32_t> &values);

    int64_t elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    std::vector<float> floats() const; // F32 or F16 contents as floats
    // A graft_tensor over `data` with this dtype, shape and contiguous strides.
    graft_tensor view(void *data, uint32_t device) const;
};

// A tensor in a target's memory; owned by the target.
struct DeviceTensor {
    HostTensor meta; // dtype and shape; bytes unused
    graft_tensor tensor{};
};

// One device of one plugin: memory through the plugin's memory API, or host memory when it
// has none.
class Target {
  public:
    Target(const graft_plugin *plugin, uint32_t device);
    ~Target();
    Target(const Target &) = delete;
    Target &operator=(const Target &) = delete;

    const graft_plugin *plugin() const { return plugin_; }
    uint32_t device() const { return device_; }
    const graft_kernel *kernel(const std::string &impl) const;

    DeviceTensor upload(const HostTensor &t);
    DeviceTensor empty(graft_dtype dtype, std::vector<int64_t> shape);
    HostTensor download(const DeviceTensor &t);
    void synchronize();
    // Raw memory, freed with the target.
    void *alloc(uint64_t bytes);
    void copy_in(void *dst, const void *src, uint64_t bytes);

  private:
    const graft_plugin *plugin_;
    uint32_t device_;
    std::vector<void *> device_allocs_;
    std::list<std::vector<uint8_t>> host_allocs_;
};

// A kernel instance: weights prepared (or copied) for the target, state created.
class Instance {
  public:
    Instance(Target &target, const graft_kernel *kernel, const std::vector<HostTensor> &weights,
             const std::vector<graft_param> &params);
    ~Instance();
    Instance(const Instance &) = delete;
    Instance &operator=(const Instance &) = delete;

    bool ok() const { return status_ == GRAFT_OK; }
    graft_status status() const { return status_; }
    const std::string &error() const { return error_; }

    graft_status run(const std::vector<const DeviceTensor *> &inputs,
                     const std::vector<DeviceTensor *> &outputs,
                     const std::vector<graft_param> &params = {}, void *stream = nullptr);
    // Message of the last failed call (the plugin's last_error).
    std::string last_error() const;

  private:
    Target &target_;
    const graft_kernel *kernel_;
    std::vector<graft_prepared_weight> prepared_;
    std::vector<graft_tensor> weights_;
    void *state_ = nullptr;
    graft_status status_ = GRAFT_OK;
    std::string error_;
};

// Runs `kernel` once on `target`: uploads weights and inputs, allocates outputs of the
// given dtypes and shapes, returns them downloaded. Fails the current test on an error.
std::vector<HostTensor> run_once(Target &target, const graft_kernel *kernel,
                                 const std::vector<HostTensor> &weights,
                                 const std::vector<graft_param> &params,
                                 const std::vector<HostTensor> &inputs,
                                 const std::vector<HostTensor> &output_shapes,
                                 const std::vector<graft_param> &call_params = {});

// Relative RMS error of `got` against `want` (0 when both are zero); NaN/inf anywhere count
// as an infinite error.
double relative_rms_error(const std::vector<float> &want, const std::vector<float> &got);

} // namespace graft::gputest
