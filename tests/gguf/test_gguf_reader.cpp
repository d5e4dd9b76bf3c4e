// The reader: one test per class of malformed file, well-formed edge cases, open() errors.
#include "fault_cases.h"
#include "temp_dir.h"

#include <graft/gguf/gguf.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <sys/stat.h>

namespace graft::gguf {
namespace {

using testing::FaultCase;
using testing::GgufBytes;
using testing::TempDir;

class ReaderFault : public ::testing::TestWithParam<FaultCase> {};

TEST_P(ReaderFault, IsRefusedWithAMessageNamingIt) {
    const FaultCase &fault = GetParam();
    const GgufBytes bytes = fault.build();
    try {
        File::parse(bytes.span(), "crafted.gguf");
        FAIL() << "parse() accepted a file with fault " << fault.name;
    } catch (const FormatError &e) {
        const std::string message = e.what();
        EXPECT_EQ(message.rfind("crafted.gguf: ", 0), 0u) << message;
        for (const std::string &word : fault.words)
            EXPECT_NE(message.find(word), std::string::npos)
                << "message lacks \"" << word << "\": " << message;
    }
}

INSTANTIATE_TEST_SUITE_P(Gguf, ReaderFault, ::testing::ValuesIn(testing::fault_cases()),
                         [](const auto &test) { return test.param.name; });

// Every strict prefix of a valid file is refused as malformed, never accepted or crashed on.
TEST(GgufReader, EveryTruncationOfAValidFileIsRefused) {
    GgufBytes b;
    b.header(2, 3)
        .kv_string("general.name", "tiny")
        .kv_u32("general.alignment", 16)
        .str("tokens")
        .u32(static_cast<uint32_t>(ValueType::ARRAY))
        .u32(static_cast<uint32_t>(ValueType::STRING))
        .u64(2)
        .str("a")
        .str("bc")
        .tensor_info("w", {4, 2}, GRAFT_DTYPE_F32, 0)
        .tensor_info("q", {32}, GRAFT_DTYPE_Q8_0, 32);
    b.pad_to(16).zeros(32 + 34);
    ASSERT_NO_THROW(File::parse(b.span(), "whole"));
    for (size_t n = 0; n < b.size(); ++n) {
        const std::span<const std::byte> prefix = b.span().first(n);
        EXPECT_THROW(File::parse(prefix, "prefix"), FormatError) << "prefix of " << n << " bytes";
    }
}

TEST(GgufReader, EmptyFileWithoutTensorsIsValid) {
    GgufBytes b;
    b.header(0, 0);
    const auto f = File::parse(b.span(), "empty");
    EXPECT_EQ(f->version(), 3u);
    EXPECT_TRUE(f->metadata().empty());
    EXPECT_TRUE(f->tensors().empty());
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->data_offset(), 24u); // not padded when there are no tensors, as ggml
}

TEST(GgufReader, VersionTwoIsRead) {
    GgufBytes b;
    b.header(1, 1, 2).kv_u32("n", 5).tensor_info("w", {8}, GRAFT_DTYPE_F16, 0);
    b.pad_to(32).zeros(16);
    const auto f = File::parse(b.span(), "v2");
    EXPECT_EQ(f->version(), 2u);
    EXPECT_EQ(f->get_int("n", 0), 5);
    ASSERT_NE(f->tensor("w"), nullptr);
    EXPECT_EQ(f->tensor("w")->n_bytes, 16u);
}

TEST(GgufReader, CustomAlignmentPlacesTheDataSection) {
    GgufBytes b;
    b.header(1, 1).kv_u32("general.alignment", 256).tensor_info("w", {3}, GRAFT_DTYPE_F32, 0);
    const size_t header_end = b.size();
    b.pad_to(256);
    for (uint32_t i = 1; i <= 3; ++i)
        b.put(static_cast<float>(i));
    const auto f = File::parse(b.span(), "aligned");
    EXPECT_EQ(f->alignment(), 256u);
    EXPECT_EQ(f->data_offset(), (header_end + 255) / 256 * 256);
    const auto data = f->tensor_data(*f->tensor("w"));
    ASSERT_EQ(data.size(), 12u);
    float third = 0;
    std::memcpy(&third, data.data() + 8, 4);
    EXPECT_EQ(third, 3.0f);
}

TEST(GgufReader, TensorsMayBeStoredInAnyOrderWithGaps) {
    GgufBytes b;
    b.header(3, 0)
        .tensor_info("late", {8}, GRAFT_DTYPE_F32, 128)
        .tensor_info("early", {8}, GRAFT_DTYPE_F32, 0)
        .tensor_info("scalar", {}, GRAFT_DTYPE_F32, 64);
    b.pad_to(32).zeros(160);
    const auto f = File::parse(b.span(), "order");
    ASSERT_EQ(f->tensors().size(), 3u);
    EXPECT_EQ(f->tensors()[0].name, "late");
    EXPECT_EQ(f->tensor("late")->offset, 128u);
    const TensorInfo *scalar = f->tensor("scalar");
    ASSERT_NE(scalar, nullptr);
    EXPECT_EQ(scalar->n_dims, 0u);
    EXPECT_EQ(scalar->n_elements(), 1);
    EXPECT_EQ(scalar->n_bytes, 4u);
}

TEST(GgufReader, BoolBytesOtherThanOneReadAsTrue) {
    GgufBytes b;
    b.header(0, 1).str("flag").u32(static_cast<uint32_t>(ValueType::BOOL)).u8(2);
    const auto f = File::parse(b.span(), "bool");
    EXPECT_TRUE(f->get_bool("flag", false));
}

TEST(GgufReader, TypedGettersNameTheKeyOnAWrongKind) {
    GgufBytes b;
    b.header(0, 2).kv_string("general.name", "x").kv_u32("count", 3);
    const auto f = File::parse(b.span(), "getters");
    EXPECT_EQ(f->get_int("missing", -7), -7);
    EXPECT_EQ(f->get_string("missing", "fallback"), "fallback");
    EXPECT_DOUBLE_EQ(f->get_float("count", 0), 3.0);
    try {
        f->get_int("general.name", 0);
        FAIL() << "get_int accepted a string";
    } catch (const graft::Error &e) {
        EXPECT_NE(std::string(e.what()).find("general.name"), std::string::npos) << e.what();
    }
}

TEST(GgufReader, TensorDataRefusesAForeignTensorInfo) {
    GgufBytes b;
    b.header(1, 0).tensor_info("w", {8}, GRAFT_DTYPE_F32, 0);
    b.pad_to(32).zeros(32);
    const auto f = File::parse(b.span(), "small");
    TensorInfo foreign = *f->tensor("w");
    foreign.offset = 1024;
    EXPECT_THROW(f->tensor_data(foreign), graft::Error);
}

TEST(GgufOpen, MissingFileIsACleanError) {
    TempDir dir;
    const auto missing = dir.path() / "no-such-model.gguf";
    try {
        File::open(missing);
        FAIL() << "open() of a missing file succeeded";
    } catch (const FormatError &e) {
        FAIL() << "a missing file is not a format error: " << e.what();
    } catch (const graft::Error &e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("no-such-model.gguf"), std::string::npos) << message;
        EXPECT_NE(message.find("No such file"), std::string::npos) << message;
    }
}

TEST(GgufOpen, DirectoryIsACleanError) {
    TempDir dir;
    try {
        File::open(dir.path());
        FAIL() << "open() of a directory succeeded";
    } catch (const FormatError &e) {
        FAIL() << "a directory is not a format error: " << e.what();
    } catch (const graft::Error &e) {
        EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
    }
}

TEST(GgufOpen, FifoIsACleanErrorNotAHang) {
    TempDir dir;
    const auto fifo = dir.path() / "pipe.gguf";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    try {
        File::open(fifo);
        FAIL() << "open() of a FIFO succeeded";
    } catch (const FormatError &e) {
        FAIL() << "a FIFO is not a format error: " << e.what();
    } catch (const graft::Error &e) {
        EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
    }
}

TEST(GgufOpen, MalformedFileOnDiskIsAFormatError) {
    TempDir dir;
    const auto path = dir.path() / "bad.gguf";
    std::ofstream(path) << "GGUF";
    try {
        File::open(path);
        FAIL() << "open() accepted a 4-byte file";
    } catch (const FormatError &e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("bad.gguf"), std::string::npos) << message;
        EXPECT_NE(message.find("truncated header"), std::string::npos) << message;
    }
    const auto empty = dir.path() / "empty.gguf";
    std::ofstream{empty};
    EXPECT_THROW(File::open(empty), FormatError);
}

} // namespace
} // namespace graft::gguf
