// The built-in vocabulary of synthetic models (private to core/models).
#pragma once

#include <graft/gguf/gguf.h>

#include <cstdint>

namespace graft::models {

// Writes tokenizer.* keys of a byte-level BPE vocabulary of exactly n_vocab (>= 257) tokens.
void write_builtin_vocab(gguf::Writer &w, int64_t n_vocab);

} // namespace graft::models
