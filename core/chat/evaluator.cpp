// Evaluator of compiled chat templates: statements, expressions, macros and loops.
#include "evaluator.h"

#include "text.h"

#include <cmath>
#include <limits>

namespace graft::chat::detail {

const Value *Scope::find(const std::string &name) const {
    for (const Scope *scope = this; scope != nullptr; scope = scope->parent_.get()) {
        auto it = scope->variables_.find(name);
        if (it != scope->variables_.end()) {
            return &it->second;
        }
    }
    return nullptr;
}

namespace {

// Context values are copied so that a render cannot mutate the caller's data.
Value deep_copy(const Value &value) {
    NestingGuard guard;
    if (value.is_array()) {
        std::vector<Value> items;
        items.reserve(value.items().size());
        for (const auto &item : value.items()) {
            items.push_back(deep_copy(item));
        }
        return value.is_tuple() ? Value::tuple(std::move(items)) : Value::array(std::move(items));
    }
    if (value.is_object()) {
        Value copy = value.is_namespace() ? Value::namespace_object() : Value::dict();
        for (const auto &[key, item] : value.object().entries) {
            copy.object().entries.emplace_back(key, deep_copy(item));
        }
        return copy;
    }
    return value;
}

// Source-like text of an expression for "... is undefined" messages.
std::string describe(const Expr &expr) {
    switch (expr.kind) {
    case ExprKind::Name:
        return expr.name;
    case ExprKind::GetAttr:
        return describe(*expr.a) + "." + expr.name;
    case ExprKind::GetItem:
        if (expr.b->kind == ExprKind::Literal) {
            return describe(*expr.a) + "[" + expr.b->literal.repr() + "]";
        }
        return describe(*expr.a) + "[...]";
    case ExprKind::Call:
        return describe(*expr.a) + "(...)";
    default:
        return "expression";
    }
}

void check_size(size_t size) {
    if (size > kMaxStringBytes) {
        throw Error("string exceeds the 64 MiB limit of template output");
    }
}

[[noreturn]] void unsupported(const std::string &op, const Value &a, const Value &b) {
    throw Error("unsupported operand types for " + op + ": '" + a.type_name() + "' and '" +
                b.type_name() + "'");
}

Value int_arithmetic(const std::string &op, int64_t a, int64_t b) {
    int64_t r = 0;
    if (op == "+" || op == "-" || op == "*") {
        bool overflow = op == "+"   ? __builtin_add_overflow(a, b, &r)
                        : op == "-" ? __builtin_sub_overflow(a, b, &r)
                                    : __builtin_mul_overflow(a, b, &r);
        if (overflow) {
            throw Error("integer overflow in " + op);
        }
        return Value(r);
    }
    if (op == "/") {
        if (b == 0) {
            throw Error("division by zero");
        }
        return Value(static_cast<double>(a) / static_cast<double>(b));
    }
    if (op == "//" || op == "%") {
        if (b == 0) {
            throw Error(op == "//" ? "integer division by zero" : "integer modulo by zero");
        }
        if (b == -1) { // INT64_MIN / -1 overflows; the remainder is always 0
            if (op == "%") {
                return Value(int64_t{0});
            }
            if (a == std::numeric_limits<int64_t>::min()) {
                throw Error("integer overflow in //");
            }
            return Value(-a);
        }
        int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) { // Python rounds toward negative infinity
            --q;
            m += b;
        }
        return Value(op == "//" ? q : m);
    }
    if (op == "**") {
        if (b < 0) {
            if (a == 0) {
                throw Error("0 cannot be raised to a negative power");
            }
            return Value(std::pow(static_cast<double>(a), static_cast<double>(b)));
        }
        int64_t result = 1;
        for (int64_t i = 0; i < b; ++i) {
            if (__builtin_mul_overflow(result, a, &result)) {
                throw Error("integer overflow in **");
            }
            if (result == 0 || result == 1) {
                break;
            }
        }
        return Value(result);
    }
    throw Error("unknown operator " + op);
}

Value float_arithmetic(const std::string &op, double a, double b) {
    if (op == "+") {
        return Value(a + b);
    }
    if (op == "-") {
        return Value(a - b);
    }
    if (op == "*") {
        return Value(a * b);
    }
    if (op == "**") {
        if (a == 0.0 && b < 0) {
            throw Error("0.0 cannot be raised to a negative power");
        }
        return Value(std::pow(a, b));
    }
    if (b == 0.0) {
        throw Error("float division by zero");
    }
    if (op == "/") {
        return Value(a / b);
    }
    if (op == "//") {
        return Value(std::floor(a / b));
    }
    if (op == "%") {
        double m = std::fmod(a, b);
        if (m != 0.0 && ((m < 0) != (b < 0))) {
            m += b;
        }
        return Value(m);
    }
    throw Error("unknown operator " + op);
}

Value repeat(const Value &sequence, const Value &count) {
    if (!count.is_int() && !count.is_bool()) {
        unsupported("*", sequence, count);
    }
    int64_t n = std::max<int64_t>(count.as_int(), 0);
    if (sequence.is_string()) {
        if (n > 0 && sequence.as_string().size() > kMaxStringBytes / static_cast<size_t>(n)) {
            check_size(kMaxStringBytes + 1);
        }
        std::string out;
        for (int64_t i = 0; i < n; ++i) {
            out += sequence.as_string();
        }
        return Value(std::move(out));
    }
    const auto &items = sequence.items();
    if (n > 0 && items.size() > static_cast<size_t>(kMaxRangeLength / n)) {
        throw Error("list repetition is too long");
    }
    std::vector<Value> out;
    for (int64_t i = 0; i < n; ++i) {
        out.insert(out.end(), items.begin(), items.end());
    }
    return sequence.is_tuple() ? Value::tuple(std::move(out)) : Value::array(std::move(out));
}

Value arithmetic(const std::string &op, const Value &a, const Value &b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            return float_arithmetic(op, a.as_double(), b.as_double());
        }
        return int_arithmetic(op, a.as_int(), b.as_int());
    }
    if (op == "+") {
        if (a.is_string() && b.is_string()) {
            check_size(a.as_string().size() + b.as_string().size());
            return Value(a.as_string() + b.as_string());
        }
        if (a.is_array() && b.is_array()) {
            std::vector<Value> items = a.items();
            items.insert(items.end(), b.items().begin(), b.items().end());
            return a.is_tuple() ? Value::tuple(std::move(items)) : Value::array(std::move(items));
        }
    } else if (op == "*") {
        if (a.is_string() || a.is_array()) {
            return repeat(a, b);
        }
        if (b.is_string() || b.is_array()) {
            return repeat(b, a);
        }
    } else if (op == "%" && a.is_string()) {
        return Value(percent_format(a.as_string(), b));
    }
    unsupported(op, a, b);
}

bool contains(const Value &container, const Value &item) {
    switch (container.kind()) {
    case Value::Kind::Undefined:
        return false; // Jinja's Undefined iterates as empty
    case Value::Kind::String:
        if (!item.is_string()) {
            throw Error("'in <string>' requires a string on the left, not '" + item.type_name() +
                        "'");
        }
        return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::Array:
        for (const auto &element : container.items()) {
            if (element == item) {
                return true;
            }
        }
        return false;
    case Value::Kind::Object:
        return container.object().find(item) != nullptr;
    default:
        throw Error("argument of type '" + container.type_name() + "' is not a container");
    }
}

// Runs a function on scope exit; keeps the recursion counter balanced when a call throws.
template <class F> struct OnExit {
    F f;
    ~OnExit() { f(); }
};
template <class F> OnExit(F) -> OnExit<F>;

} // namespace

Renderer::Renderer(const Program &program, const Context &context)
    : program_(program), context_(context), root_(std::make_shared<Scope>(nullptr)) {
    install_globals(*this, *root_);
    for (const auto &[name, value] : context.variables()) {
        root_->set(name, deep_copy(value));
    }
}

std::string Renderer::run() {
    std::string out;
    exec_body(program_.body, root_, out);
    return out;
}

void Renderer::fail(const SourcePos &pos, const std::string &detail, bool raised) const {
    throw TemplateError(program_.name, pos.line, pos.column, detail, raised);
}

void Renderer::count_step() {
    if (++steps_ > kMaxSteps) {
        throw Error("the template ran more than " + std::to_string(kMaxSteps) +
                    " loop iterations and macro calls");
    }
}

Renderer::Flow Renderer::exec_body(const Body &body, const ScopePtr &scope, std::string &out) {
    for (const auto &stmt : body) {
        Flow flow = exec(*stmt, scope, out);
        if (flow != Flow::Normal) {
            return flow;
        }
    }
    return Flow::Normal;
}

// Applies a chain of filters whose innermost operand is missing (set and filter blocks).
static Value apply_filter_chain(Renderer &renderer, const Expr &filter, Value operand,
                                const ScopePtr &scope) {
    if (filter.a) {
        operand = apply_filter_chain(renderer, *filter.a, std::move(operand), scope);
    }
    CallArgs args;
    for (const auto &arg : filter.args) {
        Value value = renderer.eval(*arg.value, scope);
        if (arg.keyword.empty()) {
            args.positional.push_back(std::move(value));
        } else {
            args.keyword.emplace_back(arg.keyword, std::move(value));
        }
    }
    return renderer.apply_filter(filter.name, operand, args);
}

Renderer::Flow Renderer::exec(const Stmt &stmt, const ScopePtr &scope, std::string &out) {
    try {
        switch (stmt.kind) {
        case StmtKind::Text:
            out += stmt.text;
            break;
        case StmtKind::Output:
            out += eval(*stmt.expr, scope).str();
            break;
        case StmtKind::If:
            for (const auto &branch : stmt.branches) {
                if (eval(*branch.condition, scope).truthy()) {
                    return exec_body(branch.body, scope, out);
                }
            }
            return exec_body(stmt.else_body, scope, out);
        case StmtKind::For:
            exec_for(stmt, scope, out);
            break;
        case StmtKind::Set:
            exec_set(stmt, scope, eval(*stmt.expr, scope));
            break;
        case StmtKind::SetBlock: {
            std::string body;
            exec_body(stmt.body, scope, body);
            Value value(std::move(body));
            if (stmt.expr) {
                value = apply_filter_chain(*this, *stmt.expr, std::move(value), scope);
            }
            exec_set(stmt, scope, std::move(value));
            break;
        }
        case StmtKind::Macro:
            scope->set(stmt.name, make_macro(stmt, scope));
            break;
        case StmtKind::CallBlock: {
            const Expr &call_expr = *stmt.expr;
            Value callee = eval(*call_expr.a, scope);
            CallArgs args = eval_args(call_expr.args, scope);
            args.keyword.emplace_back("caller", make_caller(stmt, scope));
            out += call(callee, args).str();
            break;
        }
        case StmtKind::FilterBlock: {
            std::string body;
            exec_body(stmt.body, scope, body);
            out += apply_filter_chain(*this, *stmt.expr, Value(std::move(body)), scope).str();
            break;
        }
        case StmtKind::Break:
            return Flow::Break;
        case StmtKind::Continue:
            return Flow::Continue;
        case StmtKind::Do:
            eval(*stmt.expr, scope);
            break;
        case StmtKind::Scope:
            return exec_body(stmt.body, scope, out);
        }
        check_size(out.size());
    } catch (const TemplateError &) {
        throw;
    } catch (const RaisedError &e) {
        fail(stmt.pos, e.what(), true);
    } catch (const Error &e) {
        fail(stmt.pos, e.what());
    }
    return Flow::Normal;
}

void Renderer::exec_for(const Stmt &stmt, const ScopePtr &scope, std::string &out) {
    Value iterable = eval(*stmt.expr, scope);
    std::vector<Value> items;
    try {
        items = iterate(iterable);
    } catch (const Error &e) {
        fail(stmt.expr->pos, e.what());
    }
    // Each iteration gets a fresh scope: as in Jinja2, a {% set %} in the body lasts until the
    // end of that iteration only.
    if (stmt.condition) {
        std::vector<Value> kept;
        for (auto &item : items) {
            auto filter_scope = std::make_shared<Scope>(scope);
            assign(*stmt.target, filter_scope, item);
            if (eval(*stmt.condition, filter_scope).truthy()) {
                kept.push_back(std::move(item));
            }
        }
        items = std::move(kept);
    }
    const auto length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
        count_step();
        auto loop_scope = std::make_shared<Scope>(scope);
        Value loop = Value::dict();
        auto &fields = loop.object().entries; // distinct keys: no lookups needed
        fields.reserve(12);
        auto field = [&fields](const char *name, Value value) {
            fields.emplace_back(Value(name), std::move(value));
        };
        field("index", Value(i + 1));
        field("index0", Value(i));
        field("revindex", Value(length - i));
        field("revindex0", Value(length - i - 1));
        field("first", Value(i == 0));
        field("last", Value(i == length - 1));
        field("length", Value(length));
        field("depth", Value(1));
        field("depth0", Value(0));
        field("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value());
        field("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)] : Value());
        field("cycle", Value::function("cycle", [i](const CallArgs &args) {
                  if (args.positional.empty()) {
                      throw Error("loop.cycle() needs at least one value");
                  }
                  return args.positional[static_cast<size_t>(i) % args.positional.size()];
              }));
        loop_scope->set("loop", std::move(loop));
        assign(*stmt.target, loop_scope, items[static_cast<size_t>(i)]);
        if (exec_body(stmt.body, loop_scope, out) == Flow::Break) {
            break;
        }
    }
    if (length == 0) {
        exec_body(stmt.else_body, std::make_shared<Scope>(scope), out);
    }
}

void Renderer::exec_set(const Stmt &stmt, const ScopePtr &scope, Value value) {
    assign(*stmt.target, scope, std::move(value));
}

void Renderer::assign(const Expr &target, const ScopePtr &scope, Value value) {
    switch (target.kind) {
    case ExprKind::Name:
        scope->set(target.name, std::move(value));
        return;
    case ExprKind::Tuple: {
        std::vector<Value> items;
        try {
            items = iterate(value);
        } catch (const Error &) {
            fail(target.pos, "cannot unpack a '" + value.type_name() + "'");
        }
        if (items.size() != target.items.size()) {
            fail(target.pos, "expected " + std::to_string(target.items.size()) +
                                 " values to unpack, got " + std::to_string(items.size()));
        }
        for (size_t i = 0; i < items.size(); ++i) {
            assign(*target.items[i], scope, std::move(items[i]));
        }
        return;
    }
    case ExprKind::GetAttr: {
        Value object = eval(*target.a, scope);
        if (!object.is_namespace()) {
            fail(target.pos, "cannot set attribute '" + target.name + "' of a '" +
                                 object.type_name() +
                                 "': only namespace() objects take attributes");
        }
        if (contains_object(value, object)) {
            fail(target.pos, "a namespace cannot contain itself");
        }
        object.object().set(Value(target.name), std::move(value));
        return;
    }
    default:
        fail(target.pos, "cannot assign to this expression");
    }
}

Value Renderer::make_macro(const Stmt &stmt, const ScopePtr &scope) {
    std::weak_ptr<Scope> defining = scope;
    const Stmt *macro = &stmt;
    return Value::function(stmt.name, [this, macro, defining](const CallArgs &args) {
        return invoke_macro(*macro, defining, args);
    });
}

Value Renderer::make_caller(const Stmt &stmt, const ScopePtr &scope) {
    std::weak_ptr<Scope> defining = scope;
    const Stmt *block = &stmt;
    return Value::function("caller", [this, block, defining](const CallArgs &args) {
        return invoke_macro(*block, defining, args);
    });
}

Value Renderer::invoke_macro(const Stmt &stmt, const std::weak_ptr<Scope> &defining_scope,
                             const CallArgs &args) {
    if (call_depth_ >= kMaxCallDepth) {
        throw Error("macro calls nested deeper than " + std::to_string(kMaxCallDepth));
    }
    count_step();
    ++call_depth_;
    OnExit restore{[this] { --call_depth_; }};

    ScopePtr parent = defining_scope.lock();
    auto scope = std::make_shared<Scope>(parent ? parent : root_);
    std::vector<const Param *> pending_defaults;
    for (size_t i = 0; i < stmt.params.size(); ++i) {
        const Param &param = stmt.params[i];
        if (i < args.positional.size()) {
            scope->set(param.name, args.positional[i]);
        } else if (const Value *keyword = args.find_keyword(param.name)) {
            scope->set(param.name, *keyword);
        } else {
            scope->set(param.name, Value());
            if (param.default_value) {
                pending_defaults.push_back(&param);
            }
        }
    }
    for (const Param *param : pending_defaults) {
        scope->set(param->name, eval(*param->default_value, scope));
    }
    std::vector<Value> varargs;
    for (size_t i = stmt.params.size(); i < args.positional.size(); ++i) {
        varargs.push_back(args.positional[i]);
    }
    Value kwargs = Value::dict();
    for (const auto &[name, value] : args.keyword) {
        bool is_param = false;
        for (const auto &param : stmt.params) {
            is_param = is_param || param.name == name;
        }
        if (name == "caller" && !is_param) {
            scope->set("caller", value);
        } else if (!is_param) {
            kwargs.object().set(Value(name), value);
        }
    }
    scope->set("varargs", Value::tuple(std::move(varargs)));
    scope->set("kwargs", std::move(kwargs));
    std::string out;
    exec_body(stmt.body, scope, out);
    return Value(std::move(out));
}

Value Renderer::call(const Value &callee, const CallArgs &args) {
    if (!callee.is_function()) {
        throw Error("'" + callee.type_name() + "' object is not callable");
    }
    return callee.function().call(args);
}

Value Renderer::apply_filter(const std::string &name, const Value &operand, const CallArgs &args) {
    FilterFunction filter = find_filter(name);
    if (filter == nullptr) {
        throw Error("no filter named '" + name + "'");
    }
    return filter(*this, operand, args);
}

bool Renderer::apply_test(const std::string &name, const Value &operand, const CallArgs &args) {
    TestFunction test = find_test(name);
    if (test == nullptr) {
        throw Error("no test named '" + name + "'");
    }
    return test(*this, operand, args);
}

Value Renderer::eval(const Expr &expr, const ScopePtr &scope) {
    try {
        return eval_inner(expr, scope);
    } catch (const TemplateError &) {
        throw;
    } catch (const RaisedError &e) {
        fail(expr.pos, e.what(), true);
    } catch (const Error &e) {
        fail(expr.pos, e.what());
    }
}

CallArgs Renderer::eval_args(const std::vector<Arg> &args, const ScopePtr &scope) {
    CallArgs out;
    for (const auto &arg : args) {
        Value value = eval(*arg.value, scope);
        if (arg.keyword.empty()) {
            out.positional.push_back(std::move(value));
        } else {
            out.keyword.emplace_back(arg.keyword, std::move(value));
        }
    }
    return out;
}

Value Renderer::eval_inner(const Expr &expr, const ScopePtr &scope) {
    switch (expr.kind) {
    case ExprKind::Literal:
        return expr.literal;
    case ExprKind::Name: {
        const Value *value = scope->find(expr.name);
        return value != nullptr ? *value : Value();
    }
    case ExprKind::List:
    case ExprKind::Tuple: {
        std::vector<Value> items;
        items.reserve(expr.items.size());
        for (const auto &item : expr.items) {
            items.push_back(eval(*item, scope));
        }
        return expr.kind == ExprKind::List ? Value::array(std::move(items))
                                           : Value::tuple(std::move(items));
    }
    case ExprKind::Dict: {
        Value object = Value::dict();
        for (size_t i = 0; i + 1 < expr.items.size(); i += 2) {
            Value key = eval(*expr.items[i], scope);
            if (key.is_array() || key.is_object() || key.is_undefined() || key.is_function()) {
                throw Error("unhashable dict key of type '" + key.type_name() + "'");
            }
            object.object().set(std::move(key), eval(*expr.items[i + 1], scope));
        }
        return object;
    }
    case ExprKind::GetAttr:
        return get_attribute(defined(*expr.a, scope), expr.name);
    case ExprKind::GetItem:
        return get_item(defined(*expr.a, scope), eval(*expr.b, scope));
    case ExprKind::Slice: {
        Value object = defined(*expr.a, scope);
        Value bounds[3];
        const Value *pointers[3] = {nullptr, nullptr, nullptr};
        for (size_t i = 0; i < 3; ++i) {
            if (expr.items[i]) {
                bounds[i] = eval(*expr.items[i], scope);
                pointers[i] = &bounds[i];
            }
        }
        return slice_value(object, pointers[0], pointers[1], pointers[2]);
    }
    case ExprKind::Call:
        return eval_call(expr, scope);
    case ExprKind::Filter: {
        Value operand = eval(*expr.a, scope);
        return apply_filter(expr.name, operand, eval_args(expr.args, scope));
    }
    case ExprKind::Test: {
        Value operand = eval(*expr.a, scope);
        return Value(apply_test(expr.name, operand, eval_args(expr.args, scope)) != expr.negated);
    }
    case ExprKind::Unary: {
        Value operand = eval(*expr.a, scope);
        if (expr.name == "not") {
            return Value(!operand.truthy());
        }
        if (operand.is_undefined()) {
            throw Error("'" + describe(*expr.a) + "' is undefined");
        }
        if (operand.is_float()) {
            return Value(expr.name == "-" ? -operand.as_float() : operand.as_float());
        }
        if (operand.is_int() || operand.is_bool()) {
            if (expr.name == "+") {
                return Value(operand.as_int());
            }
            if (operand.as_int() == std::numeric_limits<int64_t>::min()) {
                throw Error("integer overflow in unary -");
            }
            return Value(-operand.as_int());
        }
        throw Error("bad operand type for unary " + expr.name + ": '" + operand.type_name() + "'");
    }
    case ExprKind::Binary:
        return eval_binary(expr, scope);
    case ExprKind::Compare:
        return eval_compare(expr, scope);
    case ExprKind::Conditional:
        if (eval(*expr.a, scope).truthy()) {
            return eval(*expr.b, scope);
        }
        return expr.c ? eval(*expr.c, scope) : Value();
    }
    throw Error("unknown expression");
}

// As in Jinja2, looking into an undefined value is an error (`x.y` with x undefined), while
// a missing attribute or item of a defined value is just undefined.
Value Renderer::defined(const Expr &expr, const ScopePtr &scope) {
    Value value = eval(expr, scope);
    if (value.is_undefined()) {
        fail(expr.pos, "'" + describe(expr) + "' is undefined");
    }
    return value;
}

Value Renderer::eval_binary(const Expr &expr, const ScopePtr &scope) {
    const std::string &op = expr.name;
    Value left = eval(*expr.a, scope);
    if (op == "and") {
        return left.truthy() ? eval(*expr.b, scope) : left;
    }
    if (op == "or") {
        return left.truthy() ? left : eval(*expr.b, scope);
    }
    Value right = eval(*expr.b, scope);
    if (op == "~") {
        std::string text = left.str() + right.str();
        check_size(text.size());
        return Value(std::move(text));
    }
    if (left.is_undefined() || right.is_undefined()) {
        const Expr &operand = left.is_undefined() ? *expr.a : *expr.b;
        fail(operand.pos, "'" + describe(operand) + "' is undefined");
    }
    return arithmetic(op, left, right);
}

Value Renderer::eval_compare(const Expr &expr, const ScopePtr &scope) {
    Value left = eval(*expr.items[0], scope);
    for (size_t i = 0; i < expr.ops.size(); ++i) {
        Value right = eval(*expr.items[i + 1], scope);
        const std::string &op = expr.ops[i];
        bool result;
        if (op == "==") {
            result = left == right;
        } else if (op == "!=") {
            result = !(left == right);
        } else if (op == "in" || op == "not in") {
            result = contains(right, left) == (op == "in");
        } else {
            if (left.is_undefined() || right.is_undefined()) {
                const Expr &operand = left.is_undefined() ? *expr.items[i] : *expr.items[i + 1];
                fail(operand.pos, "'" + describe(operand) + "' is undefined");
            }
            int c = compare_values(left, right);
            result = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
        }
        if (!result) {
            return Value(false);
        }
        left = std::move(right);
    }
    return Value(true);
}

Value Renderer::eval_call(const Expr &expr, const ScopePtr &scope) {
    const Expr &callee = *expr.a;
    if (callee.kind == ExprKind::GetAttr) {
        Value receiver = defined(*callee.a, scope);
        CallArgs args = eval_args(expr.args, scope);
        if (has_method(receiver, callee.name)) {
            if (auto result = call_method(receiver, callee.name, args)) {
                return *result;
            }
        }
        Value function = get_attribute(receiver, callee.name);
        if (function.is_undefined()) {
            throw Error("'" + receiver.type_name() + "' object has no method '" + callee.name +
                        "'");
        }
        return call(function, args);
    }
    Value function = eval(callee, scope);
    if (function.is_undefined()) {
        throw Error("'" + describe(callee) + "' is undefined");
    }
    return call(function, eval_args(expr.args, scope));
}

} // namespace graft::chat::detail
