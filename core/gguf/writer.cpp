// GGUF v3 writer: metadata and tensor infos from memory, tensor data streamed to a
// temporary file that is renamed over the target once complete.
#include "layout.h"

#include <graft/gguf/gguf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace graft::gguf {

namespace {

constexpr uint32_t kWriteVersion = 3;
constexpr size_t kBufferBytes = size_t{1} << 20;
constexpr uint64_t kGenerateChunkBytes = uint64_t{4} << 20;
constexpr uint64_t kMaxDataBytes = uint64_t{1} << 62; // far below off_t's limit

// Buffered writes to a file descriptor; skip() leaves a hole instead of writing zeros.
class Output {
  public:
    Output(int fd, const std::string &path) : fd_(fd), path_(path) { buffer_.resize(kBufferBytes); }

    uint64_t pos() const { return pos_; }

    void write(const void *data, size_t n) {
        const auto *p = static_cast<const std::byte *>(data);
        while (n > 0) {
            if (used_ == buffer_.size())
                flush();
            const size_t take = std::min(n, buffer_.size() - used_);
            std::memcpy(buffer_.data() + used_, p, take);
            used_ += take;
            p += take;
            n -= take;
            pos_ += take;
        }
    }

    template <typename T> void put(T v) { write(&v, sizeof v); }

    void put_string(std::string_view s) {
        put<uint64_t>(s.size());
        write(s.data(), s.size());
    }

    void zeros(uint64_t n) {
        static const std::byte zero[256]{};
        while (n > 0) {
            const auto take = static_cast<size_t>(std::min<uint64_t>(n, sizeof zero));
            write(zero, take);
            n -= take;
        }
    }

    void skip(uint64_t n) {
        flush();
        if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0)
            fail("seek in");
        pos_ += n;
    }

    // Writes what is buffered and extends the file over a trailing hole.
    void finish() {
        flush();
        if (::ftruncate(fd_, static_cast<off_t>(pos_)) != 0)
            fail("set the size of");
    }

    void flush() {
        size_t done = 0;
        while (done < used_) {
            const ssize_t n = ::write(fd_, buffer_.data() + done, used_ - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                fail("write");
            done += static_cast<size_t>(n);
        }
        used_ = 0;
    }

    [[noreturn]] void fail(const char *what) const {
        throw graft::Error(std::string("cannot ") + what + " '" + path_ +
                           "': " + std::strerror(errno));
    }

  private:
    int fd_;
    const std::string &path_;
    std::vector<std::byte> buffer_;
    size_t used_ = 0;
    uint64_t pos_ = 0;
};

void put_int(Output &out, ValueType t, int64_t v) {
    switch (t) {
    case ValueType::UINT8:
        out.put(static_cast<uint8_t>(v));
        break;
    case ValueType::INT8:
        out.put(static_cast<int8_t>(v));
        break;
    case ValueType::UINT16:
        out.put(static_cast<uint16_t>(v));
        break;
    case ValueType::INT16:
        out.put(static_cast<int16_t>(v));
        break;
    case ValueType::UINT32:
        out.put(static_cast<uint32_t>(v));
        break;
    case ValueType::INT32:
        out.put(static_cast<int32_t>(v));
        break;
    case ValueType::UINT64:
        out.put(static_cast<uint64_t>(v));
        break;
    case ValueType::INT64:
        out.put(v);
        break;
    case ValueType::BOOL:
        out.put(static_cast<uint8_t>(v != 0));
        break;
    default:
        throw graft::Error("internal: put_int on " + std::string(value_type_name(t)));
    }
}

void put_float(Output &out, ValueType t, double v) {
    if (t == ValueType::FLOAT32)
        out.put(static_cast<float>(v));
    else
        out.put(v);
}

// `v` was checked and normalised by Writer::set.
void put_value(Output &out, const Value &v) {
    out.put(static_cast<uint32_t>(v.type));
    if (!v.is_array()) {
        switch (v.type) {
        case ValueType::STRING:
            out.put_string(v.as_string());
            break;
        case ValueType::FLOAT32:
        case ValueType::FLOAT64:
            put_float(out, v.type, v.as_float());
            break;
        case ValueType::BOOL:
            put_int(out, v.type, v.as_bool());
            break;
        case ValueType::UINT8:
        case ValueType::UINT16:
        case ValueType::UINT32:
        case ValueType::UINT64:
            put_int(out, v.type, static_cast<int64_t>(v.as_uint()));
            break;
        default:
            put_int(out, v.type, v.as_int());
            break;
        }
        return;
    }
    out.put(static_cast<uint32_t>(v.array_type));
    out.put(static_cast<uint64_t>(v.array_size()));
    if (v.array_type == ValueType::STRING) {
        for (const std::string &s : v.strings)
            out.put_string(s);
    } else if (v.array_type == ValueType::FLOAT32 || v.array_type == ValueType::FLOAT64) {
        for (double d : v.floats)
            put_float(out, v.array_type, d);
    } else {
        for (int64_t i : v.ints)
            put_int(out, v.array_type, i);
    }
}

// The same value in the form the reader produces, so that a written value reads back
// equal: scalars in their canonical variant alternative, unused vectors empty.
Value normalised(const Value &v) {
    v.check();
    if (v.is_array()) {
        if (v.array_type == ValueType::STRING)
            return Value::make_string_array(v.strings);
        if (v.array_type == ValueType::FLOAT32 || v.array_type == ValueType::FLOAT64)
            return Value::make_float_array(v.array_type, v.floats);
        return Value::make_int_array(v.array_type, v.ints);
    }
    switch (v.type) {
    case ValueType::STRING:
        return Value::make_string(v.as_string());
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
        return Value::make_float(v.type, v.as_float());
    case ValueType::BOOL:
        return Value::make_bool(v.as_bool());
    case ValueType::UINT8:
    case ValueType::UINT16:
    case ValueType::UINT32:
    case ValueType::UINT64:
        return Value::make_uint(v.type, v.as_uint());
    default:
        return Value::make_int(v.type, v.as_int());
    }
}

void check_name(std::string_view what, std::string_view name, uint64_t max_length) {
    if (name.empty())
        throw graft::Error(std::string(what) + " is empty");
    if (name.size() > max_length)
        throw graft::Error(std::string(what) + " " + printable(name) + " is too long (" +
                           std::to_string(name.size()) + " bytes, at most " +
                           std::to_string(max_length) + ")");
    if (name.find('\0') != std::string_view::npos)
        throw graft::Error(std::string(what) + " " + printable(name) + " contains a NUL byte");
}

// Removes the temporary file unless the write got as far as renaming it.
struct TempFile {
    std::string path;
    int fd = -1;
    bool renamed = false;
    ~TempFile() {
        if (fd >= 0)
            ::close(fd);
        if (!renamed && !path.empty())
            ::unlink(path.c_str());
    }
};

} // namespace

void Writer::set(const std::string &key, Value v) {
    check_name("key", key, Limits::max_key_length);
    try {
        v = normalised(v);
    } catch (const graft::Error &e) {
        throw graft::Error("key " + printable(key) + ": " + e.what());
    }
    for (KeyValue &kv : metadata_)
        if (kv.key == key) {
            kv.value = std::move(v);
            return;
        }
    metadata_.push_back(KeyValue{key, std::move(v)});
}

void Writer::set_uint32(const std::string &key, uint32_t v) {
    set(key, Value::make_uint(ValueType::UINT32, v));
}
void Writer::set_int32(const std::string &key, int32_t v) {
    set(key, Value::make_int(ValueType::INT32, v));
}
void Writer::set_uint64(const std::string &key, uint64_t v) {
    set(key, Value::make_uint(ValueType::UINT64, v));
}
void Writer::set_int64(const std::string &key, int64_t v) {
    set(key, Value::make_int(ValueType::INT64, v));
}
void Writer::set_float32(const std::string &key, float v) {
    set(key, Value::make_float(ValueType::FLOAT32, v));
}
void Writer::set_float64(const std::string &key, double v) {
    set(key, Value::make_float(ValueType::FLOAT64, v));
}
void Writer::set_bool(const std::string &key, bool v) {
    set(key, Value::make_bool(v));
}
void Writer::set_string(const std::string &key, const std::string &v) {
    set(key, Value::make_string(v));
}
void Writer::set_array_string(const std::string &key, const std::vector<std::string> &v) {
    set(key, Value::make_string_array(v));
}
void Writer::set_array_int32(const std::string &key, const std::vector<int32_t> &v) {
    set(key, Value::make_int_array(ValueType::INT32, std::vector<int64_t>(v.begin(), v.end())));
}
void Writer::set_array_float32(const std::string &key, const std::vector<float> &v) {
    set(key, Value::make_float_array(ValueType::FLOAT32, std::vector<double>(v.begin(), v.end())));
}
void Writer::set_value(const std::string &key, const Value &v) {
    set(key, v);
}

Writer::Tensor &Writer::add(const std::string &name, graft_dtype dtype, std::vector<int64_t> ne,
                            Source source) {
    check_name("tensor name", name, Limits::max_tensor_name_length);
    for (const Tensor &t : tensors_)
        if (t.name == name)
            throw graft::Error("duplicate tensor name " + printable(name));
    Tensor t;
    t.n_bytes = shape_bytes(name, static_cast<uint32_t>(dtype), ne);
    t.name = name;
    t.dtype = dtype;
    t.ne = std::move(ne);
    t.source = source;
    tensors_.push_back(std::move(t));
    return tensors_.back();
}

void Writer::add_tensor(const std::string &name, graft_dtype dtype, std::vector<int64_t> ne,
                        std::vector<std::byte> data) {
    const uint64_t n_bytes = shape_bytes(name, static_cast<uint32_t>(dtype), ne);
    if (data.size() != n_bytes)
        throw graft::Error("tensor " + printable(name) + " of shape " + shape_string(ne) + " in " +
                           dtype_traits(dtype).name + " takes " + std::to_string(n_bytes) +
                           " bytes, but " + std::to_string(data.size()) + " were given");
    add(name, dtype, std::move(ne), Source::bytes).data = std::move(data);
}

void Writer::add_tensor_zero(const std::string &name, graft_dtype dtype, std::vector<int64_t> ne) {
    add(name, dtype, std::move(ne), Source::zero);
}

void Writer::add_tensor_generated(const std::string &name, graft_dtype dtype,
                                  std::vector<int64_t> ne, Producer produce) {
    if (!produce)
        throw graft::Error("tensor " + printable(name) + ": no producer given");
    add(name, dtype, std::move(ne), Source::generated).produce = std::move(produce);
}

void Writer::write(const std::filesystem::path &path, uint32_t alignment) const {
    if (!is_power_of_two(alignment))
        throw graft::Error("GGUF alignment " + std::to_string(alignment) +
                           " is not a power of two");
    std::vector<uint64_t> offsets;
    offsets.reserve(tensors_.size());
    uint64_t data_bytes = 0;
    for (const Tensor &t : tensors_) {
        offsets.push_back(data_bytes);
        // offsets stay below 2^62, so the rounding and the sum cannot overflow
        if (t.n_bytes > kMaxDataBytes ||
            kMaxDataBytes - data_bytes < align_up(t.n_bytes, alignment))
            throw graft::Error("the tensors' data (at tensor " + printable(t.name) +
                               ") does not fit a GGUF file");
        data_bytes += align_up(t.n_bytes, alignment);
    }
    const bool has_alignment_key =
        std::any_of(metadata_.begin(), metadata_.end(),
                    [](const KeyValue &kv) { return kv.key == "general.alignment"; });
    const Value alignment_value = Value::make_uint(ValueType::UINT32, alignment);
    const bool add_alignment_key = !has_alignment_key && alignment != Limits::default_alignment;

    TempFile tmp;
    const std::string target = path.string();
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    std::string pattern = (dir / (path.filename().string() + ".tmp.XXXXXX")).string();
    tmp.fd = ::mkstemp(pattern.data());
    if (tmp.fd < 0)
        throw graft::Error("cannot create a temporary file next to '" + target +
                           "': " + std::strerror(errno));
    tmp.path = pattern;
    ::fchmod(tmp.fd, 0644); // mkstemp makes 0600; a model file is for everyone to read

    Output out(tmp.fd, tmp.path);
    out.write("GGUF", 4);
    out.put(kWriteVersion);
    out.put(static_cast<uint64_t>(tensors_.size()));
    out.put(static_cast<uint64_t>(metadata_.size() + (add_alignment_key ? 1 : 0)));
    for (const KeyValue &kv : metadata_) {
        out.put_string(kv.key);
        put_value(out, kv.key == "general.alignment" ? alignment_value : kv.value);
    }
    if (add_alignment_key) {
        out.put_string("general.alignment");
        put_value(out, alignment_value);
    }
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const Tensor &t = tensors_[i];
        out.put_string(t.name);
        out.put(static_cast<uint32_t>(t.ne.size()));
        for (int64_t d : t.ne)
            out.put(d);
        out.put(static_cast<uint32_t>(t.dtype));
        out.put(offsets[i]);
    }
    if (!tensors_.empty()) // as ggml: the data section is padded only when there is data
        out.zeros(align_up(out.pos(), alignment) - out.pos());

    std::vector<std::byte> chunk;
    for (const Tensor &t : tensors_) {
        const uint64_t padding = align_up(t.n_bytes, alignment) - t.n_bytes;
        switch (t.source) {
        case Source::bytes:
            out.write(t.data.data(), t.data.size());
            break;
        case Source::zero:
            out.skip(t.n_bytes + padding);
            continue;
        case Source::generated:
            chunk.resize(static_cast<size_t>(std::min(t.n_bytes, kGenerateChunkBytes)));
            for (uint64_t done = 0; done < t.n_bytes; done += chunk.size()) {
                const auto n =
                    static_cast<size_t>(std::min<uint64_t>(chunk.size(), t.n_bytes - done));
                t.produce(done, std::span(chunk.data(), n));
                out.write(chunk.data(), n);
            }
            break;
        }
        out.zeros(padding);
    }
    out.finish();
    if (::fsync(tmp.fd) != 0)
        out.fail("flush");
    if (::close(tmp.fd) != 0) {
        tmp.fd = -1;
        out.fail("close");
    }
    tmp.fd = -1;
    if (::rename(tmp.path.c_str(), target.c_str()) != 0)
        throw graft::Error("cannot rename '" + tmp.path + "' to '" + target +
                           "': " + std::strerror(errno));
    tmp.renamed = true;
}

} // namespace graft::gguf
