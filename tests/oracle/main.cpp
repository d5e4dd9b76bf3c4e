// graft-oracle: command-line access to llama.cpp for graft's tests and benchmarks.
// See docs/design/oracle.md. Output on stdout, errors on stderr with exit code 1.
#include "oracle.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>

#ifndef GRAFT_ORACLE_LLAMA_LIB_DIR
#define GRAFT_ORACLE_LLAMA_LIB_DIR ""
#endif

namespace {

using namespace graft::oracle;

// Options every model-running subcommand shares.
void add_eval_options(CLI::App *sub, EvalOptions &eval) {
    sub->add_option("--threads,-t", eval.threads, "CPU threads (0 = all cores)");
    sub->add_option("--kv", eval.kv_type, "KV cache type: f32, f16, bf16, q8_0")
        ->capture_default_str();
    sub->add_option("--flash-attn", eval.flash_attn, "flash attention: off, on, auto")
        ->capture_default_str();
    sub->add_option("--batch", eval.batch, "tokens per llama_decode call (0 = whole prompt)");
    sub->add_option("--ubatch", eval.ubatch, "tokens per physical batch (0 = --batch)");
    sub->add_flag("!--no-repack", eval.repack,
                  "keep weights in their GGUF layout (no ggml CPU repacking)");
}

std::string lib_dir() {
    if (const char *env = std::getenv("GRAFT_LLAMA_LIB_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    return GRAFT_ORACLE_LLAMA_LIB_DIR;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"graft-oracle: llama.cpp as the reference for graft's tests and benchmarks"};
    app.require_subcommand(1);
    bool verbose = false;
    app.add_flag("--verbose,-v", verbose, "show llama.cpp's log (errors only otherwise)");

    TokenizeArgs tokenize;
    bool no_add_special = false;
    bool no_parse_special = false;
    auto *tok = app.add_subcommand("tokenize", "token ids of a text, comma-separated");
    tok->add_option("vocab", tokenize.vocab, "GGUF with a vocabulary")->required();
    tok->add_flag("--no-add-special", no_add_special, "do not add BOS/EOS");
    tok->add_flag("--no-parse-special", no_parse_special, "treat special-token text as text");
    auto *text_opt = tok->add_option("--text", tokenize.text, "the text");
    auto *file_opt = tok->add_option("--file", tokenize.file, "read the text's bytes from a file");
    text_opt->excludes(file_opt);
    tok->add_flag("--cases", tokenize.cases,
                  "the input is texts separated by \"\\n__ggml_vocab_test__\\n\"; a line of "
                  "ids per text");

    DetokenizeArgs detokenize;
    bool no_render_special = false;
    auto *detok = app.add_subcommand("detokenize", "text of token ids, raw bytes, no newline");
    detok->add_option("vocab", detokenize.vocab, "GGUF with a vocabulary")->required();
    detok->add_option("--tokens", detokenize.tokens, "ids, e.g. 1,2,3")->required();
    detok->add_flag("--remove-special", detokenize.remove_special, "drop BOS/EOS");
    detok->add_flag("--no-render-special", no_render_special, "print special tokens as nothing");

    std::string tensors_path;
    auto *tensors = app.add_subcommand("tensors", "one line per tensor: name, type, shape");
    tensors->add_option("model", tensors_path, "GGUF file")->required();

    std::string info_path;
    auto *info =
        app.add_subcommand("info", "key=value lines: vocabulary facts and scalar metadata");
    info->add_option("model", info_path, "GGUF model")->required();

    LogitsArgs logits;
    auto *logits_cmd = app.add_subcommand(
        "logits", "logits of the last position (or every one with --all): float32 rows");
    logits_cmd->add_option("model", logits.model, "GGUF model")->required();
    logits_cmd->add_option("--tokens", logits.tokens, "prompt ids, e.g. 1,2,3")->required();
    logits_cmd->add_flag("--all", logits.all, "every position, not only the last");
    logits_cmd->add_option("--out", logits.out, "binary float32 file (text on stdout otherwise)");
    add_eval_options(logits_cmd, logits.eval);

    DecodeStepsArgs steps;
    auto *steps_cmd = app.add_subcommand(
        "decode-steps", "prefill, then K greedy tokens one at a time: line 1 the tokens fed, "
                        "then K+1 rows of logits");
    steps_cmd->add_option("model", steps.model, "GGUF model")->required();
    steps_cmd->add_option("--tokens", steps.tokens, "prompt ids")->required();
    steps_cmd->add_option("--steps", steps.steps, "K")->required();
    steps_cmd->add_option("--out", steps.out, "binary float32 file for the logits");
    add_eval_options(steps_cmd, steps.eval);

    GenerateArgs generate;
    auto *gen = app.add_subcommand("generate", "greedy continuation ids, comma-separated");
    gen->add_option("model", generate.model, "GGUF model")->required();
    gen->add_option("--tokens", generate.tokens, "prompt ids")->required();
    gen->add_option("-n", generate.n_predict, "tokens to generate")->capture_default_str();
    gen->add_flag("--ignore-eos", generate.ignore_eos, "do not stop at end-of-generation");
    add_eval_options(gen, generate.eval);

    QuantizeArgs quantize;
    auto *quant = app.add_subcommand("quantize", "llama.cpp's quantizer: IN OUT TYPE");
    quant->add_option("input", quantize.input, "GGUF model")->required();
    quant->add_option("output", quantize.output, "GGUF to write")->required();
    quant->add_option("type", quantize.type, "F32 F16 BF16 Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K ...")
        ->required();
    quant->add_flag("--pure", quantize.pure, "every quantizable tensor gets TYPE (no mixture)");
    quant->add_option("--threads,-t", quantize.threads, "threads (0 = all cores)");

    BenchArgs bench;
    // llama-bench's defaults, so the numbers are what llama.cpp users see.
    bench.eval.kv_type = "f16";
    bench.eval.flash_attn = "auto";
    auto *bench_cmd =
        app.add_subcommand("bench", "tokens/s of prefill and decode, llama-bench style, as JSON");
    bench_cmd->add_option("model", bench.model, "GGUF model")->required();
    bench_cmd->add_option("-p", bench.n_prompt, "prompt tokens (one batch)")->capture_default_str();
    bench_cmd->add_option("-n", bench.n_gen, "generated tokens")->capture_default_str();
    bench_cmd->add_option("-r", bench.reps, "repetitions")->capture_default_str();
    add_eval_options(bench_cmd, bench.eval);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : 1;
    }

    try {
        init_llama(lib_dir(), verbose);
        if (tok->parsed()) {
            if (text_opt->count() == 0 && file_opt->count() == 0) {
                throw OracleError("tokenize needs --text T or --file F");
            }
            tokenize.add_special = !no_add_special;
            tokenize.parse_special = !no_parse_special;
            run_tokenize(tokenize);
        } else if (detok->parsed()) {
            detokenize.render_special = !no_render_special;
            run_detokenize(detokenize);
        } else if (tensors->parsed()) {
            run_tensors(tensors_path);
        } else if (info->parsed()) {
            run_info(info_path);
        } else if (logits_cmd->parsed()) {
            run_logits(logits);
        } else if (steps_cmd->parsed()) {
            run_decode_steps(steps);
        } else if (gen->parsed()) {
            run_generate(generate);
        } else if (quant->parsed()) {
            run_quantize(quantize);
        } else if (bench_cmd->parsed()) {
            run_bench(bench);
        }
        shutdown_llama();
    } catch (const std::exception &e) {
        std::fflush(stdout);
        std::fprintf(stderr, "graft-oracle: %s\n", e.what());
        return 1;
    }
    if (std::fflush(stdout) != 0) {
        std::fprintf(stderr, "graft-oracle: writing stdout failed\n");
        return 1;
    }
    return 0;
}
