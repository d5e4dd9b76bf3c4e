// Differential tests: every chat template shipped with llama.cpp's test models is rendered for
// the conversations in conversations.json by graft's interpreter and by a reference, and the
// two must give identical text (or both fail). References:
//  - @huggingface/jinja (node, render_reference.cjs; the npm package in tests/js),
//  - Python Jinja2 set up as transformers sets it up (render_jinja2.py), when installed.
// Where a reference cannot agree, the case is listed with the reason; each test fails when
// its list is wrong in either direction (a listed case that now matches fails too).
#include <graft/chat/chat.h>
#include <graft/testing/process.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using graft::chat::Context;
using graft::chat::Message;
using graft::chat::Template;

namespace {

struct KnownDifference {
    const char *template_file;
    std::vector<std::string> conversations; // {"*"}: all of them
    const char *reason;
};

const std::vector<std::string> kTextWithoutTools = {
    "system_user", "multi_turn", "no_system", "no_generation_prompt", "single_user", "reasoning"};
const std::vector<std::string> kWithoutTools = {
    "system_user", "multi_turn",    "no_system", "no_generation_prompt",
    "single_user", "content_parts", "reasoning"};
const char *const kFromJson = "`arguments | from_json`: a filter llama.cpp added for these "
                              "templates; graft has it, the reference not";
const char *const kTrimList =
    "`content|trim` on a list trims its str() in Jinja2; the reference raises";

// graft follows Python Jinja2, which the templates are written for; @huggingface/jinja is a
// JavaScript re-implementation with gaps. In every case below it fails to render while
// graft renders what Jinja2 renders (see MatchesPythonJinja2).
const std::vector<KnownDifference> kHuggingFaceDifferences = {
    {"Apriel-1.6-15b-Thinker-fixed.jinja",
     {"tool_call", "tools_offered", "parallel_tool_calls"},
     "`tool|string` on a dict prints its Python repr; the reference has no `string` filter for "
     "dicts"},
    {"unsloth-Apriel-1.5.jinja",
     {"*"},
     "`tools|length` is 0 for undefined tools in Jinja2 and `tool|string` prints a dict's repr; "
     "the reference raises for both"},
    {"ByteDance-Seed-OSS.jinja",
     {"*"},
     "a dict literal with integer keys ({0: 0, 512: 128, ...}); the reference allows only string "
     "keys"},
    {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", kWithoutTools,
     "loops over `tools` when none are given: Jinja2 iterates Undefined as empty, the reference "
     "raises"},
    {"CohereForAI-c4ai-command-r-plus-tool_use.jinja",
     {"parallel_tool_calls"},
     "`content|trim` with a null content: Jinja2 trims str(None), the reference raises"},
    {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", kTextWithoutTools,
     "loops over `tools` when none are given (Undefined iterates as empty in Jinja2)"},
    {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", kTextWithoutTools,
     "loops over `tools` when none are given (Undefined iterates as empty in Jinja2)"},
    {"Kimi-K2-Instruct.jinja",
     {"tool_call", "parallel_tool_calls"},
     "list.append() and list.pop(); the reference has no list methods"},
    {"Kimi-K2-Thinking.jinja",
     {"tool_call", "parallel_tool_calls"},
     "list.append() and list.pop(); the reference has no list methods"},
    {"meetkai-functionary-medium-v3.1.jinja", kTextWithoutTools,
     "`none|selectattr(...)`: Jinja2 selects nothing from a falsy sequence; the reference raises"},
    {"meetkai-functionary-medium-v3.2.jinja",
     {"tools_offered", "parallel_tool_calls"},
     "`for field, name in [(\"maximum\", \"Maximum\"), ...]` unpacks tuples; the reference cannot"},
    {"openbmb-MiniCPM5-1B.jinja", {"tool_call"}, "the `min` filter; the reference has none"},
    {"deepseek-ai-DeepSeek-V3.2.jinja", {"parallel_tool_calls"}, kFromJson},
    {"deepseek-ai-DeepSeek-V4.jinja", {"parallel_tool_calls"}, kFromJson},
    {"deepseek-ai-DeepSeek-V4-Flash-0731.jinja", {"parallel_tool_calls"}, kFromJson},
    {"tencent-Hy3.jinja", {"*"}, "str.format(); the reference has no format method"},
    {"llama-cpp-rwkv-world.jinja", {"content_parts"}, kTrimList},
    {"meta-llama-Llama-3.1-8B-Instruct.jinja", {"content_parts"}, kTrimList},
    {"meta-llama-Llama-3.2-3B-Instruct.jinja", {"content_parts"}, kTrimList},
    {"meta-llama-Llama-3.3-70B-Instruct.jinja", {"content_parts"}, kTrimList},
};

// Where graft deliberately differs from transformers' sandboxed Jinja2.
const std::vector<KnownDifference> kJinja2Differences = {
    {"deepseek-ai-DeepSeek-V3.2.jinja", {"parallel_tool_calls"}, kFromJson},
    {"deepseek-ai-DeepSeek-V4.jinja", {"parallel_tool_calls"}, kFromJson},
    {"deepseek-ai-DeepSeek-V4-Flash-0731.jinja", {"parallel_tool_calls"}, kFromJson},
    {"meetkai-functionary-medium-v3.1.jinja",
     {"tool_call", "tools_offered", "parallel_tool_calls"},
     "`\"...\"|safe + tool|tojson`: Jinja2's Markup HTML-escapes the JSON it is added to (&#34;); "
     "graft, like llama.cpp and @huggingface/jinja, has no Markup and `safe` changes nothing"},
    {"Kimi-K2-Instruct.jinja",
     {"tool_call", "parallel_tool_calls"},
     "list.append()/pop(): transformers' ImmutableSandboxedEnvironment forbids mutating lists, "
     "graft allows it, as llama.cpp does"},
    {"Kimi-K2-Thinking.jinja",
     {"tool_call", "parallel_tool_calls"},
     "list.append()/pop() in the immutable sandbox, as above"},
    {"llama-cpp-deepseek-r1.jinja",
     {"tool_call", "tools_offered", "parallel_tool_calls"},
     "`map(...)|tojson`: Jinja2's map yields a generator json.dumps rejects; graft's map gives a "
     "list"},
};

// Templates no renderer can render for an OpenAI-style request: every conversation must fail.
const std::vector<KnownDifference> kUnrenderable = {
    {"fireworks-ai-llama-3-firefunction-v2.jinja",
     {"*"},
     "needs the variables `functions` and `datetime`, its own convention, not `tools`"},
};

bool is_listed(const std::vector<KnownDifference> &known, const std::string &template_file,
               const std::string &conversation) {
    return std::any_of(known.begin(), known.end(), [&](const KnownDifference &k) {
        return template_file == k.template_file &&
               std::any_of(k.conversations.begin(), k.conversations.end(),
                           [&](const std::string &c) { return c == "*" || c == conversation; });
    });
}

std::string read_file(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

fs::path find_program(const char *env_var, const char *name) {
    if (const char *env = std::getenv(env_var); env != nullptr && *env != '\0') {
        return env;
    }
    const char *path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        fs::path candidate = fs::path(dir) / name;
        if (graft::testing::is_executable(candidate)) {
            return candidate;
        }
    }
    return {};
}

// The first place two renders differ, with some context, for a readable failure.
std::string first_difference(const std::string &ours, const std::string &theirs) {
    size_t i = 0;
    while (i < ours.size() && i < theirs.size() && ours[i] == theirs[i]) {
        ++i;
    }
    size_t from = i > 40 ? i - 40 : 0;
    auto quoted = [&](const std::string &s) {
        return boost::json::serialize(boost::json::value(s.substr(std::min(from, s.size()), 120)));
    };
    return "at byte " + std::to_string(i) + "\n  graft:     " + quoted(ours) +
           "\n  reference: " + quoted(theirs);
}

struct Outcome {
    bool ok = false;
    std::string text; // output or error message
};

// A template that does not expect list content prints the list (Python: repr; JavaScript:
// JSON) or adds it to a string (Python: TypeError; JavaScript: Array toString, the items'
// JSON joined by ","). That is the two languages differing, not the interpreters, and
// anything else about the render must still match.
bool list_printing_differs_only(const boost::json::object &conversation, const Outcome &ours,
                                const Outcome &theirs) {
    for (const auto &message : conversation.at("messages").as_array()) {
        const auto &content = message.as_object().at("content");
        if (!content.is_array()) {
            continue;
        }
        graft::chat::Value parts = graft::chat::Value::from_json(content);
        const std::string python = parts.repr();
        const std::string json = graft::chat::to_json_string(parts);
        std::string joined_items;
        for (const auto &item : parts.items()) {
            joined_items += (joined_items.empty() ? "" : ",") + graft::chat::to_json_string(item);
        }
        if (ours.ok && theirs.ok) {
            std::string replaced = ours.text;
            for (size_t at = replaced.find(python); at != std::string::npos;
                 at = replaced.find(python, at + json.size())) {
                replaced.replace(at, python.size(), json);
            }
            if (replaced == theirs.text) {
                return true;
            }
        }
        if (!ours.ok && theirs.ok && theirs.text.find(joined_items) != std::string::npos &&
            ours.text.find("unsupported operand types for +: 'str' and 'list'") !=
                std::string::npos) {
            return true;
        }
    }
    return false;
}

struct Corpus {
    fs::path templates_dir = fs::path(GRAFT_LLAMA_DIR) / "src/models/templates";
    fs::path spec_path = fs::path(GRAFT_SOURCE_DIR) / "tests/chat/conversations.json";
    std::vector<fs::path> templates;

    // Empty when the templates are missing.
    std::string load() {
        if (!fs::is_directory(templates_dir)) {
            return "no templates at " + templates_dir.string() + " (run scripts/fetch-llama.sh)";
        }
        for (const auto &entry : fs::directory_iterator(templates_dir)) {
            if (entry.path().extension() == ".jinja") {
                templates.push_back(entry.path());
            }
        }
        std::sort(templates.begin(), templates.end());
        return templates.empty() ? "no .jinja files in " + templates_dir.string() : "";
    }
};

// Renders every template for every conversation with graft and compares with `reference`
// (the JSON the reference script printed).
void compare_with_reference(const Corpus &corpus, const boost::json::object &reference,
                            const std::vector<KnownDifference> &known, bool javascript_reference) {
    const boost::json::object spec = boost::json::parse(read_file(corpus.spec_path)).as_object();
    const auto &now = spec.at("now").as_object();
    std::tm pinned{};
    pinned.tm_year = static_cast<int>(now.at("year").as_int64()) - 1900;
    pinned.tm_mon = static_cast<int>(now.at("month").as_int64()) - 1;
    pinned.tm_mday = static_cast<int>(now.at("day").as_int64());
    pinned.tm_hour = static_cast<int>(now.at("hour").as_int64());
    pinned.tm_min = static_cast<int>(now.at("minute").as_int64());
    pinned.tm_sec = static_cast<int>(now.at("second").as_int64());
    timegm(&pinned); // fills in the weekday and the day of the year
    const std::string bos(spec.at("bos_token").as_string());
    const std::string eos(spec.at("eos_token").as_string());
    const boost::json::value &tools = spec.at("tools");

    std::set<std::pair<std::string, std::string>> differing;
    for (const auto &path : corpus.templates) {
        const std::string name = path.filename().string();
        const auto &expected = reference.at(name).as_object();
        std::optional<Template> compiled;
        std::string compile_error;
        try {
            compiled.emplace(read_file(path), name);
        } catch (const graft::chat::TemplateError &e) {
            compile_error = e.what();
        }
        size_t identical_renders = 0;
        for (const auto &conversation_json : spec.at("conversations").as_array()) {
            const auto &conversation = conversation_json.as_object();
            const std::string conversation_name(conversation.at("name").as_string());
            Outcome ours{false, compile_error};
            if (compiled) {
                std::vector<Message> messages;
                for (const auto &m : conversation.at("messages").as_array()) {
                    messages.push_back(Message::from_json(m));
                }
                const auto *extra = conversation.if_contains("extra");
                Context context = graft::chat::make_chat_context(
                    messages, conversation.at("add_generation_prompt").as_bool(), bos, eos,
                    conversation.contains("with_tools") ? &tools : nullptr,
                    extra != nullptr ? &extra->as_object() : nullptr);
                context.set_clock([pinned] { return pinned; });
                try {
                    ours = {true, compiled->render(context)};
                } catch (const graft::chat::TemplateError &e) {
                    ours = {false, e.what()};
                }
            }
            Outcome theirs;
            if (const auto *result = expected.if_contains(conversation_name)) {
                const auto &r = result->as_object();
                theirs.ok = r.at("ok").as_bool();
                theirs.text = std::string(r.at(theirs.ok ? "output" : "error").as_string());
            } else {
                theirs = {false, std::string(expected.at("compile_error").as_string())};
            }
            if (ours.ok == theirs.ok && (!ours.ok || ours.text == theirs.text)) {
                identical_renders += ours.ok ? 1 : 0;
                continue;
            }
            if (javascript_reference && list_printing_differs_only(conversation, ours, theirs)) {
                continue;
            }
            differing.insert({name, conversation_name});
            if (is_listed(known, name, conversation_name)) {
                continue;
            }
            if (ours.ok && theirs.ok) {
                ADD_FAILURE() << name << " / " << conversation_name << ": outputs differ "
                              << first_difference(ours.text, theirs.text);
            } else {
                ADD_FAILURE() << name << " / " << conversation_name
                              << ":\n  graft:     " << (ours.ok ? "rendered" : ours.text)
                              << "\n  reference: " << (theirs.ok ? "rendered" : theirs.text);
            }
        }
        // Failing alike everywhere proves nothing: some conversation must render the same,
        // unless the template is listed (as differing, or as rendering nowhere).
        if (is_listed(kUnrenderable, name, "*")) {
            EXPECT_EQ(identical_renders, 0u) << name << " is listed as unrenderable but renders";
        } else if (!std::any_of(known.begin(), known.end(), [&](const KnownDifference &k) {
                       return name == k.template_file;
                   })) {
            EXPECT_GT(identical_renders, 0u) << name << ": no conversation renders identically";
        }
    }
    for (const auto &k : known) {
        for (const auto &conversation : k.conversations) {
            bool still_differs =
                std::any_of(differing.begin(), differing.end(), [&](const auto &d) {
                    return d.first == k.template_file &&
                           (conversation == "*" || conversation == d.second);
                });
            EXPECT_TRUE(still_differs)
                << k.template_file << " / " << conversation << " is listed as differing ("
                << k.reason << ") but now matches: remove it from the list";
        }
    }
}

std::vector<std::string> with_templates(std::vector<std::string> args, const Corpus &corpus) {
    for (const auto &t : corpus.templates) {
        args.push_back(t.string());
    }
    return args;
}

} // namespace

TEST(ChatTemplateReference, MatchesHuggingFaceJinja) {
    Corpus corpus;
    if (std::string missing = corpus.load(); !missing.empty()) {
        GTEST_SKIP() << missing;
    }
    const fs::path node = find_program("GRAFT_NODE", "node");
    if (node.empty()) {
        GTEST_SKIP() << "node is not installed (set GRAFT_NODE or put node on PATH)";
    }
    const fs::path js_dir = fs::path(GRAFT_SOURCE_DIR) / "tests/js";
    if (!fs::exists(js_dir / "node_modules/@huggingface/jinja/package.json")) {
        GTEST_SKIP() << "@huggingface/jinja is not installed (run: npm ci --prefix tests/js)";
    }
    const fs::path script = fs::path(GRAFT_SOURCE_DIR) / "tests/chat/render_reference.cjs";
    auto result = graft::testing::run_process(
        node, with_templates({script.string(), js_dir.string(), corpus.spec_path.string()}, corpus),
        std::chrono::seconds(300));
    ASSERT_TRUE(result.ok()) << result.describe();
    compare_with_reference(corpus, boost::json::parse(result.out).as_object(),
                           kHuggingFaceDifferences, true);
}

TEST(ChatTemplateReference, MatchesPythonJinja2) {
    Corpus corpus;
    if (std::string missing = corpus.load(); !missing.empty()) {
        GTEST_SKIP() << missing;
    }
    const fs::path python = find_program("GRAFT_PYTHON", "python3");
    if (python.empty()) {
        GTEST_SKIP() << "python3 is not installed (set GRAFT_PYTHON or put python3 on PATH)";
    }
    if (!graft::testing::run_process(python, {"-c", "import jinja2"}).ok()) {
        GTEST_SKIP() << "Python's jinja2 is not installed (Debian: python3-jinja2)";
    }
    const fs::path script = fs::path(GRAFT_SOURCE_DIR) / "tests/chat/render_jinja2.py";
    auto result = graft::testing::run_process(
        python, with_templates({script.string(), corpus.spec_path.string()}, corpus),
        std::chrono::seconds(300));
    ASSERT_TRUE(result.ok()) << result.describe();
    compare_with_reference(corpus, boost::json::parse(result.out).as_object(), kJinja2Differences,
                           false);
}
