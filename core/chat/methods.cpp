// Attribute and item access, Python methods of str/list/dict, string formatting and the
// global functions of the chat-template interpreter.
#include "evaluator.h"

#include "text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace graft::chat::detail {

namespace {

bool is_string_method(const std::string &name) {
    static const char *const names[] = {
        "strip",    "lstrip",  "rstrip",  "split",        "rsplit",      "splitlines", "startswith",
        "endswith", "upper",   "lower",   "title",        "capitalize",  "replace",    "format",
        "join",     "find",    "rfind",   "count",        "isdigit",     "isalpha",    "isalnum",
        "isspace",  "isupper", "islower", "removeprefix", "removesuffix"};
    return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

bool is_list_method(const std::string &name) {
    static const char *const names[] = {"append", "pop",    "insert",  "extend", "index",
                                        "count",  "remove", "reverse", "copy",   "clear"};
    return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

bool is_dict_method(const std::string &name) {
    static const char *const names[] = {"get",    "items",      "keys", "values", "pop",
                                        "update", "setdefault", "copy", "clear"};
    return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

Value bound_method(const Value &receiver, const std::string &name) {
    return Value::function(name, [receiver, name](const CallArgs &args) {
        std::optional<Value> result = call_method(receiver, name, args);
        if (!result) {
            throw Error("'" + receiver.type_name() + "' object has no method '" + name + "'");
        }
        return *result;
    });
}

const Value &required(const CallArgs &args, size_t index, const char *method) {
    if (index >= args.positional.size()) {
        throw Error(std::string(method) + "() is missing an argument");
    }
    return args.positional[index];
}

// Normalizes a Python index against `size`; false when out of range.
bool normalize_index(int64_t &index, size_t size) {
    if (index < 0) {
        index += static_cast<int64_t>(size);
    }
    return index >= 0 && index < static_cast<int64_t>(size);
}

bool affix_matches(const std::string &text, const Value &affix, bool prefix) {
    auto one = [&](const Value &candidate) {
        if (!candidate.is_string()) {
            throw Error(std::string(prefix ? "startswith" : "endswith") + "() needs strings");
        }
        const std::string &a = candidate.as_string();
        return a.size() <= text.size() &&
               (prefix ? text.compare(0, a.size(), a) == 0
                       : text.compare(text.size() - a.size(), a.size(), a) == 0);
    };
    if (affix.is_array()) {
        return std::any_of(affix.items().begin(), affix.items().end(), one);
    }
    return one(affix);
}

std::optional<Value> string_method(const std::string &s, const std::string &name,
                                   const CallArgs &args) {
    auto optional_string = [&](size_t index, std::string_view key,
                               std::string &storage) -> const std::string * {
        const Value *v = args.get(index, key);
        if (v == nullptr || v->is_none()) {
            return nullptr;
        }
        storage = v->str();
        return &storage;
    };
    std::string storage;
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const std::string *chars = optional_string(0, "chars", storage);
        return Value(strip(s, chars, name != "rstrip", name != "lstrip"));
    }
    if (name == "split" || name == "rsplit") {
        const std::string *sep = optional_string(0, "sep", storage);
        if (sep != nullptr && sep->empty()) {
            throw Error("empty separator");
        }
        const Value *max = args.get(1, "maxsplit");
        int64_t maxsplit = max != nullptr && max->is_int() ? max->as_int() : -1;
        std::vector<std::string> parts;
        if (name == "rsplit" && maxsplit >= 0) {
            // Split the reversed text and reverse back: same result as splitting from the right.
            auto rev = [](std::string t) {
                auto cps = utf8_decode(t);
                std::reverse(cps.begin(), cps.end());
                return utf8_encode(cps);
            };
            std::string reversed_sep = sep != nullptr ? rev(*sep) : "";
            parts = split(rev(s), sep != nullptr ? &reversed_sep : nullptr, maxsplit);
            std::reverse(parts.begin(), parts.end());
            for (auto &part : parts) {
                part = rev(part);
            }
        } else {
            parts = split(s, sep, maxsplit);
        }
        std::vector<Value> out(parts.begin(), parts.end());
        return Value::array(std::move(out));
    }
    if (name == "splitlines") {
        std::string newline = "\n";
        std::vector<std::string> lines = split(s, &newline, -1);
        if (!lines.empty() && lines.back().empty()) {
            lines.pop_back();
        }
        std::vector<Value> out;
        for (auto &line : lines) {
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            out.emplace_back(std::move(line));
        }
        return Value::array(std::move(out));
    }
    if (name == "startswith" || name == "endswith") {
        return Value(affix_matches(s, required(args, 0, name.c_str()), name == "startswith"));
    }
    if (name == "upper") {
        return Value(to_upper(s));
    }
    if (name == "lower") {
        return Value(to_lower(s));
    }
    if (name == "title") {
        return Value(python_title(s));
    }
    if (name == "capitalize") {
        return Value(capitalize(s));
    }
    if (name == "replace") {
        const Value *count = args.get(2, "count");
        std::string out =
            replace(s, required(args, 0, "replace").str(), required(args, 1, "replace").str(),
                    count != nullptr && count->is_int() ? count->as_int() : -1);
        if (out.size() > kMaxStringBytes) {
            throw Error("replace result exceeds the 64 MiB limit");
        }
        return Value(std::move(out));
    }
    if (name == "format") {
        return Value(str_format(s, args));
    }
    if (name == "join") {
        std::string out;
        bool first = true;
        for (const auto &item : iterate(required(args, 0, "join"))) {
            if (!first) {
                out += s;
            }
            first = false;
            if (!item.is_string()) {
                throw Error("join() needs strings, found '" + item.type_name() + "'");
            }
            out += item.as_string();
        }
        return Value(std::move(out));
    }
    if (name == "find" || name == "rfind") {
        std::string needle = required(args, 0, name.c_str()).str();
        size_t at = name == "find" ? s.find(needle) : s.rfind(needle);
        return Value(at == std::string::npos ? int64_t{-1}
                                             : static_cast<int64_t>(utf8_length(s.substr(0, at))));
    }
    if (name == "count") {
        std::string needle = required(args, 0, "count").str();
        if (needle.empty()) {
            return Value(static_cast<int64_t>(utf8_length(s) + 1));
        }
        int64_t n = 0;
        for (size_t at = s.find(needle); at != std::string::npos;
             at = s.find(needle, at + needle.size())) {
            ++n;
        }
        return Value(n);
    }
    if (name == "removeprefix" || name == "removesuffix") {
        std::string affix = required(args, 0, name.c_str()).str();
        bool prefix = name == "removeprefix";
        if (affix_matches(s, Value(affix), prefix)) {
            return Value(prefix ? s.substr(affix.size()) : s.substr(0, s.size() - affix.size()));
        }
        return Value(s);
    }
    auto all_chars = [&](auto predicate) {
        return Value(!s.empty() && std::all_of(s.begin(), s.end(), predicate));
    };
    if (name == "isdigit") {
        return all_chars([](char c) { return c >= '0' && c <= '9'; });
    }
    if (name == "isalpha") {
        return all_chars([](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); });
    }
    if (name == "isalnum") {
        return all_chars([](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        });
    }
    if (name == "isspace") {
        return all_chars(is_space);
    }
    if (name == "isupper") {
        return Value(to_upper(s) == s && to_lower(s) != s);
    }
    if (name == "islower") {
        return Value(to_lower(s) == s && to_upper(s) != s);
    }
    return std::nullopt;
}

std::optional<Value> list_method(const Value &list, const std::string &name, const CallArgs &args) {
    std::vector<Value> &items = list.items();
    if (name == "append") {
        const Value &item = required(args, 0, "append");
        if (contains_object(item, list)) {
            throw Error("a list cannot contain itself");
        }
        items.push_back(item);
        return Value::none();
    }
    if (name == "pop") {
        const Value *at = args.get(0, "index");
        int64_t index = at != nullptr && (at->is_int() || at->is_bool()) ? at->as_int() : -1;
        if (!normalize_index(index, items.size())) {
            throw Error(items.empty() ? "pop from empty list" : "pop index out of range");
        }
        Value out = items[static_cast<size_t>(index)];
        items.erase(items.begin() + index);
        return out;
    }
    if (name == "insert") {
        const Value &at = required(args, 0, "insert");
        const Value &item = required(args, 1, "insert");
        if (!at.is_int()) {
            throw Error("insert() needs an integer index");
        }
        if (contains_object(item, list)) {
            throw Error("a list cannot contain itself");
        }
        int64_t index = at.as_int();
        auto size = static_cast<int64_t>(items.size());
        index = index < 0 ? std::max<int64_t>(0, index + size) : std::min(index, size);
        items.insert(items.begin() + index, item);
        return Value::none();
    }
    if (name == "extend") {
        const Value &other = required(args, 0, "extend");
        std::vector<Value> more = iterate(other);
        if (contains_object(Value::array(more), list)) {
            throw Error("a list cannot contain itself");
        }
        items.insert(items.end(), more.begin(), more.end());
        return Value::none();
    }
    if (name == "index" || name == "count" || name == "remove") {
        const Value &needle = required(args, 0, name.c_str());
        auto it = std::find(items.begin(), items.end(), needle);
        if (name == "count") {
            return Value(static_cast<int64_t>(std::count(items.begin(), items.end(), needle)));
        }
        if (it == items.end()) {
            throw Error("list." + name + "(x): x not in list");
        }
        if (name == "index") {
            return Value(static_cast<int64_t>(it - items.begin()));
        }
        items.erase(it);
        return Value::none();
    }
    if (name == "reverse") {
        std::reverse(items.begin(), items.end());
        return Value::none();
    }
    if (name == "copy") {
        return Value::array(items);
    }
    if (name == "clear") {
        items.clear();
        return Value::none();
    }
    return std::nullopt;
}

std::optional<Value> dict_method(const Value &dict, const std::string &name, const CallArgs &args) {
    ObjectData &object = dict.object();
    if (name == "get") {
        const Value *found = object.find(required(args, 0, "get"));
        if (found != nullptr) {
            return *found;
        }
        const Value *fallback = args.get(1, "default");
        return fallback != nullptr ? *fallback : Value::none();
    }
    if (name == "items" || name == "keys" || name == "values") {
        std::vector<Value> out;
        for (const auto &[key, value] : object.entries) {
            out.push_back(name == "items"  ? Value::tuple({key, value})
                          : name == "keys" ? key
                                           : value);
        }
        return Value::array(std::move(out));
    }
    if (name == "pop") {
        const Value &key = required(args, 0, "pop");
        if (const Value *found = object.find(key)) {
            Value out = *found;
            object.erase(key);
            return out;
        }
        if (args.positional.size() > 1) {
            return args.positional[1];
        }
        throw Error("dict.pop(): key " + key.repr() + " not found");
    }
    if (name == "setdefault") {
        const Value &key = required(args, 0, "setdefault");
        if (const Value *found = object.find(key)) {
            return *found;
        }
        Value fallback = args.positional.size() > 1 ? args.positional[1] : Value::none();
        if (contains_object(fallback, dict)) {
            throw Error("a dict cannot contain itself");
        }
        object.set(key, fallback);
        return fallback;
    }
    if (name == "update") {
        std::vector<std::pair<Value, Value>> updates;
        if (!args.positional.empty()) {
            const Value &other = args.positional[0];
            if (!other.is_mapping()) {
                throw Error("dict.update() needs a dict");
            }
            updates = other.object().entries;
        }
        for (const auto &[key, value] : args.keyword) {
            updates.emplace_back(Value(key), value);
        }
        for (auto &[key, value] : updates) {
            if (contains_object(value, dict)) {
                throw Error("a dict cannot contain itself");
            }
            object.set(key, value);
        }
        return Value::none();
    }
    if (name == "copy") {
        Value copy = Value::dict();
        copy.object().entries = object.entries;
        return copy;
    }
    if (name == "clear") {
        object.entries.clear();
        return Value::none();
    }
    return std::nullopt;
}

} // namespace

bool has_method(const Value &receiver, const std::string &name) {
    switch (receiver.kind()) {
    case Value::Kind::String:
        return is_string_method(name);
    case Value::Kind::Array:
        return is_list_method(name);
    case Value::Kind::Object:
        return !receiver.is_namespace() && is_dict_method(name);
    default:
        return false;
    }
}

std::optional<Value> call_method(const Value &receiver, const std::string &name,
                                 const CallArgs &args) {
    switch (receiver.kind()) {
    case Value::Kind::String:
        return string_method(receiver.as_string(), name, args);
    case Value::Kind::Array:
        return list_method(receiver, name, args);
    case Value::Kind::Object:
        return receiver.is_namespace() ? std::nullopt : dict_method(receiver, name, args);
    default:
        return std::nullopt;
    }
}

Value get_attribute(const Value &value, const std::string &name) {
    if (has_method(value, name)) {
        return bound_method(value, name);
    }
    if (value.is_object()) {
        const Value *found = value.object().find_key(name);
        return found != nullptr ? *found : Value();
    }
    return Value();
}

Value get_item(const Value &value, const Value &key) {
    if (value.is_object()) {
        if (const Value *found = value.object().find(key)) {
            return *found;
        }
    } else if ((value.is_array() || value.is_string()) && (key.is_int() || key.is_bool())) {
        int64_t index = key.as_int();
        if (value.is_array()) {
            return normalize_index(index, value.items().size())
                       ? value.items()[static_cast<size_t>(index)]
                       : Value();
        }
        auto cps = utf8_decode(value.as_string());
        if (!normalize_index(index, cps.size())) {
            return Value();
        }
        std::string ch;
        utf8_append(ch, cps[static_cast<size_t>(index)]);
        return Value(std::move(ch));
    }
    if (key.is_string() && has_method(value, key.as_string())) {
        return bound_method(value, key.as_string());
    }
    return Value();
}

Value slice_value(const Value &value, const Value *start_arg, const Value *stop_arg,
                  const Value *step_arg) {
    auto bound = [](const Value *v, const char *what) -> std::optional<int64_t> {
        if (v == nullptr || v->is_none()) {
            return std::nullopt;
        }
        if (!v->is_int() && !v->is_bool()) {
            throw Error(std::string("slice ") + what + " must be an integer or none");
        }
        return v->as_int();
    };
    std::optional<int64_t> start_opt = bound(start_arg, "start"),
                           stop_opt = bound(stop_arg, "stop");
    int64_t step = bound(step_arg, "step").value_or(1);
    if (step == 0) {
        throw Error("slice step cannot be zero");
    }
    std::vector<char32_t> cps;
    size_t size = 0;
    if (value.is_string()) {
        cps = utf8_decode(value.as_string());
        size = cps.size();
    } else if (value.is_array()) {
        size = value.items().size();
    } else if (value.is_undefined()) {
        return Value();
    } else {
        throw Error("cannot slice a '" + value.type_name() + "'");
    }
    auto n = static_cast<int64_t>(size);
    auto clamp = [&](std::optional<int64_t> v, int64_t fallback, int64_t low, int64_t high) {
        if (!v) {
            return fallback;
        }
        int64_t x = *v < 0 ? *v + n : *v;
        return std::clamp(x, low, high);
    };
    int64_t start = step > 0 ? clamp(start_opt, 0, 0, n) : clamp(start_opt, n - 1, -1, n - 1);
    int64_t stop = step > 0 ? clamp(stop_opt, n, 0, n) : clamp(stop_opt, -1, -1, n - 1);
    std::vector<size_t> picks;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        picks.push_back(static_cast<size_t>(i));
    }
    if (value.is_string()) {
        std::string out;
        for (size_t i : picks) {
            utf8_append(out, cps[i]);
        }
        return Value(std::move(out));
    }
    std::vector<Value> out;
    for (size_t i : picks) {
        out.push_back(value.items()[i]);
    }
    return value.is_tuple() ? Value::tuple(std::move(out)) : Value::array(std::move(out));
}

void install_globals(Renderer &renderer, Scope &scope) {
    scope.set("range", Value::function("range", [](const CallArgs &args) {
                  std::vector<int64_t> bounds;
                  for (const auto &v : args.positional) {
                      if (!v.is_int() && !v.is_bool()) {
                          throw Error("range() needs integers, not '" + v.type_name() + "'");
                      }
                      bounds.push_back(v.as_int());
                  }
                  if (bounds.empty() || bounds.size() > 3) {
                      throw Error("range() takes 1 to 3 integers");
                  }
                  int64_t start = bounds.size() == 1 ? 0 : bounds[0];
                  int64_t stop = bounds.size() == 1 ? bounds[0] : bounds[1];
                  int64_t step = bounds.size() == 3 ? bounds[2] : 1;
                  if (step == 0) {
                      throw Error("range() step must not be zero");
                  }
                  std::vector<Value> out;
                  for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
                      if (static_cast<int64_t>(out.size()) >= kMaxRangeLength) {
                          throw Error("range() is too long (more than " +
                                      std::to_string(kMaxRangeLength) + " items)");
                      }
                      out.emplace_back(i);
                      if (__builtin_add_overflow(i, step, &i)) {
                          break;
                      }
                  }
                  return Value::array(std::move(out));
              }));
    auto make_mapping = [](bool is_namespace) {
        return [is_namespace](const CallArgs &args) {
            Value out = is_namespace ? Value::namespace_object() : Value::dict();
            if (!args.positional.empty()) {
                const Value &source = args.positional[0];
                if (source.is_object()) {
                    out.object().entries = source.object().entries;
                } else {
                    for (const auto &pair : iterate(source)) {
                        std::vector<Value> kv = iterate(pair);
                        if (kv.size() != 2) {
                            throw Error("dict() and namespace() need (key, value) pairs");
                        }
                        out.object().set(kv[0], kv[1]);
                    }
                }
            }
            for (const auto &[key, value] : args.keyword) {
                out.object().set(Value(key), value);
            }
            return out;
        };
    };
    scope.set("namespace", Value::function("namespace", make_mapping(true)));
    scope.set("dict", Value::function("dict", make_mapping(false)));
    scope.set(
        "raise_exception", Value::function("raise_exception", [](const CallArgs &args) -> Value {
            throw RaisedError(args.positional.empty() ? std::string("raise_exception() called")
                                                      : args.positional[0].str());
        }));
    scope.set("strftime_now", Value::function("strftime_now", [&renderer](const CallArgs &args) {
                  std::string format =
                      args.positional.empty() ? std::string() : args.positional[0].str();
                  if (format.size() > 1024) {
                      throw Error("strftime_now() format is too long");
                  }
                  std::tm now = renderer.now();
                  // A trailing marker tells an empty result apart from a buffer that is too small.
                  std::string marked = format + "\x01";
                  std::vector<char> buffer(256 + format.size() * 16);
                  size_t written =
                      std::strftime(buffer.data(), buffer.size(), marked.c_str(), &now);
                  if (written == 0) {
                      throw Error("strftime_now() result is too long");
                  }
                  return Value(std::string(buffer.data(), written - 1));
              }));
}

} // namespace graft::chat::detail
