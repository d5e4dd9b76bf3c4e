// Data for `graft plugins check`: host tensors with random contents, weights of every
// dtype the reference dequantises, and the memory a plugin under test gets: host buffers
// between guard pages with canaries around them, or its own device memory (through its
// memory API) with canaries copied in and read back.
#pragma once

#include <graft/plugin.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace graft::cli::check {

// A tensor in host memory, contiguous, GGUF layout.
struct HostTensor {
    graft_tensor desc{}; // desc.data points into bytes
    std::vector<uint8_t> bytes;

    HostTensor() = default;
    HostTensor(graft_dtype dtype, std::vector<int64_t> ne);
    HostTensor(const HostTensor &other);
    HostTensor &operator=(const HostTensor &other);
    HostTensor(HostTensor &&) noexcept = default;
    HostTensor &operator=(HostTensor &&) noexcept = default;

    float *f32() { return reinterpret_cast<float *>(bytes.data()); }
    const float *f32() const { return reinterpret_cast<const float *>(bytes.data()); }
    int32_t *i32() { return reinterpret_cast<int32_t *>(bytes.data()); }
    const int32_t *i32() const { return reinterpret_cast<const int32_t *>(bytes.data()); }
    int64_t elements() const;
    // Every element as float (F32, F16, BF16, I32 and the quantised types).
    std::vector<float> values() const;
};

// N(0, sigma) floats.
void fill_normal(HostTensor &t, std::mt19937_64 &rng, float sigma = 1.0f);
// Uniform integers in [lo, hi].
void fill_ints(HostTensor &t, std::mt19937_64 &rng, int32_t lo, int32_t hi);
// A random matrix (ne[0] a multiple of the dtype's block size) of `dtype`: F32/F16/BF16
// by conversion, Q8_0/Q4_0/Q8_K by the SDK's reference quantizers, other quantised types
// as random blocks whose scales are set to sane values (so every bit pattern of the
// quants is exercised). Throws graft::Error for a dtype it cannot make.
HostTensor random_weight(graft_dtype dtype, std::vector<int64_t> ne, std::mt19937_64 &rng);
// The dtypes random_weight makes.
bool can_make_weight(graft_dtype dtype);

// ------------------------------------------------------------------ memory under test

// What a buffer is, for fault and canary messages: "output 0", "input 2", "weight 0".
struct BufferRole {
    const char *kind; // "output", "input", "weight"
    uint32_t index;
};

// Installs a SIGSEGV/SIGBUS handler (on an alternate stack) that, when the faulting
// address lies in a guard page, writes one JSON line naming the buffer and whether it was
// a read or a write to standard output, then lets the signal kill the process.
void install_guard_fault_handler();

// A host buffer between two PROT_NONE guard pages; the data starts 64-byte aligned and
// ends at most 63 bytes before the trailing guard page; the slack and the bytes before the
// data hold a canary pattern.
class GuardedBuffer {
  public:
    GuardedBuffer(uint64_t bytes, BufferRole role);
    ~GuardedBuffer();
    GuardedBuffer(const GuardedBuffer &) = delete;
    GuardedBuffer &operator=(const GuardedBuffer &) = delete;
    uint8_t *data() const { return data_; }
    uint64_t size() const { return bytes_; }
    // "" when the canaries are intact, else what was overwritten.
    std::string canary_damage() const;

  private:
    uint8_t *base_ = nullptr; // the mapping: guard page, body pages, guard page
    uint64_t map_bytes_ = 0, body_bytes_ = 0, bytes_ = 0;
    uint8_t *body_ = nullptr, *data_ = nullptr;
    BufferRole role_;
    int slot_ = -1; // its entry in the fault handler's table
};

// Memory on the device of the plugin under test: host memory in guarded buffers when the
// device is host memory, the plugin's own allocations (with canaries) otherwise.
class DeviceMemory {
  public:
    // memory is the plugin's table (NULL: host memory only); host_memory says whether the
    // device's memory is the host's. Unguarded host memory is plain heap memory (for the
    // reference kernels, which are trusted).
    DeviceMemory(const graft_memory_api *memory, uint32_t device, bool host_memory,
                 bool guarded = true);
    ~DeviceMemory();
    DeviceMemory(const DeviceMemory &) = delete;
    DeviceMemory &operator=(const DeviceMemory &) = delete;

    bool on_host() const { return host_; }
    // A device copy of t (same shape and strides, data on the device); throws graft::Error.
    graft_tensor upload(const HostTensor &t, BufferRole role);
    // A device tensor shaped like t, filled with 0xff bytes (NaN floats, -1 ints) so that
    // an element the kernel does not write is seen as wrong.
    graft_tensor output_like(const HostTensor &t, BufferRole role);
    // The device tensor's bytes back into t.
    void download(const graft_tensor &device_tensor, HostTensor &t);
    // "" when no canary around any buffer was overwritten, else the first damage found.
    std::string canary_damage();
    void synchronize();

  private:
    struct Allocation;
    const graft_memory_api *memory_;
    uint32_t device_;
    bool host_, guarded_;
    std::vector<std::unique_ptr<Allocation>> allocations_;
    Allocation &allocate(uint64_t bytes, BufferRole role);
};

// Any error code of a plugin call as text, with the plugin's last_error.
std::string plugin_error(const graft_plugin &plugin, graft_status status);

} // namespace graft::cli::check
