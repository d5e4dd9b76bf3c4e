// Values of the chat-template interpreter: construction, Python str()/repr(), equality,
// ordering and conversion from and to JSON.
#include <graft/chat/value.h>

#include "limits.h"
#include "text.h"

#include <graft/util/error.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

namespace graft::chat {

using detail::NestingGuard;

const Value *CallArgs::find_keyword(std::string_view name) const {
    for (const auto &[key, value] : keyword) {
        if (key == name) {
            return &value;
        }
    }
    return nullptr;
}

const Value *CallArgs::get(size_t index, std::string_view name) const {
    if (index < positional.size()) {
        return &positional[index];
    }
    return find_keyword(name);
}

const Value *ObjectData::find(const Value &key) const {
    for (const auto &entry : entries) {
        if (entry.first == key) {
            return &entry.second;
        }
    }
    return nullptr;
}

Value *ObjectData::find(const Value &key) {
    return const_cast<Value *>(static_cast<const ObjectData *>(this)->find(key));
}

const Value *ObjectData::find_key(std::string_view key) const {
    for (const auto &entry : entries) {
        if (entry.first.is_string() && entry.first.as_string() == key) {
            return &entry.second;
        }
    }
    return nullptr;
}

void ObjectData::set(Value key, Value value) {
    if (Value *existing = find(key)) {
        *existing = std::move(value);
        return;
    }
    entries.emplace_back(std::move(key), std::move(value));
}

bool ObjectData::erase(const Value &key) {
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const auto &entry) { return entry.first == key; });
    if (it == entries.end()) {
        return false;
    }
    entries.erase(it);
    return true;
}

namespace {

// Dropping the last reference to a deeply nested list would free it recursively, a stack
// frame per level. Containers are freed from a queue instead: one level of recursion at most.
template <class T> void free_later(T *container) {
    thread_local std::vector<std::pair<void *, void (*)(void *)>> queue;
    thread_local bool draining = false;
    queue.emplace_back(container, [](void *p) { delete static_cast<T *>(p); });
    if (draining) {
        return;
    }
    draining = true;
    while (!queue.empty()) {
        auto [pointer, free] = queue.back();
        queue.pop_back();
        free(pointer); // may queue the containers it held
    }
    draining = false;
}

template <class T> std::shared_ptr<void> make_container() {
    return std::shared_ptr<void>(new T(), [](T *p) { free_later(p); });
}

} // namespace

Value Value::none() {
    Value v;
    v.kind_ = Kind::None;
    return v;
}

Value Value::array(std::vector<Value> items) {
    Value v;
    v.kind_ = Kind::Array;
    v.ptr_ = make_container<ArrayData>();
    v.array_data().items = std::move(items);
    return v;
}

Value Value::tuple(std::vector<Value> items) {
    Value v = array(std::move(items));
    v.array_data().is_tuple = true;
    return v;
}

Value Value::dict() {
    Value v;
    v.kind_ = Kind::Object;
    v.ptr_ = make_container<ObjectData>();
    return v;
}

Value Value::namespace_object() {
    Value v = dict();
    v.object().is_namespace = true;
    return v;
}

Value Value::function(std::string name, NativeFunction call) {
    Value v;
    v.kind_ = Kind::Function;
    v.ptr_ = std::make_shared<FunctionData>(FunctionData{std::move(name), std::move(call)});
    return v;
}

bool Value::is_number() const {
    return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool;
}

double Value::as_double() const {
    return kind_ == Kind::Float ? float_ : static_cast<double>(int_);
}

bool Value::same_object(const Value &other) const {
    return ptr_ != nullptr && ptr_ == other.ptr_;
}

bool Value::truthy() const {
    switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
        return false;
    case Kind::Bool:
    case Kind::Int:
        return int_ != 0;
    case Kind::Float:
        return float_ != 0.0;
    case Kind::String:
        return !as_string().empty();
    case Kind::Array:
        return !items().empty();
    case Kind::Object:
        return object().is_namespace || object().size() > 0;
    case Kind::Function:
        return true;
    }
    return false;
}

namespace {

std::string join_repr(const std::vector<Value> &items) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) {
            out += ", ";
        }
        out += items[i].repr();
    }
    return out;
}

std::string object_repr(const ObjectData &object) {
    std::string out = "{";
    bool first = true;
    for (const auto &[key, value] : object.entries) {
        if (!first) {
            out += ", ";
        }
        first = false;
        out += key.repr() + ": " + value.repr();
    }
    return out + "}";
}

} // namespace

std::string Value::str() const {
    switch (kind_) {
    case Kind::Undefined:
        return "";
    case Kind::String:
        return as_string();
    default:
        return repr();
    }
}

std::string Value::repr() const {
    NestingGuard guard;
    switch (kind_) {
    case Kind::Undefined:
        return "";
    case Kind::None:
        return "None";
    case Kind::Bool:
        return int_ ? "True" : "False";
    case Kind::Int:
        return std::to_string(int_);
    case Kind::Float:
        return format_python_float(float_);
    case Kind::String:
        return python_string_repr(as_string());
    case Kind::Array:
        if (is_tuple()) {
            return "(" + join_repr(items()) + (items().size() == 1 ? ",)" : ")");
        }
        return "[" + join_repr(items()) + "]";
    case Kind::Object:
        if (object().is_namespace) {
            return "<Namespace " + object_repr(object()) + ">";
        }
        return object_repr(object());
    case Kind::Function:
        return "<function " + function().name + ">";
    }
    return "";
}

std::string Value::type_name() const {
    switch (kind_) {
    case Kind::Undefined:
        return "undefined";
    case Kind::None:
        return "NoneType";
    case Kind::Bool:
        return "bool";
    case Kind::Int:
        return "int";
    case Kind::Float:
        return "float";
    case Kind::String:
        return "str";
    case Kind::Array:
        return is_tuple() ? "tuple" : "list";
    case Kind::Object:
        return object().is_namespace ? "Namespace" : "dict";
    case Kind::Function:
        return "function";
    }
    return "?";
}

bool operator==(const Value &a, const Value &b) {
    using Kind = Value::Kind;
    NestingGuard guard;
    if (a.is_number() && b.is_number()) {
        if (a.kind() == Kind::Float || b.kind() == Kind::Float) {
            return a.as_double() == b.as_double();
        }
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) {
        return false;
    }
    switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None:
        return true;
    case Kind::String:
        return a.as_string() == b.as_string();
    case Kind::Array:
        return a.same_object(b) || (a.is_tuple() == b.is_tuple() && a.items() == b.items());
    case Kind::Object: {
        if (a.same_object(b)) {
            return true;
        }
        const ObjectData &x = a.object();
        const ObjectData &y = b.object();
        if (x.is_namespace || y.is_namespace || x.size() != y.size()) {
            return false;
        }
        for (const auto &[key, value] : x.entries) {
            const Value *other = y.find(key);
            if (other == nullptr || !(*other == value)) {
                return false;
            }
        }
        return true;
    }
    case Kind::Function:
        return a.same_object(b);
    default:
        return false;
    }
}

int compare_values(const Value &a, const Value &b, bool case_sensitive) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            double x = a.as_double(), y = b.as_double();
            return x < y ? -1 : (y < x ? 1 : 0);
        }
        return a.as_int() < b.as_int() ? -1 : (b.as_int() < a.as_int() ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) {
        if (case_sensitive) {
            return a.as_string().compare(b.as_string()) < 0   ? -1
                   : a.as_string().compare(b.as_string()) > 0 ? 1
                                                              : 0;
        }
        std::string x = to_lower(a.as_string()), y = to_lower(b.as_string());
        return x < y ? -1 : (y < x ? 1 : 0);
    }
    if (a.is_array() && b.is_array()) {
        NestingGuard guard;
        const auto &x = a.items();
        const auto &y = b.items();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (int c = compare_values(x[i], y[i], case_sensitive); c != 0) {
                return c;
            }
        }
        return x.size() < y.size() ? -1 : (y.size() < x.size() ? 1 : 0);
    }
    if ((a.is_none() && b.is_none()) || (a.is_undefined() && b.is_undefined())) {
        return 0;
    }
    throw Error("cannot order " + a.type_name() + " and " + b.type_name());
}

Value Value::from_json(const boost::json::value &json) {
    NestingGuard guard;
    switch (json.kind()) {
    case boost::json::kind::null:
        return none();
    case boost::json::kind::bool_:
        return Value(json.get_bool());
    case boost::json::kind::int64:
        return Value(json.get_int64());
    case boost::json::kind::uint64: {
        uint64_t u = json.get_uint64();
        if (u > static_cast<uint64_t>(INT64_MAX)) {
            return Value(static_cast<double>(u));
        }
        return Value(static_cast<int64_t>(u));
    }
    case boost::json::kind::double_:
        return Value(json.get_double());
    case boost::json::kind::string:
        return Value(std::string(json.get_string()));
    case boost::json::kind::array: {
        std::vector<Value> items;
        items.reserve(json.get_array().size());
        for (const auto &item : json.get_array()) {
            items.push_back(from_json(item));
        }
        return array(std::move(items));
    }
    case boost::json::kind::object: {
        Value v = dict();
        auto &entries = v.object().entries;
        entries.reserve(json.get_object().size());
        for (const auto &item : json.get_object()) {
            entries.emplace_back(Value(std::string(item.key())), from_json(item.value()));
        }
        return v;
    }
    }
    return none();
}

boost::json::value Value::to_json() const {
    NestingGuard guard;
    switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
    case Kind::Function:
        return nullptr;
    case Kind::Bool:
        return as_bool();
    case Kind::Int:
        return int_;
    case Kind::Float:
        return float_;
    case Kind::String:
        return boost::json::string(as_string());
    case Kind::Array: {
        boost::json::array out;
        out.reserve(items().size());
        for (const auto &item : items()) {
            out.push_back(item.to_json());
        }
        return out;
    }
    case Kind::Object: {
        boost::json::object out;
        for (const auto &[key, value] : object().entries) {
            out[key.is_string() ? key.as_string() : key.str()] = value.to_json();
        }
        return out;
    }
    }
    return nullptr;
}

namespace {

std::string json_key(const Value &key, const JsonOptions &options) {
    if (key.is_string()) {
        return json_quote(key.as_string(), options.ensure_ascii);
    }
    if (key.is_bool()) {
        return key.as_bool() ? "\"true\"" : "\"false\"";
    }
    if (key.is_none()) {
        return "\"null\"";
    }
    if (key.is_int() || key.is_float()) {
        return "\"" + key.str() + "\"";
    }
    throw Error("tojson: keys must be str, int, float, bool or None, not " + key.type_name());
}

void write_json(const Value &value, const JsonOptions &options, int depth, std::string &out) {
    NestingGuard guard;
    const bool indenting = options.indent >= 0;
    const std::string &item_separator = options.has_item_separator ? options.item_separator
                                        : indenting                ? std::string(",")
                                                                   : std::string(", ");
    auto newline = [&](int level) {
        out += '\n';
        out.append(static_cast<size_t>(options.indent) * static_cast<size_t>(level), ' ');
    };
    switch (value.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
        out += "null";
        return;
    case Value::Kind::Bool:
        out += value.as_bool() ? "true" : "false";
        return;
    case Value::Kind::Int:
        out += std::to_string(value.as_int());
        return;
    case Value::Kind::Float: {
        double f = value.as_float();
        if (std::isnan(f)) {
            out += "NaN";
        } else if (std::isinf(f)) {
            out += f > 0 ? "Infinity" : "-Infinity";
        } else {
            out += format_python_float(f);
        }
        return;
    }
    case Value::Kind::String:
        out += json_quote(value.as_string(), options.ensure_ascii);
        return;
    case Value::Kind::Array: {
        const auto &items = value.items();
        if (items.empty()) {
            out += "[]";
            return;
        }
        out += '[';
        for (size_t i = 0; i < items.size(); ++i) {
            if (i > 0) {
                out += item_separator;
            }
            if (indenting) {
                newline(depth + 1);
            }
            write_json(items[i], options, depth + 1, out);
        }
        if (indenting) {
            newline(depth);
        }
        out += ']';
        return;
    }
    case Value::Kind::Object: {
        std::vector<const std::pair<Value, Value> *> entries;
        for (const auto &entry : value.object().entries) {
            entries.push_back(&entry);
        }
        if (entries.empty()) {
            out += "{}";
            return;
        }
        if (options.sort_keys) {
            std::stable_sort(entries.begin(), entries.end(), [](const auto *a, const auto *b) {
                return compare_values(a->first, b->first) < 0;
            });
        }
        out += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
            if (i > 0) {
                out += item_separator;
            }
            if (indenting) {
                newline(depth + 1);
            }
            out += json_key(entries[i]->first, options);
            out += options.key_separator;
            write_json(entries[i]->second, options, depth + 1, out);
        }
        if (indenting) {
            newline(depth);
        }
        out += '}';
        return;
    }
    case Value::Kind::Function:
        throw Error("tojson: a function cannot be converted to JSON");
    }
}

} // namespace

std::string to_json_string(const Value &value, const JsonOptions &options) {
    std::string out;
    write_json(value, options, 0, out);
    return out;
}

} // namespace graft::chat
