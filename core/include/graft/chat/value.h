// Values of the chat-template interpreter.
//
// The interpreter follows Python Jinja2 semantics (the language chat templates are written
// for), so values mirror Python's: None, bool, int, float, str, list (and tuple), dict (any
// hashable key, insertion-ordered), plus Jinja's Undefined and callables. Lists and dicts are
// shared by reference, as in Python, so `namespace()` attributes, `list.append()` and aliases
// behave the way template authors expect.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace graft::chat {

class Value;

// Arguments of a call: positional first, then keyword arguments in call order.
struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;

    // The keyword argument `name`, or nullptr.
    const Value *find_keyword(std::string_view name) const;
    // Positional argument `index` if given, else keyword `name`, else nullptr.
    const Value *get(size_t index, std::string_view name) const;
};

using NativeFunction = std::function<Value(const CallArgs &)>;

// A list (or tuple: same storage, different repr and immutable by convention).
struct ArrayData {
    std::vector<Value> items;
    bool is_tuple = false;
};

// A dict: insertion-ordered, keys compared with Python equality (1 == 1.0 == True).
// Small maps in practice (messages, tool schemas), so a vector with linear search.
class ObjectData {
  public:
    const Value *find(const Value &key) const;
    Value *find(const Value &key);
    const Value *find_key(std::string_view key) const; // a str key
    void set(Value key, Value value);
    bool erase(const Value &key);
    size_t size() const { return entries.size(); }

    std::vector<std::pair<Value, Value>> entries;
    // A Jinja namespace(): attributes may be assigned with {% set ns.x = ... %}; it is not
    // a mapping for `is mapping` and has no dict methods.
    bool is_namespace = false;
};

struct FunctionData {
    std::string name;
    NativeFunction call;
};

class Value {
  public:
    enum class Kind : uint8_t {
        Undefined,
        None,
        Bool,
        Int,
        Float,
        String,
        Array,
        Object,
        Function
    };

    Value() = default; // undefined
    Value(bool b) : kind_(Kind::Bool), int_(b ? 1 : 0) {}
    Value(int i) : kind_(Kind::Int), int_(i) {}
    Value(int64_t i) : kind_(Kind::Int), int_(i) {}
    Value(double f) : kind_(Kind::Float), float_(f) {}
    Value(std::string s) : kind_(Kind::String), ptr_(std::make_shared<std::string>(std::move(s))) {}
    Value(std::string_view s) : Value(std::string(s)) {}
    Value(const char *s) : Value(std::string(s)) {}

    static Value none();
    static Value undefined() { return Value(); }
    static Value array(std::vector<Value> items = {});
    static Value tuple(std::vector<Value> items);
    static Value dict();
    static Value namespace_object();
    static Value function(std::string name, NativeFunction call);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::Undefined; }
    bool is_none() const { return kind_ == Kind::None; }
    bool is_bool() const { return kind_ == Kind::Bool; }
    bool is_int() const { return kind_ == Kind::Int; }
    bool is_float() const { return kind_ == Kind::Float; }
    // int, float or bool (bool is an int in Python arithmetic).
    bool is_number() const;
    bool is_string() const { return kind_ == Kind::String; }
    bool is_array() const { return kind_ == Kind::Array; }
    bool is_tuple() const { return kind_ == Kind::Array && array_data().is_tuple; }
    bool is_object() const { return kind_ == Kind::Object; }
    bool is_mapping() const { return kind_ == Kind::Object && !object().is_namespace; }
    bool is_namespace() const { return kind_ == Kind::Object && object().is_namespace; }
    bool is_function() const { return kind_ == Kind::Function; }

    // Typed access; the caller checks the kind first.
    bool as_bool() const { return int_ != 0; }
    int64_t as_int() const { return int_; }
    double as_float() const { return float_; }
    // int/bool/float as a double.
    double as_double() const;
    const std::string &as_string() const { return *static_cast<std::string *>(ptr_.get()); }
    ArrayData &array_data() const { return *static_cast<ArrayData *>(ptr_.get()); }
    std::vector<Value> &items() const { return array_data().items; }
    ObjectData &object() const { return *static_cast<ObjectData *>(ptr_.get()); }
    const FunctionData &function() const { return *static_cast<FunctionData *>(ptr_.get()); }
    // Whether both are the same list/dict/function object (Python `is`).
    bool same_object(const Value &other) const;

    // Python truthiness; Undefined is false.
    bool truthy() const;
    // Python str(): what {{ value }} prints. Undefined prints as ''.
    std::string str() const;
    // Python repr(): strings quoted, used inside lists and dicts.
    std::string repr() const;
    // Python's type name, for error messages ("str", "list", "dict", "undefined", ...).
    std::string type_name() const;

    // Python ==: numbers compare by value across int/float/bool, containers deeply.
    friend bool operator==(const Value &a, const Value &b);

    // JSON conversion for the server: objects keep their key order; non-string keys become
    // their str(); undefined and functions become null.
    static Value from_json(const boost::json::value &json);
    boost::json::value to_json() const;

  private:
    Kind kind_ = Kind::Undefined;
    union {
        int64_t int_ = 0; // Int and Bool
        double float_;
    };
    // std::string, ArrayData, ObjectData or FunctionData, by kind_.
    std::shared_ptr<void> ptr_;
};

// Ordering for sort/dictsort/min/max and < <= > >=: numbers numerically, strings by code
// point (optionally ignoring case), lists lexicographically. Throws graft::Error for values
// Python cannot order (e.g. str < int).
int compare_values(const Value &a, const Value &b, bool case_sensitive = true);

// Options of the tojson filter (as transformers defines it: json.dumps, not HTML-escaped,
// keys in insertion order unless sort_keys).
struct JsonOptions {
    int indent = -1; // < 0: one line
    bool ensure_ascii = false;
    bool sort_keys = false;
    std::string item_separator; // empty: ", " on one line, "," when indenting
    std::string key_separator = ": ";
    bool has_item_separator = false;
};

// json.dumps with Python's formatting (", " and ": " separators, floats as repr).
std::string to_json_string(const Value &value, const JsonOptions &options = {});

} // namespace graft::chat
