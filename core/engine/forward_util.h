// Helpers the forward passes share: scratch tensors and moves between devices.
#pragma once

#include <graft/engine/model.h>

#include <cstring>
#include <vector>

namespace graft::engine::detail {

// A scratch tensor on `dev`, valid until the next forward pass.
inline Tensor scratch(Model &m, Device &dev, graft_dtype dtype,
                      std::initializer_list<int64_t> ne) {
    Tensor t = make_tensor(nullptr, dtype, ne, &dev);
    t.t.data = m.arena(dev).alloc(t.bytes());
    return t;
}

// `src` as it is when it already lives on `dev`, else a copy there (through host memory).
inline Tensor on(Model &m, const Tensor &src, Device &dev) {
    if (src.device == &dev || (src.device->host_memory() && dev.host_memory()))
        return src;
    Tensor dst = src;
    dst.device = &dev;
    dst.t.data = m.arena(dev).alloc(src.bytes());
    if (src.device->host_memory()) {
        dev.copy_to_device(dst.t.data, src.t.data, src.bytes());
    } else if (dev.host_memory()) {
        src.device->copy_to_host(dst.t.data, src.t.data, src.bytes());
    } else {
        std::vector<std::byte> staging(src.bytes());
        src.device->copy_to_host(staging.data(), src.t.data, src.bytes());
        dev.copy_to_device(dst.t.data, staging.data(), src.bytes());
    }
    return dst;
}

// A host array as a tensor on `dev` (ids and positions).
template <typename T>
Tensor upload(Model &m, const std::vector<T> &host, graft_dtype dtype, Device &dev) {
    Tensor t = scratch(m, dev, dtype, {static_cast<int64_t>(host.size())});
    dev.copy_to_device(t.t.data, host.data(), t.bytes());
    return t;
}

// Copies rows `rows` of the 2-D tensor src into a new tensor on the same device.
inline Tensor gather_rows(Model &m, const Tensor &src, const std::vector<int64_t> &rows) {
    const int64_t row_bytes = src.t.nb[1];
    Tensor dst = scratch(m, *src.device, src.t.dtype,
                         {src.t.ne[0], static_cast<int64_t>(rows.size())});
    std::vector<std::byte> staging;
    for (size_t i = 0; i < rows.size(); ++i) {
        const auto *from = static_cast<const std::byte *>(src.t.data) + rows[i] * row_bytes;
        auto *to = static_cast<std::byte *>(dst.t.data) + static_cast<int64_t>(i) * row_bytes;
        if (src.device->host_memory()) {
            std::memcpy(to, from, static_cast<size_t>(row_bytes));
        } else {
            staging.resize(static_cast<size_t>(row_bytes));
            src.device->copy_to_host(staging.data(), from, static_cast<uint64_t>(row_bytes));
            src.device->copy_to_device(to, staging.data(), static_cast<uint64_t>(row_bytes));
        }
    }
    return dst;
}

} // namespace graft::engine::detail
