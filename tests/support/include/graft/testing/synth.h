// Synthetic model files for tests: written by <build>/bin/graft-synth, quantized by the
// llama.cpp oracle, cached in <build>/tests/cache keyed by their parameters so that reruns
// (and other tests asking for the same model) reuse them.
//
// A cached file is rebuilt when the program that made it changed (its size and mtime are
// stamped next to the file). Concurrent test processes asking for the same file wait on a
// lock instead of writing it twice.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace graft::testing {

struct SynthSpec {
    // graft-synth --family: llama, qwen2, qwen3, mixtral, qwen2moe, qwen3moe, deepseek2; empty
    // for the preset's own family (needed with presets other than "tiny" of another family).
    std::string family = "llama";
    std::string preset = "tiny"; // graft-synth --preset: tiny, llama-1b, qwen3-30b-a3b-8l, ...
    // A llama.cpp vocabulary by name (third_party/llama/src/models/ggml-vocab-<name>.gguf)
    // whose tokenizer the model gets; empty: graft-synth's own small vocabulary.
    std::string vocab = "llama-spm";
    std::string dtype = "F32"; // of the matrices as written: F32, F16, BF16
    uint64_t seed = 1;
    std::vector<std::string> extra_args; // further graft-synth flags, e.g. {"--tied"}
    // Quantized afterwards by llama.cpp (graft-oracle quantize) when not empty: F16, BF16,
    // Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, ...
    std::string quant;
    bool quant_pure = false; // every quantizable tensor gets `quant` (no mixture)
};

std::filesystem::path synth_program();
std::filesystem::path test_cache_dir();

// Why synthetic models cannot be made here (graft-synth not built, vocabulary missing,
// oracle missing for `spec.quant`), or nullopt.
std::optional<std::string> synth_unavailable(const SynthSpec &spec = {});

// The graft-synth arguments for `spec`, output path excluded (exposed for the cache key).
std::vector<std::string> synth_args(const SynthSpec &spec);

// Path of the (possibly cached) model; makes it when missing or stale. Throws
// std::runtime_error with the failing program's stderr.
std::filesystem::path synth_model(const SynthSpec &spec);

} // namespace graft::testing
