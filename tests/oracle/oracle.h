// graft-oracle: llama.cpp driven from the command line, as the reference that graft's tests
// and benchmarks compare against. Each subcommand is one function below; main.cpp parses
// the arguments. Results go to stdout in formats tests parse, errors are thrown as
// OracleError and become one line on stderr and exit code 1.
#pragma once

#include <llama.h>

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace graft::oracle {

class OracleError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// ---- shared set-up (session.cpp) ----

// Routes llama.cpp's log through a filter (errors only unless verbose) and loads the ggml
// CPU backend that fits this machine from `lib_dir` (libggml-cpu-<variant>.so: ggml scores
// each variant and keeps the best). Throws when no CPU backend could be loaded.
void init_llama(const std::string &lib_dir, bool verbose);
void shutdown_llama();

struct ModelDeleter {
    void operator()(llama_model *model) const { llama_model_free(model); }
};
struct ContextDeleter {
    void operator()(llama_context *context) const { llama_free(context); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;

// `repack`: let ggml repack weights into its CPU-friendly layouts (llama.cpp's default).
ModelPtr load_model(const std::string &path, bool vocab_only, bool repack = true);

// How a context evaluates: threads (0 = all cores), KV cache type, flash attention,
// batch sizes. The oracle's defaults favour exactness: F32 KV, no flash attention.
struct EvalOptions {
    int threads = 0;
    std::string kv_type = "f32";    // f32 | f16 | bf16 | q8_0
    std::string flash_attn = "off"; // off | on | auto
    int batch = 0;                  // tokens per llama_decode call, 0 = all at once
    int ubatch = 0;                 // tokens per physical batch, 0 = same as batch
    bool repack = true;
};
int resolve_threads(int threads);
ContextPtr create_context(llama_model *model, const EvalOptions &options, int n_ctx, int n_batch,
                          int n_ubatch);

// "1,2,3" (spaces allowed; empty = no tokens). Throws on anything that is not an id list.
std::vector<llama_token> parse_token_list(const std::string &text);
std::string format_token_list(std::span<const llama_token> tokens);
// Throws naming the first id outside [0, n_vocab).
void check_token_ids(std::span<const llama_token> tokens, const llama_vocab *vocab);

// Decodes `tokens` at positions pos0.. in calls of at most `batch` tokens. When `rows` is
// set, appends the logits of every position (all_outputs) or only of the last one.
void decode_tokens(llama_context *context, std::span<const llama_token> tokens, int pos0, int batch,
                   bool all_outputs, std::vector<float> *rows);
// Index of the largest logit; ties go to the lowest index (what graft's greedy sampler does).
llama_token argmax(std::span<const float> logits);

// Float rows: binary float32 (native little-endian) to `out_path`, or text with one value
// per line on stdout when `out_path` is empty. Text uses %.9g, which round-trips a float.
void write_floats(std::span<const float> values, const std::string &out_path);

// ---- subcommands ----

struct TokenizeArgs {
    std::string vocab;
    std::string text;
    std::string file;
    bool add_special = true;
    bool parse_special = true;
    // The input holds many texts separated by "\n__ggml_vocab_test__\n" (llama.cpp's .inp
    // format); one line of ids per text. One process for many texts: loading a large
    // vocabulary takes longer than tokenizing.
    bool cases = false;
};
void run_tokenize(const TokenizeArgs &args);

struct DetokenizeArgs {
    std::string vocab;
    std::string tokens;
    bool remove_special = false;
    bool render_special = true;
};
void run_detokenize(const DetokenizeArgs &args);

void run_tensors(const std::string &path);
void run_info(const std::string &path);

struct LogitsArgs {
    std::string model;
    std::string tokens;
    bool all = false;
    std::string out;
    EvalOptions eval;
};
void run_logits(const LogitsArgs &args);

struct DecodeStepsArgs {
    std::string model;
    std::string tokens;
    int steps = 1;
    std::string out;
    EvalOptions eval;
};
void run_decode_steps(const DecodeStepsArgs &args);

struct GenerateArgs {
    std::string model;
    std::string tokens;
    int n_predict = 32;
    bool ignore_eos = false;
    EvalOptions eval;
};
void run_generate(const GenerateArgs &args);

struct QuantizeArgs {
    std::string input;
    std::string output;
    std::string type;
    bool pure = false;
    int threads = 0;
};
void run_quantize(const QuantizeArgs &args);
const std::vector<std::string> &quantize_type_names();

struct BenchArgs {
    std::string model;
    int n_prompt = 512;
    int n_gen = 128;
    int reps = 5;
    EvalOptions eval;
};
void run_bench(const BenchArgs &args);

} // namespace graft::oracle
