// graft run / tokenize / logits: generate text, and look at what the model sees.
#include "commands.h"
#include "loading.h"

#include <graft/engine/generate.h>
#include <graft/gguf/gguf.h>
#include <graft/tokenizer/tokenizer.h>
#include <graft/util/error.h>

#include <cstdio>
#include <iostream>

namespace graft::cli {

namespace {

struct RunOptions {
    ModelOptions model;
    std::string prompt;
    int32_t n_predict = 128;
    engine::SamplingParams sampling;
    std::vector<std::string> stop;
    bool ignore_eos = false;
};

void run_command(const GlobalOptions &global, const RunOptions &o) {
    Loaded loaded = load_model(global, o.model);
    engine::OpenedModel &m = *loaded.model;
    const std::vector<int32_t> prompt = m.tokenizer->encode(o.prompt, true, true);
    if (prompt.empty())
        throw Error("the prompt encodes to no tokens");
    engine::GenerateParams params;
    params.sampling = o.sampling;
    params.max_tokens = o.n_predict;
    params.stop = o.stop;
    params.ignore_eos = o.ignore_eos;
    if (m.name == "graft-demo")
        std::fprintf(stderr, "(demo model: random weights, so the text is noise)\n");
    std::fputs(o.prompt.c_str(), stdout);
    std::fflush(stdout);
    engine::GenerateResult r = engine::generate(
        *m.model, *m.tokenizer, prompt, params, [](std::string_view text) {
            std::fwrite(text.data(), 1, text.size(), stdout);
            std::fflush(stdout);
            return true;
        });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    std::fprintf(stderr,
                 "prefill: %lld tokens in %.3f s, %.2f tok/s\n"
                 "decode:  %lld tokens in %.3f s, %.2f tok/s (%s)\n",
                 static_cast<long long>(r.n_prompt), r.prefill_seconds, r.prefill_tps(),
                 static_cast<long long>(r.n_decoded), r.decode_seconds, r.decode_tps(),
                 r.finish_reason.c_str());
}

void tokenize_command(const std::string &model, const std::string &text, bool no_bos,
                      bool no_special) {
    auto file = gguf::File::open(model);
    auto tok = tokenizer::Tokenizer::from_gguf(*file);
    const std::vector<int32_t> ids = tok->encode(text, !no_bos, !no_special);
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i)
            line += ',';
        line += std::to_string(ids[i]);
    }
    std::cout << line << "\n";
}

void logits_command(const GlobalOptions &global, const ModelOptions &mo, const std::string &tokens,
                    bool all) {
    const std::vector<int32_t> ids = parse_token_list(tokens);
    Loaded loaded = load_model(global, mo);
    engine::Model &model = *loaded.model->model;
    if (static_cast<int64_t>(ids.size()) > model.n_ctx())
        throw Error(std::to_string(ids.size()) + " tokens do not fit the context of " +
                    std::to_string(model.n_ctx()) + " (use --ctx)");
    const std::vector<float> logits = engine::prefill(model, 0, 0, ids, all);
    std::string out;
    out.reserve(logits.size() * 12);
    char buf[32];
    for (float v : logits) {
        const int n = std::snprintf(buf, sizeof buf, "%.9g\n", static_cast<double>(v));
        out.append(buf, static_cast<size_t>(n));
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
}

} // namespace

void add_run_commands(CLI::App &app, GlobalOptions &global) {
    auto run = std::make_shared<RunOptions>();
    CLI::App *cmd = app.add_subcommand(
        "run", "Generate text from a prompt and print the speed of prefill and decode");
    cmd->add_option("model", run->model.model,
                    "GGUF model file (default: the built-in demo model, random weights)")
        ->check(CLI::ExistingFile);
    cmd->add_option("-p,--prompt", run->prompt, "Prompt text")->required();
    cmd->add_option("-n,--n-predict", run->n_predict, "Most tokens to generate (-1: until the "
                                                      "context is full)")
        ->capture_default_str();
    cmd->add_option("--temp", run->sampling.temperature, "Temperature; 0 is greedy")
        ->capture_default_str()
        ->check(CLI::Range(0.0f, 100.0f));
    cmd->add_option("--top-k", run->sampling.top_k, "Keep the k most likely tokens (0: off)")
        ->capture_default_str();
    cmd->add_option("--top-p", run->sampling.top_p, "Nucleus sampling threshold (1: off)")
        ->capture_default_str()
        ->check(CLI::Range(0.0f, 1.0f));
    cmd->add_option("--min-p", run->sampling.min_p,
                    "Drop tokens below this fraction of the best one's probability (0: off)")
        ->capture_default_str()
        ->check(CLI::Range(0.0f, 1.0f));
    cmd->add_option("--repeat-penalty", run->sampling.repeat_penalty,
                    "Penalty on recently seen tokens (1: off)")
        ->capture_default_str();
    cmd->add_option("--repeat-last-n", run->sampling.repeat_last_n,
                    "How many recent tokens the penalties look at")
        ->capture_default_str();
    cmd->add_option("--frequency-penalty", run->sampling.frequency_penalty,
                    "Subtract this times a token's count so far")
        ->capture_default_str();
    cmd->add_option("--presence-penalty", run->sampling.presence_penalty,
                    "Subtract this from tokens seen so far")
        ->capture_default_str();
    cmd->add_option("-s,--seed", run->sampling.seed, "Random seed: same seed, same text")
        ->capture_default_str();
    cmd->add_option("--stop", run->stop, "Stop when this text appears (repeatable)");
    cmd->add_flag("--ignore-eos", run->ignore_eos, "Keep generating past end-of-text tokens");
    add_model_options(*cmd, run->model);
    cmd->callback([&global, run] { run_command(global, *run); });

    auto tok = std::make_shared<std::tuple<std::string, std::string, bool, bool>>();
    CLI::App *tcmd = app.add_subcommand(
        "tokenize", "Print the token ids of a text, comma-separated, on one line");
    tcmd->add_option("model", std::get<0>(*tok), "GGUF model or vocabulary file")
        ->required()
        ->check(CLI::ExistingFile);
    tcmd->add_option("text", std::get<1>(*tok), "Text to tokenize")->required();
    tcmd->add_flag("--no-bos", std::get<2>(*tok), "Do not add the BOS/EOS tokens the model adds");
    tcmd->add_flag("--no-special", std::get<3>(*tok),
                   "Treat special-token text such as <|eot_id|> as plain text");
    tcmd->callback([tok] {
        tokenize_command(std::get<0>(*tok), std::get<1>(*tok), std::get<2>(*tok),
                         std::get<3>(*tok));
    });

    struct LogitsOptions {
        ModelOptions model;
        std::string tokens;
        bool all = false;
    };
    auto lo = std::make_shared<LogitsOptions>();
    CLI::App *lcmd = app.add_subcommand(
        "logits", "Print the logits of the last position, one per line (for validation)");
    lcmd->add_option("model", lo->model.model, "GGUF model file")
        ->required()
        ->check(CLI::ExistingFile);
    lcmd->add_option("--tokens", lo->tokens, "Token ids, comma-separated")->required();
    lcmd->add_flag("--all", lo->all, "Every position's logits, position after position");
    add_model_options(*lcmd, lo->model);
    lcmd->callback([&global, lo] { logits_command(global, lo->model, lo->tokens, lo->all); });
}

} // namespace graft::cli
