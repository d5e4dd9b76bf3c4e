#include <graft/testing/oracle.h>
#include <graft/testing/process.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#ifndef GRAFT_TEST_ORACLE
#define GRAFT_TEST_ORACLE ""
#endif
#ifndef GRAFT_TEST_LLAMA_DIR
#define GRAFT_TEST_LLAMA_DIR ""
#endif

namespace graft::testing {
namespace {

std::vector<std::string> eval_args(const EvalOptions &options) {
    std::vector<std::string> args = {"--threads",    std::to_string(options.threads),
                                     "--kv",         options.kv_type,
                                     "--flash-attn", options.flash_attn};
    if (options.batch > 0) {
        args.insert(args.end(), {"--batch", std::to_string(options.batch)});
    }
    if (!options.repack) {
        args.push_back("--no-repack");
    }
    return args;
}

LogitRows rows_from(std::vector<float> values, size_t n_rows) {
    if (n_rows == 0 || values.size() % n_rows != 0 || values.empty()) {
        throw std::runtime_error("oracle returned " + std::to_string(values.size()) +
                                 " logits, not a multiple of " + std::to_string(n_rows) + " rows");
    }
    LogitRows rows;
    rows.n_rows = n_rows;
    rows.n_vocab = values.size() / n_rows;
    rows.values = std::move(values);
    return rows;
}

template <typename T> std::vector<T> parse_int_list(std::string_view text) {
    auto is_separator = [](char c) { return c == ',' || c == ' ' || c == '\n' || c == '\r'; };
    std::vector<T> values;
    size_t pos = 0;
    while (pos < text.size()) {
        if (is_separator(text[pos])) {
            ++pos;
            continue;
        }
        T value = 0;
        auto [next, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), value);
        pos = static_cast<size_t>(next - text.data());
        if (ec != std::errc() || (pos < text.size() && !is_separator(text[pos]))) {
            throw std::runtime_error("not a list of integers: '" + std::string(text) + "'");
        }
        values.push_back(value);
    }
    return values;
}

} // namespace

std::filesystem::path llama_dir() {
    return GRAFT_TEST_LLAMA_DIR;
}

std::filesystem::path llama_vocab(std::string_view name) {
    return llama_dir() / "src" / "models" / ("ggml-vocab-" + std::string(name) + ".gguf");
}

std::optional<std::string> llama_source_unavailable() {
    const std::filesystem::path models = llama_dir() / "src" / "models";
    std::error_code ec;
    if (llama_dir().empty() || !std::filesystem::is_directory(models, ec)) {
        return "llama.cpp's source is not in " + llama_dir().string() +
               " (run scripts/fetch-llama.sh)";
    }
    return std::nullopt;
}

std::filesystem::path oracle_path() {
    if (const char *env = std::getenv("GRAFT_ORACLE"); env != nullptr && *env != '\0') {
        return env;
    }
    return GRAFT_TEST_ORACLE;
}

std::optional<std::string> oracle_unavailable() {
    if (oracle_path().empty()) {
        return "the llama.cpp oracle was not built: " + llama_dir().string() +
               " was missing at configure time (run scripts/fetch-llama.sh and reconfigure)";
    }
    if (!is_executable(oracle_path())) {
        return "the llama.cpp oracle " + oracle_path().string() +
               " is not built (cmake --build <build> --target graft-oracle)";
    }
    return std::nullopt;
}

std::string oracle_run(const std::vector<std::string> &args) {
    return run_checked(oracle_path(), args).out;
}

std::vector<int32_t> oracle_tokenize(const std::filesystem::path &vocab, std::string_view text,
                                     TokenizeOptions options) {
    std::vector<std::string> args = {"tokenize", vocab.string()};
    if (!options.add_special) {
        args.push_back("--no-add-special");
    }
    if (!options.parse_special) {
        args.push_back("--no-parse-special");
    }
    // argv cannot carry NUL bytes; a file carries any bytes exactly.
    std::optional<TempDir> temp;
    if (text.find('\0') != std::string_view::npos || text.size() > 65536) {
        temp.emplace();
        const std::filesystem::path file = *temp / "text.bin";
        std::ofstream(file, std::ios::binary)
            .write(text.data(), static_cast<std::streamsize>(text.size()));
        args.push_back("--file=" + file.string());
    } else if (text.empty()) {
        args.insert(args.end(), {"--text", ""}); // "--text=" alone reads as a missing value
    } else {
        args.push_back("--text=" + std::string(text)); // one argument even if text starts with -
    }
    return parse_token_ids(oracle_run(args));
}

std::vector<std::vector<int32_t>> oracle_tokenize_many(const std::filesystem::path &vocab,
                                                       const std::vector<std::string> &texts,
                                                       TokenizeOptions options) {
    const std::string marker = "__ggml_vocab_test__";
    std::string joined;
    for (const std::string &text : texts) {
        if (text.find(marker) != std::string::npos) {
            throw std::invalid_argument("oracle_tokenize_many: a text contains " + marker);
        }
        joined += text + "\n" + marker + "\n";
    }
    TempDir temp;
    const std::filesystem::path file = temp / "texts.bin";
    std::ofstream(file, std::ios::binary)
        .write(joined.data(), static_cast<std::streamsize>(joined.size()));
    std::vector<std::string> args = {"tokenize", vocab.string(), "--cases",
                                     "--file=" + file.string()};
    if (!options.add_special) {
        args.push_back("--no-add-special");
    }
    if (!options.parse_special) {
        args.push_back("--no-parse-special");
    }
    const std::string out = oracle_run(args);
    std::vector<std::vector<int32_t>> results;
    size_t pos = 0;
    while (pos < out.size()) {
        const size_t end = out.find('\n', pos);
        if (end == std::string::npos) {
            break;
        }
        results.push_back(parse_token_ids(std::string_view(out).substr(pos, end - pos)));
        pos = end + 1;
    }
    if (results.size() != texts.size()) {
        throw std::runtime_error("oracle tokenize --cases gave " + std::to_string(results.size()) +
                                 " lines for " + std::to_string(texts.size()) + " texts");
    }
    return results;
}

std::string oracle_detokenize(const std::filesystem::path &vocab, std::span<const int32_t> tokens,
                              DetokenizeOptions options) {
    std::vector<std::string> args = {"detokenize", vocab.string(),
                                     "--tokens=" + format_token_ids(tokens)};
    if (options.remove_special) {
        args.push_back("--remove-special");
    }
    if (!options.render_special) {
        args.push_back("--no-render-special");
    }
    return oracle_run(args);
}

std::span<const float> LogitRows::row(size_t i) const {
    if (i >= n_rows) {
        throw std::out_of_range("logit row " + std::to_string(i) + " of " + std::to_string(n_rows));
    }
    return std::span<const float>(values).subspan(i * n_vocab, n_vocab);
}

LogitRows oracle_logits(const std::filesystem::path &model, std::span<const int32_t> tokens,
                        bool all_positions, const EvalOptions &options) {
    TempDir temp;
    const std::filesystem::path out = temp / "logits.f32";
    std::vector<std::string> args = {
        "logits", model.string(), "--tokens=" + format_token_ids(tokens), "--out=" + out.string()};
    if (all_positions) {
        args.push_back("--all");
    }
    const std::vector<std::string> eval = eval_args(options);
    args.insert(args.end(), eval.begin(), eval.end());
    oracle_run(args);
    return rows_from(read_float32_file(out), all_positions ? tokens.size() : 1);
}

DecodeSteps oracle_decode_steps(const std::filesystem::path &model, std::span<const int32_t> prompt,
                                int steps, const EvalOptions &options) {
    TempDir temp;
    const std::filesystem::path out = temp / "steps.f32";
    std::vector<std::string> args = {"decode-steps", model.string(),
                                     "--tokens=" + format_token_ids(prompt),
                                     "--steps=" + std::to_string(steps), "--out=" + out.string()};
    const std::vector<std::string> eval = eval_args(options);
    args.insert(args.end(), eval.begin(), eval.end());
    DecodeSteps result;
    result.fed = parse_token_ids(oracle_run(args));
    if (result.fed.size() != static_cast<size_t>(steps)) {
        throw std::runtime_error("oracle decode-steps fed " + std::to_string(result.fed.size()) +
                                 " tokens, expected " + std::to_string(steps));
    }
    result.logits = rows_from(read_float32_file(out), static_cast<size_t>(steps) + 1);
    return result;
}

std::vector<int32_t> oracle_generate(const std::filesystem::path &model,
                                     std::span<const int32_t> prompt, int n_predict,
                                     bool ignore_eos, const EvalOptions &options) {
    std::vector<std::string> args = {"generate", model.string(),
                                     "--tokens=" + format_token_ids(prompt), "-n",
                                     std::to_string(n_predict)};
    if (ignore_eos) {
        args.push_back("--ignore-eos");
    }
    const std::vector<std::string> eval = eval_args(options);
    args.insert(args.end(), eval.begin(), eval.end());
    return parse_token_ids(oracle_run(args));
}

void oracle_quantize(const std::filesystem::path &input, const std::filesystem::path &output,
                     const std::string &type, bool pure) {
    std::vector<std::string> args = {"quantize", input.string(), output.string(), type};
    if (pure) {
        args.push_back("--pure");
    }
    oracle_run(args);
}

std::vector<TensorSummary> oracle_tensors(const std::filesystem::path &gguf) {
    const std::string text = oracle_run({"tensors", gguf.string()});
    std::vector<TensorSummary> tensors;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        end = end == std::string::npos ? text.size() : end;
        const std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty()) {
            continue;
        }
        const size_t tab1 = line.find('\t');
        const size_t tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
        if (tab2 == std::string::npos) {
            throw std::runtime_error("bad line from oracle tensors: '" + line + "'");
        }
        TensorSummary tensor;
        tensor.name = line.substr(0, tab1);
        tensor.type = line.substr(tab1 + 1, tab2 - tab1 - 1);
        tensor.ne = parse_int_list<int64_t>(line.substr(tab2 + 1));
        tensors.push_back(std::move(tensor));
    }
    return tensors;
}

std::string ModelInfo::get(const std::string &key) const {
    for (const auto &[k, v] : entries) {
        if (k == key) {
            return v;
        }
    }
    throw std::runtime_error("oracle info has no '" + key + "'");
}

int64_t ModelInfo::get_int(const std::string &key) const {
    return std::stoll(get(key));
}

ModelInfo oracle_info(const std::filesystem::path &model) {
    const std::string text = oracle_run({"info", model.string()});
    ModelInfo info;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        end = end == std::string::npos ? text.size() : end;
        const std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        const size_t eq = line.find('=');
        if (eq != std::string::npos) {
            info.entries.emplace_back(line.substr(0, eq), line.substr(eq + 1));
        }
    }
    return info;
}

std::vector<int32_t> parse_token_ids(std::string_view text) {
    return parse_int_list<int32_t>(text);
}

std::string format_token_ids(std::span<const int32_t> tokens) {
    std::string text;
    for (size_t i = 0; i < tokens.size(); ++i) {
        text += (i > 0 ? "," : "") + std::to_string(tokens[i]);
    }
    return text;
}

std::vector<float> read_float32_file(const std::filesystem::path &path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) {
        throw std::runtime_error("cannot read " + path.string());
    }
    const auto size = static_cast<size_t>(in.tellg());
    if (size % sizeof(float) != 0) {
        throw std::runtime_error(path.string() + " has " + std::to_string(size) +
                                 " bytes, not a whole number of float32");
    }
    std::vector<float> values(size / sizeof(float));
    in.seekg(0);
    in.read(reinterpret_cast<char *>(values.data()), static_cast<std::streamsize>(size));
    if (!in) {
        throw std::runtime_error("short read of " + path.string());
    }
    return values;
}

std::vector<float> parse_float_lines(std::string_view text) {
    std::vector<float> values;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        end = end == std::string_view::npos ? text.size() : end;
        const std::string line(text.substr(pos, end - pos));
        pos = end + 1;
        if (line.empty()) {
            continue;
        }
        // strtof, not from_chars: it reads "inf" and "nan" as the oracle prints them.
        char *parsed_end = nullptr;
        const float value = std::strtof(line.c_str(), &parsed_end);
        if (parsed_end == line.c_str() || *parsed_end != '\0') {
            throw std::runtime_error("not a float: '" + line + "'");
        }
        values.push_back(value);
    }
    return values;
}

} // namespace graft::testing
