// Chat templates: compiling and rendering (see graft/chat/template.h).
#include <graft/chat/template.h>

#include "ast.h"
#include "evaluator.h"
#include "lexer.h"

#include <chrono>

namespace graft::chat {

TemplateError::TemplateError(const std::string &template_name, int line, int column,
                             std::string detail, bool raised_by_template)
    : graft::Error(template_name + ":" + std::to_string(line) + ":" + std::to_string(column) +
                   ": " + detail),
      line_(line), column_(column), detail_(std::move(detail)),
      raised_by_template_(raised_by_template) {}

Context &Context::set(std::string name, Value value) {
    for (auto &[existing, slot] : variables_) {
        if (existing == name) {
            slot = std::move(value);
            return *this;
        }
    }
    variables_.emplace_back(std::move(name), std::move(value));
    return *this;
}

Context &Context::set_all(const boost::json::object &variables) {
    for (const auto &item : variables) {
        set(std::string(item.key()), Value::from_json(item.value()));
    }
    return *this;
}

Context &Context::set_clock(std::function<std::tm()> now) {
    clock_ = std::move(now);
    return *this;
}

const Value *Context::find(std::string_view name) const {
    for (const auto &[existing, value] : variables_) {
        if (existing == name) {
            return &value;
        }
    }
    return nullptr;
}

std::tm Context::now() const {
    if (clock_) {
        return clock_();
    }
    std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm local{};
    localtime_r(&t, &local);
    return local;
}

Template::Template(std::string_view source, std::string name)
    : source_(std::make_shared<const std::string>(source)), name_(std::move(name)) {
    program_ = detail::parse(detail::tokenize(*source_, name_), name_);
}

std::string Template::render(const Context &context) const {
    try {
        detail::Renderer renderer(*program_, context);
        return renderer.run();
    } catch (const TemplateError &) {
        throw;
    } catch (const graft::Error &e) {
        // Failures outside any expression (copying the context) have no position.
        throw TemplateError(name_, 0, 0, e.what(), false);
    }
}

} // namespace graft::chat
