// Subcommands about text and files: tokenize, detokenize, tensors, info.
#include "oracle.h"

#include <gguf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace graft::oracle {
namespace {

std::string read_file_bytes(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw OracleError("cannot read " + path + ": " + std::strerror(errno));
    }
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Texts separated as in llama.cpp's .inp files; the text after the last separator is a
// case unless it is empty (the files end with a separator).
std::vector<std::string> split_cases(const std::string &input) {
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    size_t pos = 0;
    while (pos < input.size()) {
        const size_t next = input.find(separator, pos);
        if (next == std::string::npos) {
            texts.push_back(input.substr(pos));
            break;
        }
        texts.push_back(input.substr(pos, next - pos));
        pos = next + separator.size();
    }
    return texts;
}

gguf_context *open_gguf(const std::string &path) {
    gguf_init_params params{};
    params.no_alloc = true;
    params.ctx = nullptr;
    gguf_context *gguf = gguf_init_from_file(path.c_str(), params);
    if (gguf == nullptr) {
        throw OracleError("ggml could not read " + path + " as GGUF");
    }
    return gguf;
}

// A scalar metadata value as text; empty for arrays and strings with line breaks (which
// would break the key=value lines).
std::string scalar_text(const gguf_context *gguf, int64_t id) {
    switch (gguf_get_kv_type(gguf, id)) {
    case GGUF_TYPE_UINT8:
        return std::to_string(gguf_get_val_u8(gguf, id));
    case GGUF_TYPE_INT8:
        return std::to_string(gguf_get_val_i8(gguf, id));
    case GGUF_TYPE_UINT16:
        return std::to_string(gguf_get_val_u16(gguf, id));
    case GGUF_TYPE_INT16:
        return std::to_string(gguf_get_val_i16(gguf, id));
    case GGUF_TYPE_UINT32:
        return std::to_string(gguf_get_val_u32(gguf, id));
    case GGUF_TYPE_INT32:
        return std::to_string(gguf_get_val_i32(gguf, id));
    case GGUF_TYPE_UINT64:
        return std::to_string(gguf_get_val_u64(gguf, id));
    case GGUF_TYPE_INT64:
        return std::to_string(gguf_get_val_i64(gguf, id));
    case GGUF_TYPE_FLOAT32: {
        char text[32];
        std::snprintf(text, sizeof text, "%.9g", static_cast<double>(gguf_get_val_f32(gguf, id)));
        return text;
    }
    case GGUF_TYPE_FLOAT64: {
        char text[32];
        std::snprintf(text, sizeof text, "%.17g", gguf_get_val_f64(gguf, id));
        return text;
    }
    case GGUF_TYPE_BOOL:
        return gguf_get_val_bool(gguf, id) ? "1" : "0";
    case GGUF_TYPE_STRING: {
        const std::string value = gguf_get_val_str(gguf, id);
        return value.find_first_of("\r\n") == std::string::npos ? value : std::string();
    }
    default:
        return {};
    }
}

} // namespace

void run_tokenize(const TokenizeArgs &args) {
    const std::string input = args.file.empty() ? args.text : read_file_bytes(args.file);
    if (input.size() > static_cast<size_t>(INT32_MAX / 2)) {
        throw OracleError("text of " + std::to_string(input.size()) + " bytes is too long");
    }
    ModelPtr model = load_model(args.vocab, /*vocab_only=*/true);
    const llama_vocab *vocab = llama_model_get_vocab(model.get());
    const std::vector<std::string> texts =
        args.cases ? split_cases(input) : std::vector<std::string>{input};
    for (const std::string &text : texts) {
        const auto text_len = static_cast<int32_t>(text.size());
        // One token per byte plus the special tokens is enough for every tokenizer; a
        // negative result still says how many are needed.
        std::vector<llama_token> tokens(text.size() + 8);
        int32_t n = llama_tokenize(vocab, text.data(), text_len, tokens.data(),
                                   static_cast<int32_t>(tokens.size()), args.add_special,
                                   args.parse_special);
        if (n < 0) {
            tokens.resize(static_cast<size_t>(-n));
            n = llama_tokenize(vocab, text.data(), text_len, tokens.data(),
                               static_cast<int32_t>(tokens.size()), args.add_special,
                               args.parse_special);
        }
        if (n < 0) {
            throw OracleError("llama_tokenize failed (" + std::to_string(n) + ")");
        }
        tokens.resize(static_cast<size_t>(n));
        std::printf("%s\n", format_token_list(tokens).c_str());
    }
}

void run_detokenize(const DetokenizeArgs &args) {
    const std::vector<llama_token> tokens = parse_token_list(args.tokens);
    ModelPtr model = load_model(args.vocab, /*vocab_only=*/true);
    const llama_vocab *vocab = llama_model_get_vocab(model.get());
    check_token_ids(tokens, vocab);
    std::string text(tokens.size() * 16 + 16, '\0');
    const auto n_tokens = static_cast<int32_t>(tokens.size());
    int32_t n = llama_detokenize(vocab, tokens.data(), n_tokens, text.data(),
                                 static_cast<int32_t>(text.size()), args.remove_special,
                                 args.render_special);
    if (n < 0) {
        text.resize(static_cast<size_t>(-n));
        n = llama_detokenize(vocab, tokens.data(), n_tokens, text.data(),
                             static_cast<int32_t>(text.size()), args.remove_special,
                             args.render_special);
    }
    if (n < 0) {
        throw OracleError("llama_detokenize failed (" + std::to_string(n) + ")");
    }
    // The bytes exactly as llama.cpp produced them (no newline): they may be invalid UTF-8.
    std::fwrite(text.data(), 1, static_cast<size_t>(n), stdout);
}

void run_tensors(const std::string &path) {
    gguf_context *gguf = open_gguf(path);
    const int64_t n_tensors = gguf_get_n_tensors(gguf);
    for (int64_t i = 0; i < n_tensors; ++i) {
        const int64_t *ne = gguf_get_tensor_ne(gguf, i);
        int n_dims = GGML_MAX_DIMS;
        while (n_dims > 1 && ne[n_dims - 1] == 1) {
            --n_dims;
        }
        std::string shape;
        for (int d = 0; d < n_dims; ++d) {
            shape += (d > 0 ? "," : "") + std::to_string(ne[d]);
        }
        std::printf("%s\t%s\t%s\n", gguf_get_tensor_name(gguf, i),
                    ggml_type_name(gguf_get_tensor_type(gguf, i)), shape.c_str());
    }
    gguf_free(gguf);
}

void run_info(const std::string &path) {
    // What llama.cpp's vocabulary makes of the file (read without the weights, so this also
    // answers for vocabulary-only GGUFs), then every scalar metadata entry as ggml reads it.
    ModelPtr model = load_model(path, /*vocab_only=*/true);
    const llama_vocab *vocab = llama_model_get_vocab(model.get());
    std::printf("n_vocab=%d\n", llama_vocab_n_tokens(vocab));
    std::printf("bos=%d\n", llama_vocab_bos(vocab));
    std::printf("eos=%d\n", llama_vocab_eos(vocab));
    std::printf("eot=%d\n", llama_vocab_eot(vocab));
    std::printf("add_bos=%d\n", llama_vocab_get_add_bos(vocab) ? 1 : 0);
    std::printf("add_eos=%d\n", llama_vocab_get_add_eos(vocab) ? 1 : 0);
    gguf_context *gguf = open_gguf(path);
    for (int64_t i = 0; i < gguf_get_n_kv(gguf); ++i) {
        const std::string value = scalar_text(gguf, i);
        if (!value.empty()) {
            std::printf("%s=%s\n", gguf_get_key(gguf, i), value.c_str());
        }
    }
    gguf_free(gguf);
}

} // namespace graft::oracle
