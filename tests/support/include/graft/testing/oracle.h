// Client of tests/oracle/graft-oracle, llama.cpp run as a separate program: locating it,
// running its subcommands and parsing what they print. Every call throws
// std::runtime_error (with the oracle's stderr) when the oracle fails.
//
// Tests that need the oracle start with GRAFT_REQUIRE_ORACLE() (see skip.h), so they skip
// with a reason when llama.cpp was not fetched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace graft::testing {

// Where scripts/fetch-llama.sh put llama.cpp (third_party/llama), from the build's
// GRAFT_LLAMA_DIR.
std::filesystem::path llama_dir();
// A vocabulary GGUF shipped with llama.cpp's source, e.g. "llama-spm" ->
// third_party/llama/src/models/ggml-vocab-llama-spm.gguf.
std::filesystem::path llama_vocab(std::string_view name);
// Why llama.cpp's source tree (vocabularies, templates) is unusable, or nullopt.
std::optional<std::string> llama_source_unavailable();

// The oracle's path (<build>/tests/oracle/graft-oracle).
std::filesystem::path oracle_path();
// Why the oracle cannot run (not built, llama.cpp absent), or nullopt when it can.
std::optional<std::string> oracle_unavailable();

// Runs the oracle with raw arguments; throws unless it exits 0. For what no wrapper covers.
std::string oracle_run(const std::vector<std::string> &args);

struct TokenizeOptions {
    bool add_special = true;   // BOS/EOS as the vocabulary asks
    bool parse_special = true; // "<|eot_id|>" in the text becomes the special token
};
std::vector<int32_t> oracle_tokenize(const std::filesystem::path &vocab, std::string_view text,
                                     TokenizeOptions options = {});

// Many texts in one oracle run (loading a large vocabulary costs more than tokenizing).
// Texts may hold any bytes except the marker "__ggml_vocab_test__" (std::invalid_argument).
std::vector<std::vector<int32_t>> oracle_tokenize_many(const std::filesystem::path &vocab,
                                                       const std::vector<std::string> &texts,
                                                       TokenizeOptions options = {});

struct DetokenizeOptions {
    bool remove_special = false; // drop BOS/EOS where the vocabulary adds them
    bool render_special = true;  // print special tokens' text
};
std::string oracle_detokenize(const std::filesystem::path &vocab, std::span<const int32_t> tokens,
                              DetokenizeOptions options = {});

// How llama.cpp evaluates. Defaults favour exact comparison: F32 KV cache, no flash
// attention, the whole prompt as one batch.
struct EvalOptions {
    int threads = 0;                // 0 = all cores
    std::string kv_type = "f32";    // f32 | f16 | bf16 | q8_0
    std::string flash_attn = "off"; // off | on | auto
    int batch = 0;                  // tokens per llama_decode call; 0 = whole prompt
    bool repack = true;             // ggml's CPU weight repacking (llama.cpp's default)
};

// Rows of logits, position-major: row(i) is the n_vocab logits of the i-th row.
struct LogitRows {
    size_t n_vocab = 0;
    size_t n_rows = 0;
    std::vector<float> values;
    std::span<const float> row(size_t i) const;
};

// Logits of the last position, or of every position when `all_positions`.
LogitRows oracle_logits(const std::filesystem::path &model, std::span<const int32_t> tokens,
                        bool all_positions, const EvalOptions &options = {});

// Prefill `prompt`, then feed the greedy token `steps` times one at a time. `fed` are the
// tokens fed; logits has steps+1 rows: after the prompt, then after each fed token. Row i
// belongs to position prompt.size() - 1 + i of the sequence prompt + fed.
struct DecodeSteps {
    std::vector<int32_t> fed;
    LogitRows logits;
};
DecodeSteps oracle_decode_steps(const std::filesystem::path &model, std::span<const int32_t> prompt,
                                int steps, const EvalOptions &options = {});

// Greedy continuation (ties to the lowest id); stops before an end-of-generation token
// unless `ignore_eos`.
std::vector<int32_t> oracle_generate(const std::filesystem::path &model,
                                     std::span<const int32_t> prompt, int n_predict,
                                     bool ignore_eos = false, const EvalOptions &options = {});

// llama.cpp's quantizer; `pure` gives every quantizable tensor `type` (no mixture).
void oracle_quantize(const std::filesystem::path &input, const std::filesystem::path &output,
                     const std::string &type, bool pure = false);

// Tensors of a GGUF as ggml reads them.
struct TensorSummary {
    std::string name;
    std::string type;        // ggml's name: "f32", "q4_K", ...
    std::vector<int64_t> ne; // innermost first, trailing 1s dropped
};
std::vector<TensorSummary> oracle_tensors(const std::filesystem::path &gguf);

// key=value lines of `graft-oracle info`: llama.cpp's view of the vocabulary (n_vocab, bos,
// eos, eot, add_bos, add_eos) and every scalar metadata entry ("llama.block_count", ...).
struct ModelInfo {
    std::vector<std::pair<std::string, std::string>> entries;
    std::string get(const std::string &key) const; // throws when absent
    int64_t get_int(const std::string &key) const;
};
ModelInfo oracle_info(const std::filesystem::path &model);

// ---- parsing, exposed for tests of the parsers ----
std::vector<int32_t> parse_token_ids(std::string_view text); // "1,2,3\n"
std::vector<float> read_float32_file(const std::filesystem::path &path);
std::vector<float> parse_float_lines(std::string_view text);
std::string format_token_ids(std::span<const int32_t> tokens); // "1,2,3"

} // namespace graft::testing
