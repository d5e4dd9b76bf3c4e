// Chat messages to template variables, and rendering a chat template (see graft/chat/chat.h).
#include <graft/chat/chat.h>

#include <boost/json.hpp>

namespace graft::chat {

namespace {

std::optional<std::string> optional_string(const boost::json::object &object,
                                           std::string_view key) {
    const boost::json::value *v = object.if_contains(key);
    if (v == nullptr || v->is_null()) {
        return std::nullopt;
    }
    if (!v->is_string()) {
        throw Error("chat message field '" + std::string(key) + "' must be a string");
    }
    return std::string(v->get_string());
}

} // namespace

Message Message::from_json(const boost::json::value &json) {
    if (!json.is_object()) {
        throw Error("a chat message must be a JSON object");
    }
    const auto &object = json.get_object();
    Message message;
    std::optional<std::string> role = optional_string(object, "role");
    if (!role) {
        throw Error("a chat message needs a 'role'");
    }
    message.role = *role;
    if (const auto *content = object.if_contains("content")) {
        if (!content->is_string() && !content->is_array() && !content->is_null()) {
            throw Error("chat message 'content' must be a string, a list of parts or null");
        }
        message.content = *content;
    }
    if (const auto *calls = object.if_contains("tool_calls");
        calls != nullptr && !calls->is_null()) {
        if (!calls->is_array()) {
            throw Error("chat message 'tool_calls' must be a list");
        }
        message.tool_calls = calls->get_array();
    }
    message.name = optional_string(object, "name");
    message.tool_call_id = optional_string(object, "tool_call_id");
    message.reasoning_content = optional_string(object, "reasoning_content");
    return message;
}

Value message_to_value(const Message &message) {
    Value out = Value::dict();
    ObjectData &fields = out.object();
    fields.set("role", Value(message.role));
    fields.set("content", Value::from_json(message.content));
    if (!message.tool_calls.empty()) {
        fields.set("tool_calls", Value::from_json(message.tool_calls));
    }
    if (message.name) {
        fields.set("name", Value(*message.name));
    }
    if (message.tool_call_id) {
        fields.set("tool_call_id", Value(*message.tool_call_id));
    }
    if (message.reasoning_content) {
        fields.set("reasoning_content", Value(*message.reasoning_content));
    }
    return out;
}

Context make_chat_context(const std::vector<Message> &messages, bool add_generation_prompt,
                          const std::string &bos, const std::string &eos,
                          const boost::json::value *tools, const boost::json::object *extra) {
    Context context;
    std::vector<Value> values;
    values.reserve(messages.size());
    for (const auto &message : messages) {
        values.push_back(message_to_value(message));
    }
    context.set("messages", Value::array(std::move(values)));
    context.set("add_generation_prompt", Value(add_generation_prompt));
    context.set("bos_token", Value(bos));
    context.set("eos_token", Value(eos));
    if (tools != nullptr && !tools->is_null()) {
        context.set("tools", Value::from_json(*tools));
    }
    if (extra != nullptr) {
        context.set_all(*extra);
    }
    return context;
}

namespace {

constexpr const char *kProbeSystem = "graft-probe-system-text";
constexpr const char *kProbeArgument = "graft_probe_argument";

bool renders_with(const Template &chat_template, const std::vector<Message> &messages,
                  const boost::json::value *tools, const char *needle) {
    try {
        std::string out = chat_template.render(make_chat_context(messages, false, "", "", tools));
        return out.find(needle) != std::string::npos;
    } catch (const graft::Error &) {
        return false;
    }
}

Message text_message(const char *role, const char *content) {
    Message m;
    m.role = role;
    m.content = content;
    return m;
}

// The string's JSON object, or null when it is not one.
boost::json::value parse_object(std::string_view text) {
    boost::system::error_code error;
    boost::json::value parsed = boost::json::parse(text, error);
    return !error && parsed.is_object() ? parsed : boost::json::value();
}

} // namespace

TemplateCapabilities probe_capabilities(const Template &chat_template) {
    TemplateCapabilities caps;
    caps.system_role = renders_with(
        chat_template, {text_message("system", kProbeSystem), text_message("user", "Hello")},
        nullptr, kProbeSystem);

    Message call = text_message("assistant", "");
    call.tool_calls.push_back(boost::json::object{
        {"id", "call00001"},
        {"type", "function"},
        {"function",
         boost::json::object{{"name", "graft_probe"},
                             {"arguments", boost::json::object{{kProbeArgument, "x"}}}}}});
    Message result = text_message("tool", "ok");
    result.tool_call_id = "call00001";
    result.name = "graft_probe";
    const boost::json::value tools = boost::json::array{boost::json::object{
        {"type", "function"},
        {"function",
         boost::json::object{
             {"name", "graft_probe"},
             {"description", "probe"},
             {"parameters",
              boost::json::object{{"type", "object"}, {"properties", boost::json::object{}}}}}}}};
    caps.object_arguments =
        renders_with(chat_template,
                     {text_message("user", "Hello"), call, result, text_message("user", "Thanks")},
                     &tools, kProbeArgument);
    return caps;
}

std::string apply_chat_template(const Template &chat_template,
                                const TemplateCapabilities &capabilities,
                                const std::vector<Message> &messages, bool add_generation_prompt,
                                const std::string &bos, const std::string &eos,
                                const boost::json::value *tools, const boost::json::object *extra) {
    std::vector<Message> prepared = messages;
    for (Message &m : prepared) {
        if (m.content.is_null()) {
            m.content = "";
        }
        if (!capabilities.object_arguments) {
            continue;
        }
        for (auto &call : m.tool_calls) {
            auto *function = call.is_object() ? call.get_object().if_contains("function") : nullptr;
            auto *arguments = function != nullptr && function->is_object()
                                  ? function->get_object().if_contains("arguments")
                                  : nullptr;
            if (arguments != nullptr && arguments->is_string()) {
                if (boost::json::value parsed = parse_object(arguments->get_string());
                    !parsed.is_null()) {
                    *arguments = std::move(parsed);
                }
            }
        }
    }
    if (!capabilities.system_role && !prepared.empty() && prepared.front().role == "system") {
        if (prepared.size() > 1 && prepared.front().content.is_string() &&
            prepared[1].content.is_string()) {
            prepared[1].content = std::string(prepared.front().content.get_string()) + "\n" +
                                  std::string(prepared[1].content.get_string());
        }
        prepared.erase(prepared.begin());
    }
    return chat_template.render(
        make_chat_context(prepared, add_generation_prompt, bos, eos, tools, extra));
}

std::string apply_chat_template(const Template &chat_template, const std::vector<Message> &messages,
                                bool add_generation_prompt, const std::string &bos,
                                const std::string &eos, const boost::json::value *tools,
                                const boost::json::object *extra) {
    return apply_chat_template(chat_template, probe_capabilities(chat_template), messages,
                               add_generation_prompt, bos, eos, tools, extra);
}

} // namespace graft::chat
