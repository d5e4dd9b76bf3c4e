// Shared llama.cpp set-up of the oracle: logging, backends, models, contexts, decoding.
#include "oracle.h"

#include <ggml-backend.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <thread>

namespace graft::oracle {
namespace {

struct LogFilter {
    bool verbose = false;
    ggml_log_level last_level = GGML_LOG_LEVEL_NONE;
};
LogFilter g_log_filter;

// llama.cpp logs every tensor and setting at INFO level; tests read stdout and show stderr
// only when something fails, so only errors (and their continuation lines) pass by default.
void filtered_log(ggml_log_level level, const char *text, void *user_data) {
    auto *filter = static_cast<LogFilter *>(user_data);
    if (level != GGML_LOG_LEVEL_CONT) {
        filter->last_level = level;
    }
    if (filter->verbose || filter->last_level == GGML_LOG_LEVEL_ERROR) {
        std::fputs(text, stderr);
    }
}

ggml_type kv_type_from_name(const std::string &name) {
    if (name == "f32") {
        return GGML_TYPE_F32;
    }
    if (name == "f16") {
        return GGML_TYPE_F16;
    }
    if (name == "bf16") {
        return GGML_TYPE_BF16;
    }
    if (name == "q8_0") {
        return GGML_TYPE_Q8_0;
    }
    throw OracleError("unknown KV cache type '" + name + "' (use f32, f16, bf16 or q8_0)");
}

llama_flash_attn_type flash_attn_from_name(const std::string &name) {
    if (name == "off") {
        return LLAMA_FLASH_ATTN_TYPE_DISABLED;
    }
    if (name == "on") {
        return LLAMA_FLASH_ATTN_TYPE_ENABLED;
    }
    if (name == "auto") {
        return LLAMA_FLASH_ATTN_TYPE_AUTO;
    }
    throw OracleError("unknown flash attention mode '" + name + "' (use off, on or auto)");
}

} // namespace

void init_llama(const std::string &lib_dir, bool verbose) {
    g_log_filter.verbose = verbose;
    llama_log_set(filtered_log, &g_log_filter);
    ggml_backend_load_all_from_path(lib_dir.c_str());
    bool have_cpu = false;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        if (ggml_backend_dev_type(ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_CPU) {
            have_cpu = true;
        }
    }
    if (!have_cpu) {
        throw OracleError("no ggml CPU backend could be loaded from " + lib_dir +
                          " (expected libggml-cpu-<variant>.so for this CPU; run "
                          "scripts/fetch-llama.sh, or set GRAFT_LLAMA_LIB_DIR)");
    }
    llama_backend_init();
}

void shutdown_llama() {
    llama_backend_free();
}

ModelPtr load_model(const std::string &path, bool vocab_only, bool repack) {
    llama_model_params params = llama_model_default_params();
    params.n_gpu_layers = 0;
    params.vocab_only = vocab_only;
    params.use_extra_bufts = repack;
    ModelPtr model(llama_model_load_from_file(path.c_str(), params));
    if (!model) {
        throw OracleError("llama.cpp could not load " + path + " (its reason is printed above)");
    }
    return model;
}

int resolve_threads(int threads) {
    if (threads > 0) {
        return threads;
    }
    return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

ContextPtr create_context(llama_model *model, const EvalOptions &options, int n_ctx, int n_batch,
                          int n_ubatch) {
    llama_context_params params = llama_context_default_params();
    // A context a little larger than needed changes nothing numerically (unused cells are
    // masked out), so round up to the granularity llama.cpp pads to anyway.
    params.n_ctx = static_cast<uint32_t>((std::max(n_ctx, 1) + 255) / 256 * 256);
    params.n_batch = static_cast<uint32_t>(std::max(n_batch, 1));
    params.n_ubatch = static_cast<uint32_t>(std::clamp(n_ubatch, 1, std::max(n_batch, 1)));
    params.n_seq_max = 1;
    params.n_threads = resolve_threads(options.threads);
    params.n_threads_batch = params.n_threads;
    params.type_k = kv_type_from_name(options.kv_type);
    params.type_v = params.type_k;
    params.flash_attn_type = flash_attn_from_name(options.flash_attn);
    params.no_perf = true;
    ContextPtr context(llama_init_from_model(model, params));
    if (!context) {
        throw OracleError("llama.cpp could not create a context (KV " + options.kv_type +
                          ", flash attention " + options.flash_attn +
                          "; a quantized V cache needs flash attention on)");
    }
    return context;
}

std::vector<llama_token> parse_token_list(const std::string &text) {
    std::vector<llama_token> tokens;
    size_t pos = 0;
    auto skip_spaces = [&] {
        while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n')) {
            ++pos;
        }
    };
    skip_spaces();
    while (pos < text.size()) {
        llama_token value = 0;
        const char *begin = text.data() + pos;
        const char *end = text.data() + text.size();
        auto [next, ec] = std::from_chars(begin, end, value);
        if (ec != std::errc() || next == begin) {
            throw OracleError("bad token list '" + text + "': expected ids like 1,2,3 at offset " +
                              std::to_string(pos));
        }
        tokens.push_back(value);
        pos = static_cast<size_t>(next - text.data());
        skip_spaces();
        if (pos < text.size()) {
            if (text[pos] != ',') {
                throw OracleError("bad token list '" + text + "': expected ',' at offset " +
                                  std::to_string(pos));
            }
            ++pos;
            skip_spaces();
        }
    }
    return tokens;
}

std::string format_token_list(std::span<const llama_token> tokens) {
    std::string text;
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (i > 0) {
            text += ',';
        }
        text += std::to_string(tokens[i]);
    }
    return text;
}

void check_token_ids(std::span<const llama_token> tokens, const llama_vocab *vocab) {
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            throw OracleError("token " + std::to_string(tokens[i]) + " at index " +
                              std::to_string(i) + " is outside the vocabulary [0, " +
                              std::to_string(n_vocab) + ")");
        }
    }
}

void decode_tokens(llama_context *context, std::span<const llama_token> tokens, int pos0, int batch,
                   bool all_outputs, std::vector<float> *rows) {
    const int n_tokens = static_cast<int>(tokens.size());
    const int chunk_max = batch > 0 ? std::min(batch, n_tokens) : n_tokens;
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(context)));
    llama_batch chunk = llama_batch_init(std::max(chunk_max, 1), 0, 1);
    try {
        for (int start = 0; start < n_tokens; start += chunk_max) {
            const int n = std::min(chunk_max, n_tokens - start);
            chunk.n_tokens = n;
            for (int i = 0; i < n; ++i) {
                const int index = start + i;
                chunk.token[i] = tokens[static_cast<size_t>(index)];
                chunk.pos[i] = pos0 + index;
                chunk.n_seq_id[i] = 1;
                chunk.seq_id[i][0] = 0;
                const bool last = index == n_tokens - 1;
                chunk.logits[i] = rows != nullptr && (all_outputs || last) ? 1 : 0;
            }
            const int32_t status = llama_decode(context, chunk);
            if (status != 0) {
                throw OracleError("llama_decode failed with status " + std::to_string(status) +
                                  " at positions " + std::to_string(pos0 + start) + ".." +
                                  std::to_string(pos0 + start + n - 1));
            }
            if (rows == nullptr) {
                continue;
            }
            for (int i = 0; i < n; ++i) {
                if (chunk.logits[i] == 0) {
                    continue;
                }
                const float *logits = llama_get_logits_ith(context, i);
                if (logits == nullptr) {
                    throw OracleError("llama.cpp returned no logits for position " +
                                      std::to_string(pos0 + start + i));
                }
                rows->insert(rows->end(), logits, logits + n_vocab);
            }
        }
    } catch (...) {
        llama_batch_free(chunk);
        throw;
    }
    llama_batch_free(chunk);
}

llama_token argmax(std::span<const float> logits) {
    size_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i) {
        if (logits[i] > logits[best]) {
            best = i;
        }
    }
    return static_cast<llama_token>(best);
}

void write_floats(std::span<const float> values, const std::string &out_path) {
    if (!out_path.empty()) {
        std::FILE *file = std::fopen(out_path.c_str(), "wb");
        if (file == nullptr) {
            throw OracleError("cannot write " + out_path + ": " + std::strerror(errno));
        }
        const size_t written = std::fwrite(values.data(), sizeof(float), values.size(), file);
        const bool closed = std::fclose(file) == 0;
        if (written != values.size() || !closed) {
            throw OracleError("writing " + out_path + " failed (disk full?)");
        }
        return;
    }
    char line[32];
    for (float value : values) {
        const int n = std::snprintf(line, sizeof line, "%.9g\n", static_cast<double>(value));
        std::fwrite(line, 1, static_cast<size_t>(n), stdout);
    }
}

} // namespace graft::oracle
