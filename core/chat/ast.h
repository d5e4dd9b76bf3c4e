// Syntax tree of a compiled chat template. One node struct per category (expressions,
// statements) with a kind tag; the evaluator switches on the kind.
#pragma once

#include "lexer.h"

#include <graft/chat/value.h>

#include <memory>
#include <string>
#include <vector>

namespace graft::chat::detail {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
    Literal,     // literal
    Name,        // name
    List,        // items
    Tuple,       // items
    Dict,        // items: key, value, key, value, ...
    GetAttr,     // a.name
    GetItem,     // a[b]
    Slice,       // a[items[0]:items[1]:items[2]], each may be null
    Call,        // a(args)
    Filter,      // a | name(args); a is null in a {% filter %} block
    Test,        // a is [not] name(args)
    Unary,       // name ("not", "-", "+") applied to a
    Binary,      // a name b: arithmetic, ~, and, or
    Compare,     // items[0] ops[0] items[1] ops[1] items[2] ...
    Conditional, // b if a else c (c may be null: undefined)
};

struct Arg {
    std::string keyword; // empty for a positional argument
    ExprPtr value;
};

struct Expr {
    ExprKind kind = ExprKind::Literal;
    SourcePos pos;
    Value literal;
    std::string name;
    ExprPtr a, b, c;
    std::vector<ExprPtr> items;
    std::vector<std::string> ops;
    std::vector<Arg> args;
    bool negated = false; // Test: "is not"
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind {
    Text,        // text
    Output,      // {{ expr }}
    If,          // branches, else_body
    For,         // for target in expr [if condition] body [else else_body]
    Set,         // set target = expr
    SetBlock,    // set target %} body {% endset (expr: optional filter applied to the body)
    Macro,       // macro name(params) body
    CallBlock,   // call(params) expr body
    FilterBlock, // filter expr body
    Break,
    Continue,
    Do,    // do expr
    Scope, // body rendered in place (generation blocks)
};

struct Param {
    std::string name;
    ExprPtr default_value; // (optional)
};

struct Branch {
    ExprPtr condition;
    std::vector<StmtPtr> body;
};

struct Stmt {
    StmtKind kind = StmtKind::Text;
    SourcePos pos;
    std::string text;
    ExprPtr expr;
    ExprPtr target;    // For / Set: Name, Tuple of Names, or GetAttr (namespace attribute)
    ExprPtr condition; // For: optional loop filter
    std::vector<Branch> branches;
    Body body;
    Body else_body;
    std::string name; // Macro
    std::vector<Param> params;
};

struct Program {
    std::string name;
    Body body;
};

// Parses tokens into a program. Throws graft::Error "<name>:<line>:<column>: ...".
std::unique_ptr<Program> parse(std::vector<Token> tokens, const std::string &template_name);

} // namespace graft::chat::detail
