// Metadata values: typed access, range checks for writing, and rendering for people.
#include "layout.h"

#include <graft/gguf/gguf.h>

#include <charconv>
#include <cmath>
#include <limits>

namespace graft::gguf {

namespace {

bool is_unsigned(ValueType t) {
    return t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 ||
           t == ValueType::UINT64;
}
bool is_signed(ValueType t) {
    return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 ||
           t == ValueType::INT64;
}
bool is_float(ValueType t) {
    return t == ValueType::FLOAT32 || t == ValueType::FLOAT64;
}
bool is_known(ValueType t) {
    return static_cast<uint32_t>(t) < kValueTypeCount;
}

uint64_t unsigned_max(ValueType t) {
    switch (t) {
    case ValueType::UINT8:
        return std::numeric_limits<uint8_t>::max();
    case ValueType::UINT16:
        return std::numeric_limits<uint16_t>::max();
    case ValueType::UINT32:
        return std::numeric_limits<uint32_t>::max();
    default:
        return std::numeric_limits<uint64_t>::max();
    }
}

int64_t signed_min(ValueType t) {
    switch (t) {
    case ValueType::INT8:
        return std::numeric_limits<int8_t>::min();
    case ValueType::INT16:
        return std::numeric_limits<int16_t>::min();
    case ValueType::INT32:
        return std::numeric_limits<int32_t>::min();
    default:
        return std::numeric_limits<int64_t>::min();
    }
}

int64_t signed_max(ValueType t) {
    switch (t) {
    case ValueType::INT8:
        return std::numeric_limits<int8_t>::max();
    case ValueType::INT16:
        return std::numeric_limits<int16_t>::max();
    case ValueType::INT32:
        return std::numeric_limits<int32_t>::max();
    default:
        return std::numeric_limits<int64_t>::max();
    }
}

// Whether an element of an integer or bool array fits its type (UINT64 is bit-for-bit).
bool element_fits(ValueType t, int64_t v) {
    if (t == ValueType::BOOL)
        return v == 0 || v == 1;
    if (t == ValueType::UINT64)
        return true;
    if (is_unsigned(t))
        return v >= 0 && static_cast<uint64_t>(v) <= unsigned_max(t);
    return v >= signed_min(t) && v <= signed_max(t);
}

std::string type_text(const Value &v) {
    if (v.is_array())
        return std::string("array of ") + value_type_name(v.array_type);
    return value_type_name(v.type);
}

[[noreturn]] void wrong_kind(const Value &v, const char *wanted) {
    throw graft::Error(std::string("expected ") + wanted + ", found " + type_text(v));
}

std::string float_text(double v, bool single) {
    char buf[64];
    const auto r = single ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                          : std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

std::string int_text(ValueType t, int64_t v) {
    if (t == ValueType::BOOL)
        return v ? "true" : "false";
    if (t == ValueType::UINT64)
        return std::to_string(static_cast<uint64_t>(v));
    return std::to_string(v);
}

} // namespace

const char *value_type_name(ValueType type) {
    static const char *const names[kValueTypeCount] = {
        "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
        "bool",  "string", "array",  "uint64", "int64",  "float64"};
    const auto id = static_cast<uint32_t>(type);
    return id < kValueTypeCount ? names[id] : "unknown";
}

size_t Value::array_size() const {
    if (!is_array())
        return 0;
    if (array_type == ValueType::STRING)
        return strings.size();
    if (is_float(array_type))
        return floats.size();
    return ints.size();
}

int64_t Value::as_int() const {
    if (is_array())
        wrong_kind(*this, "an integer");
    if (const auto *i = std::get_if<int64_t>(&scalar))
        return *i;
    if (const auto *u = std::get_if<uint64_t>(&scalar)) {
        if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw graft::Error("value " + std::to_string(*u) + " does not fit int64");
        return static_cast<int64_t>(*u);
    }
    if (const auto *d = std::get_if<double>(&scalar)) {
        // 2^63 as a double is exactly representable; anything >= it does not fit
        if (!std::isfinite(*d) || std::trunc(*d) != *d || *d < -9223372036854775808.0 ||
            *d >= 9223372036854775808.0)
            throw graft::Error("value " + float_text(*d, false) + " is not an int64");
        return static_cast<int64_t>(*d);
    }
    if (const auto *b = std::get_if<bool>(&scalar))
        return *b ? 1 : 0;
    wrong_kind(*this, "an integer");
}

uint64_t Value::as_uint() const {
    if (is_array())
        wrong_kind(*this, "an unsigned integer");
    if (const auto *u = std::get_if<uint64_t>(&scalar))
        return *u;
    if (const auto *d = std::get_if<double>(&scalar)) {
        if (!std::isfinite(*d) || std::trunc(*d) != *d || *d < 0 || *d >= 18446744073709551616.0)
            throw graft::Error("value " + float_text(*d, false) + " is not a uint64");
        return static_cast<uint64_t>(*d);
    }
    if (std::holds_alternative<std::string>(scalar))
        wrong_kind(*this, "an unsigned integer");
    const int64_t i = as_int();
    if (i < 0)
        throw graft::Error("value " + std::to_string(i) + " is negative");
    return static_cast<uint64_t>(i);
}

double Value::as_float() const {
    if (is_array())
        wrong_kind(*this, "a number");
    if (const auto *d = std::get_if<double>(&scalar))
        return *d;
    if (const auto *i = std::get_if<int64_t>(&scalar))
        return static_cast<double>(*i);
    if (const auto *u = std::get_if<uint64_t>(&scalar))
        return static_cast<double>(*u);
    wrong_kind(*this, "a number");
}

bool Value::as_bool() const {
    if (is_array())
        wrong_kind(*this, "a bool");
    if (const auto *b = std::get_if<bool>(&scalar))
        return *b;
    if (std::holds_alternative<int64_t>(scalar) || std::holds_alternative<uint64_t>(scalar)) {
        const uint64_t v = as_uint();
        if (v > 1)
            throw graft::Error("value " + std::to_string(v) + " is not a bool (0 or 1)");
        return v == 1;
    }
    wrong_kind(*this, "a bool");
}

const std::string &Value::as_string() const {
    const auto *s = std::get_if<std::string>(&scalar);
    if (is_array() || !s)
        wrong_kind(*this, "a string");
    return *s;
}

std::string Value::to_string(size_t max_items) const {
    if (!is_array()) {
        if (type == ValueType::STRING)
            return printable(as_string(), std::numeric_limits<size_t>::max());
        if (type == ValueType::BOOL)
            return as_bool() ? "true" : "false";
        if (is_float(type))
            return float_text(as_float(), type == ValueType::FLOAT32);
        if (is_unsigned(type))
            return std::to_string(as_uint());
        return std::to_string(as_int());
    }
    const size_t n = array_size();
    std::string s = "[";
    for (size_t i = 0; i < n && i < max_items; ++i) {
        if (i)
            s += ", ";
        if (array_type == ValueType::STRING)
            s += printable(strings[i]);
        else if (is_float(array_type))
            s += float_text(floats[i], array_type == ValueType::FLOAT32);
        else
            s += int_text(array_type, ints[i]);
    }
    if (n > max_items)
        s += (max_items ? ", ... (" : "... (") + std::to_string(n) + " items)";
    return s + "]";
}

Value Value::make_uint(ValueType t, uint64_t v) {
    if (!is_unsigned(t))
        throw graft::Error(std::string("make_uint: ") + value_type_name(t) +
                           " is not an unsigned integer type");
    if (v > unsigned_max(t))
        throw graft::Error("value " + std::to_string(v) + " does not fit " + value_type_name(t));
    Value out;
    out.type = t;
    out.scalar = v;
    return out;
}

Value Value::make_int(ValueType t, int64_t v) {
    if (!is_signed(t))
        throw graft::Error(std::string("make_int: ") + value_type_name(t) +
                           " is not a signed integer type");
    if (v < signed_min(t) || v > signed_max(t))
        throw graft::Error("value " + std::to_string(v) + " does not fit " + value_type_name(t));
    Value out;
    out.type = t;
    out.scalar = v;
    return out;
}

Value Value::make_float(ValueType t, double v) {
    if (!is_float(t))
        throw graft::Error(std::string("make_float: ") + value_type_name(t) +
                           " is not a float type");
    Value out;
    out.type = t;
    // stored as the file will hold it, so that a written value reads back equal
    out.scalar = t == ValueType::FLOAT32 ? static_cast<double>(static_cast<float>(v)) : v;
    return out;
}

Value Value::make_bool(bool v) {
    Value out;
    out.type = ValueType::BOOL;
    out.scalar = v;
    return out;
}

Value Value::make_string(std::string v) {
    Value out;
    out.type = ValueType::STRING;
    out.scalar = std::move(v);
    return out;
}

Value Value::make_int_array(ValueType element_type, std::vector<int64_t> v) {
    if (!is_unsigned(element_type) && !is_signed(element_type) && element_type != ValueType::BOOL)
        throw graft::Error(std::string("make_int_array: ") + value_type_name(element_type) +
                           " is not an integer or bool type");
    Value out;
    out.type = ValueType::ARRAY;
    out.array_type = element_type;
    out.ints = std::move(v);
    out.check();
    return out;
}

Value Value::make_float_array(ValueType element_type, std::vector<double> v) {
    if (!is_float(element_type))
        throw graft::Error(std::string("make_float_array: ") + value_type_name(element_type) +
                           " is not a float type");
    if (element_type == ValueType::FLOAT32)
        for (double &d : v)
            d = static_cast<double>(static_cast<float>(d));
    Value out;
    out.type = ValueType::ARRAY;
    out.array_type = element_type;
    out.floats = std::move(v);
    return out;
}

Value Value::make_string_array(std::vector<std::string> v) {
    Value out;
    out.type = ValueType::ARRAY;
    out.array_type = ValueType::STRING;
    out.strings = std::move(v);
    return out;
}

void Value::check() const {
    if (!is_known(type))
        throw graft::Error("unknown value type " + std::to_string(static_cast<uint32_t>(type)));
    if (!is_array()) {
        if (is_unsigned(type)) {
            if (as_uint() > unsigned_max(type))
                throw graft::Error("value " + std::to_string(as_uint()) + " does not fit " +
                                   value_type_name(type));
        } else if (is_signed(type)) {
            const int64_t v = as_int();
            if (v < signed_min(type) || v > signed_max(type))
                throw graft::Error("value " + std::to_string(v) + " does not fit " +
                                   value_type_name(type));
        } else if (is_float(type)) {
            (void)as_float();
        } else if (type == ValueType::BOOL) {
            (void)as_bool();
        } else {
            (void)as_string();
        }
        return;
    }
    if (array_type == ValueType::ARRAY)
        throw graft::Error("nested arrays are not supported");
    if (!is_known(array_type))
        throw graft::Error("unknown array element type " +
                           std::to_string(static_cast<uint32_t>(array_type)));
    if (array_type == ValueType::STRING || is_float(array_type))
        return;
    for (size_t i = 0; i < ints.size(); ++i)
        if (!element_fits(array_type, ints[i]))
            throw graft::Error("array element " + std::to_string(i) + " (" +
                               std::to_string(ints[i]) + ") does not fit " +
                               value_type_name(array_type));
}

} // namespace graft::gguf
