// Chat templates: a Jinja-subset interpreter.
//
// A model's `tokenizer.chat_template` is compiled once (syntax errors are thrown with
// line:column) and rendered for each request. Rendering follows Python Jinja2 as
// transformers configures it for chat templates (trim_blocks, lstrip_blocks, tojson without
// HTML escaping, raise_exception and strftime_now as globals). See
// docs/design/chat-templates.md for the supported subset.
#pragma once

#include <graft/chat/value.h>
#include <graft/util/error.h>

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace graft::chat {

namespace detail {
struct Program;
}

// A syntax or render error in a template. what() is "<template>:<line>:<column>: <detail>".
class TemplateError : public graft::Error {
  public:
    TemplateError(const std::string &template_name, int line, int column, std::string detail,
                  bool raised_by_template);
    int line() const { return line_; }
    int column() const { return column_; }
    // The message without the position.
    const std::string &detail() const { return detail_; }
    // True when the template itself called raise_exception() (e.g. "roles must alternate"):
    // the request is at fault, not the template.
    bool raised_by_template() const { return raised_by_template_; }

  private:
    int line_;
    int column_;
    std::string detail_;
    bool raised_by_template_;
};

// The variables of one render, plus the clock strftime_now() reads.
class Context {
  public:
    Context &set(std::string name, Value value);
    // Every member of a JSON object becomes a variable.
    Context &set_all(const boost::json::object &variables);
    // (optional) Local time for strftime_now(); the system clock when unset.
    Context &set_clock(std::function<std::tm()> now);

    const Value *find(std::string_view name) const;
    const std::vector<std::pair<std::string, Value>> &variables() const { return variables_; }
    std::tm now() const;

  private:
    std::vector<std::pair<std::string, Value>> variables_;
    std::function<std::tm()> clock_;
};

class Template {
  public:
    // Compiles `source`; `name` prefixes error positions. Throws TemplateError.
    explicit Template(std::string_view source, std::string name = "chat_template");

    // Renders with `context`. Values in the context are copied first, so a template that
    // mutates a list (e.g. messages.pop()) cannot change them. Throws TemplateError.
    std::string render(const Context &context) const;

    const std::string &source() const { return *source_; }
    const std::string &name() const { return name_; }

  private:
    std::shared_ptr<const std::string> source_;
    std::string name_;
    std::shared_ptr<const detail::Program> program_;
};

} // namespace graft::chat
