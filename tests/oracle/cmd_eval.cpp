// Subcommands that run the model: logits, decode-steps, generate.
#include "oracle.h"

#include <cstdio>

namespace graft::oracle {
namespace {

struct Prepared {
    ModelPtr model;
    ContextPtr context;
    std::vector<llama_token> prompt;
    int batch = 0;
};

// Loads the model, checks the prompt and makes a context with room for the prompt and
// `extra` tokens after it. The prompt goes in one llama_decode call unless --batch says
// otherwise, so prefill is compared as one batch, as graft runs it.
Prepared prepare(const std::string &model_path, const std::string &tokens, const EvalOptions &eval,
                 int extra) {
    Prepared p;
    p.prompt = parse_token_list(tokens);
    if (p.prompt.empty()) {
        throw OracleError("--tokens is empty: give at least one token id");
    }
    p.model = load_model(model_path, /*vocab_only=*/false, eval.repack);
    check_token_ids(p.prompt, llama_model_get_vocab(p.model.get()));
    const int n_prompt = static_cast<int>(p.prompt.size());
    p.batch = eval.batch > 0 ? eval.batch : n_prompt;
    const int ubatch = eval.ubatch > 0 ? eval.ubatch : p.batch;
    p.context = create_context(p.model.get(), eval, n_prompt + extra, p.batch, ubatch);
    return p;
}

int vocab_size(const Prepared &p) {
    return llama_vocab_n_tokens(llama_model_get_vocab(p.model.get()));
}

} // namespace

void run_logits(const LogitsArgs &args) {
    Prepared p = prepare(args.model, args.tokens, args.eval, 0);
    std::vector<float> rows;
    rows.reserve((args.all ? p.prompt.size() : 1) * static_cast<size_t>(vocab_size(p)));
    decode_tokens(p.context.get(), p.prompt, 0, p.batch, args.all, &rows);
    write_floats(rows, args.out);
}

void run_decode_steps(const DecodeStepsArgs &args) {
    if (args.steps < 0) {
        throw OracleError("--steps must be >= 0");
    }
    Prepared p = prepare(args.model, args.tokens, args.eval, args.steps);
    const auto n_vocab = static_cast<size_t>(vocab_size(p));
    const int n_prompt = static_cast<int>(p.prompt.size());
    std::vector<float> rows;
    rows.reserve(static_cast<size_t>(args.steps + 1) * n_vocab);
    decode_tokens(p.context.get(), p.prompt, 0, p.batch, /*all_outputs=*/false, &rows);
    std::vector<llama_token> fed;
    for (int step = 0; step < args.steps; ++step) {
        const std::span<const float> last(rows.data() + rows.size() - n_vocab, n_vocab);
        const llama_token next = argmax(last);
        fed.push_back(next);
        decode_tokens(p.context.get(), std::span(&fed.back(), 1), n_prompt + step, 1, false, &rows);
    }
    // Line 1: the tokens fed after the prompt, so the caller can replay the same sequence.
    // Then steps+1 rows of logits: after the prompt, then after each fed token.
    std::printf("%s\n", format_token_list(fed).c_str());
    write_floats(rows, args.out);
}

void run_generate(const GenerateArgs &args) {
    if (args.n_predict < 0) {
        throw OracleError("-n must be >= 0");
    }
    Prepared p = prepare(args.model, args.tokens, args.eval, args.n_predict);
    const llama_vocab *vocab = llama_model_get_vocab(p.model.get());
    const auto n_vocab = static_cast<size_t>(vocab_size(p));
    const int n_prompt = static_cast<int>(p.prompt.size());
    std::vector<float> last;
    decode_tokens(p.context.get(), p.prompt, 0, p.batch, false, &last);
    std::vector<llama_token> generated;
    while (static_cast<int>(generated.size()) < args.n_predict) {
        const llama_token next = argmax(std::span(last.data(), n_vocab));
        if (!args.ignore_eos && llama_vocab_is_eog(vocab, next)) {
            break; // the end-of-generation token itself is not part of the continuation
        }
        generated.push_back(next);
        if (static_cast<int>(generated.size()) == args.n_predict) {
            break;
        }
        last.clear();
        decode_tokens(p.context.get(), std::span(&generated.back(), 1),
                      n_prompt + static_cast<int>(generated.size()) - 1, 1, false, &last);
    }
    std::printf("%s\n", format_token_list(generated).c_str());
}

} // namespace graft::oracle
