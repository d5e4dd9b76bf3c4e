// Unit tests of the chat layer: messages to template variables, capability probing,
// apply_chat_template's preparation of a chat, the built-in formats and template naming.
// Built-in expectations are written from the formats' published descriptions (the same ones
// llama.cpp's llama-chat.cpp implements); llama_vectors_test.cpp checks them against
// llama.cpp's own test vectors when its source is present.
#include <graft/chat/chat.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace graft::chat;

namespace {

std::vector<Message> messages_from(std::string_view json) {
    std::vector<Message> out;
    const boost::json::value parsed = boost::json::parse(json);
    for (const auto &m : parsed.as_array()) {
        out.push_back(Message::from_json(m));
    }
    return out;
}

const std::vector<Message> &chat() {
    static const std::vector<Message> messages = messages_from(R"([
        {"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
        {"role": "assistant", "content": " A1 "}, {"role": "user", "content": "U2"}])");
    return messages;
}

} // namespace

TEST(ChatMessages, FromJsonAndToValue) {
    auto messages = messages_from(R"([{"role": "assistant", "content": null, "name": "bot",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}])");
    Value first = message_to_value(messages[0]);
    EXPECT_EQ(first.repr(),
              "{'role': 'assistant', 'content': None, 'tool_calls': [{'id': 'c1', 'type': "
              "'function', 'function': {'name': 'f', 'arguments': '{\"a\": 1}'}}], 'name': 'bot'}");
    EXPECT_EQ(message_to_value(messages[1]).repr(),
              "{'role': 'tool', 'content': 'ok', 'tool_call_id': 'c1'}");
    EXPECT_EQ(message_to_value(messages[2]).repr(),
              "{'role': 'user', 'content': [{'type': 'text', 'text': 'hi'}]}");

    EXPECT_THROW(Message::from_json(boost::json::parse(R"({"content": "x"})")), graft::Error);
    EXPECT_THROW(Message::from_json(boost::json::parse(R"({"role": "user", "content": 5})")),
                 graft::Error);
    EXPECT_THROW(Message::from_json(boost::json::parse(R"({"role": "user", "tool_calls": {}})")),
                 graft::Error);
    EXPECT_THROW(Message::from_json(boost::json::parse(R"([1])")), graft::Error);
}

TEST(ChatMessages, ContextVariables) {
    boost::json::value tools =
        boost::json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
    boost::json::object extra = boost::json::parse(R"({"enable_thinking": false})").as_object();
    Template t("{{ bos_token }}|{{ messages | length }}|{{ add_generation_prompt }}|{{ "
               "tools[0].function.name }}|"
               "{{ enable_thinking }}|{{ eos_token }}");
    EXPECT_EQ(t.render(make_chat_context(chat(), true, "<s>", "</s>", &tools, &extra)),
              "<s>|4|True|f|False|</s>");
    boost::json::value null_tools;
    EXPECT_EQ(Template("{{ tools is defined }}")
                  .render(make_chat_context(chat(), false, "", "", &null_tools)),
              "False");
}

TEST(ChatCapabilities, Probes) {
    TemplateCapabilities plain = probe_capabilities(Template(
        "{% for m in messages %}{{ m.role }}:{{ m.content }}{% for c in m.tool_calls or [] %}"
        "{{ c.function.arguments | tojson }}{% endfor %};{% endfor %}"));
    EXPECT_TRUE(plain.system_role);
    EXPECT_TRUE(plain.object_arguments);
    TemplateCapabilities strict = probe_capabilities(Template(
        "{% if messages[0].role == 'system' %}{{ raise_exception('no system') }}{% endif %}"
        "{% for m in messages %}{{ m.content }}{% for c in m.tool_calls or [] %}"
        "{{ '<' + c.function.arguments + '>' }}{% endfor %}{% endfor %}"));
    EXPECT_FALSE(strict.system_role);
    EXPECT_FALSE(strict.object_arguments);
}

TEST(ChatApply, PreparesTheChatLikeLlamaCpp) {
    Template gemma_like(
        "{% if messages and messages[0].role == 'system' %}{{ raise_exception('System role not "
        "supported') }}"
        "{% endif %}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}");
    EXPECT_EQ(apply_chat_template(gemma_like, chat(), false, "", ""),
              "[user] S\nU1\n[assistant]  A1 \n[user] U2\n");
    EXPECT_EQ(apply_chat_template(gemma_like,
                                  messages_from(R"([{"role": "system", "content": "S"}])"), false,
                                  "", ""),
              "");

    Template args("{% for m in messages %}{{ m.content }}{% for c in m.tool_calls or [] %}"
                  "{{ c.function.arguments | tojson }}{% endfor %}|{% endfor %}");
    auto calls = messages_from(R"([{"role": "assistant", "content": null,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}},
                       {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "not json"}}]}])");
    EXPECT_EQ(apply_chat_template(args, calls, false, "", ""), R"({"a": 1}"not json"|)");
    // The faithful context keeps both as given.
    EXPECT_EQ(args.render(make_chat_context(calls, false, "", "")),
              R"(None"{\"a\": 1}""not json"|)");

    TemplateError raised = [&] {
        try {
            apply_chat_template(Template("{{ raise_exception('roles must alternate') }}"), chat(),
                                true, "", "");
        } catch (const TemplateError &e) {
            return e;
        }
        return TemplateError("", 0, 0, "", false);
    }();
    EXPECT_TRUE(raised.raised_by_template());
    EXPECT_EQ(raised.detail(), "roles must alternate");
}

TEST(ChatBuiltins, Formats) {
    const std::pair<const char *, const char *> expected[] = {
        {"chatml", "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>"
                   "assistant\n A1 "
                   "<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n"},
        {"llama3",
         "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_"
         "header_id|>"
         "\n\nU1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|><|start_"
         "header_id|>"
         "user<|end_header_id|>\n\nU2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
        {"llama2", "[INST] S\nU1 [/INST] A1 </s>[INST] U2 [/INST]"},
        {"llama2-sys", "[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s>[INST] U2 [/INST]"},
        {"llama2-sys-bos", "[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]"},
        {"llama2-sys-strip", "[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST]A1</s>[INST] U2 [/INST]"},
        {"mistral-v1", " [INST] S\n\nU1 [/INST]  A1 </s> [INST] U2 [/INST]"},
        {"mistral-v3", "[INST] S\n\nU1[/INST] A1</s>[INST] U2[/INST]"},
        {"mistral-v3-tekken", "[INST]S\n\nU1[/INST] A1 </s>[INST]U2[/INST]"},
        {"mistral-v7",
         "[SYSTEM_PROMPT] S[/SYSTEM_PROMPT][INST] U1[/INST]  A1 </s>[INST] U2[/INST]"},
        {"mistral-v7-tekken",
         "[SYSTEM_PROMPT]S[/SYSTEM_PROMPT][INST]U1[/INST] A1 </s>[INST]U2[/INST]"},
        {"deepseek", "S### Instruction:\nU1\n### Response:\n A1 \n<|EOT|>\n### "
                     "Instruction:\nU2\n### Response:\n"},
        {"deepseek2",
         "S\n\nUser: U1\n\nAssistant:  A1 <｜end▁of▁sentence｜>User: U2\n\nAssistant:"},
        {"deepseek3",
         "S\n\n<｜User｜>U1<｜Assistant｜> A1 <｜end▁of▁sentence｜><｜User｜>U2<｜Assistant｜>"},
        {"phi3", "<|system|>\nS<|end|>\n<|user|>\nU1<|end|>\n<|assistant|>\n A1 "
                 "<|end|>\n<|user|>\nU2<|end|>\n"
                 "<|assistant|>\n"},
        {"gemma",
         "<start_of_turn>user\nS\n\nU1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n"
         "<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\n"},
    };
    EXPECT_EQ(builtin_template_names().size(), std::size(expected));
    for (const auto &[name, text] : expected) {
        EXPECT_EQ(apply_builtin_template(name, chat(), true), text) << name;
    }
    std::string without_prompt = apply_builtin_template("chatml", chat(), false);
    EXPECT_EQ(without_prompt.substr(without_prompt.size() - 13), "U2<|im_end|>\n");
    auto parts = messages_from(R"([{"role": "user", "content": [{"type": "text", "text": "a"},
                                   {"type": "image"}, {"type": "text", "text": "b"}]}])");
    EXPECT_EQ(apply_builtin_template("chatml", parts, false), "<|im_start|>user\nab<|im_end|>\n");
    EXPECT_THROW(apply_builtin_template("nope", chat(), true), graft::Error);
}

TEST(ChatBuiltins, DetectsTemplates) {
    const std::pair<const char *, const char *> cases[] = {
        {"{{ '<|im_start|>' + role }}", "chatml"},
        {"<|im_start|><|im_sep|>", "phi4"},
        {"{{ '<|start_header_id|>' + r + '<|end_header_id|>' }}", "llama3"},
        {"{{ '[INST] ' + content + ' [/INST]' }}", "llama2"},
        {"<<SYS>> [INST]", "llama2-sys"},
        {"{{ bos_token + '[INST] ' }} <<SYS>>", "llama2-sys-bos"},
        {"[INST] {{ content.strip() }}", "llama2-sys-strip"},
        {"[SYSTEM_PROMPT] [INST]", "mistral-v7"},
        {"[AVAILABLE_TOOLS] \"[INST]\"", "mistral-v3-tekken"},
        {"[AVAILABLE_TOOLS][INST]", "mistral-v3"},
        {"[AVAILABLE_TOOLS] [INST]", "mistral-v1"},
        {"### Instruction: <|EOT|>", "deepseek"},
        {"{{ 'Assistant: ' + message['content'] + eos_token }}", "deepseek2"},
        {"<｜User｜><｜Assistant｜><｜end▁of▁sentence｜>", "deepseek3"},
        {"<|user|> <|assistant|> <|end|>", "phi3"},
        {"<start_of_turn>", "gemma"},
        {"<|start|><|channel|>", "gpt-oss"},
        {"<|im_assistant|>assistant<|im_middle|>", "kimi-k2"},
        {"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>", "command-r"},
        {"<|start_of_role|>", "granite"},
        {"llama3", "llama3"},
        {"{{ messages }}", "unknown"},
    };
    for (const auto &[source, name] : cases) {
        EXPECT_EQ(detect_template(source), name) << source;
    }
}
