// Built-in tests of the chat-template interpreter (`x is defined`, `x is divisibleby 3`),
// with Jinja2's semantics, and the iteration and containment rules they share with filters.
#include "evaluator.h"

#include "text.h"

#include <unordered_map>

namespace graft::chat::detail {

std::vector<Value> iterate(const Value &value) {
    switch (value.kind()) {
    case Value::Kind::Undefined:
        return {};
    case Value::Kind::Array:
        return value.items();
    case Value::Kind::String: {
        std::vector<Value> out;
        for (char32_t cp : utf8_decode(value.as_string())) {
            std::string ch;
            utf8_append(ch, cp);
            out.emplace_back(std::move(ch));
        }
        return out;
    }
    case Value::Kind::Object:
        if (!value.is_namespace()) {
            std::vector<Value> keys;
            for (const auto &entry : value.object().entries) {
                keys.push_back(entry.first);
            }
            return keys;
        }
        break;
    default:
        break;
    }
    throw Error("'" + value.type_name() + "' object is not iterable");
}

bool contains_object(const Value &container, const Value &needle) {
    if (!container.is_array() && !container.is_object()) {
        return false;
    }
    NestingGuard guard;
    if (container.same_object(needle)) {
        return true;
    }
    if (container.is_array()) {
        for (const auto &item : container.items()) {
            if (contains_object(item, needle)) {
                return true;
            }
        }
        return false;
    }
    for (const auto &entry : container.object().entries) {
        if (contains_object(entry.second, needle)) {
            return true;
        }
    }
    return false;
}

namespace {

const Value &test_operand(const CallArgs &args, const char *test) {
    if (args.positional.empty()) {
        throw Error(std::string("the '") + test + "' test needs an argument");
    }
    return args.positional[0];
}

bool t_boolean(Renderer &, const Value &v, const CallArgs &) {
    return v.is_bool();
}
bool t_callable(Renderer &, const Value &v, const CallArgs &) {
    return v.is_function();
}
bool t_defined(Renderer &, const Value &v, const CallArgs &) {
    return !v.is_undefined();
}
bool t_undefined(Renderer &, const Value &v, const CallArgs &) {
    return v.is_undefined();
}
bool t_none(Renderer &, const Value &v, const CallArgs &) {
    return v.is_none();
}
bool t_true(Renderer &, const Value &v, const CallArgs &) {
    return v.is_bool() && v.as_bool();
}
bool t_false(Renderer &, const Value &v, const CallArgs &) {
    return v.is_bool() && !v.as_bool();
}
bool t_string(Renderer &, const Value &v, const CallArgs &) {
    return v.is_string();
}
bool t_number(Renderer &, const Value &v, const CallArgs &) {
    return v.is_number();
}
bool t_integer(Renderer &, const Value &v, const CallArgs &) {
    return v.is_int();
}
bool t_float(Renderer &, const Value &v, const CallArgs &) {
    return v.is_float();
}
bool t_mapping(Renderer &, const Value &v, const CallArgs &) {
    return v.is_mapping();
}
bool t_escaped(Renderer &, const Value &, const CallArgs &) {
    return false;
}
// Jinja's Undefined iterates as empty and has a length, so it passes both.
bool t_iterable(Renderer &, const Value &v, const CallArgs &) {
    return v.is_string() || v.is_array() || v.is_mapping() || v.is_undefined();
}
bool t_sequence(Renderer &, const Value &v, const CallArgs &) {
    return v.is_string() || v.is_array() || v.is_mapping() || v.is_undefined();
}
bool t_lower(Renderer &, const Value &v, const CallArgs &) {
    return v.is_string() && to_lower(v.as_string()) == v.as_string() &&
           to_upper(v.as_string()) != v.as_string();
}
bool t_upper(Renderer &, const Value &v, const CallArgs &) {
    return v.is_string() && to_upper(v.as_string()) == v.as_string() &&
           to_lower(v.as_string()) != v.as_string();
}
bool t_odd(Renderer &, const Value &v, const CallArgs &) {
    if (!v.is_int() && !v.is_bool()) {
        throw Error("the 'odd' test needs an integer");
    }
    return v.as_int() % 2 != 0;
}
bool t_even(Renderer &, const Value &v, const CallArgs &) {
    if (!v.is_int() && !v.is_bool()) {
        throw Error("the 'even' test needs an integer");
    }
    return v.as_int() % 2 == 0;
}
bool t_divisibleby(Renderer &, const Value &v, const CallArgs &args) {
    const Value &n = test_operand(args, "divisibleby");
    if (!(v.is_int() || v.is_bool()) || !(n.is_int() || n.is_bool()) || n.as_int() == 0) {
        throw Error("the 'divisibleby' test needs integers and a non-zero divisor");
    }
    return n.as_int() == -1 || v.as_int() % n.as_int() == 0;
}
bool t_eq(Renderer &, const Value &v, const CallArgs &a) {
    return v == test_operand(a, "eq");
}
bool t_ne(Renderer &, const Value &v, const CallArgs &a) {
    return !(v == test_operand(a, "ne"));
}
bool t_lt(Renderer &, const Value &v, const CallArgs &a) {
    return compare_values(v, test_operand(a, "lt")) < 0;
}
bool t_le(Renderer &, const Value &v, const CallArgs &a) {
    return compare_values(v, test_operand(a, "le")) <= 0;
}
bool t_gt(Renderer &, const Value &v, const CallArgs &a) {
    return compare_values(v, test_operand(a, "gt")) > 0;
}
bool t_ge(Renderer &, const Value &v, const CallArgs &a) {
    return compare_values(v, test_operand(a, "ge")) >= 0;
}
bool t_sameas(Renderer &, const Value &v, const CallArgs &args) {
    const Value &other = test_operand(args, "sameas");
    if (v.is_array() || v.is_object() || v.is_function()) {
        return v.same_object(other);
    }
    return v.kind() == other.kind() && v == other;
}
bool t_in(Renderer &, const Value &v, const CallArgs &args) {
    const Value &container = test_operand(args, "in");
    if (container.is_string()) {
        return v.is_string() && container.as_string().find(v.as_string()) != std::string::npos;
    }
    if (container.is_mapping()) {
        return container.object().find(v) != nullptr;
    }
    for (const auto &item : iterate(container)) {
        if (item == v) {
            return true;
        }
    }
    return false;
}
bool t_filter(Renderer &, const Value &v, const CallArgs &) {
    return v.is_string() && find_filter(v.as_string()) != nullptr;
}
bool t_test(Renderer &, const Value &v, const CallArgs &) {
    return v.is_string() && find_test(v.as_string()) != nullptr;
}

const std::unordered_map<std::string, TestFunction> &tests() {
    static const std::unordered_map<std::string, TestFunction> table = {
        {"boolean", t_boolean},
        {"callable", t_callable},
        {"defined", t_defined},
        {"divisibleby", t_divisibleby},
        {"eq", t_eq},
        {"equalto", t_eq},
        {"==", t_eq},
        {"escaped", t_escaped},
        {"even", t_even},
        {"false", t_false},
        {"filter", t_filter},
        {"float", t_float},
        {"ge", t_ge},
        {">=", t_ge},
        {"gt", t_gt},
        {"greaterthan", t_gt},
        {">", t_gt},
        {"in", t_in},
        {"integer", t_integer},
        {"iterable", t_iterable},
        {"le", t_le},
        {"<=", t_le},
        {"lower", t_lower},
        {"lt", t_lt},
        {"lessthan", t_lt},
        {"<", t_lt},
        {"mapping", t_mapping},
        {"ne", t_ne},
        {"!=", t_ne},
        {"none", t_none},
        {"number", t_number},
        {"odd", t_odd},
        {"sameas", t_sameas},
        {"sequence", t_sequence},
        {"string", t_string},
        {"test", t_test},
        {"true", t_true},
        {"undefined", t_undefined},
        {"upper", t_upper},
    };
    return table;
}

} // namespace

TestFunction find_test(const std::string &name) {
    auto it = tests().find(name);
    return it == tests().end() ? nullptr : it->second;
}

} // namespace graft::chat::detail
