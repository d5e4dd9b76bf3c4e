// Synthetic models: seeded, scaled, sparse, vocabulary copied, bad shapes refused.
#include "synth_fixture.h"

#include <graft/models/module.h>
#include <graft/models/synth.h>
#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace graft::models {
namespace {

using test::TempDir;

std::string slurp(const std::filesystem::path &p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

SynthReport write(const std::filesystem::path &path, const std::string &family, uint64_t seed,
                  graft_dtype dtype = GRAFT_DTYPE_F16) {
    SynthOptions o;
    o.shape = synth_preset("tiny", family);
    o.seed = seed;
    o.dtype = dtype;
    return write_synthetic(o, path);
}

std::vector<float> values(const gguf::File &f, const std::string &name) {
    const gguf::TensorInfo *t = f.tensor(name);
    EXPECT_NE(t, nullptr) << name;
    if (!t)
        return {};
    const auto bytes = f.tensor_data(*t);
    std::vector<float> out(static_cast<size_t>(t->n_elements()));
    for (size_t i = 0; i < out.size(); ++i) {
        if (t->dtype == GRAFT_DTYPE_F32) {
            std::memcpy(&out[i], bytes.data() + 4 * i, 4);
        } else {
            uint16_t h;
            std::memcpy(&h, bytes.data() + 2 * i, 2);
            out[i] = t->dtype == GRAFT_DTYPE_F16 ? sdk::fp16_to_fp32(h) : sdk::bf16_to_fp32(h);
        }
    }
    return out;
}

void mean_std(const std::vector<float> &v, double *mean, double *std) {
    double s = 0, s2 = 0;
    for (float x : v) {
        s += x;
        s2 += static_cast<double>(x) * x;
    }
    *mean = s / static_cast<double>(v.size());
    *std = std::sqrt(s2 / static_cast<double>(v.size()) - *mean * *mean);
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherBytes) {
    TempDir dir;
    write(dir / "a.gguf", "qwen3moe", 7);
    write(dir / "b.gguf", "qwen3moe", 7);
    write(dir / "c.gguf", "qwen3moe", 8);
    const std::string a = slurp(dir / "a.gguf"), b = slurp(dir / "b.gguf"),
                      c = slurp(dir / "c.gguf");
    EXPECT_GT(a.size(), 1000000u);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.size(), c.size());
    EXPECT_NE(a, c);
}

TEST(Synth, WeightsAreScaledAndNormsNearOne) {
    TempDir dir;
    for (graft_dtype dtype : {GRAFT_DTYPE_F32, GRAFT_DTYPE_F16, GRAFT_DTYPE_BF16}) {
        SCOPED_TRACE(sdk::dtype_name(dtype));
        write(dir / "m.gguf", "llama", 1, dtype);
        const auto f = gguf::File::open(dir / "m.gguf");
        EXPECT_EQ(f->tensor("blk.0.attn_q.weight")->dtype, dtype);
        EXPECT_EQ(f->tensor("blk.0.attn_norm.weight")->dtype, GRAFT_DTYPE_F32);
        double mean = 0, std = 0;
        mean_std(values(*f, "blk.0.ffn_up.weight"), &mean, &std);
        EXPECT_NEAR(mean, 0.0, 0.002);
        EXPECT_NEAR(std, 0.02, 0.002);
        mean_std(values(*f, "blk.1.ffn_norm.weight"), &mean, &std);
        EXPECT_NEAR(mean, 1.0, 0.01);
        EXPECT_LT(std, 0.05);
        EXPECT_EQ(f->get_int("general.file_type", -1), dtype == GRAFT_DTYPE_F32   ? 0
                                                       : dtype == GRAFT_DTYPE_F16 ? 1
                                                                                  : 32);
    }
}

TEST(Synth, TensorsDifferFromEachOther) {
    TempDir dir;
    write(dir / "m.gguf", "llama", 1);
    const auto f = gguf::File::open(dir / "m.gguf");
    EXPECT_NE(values(*f, "blk.0.attn_k.weight"), values(*f, "blk.0.attn_v.weight"));
}

TEST(Synth, MetadataLlamaCppNeeds) {
    TempDir dir;
    write(dir / "ds.gguf", "deepseek2", 1);
    const auto f = gguf::File::open(dir / "ds.gguf");
    for (const char *key :
         {"deepseek2.context_length", "deepseek2.embedding_length", "deepseek2.block_count",
          "deepseek2.feed_forward_length", "deepseek2.attention.head_count",
          "deepseek2.attention.head_count_kv", "deepseek2.attention.layer_norm_rms_epsilon",
          "deepseek2.rope.dimension_count", "deepseek2.attention.q_lora_rank",
          "deepseek2.attention.kv_lora_rank", "deepseek2.attention.key_length_mla",
          "deepseek2.attention.value_length_mla", "deepseek2.expert_feed_forward_length",
          "deepseek2.expert_count", "deepseek2.expert_used_count", "deepseek2.expert_shared_count",
          "deepseek2.leading_dense_block_count", "deepseek2.expert_gating_func",
          "tokenizer.ggml.model"})
        EXPECT_NE(f->find(key), nullptr) << key;
}

TEST(Synth, SparseFilesTakeNoDisk) {
    TempDir dir;
    SynthOptions o;
    o.shape = synth_preset("qwen3-30b-a3b-8l", "");
    o.sparse = true;
    const SynthReport r = write_synthetic(o, dir / "big.gguf");
    EXPECT_GT(r.file_size, uint64_t{8} << 30);
    EXPECT_EQ(r.file_size, std::filesystem::file_size(dir / "big.gguf"));
    struct stat st {};
    ASSERT_EQ(::stat((dir / "big.gguf").c_str(), &st), 0);
    EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512u, uint64_t{64} << 20);
    // The 1-D tensors keep their values: norms are not zero.
    const auto f = gguf::File::open(dir / "big.gguf");
    double mean = 0, std = 0;
    mean_std(values(*f, "blk.3.attn_norm.weight"), &mean, &std);
    EXPECT_NEAR(mean, 1.0, 0.01);
    EXPECT_EQ(r.n_params, 5607297024u);
}

TEST(Synth, VocabularyIsCopied) {
    const std::filesystem::path vocab =
        std::filesystem::path(GRAFT_LLAMA_DIR) / "src/models/ggml-vocab-qwen2.gguf";
    if (!std::filesystem::exists(vocab))
        GTEST_SKIP() << "no " << vocab << " (run scripts/fetch-llama.sh)";
    TempDir dir;
    SynthOptions o;
    o.shape = synth_preset("tiny", "qwen2");
    o.vocab = vocab;
    o.sparse = true;
    const SynthReport r = write_synthetic(o, dir / "q.gguf");
    const auto src = gguf::File::open(vocab);
    const auto f = gguf::File::open(dir / "q.gguf");
    EXPECT_EQ(static_cast<size_t>(r.n_vocab), src->find("tokenizer.ggml.tokens")->array_size());
    for (const gguf::KeyValue &kv : src->metadata()) {
        if (kv.key.rfind("tokenizer.", 0) != 0)
            continue;
        const gguf::Value *copy = f->find(kv.key);
        ASSERT_NE(copy, nullptr) << kv.key;
        EXPECT_TRUE(*copy == kv.value) << kv.key;
    }
    EXPECT_EQ(f->tensor("token_embd.weight")->ne[1], r.n_vocab);
    EXPECT_EQ(build_model(*f).hparams.n_vocab, r.n_vocab);
}

TEST(Synth, BadShapesAreRefused) {
    TempDir dir;
    SynthOptions o;
    o.shape = synth_preset("tiny", "llama");
    o.shape.n_head_kv = 3;
    EXPECT_THROW(write_synthetic(o, dir / "x.gguf"), Error);
    o.shape = synth_preset("tiny", "qwen3moe");
    o.shape.n_expert_used = 9;
    EXPECT_THROW(write_synthetic(o, dir / "x.gguf"), Error);
    o.shape = synth_preset("tiny", "llama");
    o.dtype = GRAFT_DTYPE_Q4_0;
    EXPECT_THROW(write_synthetic(o, dir / "x.gguf"), Error);
    EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
}

TEST(Synth, PresetsAndFamilies) {
    for (const auto &family : supported_families())
        EXPECT_EQ(synth_preset("tiny", family).family, family);
    EXPECT_EQ(synth_preset("llama-1b", "").n_embd, 2048);
    EXPECT_EQ(synth_preset("deepseek-v2-lite", "deepseek2").n_layer, 27);
    EXPECT_THROW(synth_preset("llama-1b", "qwen2"), Error);
    EXPECT_THROW(synth_preset("huge", ""), Error);
    EXPECT_THROW(synth_preset("tiny", "gemma"), Error);
}

std::string run(const std::string &command, int *status) {
    std::string out;
    FILE *p = ::popen(command.c_str(), "r");
    if (!p)
        return out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;)
        out.append(buf, n);
    *status = ::pclose(p);
    return out;
}

TEST(SynthCommand, WritesWhatItSays) {
    const std::filesystem::path synth = std::filesystem::path(GRAFT_BINARY_DIR) / "bin/graft-synth";
    if (!std::filesystem::exists(synth))
        GTEST_SKIP() << "graft-synth is not built (" << synth << ")";
    TempDir dir;
    int status = -1;
    const std::string help = run(synth.string() + " --help", &status);
    EXPECT_EQ(status, 0);
    for (const char *word : {"--preset", "--family", "--vocab", "--sparse", "llama-1b",
                             "qwen3-30b-a3b-8l", "deepseek-v2-lite", "deepseek2"})
        EXPECT_NE(help.find(word), std::string::npos) << word;
    const auto out = dir / "m.gguf";
    const std::string said = run(synth.string() + " --family deepseek2 --n-layer 4 --dtype BF16 " +
                                     "--seed 3 -o " + out.string(),
                                 &status);
    ASSERT_EQ(status, 0) << said;
    EXPECT_NE(said.find("wrote " + out.string()), std::string::npos) << said;
    EXPECT_NE(said.find("4 layers"), std::string::npos) << said;
    const auto f = gguf::File::open(out);
    const Model m = build_model(*f);
    EXPECT_EQ(m.hparams.n_layer, 4);
    EXPECT_EQ(m.find("model.layers.3.mlp.experts")->weights[0].tensor->dtype, GRAFT_DTYPE_BF16);
    // Same flags through the library give the same bytes.
    SynthOptions o;
    o.shape = synth_preset("tiny", "deepseek2");
    o.shape.n_layer = 4;
    o.dtype = GRAFT_DTYPE_BF16;
    o.seed = 3;
    write_synthetic(o, dir / "lib.gguf");
    EXPECT_EQ(slurp(out), slurp(dir / "lib.gguf"));
    run(synth.string() + " --preset nope -o " + (dir / "x.gguf").string() + " 2>&1", &status);
    EXPECT_NE(status, 0);
}

} // namespace
} // namespace graft::models
