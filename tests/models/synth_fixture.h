// Test helpers: temporary directories, tiny synthetic models, and rewriting a GGUF with
// tensors dropped, reshaped or retyped (data as holes) and metadata changed.
// Shared by tests/models and tests/rules.
#pragma once

#include <graft/gguf/gguf.h>
#include <graft/models/module.h>
#include <graft/models/synth.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace graft::test {

// A directory removed with everything in it when the object goes.
class TempDir {
  public:
    TempDir() {
        const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string leaf = "graft-test-" + std::to_string(::getpid());
        if (info)
            leaf += std::string("-") + info->test_suite_name() + "-" + info->name();
        for (char &c : leaf)
            if (c == '/')
                c = '_';
        path_ = std::filesystem::temp_directory_path() / leaf;
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::filesystem::path &path() const { return path_; }
    std::filesystem::path operator/(const std::string &leaf) const { return path_ / leaf; }

  private:
    std::filesystem::path path_;
};

// The tiny preset of a family, written to dir/<family>.gguf (no tokenizer: n_vocab 512).
inline std::filesystem::path
write_tiny(const std::string &family, const std::filesystem::path &dir,
           graft_dtype dtype = GRAFT_DTYPE_F16,
           const std::function<void(models::SynthShape &)> &adjust = {}) {
    models::SynthOptions options;
    options.shape = models::synth_preset("tiny", family);
    if (adjust)
        adjust(options.shape);
    options.dtype = dtype;
    options.sparse = true; // tree and plan tests read no weights
    const auto path = dir / (family + ".gguf");
    models::write_synthetic(options, path);
    return path;
}

// What to change when copying a GGUF. Tensor data is not copied: every tensor is a hole.
struct Rewrite {
    std::set<std::string> drop_tensors;
    std::map<std::string, std::vector<int64_t>> reshape;
    // New dtype for a tensor (called for each); return the tensor's own to keep it.
    std::function<graft_dtype(const gguf::TensorInfo &)> retype;
    std::set<std::string> drop_keys;
    std::map<std::string, std::string> set_strings;
    std::map<std::string, uint32_t> set_uint32;
};

inline void rewrite(const std::filesystem::path &src, const std::filesystem::path &dst,
                    const Rewrite &r) {
    const auto file = gguf::File::open(src);
    gguf::Writer w;
    for (const gguf::KeyValue &kv : file->metadata())
        if (!r.drop_keys.count(kv.key) && kv.key != "general.alignment")
            w.set_value(kv.key, kv.value);
    for (const auto &[k, v] : r.set_strings)
        w.set_string(k, v);
    for (const auto &[k, v] : r.set_uint32)
        w.set_uint32(k, v);
    for (const gguf::TensorInfo &t : file->tensors()) {
        if (r.drop_tensors.count(t.name))
            continue;
        std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + std::max<uint32_t>(1, t.n_dims));
        if (auto it = r.reshape.find(t.name); it != r.reshape.end())
            ne = it->second;
        const graft_dtype dtype = r.retype ? r.retype(t) : t.dtype;
        w.add_tensor_zero(t.name, dtype, ne);
    }
    w.write(dst);
}

// Every matrix (2-D or 3-D tensor) as `dtype`, 1-D tensors kept: a stand-in for a
// quantised file (graft-synth writes float weights only).
inline std::function<graft_dtype(const gguf::TensorInfo &)> matrices_as(graft_dtype dtype) {
    return [dtype](const gguf::TensorInfo &t) { return t.n_dims >= 2 ? dtype : t.dtype; };
}

} // namespace graft::test
