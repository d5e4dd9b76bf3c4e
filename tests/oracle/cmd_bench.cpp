// The bench subcommand: llama.cpp's prefill and decode speed measured the way llama-bench
// measures it (random tokens, a warm-up run first, the KV cache cleared before each run),
// so graft's `bench` numbers can be set next to llama.cpp's on the same machine and model.
#include "oracle.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

namespace graft::oracle {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<llama_token> random_tokens(const llama_vocab *vocab, int n, std::mt19937 &rng) {
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    std::uniform_int_distribution<llama_token> pick(0, n_vocab - 1);
    std::vector<llama_token> tokens(static_cast<size_t>(n));
    for (llama_token &token : tokens) {
        token = pick(rng);
    }
    if (!tokens.empty() && llama_vocab_get_add_bos(vocab)) {
        tokens[0] = llama_vocab_bos(vocab);
    }
    return tokens;
}

void decode_or_throw(llama_context *context, std::vector<llama_token> &tokens, size_t first,
                     size_t count) {
    // llama_batch_get_one, as llama-bench: positions follow the cache, one output.
    const int32_t status = llama_decode(
        context, llama_batch_get_one(tokens.data() + first, static_cast<int32_t>(count)));
    if (status != 0) {
        throw OracleError("llama_decode failed with status " + std::to_string(status));
    }
}

// Seconds to prefill `n` tokens, in calls of at most `batch`, from an empty cache.
double time_prompt(llama_context *context, int n, int batch, std::mt19937 &rng) {
    const llama_vocab *vocab = llama_model_get_vocab(llama_get_model(context));
    std::vector<llama_token> tokens = random_tokens(vocab, n, rng);
    llama_memory_clear(llama_get_memory(context), false);
    const auto start = Clock::now();
    for (size_t done = 0; done < tokens.size(); done += static_cast<size_t>(batch)) {
        decode_or_throw(context, tokens, done,
                        std::min(static_cast<size_t>(batch), tokens.size() - done));
    }
    llama_synchronize(context);
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Seconds to decode `n` tokens one at a time from an empty cache.
double time_generation(llama_context *context, int n, std::mt19937 &rng) {
    const llama_vocab *vocab = llama_model_get_vocab(llama_get_model(context));
    std::vector<llama_token> tokens = random_tokens(vocab, n, rng);
    llama_memory_clear(llama_get_memory(context), false);
    const auto start = Clock::now();
    for (size_t i = 0; i < tokens.size(); ++i) {
        decode_or_throw(context, tokens, i, 1);
        llama_synchronize(context);
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
}

void print_series(const char *key, const std::vector<double> &values, bool last) {
    std::printf("  \"%s\": [", key);
    for (size_t i = 0; i < values.size(); ++i) {
        std::printf("%s%.3f", i > 0 ? ", " : "", values[i]);
    }
    std::printf("]%s\n", last ? "" : ",");
}

std::string json_escape(const std::string &text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        if (static_cast<unsigned char>(c) >= 0x20) {
            out += c;
        }
    }
    return out;
}

double mean(const std::vector<double> &values) {
    double sum = 0;
    for (double v : values) {
        sum += v;
    }
    return values.empty() ? 0.0 : sum / static_cast<double>(values.size());
}

} // namespace

void run_bench(const BenchArgs &args) {
    if (args.n_prompt < 0 || args.n_gen < 0 || args.reps < 1) {
        throw OracleError("-p and -n must be >= 0 and -r >= 1");
    }
    ModelPtr model = load_model(args.model, /*vocab_only=*/false, args.eval.repack);
    const int batch = args.eval.batch > 0 ? args.eval.batch : std::max(args.n_prompt, 1);
    const int ubatch = args.eval.ubatch > 0 ? args.eval.ubatch : 512;
    ContextPtr context =
        create_context(model.get(), args.eval, args.n_prompt + args.n_gen, batch, ubatch);
    std::mt19937 rng(1234);
    // Warm-up: first touches of the mapped weights and the thread pool are not measured.
    if (args.n_prompt > 0) {
        time_prompt(context.get(), args.n_prompt, batch, rng);
    }
    if (args.n_gen > 0) {
        time_generation(context.get(), 1, rng);
    }
    std::vector<double> pp_tps;
    std::vector<double> tg_tps;
    for (int rep = 0; rep < args.reps; ++rep) {
        if (args.n_prompt > 0) {
            pp_tps.push_back(args.n_prompt / time_prompt(context.get(), args.n_prompt, batch, rng));
        }
        if (args.n_gen > 0) {
            tg_tps.push_back(args.n_gen / time_generation(context.get(), args.n_gen, rng));
        }
    }
    char desc[256] = {};
    llama_model_desc(model.get(), desc, sizeof desc);
    std::printf("{\n");
    std::printf("  \"engine\": \"llama.cpp\",\n");
    std::printf("  \"model\": \"%s\",\n", json_escape(desc).c_str());
    std::printf("  \"model_size\": %llu,\n",
                static_cast<unsigned long long>(llama_model_size(model.get())));
    std::printf("  \"threads\": %d,\n", resolve_threads(args.eval.threads));
    std::printf("  \"kv_type\": \"%s\",\n", args.eval.kv_type.c_str());
    std::printf("  \"flash_attn\": \"%s\",\n", args.eval.flash_attn.c_str());
    std::printf("  \"n_prompt\": %d,\n", args.n_prompt);
    std::printf("  \"n_gen\": %d,\n", args.n_gen);
    std::printf("  \"pp_avg\": %.3f,\n", mean(pp_tps));
    std::printf("  \"tg_avg\": %.3f,\n", mean(tg_tps));
    print_series("pp_tps", pp_tps, false);
    print_series("tg_tps", tg_tps, true);
    std::printf("}\n");
}

} // namespace graft::oracle
