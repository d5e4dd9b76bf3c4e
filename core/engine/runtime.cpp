#include <graft/engine/runtime.h>
#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace graft::engine {

namespace {

std::string plugin_message(const graft_plugin *plugin) {
    const char *m = plugin && plugin->last_error ? plugin->last_error() : nullptr;
    return m && *m ? m : "no message";
}

constexpr uint64_t kAlign = 64;

uint64_t round_up(uint64_t n, uint64_t a) {
    return (n + a - 1) / a * a;
}

} // namespace

// ------------------------------------------------------------------ Device

Device::Device(std::string name, const host::PluginRecord *owner, uint32_t owner_index)
    : name_(std::move(name)), owner_(owner), index_(owner_index) {
    if (owner_ && owner_->api && owner_->api->memory)
        memory_ = owner_->api->memory;
}

void *Device::alloc(uint64_t bytes) {
    bytes = std::max<uint64_t>(round_up(bytes, kAlign), kAlign);
    if (!memory_) {
        void *p = std::aligned_alloc(kAlign, bytes);
        if (!p)
            throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
        return p;
    }
    void *p = nullptr;
    if (memory_->alloc(index_, 0, bytes, &p) != GRAFT_OK || !p)
        throw Error("cannot allocate " + std::to_string(bytes) + " bytes on " + name_ + ": " +
                    plugin_message(owner_->api));
    return p;
}

void Device::free(void *ptr) {
    if (!ptr)
        return;
    if (!memory_)
        std::free(ptr);
    else
        memory_->free(index_, ptr);
}

void Device::copy_to_device(void *dst, const void *src, uint64_t bytes) {
    if (!memory_) {
        std::memcpy(dst, src, bytes);
        return;
    }
    if (memory_->copy_to_device(index_, dst, src, bytes, nullptr) != GRAFT_OK)
        throw Error("copy to " + name_ + " failed: " + plugin_message(owner_->api));
}

void Device::copy_to_host(void *dst, const void *src, uint64_t bytes) {
    if (!memory_) {
        std::memcpy(dst, src, bytes);
        return;
    }
    if (memory_->copy_to_host(index_, dst, src, bytes, nullptr) != GRAFT_OK)
        throw Error("copy from " + name_ + " failed: " + plugin_message(owner_->api));
}

void Device::synchronize() {
    if (memory_ && memory_->synchronize(index_, nullptr) != GRAFT_OK)
        throw Error("synchronize on " + name_ + " failed: " + plugin_message(owner_->api));
}

// ------------------------------------------------------------------ Arena

Arena::~Arena() {
    for (auto &b : blocks_)
        device_.free(b.data);
}

void *Arena::alloc(uint64_t bytes) {
    bytes = round_up(std::max<uint64_t>(bytes, 1), kAlign);
    if (blocks_.empty() || used_ + bytes > blocks_.back().size) {
        const uint64_t size = std::max<uint64_t>(bytes, 16ull << 20);
        blocks_.push_back({device_.alloc(size), size});
        used_ = 0;
    }
    void *p = static_cast<char *>(blocks_.back().data) + used_;
    used_ += bytes;
    return p;
}

void Arena::reset() {
    uint64_t total = used_;
    for (size_t i = 0; i + 1 < blocks_.size(); ++i)
        total += blocks_[i].size;
    high_water_ = std::max(high_water_, total);
    if (blocks_.size() > 1) { // merge, so the next pass fits in one block
        for (auto &b : blocks_)
            device_.free(b.data);
        blocks_.clear();
        blocks_.push_back({device_.alloc(high_water_), high_water_});
    }
    used_ = 0;
}

// ------------------------------------------------------------------ Tensor

uint64_t Tensor::bytes() const {
    return sdk::n_bytes(t);
}

Tensor Tensor::rows_view(int64_t first, int64_t count) const {
    Tensor v = *this;
    v.t.data = static_cast<char *>(t.data) + first * t.nb[1];
    v.t.ne[1] = count;
    v.t.ne[2] = v.t.ne[3] = 1;
    v.t.n_dims = 2;
    sdk::set_contiguous_strides(v.t);
    return v;
}

Tensor Tensor::reshaped(std::initializer_list<int64_t> ne) const {
    Tensor v = *this;
    int i = 0;
    for (int64_t n : ne)
        v.t.ne[i++] = n;
    v.t.n_dims = static_cast<uint32_t>(i);
    for (; i < GRAFT_MAX_DIMS; ++i)
        v.t.ne[i] = 1;
    sdk::set_contiguous_strides(v.t);
    return v;
}

Tensor make_tensor(void *data, graft_dtype dtype, std::initializer_list<int64_t> ne,
                   Device *device) {
    Tensor r;
    r.t.data = data;
    r.t.dtype = dtype;
    r.device = device;
    int i = 0;
    for (int64_t n : ne)
        r.t.ne[i++] = n;
    r.t.n_dims = static_cast<uint32_t>(i);
    for (; i < GRAFT_MAX_DIMS; ++i)
        r.t.ne[i] = 1;
    sdk::set_contiguous_strides(r.t);
    return r;
}

// ------------------------------------------------------------------ Param

Param Param::integer(std::string key, int64_t v) {
    Param p;
    p.key = std::move(key);
    p.type = GRAFT_PARAM_INT;
    p.i = v;
    p.f = static_cast<double>(v);
    return p;
}

Param Param::real(std::string key, double v) {
    Param p;
    p.key = std::move(key);
    p.type = GRAFT_PARAM_FLOAT;
    p.f = v;
    p.i = static_cast<int64_t>(v);
    return p;
}

Param Param::text(std::string key, std::string v) {
    Param p;
    p.key = std::move(key);
    p.type = GRAFT_PARAM_STRING;
    p.s = std::move(v);
    return p;
}

std::string Binding::full_name() const {
    return (plugin ? plugin->name : std::string("?")) + "/" + (kernel ? kernel->impl : "?");
}

// ------------------------------------------------------------------ KernelInstance

KernelInstance::KernelInstance(const Binding &binding, Device &device, const models::Module &module,
                               const gguf::File &file, std::vector<Param> op_params,
                               const WeightFn &on_weight)
    : binding_(binding), device_(device), module_name_(module.name),
      kernel_(binding.kernel ? binding.kernel->api : nullptr),
      plugin_(binding.plugin ? binding.plugin->api : nullptr) {
    if (!kernel_ || !plugin_)
        throw Error("module " + module.name + ": kernel " + binding.full_name() + " is not loaded");
    const std::string where =
        "module " + module.name + " (" + binding.full_name() + " on " + binding.device + ")";
    std::vector<graft_tensor> weights;
    weights.reserve(module.weights.size());
    try {
        for (uint32_t i = 0; i < module.weights.size(); ++i) {
            const gguf::TensorInfo &info = *module.weights[i].tensor;
            std::span<const std::byte> bytes = file.tensor_data(info);
            if (on_weight)
                on_weight(info, bytes);
            graft_tensor src{};
            src.data = const_cast<std::byte *>(bytes.data()); // weights are read-only
            src.dtype = info.dtype;
            src.n_dims = info.n_dims;
            for (int d = 0; d < GRAFT_MAX_DIMS; ++d)
                src.ne[d] = info.ne[static_cast<size_t>(d)];
            sdk::set_contiguous_strides(src);
            src.device = binding.device_index;
            Owned owned;
            if (kernel_->prepare_weights) {
                graft_prepared_weight out{};
                if (kernel_->prepare_weights(binding.device_index, i, &src, &out) != GRAFT_OK)
                    throw Error(where + ": preparing " + info.name +
                                " failed: " + plugin_message(plugin_));
                owned.prepared = out;
                owned.via_prepare = true;
                weights.push_back(out.tensor);
            } else if (device.host_memory()) {
                weights.push_back(src); // used in place, straight from the mapping
            } else {
                owned.device_copy = device.alloc(info.n_bytes);
                device.copy_to_device(owned.device_copy, bytes.data(), info.n_bytes);
                graft_tensor dst = src;
                dst.data = owned.device_copy;
                weights.push_back(dst);
            }
            owned_.push_back(owned);
            weight_bytes_ += info.n_bytes;
        }
        std::vector<graft_param> params;
        for (const Param &p : op_params)
            params.push_back({p.key.c_str(), p.type, p.i, p.f, p.s.c_str()});
        for (const Param &p : binding_.kwargs)
            params.push_back({p.key.c_str(), p.type, p.i, p.f, p.s.c_str()});
        graft_kernel_config config = sdk::versioned<graft_kernel_config>();
        config.device = binding.device_index;
        config.weights = weights.empty() ? nullptr : weights.data();
        config.n_weights = static_cast<uint32_t>(weights.size());
        config.params = params.empty() ? nullptr : params.data();
        config.n_params = static_cast<uint32_t>(params.size());
        if (kernel_->create(&config, &state_) != GRAFT_OK)
            throw Error(where + ": create failed: " + plugin_message(plugin_));
    } catch (...) {
        for (auto &o : owned_) {
            if (o.via_prepare && kernel_->release_weights)
                kernel_->release_weights(binding.device_index, &o.prepared);
            device.free(o.device_copy);
        }
        throw;
    }
}

KernelInstance::~KernelInstance() {
    if (state_)
        kernel_->destroy(state_);
    for (auto &o : owned_) {
        if (o.via_prepare && kernel_->release_weights)
            kernel_->release_weights(binding_.device_index, &o.prepared);
        device_.free(o.device_copy);
    }
}

const std::string &KernelInstance::op() const {
    static const std::string unknown = "?";
    return binding_.kernel ? binding_.kernel->op : unknown;
}

void KernelInstance::enable_stats(bool on) {
    if (!on)
        stats_.reset();
    else if (!stats_)
        stats_ = std::make_unique<KernelStats>();
}

void KernelInstance::reset_stats() {
    if (stats_)
        *stats_ = KernelStats{};
}

void KernelInstance::run(std::span<const graft_tensor> inputs, std::span<graft_tensor> outputs,
                         std::span<const graft_param> call_params) {
    if (!stats_ && !observer_) [[likely]] {
        invoke(inputs, outputs, call_params);
        return;
    }
    const auto start = std::chrono::steady_clock::now();
    invoke(inputs, outputs, call_params);
    device_.synchronize();
    if (stats_) {
        stats_->seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        ++stats_->calls;
    }
    if (observer_)
        (*observer_)(*this, {outputs.data(), outputs.size()});
}

void KernelInstance::invoke(std::span<const graft_tensor> inputs, std::span<graft_tensor> outputs,
                            std::span<const graft_param> call_params) {
    graft_kernel_call call = sdk::versioned<graft_kernel_call>();
    call.inputs = inputs.data();
    call.n_inputs = static_cast<uint32_t>(inputs.size());
    call.outputs = outputs.data();
    call.n_outputs = static_cast<uint32_t>(outputs.size());
    call.params = call_params.empty() ? nullptr : call_params.data();
    call.n_params = static_cast<uint32_t>(call_params.size());
    if (kernel_->run(state_, &call) != GRAFT_OK)
        throw Error("module " + module_name_ + " (" + binding_.full_name() + " on " +
                    binding_.device + "): " + plugin_message(plugin_));
}

void KernelInstance::operator()(std::initializer_list<const Tensor *> inputs,
                                std::initializer_list<Tensor *> outputs,
                                std::span<const graft_param> call_params) {
    graft_tensor in[8];
    graft_tensor out[4];
    if (inputs.size() > 8 || outputs.size() > 4)
        throw Error("internal: too many tensors for one kernel call");
    size_t n_in = 0, n_out = 0;
    for (const Tensor *t : inputs) {
        in[n_in] = t->t;
        in[n_in++].device = binding_.device_index;
    }
    for (Tensor *t : outputs) {
        out[n_out] = t->t;
        out[n_out++].device = binding_.device_index;
    }
    run({in, n_in}, {out, n_out}, call_params);
}

} // namespace graft::engine
