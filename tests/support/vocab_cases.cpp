#include <graft/testing/vocab_cases.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace graft::testing {
namespace {

std::string read_all(const std::filesystem::path &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path.string());
    }
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

} // namespace

std::vector<VocabCase> read_vocab_cases(const std::filesystem::path &vocab_gguf) {
    const std::string inputs = read_all(vocab_gguf.string() + ".inp");
    const std::string outputs = read_all(vocab_gguf.string() + ".out");

    // Same splitting as llama.cpp's test: the text after the last separator is a case too.
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    size_t pos = 0;
    while (pos < inputs.size()) {
        const size_t next = inputs.find(separator, pos);
        if (next == std::string::npos) {
            texts.push_back(inputs.substr(pos));
            break;
        }
        texts.push_back(inputs.substr(pos, next - pos));
        pos = next + separator.size();
    }

    std::vector<std::vector<int32_t>> id_lists;
    std::istringstream lines(outputs);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::vector<int32_t> ids;
        for (int32_t id = 0; fields >> id;) {
            ids.push_back(id);
        }
        if (!fields.eof()) {
            throw std::runtime_error("bad id line in " + vocab_gguf.string() + ".out: " + line);
        }
        id_lists.push_back(std::move(ids));
    }

    if (texts.size() != id_lists.size()) {
        throw std::runtime_error(vocab_gguf.string() + ".inp has " + std::to_string(texts.size()) +
                                 " cases but .out has " + std::to_string(id_lists.size()));
    }
    std::vector<VocabCase> cases;
    for (size_t i = 0; i < texts.size(); ++i) {
        cases.push_back({std::move(texts[i]), std::move(id_lists[i])});
    }
    return cases;
}

} // namespace graft::testing
