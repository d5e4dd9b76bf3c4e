// Built-in prompt formats for models without a chat template, and naming a template from
// its text. Both follow llama.cpp's llama-chat.cpp so that a model prompts the same way in
// graft and in llama.cpp; the code is graft's own.
#include <graft/chat/chat.h>

#include "text.h"

#include <algorithm>
#include <functional>

namespace graft::chat {

namespace {

// Text of a message for the built-in formats: a string as is, text parts joined.
std::string text_of(const Message &message) {
    if (message.content.is_string()) {
        return std::string(message.content.get_string());
    }
    std::string out;
    if (message.content.is_array()) {
        for (const auto &part : message.content.get_array()) {
            if (part.is_object()) {
                const auto *text = part.get_object().if_contains("text");
                if (text != nullptr && text->is_string()) {
                    out += text->get_string();
                }
            }
        }
    }
    return out;
}

// llama.cpp trims with C isspace(): space, \t, \n, \v, \f, \r.
std::string trimmed(const std::string &text) {
    return strip(text, nullptr, true, true);
}

using Format = std::function<std::string(const std::vector<Message> &, bool)>;

std::string format_chatml(const std::vector<Message> &messages, bool add_generation_prompt) {
    std::string out;
    for (const auto &m : messages) {
        out += "<|im_start|>" + m.role + "\n" + text_of(m) + "<|im_end|>\n";
    }
    if (add_generation_prompt) {
        out += "<|im_start|>assistant\n";
    }
    return out;
}

std::string format_llama3(const std::vector<Message> &messages, bool add_generation_prompt) {
    std::string out;
    for (const auto &m : messages) {
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trimmed(text_of(m)) +
               "<|eot_id|>";
    }
    if (add_generation_prompt) {
        out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    }
    return out;
}

// Llama 2: [INST] turns; variants add <<SYS>> blocks, a BOS before later turns, trimming.
Format llama2(bool system_block, bool bos_inside_history, bool strip_content) {
    return [=](const std::vector<Message> &messages, bool) {
        std::string out = "[INST] ";
        bool inside_turn = true; // the first turn's BOS comes from the tokenizer
        for (const auto &m : messages) {
            std::string content = strip_content ? trimmed(text_of(m)) : text_of(m);
            if (!inside_turn) {
                inside_turn = true;
                out += bos_inside_history ? "<s>[INST] " : "[INST] ";
            }
            if (m.role == "system") {
                out += system_block ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n";
            } else if (m.role == "user") {
                out += content + " [/INST]";
            } else {
                out += content + "</s>";
                inside_turn = false;
            }
        }
        return out;
    };
}

// Mistral v1/v3/v3-tekken: [INST] turns with the system prompt inside the first one.
Format mistral_inst(std::string leading_space, std::string trailing_space, bool trim_assistant) {
    return [=](const std::vector<Message> &messages, bool) {
        std::string out;
        bool inside_turn = false;
        for (const auto &m : messages) {
            if (!inside_turn) {
                out += leading_space + "[INST]" + trailing_space;
                inside_turn = true;
            }
            std::string content = text_of(m);
            if (m.role == "system") {
                out += content + "\n\n";
            } else if (m.role == "user") {
                out += content + leading_space + "[/INST]";
            } else {
                out += trailing_space + (trim_assistant ? trimmed(content) : content) + "</s>";
                inside_turn = false;
            }
        }
        return out;
    };
}

// Mistral v7: explicit [SYSTEM_PROMPT] blocks.
Format mistral_v7(std::string space) {
    return [=](const std::vector<Message> &messages, bool) {
        std::string out;
        for (const auto &m : messages) {
            if (m.role == "system") {
                out += "[SYSTEM_PROMPT]" + space + text_of(m) + "[/SYSTEM_PROMPT]";
            } else if (m.role == "user") {
                out += "[INST]" + space + text_of(m) + "[/INST]";
            } else {
                out += space + text_of(m) + "</s>";
            }
        }
        return out;
    };
}

// DeepSeek Coder (v1).
std::string format_deepseek(const std::vector<Message> &messages, bool add_generation_prompt) {
    std::string out;
    for (const auto &m : messages) {
        if (m.role == "system") {
            out += text_of(m);
        } else if (m.role == "user") {
            out += "### Instruction:\n" + text_of(m) + "\n";
        } else if (m.role == "assistant") {
            out += "### Response:\n" + text_of(m) + "\n<|EOT|>\n";
        }
    }
    if (add_generation_prompt) {
        out += "### Response:\n";
    }
    return out;
}

std::string format_deepseek2(const std::vector<Message> &messages, bool add_generation_prompt) {
    std::string out;
    for (const auto &m : messages) {
        if (m.role == "system") {
            out += text_of(m) + "\n\n";
        } else if (m.role == "user") {
            out += "User: " + text_of(m) + "\n\n";
        } else if (m.role == "assistant") {
            out += "Assistant: " + text_of(m) + "<｜end▁of▁sentence｜>";
        }
    }
    if (add_generation_prompt) {
        out += "Assistant:";
    }
    return out;
}

std::string format_deepseek3(const std::vector<Message> &messages, bool add_generation_prompt) {
    std::string out;
    for (const auto &m : messages) {
        if (m.role == "system") {
            out += text_of(m) + "\n\n";
        } else if (m.role == "user") {
            out += "<｜User｜>" + text_of(m);
        } else if (m.role == "assistant") {
            out += "<｜Assistant｜>" + text_of(m) + "<｜end▁of▁sentence｜>";
        }
    }
    if (add_generation_prompt) {
        out += "<｜Assistant｜>";
    }
    return out;
}

std::string format_phi3(const std::vector<Message> &messages, bool add_generation_prompt) {
    std::string out;
    for (const auto &m : messages) {
        out += "<|" + m.role + "|>\n" + text_of(m) + "<|end|>\n";
    }
    if (add_generation_prompt) {
        out += "<|assistant|>\n";
    }
    return out;
}

// Gemma has no system role: the system text is prepended to the next user turn.
std::string format_gemma(const std::vector<Message> &messages, bool add_generation_prompt) {
    std::string out, system_prompt;
    for (const auto &m : messages) {
        if (m.role == "system") {
            system_prompt += trimmed(text_of(m));
            continue;
        }
        std::string role = m.role == "assistant" ? "model" : m.role;
        out += "<start_of_turn>" + role + "\n";
        if (!system_prompt.empty() && role != "model") {
            out += system_prompt + "\n\n";
            system_prompt.clear();
        }
        out += trimmed(text_of(m)) + "<end_of_turn>\n";
    }
    if (add_generation_prompt) {
        out += "<start_of_turn>model\n";
    }
    return out;
}

const std::vector<std::pair<std::string, Format>> &formats() {
    static const std::vector<std::pair<std::string, Format>> table = {
        {"chatml", format_chatml},
        {"llama2", llama2(false, false, false)},
        {"llama2-sys", llama2(true, false, false)},
        {"llama2-sys-bos", llama2(true, true, false)},
        {"llama2-sys-strip", llama2(true, false, true)},
        {"llama3", format_llama3},
        {"mistral-v1", mistral_inst(" ", " ", false)},
        {"mistral-v3", mistral_inst("", " ", true)},
        {"mistral-v3-tekken", mistral_inst("", "", false)},
        {"mistral-v7", mistral_v7(" ")},
        {"mistral-v7-tekken", mistral_v7("")},
        {"deepseek", format_deepseek},
        {"deepseek2", format_deepseek2},
        {"deepseek3", format_deepseek3},
        {"phi3", format_phi3},
        {"gemma", format_gemma},
    };
    return table;
}

} // namespace

const std::vector<std::string> &builtin_template_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (const auto &[name, format] : formats()) {
            out.push_back(name);
        }
        return out;
    }();
    return names;
}

std::string apply_builtin_template(std::string_view name, const std::vector<Message> &messages,
                                   bool add_generation_prompt) {
    for (const auto &[known, format] : formats()) {
        if (known == name) {
            return format(messages, add_generation_prompt);
        }
    }
    std::string names;
    for (const auto &known : builtin_template_names()) {
        names += (names.empty() ? "" : ", ") + known;
    }
    throw Error("unknown built-in chat template '" + std::string(name) + "' (known: " + names +
                ")");
}

} // namespace graft::chat
