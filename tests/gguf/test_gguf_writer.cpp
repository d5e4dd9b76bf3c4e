// The writer, checked through the reader: every value type, several dtypes and
// alignments, holes, generated tensors, atomic replacement, refusals.
#include "samples.h"
#include "temp_dir.h"

#include <graft/gguf/gguf.h>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <limits>

namespace graft::gguf {
namespace {

using testing::random_bytes;
using testing::SampleTensor;
using testing::TempDir;

std::vector<std::string> directory_entries(const std::filesystem::path &dir) {
    std::vector<std::string> names;
    for (const auto &e : std::filesystem::directory_iterator(dir))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

TEST(GgufWriter, EveryValueTypeRoundTrips) {
    TempDir dir;
    const Writer w = testing::writer_with_every_value_type();
    const auto path = dir.path() / "values.gguf";
    w.write(path);
    const auto f = File::open(path);
    EXPECT_EQ(f->version(), 3u);
    ASSERT_EQ(f->metadata().size(), w.metadata().size());
    for (size_t i = 0; i < w.metadata().size(); ++i) {
        EXPECT_EQ(f->metadata()[i].key, w.metadata()[i].key);
        EXPECT_TRUE(f->metadata()[i].value == w.metadata()[i].value)
            << w.metadata()[i].key << ": wrote " << w.metadata()[i].value.to_string() << ", read "
            << f->metadata()[i].value.to_string();
    }
    // spot checks that do not go through Value::operator==
    EXPECT_EQ(f->find("u64")->as_uint(), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(f->find("i8")->as_int(), -128);
    EXPECT_EQ(f->find("f32")->as_float(), static_cast<double>(0.1f));
    EXPECT_EQ(f->get_string("string", ""), "h\xc3\xa9llo\nworld");
    EXPECT_EQ(f->find("a.u64")->ints[0], -1);
    EXPECT_EQ(f->find("a.string")->strings[2], std::string("nul\0inside", 10));
    EXPECT_EQ(f->find("a.bool")->array_type, ValueType::BOOL);
    EXPECT_EQ(f->find("a.empty")->array_size(), 0u);
    EXPECT_EQ(f->find("a.f32")->to_string(), "[-0.5, 1e+30, inf]");
}

class WriterAlignment : public ::testing::TestWithParam<uint32_t> {};

TEST_P(WriterAlignment, TensorsOfSeveralDtypesRoundTrip) {
    const uint32_t alignment = GetParam();
    TempDir dir;
    Writer w;
    w.set_string("general.architecture", "llama");
    const std::vector<SampleTensor> cases = testing::add_sample_tensors(w);
    const auto path = dir.path() / "tensors.gguf";
    w.write(path, alignment);
    const auto f = File::open(path);
    EXPECT_EQ(f->alignment(), alignment);
    EXPECT_EQ(f->data_offset() % alignment, 0u);
    EXPECT_EQ(f->find("general.alignment") != nullptr, alignment != 32);
    ASSERT_EQ(f->tensors().size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
        const TensorInfo &t = f->tensors()[i];
        EXPECT_EQ(t.name, "t" + std::to_string(i));
        EXPECT_EQ(t.dtype, cases[i].dtype);
        ASSERT_EQ(t.n_dims, cases[i].ne.size());
        for (uint32_t d = 0; d < 4; ++d)
            EXPECT_EQ(t.ne[d], d < t.n_dims ? cases[i].ne[d] : 1);
        EXPECT_EQ(t.offset % alignment, 0u);
        const auto bytes = f->tensor_data(t);
        ASSERT_EQ(bytes.size(), cases[i].data.size()) << t.name;
        EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), cases[i].data.begin())) << t.name;
    }
}

INSTANTIATE_TEST_SUITE_P(Gguf, WriterAlignment, ::testing::Values(1u, 32u, 64u, 4096u));

TEST(GgufWriter, ZeroTensorIsWrittenAsAHole) {
    TempDir dir;
    Writer w;
    const int64_t n = int64_t{1} << 28; // 1 GiB of F32
    w.add_tensor("small", GRAFT_DTYPE_F32, {4}, random_bytes(16, 1));
    w.add_tensor_zero("huge", GRAFT_DTYPE_F32, {n / 1024, 1024});
    const auto path = dir.path() / "sparse.gguf";
    w.write(path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_GE(static_cast<uint64_t>(st.st_size), uint64_t{4} << 28);
    EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, uint64_t{16} << 20)
        << "the zero tensor took disk blocks";
    const auto f = File::open(path);
    const auto huge = f->tensor_data(*f->tensor("huge"));
    ASSERT_EQ(huge.size(), uint64_t{4} << 28);
    for (size_t at : {size_t{0}, huge.size() / 2, huge.size() - 1})
        EXPECT_EQ(huge[at], std::byte{0});
}

TEST(GgufWriter, GeneratedTensorIsProducedInOrderedChunks) {
    TempDir dir;
    Writer w;
    const int64_t n = 10 << 20; // 10 MiB of I8: more than one chunk
    std::vector<uint64_t> offsets;
    w.add_tensor_generated("gen", GRAFT_DTYPE_I8, {n}, [&](uint64_t at, std::span<std::byte> out) {
        offsets.push_back(at);
        for (size_t i = 0; i < out.size(); ++i)
            out[i] = static_cast<std::byte>((at + i) * 7 % 251);
    });
    const auto path = dir.path() / "gen.gguf";
    w.write(path);
    ASSERT_GE(offsets.size(), 2u);
    EXPECT_EQ(offsets[0], 0u);
    EXPECT_TRUE(std::is_sorted(offsets.begin(), offsets.end()));
    const auto f = File::open(path);
    const auto data = f->tensor_data(*f->tensor("gen"));
    ASSERT_EQ(data.size(), static_cast<size_t>(n));
    for (size_t i = 0; i < data.size(); i += 4099)
        ASSERT_EQ(data[i], static_cast<std::byte>(i * 7 % 251)) << "byte " << i;
}

TEST(GgufWriter, WriteReplacesTheTargetAtomically) {
    TempDir dir;
    const auto path = dir.path() / "model.gguf";
    Writer first;
    first.set_string("general.name", "first");
    first.write(path);
    Writer second;
    second.set_string("general.name", "second");
    second.write(path);
    EXPECT_EQ(File::open(path)->get_string("general.name", ""), "second");

    Writer failing;
    failing.set_string("general.name", "failing");
    failing.add_tensor_generated("t", GRAFT_DTYPE_F32, {8}, [](uint64_t, std::span<std::byte>) {
        throw std::runtime_error("generator broke");
    });
    EXPECT_THROW(failing.write(path), std::runtime_error);
    EXPECT_EQ(File::open(path)->get_string("general.name", ""), "second");
    EXPECT_EQ(directory_entries(dir.path()), std::vector<std::string>{"model.gguf"});
}

TEST(GgufWriter, WriteIntoAMissingDirectoryIsACleanError) {
    TempDir dir;
    Writer w;
    w.set_uint32("x", 1);
    try {
        w.write(dir.path() / "missing" / "model.gguf");
        FAIL() << "write into a missing directory succeeded";
    } catch (const graft::Error &e) {
        EXPECT_NE(std::string(e.what()).find("model.gguf"), std::string::npos) << e.what();
    }
}

TEST(GgufWriter, RefusesWhatTheReaderWouldRefuse) {
    Writer w;
    w.add_tensor_zero("w", GRAFT_DTYPE_F32, {4});
    EXPECT_THROW(w.add_tensor_zero("w", GRAFT_DTYPE_F32, {4}), graft::Error); // duplicate
    EXPECT_THROW(w.add_tensor_zero(std::string(64, 'n'), GRAFT_DTYPE_F32, {4}), graft::Error);
    EXPECT_THROW(w.add_tensor_zero("", GRAFT_DTYPE_F32, {4}), graft::Error);
    EXPECT_THROW(w.add_tensor_zero("q", GRAFT_DTYPE_Q4_0, {33}), graft::Error);  // block
    EXPECT_THROW(w.add_tensor_zero("z", GRAFT_DTYPE_F32, {4, 0}), graft::Error); // zero dim
    EXPECT_THROW(w.add_tensor_zero("d", GRAFT_DTYPE_F32, {1, 1, 1, 1, 1}), graft::Error);
    EXPECT_THROW(w.add_tensor_zero("u", static_cast<graft_dtype>(4), {32}), graft::Error);
    EXPECT_THROW(w.add_tensor("s", GRAFT_DTYPE_F32, {4}, std::vector<std::byte>(15)), graft::Error);
    EXPECT_THROW(w.set_uint32("", 1), graft::Error);
    EXPECT_THROW(Value::make_int_array(ValueType::UINT8, {256}), graft::Error);
    EXPECT_THROW(Value::make_int(ValueType::INT16, 40000), graft::Error);
    Value nested = Value::make_int_array(ValueType::INT32, {1});
    nested.array_type = ValueType::ARRAY;
    EXPECT_THROW(w.set_value("nested", nested), graft::Error);
    Value unknown;
    unknown.type = static_cast<ValueType>(13);
    EXPECT_THROW(w.set_value("unknown", unknown), graft::Error);
    TempDir dir;
    EXPECT_THROW(w.write(dir.path() / "a.gguf", 0), graft::Error);
    EXPECT_THROW(w.write(dir.path() / "a.gguf", 24), graft::Error);
    EXPECT_TRUE(directory_entries(dir.path()).empty());
}

TEST(GgufWriter, SettingAKeyAgainReplacesItInPlace) {
    Writer w;
    w.set_uint32("a", 1);
    w.set_uint32("b", 2);
    w.set_string("a", "x");
    ASSERT_EQ(w.metadata().size(), 2u);
    EXPECT_EQ(w.metadata()[0].key, "a");
    EXPECT_EQ(w.metadata()[0].value.as_string(), "x");
}

TEST(GgufWriter, AlignmentKeyFollowsTheAlignmentWritten) {
    TempDir dir;
    Writer w;
    w.set_uint32("general.alignment", 8);
    w.add_tensor_zero("w", GRAFT_DTYPE_F32, {3});
    w.write(dir.path() / "a.gguf", 64);
    const auto f = File::open(dir.path() / "a.gguf");
    EXPECT_EQ(f->alignment(), 64u);
    EXPECT_EQ(f->metadata().size(), 1u);
}

TEST(GgufDescribe, ListsKeysAndTensors) {
    TempDir dir;
    Writer w;
    w.set_string("general.architecture", "llama");
    w.set_array_int32("ids", {1, 2, 3, 4, 5});
    w.add_tensor_zero("blk.0.attn_q.weight", GRAFT_DTYPE_Q4_K, {256, 4});
    w.write(dir.path() / "d.gguf");
    const std::string text = describe(*File::open(dir.path() / "d.gguf"), 2);
    EXPECT_NE(text.find("GGUF v3, 2 keys, 1 tensors"), std::string::npos) << text;
    EXPECT_NE(text.find("general.architecture' string = 'llama'"), std::string::npos) << text;
    EXPECT_NE(text.find("'ids' array[int32] = [1, 2, ... (5 items)]"), std::string::npos) << text;
    EXPECT_NE(text.find("'blk.0.attn_q.weight' Q4_K [256, 4] offset 0 bytes 576"),
              std::string::npos)
        << text;
}

TEST(GgufValue, ConversionsAndRendering) {
    EXPECT_EQ(Value::make_uint(ValueType::UINT8, 7).as_int(), 7);
    EXPECT_EQ(Value::make_int(ValueType::INT32, -3).as_float(), -3.0);
    EXPECT_EQ(Value::make_float(ValueType::FLOAT64, 4.0).as_int(), 4);
    EXPECT_THROW(Value::make_float(ValueType::FLOAT64, 4.5).as_int(), graft::Error);
    EXPECT_THROW(Value::make_int(ValueType::INT8, -1).as_uint(), graft::Error);
    EXPECT_THROW(Value::make_uint(ValueType::UINT64, ~uint64_t{0}).as_int(), graft::Error);
    EXPECT_THROW(Value::make_string("x").as_int(), graft::Error);
    EXPECT_THROW(Value::make_int_array(ValueType::INT32, {1}).as_int(), graft::Error);
    EXPECT_THROW(Value::make_uint(ValueType::UINT32, 2).as_bool(), graft::Error);
    EXPECT_TRUE(Value::make_uint(ValueType::UINT32, 1).as_bool());
    EXPECT_EQ(Value::make_string("a'b").to_string(), "'a\\'b'");
    EXPECT_EQ(Value::make_int_array(ValueType::INT32, {1, 2, 3, 4}).to_string(2),
              "[1, 2, ... (4 items)]");
    EXPECT_EQ(Value::make_int_array(ValueType::UINT64, {-1}).to_string(), "[18446744073709551615]");
    EXPECT_EQ(Value::make_string_array({"a", "b"}).array_size(), 2u);
    EXPECT_STREQ(value_type_name(ValueType::FLOAT64), "float64");
    EXPECT_STREQ(value_type_name(static_cast<ValueType>(99)), "unknown");
}

TEST(GgufDtype, TraitsComeFromTheSdkTable) {
    EXPECT_STREQ(dtype_traits(GRAFT_DTYPE_Q4_K).name, "Q4_K");
    EXPECT_EQ(dtype_traits(GRAFT_DTYPE_Q4_K).block_size, 256);
    EXPECT_EQ(dtype_traits(GRAFT_DTYPE_Q4_K).block_bytes, 144u);
    EXPECT_FALSE(dtype_known(4));
    EXPECT_FALSE(dtype_known(GRAFT_DTYPE_COUNT));
    EXPECT_TRUE(dtype_known(GRAFT_DTYPE_MXFP4));
    EXPECT_EQ(row_bytes(GRAFT_DTYPE_Q8_0, 64), 68u);
    EXPECT_THROW(row_bytes(GRAFT_DTYPE_Q8_0, 33), FormatError);
    EXPECT_THROW(row_bytes(GRAFT_DTYPE_F32, 0), FormatError);
    for (uint32_t id = 0; id < GRAFT_DTYPE_COUNT; ++id)
        EXPECT_EQ(dtype_known(id), dtype_traits(static_cast<graft_dtype>(id)).block_size != 0);
}

} // namespace
} // namespace graft::gguf
