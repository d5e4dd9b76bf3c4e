// The CUDA runtime side shared by the cuda and marlin plugins: device discovery, the memory
// API and the mapping of CUDA errors to graft statuses. Each plugin links its own copy (and
// its own static cudart); both use the driver's primary context, so a pointer allocated
// through one plugin is valid in the other.
#pragma once

#include <graft/plugin.h>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

namespace graft::cuda {

// Turns a CUDA error into a status and records "cuda: <what>: <error string>" as the
// plugin's last error. cudaSuccess gives GRAFT_OK and records nothing.
graft_status check(cudaError_t err, const char *what);

struct Device {
    int ordinal = 0;          // CUDA device ordinal; also N in "cuda:N"
    int cc = 0;               // compute capability, major * 10 + minor
    std::string name;         // "cuda:N"
    std::string description;  // "NVIDIA H100 80GB HBM3"
    std::string capabilities; // "sm_90"
    uint64_t memory_total = 0;
    uint64_t caps = 0;
};

// The CUDA devices a plugin exposes. Plugin-local index i maps to devices()[i].ordinal;
// the names keep the CUDA ordinal so that "cuda:N" is one device for every plugin.
class DeviceTable {
  public:
    // Enumerates devices of compute capability >= min_cc. Without a driver or device the
    // table is empty and note() says why; nothing here throws or aborts.
    void discover(int min_cc, const char *requirement);

    uint32_t count() const { return static_cast<uint32_t>(devices_.size()); }
    const Device *find(uint32_t index) const {
        return index < devices_.size() ? &devices_[index] : nullptr;
    }
    // A one-line note when no device is usable; nullptr otherwise.
    const char *note() const { return note_.empty() ? nullptr : note_.c_str(); }

    graft_status info(uint32_t index, graft_device_info *out) const;
    // Makes device `index` current on the calling thread.
    graft_status activate(uint32_t index) const;

  private:
    std::vector<Device> devices_;
    std::string note_;
};

// The process-wide table of this plugin (each plugin .so has its own).
DeviceTable &devices();

// Buffer kinds: 0 = device memory, 1 = pinned host memory.
inline constexpr uint32_t kBufferDevice = 0;
inline constexpr uint32_t kBufferPinned = 1;
const graft_buffer_kind *buffer_kinds();
uint32_t n_buffer_kinds();
const graft_memory_api *memory_api();

} // namespace graft::cuda
