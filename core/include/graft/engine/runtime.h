// The engine's view of devices and kernels: where memory comes from, how a module's
// weights reach its kernel, and how a kernel is called.
#pragma once

#include <graft/gguf/gguf.h>
#include <graft/host/registry.h>
#include <graft/models/module.h>
#include <graft/plugin.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace graft::engine {

// A device as the engine sees it: one name ("cpu", "cuda:0") however many plugins serve
// it. Memory is allocated through the first loaded plugin that has the device and a
// memory API; a device whose plugin has none is host memory.
class Device {
  public:
    Device(std::string name, const host::PluginRecord *owner, uint32_t owner_index);
    Device(const Device &) = delete;
    Device &operator=(const Device &) = delete;

    const std::string &name() const { return name_; }
    bool host_memory() const { return memory_ == nullptr; }
    // Allocation and copies; throw graft::Error with the plugin's message on failure.
    void *alloc(uint64_t bytes);
    void free(void *ptr);
    void copy_to_device(void *dst, const void *src, uint64_t bytes);
    void copy_to_host(void *dst, const void *src, uint64_t bytes);
    void synchronize();

  private:
    std::string name_;
    const host::PluginRecord *owner_;
    uint32_t index_;
    const graft_memory_api *memory_ = nullptr;
};

// Scratch memory for one forward pass on one device: bump allocation, reset at the start
// of each pass. After a pass that needed more than one block, the blocks are merged into
// one, so steady-state decoding allocates nothing.
class Arena {
  public:
    explicit Arena(Device &device) : device_(device) {}
    ~Arena();
    Arena(const Arena &) = delete;
    Arena &operator=(const Arena &) = delete;
    void *alloc(uint64_t bytes);
    void reset();
    Device &device() { return device_; }

  private:
    struct Block {
        void *data;
        uint64_t size;
    };
    Device &device_;
    std::vector<Block> blocks_;
    uint64_t used_ = 0;       // in the last block
    uint64_t high_water_ = 0; // bytes used by the last pass over all blocks
};

// A tensor of activations: a graft_tensor view plus the device holding its data.
struct Tensor {
    graft_tensor t{};
    Device *device = nullptr;

    float *f32() const { return static_cast<float *>(t.data); }
    int64_t rows() const { return t.ne[1] * t.ne[2] * t.ne[3]; }
    uint64_t bytes() const;
    // A view of rows [first, first + count) of a 2-D (ne0, rows) tensor.
    Tensor rows_view(int64_t first, int64_t count) const;
    // The same bytes seen with other dimensions (contiguous tensors only).
    Tensor reshaped(std::initializer_list<int64_t> ne) const;
};

Tensor make_tensor(void *data, graft_dtype dtype, std::initializer_list<int64_t> ne,
                   Device *device);

// A rule kwarg or op attribute in owned storage, turned into graft_param at the ABI.
struct Param {
    std::string key;
    graft_param_type type = GRAFT_PARAM_INT;
    int64_t i = 0;
    double f = 0.0;
    std::string s;
    static Param integer(std::string key, int64_t v);
    static Param real(std::string key, double v);
    static Param text(std::string key, std::string v);
};

// Which kernel of which plugin runs a module, on which device.
struct Binding {
    const host::PluginRecord *plugin = nullptr; // Loaded
    const host::KernelRecord *kernel = nullptr; // of `plugin`
    std::string device;                         // "cpu", "cuda:0"
    uint32_t device_index = 0;                  // plugin-local index of that device
    std::vector<Param> kwargs;                  // from the rule
    std::string full_name() const;              // "plugin/impl"
};

struct ModuleBinding {
    Binding decode; // every phase unless prefill is set
    std::optional<Binding> prefill;
};

// Progress of loading, in weight bytes.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Time spent in one kernel instance's calls, kept only while profiling (LoadOptions::profile).
struct KernelStats {
    uint64_t calls = 0;
    double seconds = 0; // wall time of run(), the device synchronised after each call
};

class KernelInstance;
// Sees every kernel call's outputs right after the call, the device synchronised (tracing,
// `graft ab`). The tensors may live in device memory: copy them through instance.device().
using KernelObserver =
    std::function<void(const KernelInstance &instance, std::span<const graft_tensor> outputs)>;

// A kernel instance for one module: prepared weights and the kernel's state.
class KernelInstance {
  public:
    // Prepares the module's weights for the kernel (repacked by prepare_weights, used in
    // place from the mapping on host-memory devices, or copied to device memory) and
    // creates the kernel state with `op_params` followed by the rule's kwargs.
    // `on_weight` (optional) sees each weight's bytes before they are prepared (the
    // loader reads them ahead and reports progress).
    using WeightFn = std::function<void(const gguf::TensorInfo &, std::span<const std::byte>)>;
    KernelInstance(const Binding &binding, Device &device, const models::Module &module,
                   const gguf::File &file, std::vector<Param> op_params, const WeightFn &on_weight);
    ~KernelInstance();
    KernelInstance(const KernelInstance &) = delete;
    KernelInstance &operator=(const KernelInstance &) = delete;

    // Runs the kernel; inputs and outputs must live on device(). Throws graft::Error
    // naming the module and kernel with the plugin's message on failure.
    void run(std::span<const graft_tensor> inputs, std::span<graft_tensor> outputs,
             std::span<const graft_param> call_params = {});
    // Same with engine tensors (their device index is set to the kernel's).
    void operator()(std::initializer_list<const Tensor *> inputs,
                    std::initializer_list<Tensor *> outputs,
                    std::span<const graft_param> call_params = {});
    Device &device() const { return device_; }
    const Binding &binding() const { return binding_; }
    const std::string &module_name() const { return module_name_; }
    uint64_t weight_bytes() const { return weight_bytes_; }
    const std::string &op() const; // the kernel's op: "linear", "attention", ...

    // Profiling: off (the default) costs one branch per call. On, every call is timed and
    // followed by a device synchronisation, so asynchronous kernels are charged in full.
    void enable_stats(bool on);
    const KernelStats *stats() const { return stats_.get(); } // nullptr when off
    void reset_stats();
    // (optional) Called after each run(); it must outlive the instance. Unset, it costs
    // the same branch as profiling.
    void set_observer(const KernelObserver *observer) { observer_ = observer; }

  private:
    void invoke(std::span<const graft_tensor> inputs, std::span<graft_tensor> outputs,
                std::span<const graft_param> call_params);
    struct Owned {
        graft_prepared_weight prepared{};
        bool via_prepare = false;
        void *device_copy = nullptr;
    };
    Binding binding_;
    Device &device_;
    std::string module_name_;
    const graft_kernel *kernel_;
    const graft_plugin *plugin_;
    void *state_ = nullptr;
    std::vector<Owned> owned_;
    uint64_t weight_bytes_ = 0;
    std::unique_ptr<KernelStats> stats_;
    const KernelObserver *observer_ = nullptr;
};

} // namespace graft::engine
