// llama.cpp's own chat-template test vectors (tests/test-chat-template.cpp in its source, read
// at run time): for each case, a template text, the prompt llama.cpp's built-in format
// (chosen by llm_chat_detect_template) gives, and the prompt its Jinja engine gives.
// graft's detect_template + apply_builtin_template and its interpreter must give the same.
#include <graft/chat/chat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;
using graft::chat::Message;

namespace {

// Cases whose Jinja expectation includes a llama.cpp workaround graft does not apply.
const std::map<std::string, std::string> kJinjaNotComparable = {};

// Cases whose built-in expectation uses a format graft has no built-in for (the detected name
// must still match llama.cpp's: that is checked by DetectsTheSameNames below).
bool has_builtin(const std::string &name) {
    const auto &names = graft::chat::builtin_template_names();
    return std::find(names.begin(), names.end(), name) != names.end();
}

struct VectorCase {
    std::string name;
    std::string template_str;
    std::string expected_output;
    std::string expected_output_jinja;
    std::string bos_token;
    std::string eos_token;
    bool supported_with_jinja = true;
    std::vector<std::pair<std::string, std::string>> extra_conversation;
};

// A reader of the C++ initializer list in test-chat-template.cpp: string literals (with
// escapes, adjacent literals joined, optionally in U8C(...)), booleans and {{"role", "text"}}.
class CppReader {
  public:
    explicit CppReader(std::string text) : text_(std::move(text)) {}

    std::vector<VectorCase> cases() {
        size_t begin = text_.find("std::vector<TestCase> test_cases {");
        size_t end = text_.find("\n    };", begin);
        std::vector<VectorCase> out;
        if (begin == std::string::npos || end == std::string::npos) {
            return out;
        }
        pos_ = begin;
        while (true) {
            size_t next = text_.find("/* .name= */", pos_);
            if (next == std::string::npos || next > end) {
                break;
            }
            size_t case_end = std::min(text_.find("/* .name= */", next + 1), end);
            VectorCase c;
            c.name = field(next, case_end, "name");
            c.template_str = field(next, case_end, "template_str");
            c.expected_output = field(next, case_end, "expected_output");
            c.expected_output_jinja = field(next, case_end, "expected_output_jinja");
            c.bos_token = field(next, case_end, "bos_token");
            c.eos_token = field(next, case_end, "eos_token");
            size_t flag = text_.find("/* .supported_with_jinja= */", next);
            if (flag < case_end) {
                c.supported_with_jinja = text_.compare(flag + 29, 4, "true") == 0;
            }
            size_t extra = text_.find("/* .extra_conversation= */", next);
            if (extra < case_end) {
                pos_ = text_.find("{{", extra) + 1;
                while (text_[pos_] == '{') {
                    ++pos_;
                    std::string role = literal();
                    skip_space(true);
                    std::string content = literal();
                    c.extra_conversation.emplace_back(role, content);
                    pos_ = text_.find('}', pos_) + 1;
                    skip_space();
                    if (text_[pos_] == ',') {
                        ++pos_;
                        skip_space();
                    }
                }
            }
            out.push_back(std::move(c));
            pos_ = case_end;
        }
        return out;
    }

  private:
    // The literal after `/* .name= */` (or `/* .name */`, a form the file also uses).
    std::string field(size_t from, size_t to, const std::string &name) {
        const std::string marker = "/* ." + name;
        for (size_t at = text_.find(marker, from); at != std::string::npos && at < to;
             at = text_.find(marker, at + 1)) {
            size_t after = at + marker.size();
            if (text_.compare(after, 4, "= */") == 0 || text_.compare(after, 3, " */") == 0) {
                pos_ = text_.find("*/", after) + 2;
                return literal();
            }
        }
        return "";
    }

    void skip_space(bool commas = false) {
        while (pos_ < text_.size() && (std::isspace(static_cast<unsigned char>(text_[pos_])) ||
                                       (commas && text_[pos_] == ','))) {
            ++pos_;
        }
    }

    // One or more adjacent "..." literals, possibly wrapped in U8C( ).
    std::string literal() {
        skip_space();
        if (text_.compare(pos_, 4, "U8C(") == 0) {
            pos_ += 4;
        }
        std::string out;
        while (true) {
            skip_space();
            if (text_.compare(pos_, 2, "u8") == 0) {
                pos_ += 2;
            }
            if (pos_ >= text_.size() || text_[pos_] != '"') {
                break;
            }
            ++pos_;
            while (pos_ < text_.size() && text_[pos_] != '"') {
                char c = text_[pos_++];
                if (c != '\\') {
                    out += c;
                    continue;
                }
                char e = text_[pos_++];
                switch (e) {
                case 'n':
                    out += '\n';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'r':
                    out += '\r';
                    break;
                default:
                    out += e; // \\ \" \'
                }
            }
            ++pos_;
        }
        if (text_[pos_] == ')') {
            ++pos_;
        }
        return out;
    }

    std::string text_;
    size_t pos_ = 0;
};

std::vector<VectorCase> load_cases(std::string &skip_reason) {
    fs::path path = fs::path(GRAFT_LLAMA_DIR) / "src/tests/test-chat-template.cpp";
    std::ifstream in(path);
    if (!in) {
        skip_reason = "no " + path.string() + " (run scripts/fetch-llama.sh)";
        return {};
    }
    std::stringstream text;
    text << in.rdbuf();
    std::vector<VectorCase> cases = CppReader(text.str()).cases();
    if (cases.empty()) {
        skip_reason = "found no test cases in " + path.string() + " (its layout changed?)";
    }
    return cases;
}

std::vector<Message> conversation(const VectorCase &c) {
    const std::pair<std::string, std::string> base[] = {
        {"system", "You are a helpful assistant"},
        {"user", "Hello"},
        {"assistant", "Hi there"},
        {"user", "Who are you"},
        {"assistant", "   I am an assistant   "},
        {"user", "Another question"},
    };
    std::vector<Message> messages;
    auto add = [&](const std::string &role, const std::string &content) {
        Message m;
        m.role = role;
        m.content = boost::json::string(content);
        messages.push_back(std::move(m));
    };
    for (const auto &[role, content] : base) {
        add(role, content);
    }
    for (const auto &[role, content] : c.extra_conversation) {
        add(role, content);
    }
    return messages;
}

} // namespace

TEST(LlamaChatVectors, BuiltinFormatsMatch) {
    std::string skip;
    auto cases = load_cases(skip);
    if (cases.empty()) {
        GTEST_SKIP() << skip;
    }
    size_t compared = 0;
    for (const auto &c : cases) {
        std::string name = graft::chat::detect_template(c.template_str);
        if (!has_builtin(name)) {
            continue;
        }
        ++compared;
        EXPECT_EQ(graft::chat::apply_builtin_template(name, conversation(c), true),
                  c.expected_output)
            << c.name << " (detected as " << name << ")";
    }
    EXPECT_GE(compared, 10u);
}

TEST(LlamaChatVectors, JinjaRendersMatch) {
    std::string skip;
    auto cases = load_cases(skip);
    if (cases.empty()) {
        GTEST_SKIP() << skip;
    }
    size_t compared = 0;
    for (const auto &c : cases) {
        if (!c.supported_with_jinja || kJinjaNotComparable.count(c.name) != 0) {
            continue;
        }
        ++compared;
        const std::string &expected =
            c.expected_output_jinja.empty() ? c.expected_output : c.expected_output_jinja;
        try {
            graft::chat::Template t(c.template_str, c.name);
            EXPECT_EQ(graft::chat::apply_chat_template(t, conversation(c), true, c.bos_token,
                                                       c.eos_token),
                      expected)
                << c.name;
        } catch (const graft::chat::TemplateError &e) {
            ADD_FAILURE() << c.name << ": " << e.what();
        }
    }
    EXPECT_GE(compared, 20u);
}
