// Dtype layouts for the reader and the writer, taken from the SDK's table so that the host
// and every plugin agree on the size of each GGUF tensor type.
#include "layout.h"

#include <graft/gguf/gguf.h>
#include <graft/plugin.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <string>

namespace graft::gguf {

namespace {

std::array<DtypeTraits, GRAFT_DTYPE_COUNT + 1> make_traits_table() {
    std::array<DtypeTraits, GRAFT_DTYPE_COUNT + 1> table{};
    for (uint32_t id = 0; id <= GRAFT_DTYPE_COUNT; ++id) {
        const sdk::DtypeInfo &info = sdk::dtype_info(id); // id == COUNT gives "unknown"
        table[id] = DtypeTraits{info.name, info.block_size, static_cast<size_t>(info.block_bytes)};
    }
    return table;
}

const std::array<DtypeTraits, GRAFT_DTYPE_COUNT + 1> &traits_table() {
    static const auto table = make_traits_table();
    return table;
}

} // namespace

const DtypeTraits &dtype_traits(graft_dtype dtype) {
    const auto id = static_cast<uint32_t>(dtype);
    return traits_table()[std::min<uint32_t>(id, GRAFT_DTYPE_COUNT)];
}

bool dtype_known(uint32_t id) {
    return sdk::dtype_known(id);
}

uint64_t row_bytes(graft_dtype dtype, int64_t ne0) {
    const auto id = static_cast<uint32_t>(dtype);
    if (!dtype_known(id))
        throw FormatError("unknown tensor type " + std::to_string(id));
    const DtypeTraits &t = dtype_traits(dtype);
    if (ne0 <= 0)
        throw FormatError("row of " + std::to_string(ne0) + " elements: must be positive");
    if (ne0 % t.block_size != 0)
        throw FormatError("row of " + std::to_string(ne0) +
                          " elements is not a multiple of the block size " +
                          std::to_string(t.block_size) + " of " + t.name);
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(ne0 / t.block_size),
                               static_cast<uint64_t>(t.block_bytes), &bytes))
        throw FormatError("byte size of a row of " + std::to_string(ne0) + " " + t.name +
                          " elements overflows uint64");
    return bytes;
}

uint64_t shape_bytes(std::string_view tensor_name, uint32_t dtype_id, std::span<const int64_t> ne) {
    const std::string who = "tensor " + printable(tensor_name);
    if (ne.size() > Limits::max_dims)
        throw FormatError(who + " has " + std::to_string(ne.size()) + " dimensions (at most " +
                          std::to_string(Limits::max_dims) + ")");
    for (size_t i = 0; i < ne.size(); ++i) {
        if (ne[i] < 0)
            throw FormatError(who + ": dimension " + std::to_string(i) + " is negative (" +
                              std::to_string(ne[i]) + ")");
        if (ne[i] == 0)
            throw FormatError(who + ": dimension " + std::to_string(i) + " is zero");
    }
    if (!dtype_known(dtype_id))
        throw FormatError(who + " has unknown tensor type " + std::to_string(dtype_id));
    int64_t n_elements = 1;
    for (int64_t d : ne)
        if (__builtin_mul_overflow(n_elements, d, &n_elements))
            throw FormatError(who + ": element count of shape " + shape_string(ne) +
                              " overflows int64");
    const DtypeTraits &t = dtype_traits(static_cast<graft_dtype>(dtype_id));
    const int64_t ne0 = ne.empty() ? 1 : ne[0];
    if (ne0 % t.block_size != 0)
        throw FormatError(who + ": ne[0] = " + std::to_string(ne0) +
                          " is not a multiple of the block size " + std::to_string(t.block_size) +
                          " of " + t.name);
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(n_elements / t.block_size),
                               static_cast<uint64_t>(t.block_bytes), &bytes))
        throw FormatError(who + ": byte size of shape " + shape_string(ne) + " in " + t.name +
                          " overflows uint64");
    return bytes;
}

std::string shape_string(std::span<const int64_t> ne) {
    std::string s = "[";
    for (size_t i = 0; i < ne.size(); ++i)
        s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

std::string printable(std::string_view text, size_t max_chars) {
    static const char hex[] = "0123456789abcdef";
    std::string s = "'";
    for (size_t i = 0; i < text.size(); ++i) {
        if (i == max_chars) {
            s += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\'' || c == '\\') {
            s += '\\';
            s += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            s += "\\x";
            s += hex[c >> 4];
            s += hex[c & 15];
        } else {
            s += static_cast<char>(c);
        }
    }
    return s + "'";
}

} // namespace graft::gguf
