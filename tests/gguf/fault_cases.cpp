#include "fault_cases.h"

#include <cstdint>
#include <limits>

namespace graft::gguf::testing {

namespace {

constexpr auto u32_of(ValueType t) {
    return static_cast<uint32_t>(t);
}
constexpr uint32_t kF32 = GRAFT_DTYPE_F32;

// A file whose only key is `key` with an array header of `element_type` and length n.
GgufBytes array_header(std::string_view key, uint32_t element_type, uint64_t n) {
    GgufBytes b;
    b.header(0, 1).str(key).u32(u32_of(ValueType::ARRAY)).u32(element_type).u64(n);
    return b;
}

// A file with the given tensor infos (callers add them) and `data_bytes` of data.
GgufBytes with_data(GgufBytes b, size_t data_bytes) {
    b.pad_to(32).zeros(data_bytes);
    return b;
}

std::vector<FaultCase> make_cases() {
    std::vector<FaultCase> c;
    const auto add = [&](std::string name, std::vector<std::string> words, bool llama_refuses,
                         std::function<GgufBytes()> build) {
        c.push_back(FaultCase{std::move(name), std::move(words), llama_refuses, std::move(build)});
    };

    // ---- header
    add("BadMagic", {"bad magic 'GGUX'", "not a GGUF file"}, true,
        [] { return GgufBytes().raw("GGUX").u32(3).u64(0).u64(0); });
    add("VersionZero", {"bad GGUF version 0"}, true, [] { return GgufBytes().header(0, 0, 0); });
    add("VersionOne", {"version 1 is not supported"}, true,
        [] { return GgufBytes().header(0, 0, 1); });
    add("FutureVersion", {"version 4 is newer"}, true, [] { return GgufBytes().header(0, 0, 4); });
    add("BigEndian", {"big-endian"}, true, [] {
        // version 3 and the counts written big-endian
        return GgufBytes().raw("GGUF").u32(0x03000000u).u64(0).u64(0);
    });
    add("EmptyFile", {"truncated header"}, true, [] { return GgufBytes(); });
    add("TruncatedHeader", {"truncated header", "needs 8 bytes"}, true, [] {
        GgufBytes b = GgufBytes().header(0, 0);
        b.truncate(20);
        return b;
    });
    add("TensorCountBeyondFile",
        {"tensor count 18446744073709551615", "more than the file could hold"}, true,
        [] { return GgufBytes().header(UINT64_MAX, 0); });
    add("TensorCountLargerThanFile", {"tensor count 1000", "more than the file could hold"}, true,
        [] { return GgufBytes().header(1000, 0).zeros(64); });
    add("KeyValueCountBeyondFile",
        {"key-value count 18446744073709551615", "more than the file could hold"}, true,
        [] { return GgufBytes().header(0, UINT64_MAX); });

    // ---- key-value pairs
    add("KeyLengthBeyondFile",
        {"length 18446744073709551615 of key #0", "beyond the end of the file"}, true,
        [] { return GgufBytes().header(0, 1).u64(UINT64_MAX).raw("general.name"); });
    add("EmptyKey", {"key #0 is empty"}, true,
        [] { return GgufBytes().header(0, 1).kv_u32("", 1); });
    add("KeyWithNul", {"contains a NUL byte"}, false,
        [] { return GgufBytes().header(0, 1).kv_u32(std::string_view("a\0b", 3), 1); });
    add("DuplicateKey", {"duplicate key 'general.name'"}, true, [] {
        return GgufBytes()
            .header(0, 2)
            .kv_string("general.name", "a")
            .kv_string("general.name", "b");
    });
    add("UnknownValueType", {"key 'k' has unknown value type 13"}, true,
        [] { return GgufBytes().header(0, 1).str("k").u32(13).u32(0); });
    add("UnknownArrayElementType", {"unknown value type 99", "array elements"}, true,
        [] { return array_header("k", 99, 1).u32(0); });
    add("NestedArray", {"nested arrays are not supported"}, true, [] {
        return array_header("k", u32_of(ValueType::ARRAY), 1)
            .u32(u32_of(ValueType::UINT8))
            .u64(1)
            .u8(7);
    });
    add("StringValueBeyondFile", {"value of key 'general.name'", "beyond the end of the file"},
        true, [] {
            return GgufBytes()
                .header(0, 1)
                .str("general.name")
                .u32(u32_of(ValueType::STRING))
                .u64(uint64_t{1} << 40)
                .raw("abc");
        });
    add("ArrayLengthBeyondFile",
        {"array length 1099511627776 of key 'k'", "beyond the end of the file"}, true,
        [] { return array_header("k", u32_of(ValueType::UINT32), uint64_t{1} << 40).u32(1); });
    add("StringArrayElementBeyondFile",
        {"an element of key 'tokens'", "beyond the end of the file"}, true,
        [] { return array_header("tokens", u32_of(ValueType::STRING), 2).str("a").u64(1u << 30); });
    add("TruncatedKeyValue", {"truncated value of key 'k'", "needs 4 bytes"}, true, [] {
        GgufBytes b = GgufBytes().header(0, 1).kv_u32("k", 7);
        b.truncate(b.size() - 2);
        return b;
    });
    add("AlignmentNotPowerOfTwo", {"general.alignment 13", "not a power of two"}, true,
        [] { return GgufBytes().header(0, 1).kv_u32("general.alignment", 13); });
    add("AlignmentZero", {"general.alignment 0", "not a power of two"}, true,
        [] { return GgufBytes().header(0, 1).kv_u32("general.alignment", 0); });
    add("AlignmentWrongType", {"general.alignment must be a uint32", "int32"}, true, [] {
        return GgufBytes()
            .header(0, 1)
            .str("general.alignment")
            .u32(u32_of(ValueType::INT32))
            .u32(32);
    });
    add("MetadataOverMemoryLimit", {"memory limit", "256 MiB"}, false, [] {
        // a uint8 array takes 8 bytes per element in memory: 33 MB of file, 264 MB parsed
        const uint64_t n = Limits::max_metadata_bytes / sizeof(int64_t) + 1024;
        GgufBytes b = array_header("k", u32_of(ValueType::UINT8), n);
        b.zeros(n);
        return b;
    });

    // ---- tensor infos
    add("TensorNameBeyondFile", {"name of tensor #0", "beyond the end of the file"}, true,
        [] { return GgufBytes().header(1, 0).u64(UINT64_MAX / 2).raw("w").zeros(32); });
    add("TensorNameTooLong", {"name of tensor #0 is too long", "64 bytes", "at most 63"}, true, [] {
        return with_data(GgufBytes().header(1, 0).tensor_info(std::string(64, 'w'), {1}, kF32, 0),
                         32);
    });
    add("EmptyTensorName", {"tensor #0 has an empty name"}, false,
        [] { return with_data(GgufBytes().header(1, 0).tensor_info("", {1}, kF32, 0), 32); });
    add("DuplicateTensorName", {"duplicate tensor name 'w'"}, true, [] {
        return with_data(
            GgufBytes().header(2, 0).tensor_info("w", {8}, kF32, 0).tensor_info("w", {8}, kF32, 32),
            64);
    });
    add("TooManyDimensions", {"tensor 'w' has 5 dimensions", "at most 4"}, true, [] {
        return with_data(GgufBytes().header(1, 0).tensor_info("w", {1, 1, 1, 1, 1}, kF32, 0), 32);
    });
    add("NegativeDimension", {"tensor 'w': dimension 1 is negative (-1)"}, true, [] {
        return with_data(GgufBytes().header(1, 0).tensor_info("w", {4, -1}, kF32, 0), 32);
    });
    add("ZeroDimension", {"tensor 'w': dimension 1 is zero"}, false, [] {
        return with_data(GgufBytes().header(1, 0).tensor_info("w", {4, 0}, kF32, 0), 32);
    });
    add("ElementCountOverflow", {"tensor 'w'", "element count", "overflows int64"}, true, [] {
        const int64_t big = 4 * int64_t{std::numeric_limits<int32_t>::max()};
        return with_data(GgufBytes().header(1, 0).tensor_info("w", {big, big}, kF32, 0), 32);
    });
    add("ByteSizeOverflow", {"tensor 'w'", "byte size", "overflows uint64"}, true, [] {
        // 2^62 elements fit int64; at 8 bytes each they do not fit uint64
        const int64_t d = int64_t{1} << 31;
        return with_data(GgufBytes().header(1, 0).tensor_info("w", {d, d}, GRAFT_DTYPE_I64, 0), 32);
    });
    add("UnknownTensorType", {"tensor 'w' has unknown tensor type 1000"}, true,
        [] { return with_data(GgufBytes().header(1, 0).tensor_info("w", {32}, 1000, 0), 32); });
    add("RemovedTensorType", {"tensor 'w' has unknown tensor type 4"}, true,
        [] { return with_data(GgufBytes().header(1, 0).tensor_info("w", {32}, 4, 0), 32); });
    add("RowNotMultipleOfBlock", {"ne[0] = 33", "not a multiple of the block size 32", "Q4_0"},
        true, [] {
            return with_data(GgufBytes().header(1, 0).tensor_info("w", {33}, GRAFT_DTYPE_Q4_0, 0),
                             64);
        });
    add("TruncatedTensorInfo", {"truncated info of tensor 'w'"}, true, [] {
        GgufBytes b = GgufBytes().header(1, 0).tensor_info("w", {8, 8}, kF32, 0);
        b.truncate(b.size() - 6); // inside the data offset
        return b;
    });

    // ---- data section
    add("DataOutsideFile", {"data of tensor 'w'", "lies outside the file"}, true, [] {
        return with_data(GgufBytes().header(1, 0).tensor_info("w", {8}, kF32, uint64_t{1} << 40),
                         32);
    });
    add("DataSizeOverflow", {"data of tensor 'a'", "lies outside the file"}, true, [] {
        // as test-gguf's DATA_MEM_SIZE_OVERFLOW: sizes whose sum overflows
        const int64_t huge = 0x7FFFFFFFFFFFFFC0;
        return with_data(GgufBytes()
                             .header(2, 0)
                             .tensor_info("a", {huge}, GRAFT_DTYPE_I8, 0)
                             .tensor_info("b", {huge}, GRAFT_DTYPE_I8, huge),
                         32);
    });
    add("TruncatedData", {"data of tensor 'w'", "outside the file", "truncated"}, true,
        [] { return with_data(GgufBytes().header(1, 0).tensor_info("w", {16}, kF32, 0), 63); });
    add("DataSectionBeyondEnd", {"truncated file", "data section would start"}, true,
        [] { return GgufBytes().header(1, 0).tensor_info("w", {1}, kF32, 0); });
    add("DataMisaligned", {"data of tensor 'b' at offset 36 is misaligned (alignment 32)"}, true,
        [] {
            // offsets as if the alignment were 4: test-gguf's INCONSISTENT_ALIGN
            return with_data(GgufBytes()
                                 .header(2, 0)
                                 .tensor_info("a", {9}, kF32, 0)
                                 .tensor_info("b", {8}, kF32, 36),
                             128);
        });
    add("DataMisalignedCustomAlignment", {"at offset 32 is misaligned (alignment 64)"}, true, [] {
        GgufBytes b = GgufBytes()
                          .header(2, 1)
                          .kv_u32("general.alignment", 64)
                          .tensor_info("a", {8}, kF32, 0)
                          .tensor_info("b", {8}, kF32, 32);
        b.pad_to(64).zeros(128);
        return b;
    });
    add("DataOverlap", {"data of tensor 'a' overlaps tensor 'b' at data offset 32"}, true, [] {
        return with_data(GgufBytes()
                             .header(2, 0)
                             .tensor_info("a", {16}, kF32, 0)
                             .tensor_info("b", {16}, kF32, 32),
                         96);
    });
    add("DataOverlapOutOfOrder", {"data of tensor 'b' overlaps tensor 'a' at data offset 64"}, true,
        [] {
            return with_data(GgufBytes()
                                 .header(2, 0)
                                 .tensor_info("a", {16}, kF32, 64)
                                 .tensor_info("b", {32}, kF32, 0),
                             128);
        });
    return c;
}

} // namespace

const std::vector<FaultCase> &fault_cases() {
    static const std::vector<FaultCase> cases = make_cases();
    return cases;
}

std::vector<FaultCase> fault_cases_llama_refuses() {
    std::vector<FaultCase> cases;
    for (const FaultCase &fault : fault_cases())
        if (fault.llama_refuses)
            cases.push_back(fault);
    return cases;
}

} // namespace graft::gguf::testing
