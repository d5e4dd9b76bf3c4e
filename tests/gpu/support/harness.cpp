#include "harness.h"

#include "plugin_loader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace graft::gputest {

// ------------------------------------------------------------------ HostTensor

HostTensor HostTensor::zeros(graft_dtype dtype, std::vector<int64_t> shape) {
    HostTensor t;
    t.dtype = dtype;
    t.n_dims = static_cast<uint32_t>(shape.size());
    for (size_t i = 0; i < shape.size() && i < GRAFT_MAX_DIMS; ++i)
        t.ne[i] = shape[i];
    t.bytes.assign(
        sdk::row_bytes(dtype, t.ne[0]) * static_cast<uint64_t>(t.ne[1] * t.ne[2] * t.ne[3]), 0);
    return t;
}

HostTensor HostTensor::f32(std::vector<int64_t> shape, const std::vector<float> &values) {
    HostTensor t = zeros(GRAFT_DTYPE_F32, std::move(shape));
    EXPECT_EQ(static_cast<int64_t>(values.size()), t.elements());
    std::memcpy(t.bytes.data(), values.data(), std::min(t.bytes.size(), values.size() * 4));
    return t;
}

HostTensor HostTensor::i32(std::vector<int64_t> shape, const std::vector<int32_t> &values) {
    HostTensor t = zeros(GRAFT_DTYPE_I32, std::move(shape));
    EXPECT_EQ(static_cast<int64_t>(values.size()), t.elements());
    std::memcpy(t.bytes.data(), values.data(), std::min(t.bytes.size(), values.size() * 4));
    return t;
}

std::vector<float> HostTensor::floats() const {
    std::vector<float> out(static_cast<size_t>(elements()));
    if (dtype == GRAFT_DTYPE_F32) {
        std::memcpy(out.data(), bytes.data(), out.size() * 4);
    } else if (dtype == GRAFT_DTYPE_F16) {
        for (size_t i = 0; i < out.size(); ++i) {
            uint16_t h;
            std::memcpy(&h, bytes.data() + 2 * i, 2);
            out[i] = sdk::fp16_to_fp32(h);
        }
    } else {
        ADD_FAILURE() << "floats() of a " << sdk::dtype_name(dtype) << " tensor";
    }
    return out;
}

graft_tensor HostTensor::view(void *data, uint32_t device) const {
    graft_tensor t{};
    t.data = data;
    t.dtype = dtype;
    t.n_dims = n_dims;
    for (int i = 0; i < GRAFT_MAX_DIMS; ++i)
        t.ne[i] = ne[i];
    sdk::set_contiguous_strides(t);
    t.device = device;
    t.layout = 0;
    return t;
}

// ------------------------------------------------------------------ Target

Target::Target(const graft_plugin *plugin, uint32_t device) : plugin_(plugin), device_(device) {}

Target::~Target() {
    for (void *p : device_allocs_)
        plugin_->memory->free(device_, p);
}

const graft_kernel *Target::kernel(const std::string &impl) const {
    return find_kernel(plugin_, impl);
}

void *Target::alloc(uint64_t bytes) {
    if (!plugin_->memory) {
        host_allocs_.emplace_back(bytes == 0 ? 1 : bytes, 0);
        return host_allocs_.back().data();
    }
    void *p = nullptr;
    const graft_status s = plugin_->memory->alloc(device_, 0, bytes, &p);
    EXPECT_EQ(s, GRAFT_OK) << "alloc of " << bytes << " bytes: " << plugin_->last_error();
    if (p)
        device_allocs_.push_back(p);
    return p;
}

void Target::copy_in(void *dst, const void *src, uint64_t bytes) {
    if (!plugin_->memory) {
        std::memcpy(dst, src, bytes);
        return;
    }
    const graft_status s = plugin_->memory->copy_to_device(device_, dst, src, bytes, nullptr);
    EXPECT_EQ(s, GRAFT_OK) << "copy_to_device: " << plugin_->last_error();
}

DeviceTensor Target::upload(const HostTensor &t) {
    DeviceTensor d;
    d.meta = t;
    d.meta.bytes.clear();
    void *p = alloc(t.bytes.size());
    if (p)
        copy_in(p, t.bytes.data(), t.bytes.size());
    d.tensor = t.view(p, device_);
    return d;
}

DeviceTensor Target::empty(graft_dtype dtype, std::vector<int64_t> shape) {
    return upload(HostTensor::zeros(dtype, std::move(shape)));
}

HostTensor Target::download(const DeviceTensor &t) {
    HostTensor h = t.meta;
    h.bytes.assign(sdk::n_bytes(t.tensor), 0);
    if (!plugin_->memory) {
        std::memcpy(h.bytes.data(), t.tensor.data, h.bytes.size());
        return h;
    }
    const graft_status s = plugin_->memory->copy_to_host(device_, h.bytes.data(), t.tensor.data,
                                                         h.bytes.size(), nullptr);
    EXPECT_EQ(s, GRAFT_OK) << "copy_to_host: " << plugin_->last_error();
    return h;
}

void Target::synchronize() {
    if (plugin_->memory) {
        const graft_status s = plugin_->memory->synchronize(device_, nullptr);
        EXPECT_EQ(s, GRAFT_OK) << "synchronize: " << plugin_->last_error();
    }
}

// ------------------------------------------------------------------ Instance

Instance::Instance(Target &target, const graft_kernel *kernel,
                   const std::vector<HostTensor> &weights, const std::vector<graft_param> &params)
    : target_(target), kernel_(kernel) {
    if (!kernel_) {
        status_ = GRAFT_ERR_UNSUPPORTED;
        error_ = "no such kernel";
        return;
    }
    for (size_t i = 0; i < weights.size(); ++i) {
        const HostTensor &w = weights[i];
        if (kernel_->prepare_weights) {
            graft_tensor src = w.view(const_cast<uint8_t *>(w.bytes.data()), target.device());
            graft_prepared_weight pw{};
            status_ =
                kernel_->prepare_weights(target.device(), static_cast<uint32_t>(i), &src, &pw);
            if (status_ != GRAFT_OK) {
                error_ = std::string("prepare_weights: ") + target.plugin()->last_error();
                return;
            }
            prepared_.push_back(pw);
            weights_.push_back(pw.tensor);
        } else {
            weights_.push_back(target.upload(w).tensor);
        }
    }
    auto config = sdk::versioned<graft_kernel_config>();
    config.device = target.device();
    config.weights = weights_.empty() ? nullptr : weights_.data();
    config.n_weights = static_cast<uint32_t>(weights_.size());
    config.params = params.empty() ? nullptr : params.data();
    config.n_params = static_cast<uint32_t>(params.size());
    status_ = kernel_->create(&config, &state_);
    if (status_ != GRAFT_OK)
        error_ = std::string("create: ") + target.plugin()->last_error();
}

Instance::~Instance() {
    if (state_)
        kernel_->destroy(state_);
    for (auto &pw : prepared_)
        kernel_->release_weights(target_.device(), &pw);
}

graft_status Instance::run(const std::vector<const DeviceTensor *> &inputs,
                           const std::vector<DeviceTensor *> &outputs,
                           const std::vector<graft_param> &params, void *stream) {
    std::vector<graft_tensor> in, out;
    for (const DeviceTensor *t : inputs)
        in.push_back(t->tensor);
    for (const DeviceTensor *t : outputs)
        out.push_back(t->tensor);
    auto call = sdk::versioned<graft_kernel_call>();
    call.inputs = in.data();
    call.n_inputs = static_cast<uint32_t>(in.size());
    call.outputs = out.data();
    call.n_outputs = static_cast<uint32_t>(out.size());
    call.params = params.empty() ? nullptr : params.data();
    call.n_params = static_cast<uint32_t>(params.size());
    call.stream = stream;
    return kernel_->run(state_, &call);
}

std::string Instance::last_error() const {
    return target_.plugin()->last_error();
}

std::vector<HostTensor> run_once(Target &target, const graft_kernel *kernel,
                                 const std::vector<HostTensor> &weights,
                                 const std::vector<graft_param> &params,
                                 const std::vector<HostTensor> &inputs,
                                 const std::vector<HostTensor> &output_shapes,
                                 const std::vector<graft_param> &call_params) {
    Instance inst(target, kernel, weights, params);
    EXPECT_TRUE(inst.ok()) << inst.error();
    if (!inst.ok())
        return {};
    std::vector<DeviceTensor> in, out;
    for (const HostTensor &t : inputs)
        in.push_back(target.upload(t));
    for (const HostTensor &t : output_shapes)
        out.push_back(target.upload(t));
    std::vector<const DeviceTensor *> in_ptrs;
    std::vector<DeviceTensor *> out_ptrs;
    for (auto &t : in)
        in_ptrs.push_back(&t);
    for (auto &t : out)
        out_ptrs.push_back(&t);
    const graft_status s = inst.run(in_ptrs, out_ptrs, call_params);
    EXPECT_EQ(s, GRAFT_OK) << "run: " << inst.last_error();
    if (s != GRAFT_OK)
        return {};
    target.synchronize();
    std::vector<HostTensor> result;
    for (auto &t : out)
        result.push_back(target.download(t));
    return result;
}

double relative_rms_error(const std::vector<float> &want, const std::vector<float> &got) {
    if (want.size() != got.size())
        return std::numeric_limits<double>::infinity();
    double err = 0.0, ref = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(want[i]) || !std::isfinite(got[i]))
            return std::numeric_limits<double>::infinity();
        const double d = static_cast<double>(got[i]) - want[i];
        err += d * d;
        ref += static_cast<double>(want[i]) * want[i];
    }
    if (ref == 0.0)
        return err == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
    return std::sqrt(err / ref);
}

} // namespace graft::gputest
