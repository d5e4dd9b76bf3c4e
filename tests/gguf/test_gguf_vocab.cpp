// The vocabulary GGUFs that ship with llama.cpp: every one parses, and survives a copy
// through the writer unchanged. Skips when scripts/fetch-llama.sh has not been run.
#include "temp_dir.h"

#include <graft/gguf/gguf.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace graft::gguf {
namespace {

std::vector<std::filesystem::path> vocab_files() {
    const std::filesystem::path dir = std::filesystem::path(GRAFT_LLAMA_DIR) / "src" / "models";
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto &e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.starts_with("ggml-vocab-") && name.ends_with(".gguf"))
            files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<char> file_bytes(const std::filesystem::path &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(GgufVocab, EveryVocabFileParses) {
    const auto files = vocab_files();
    if (files.empty())
        GTEST_SKIP() << "no ggml-vocab-*.gguf under " << GRAFT_LLAMA_DIR
                     << "/src/models (run scripts/fetch-llama.sh)";
    for (const auto &path : files) {
        SCOPED_TRACE(path.filename().string());
        std::unique_ptr<File> f;
        ASSERT_NO_THROW(f = File::open(path));
        EXPECT_FALSE(f->get_string("tokenizer.ggml.model", "").empty());
        const Value *tokens = f->find("tokenizer.ggml.tokens");
        ASSERT_NE(tokens, nullptr);
        ASSERT_TRUE(tokens->is_array());
        EXPECT_EQ(tokens->array_type, ValueType::STRING);
        EXPECT_GT(tokens->array_size(), 100u);
        for (const char *parallel : {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"})
            if (const Value *v = f->find(parallel)) {
                EXPECT_EQ(v->array_size(), tokens->array_size()) << parallel;
            }
        for (const TensorInfo &t : f->tensors())
            EXPECT_EQ(f->tensor_data(t).size(), t.n_bytes) << t.name;
    }
}

// Copying every key with set_value (vocabularies included) and every tensor writes the
// same bytes again: the writer lays a file out exactly as llama.cpp's converter does.
TEST(GgufVocab, CopyThroughTheWriterIsByteIdentical) {
    const auto files = vocab_files();
    if (files.empty())
        GTEST_SKIP() << "no ggml-vocab-*.gguf under " << GRAFT_LLAMA_DIR << "/src/models";
    testing::TempDir dir;
    for (const auto &path : files) {
        SCOPED_TRACE(path.filename().string());
        const auto f = File::open(path);
        Writer w;
        for (const KeyValue &kv : f->metadata())
            w.set_value(kv.key, kv.value);
        for (const TensorInfo &t : f->tensors()) {
            const auto data = f->tensor_data(t);
            w.add_tensor(t.name, t.dtype,
                         std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                         std::vector<std::byte>(data.begin(), data.end()));
        }
        const auto copy = dir.path() / path.filename();
        w.write(copy, static_cast<uint32_t>(f->alignment()));
        const auto g = File::open(copy);
        ASSERT_EQ(g->metadata().size(), f->metadata().size());
        for (size_t i = 0; i < f->metadata().size(); ++i)
            EXPECT_TRUE(g->metadata()[i].key == f->metadata()[i].key &&
                        g->metadata()[i].value == f->metadata()[i].value)
                << f->metadata()[i].key;
        if (f->version() == 3) {
            EXPECT_TRUE(file_bytes(copy) == file_bytes(path));
        }
        std::filesystem::remove(copy);
    }
}

} // namespace
} // namespace graft::gguf
