// GGUF reader and writer.
//
// The reader parses and validates the whole header (metadata and tensor infos) at open
// and maps the file read-only; no tensor data is touched until tensor_data() is called.
// Every malformed input is a graft::gguf::FormatError with a message naming the fault
// and, where it helps, the byte offset.
#pragma once

#include <graft/plugin.h>
#include <graft/util/error.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace graft::gguf {

class FormatError : public graft::Error {
  public:
    using graft::Error::Error;
};

// GGUF metadata value types, numbered as in the file format.
enum class ValueType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

inline constexpr uint32_t kValueTypeCount = 13;
// "uint8", "string", "array", ...; "unknown" for numbers outside the enum.
const char *value_type_name(ValueType type);

// Limits the reader enforces beyond the format itself, so that a crafted file is refused
// before it can make the reader allocate much memory (docs/design/gguf-hardening.md).
struct Limits {
    static constexpr uint32_t default_alignment = 32;
    static constexpr uint32_t max_dims = 4;
    static constexpr uint64_t max_tensors = uint64_t{1} << 20;
    static constexpr uint64_t max_key_values = uint64_t{1} << 20;
    static constexpr uint64_t max_key_length = 65535;      // bytes, as the GGUF spec says
    static constexpr uint64_t max_tensor_name_length = 63; // bytes, as ggml (char[64])
    // Estimated heap bytes of all parsed metadata and tensor infos together.
    static constexpr uint64_t max_metadata_bytes = uint64_t{256} << 20;
};

// One metadata value. Scalars as read: unsigned types in `uint64_t`, signed in `int64_t`,
// FLOAT32/FLOAT64 in `double`, BOOL in `bool`, STRING in `std::string`. Arrays are stored
// typed: integers of any width in `ints` (uint64 values above INT64_MAX are kept
// bit-for-bit), floats in `floats`, bools in `ints` (0/1), strings in `strings`.
class Value {
  public:
    ValueType type = ValueType::UINT32;
    ValueType array_type = ValueType::UINT32; // element type when type == ARRAY
    std::variant<int64_t, uint64_t, double, bool, std::string> scalar;
    std::vector<int64_t> ints;
    std::vector<double> floats;
    std::vector<std::string> strings;

    bool is_array() const { return type == ValueType::ARRAY; }
    size_t array_size() const;
    // Scalar access with conversion between numeric types; throws graft::Error when the
    // value is not of a compatible kind (e.g. as_int on a string).
    int64_t as_int() const;
    uint64_t as_uint() const;
    double as_float() const;
    bool as_bool() const;
    const std::string &as_string() const;
    // Human-readable rendering; long arrays are abbreviated.
    std::string to_string(size_t max_items = 8) const;

    // Constructors that check the value fits the type; they throw graft::Error otherwise.
    static Value make_uint(ValueType type, uint64_t v); // UINT8 .. UINT64
    static Value make_int(ValueType type, int64_t v);   // INT8 .. INT64
    static Value make_float(ValueType type, double v);  // FLOAT32, FLOAT64
    static Value make_bool(bool v);
    static Value make_string(std::string v);
    // Arrays: element_type is any integer type or BOOL (values in `ints`, UINT64 elements
    // bit-for-bit), FLOAT32/FLOAT64 (values in `floats`), or STRING.
    static Value make_int_array(ValueType element_type, std::vector<int64_t> v);
    static Value make_float_array(ValueType element_type, std::vector<double> v);
    static Value make_string_array(std::vector<std::string> v);
    // Throws graft::Error when the value cannot be written as GGUF: an unknown type, a
    // nested array, an element out of the range of its type, a scalar of the wrong kind.
    void check() const;

    // Member-wise (so a NaN never equals itself).
    bool operator==(const Value &other) const = default;
};

struct KeyValue {
    std::string key;
    Value value;
};

// Byte layout of a dtype: block_size elements take block_bytes bytes.
struct DtypeTraits {
    const char *name;   // "F32", "Q4_K", ...
    int64_t block_size; // 0 for ids GGUF does not define
    size_t block_bytes;
};
const DtypeTraits &dtype_traits(graft_dtype dtype);
bool dtype_known(uint32_t id);
// Bytes of one row of ne0 elements; throws FormatError for an unknown dtype, a ne0 that is
// not positive or not a multiple of the block size, or a size that overflows.
uint64_t row_bytes(graft_dtype dtype, int64_t ne0);

struct TensorInfo {
    std::string name;
    uint32_t n_dims = 0;
    std::array<int64_t, 4> ne{1, 1, 1, 1}; // innermost first
    graft_dtype dtype = GRAFT_DTYPE_F32;
    uint64_t offset = 0;  // relative to the start of the data section
    uint64_t n_bytes = 0; // size of the data
    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class File {
  public:
    // Opens, maps and validates; throws FormatError (or graft::Error for I/O faults).
    static std::unique_ptr<File> open(const std::filesystem::path &path);
    // Same checks over a buffer held by the caller (for fuzzing and tests); the buffer
    // must outlive the File.
    static std::unique_ptr<File> parse(std::span<const std::byte> bytes, std::string name);
    ~File();
    File(const File &) = delete;
    File &operator=(const File &) = delete;

    const std::string &name() const { return name_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; } // absolute offset of the data
    uint64_t file_size() const { return bytes_.size(); }

    const std::vector<KeyValue> &metadata() const { return metadata_; }
    const Value *find(std::string_view key) const; // nullptr when absent
    // Typed look-ups with defaults; throw graft::Error if present with the wrong kind.
    int64_t get_int(std::string_view key, int64_t fallback) const;
    double get_float(std::string_view key, double fallback) const;
    std::string get_string(std::string_view key, std::string_view fallback) const;
    bool get_bool(std::string_view key, bool fallback) const;

    const std::vector<TensorInfo> &tensors() const { return tensors_; }
    const TensorInfo *tensor(std::string_view name) const; // nullptr when absent
    // The tensor's bytes in the mapping (pages are read on first touch). Throws
    // graft::Error when `info` does not describe data inside this file.
    std::span<const std::byte> tensor_data(const TensorInfo &info) const;

  private:
    File() = default;
    void parse_all();
    struct Mapping;
    std::unique_ptr<Mapping> mapping_;
    // Views into metadata_[i].key and tensors_[i].name, built once parsing is done.
    std::unordered_map<std::string_view, size_t> key_index_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
    std::span<const std::byte> bytes_;
    std::string name_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<KeyValue> metadata_;
    std::vector<TensorInfo> tensors_;
};

// A listing for people (`graft inspect`-style): version, alignment, every key with its type
// and value (arrays cut after max_items), every tensor with dtype, shape, offset and size.
std::string describe(const File &file, size_t max_items = 8);

// Writes GGUF v3 files (test models, the demo model). Metadata and tensor infos are kept
// in memory; tensor data is streamed to the file, so a tensor made by a generator or left
// as a hole costs no RAM. Setting a key that exists replaces its value in place; setters
// throw graft::Error for what the reader would refuse (bad names, shapes, sizes).
class Writer {
  public:
    // Fills `out` with the bytes of the tensor that start at `byte_offset`; called in
    // order, chunk after chunk, while the file is written.
    using Producer = std::function<void(uint64_t byte_offset, std::span<std::byte> out)>;

    void set_uint32(const std::string &key, uint32_t v);
    void set_int32(const std::string &key, int32_t v);
    void set_uint64(const std::string &key, uint64_t v);
    void set_int64(const std::string &key, int64_t v);
    void set_float32(const std::string &key, float v);
    void set_float64(const std::string &key, double v);
    void set_bool(const std::string &key, bool v);
    void set_string(const std::string &key, const std::string &v);
    void set_array_string(const std::string &key, const std::vector<std::string> &v);
    void set_array_int32(const std::string &key, const std::vector<int32_t> &v);
    void set_array_float32(const std::string &key, const std::vector<float> &v);
    void set_value(const std::string &key, const Value &v); // copy any value (e.g. vocab)
    // Adds a tensor; `data` must hold exactly the tensor's byte size.
    void add_tensor(const std::string &name, graft_dtype dtype, std::vector<int64_t> ne,
                    std::vector<std::byte> data);
    // Adds a tensor of zeros that is written as a hole: a multi-GB tensor costs neither
    // time nor disk blocks (on file systems with sparse files).
    void add_tensor_zero(const std::string &name, graft_dtype dtype, std::vector<int64_t> ne);
    // Adds a tensor whose bytes `produce` makes while the file is written.
    void add_tensor_generated(const std::string &name, graft_dtype dtype, std::vector<int64_t> ne,
                              Producer produce);

    const std::vector<KeyValue> &metadata() const { return metadata_; }
    size_t n_tensors() const { return tensors_.size(); }

    // Writes atomically (temp file + rename); throws graft::Error on I/O failure, and on
    // an alignment that is not a power of two. general.alignment is written as the
    // alignment used (uint32): added when it is not 32, corrected when set otherwise.
    // An exception thrown by a Producer leaves the target untouched and propagates.
    void write(const std::filesystem::path &path, uint32_t alignment = 32) const;

  private:
    enum class Source { bytes, zero, generated };
    struct Tensor {
        std::string name;
        graft_dtype dtype;
        std::vector<int64_t> ne;
        uint64_t n_bytes = 0;
        Source source = Source::bytes;
        std::vector<std::byte> data;
        Producer produce;
    };
    void set(const std::string &key, Value v);
    Tensor &add(const std::string &name, graft_dtype dtype, std::vector<int64_t> ne, Source source);
    std::vector<KeyValue> metadata_;
    std::vector<Tensor> tensors_;
};

} // namespace graft::gguf
