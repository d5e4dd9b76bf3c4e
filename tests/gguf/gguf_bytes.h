// Builds GGUF files byte by byte, so that tests can make every kind of malformed file.
#pragma once

#include <graft/gguf/gguf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace graft::gguf::testing {

class GgufBytes {
  public:
    std::vector<std::byte> bytes;

    template <typename T> GgufBytes &put(T v) {
        const auto *p = reinterpret_cast<const std::byte *>(&v);
        bytes.insert(bytes.end(), p, p + sizeof v);
        return *this;
    }
    GgufBytes &u8(uint8_t v) { return put(v); }
    GgufBytes &u32(uint32_t v) { return put(v); }
    GgufBytes &u64(uint64_t v) { return put(v); }
    GgufBytes &i64(int64_t v) { return put(v); }
    GgufBytes &raw(std::string_view s) {
        const auto *p = reinterpret_cast<const std::byte *>(s.data());
        bytes.insert(bytes.end(), p, p + s.size());
        return *this;
    }
    GgufBytes &str(std::string_view s) { return u64(s.size()).raw(s); }
    GgufBytes &zeros(size_t n) {
        bytes.insert(bytes.end(), n, std::byte{0});
        return *this;
    }
    GgufBytes &pad_to(size_t alignment) {
        return zeros((alignment - bytes.size() % alignment) % alignment);
    }

    // magic, version, tensor count, key-value count
    GgufBytes &header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
    }
    GgufBytes &kv_u32(std::string_view key, uint32_t v) {
        return str(key).u32(static_cast<uint32_t>(ValueType::UINT32)).u32(v);
    }
    GgufBytes &kv_string(std::string_view key, std::string_view v) {
        return str(key).u32(static_cast<uint32_t>(ValueType::STRING)).str(v);
    }
    GgufBytes &tensor_info(std::string_view name, std::initializer_list<int64_t> ne, uint32_t dtype,
                           uint64_t offset) {
        str(name).u32(static_cast<uint32_t>(ne.size()));
        for (int64_t d : ne)
            i64(d);
        return u32(dtype).u64(offset);
    }

    std::span<const std::byte> span() const { return bytes; }
    size_t size() const { return bytes.size(); }
    void truncate(size_t n) { bytes.resize(n); }
};

} // namespace graft::gguf::testing
