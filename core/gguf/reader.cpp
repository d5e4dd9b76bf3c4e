// GGUF reader: maps the file read-only and validates the whole header at open. The checks
// and the limits behind them are explained in docs/design/gguf-hardening.md.
#include "layout.h"

#include <graft/gguf/gguf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <unordered_set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace graft::gguf {

struct File::Mapping {
    void *addr = nullptr;
    size_t size = 0;
    ~Mapping() {
        if (addr)
            ::munmap(addr, size);
    }
};

namespace {

constexpr uint32_t kMinVersion = 2;
constexpr uint32_t kMaxVersion = 3;
// Fewest bytes one key-value pair or one tensor info can take, to refuse counts that
// the rest of the file cannot hold before anything is allocated for them.
constexpr uint64_t kMinKeyValueBytes = 8 + 1 + 4 + 1;       // key length, key, type, a uint8
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 4 + 8; // name, n_dims, type, offset

// Bytes one element of a metadata array takes in the file (a string takes at least its
// length field); 0 for ARRAY and unknown types.
uint64_t element_file_bytes(ValueType t) {
    switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
        return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
        return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
        return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
    case ValueType::STRING:
        return 8;
    default:
        return 0;
    }
}

std::string mib(uint64_t bytes) {
    return std::to_string(bytes >> 20) + " MiB";
}

std::string hex(uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    std::string s = "0x";
    for (int shift = 28; shift >= 0; shift -= 4)
        s += digits[(v >> shift) & 15];
    return s;
}

// Reads little-endian values from the mapped bytes; every read is bounds-checked and a
// fault names what was being read. `describe` is a callable returning that name, called
// only when a message is needed.
class Cursor {
  public:
    Cursor(std::span<const std::byte> bytes, const std::string &file)
        : bytes_(bytes), file_(file) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return bytes_.size() - pos_; }

    [[noreturn]] void fail(const std::string &what, uint64_t at) const {
        throw FormatError(file_ + ": " + what + " (offset " + std::to_string(at) + ")");
    }
    [[noreturn]] void fail(const std::string &what) const { fail(what, pos_); }
    // For faults in the data section, whose message says where they are.
    [[noreturn]] void fail_at_data(const std::string &what) const {
        throw FormatError(file_ + ": " + what);
    }

    template <typename D> void need(uint64_t n, D &&describe) const {
        if (n > remaining())
            fail("truncated " + describe() + ": needs " + std::to_string(n) +
                 " bytes, the file has " + std::to_string(remaining()) + " left");
    }

    template <typename T, typename D> T read(D &&describe) {
        need(sizeof(T), describe);
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    // A length-prefixed string, as a view into the mapping.
    template <typename D> std::string_view read_string(D &&describe, uint64_t max_length) {
        const uint64_t at = pos_;
        const auto length = read<uint64_t>([&] { return "length of " + describe(); });
        if (length > remaining())
            fail("length " + std::to_string(length) + " of " + describe() +
                     " goes beyond the end of the file (" + std::to_string(remaining()) +
                     " bytes left)",
                 at);
        if (length > max_length)
            fail(describe() + " is too long: " + std::to_string(length) + " bytes (at most " +
                     std::to_string(max_length) + ")",
                 at);
        const std::string_view s(reinterpret_cast<const char *>(bytes_.data() + pos_), length);
        pos_ += length;
        return s;
    }

  private:
    std::span<const std::byte> bytes_;
    const std::string &file_;
    uint64_t pos_ = 0;
};

// What the parse produced, moved into the File at the end.
struct Parsed {
    uint32_t version = 0;
    uint64_t alignment = Limits::default_alignment;
    uint64_t data_offset = 0;
    std::vector<KeyValue> metadata;
    std::vector<TensorInfo> tensors;
};

class Parser {
  public:
    Parser(std::span<const std::byte> bytes, const std::string &file) : in_(bytes, file) {}

    Parsed run() {
        read_header();
        for (uint64_t i = 0; i < n_kv_; ++i)
            read_key_value(i);
        read_alignment();
        for (uint64_t i = 0; i < n_tensors_; ++i)
            read_tensor_info(i);
        place_data();
        return std::move(out_);
    }

  private:
    void read_header() {
        const auto header = [] { return std::string("header"); };
        const auto magic = in_.read<std::array<char, 4>>(header);
        if (std::memcmp(magic.data(), "GGUF", 4) != 0) {
            std::string shown;
            for (char c : magic)
                shown += (c >= 0x20 && c < 0x7f) ? c : '?';
            in_.fail("bad magic '" + shown + "', expected 'GGUF': not a GGUF file", 0);
        }
        out_.version = in_.read<uint32_t>(header);
        const uint32_t v = out_.version;
        if (v == 0)
            in_.fail("bad GGUF version 0", 4);
        // A big-endian file's version (2 or 3) reads as 0x02000000 or 0x03000000 here.
        if ((v & 0xffffu) == 0)
            in_.fail("GGUF version reads as " + hex(v) +
                         ": this is a big-endian file; only little-endian GGUF is supported",
                     4);
        if (v == 1)
            in_.fail("GGUF version 1 is not supported (it is obsolete): convert the model "
                     "again with a current converter",
                     4);
        if (v < kMinVersion || v > kMaxVersion)
            in_.fail("GGUF version " + std::to_string(v) +
                         " is newer than this reader "
                         "supports (versions 2 and 3)",
                     4);
        const uint64_t counts_at = in_.pos();
        n_tensors_ = in_.read<uint64_t>(header);
        n_kv_ = in_.read<uint64_t>(header);
        const uint64_t left = in_.remaining();
        if (n_kv_ > left / kMinKeyValueBytes)
            in_.fail("key-value count " + std::to_string(n_kv_) +
                         " is more than the file could hold (" + std::to_string(left) +
                         " bytes left)",
                     counts_at + 8);
        if (n_kv_ > Limits::max_key_values)
            in_.fail("key-value count " + std::to_string(n_kv_) + " exceeds the limit of " +
                         std::to_string(Limits::max_key_values),
                     counts_at + 8);
        if (n_tensors_ > left / kMinTensorInfoBytes)
            in_.fail("tensor count " + std::to_string(n_tensors_) +
                         " is more than the file could hold (" + std::to_string(left) +
                         " bytes left)",
                     counts_at);
        if (n_tensors_ > Limits::max_tensors)
            in_.fail("tensor count " + std::to_string(n_tensors_) + " exceeds the limit of " +
                         std::to_string(Limits::max_tensors),
                     counts_at);
    }

    // Counts the heap bytes of what is parsed, so that no file, however crafted, makes
    // the reader hold more than Limits::max_metadata_bytes.
    template <typename D> void charge(uint64_t bytes, D &&describe) {
        if (bytes > Limits::max_metadata_bytes - used_)
            in_.fail(describe() + " would take the metadata past the memory limit of " +
                     mib(Limits::max_metadata_bytes) + ": refusing the file");
        used_ += bytes;
    }

    void read_key_value(uint64_t index) {
        const uint64_t at = in_.pos();
        const std::string_view key = in_.read_string(
            [&] { return "key #" + std::to_string(index); }, Limits::max_key_length);
        if (key.empty())
            in_.fail("key #" + std::to_string(index) + " is empty", at);
        if (key.find('\0') != std::string_view::npos)
            in_.fail("key " + printable(key) + " contains a NUL byte", at);
        if (!seen_keys_.insert(key).second)
            in_.fail("duplicate key " + printable(key), at);
        if (key == "general.alignment")
            alignment_at_ = at;
        const auto who = [&] { return "key " + printable(key); };
        charge(sizeof(KeyValue) + key.size(), who);

        KeyValue kv;
        kv.key = std::string(key);
        const uint32_t type = in_.read<uint32_t>([&] { return "type of " + who(); });
        if (type >= kValueTypeCount)
            in_.fail(who() + " has unknown value type " + std::to_string(type));
        kv.value.type = static_cast<ValueType>(type);
        if (kv.value.type == ValueType::ARRAY)
            read_array(key, kv.value);
        else
            read_scalar(key, kv.value);
        out_.metadata.push_back(std::move(kv));
    }

    // One integer or bool element as int64: unsigned types zero-extended, UINT64 kept
    // bit-for-bit, bools as 0/1 (any non-zero byte is true, as in ggml).
    template <typename D> int64_t read_int(ValueType t, D &&describe) {
        switch (t) {
        case ValueType::UINT8:
            return in_.read<uint8_t>(describe);
        case ValueType::INT8:
            return in_.read<int8_t>(describe);
        case ValueType::UINT16:
            return in_.read<uint16_t>(describe);
        case ValueType::INT16:
            return in_.read<int16_t>(describe);
        case ValueType::UINT32:
            return in_.read<uint32_t>(describe);
        case ValueType::INT32:
            return in_.read<int32_t>(describe);
        case ValueType::UINT64:
            return static_cast<int64_t>(in_.read<uint64_t>(describe));
        case ValueType::INT64:
            return in_.read<int64_t>(describe);
        case ValueType::BOOL:
            return in_.read<uint8_t>(describe) != 0 ? 1 : 0;
        default:
            in_.fail("internal: read_int on " + std::string(value_type_name(t)));
        }
    }

    void read_scalar(std::string_view key, Value &v) {
        const auto who = [&] { return "value of key " + printable(key); };
        switch (v.type) {
        case ValueType::STRING: {
            const std::string_view s = in_.read_string(who, UINT64_MAX);
            charge(s.size(), who);
            v.scalar = std::string(s);
            break;
        }
        case ValueType::FLOAT32:
            v.scalar = static_cast<double>(in_.read<float>(who));
            break;
        case ValueType::FLOAT64:
            v.scalar = in_.read<double>(who);
            break;
        case ValueType::BOOL:
            v.scalar = read_int(v.type, who) != 0;
            break;
        case ValueType::UINT8:
        case ValueType::UINT16:
        case ValueType::UINT32:
        case ValueType::UINT64:
            v.scalar = static_cast<uint64_t>(read_int(v.type, who));
            break;
        default:
            v.scalar = read_int(v.type, who);
            break;
        }
    }

    void read_array(std::string_view key, Value &v) {
        const auto who = [&] { return "array of key " + printable(key); };
        const uint64_t at = in_.pos();
        const uint32_t type = in_.read<uint32_t>(who);
        if (type == static_cast<uint32_t>(ValueType::ARRAY))
            in_.fail("key " + printable(key) +
                         " holds an array of arrays: nested arrays are not supported",
                     at);
        if (type >= kValueTypeCount)
            in_.fail("key " + printable(key) + " has unknown value type " + std::to_string(type) +
                         " for its array elements",
                     at);
        v.array_type = static_cast<ValueType>(type);
        const uint64_t n = in_.read<uint64_t>(who);
        const uint64_t element_bytes = element_file_bytes(v.array_type);
        if (n > in_.remaining() / element_bytes)
            in_.fail("array length " + std::to_string(n) + " of key " + printable(key) +
                         " goes beyond the end of the file (" + std::to_string(in_.remaining()) +
                         " bytes left)",
                     at + 4);
        // n * element_bytes fits the file, so n * 32 cannot overflow
        const auto element = [&] { return "an element of key " + printable(key); };
        if (v.array_type == ValueType::STRING) {
            charge(n * sizeof(std::string), who);
            v.strings.reserve(n);
            for (uint64_t i = 0; i < n; ++i) {
                const std::string_view s = in_.read_string(element, UINT64_MAX);
                charge(s.size(), element);
                v.strings.emplace_back(s);
            }
        } else if (v.array_type == ValueType::FLOAT32 || v.array_type == ValueType::FLOAT64) {
            charge(n * sizeof(double), who);
            v.floats.reserve(n);
            for (uint64_t i = 0; i < n; ++i)
                v.floats.push_back(v.array_type == ValueType::FLOAT32
                                       ? static_cast<double>(in_.read<float>(element))
                                       : in_.read<double>(element));
        } else {
            charge(n * sizeof(int64_t), who);
            v.ints.reserve(n);
            for (uint64_t i = 0; i < n; ++i)
                v.ints.push_back(read_int(v.array_type, element));
        }
    }

    void read_alignment() {
        const auto it =
            std::find_if(out_.metadata.begin(), out_.metadata.end(),
                         [](const KeyValue &kv) { return kv.key == "general.alignment"; });
        if (it == out_.metadata.end())
            return;
        const Value &v = it->value;
        if (v.type != ValueType::UINT32)
            in_.fail(std::string("general.alignment must be a uint32, not ") +
                         (v.is_array() ? "an array" : value_type_name(v.type)),
                     alignment_at_);
        const uint64_t alignment = v.as_uint();
        if (!is_power_of_two(alignment))
            in_.fail("general.alignment " + std::to_string(alignment) + " is not a power of two",
                     alignment_at_);
        out_.alignment = alignment;
    }

    void read_tensor_info(uint64_t index) {
        const uint64_t at = in_.pos();
        const std::string_view name =
            in_.read_string([&] { return "name of tensor #" + std::to_string(index); },
                            Limits::max_tensor_name_length);
        if (name.empty())
            in_.fail("tensor #" + std::to_string(index) + " has an empty name", at);
        if (name.find('\0') != std::string_view::npos)
            in_.fail("tensor name " + printable(name) + " contains a NUL byte", at);
        if (!seen_tensors_.insert(name).second)
            in_.fail("duplicate tensor name " + printable(name), at);
        const auto who = [&] { return "info of tensor " + printable(name); };
        charge(sizeof(TensorInfo) + name.size(), who);

        TensorInfo info;
        info.name = std::string(name);
        const uint64_t dims_at = in_.pos();
        info.n_dims = in_.read<uint32_t>(who);
        if (info.n_dims > Limits::max_dims)
            in_.fail("tensor " + printable(name) + " has " + std::to_string(info.n_dims) +
                         " dimensions (at most " + std::to_string(Limits::max_dims) + ")",
                     dims_at);
        for (uint32_t d = 0; d < info.n_dims; ++d)
            info.ne[d] = in_.read<int64_t>(who);
        const uint32_t type = in_.read<uint32_t>(who);
        info.offset = in_.read<uint64_t>(who);
        try {
            info.n_bytes = shape_bytes(name, type, std::span(info.ne.data(), info.n_dims));
        } catch (const FormatError &e) {
            in_.fail(e.what(), dims_at);
        }
        info.dtype = static_cast<graft_dtype>(type); // known: shape_bytes checked it
        out_.tensors.push_back(std::move(info));
    }

    // Places the data section after the header and checks each tensor's bytes lie in it,
    // aligned, and apart from every other tensor's.
    void place_data() {
        const uint64_t header_end = in_.pos();
        const uint64_t file_size = header_end + in_.remaining();
        if (out_.tensors.empty()) { // as ggml: the data offset is padded only for tensors
            out_.data_offset = header_end;
            return;
        }
        out_.data_offset = align_up(header_end, out_.alignment);
        if (out_.data_offset > file_size)
            in_.fail("truncated file: the data section would start at offset " +
                         std::to_string(out_.data_offset) + ", beyond the end of the file (" +
                         std::to_string(file_size) + " bytes)",
                     header_end);
        const uint64_t data_size = file_size - out_.data_offset;
        const std::string where =
            " (the data section starts at offset " + std::to_string(out_.data_offset) + ")";
        for (const TensorInfo &t : out_.tensors) {
            if (t.offset % out_.alignment != 0)
                in_.fail_at_data("data of tensor " + printable(t.name) + " at offset " +
                                 std::to_string(t.offset) + " is misaligned (alignment " +
                                 std::to_string(out_.alignment) + ")" + where);
            if (t.offset > data_size || t.n_bytes > data_size - t.offset)
                in_.fail_at_data("data of tensor " + printable(t.name) + " (" +
                                 std::to_string(t.n_bytes) + " bytes at data offset " +
                                 std::to_string(t.offset) +
                                 ") lies outside the file: the data section holds " +
                                 std::to_string(data_size) + " bytes (truncated file?)" + where);
        }
        std::vector<size_t> order(out_.tensors.size());
        std::iota(order.begin(), order.end(), size_t{0});
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return out_.tensors[a].offset < out_.tensors[b].offset;
        });
        for (size_t i = 1; i < order.size(); ++i) {
            const TensorInfo &prev = out_.tensors[order[i - 1]];
            const TensorInfo &cur = out_.tensors[order[i]];
            if (prev.offset + prev.n_bytes > cur.offset) // both inside the file: no overflow
                in_.fail_at_data("data of tensor " + printable(prev.name) + " overlaps tensor " +
                                 printable(cur.name) + " at data offset " +
                                 std::to_string(cur.offset) + where);
        }
    }

    Cursor in_;
    Parsed out_;
    uint64_t n_tensors_ = 0;
    uint64_t n_kv_ = 0;
    uint64_t used_ = 0;
    uint64_t alignment_at_ = 0;
    std::unordered_set<std::string_view> seen_keys_; // views into the mapping
    std::unordered_set<std::string_view> seen_tensors_;
};

std::string errno_text() {
    return std::strerror(errno);
}

} // namespace

File::~File() = default;

std::unique_ptr<File> File::open(const std::filesystem::path &path) {
    const std::string shown = path.string();
    // O_NONBLOCK: opening a FIFO by mistake must not hang; it is refused below
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        throw graft::Error("cannot open GGUF file '" + shown + "': " + errno_text());
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const std::string why = errno_text();
        ::close(fd);
        throw graft::Error("cannot stat GGUF file '" + shown + "': " + why);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw graft::Error("'" + shown + "' is " +
                           (S_ISDIR(st.st_mode) ? "a directory" : "not a regular file") +
                           ", not a GGUF file");
    }
    std::unique_ptr<File> file(new File());
    file->name_ = shown;
    file->mapping_ = std::make_unique<Mapping>();
    const auto size = static_cast<size_t>(st.st_size);
    if (size > 0) {
        void *addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (addr == MAP_FAILED) {
            const std::string why = errno_text();
            ::close(fd);
            throw graft::Error("cannot map GGUF file '" + shown + "': " + why);
        }
        file->mapping_->addr = addr;
        file->mapping_->size = size;
        file->bytes_ = std::span(static_cast<const std::byte *>(addr), size);
    }
    ::close(fd); // the mapping keeps the file
    file->parse_all();
    return file;
}

std::unique_ptr<File> File::parse(std::span<const std::byte> bytes, std::string name) {
    std::unique_ptr<File> file(new File());
    file->bytes_ = bytes;
    file->name_ = std::move(name);
    file->parse_all();
    return file;
}

void File::parse_all() {
    Parsed p = Parser(bytes_, name_).run();
    version_ = p.version;
    alignment_ = p.alignment;
    data_offset_ = p.data_offset;
    metadata_ = std::move(p.metadata);
    tensors_ = std::move(p.tensors);
    key_index_.reserve(metadata_.size());
    for (size_t i = 0; i < metadata_.size(); ++i)
        key_index_.emplace(metadata_[i].key, i);
    tensor_index_.reserve(tensors_.size());
    for (size_t i = 0; i < tensors_.size(); ++i)
        tensor_index_.emplace(tensors_[i].name, i);
}

const Value *File::find(std::string_view key) const {
    const auto it = key_index_.find(key);
    return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

namespace {
template <typename F>
auto typed_get(const std::string &file, std::string_view key, const Value *v, F &&get)
    -> decltype(get(*v)) {
    try {
        return get(*v);
    } catch (const graft::Error &e) {
        throw graft::Error(file + ": key " + printable(key) + ": " + e.what());
    }
}
} // namespace

int64_t File::get_int(std::string_view key, int64_t fallback) const {
    const Value *v = find(key);
    return v ? typed_get(name_, key, v, [](const Value &x) { return x.as_int(); }) : fallback;
}

double File::get_float(std::string_view key, double fallback) const {
    const Value *v = find(key);
    return v ? typed_get(name_, key, v, [](const Value &x) { return x.as_float(); }) : fallback;
}

std::string File::get_string(std::string_view key, std::string_view fallback) const {
    const Value *v = find(key);
    return v ? typed_get(name_, key, v, [](const Value &x) { return x.as_string(); })
             : std::string(fallback);
}

bool File::get_bool(std::string_view key, bool fallback) const {
    const Value *v = find(key);
    return v ? typed_get(name_, key, v, [](const Value &x) { return x.as_bool(); }) : fallback;
}

const TensorInfo *File::tensor(std::string_view name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> File::tensor_data(const TensorInfo &info) const {
    const uint64_t size = bytes_.size();
    if (data_offset_ > size || info.offset > size - data_offset_ ||
        info.n_bytes > size - data_offset_ - info.offset)
        throw graft::Error(name_ + ": tensor " + printable(info.name) +
                           " does not describe data inside this file");
    return bytes_.subspan(data_offset_ + info.offset, info.n_bytes);
}

} // namespace graft::gguf
