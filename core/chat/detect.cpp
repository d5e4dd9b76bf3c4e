// Naming a chat template from its text, with the heuristics of llama.cpp's
// llm_chat_detect_template, so logs and /api/show use the names llama.cpp users know.
#include <graft/chat/chat.h>

#include <algorithm>
#include <initializer_list>

namespace graft::chat {

namespace {

const char *const kKnownNames[] = {
    "chatml",      "llama2",        "llama2-sys",        "llama2-sys-bos", "llama2-sys-strip",
    "mistral-v1",  "mistral-v3",    "mistral-v3-tekken", "mistral-v7",     "mistral-v7-tekken",
    "phi3",        "phi4",          "falcon3",           "zephyr",         "monarch",
    "gemma",       "orion",         "openchat",          "vicuna",         "vicuna-orca",
    "deepseek",    "deepseek2",     "deepseek3",         "deepseek-ocr",   "command-r",
    "llama3",      "chatglm3",      "chatglm4",          "glmedge",        "minicpm",
    "exaone3",     "exaone4",       "exaone-moe",        "rwkv-world",     "granite",
    "granite-4.0", "granite-4.1",   "gigachat",          "megrez",         "yandex",
    "bailing",     "bailing-think", "bailing2",          "llama4",         "smolvlm",
    "hunyuan-moe", "gpt-oss",       "hunyuan-dense",     "hunyuan-vl",     "kimi-k2",
    "seed_oss",    "grok-2",        "pangu-embedded",    "solar-open",
};

class Text {
  public:
    explicit Text(std::string_view text) : text_(text) {}
    bool has(std::string_view needle) const { return text_.find(needle) != std::string_view::npos; }
    bool all(std::initializer_list<std::string_view> needles) const {
        return std::all_of(needles.begin(), needles.end(),
                           [&](std::string_view n) { return has(n); });
    }
    bool starts_with(std::string_view prefix) const {
        return text_.substr(0, prefix.size()) == prefix;
    }

  private:
    std::string_view text_;
};

std::string detect_mistral_or_llama2(const Text &t) {
    if (t.has("[SYSTEM_PROMPT]")) {
        return "mistral-v7";
    }
    if (t.has("' [INST] ' + system_message") || t.has("[AVAILABLE_TOOLS]")) {
        if (t.has(" [INST]")) {
            return "mistral-v1";
        }
        if (t.has("\"[INST]\"")) {
            return "mistral-v3-tekken";
        }
        return "mistral-v3";
    }
    if (t.has("content.strip()")) {
        return "llama2-sys-strip";
    }
    if (t.has("bos_token + '[INST]")) {
        return "llama2-sys-bos";
    }
    return t.has("<<SYS>>") ? "llama2-sys" : "llama2";
}

} // namespace

std::string detect_template(std::string_view source) {
    for (const char *name : kKnownNames) {
        if (source == name) {
            return name;
        }
    }
    Text t(source);
    if (t.has("<|im_start|>")) {
        return t.has("<|im_sep|>") ? "phi4" : t.has("<end_of_utterance>") ? "smolvlm" : "chatml";
    }
    if (t.starts_with("mistral") || t.has("[INST]")) {
        return detect_mistral_or_llama2(t);
    }
    if (t.all({"<|assistant|>", "<|end|>"})) {
        return "phi3";
    }
    if (t.has("[gMASK]<sop>")) {
        return "chatglm4";
    }
    if (t.all({"<|assistant|>", "<|user|>"})) {
        if (t.has("<|tool_declare|>")) {
            return "exaone-moe";
        }
        return t.has("</s>") ? "falcon3" : "glmedge";
    }
    // Ordered like llama.cpp: the first rule whose needles all occur names the template.
    struct Rule {
        std::string_view needles[3]; // unused ones empty
        const char *name;
    };
    auto matches = [&](const Rule &rule) {
        return std::all_of(std::begin(rule.needles), std::end(rule.needles),
                           [&](std::string_view n) { return n.empty() || t.has(n); });
    };
    static const Rule rules[] = {
        {{"<|{{ item['role'] }}|>", "<|begin_of_image|>"}, "glmedge"},
        {{"<|user|>", "<|endoftext|>"}, "zephyr"},
        {{"bos_token + message['role']"}, "monarch"},
        {{"<start_of_turn>"}, "gemma"},
        {{"'\\n\\nAssistant: ' + eos_token"}, "orion"},
        {{"GPT4 Correct "}, "openchat"},
    };
    for (const Rule &rule : rules) {
        if (matches(rule)) {
            return rule.name;
        }
    }
    if (t.all({"USER: ", "ASSISTANT: "})) {
        return t.has("SYSTEM: ") ? "vicuna-orca" : "vicuna";
    }
    static const Rule later_rules[] = {
        {{"### Instruction:", "<|EOT|>"}, "deepseek"},
        {{"<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>"}, "command-r"},
        {{"<|start_header_id|>", "<|end_header_id|>"}, "llama3"},
        {{"[gMASK]sop"}, "chatglm3"},
        {{"<用户>"}, "minicpm"},
        {{"'Assistant: ' + message['content'] + eos_token"}, "deepseek2"},
        {{"<｜Assistant｜>", "<｜User｜>", "<｜end▁of▁sentence｜>"}, "deepseek3"},
    };
    for (const Rule &rule : later_rules) {
        if (matches(rule)) {
            return rule.name;
        }
    }
    if (t.all({"[|system|]", "[|assistant|]", "[|endofturn|]"})) {
        return t.has("[|tool|]") ? "exaone4" : "exaone3";
    }
    if (t.has("rwkv-world") || t.has("{{- 'User: ' + message['content']|trim + '\\n\\n' -}}")) {
        return "rwkv-world";
    }
    if (t.has("<|start_of_role|>")) {
        if (t.has("<tool_call>") || t.has("<tools>")) {
            return t.has("g4_default_system_message") ? "granite-4.0" : "granite-4.1";
        }
        return "granite";
    }
    static const Rule last_rules[] = {
        {{"message['role'] + additional_special_tokens[0] + message['content'] + "
          "additional_special_tokens[1]"},
         "gigachat"},
        {{"<|role_start|>"}, "megrez"},
        {{" Ассистент:"}, "yandex"},
        {{"<role>ASSISTANT</role>", "'HUMAN'"}, "bailing"},
        {{"<role>ASSISTANT</role>", "\"HUMAN\"", "<think>"}, "bailing-think"},
        {{"<role>ASSISTANT</role>", "<role>HUMAN</role>", "<|role_end|>"}, "bailing2"},
        {{"<|header_start|>", "<|header_end|>"}, "llama4"},
        {{"<|endofuserprompt|>"}, "dots1"},
        {{"<|extra_0|>", "<|extra_4|>"}, "hunyuan-moe"},
        {{"<|start|>", "<|channel|>"}, "gpt-oss"},
        {{"<｜hy_Assistant｜>", "<｜hy_begin▁of▁sentence｜>"}, "hunyuan-vl"},
        {{"<｜hy_Assistant｜>", "<｜hy_place▁holder▁no▁3｜>"}, "hunyuan-dense"},
        {{"<|im_assistant|>assistant<|im_middle|>"}, "kimi-k2"},
        {{"<seed:bos>"}, "seed_oss"},
        {{"'Assistant: '  + message['content'] + '<|separator|>"}, "grok-2"},
        {{"[unused9]系统：[unused10]"}, "pangu-embedded"},
        {{"<|begin|>", "<|end|>", "<|content|>"}, "solar-open"},
    };
    for (const Rule &rule : last_rules) {
        if (matches(rule)) {
            return rule.name;
        }
    }
    return "unknown";
}

} // namespace graft::chat
