// Helpers that add modules whose weights are checked against the shapes a family
// expects (private to core/models).
#pragma once

#include <graft/gguf/gguf.h>
#include <graft/models/module.h>

#include <cstdint>
#include <string>
#include <vector>

namespace graft::models {

// A weight to look up: its role, tensor name, expected shape (GGUF order) and whether
// the model is incomplete without it.
struct WeightSpec {
    std::string role;
    std::string tensor;
    std::vector<int64_t> shape;
    bool required = true;
};

class TreeBuilder {
  public:
    TreeBuilder(const gguf::File &file, const HParams &hparams) : file_(file), hp_(hparams) {}
    const gguf::File &file() const { return file_; }
    const HParams &hparams() const { return hp_; }

    // The tensor, checked against `shape`; nullptr when absent and not required.
    // Throws graft::Error naming the tensor and the expected shape when it is missing
    // (and required) or shaped otherwise.
    const gguf::TensorInfo *tensor(const std::string &name, const std::vector<int64_t> &shape,
                                   bool required) const;
    Module *weighted(Module &parent, std::string name, std::string cls, std::string op,
                     const std::vector<WeightSpec> &weights) const;
    // Linear from "<base>.weight" (n_in, n_out) and an optional "<base>.bias" (n_out).
    Module *linear(Module &parent, std::string name, const std::string &base, int64_t n_in,
                   int64_t n_out) const;
    Module *rmsnorm(Module &parent, std::string name, const std::string &tensor, int64_t n) const;
    // RotaryEmbedding with rope_freqs.weight (n_rot / 2) as freq_factors when present.
    Module *rotary(Module &parent) const;

  private:
    const gguf::File &file_;
    const HParams &hp_;
};

} // namespace graft::models
