// graft's GGUF reader and writer against llama.cpp's (libggml-base, loaded at run time):
// both read the vocabulary files alike, llama.cpp reads what graft writes, and llama.cpp
// refuses the malformed files that graft refuses (save graft's stricter rules).
#include "fault_cases.h"
#include "samples.h"
#include "temp_dir.h"

#include <graft/gguf/gguf.h>

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace graft::gguf {
namespace {

// The few declarations of ggml's gguf.h that the test needs (a stable C API).
struct gguf_context;
struct ggml_context;
struct gguf_init_params {
    bool no_alloc;
    ggml_context **ctx;
};

struct Llama {
    void *handle = nullptr;
    gguf_context *(*init_from_file)(const char *, gguf_init_params) = nullptr;
    gguf_context *(*init_from_buffer)(const void *, size_t, gguf_init_params) = nullptr;
    void (*free)(gguf_context *) = nullptr;
    void (*ggml_free)(ggml_context *) = nullptr;
    uint32_t (*version)(const gguf_context *) = nullptr;
    size_t (*alignment)(const gguf_context *) = nullptr;
    size_t (*data_offset)(const gguf_context *) = nullptr;
    int64_t (*n_kv)(const gguf_context *) = nullptr;
    const char *(*key)(const gguf_context *, int64_t) = nullptr;
    int (*kv_type)(const gguf_context *, int64_t) = nullptr;
    int (*arr_type)(const gguf_context *, int64_t) = nullptr;
    size_t (*arr_n)(const gguf_context *, int64_t) = nullptr;
    const void *(*arr_data)(const gguf_context *, int64_t) = nullptr;
    const char *(*arr_str)(const gguf_context *, int64_t, size_t) = nullptr;
    const char *(*val_str)(const gguf_context *, int64_t) = nullptr;
    const void *(*val_data)(const gguf_context *, int64_t) = nullptr;
    int64_t (*n_tensors)(const gguf_context *) = nullptr;
    const char *(*tensor_name)(const gguf_context *, int64_t) = nullptr;
    size_t (*tensor_offset)(const gguf_context *, int64_t) = nullptr;
    int (*tensor_type)(const gguf_context *, int64_t) = nullptr;
    size_t (*tensor_size)(const gguf_context *, int64_t) = nullptr;
    const int64_t *(*tensor_ne)(const gguf_context *, int64_t) = nullptr;
    std::string missing; // why the library could not be used

    template <typename F> void bind(F &fn, const char *name) {
        fn = reinterpret_cast<F>(::dlsym(handle, name));
        if (!fn && missing.empty())
            missing = std::string("symbol ") + name + " not found";
    }

    Llama() {
        const std::string lib = std::string(GRAFT_LLAMA_DIR) + "/lib/libggml-base.so";
        handle = ::dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            missing = "cannot load " + lib + " (run scripts/fetch-llama.sh)";
            return;
        }
        bind(init_from_file, "gguf_init_from_file");
        bind(init_from_buffer, "gguf_init_from_buffer");
        bind(free, "gguf_free");
        bind(ggml_free, "ggml_free");
        bind(version, "gguf_get_version");
        bind(alignment, "gguf_get_alignment");
        bind(data_offset, "gguf_get_data_offset");
        bind(n_kv, "gguf_get_n_kv");
        bind(key, "gguf_get_key");
        bind(kv_type, "gguf_get_kv_type");
        bind(arr_type, "gguf_get_arr_type");
        bind(arr_n, "gguf_get_arr_n");
        bind(arr_data, "gguf_get_arr_data");
        bind(arr_str, "gguf_get_arr_str");
        bind(val_str, "gguf_get_val_str");
        bind(val_data, "gguf_get_val_data");
        bind(n_tensors, "gguf_get_n_tensors");
        bind(tensor_name, "gguf_get_tensor_name");
        bind(tensor_offset, "gguf_get_tensor_offset");
        bind(tensor_type, "gguf_get_tensor_type");
        bind(tensor_size, "gguf_get_tensor_size");
        bind(tensor_ne, "gguf_get_tensor_ne");
    }
    // never unloaded: ggml keeps global state, as the host does with plugins
};

const Llama &llama() {
    static const Llama instance;
    return instance;
}

#define SKIP_WITHOUT_LLAMA()                                                                       \
    if (!llama().missing.empty())                                                                  \
    GTEST_SKIP() << "llama.cpp oracle unavailable: " << llama().missing

// Loads with the data section (no_alloc = false) so that llama.cpp reads every byte.
struct LlamaFile {
    gguf_context *ctx = nullptr;
    ggml_context *data = nullptr;
    explicit LlamaFile(const std::filesystem::path &path) {
        ctx = llama().init_from_file(path.c_str(), gguf_init_params{false, &data});
    }
    LlamaFile(const void *bytes, size_t size) {
        static const std::byte empty{};
        ctx = llama().init_from_buffer(size ? bytes : &empty, size, gguf_init_params{false, &data});
    }
    ~LlamaFile() {
        if (ctx)
            llama().free(ctx);
        if (data)
            llama().ggml_free(data);
    }
};

size_t element_bytes(ValueType t) {
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
    default:
        return 8;
    }
}

// The value as ggml stores it: little-endian elements of their own width.
std::vector<std::byte> encode_numbers(ValueType t, const Value &v) {
    std::vector<std::byte> out;
    const auto put = [&](const void *p, size_t n) {
        const auto *b = static_cast<const std::byte *>(p);
        out.insert(out.end(), b, b + n);
    };
    const auto put_int = [&](int64_t i) { put(&i, element_bytes(t)); }; // little-endian
    const auto put_float = [&](double d) {
        if (t == ValueType::FLOAT32) {
            const auto f = static_cast<float>(d);
            put(&f, 4);
        } else {
            put(&d, 8);
        }
    };
    if (v.is_array()) {
        for (int64_t i : v.ints)
            put_int(i);
        for (double d : v.floats)
            put_float(d);
    } else if (t == ValueType::FLOAT32 || t == ValueType::FLOAT64) {
        put_float(v.as_float());
    } else if (t == ValueType::BOOL) {
        put_int(v.as_bool());
    } else if (t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 ||
               t == ValueType::UINT64) {
        put_int(static_cast<int64_t>(v.as_uint()));
    } else {
        put_int(v.as_int());
    }
    return out;
}

void expect_same_view(const File &g, const LlamaFile &l) {
    const Llama &L = llama();
    ASSERT_NE(l.ctx, nullptr) << "llama.cpp refused " << g.name();
    EXPECT_EQ(L.version(l.ctx), g.version());
    EXPECT_EQ(L.alignment(l.ctx), g.alignment());
    EXPECT_EQ(L.data_offset(l.ctx), g.data_offset());
    ASSERT_EQ(L.n_kv(l.ctx), static_cast<int64_t>(g.metadata().size()));
    for (int64_t i = 0; i < L.n_kv(l.ctx); ++i) {
        const KeyValue &kv = g.metadata()[static_cast<size_t>(i)];
        const Value &v = kv.value;
        SCOPED_TRACE(kv.key);
        EXPECT_EQ(L.key(l.ctx, i), kv.key);
        ASSERT_EQ(L.kv_type(l.ctx, i), static_cast<int>(v.type));
        const ValueType t = v.is_array() ? v.array_type : v.type;
        if (v.is_array()) {
            ASSERT_EQ(L.arr_type(l.ctx, i), static_cast<int>(v.array_type));
            ASSERT_EQ(L.arr_n(l.ctx, i), v.array_size());
        }
        if (t == ValueType::STRING) {
            if (!v.is_array()) {
                EXPECT_STREQ(L.val_str(l.ctx, i), v.as_string().c_str());
                continue;
            }
            for (size_t j = 0; j < v.strings.size(); ++j) // ggml's strings end at a NUL
                ASSERT_STREQ(L.arr_str(l.ctx, i, j), v.strings[j].c_str()) << "element " << j;
            continue;
        }
        const std::vector<std::byte> expected = encode_numbers(t, v);
        const void *actual = v.is_array() ? L.arr_data(l.ctx, i) : L.val_data(l.ctx, i);
        ASSERT_TRUE(expected.empty() || actual != nullptr);
        EXPECT_TRUE(expected.empty() || std::memcmp(actual, expected.data(), expected.size()) == 0)
            << "values differ: " << v.to_string();
    }
    ASSERT_EQ(L.n_tensors(l.ctx), static_cast<int64_t>(g.tensors().size()));
    for (int64_t i = 0; i < L.n_tensors(l.ctx); ++i) {
        const TensorInfo &t = g.tensors()[static_cast<size_t>(i)];
        SCOPED_TRACE(t.name);
        EXPECT_EQ(L.tensor_name(l.ctx, i), t.name);
        EXPECT_EQ(L.tensor_type(l.ctx, i), static_cast<int>(t.dtype));
        EXPECT_EQ(L.tensor_offset(l.ctx, i), t.offset);
        EXPECT_EQ(L.tensor_size(l.ctx, i), t.n_bytes);
        const int64_t *ne = L.tensor_ne(l.ctx, i);
        for (int d = 0; d < 4; ++d)
            EXPECT_EQ(ne[d], t.ne[static_cast<size_t>(d)]) << "dim " << d;
    }
}

TEST(GgufOracle, VocabFilesReadAsLlamaReadsThem) {
    SKIP_WITHOUT_LLAMA();
    const std::filesystem::path dir = std::filesystem::path(GRAFT_LLAMA_DIR) / "src" / "models";
    int n = 0;
    std::error_code ec;
    for (const auto &e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (!name.starts_with("ggml-vocab-") || !name.ends_with(".gguf"))
            continue;
        SCOPED_TRACE(name);
        expect_same_view(*File::open(e.path()), LlamaFile(e.path()));
        ++n;
    }
    if (n == 0)
        GTEST_SKIP() << "no ggml-vocab-*.gguf under " << dir;
}

class OracleAlignment : public ::testing::TestWithParam<uint32_t> {};

TEST_P(OracleAlignment, LlamaReadsWhatTheWriterWrites) {
    SKIP_WITHOUT_LLAMA();
    testing::TempDir dir;
    Writer w = testing::writer_with_every_value_type();
    const auto tensors = testing::add_sample_tensors(w);
    w.add_tensor_zero("zeros", GRAFT_DTYPE_Q4_K, {512, 3});
    w.add_tensor_generated("generated", GRAFT_DTYPE_F16, {100},
                           [](uint64_t at, std::span<std::byte> out) {
                               for (size_t i = 0; i < out.size(); ++i)
                                   out[i] = static_cast<std::byte>(at + i);
                           });
    const auto path = dir.path() / "written.gguf";
    w.write(path, GetParam());
    const auto g = File::open(path);
    const LlamaFile l(path);
    expect_same_view(*g, l);
    ASSERT_NE(l.ctx, nullptr);
    EXPECT_EQ(llama().tensor_size(l.ctx, 0), tensors[0].data.size());
}

INSTANTIATE_TEST_SUITE_P(Gguf, OracleAlignment, ::testing::Values(1u, 32u, 64u));

class OracleFault : public ::testing::TestWithParam<testing::FaultCase> {};

TEST_P(OracleFault, LlamaRefusesItToo) {
    SKIP_WITHOUT_LLAMA();
    const testing::FaultCase &fault = GetParam();
    const testing::GgufBytes bytes = fault.build();
    const LlamaFile l(bytes.bytes.data(), bytes.size());
    EXPECT_EQ(l.ctx, nullptr) << "llama.cpp accepted " << fault.name;
}

// The others are refused by graft's stricter rules only (docs/design/gguf-hardening.md).
INSTANTIATE_TEST_SUITE_P(Gguf, OracleFault,
                         ::testing::ValuesIn(testing::fault_cases_llama_refuses()),
                         [](const auto &test) { return test.param.name; });

} // namespace
} // namespace graft::gguf
