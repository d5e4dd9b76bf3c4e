// Chat messages to prompts: rendering a model's chat template with the variables templates
// expect (messages, tools, add_generation_prompt, bos_token, eos_token), the built-in
// formats used when a model has no template, and naming a template from its text.
#pragma once

#include <graft/chat/template.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace graft::chat {

struct Message {
    std::string role;
    // A string, a list of content parts ({"type": "text", "text": ...}, ...) or null.
    boost::json::value content;
    // OpenAI tool calls: [{"id", "type": "function", "function": {"name", "arguments"}}].
    // Empty when the message has none (the template then sees no `tool_calls` key).
    boost::json::array tool_calls;
    std::optional<std::string> name;              // (optional)
    std::optional<std::string> tool_call_id;      // (optional) on role "tool"
    std::optional<std::string> reasoning_content; // (optional) an assistant's thinking

    // Reads an OpenAI/Ollama chat message object. Throws graft::Error when `role` is
    // missing or a field has the wrong type.
    static Message from_json(const boost::json::value &json);
};

// The message as a template sees it: a dict with role and content, plus tool_calls, name,
// tool_call_id and reasoning_content when present; values as given.
Value message_to_value(const Message &message);

// The render context of a chat, exactly as given: messages, add_generation_prompt,
// bos_token, eos_token, tools (when given and not null) and every member of `extra`
// (e.g. enable_thinking).
Context make_chat_context(const std::vector<Message> &messages, bool add_generation_prompt,
                          const std::string &bos, const std::string &eos,
                          const boost::json::value *tools = nullptr,
                          const boost::json::object *extra = nullptr);

// What a template does with the messages it is given, found by rendering probe
// conversations (as llama.cpp does).
struct TemplateCapabilities {
    // A system message's content appears in the prompt (Gemma's templates reject it).
    bool system_role = true;
    // Tool-call arguments given as a dict are rendered (transformers' convention); false for
    // templates that print `arguments` as a string.
    bool object_arguments = false;
};
TemplateCapabilities probe_capabilities(const Template &chat_template);

// Renders `chat_template` for `messages` the way llama.cpp prepares a chat for a template:
//  - without system_role support, a leading system message is prepended (with "\n") to
//    the next message, or dropped when it is the only one;
//  - with object_arguments support, tool-call arguments sent as a JSON string (OpenAI) are
//    parsed into a dict;
//  - a null or missing content becomes "".
// Throws TemplateError (raised_by_template() when the template rejected the conversation,
// e.g. roles that do not alternate). The overload without capabilities probes them first.
std::string apply_chat_template(const Template &chat_template,
                                const TemplateCapabilities &capabilities,
                                const std::vector<Message> &messages, bool add_generation_prompt,
                                const std::string &bos, const std::string &eos,
                                const boost::json::value *tools = nullptr,
                                const boost::json::object *extra = nullptr);
std::string apply_chat_template(const Template &chat_template, const std::vector<Message> &messages,
                                bool add_generation_prompt, const std::string &bos,
                                const std::string &eos, const boost::json::value *tools = nullptr,
                                const boost::json::object *extra = nullptr);

// --- built-in formats ---------------------------------------------------------------------

// Names accepted by apply_builtin_template: chatml, llama2, llama2-sys, llama2-sys-bos,
// llama2-sys-strip, llama3, mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7,
// mistral-v7-tekken, deepseek, deepseek2, deepseek3, phi3, gemma.
const std::vector<std::string> &builtin_template_names();

// Formats `messages` the way llama.cpp's built-in template `name` does (text content only:
// content parts are joined, tool calls are not rendered). Throws graft::Error for an unknown
// name.
std::string apply_builtin_template(std::string_view name, const std::vector<Message> &messages,
                                   bool add_generation_prompt);

// Names a template from its text with llama.cpp's heuristics (llm_chat_detect_template):
// "chatml", "llama3", "mistral-v7", "deepseek3", ... or "unknown". A text that is itself a
// known name is returned as is. Names may be ones without a built-in format here.
std::string detect_template(std::string_view template_source);

} // namespace graft::chat
