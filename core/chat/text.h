// String helpers shared by the chat-template interpreter: Python-compatible formatting of
// floats and string literals, JSON quoting, UTF-8 aware case mapping and stripping.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace graft::chat {

// Python repr() of a float: shortest round-trip digits, "1.0" for integral values,
// exponent form outside 1e-4 <= |x| < 1e16 ("1e+16", "1e-05"), "inf", "nan".
std::string format_python_float(double value);

// Python repr() of a str: single quotes unless the text holds ' and no ".
std::string python_string_repr(std::string_view text);

// A JSON string literal as json.dumps writes it (ensure_ascii: \uXXXX for non-ASCII).
std::string json_quote(std::string_view text, bool ensure_ascii);

// UTF-8 decoding that never fails: an invalid byte decodes as itself (U+0080..U+00FF).
std::vector<char32_t> utf8_decode(std::string_view text);
void utf8_append(std::string &out, char32_t code_point);
std::string utf8_encode(const std::vector<char32_t> &code_points);
size_t utf8_length(std::string_view text);

// Case mapping for ASCII, Latin-1, Greek and Cyrillic letters; other text is unchanged.
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
bool is_letter(char32_t c);
std::string to_upper(std::string_view text);
std::string to_lower(std::string_view text);
// str.capitalize(): first character upper, the rest lower.
std::string capitalize(std::string_view text);
// str.title(): upper after every non-letter, lower elsewhere.
std::string python_title(std::string_view text);
// The Jinja `title` filter: words begin after spaces, '-', '(', '{', '[' or '<'.
std::string jinja_title(std::string_view text);

bool is_space(char c);
// Python str.strip()/lstrip()/rstrip(); `chars` null means whitespace.
std::string strip(std::string_view text, const std::string *chars, bool left, bool right);

// Python str.split(sep, maxsplit): sep null splits on runs of whitespace.
std::vector<std::string> split(std::string_view text, const std::string *sep, int64_t maxsplit);
// Python str.replace(old, new, count); count < 0 means all.
std::string replace(std::string_view text, std::string_view from, std::string_view to,
                    int64_t count);

// HTML escaping as the Jinja `escape` filter does it.
std::string html_escape(std::string_view text);

} // namespace graft::chat
