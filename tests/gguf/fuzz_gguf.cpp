// libFuzzer target for the GGUF reader and writer. Every input must either parse or be
// refused with graft::gguf::FormatError; a crash, a sanitizer report, any other exception
// or an allocation over libFuzzer's -malloc_limit_mb is a bug. What parses must go through
// the writer and read back the same.
#include <graft/gguf/gguf.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

// Reads every value through every accessor; a wrong kind is a graft::Error by design.
size_t touch(const graft::gguf::Value &v) {
    size_t sink = v.to_string(4).size() + v.array_size();
    try {
        sink += static_cast<size_t>(v.as_int());
    } catch (const graft::Error &) {
    }
    try {
        sink += static_cast<size_t>(v.as_uint());
    } catch (const graft::Error &) {
    }
    try {
        sink += static_cast<size_t>(v.as_float() != 0);
    } catch (const graft::Error &) {
    }
    try {
        sink += v.as_bool();
    } catch (const graft::Error &) {
    }
    try {
        sink += v.as_string().size();
    } catch (const graft::Error &) {
    }
    return sink;
}

bool same_float(double a, double b) {
    return a == b || (std::isnan(a) && std::isnan(b));
}

bool same(const graft::gguf::Value &a, const graft::gguf::Value &b) {
    if (a.type != b.type || a.array_type != b.array_type || a.ints != b.ints ||
        a.strings != b.strings || a.floats.size() != b.floats.size())
        return false;
    for (size_t i = 0; i < a.floats.size(); ++i)
        if (!same_float(a.floats[i], b.floats[i]))
            return false;
    const auto *da = std::get_if<double>(&a.scalar);
    const auto *db = std::get_if<double>(&b.scalar);
    if (da && db)
        return same_float(*da, *db);
    return a.scalar == b.scalar;
}

std::filesystem::path scratch_file() {
    const std::filesystem::path shm = "/dev/shm";
    const auto dir =
        std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path();
    return dir / ("graft-fuzz-gguf-" + std::to_string(::getpid()) + ".gguf");
}

// Writes what was read and reads it back: metadata (general.alignment aside, which the
// writer sets from the alignment it writes with), tensor infos and data must survive.
void round_trip(const graft::gguf::File &in) {
    using namespace graft::gguf;
    Writer w;
    for (const KeyValue &kv : in.metadata())
        if (kv.key != "general.alignment")
            w.set_value(kv.key, kv.value);
    for (const TensorInfo &t : in.tensors()) {
        const auto data = in.tensor_data(t);
        w.add_tensor(t.name, t.dtype, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                     std::vector<std::byte>(data.begin(), data.end()));
    }
    static const std::filesystem::path path = scratch_file();
    w.write(path, static_cast<uint32_t>(in.alignment()));
    const auto out = File::open(path);
    std::filesystem::remove(path);
    if (out->alignment() != in.alignment() || out->tensors().size() != in.tensors().size())
        std::abort();
    std::vector<const KeyValue *> a, b;
    for (const KeyValue &kv : in.metadata())
        if (kv.key != "general.alignment")
            a.push_back(&kv);
    for (const KeyValue &kv : out->metadata())
        if (kv.key != "general.alignment")
            b.push_back(&kv);
    if (a.size() != b.size())
        std::abort();
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i]->key != b[i]->key || !same(a[i]->value, b[i]->value))
            std::abort();
    for (size_t i = 0; i < in.tensors().size(); ++i) {
        const TensorInfo &x = in.tensors()[i];
        const TensorInfo &y = out->tensors()[i];
        const auto dx = in.tensor_data(x);
        const auto dy = out->tensor_data(y);
        if (x.name != y.name || x.dtype != y.dtype || x.n_dims != y.n_dims || x.ne != y.ne ||
            !std::equal(dx.begin(), dx.end(), dy.begin(), dy.end()))
            std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace graft::gguf;
    try {
        const auto file = File::parse({reinterpret_cast<const std::byte *>(data), size}, "fuzz");
        size_t sink = file->alignment() + file->data_offset();
        for (const KeyValue &kv : file->metadata()) {
            sink += touch(kv.value);
            if (file->find(kv.key) != &kv.value)
                std::abort(); // keys are unique, so the index must find this one
        }
        for (const TensorInfo &t : file->tensors()) {
            const auto bytes = file->tensor_data(t);
            if (bytes.size() != t.n_bytes || file->tensor(t.name) != &t)
                std::abort();
            if (!bytes.empty())
                sink += static_cast<size_t>(bytes.front()) + static_cast<size_t>(bytes.back());
        }
        round_trip(*file);
        volatile size_t keep = sink;
        (void)keep;
    } catch (const FormatError &) {
    }
    return 0;
}
