// Lexer of the chat-template language (a Jinja subset).
//
// Whitespace is handled the way transformers configures Jinja for chat templates:
// trim_blocks (the newline after a block or comment tag is dropped), lstrip_blocks (spaces
// and tabs before a block or comment tag at the start of a line are dropped), a single
// trailing newline of the template is dropped, and "-" / "+" in a tag override both.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace graft::chat::detail {

struct SourcePos {
    int line = 1;
    int column = 1;
};

enum class TokenKind {
    Text,      // template data outside tags
    ExprBegin, // {{
    ExprEnd,   // }}
    StmtBegin, // {%
    StmtEnd,   // %}
    Name,
    String,
    Int,
    Float,
    Operator, // text holds the operator: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
    End,
};

struct Token {
    TokenKind kind = TokenKind::End;
    std::string text; // Text data, Name, String value (escapes resolved), Operator
    int64_t int_value = 0;
    double float_value = 0.0;
    SourcePos pos;
};

// Splits a template into tokens. Throws graft::Error "<name>:<line>:<column>: ..." on a
// lexical error (unterminated tag, string or comment; unexpected character).
std::vector<Token> tokenize(std::string_view source, const std::string &template_name);

} // namespace graft::chat::detail
