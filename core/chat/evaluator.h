// Evaluator of compiled chat templates, and the built-in filters, tests, methods and
// globals it dispatches to (filters.cpp, is_tests.cpp, methods.cpp, format.cpp).
#pragma once

#include "ast.h"
#include "limits.h"

#include <graft/chat/template.h>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace graft::chat::detail {

// Thrown by raise_exception(): becomes a TemplateError with raised_by_template().
class RaisedError : public graft::Error {
  public:
    using graft::Error::Error;
};

// Variables of one block level. Each loop iteration and macro call opens a scope; if-blocks
// do not (Jinja's rules: a {% set %} inside a loop lasts for that iteration).
class Scope {
  public:
    explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
    const Value *find(const std::string &name) const;
    void set(const std::string &name, Value value) { variables_[name] = std::move(value); }

  private:
    std::shared_ptr<Scope> parent_;
    std::unordered_map<std::string, Value> variables_;
};
using ScopePtr = std::shared_ptr<Scope>;

class Renderer {
  public:
    Renderer(const Program &program, const Context &context);
    std::string run();

    // Evaluates an expression; errors are thrown as TemplateError at its position.
    Value eval(const Expr &expr, const ScopePtr &scope);
    // Calls a function value (macro, bound method, global).
    Value call(const Value &callee, const CallArgs &args);
    Value apply_filter(const std::string &name, const Value &operand, const CallArgs &args);
    bool apply_test(const std::string &name, const Value &operand, const CallArgs &args);
    std::tm now() const { return context_.now(); }

  private:
    enum class Flow { Normal, Break, Continue };

    Flow exec_body(const Body &body, const ScopePtr &scope, std::string &out);
    Flow exec(const Stmt &stmt, const ScopePtr &scope, std::string &out);
    void exec_for(const Stmt &stmt, const ScopePtr &scope, std::string &out);
    void exec_set(const Stmt &stmt, const ScopePtr &scope, Value value);
    void assign(const Expr &target, const ScopePtr &scope, Value value);
    Value make_macro(const Stmt &stmt, const ScopePtr &scope);
    Value make_caller(const Stmt &stmt, const ScopePtr &scope);
    Value invoke_macro(const Stmt &stmt, const std::weak_ptr<Scope> &defining_scope,
                       const CallArgs &args);

    Value eval_inner(const Expr &expr, const ScopePtr &scope);
    Value defined(const Expr &expr, const ScopePtr &scope);
    Value eval_binary(const Expr &expr, const ScopePtr &scope);
    Value eval_compare(const Expr &expr, const ScopePtr &scope);
    Value eval_call(const Expr &expr, const ScopePtr &scope);
    CallArgs eval_args(const std::vector<Arg> &args, const ScopePtr &scope);

    [[noreturn]] void fail(const SourcePos &pos, const std::string &detail,
                           bool raised = false) const;
    void count_step();

    const Program &program_;
    const Context &context_;
    ScopePtr root_;
    int call_depth_ = 0;
    int64_t steps_ = 0; // loop iterations and macro calls so far, against kMaxSteps
};

// --- built-ins (filters.cpp, methods.cpp) ------------------------------------------------

// Sequence view used by for-loops and filters: lists and tuples as they are, strings as
// characters, mappings as keys, undefined as empty. Throws for anything else.
std::vector<Value> iterate(const Value &value);

// Attribute lookup `value.name` (Jinja's getattr: dict methods, then keys) and item lookup
// `value[key]` (keys first, then methods); undefined when missing.
Value get_attribute(const Value &value, const std::string &name);
Value get_item(const Value &value, const Value &key);
// Python slicing of lists, tuples and strings; null bounds are open.
Value slice_value(const Value &value, const Value *start, const Value *stop, const Value *step);

// `receiver.name(args)` for str, list and dict methods; nullopt when there is no such method.
std::optional<Value> call_method(const Value &receiver, const std::string &name,
                                 const CallArgs &args);
bool has_method(const Value &receiver, const std::string &name);

// Python `%` string formatting and str.format().
std::string percent_format(const std::string &format, const Value &args);
std::string str_format(const std::string &format, const CallArgs &args);

// Globals available to every template: range, namespace, dict, raise_exception,
// strftime_now.
void install_globals(Renderer &renderer, Scope &scope);

using FilterFunction = Value (*)(Renderer &, const Value &, const CallArgs &);
using TestFunction = bool (*)(Renderer &, const Value &, const CallArgs &);
FilterFunction find_filter(const std::string &name);
TestFunction find_test(const std::string &name);

// Whether `container` (a list or dict) holds `needle` (the same object) at any depth:
// Python collects such cycles, shared pointers would leak them, so they are refused.
bool contains_object(const Value &container, const Value &needle);

} // namespace graft::chat::detail
