// Built-in filters of the chat-template interpreter, with Jinja2's semantics (and
// transformers' tojson).
#include "evaluator.h"

#include "text.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace graft::chat::detail {

namespace {

const Value *arg(const CallArgs &args, size_t index, std::string_view name) {
    return args.get(index, name);
}

bool flag(const CallArgs &args, size_t index, std::string_view name, bool fallback) {
    const Value *v = arg(args, index, name);
    return v != nullptr ? v->truthy() : fallback;
}

std::string string_arg(const CallArgs &args, size_t index, std::string_view name,
                       const std::string &fallback) {
    const Value *v = arg(args, index, name);
    return v != nullptr && !v->is_none() ? v->str() : fallback;
}

// "a.b.0": attribute path as used by map/sort/selectattr... (Jinja's make_attrgetter).
Value get_path(const Value &item, const std::string &path) {
    static const std::string dot = ".";
    Value current = item;
    for (const std::string &part : split(path, &dot, -1)) {
        bool numeric = !part.empty() && std::all_of(part.begin(), part.end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
        if (numeric && current.is_array() && part.size() < 18) {
            current = get_item(
                current, Value(static_cast<int64_t>(std::strtoll(part.c_str(), nullptr, 10))));
        } else {
            current = get_item(current, Value(part));
        }
    }
    return current;
}

Value ignore_case(const Value &v, bool case_sensitive) {
    return !case_sensitive && v.is_string() ? Value(to_lower(v.as_string())) : v;
}

Value f_abs(Renderer &, const Value &v, const CallArgs &) {
    if (v.is_float()) {
        return Value(std::fabs(v.as_float()));
    }
    if (v.is_int() || v.is_bool()) {
        if (v.as_int() == std::numeric_limits<int64_t>::min()) {
            throw Error("integer overflow in abs");
        }
        return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    }
    throw Error("bad operand type for abs(): '" + v.type_name() + "'");
}

// Jinja's attr() reads attributes only: a dict's keys are not attributes, a namespace's are.
Value f_attr(Renderer &, const Value &v, const CallArgs &args) {
    std::string name = string_arg(args, 0, "name", "");
    if (v.is_mapping() && !has_method(v, name)) {
        return Value();
    }
    return get_attribute(v, name);
}

Value f_capitalize(Renderer &, const Value &v, const CallArgs &) {
    return Value(capitalize(v.str()));
}

Value f_center(Renderer &, const Value &v, const CallArgs &args) {
    const Value *w = arg(args, 0, "width");
    std::string text = v.str();
    int64_t width = w != nullptr && w->is_int() ? w->as_int() : 80;
    auto length = static_cast<int64_t>(utf8_length(text));
    if (width <= length) {
        return Value(text);
    }
    int64_t total = width - length, left = total / 2 + (total & width & 1);
    return Value(std::string(static_cast<size_t>(left), ' ') + text +
                 std::string(static_cast<size_t>(total - left), ' '));
}

Value f_length(Renderer &, const Value &v, const CallArgs &) {
    switch (v.kind()) {
    case Value::Kind::Undefined:
        return Value(int64_t{0});
    case Value::Kind::String:
        return Value(static_cast<int64_t>(utf8_length(v.as_string())));
    case Value::Kind::Array:
        return Value(static_cast<int64_t>(v.items().size()));
    case Value::Kind::Object:
        return Value(static_cast<int64_t>(v.object().size()));
    default:
        throw Error("object of type '" + v.type_name() + "' has no len()");
    }
}

Value f_default(Renderer &, const Value &v, const CallArgs &args) {
    const Value *fallback = arg(args, 0, "default_value");
    bool boolean = flag(args, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !v.truthy())) {
        return fallback != nullptr ? *fallback : Value("");
    }
    return v;
}

Value f_dictsort(Renderer &, const Value &v, const CallArgs &args) {
    if (!v.is_mapping()) {
        throw Error("dictsort needs a dict, not '" + v.type_name() + "'");
    }
    bool case_sensitive = flag(args, 0, "case_sensitive", false);
    std::string by = string_arg(args, 1, "by", "key");
    bool reverse = flag(args, 2, "reverse", false);
    if (by != "key" && by != "value") {
        throw Error("dictsort: 'by' must be 'key' or 'value'");
    }
    size_t index = by == "key" ? 0 : 1;
    std::vector<Value> pairs;
    for (const auto &[key, value] : v.object().entries) {
        pairs.push_back(Value::tuple({key, value}));
    }
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value &a, const Value &b) {
        int c = compare_values(ignore_case(a.items()[index], case_sensitive),
                               ignore_case(b.items()[index], case_sensitive));
        return reverse ? c > 0 : c < 0;
    });
    return Value::array(std::move(pairs));
}

Value f_escape(Renderer &, const Value &v, const CallArgs &) {
    return Value(html_escape(v.str()));
}

Value f_first(Renderer &, const Value &v, const CallArgs &) {
    std::vector<Value> items = iterate(v);
    return items.empty() ? Value() : items.front();
}

Value f_last(Renderer &, const Value &v, const CallArgs &) {
    std::vector<Value> items = iterate(v);
    return items.empty() ? Value() : items.back();
}

Value f_float(Renderer &, const Value &v, const CallArgs &args) {
    const Value *fallback = arg(args, 0, "default");
    if (v.is_number()) {
        return Value(v.as_double());
    }
    if (v.is_string()) {
        std::string text = strip(v.as_string(), nullptr, true, true);
        char *end = nullptr;
        double d = std::strtod(text.c_str(), &end);
        if (!text.empty() && end == text.c_str() + text.size()) {
            return Value(d);
        }
    }
    return fallback != nullptr ? *fallback : Value(0.0);
}

Value f_int(Renderer &, const Value &v, const CallArgs &args) {
    const Value *fallback = arg(args, 0, "default");
    const Value *base_arg = arg(args, 1, "base");
    int base =
        base_arg != nullptr && base_arg->is_int() ? static_cast<int>(base_arg->as_int()) : 10;
    if (v.is_int() || v.is_bool()) {
        return Value(v.as_int());
    }
    if (v.is_float()) {
        double d = std::trunc(v.as_float());
        if (std::isfinite(d) && d >= -9.2e18 && d <= 9.2e18) {
            return Value(static_cast<int64_t>(d));
        }
    } else if (v.is_string() && base >= 2 && base <= 36) {
        std::string text = strip(v.as_string(), nullptr, true, true);
        errno = 0;
        char *end = nullptr;
        long long i = std::strtoll(text.c_str(), &end, base);
        if (!text.empty() && end == text.c_str() + text.size() && errno == 0) {
            return Value(static_cast<int64_t>(i));
        }
        // Jinja falls back to int(float(text)).
        double d = std::strtod(text.c_str(), &end);
        if (!text.empty() && end == text.c_str() + text.size() && std::isfinite(d) &&
            std::fabs(d) < 9.2e18) {
            return Value(static_cast<int64_t>(d));
        }
    }
    return fallback != nullptr ? *fallback : Value(int64_t{0});
}

Value f_format(Renderer &, const Value &v, const CallArgs &args) {
    if (!args.keyword.empty()) {
        Value mapping = Value::dict();
        for (const auto &[k, value] : args.keyword) {
            mapping.object().set(Value(k), value);
        }
        return Value(percent_format(v.str(), mapping));
    }
    return Value(percent_format(v.str(), Value::tuple(args.positional)));
}

Value f_from_json(Renderer &, const Value &v, const CallArgs &) {
    boost::system::error_code error;
    boost::json::value json = boost::json::parse(v.str(), error);
    if (error) {
        throw Error("from_json: invalid JSON: " + error.message());
    }
    return Value::from_json(json);
}

Value f_indent(Renderer &, const Value &v, const CallArgs &args) {
    const Value *width = arg(args, 0, "width");
    std::string indentation =
        width == nullptr     ? "    "
        : width->is_string() ? width->as_string()
        : width->is_int() && width->as_int() > 0
            ? std::string(static_cast<size_t>(std::min<int64_t>(width->as_int(), 1024)), ' ')
            : "";
    bool first = flag(args, 1, "first", false);
    bool blank = flag(args, 2, "blank", false);
    std::string newline = "\n";
    std::vector<std::string> lines = split(v.str() + "\n", &newline, -1);
    lines.pop_back(); // what str.splitlines() drops after the added newline
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) {
            out += "\n";
            if (blank || !lines[i].empty()) {
                out += indentation;
            }
        }
        out += lines[i];
    }
    return Value(first ? indentation + out : out);
}

Value f_items(Renderer &, const Value &v, const CallArgs &) {
    if (v.is_undefined()) {
        return Value::array();
    }
    if (!v.is_mapping()) {
        throw Error("items needs a dict, not '" + v.type_name() + "'");
    }
    std::vector<Value> pairs;
    for (const auto &[key, value] : v.object().entries) {
        pairs.push_back(Value::tuple({key, value}));
    }
    return Value::array(std::move(pairs));
}

Value f_join(Renderer &, const Value &v, const CallArgs &args) {
    std::string separator = string_arg(args, 0, "d", "");
    const Value *attribute = arg(args, 1, "attribute");
    std::string out;
    bool first = true;
    for (const auto &item : iterate(v)) {
        if (!first) {
            out += separator;
        }
        first = false;
        out += attribute != nullptr ? get_path(item, attribute->str()).str() : item.str();
        if (out.size() > kMaxStringBytes) {
            throw Error("join result exceeds the 64 MiB limit");
        }
    }
    return Value(std::move(out));
}

Value f_list(Renderer &, const Value &v, const CallArgs &) {
    return Value::array(iterate(v));
}

Value f_lower(Renderer &, const Value &v, const CallArgs &) {
    return Value(to_lower(v.str()));
}

Value f_upper(Renderer &, const Value &v, const CallArgs &) {
    return Value(to_upper(v.str()));
}

// select/reject/selectattr/rejectattr: args are [attribute,] test name, test args...
Value select_items(Renderer &renderer, const Value &v, const CallArgs &args, bool by_attribute,
                   bool keep_matching) {
    size_t first_test_arg = by_attribute ? 1 : 0;
    if (by_attribute && args.positional.empty()) {
        throw Error("selectattr/rejectattr need an attribute name");
    }
    std::string attribute = by_attribute ? args.positional[0].str() : "";
    bool has_test = args.positional.size() > first_test_arg;
    std::string test = has_test ? args.positional[first_test_arg].str() : "";
    CallArgs test_args;
    for (size_t i = first_test_arg + 1; i < args.positional.size(); ++i) {
        test_args.positional.push_back(args.positional[i]);
    }
    std::vector<Value> out;
    if (!v.truthy()) {
        return Value::array(); // Jinja skips a falsy sequence (none included)
    }
    for (const auto &item : iterate(v)) {
        Value subject = by_attribute ? get_path(item, attribute) : item;
        bool matches = has_test ? renderer.apply_test(test, subject, test_args) : subject.truthy();
        if (matches == keep_matching) {
            out.push_back(item);
        }
    }
    return Value::array(std::move(out));
}

Value f_select(Renderer &r, const Value &v, const CallArgs &a) {
    return select_items(r, v, a, false, true);
}
Value f_reject(Renderer &r, const Value &v, const CallArgs &a) {
    return select_items(r, v, a, false, false);
}
Value f_selectattr(Renderer &r, const Value &v, const CallArgs &a) {
    return select_items(r, v, a, true, true);
}
Value f_rejectattr(Renderer &r, const Value &v, const CallArgs &a) {
    return select_items(r, v, a, true, false);
}

Value f_map(Renderer &renderer, const Value &v, const CallArgs &args) {
    std::vector<Value> out;
    if (!v.truthy()) {
        return Value::array(); // Jinja skips a falsy sequence (none included)
    }
    if (const Value *attribute = args.find_keyword("attribute")) {
        const Value *fallback = args.find_keyword("default");
        for (const auto &item : iterate(v)) {
            Value mapped = get_path(item, attribute->str());
            out.push_back(mapped.is_undefined() && fallback != nullptr ? *fallback : mapped);
        }
        return Value::array(std::move(out));
    }
    if (args.positional.empty()) {
        throw Error("map needs a filter name or attribute=");
    }
    std::string filter = args.positional[0].str();
    CallArgs filter_args;
    filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
    filter_args.keyword = args.keyword;
    for (const auto &item : iterate(v)) {
        out.push_back(renderer.apply_filter(filter, item, filter_args));
    }
    return Value::array(std::move(out));
}

Value extreme(const Value &v, const CallArgs &args, bool want_max) {
    bool case_sensitive = flag(args, 0, "case_sensitive", false);
    const Value *attribute = arg(args, 1, "attribute");
    std::vector<Value> items = iterate(v);
    if (items.empty()) {
        return Value();
    }
    auto key = [&](const Value &item) {
        return ignore_case(attribute != nullptr ? get_path(item, attribute->str()) : item,
                           case_sensitive);
    };
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i) {
        int c = compare_values(key(items[i]), key(items[best]));
        if (want_max ? c > 0 : c < 0) {
            best = i;
        }
    }
    return items[best];
}

Value f_max(Renderer &, const Value &v, const CallArgs &a) {
    return extreme(v, a, true);
}
Value f_min(Renderer &, const Value &v, const CallArgs &a) {
    return extreme(v, a, false);
}

Value f_pprint(Renderer &, const Value &v, const CallArgs &) {
    return Value(v.repr());
}

Value f_replace(Renderer &, const Value &v, const CallArgs &args) {
    const Value *from = arg(args, 0, "old");
    const Value *to = arg(args, 1, "new");
    const Value *count = arg(args, 2, "count");
    if (from == nullptr || to == nullptr) {
        throw Error("replace needs the old and the new text");
    }
    std::string out = replace(v.str(), from->str(), to->str(),
                              count != nullptr && count->is_int() ? count->as_int() : -1);
    if (out.size() > kMaxStringBytes) {
        throw Error("replace result exceeds the 64 MiB limit");
    }
    return Value(std::move(out));
}

Value f_reverse(Renderer &, const Value &v, const CallArgs &) {
    if (v.is_string()) {
        auto cps = utf8_decode(v.as_string());
        std::reverse(cps.begin(), cps.end());
        return Value(utf8_encode(cps));
    }
    std::vector<Value> items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::array(std::move(items));
}

Value f_round(Renderer &, const Value &v, const CallArgs &args) {
    const Value *precision_arg = arg(args, 0, "precision");
    std::string method = string_arg(args, 1, "method", "common");
    int64_t precision =
        precision_arg != nullptr && precision_arg->is_int() ? precision_arg->as_int() : 0;
    if (!v.is_number()) {
        throw Error("round needs a number, not '" + v.type_name() + "'");
    }
    if (!v.is_float() && method == "common" && precision >= 0) {
        return Value(v.as_int()); // Python's round() keeps an int an int
    }
    if (method != "common" && method != "ceil" && method != "floor") {
        throw Error("round: method must be 'common', 'ceil' or 'floor'");
    }
    double scale = std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -300, 300)));
    double x = v.as_double() * scale;
    // Python's round() rounds halves to even, as nearbyint() does in the default mode.
    double r = method == "ceil"    ? std::ceil(x)
               : method == "floor" ? std::floor(x)
                                   : std::nearbyint(x);
    return Value(r / scale);
}

Value f_safe(Renderer &, const Value &v, const CallArgs &) {
    return v;
}

Value f_sort(Renderer &, const Value &v, const CallArgs &args) {
    bool reverse = flag(args, 0, "reverse", false);
    bool case_sensitive = flag(args, 1, "case_sensitive", false);
    const Value *attribute = arg(args, 2, "attribute");
    std::vector<Value> items = iterate(v);
    auto key = [&](const Value &item) {
        return ignore_case(attribute != nullptr ? get_path(item, attribute->str()) : item,
                           case_sensitive);
    };
    std::stable_sort(items.begin(), items.end(), [&](const Value &a, const Value &b) {
        int c = compare_values(key(a), key(b));
        return reverse ? c > 0 : c < 0;
    });
    return Value::array(std::move(items));
}

Value f_string(Renderer &, const Value &v, const CallArgs &) {
    return Value(v.str());
}

Value f_sum(Renderer &, const Value &v, const CallArgs &args) {
    const Value *attribute = arg(args, 0, "attribute");
    const Value *start = arg(args, 1, "start");
    Value total = start != nullptr ? *start : Value(int64_t{0});
    for (const auto &item : iterate(v)) {
        Value term = attribute != nullptr ? get_path(item, attribute->str()) : item;
        if (!total.is_number() || !term.is_number()) {
            throw Error("sum needs numbers, not '" + term.type_name() + "'");
        }
        if (total.is_float() || term.is_float()) {
            total = Value(total.as_double() + term.as_double());
        } else {
            int64_t r = 0;
            if (__builtin_add_overflow(total.as_int(), term.as_int(), &r)) {
                throw Error("integer overflow in sum");
            }
            total = Value(r);
        }
    }
    return total;
}

Value f_title(Renderer &, const Value &v, const CallArgs &) {
    return Value(jinja_title(v.str()));
}

// transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value f_tojson(Renderer &, const Value &v, const CallArgs &args) {
    JsonOptions options;
    const Value *indent = arg(args, 1, "indent");
    if (indent != nullptr && indent->is_int()) {
        options.indent = static_cast<int>(std::clamp<int64_t>(indent->as_int(), 0, 64));
    } else if (indent != nullptr && !indent->is_none()) {
        throw Error("tojson: indent must be an integer");
    }
    options.ensure_ascii = flag(args, 0, "ensure_ascii", false);
    if (const Value *separators = arg(args, 2, "separators");
        separators != nullptr && !separators->is_none()) {
        if (!separators->is_array() || separators->items().size() != 2) {
            throw Error("tojson: separators must be a pair of strings");
        }
        options.item_separator = separators->items()[0].str();
        options.key_separator = separators->items()[1].str();
        options.has_item_separator = true;
    }
    options.sort_keys = flag(args, 3, "sort_keys", false);
    return Value(to_json_string(v, options));
}

Value f_trim(Renderer &, const Value &v, const CallArgs &args) {
    const Value *chars = arg(args, 0, "chars");
    std::string set = chars != nullptr && !chars->is_none() ? chars->str() : "";
    return Value(
        strip(v.str(), chars != nullptr && !chars->is_none() ? &set : nullptr, true, true));
}

Value f_unique(Renderer &, const Value &v, const CallArgs &args) {
    bool case_sensitive = flag(args, 0, "case_sensitive", false);
    const Value *attribute = arg(args, 1, "attribute");
    std::vector<Value> seen, out;
    for (const auto &item : iterate(v)) {
        Value key = ignore_case(attribute != nullptr ? get_path(item, attribute->str()) : item,
                                case_sensitive);
        if (std::find(seen.begin(), seen.end(), key) == seen.end()) {
            seen.push_back(key);
            out.push_back(item);
        }
    }
    return Value::array(std::move(out));
}

Value f_wordcount(Renderer &, const Value &v, const CallArgs &) {
    return Value(static_cast<int64_t>(split(v.str(), nullptr, -1).size()));
}

const std::unordered_map<std::string, FilterFunction> &filters() {
    static const std::unordered_map<std::string, FilterFunction> table = {
        {"abs", f_abs},
        {"attr", f_attr},
        {"capitalize", f_capitalize},
        {"center", f_center},
        {"count", f_length},
        {"d", f_default},
        {"default", f_default},
        {"dictsort", f_dictsort},
        {"e", f_escape},
        {"escape", f_escape},
        {"first", f_first},
        {"float", f_float},
        {"format", f_format},
        {"from_json", f_from_json},
        {"indent", f_indent},
        {"int", f_int},
        {"items", f_items},
        {"join", f_join},
        {"last", f_last},
        {"length", f_length},
        {"list", f_list},
        {"lower", f_lower},
        {"map", f_map},
        {"max", f_max},
        {"min", f_min},
        {"pprint", f_pprint},
        {"reject", f_reject},
        {"rejectattr", f_rejectattr},
        {"replace", f_replace},
        {"reverse", f_reverse},
        {"round", f_round},
        {"safe", f_safe},
        {"select", f_select},
        {"selectattr", f_selectattr},
        {"sort", f_sort},
        {"string", f_string},
        {"sum", f_sum},
        {"title", f_title},
        {"tojson", f_tojson},
        {"trim", f_trim},
        {"unique", f_unique},
        {"upper", f_upper},
        {"wordcount", f_wordcount},
    };
    return table;
}

} // namespace

FilterFunction find_filter(const std::string &name) {
    auto it = filters().find(name);
    return it == filters().end() ? nullptr : it->second;
}

} // namespace graft::chat::detail
