// Parser of the chat-template language (internal): tokens to a syntax tree, following
// Jinja2's grammar and operator precedence (lowest first): conditional, or, and, not,
// comparisons and `in`, + -, ~, * / // %, **, unary - +, then postfix (. [] ()) and
// filters/tests. Statements are in parser.cpp, expressions in parse_expressions.cpp.
#pragma once

#include "ast.h"

#include <graft/chat/template.h>

#include <initializer_list>

namespace graft::chat::detail {

// Deep nesting would exhaust the stack; no real template comes near this.
constexpr int kMaxParseDepth = 200;

class Parser {
  public:
    Parser(std::vector<Token> tokens, const std::string &name)
        : tokens_(std::move(tokens)), name_(name) {}

    std::unique_ptr<Program> run() {
        auto program = std::make_unique<Program>();
        program->name = name_;
        parse_body(program->body, {});
        return program;
    }

  private:
    // --- token helpers -------------------------------------------------------------------
    const Token &peek(size_t ahead = 0) const {
        size_t i = pos_ + ahead;
        return i < tokens_.size() ? tokens_[i] : tokens_.back();
    }
    const Token &next() {
        const Token &t = peek();
        if (pos_ < tokens_.size() - 1) {
            ++pos_;
        }
        return t;
    }
    bool is_op(const char *op, size_t ahead = 0) const {
        const Token &t = peek(ahead);
        return t.kind == TokenKind::Operator && t.text == op;
    }
    bool is_name(const char *name, size_t ahead = 0) const {
        const Token &t = peek(ahead);
        return t.kind == TokenKind::Name && t.text == name;
    }
    bool skip_op(const char *op) {
        if (is_op(op)) {
            next();
            return true;
        }
        return false;
    }
    bool skip_name(const char *name) {
        if (is_name(name)) {
            next();
            return true;
        }
        return false;
    }

    static std::string describe(const Token &t) {
        switch (t.kind) {
        case TokenKind::Text:
            return "template text";
        case TokenKind::ExprBegin:
            return "'{{'";
        case TokenKind::ExprEnd:
            return "'}}'";
        case TokenKind::StmtBegin:
            return "'{%'";
        case TokenKind::StmtEnd:
            return "'%}'";
        case TokenKind::Name:
            return "'" + t.text + "'";
        case TokenKind::String:
            return "a string";
        case TokenKind::Int:
        case TokenKind::Float:
            return "a number";
        case TokenKind::Operator:
            return "'" + t.text + "'";
        case TokenKind::End:
            return "the end of the template";
        }
        return "?";
    }

    [[noreturn]] void fail(const SourcePos &pos, const std::string &message) const {
        throw TemplateError(name_, pos.line, pos.column, message, false);
    }
    [[noreturn]] void fail_here(const std::string &expected) const {
        fail(peek().pos, "expected " + expected + ", found " + describe(peek()));
    }
    void expect_op(const char *op) {
        if (!skip_op(op)) {
            fail_here(std::string("'") + op + "'");
        }
    }
    void expect_stmt_end() {
        if (peek().kind != TokenKind::StmtEnd) {
            fail_here("'%}'");
        }
        next();
    }
    std::string expect_name() {
        if (peek().kind != TokenKind::Name) {
            fail_here("a name");
        }
        return next().text;
    }

    struct DepthGuard {
        explicit DepthGuard(Parser &p) : parser(p) {
            if (++parser.depth_ > kMaxParseDepth) {
                parser.fail(parser.peek().pos, "template nested too deeply");
            }
        }
        ~DepthGuard() { --parser.depth_; }
        Parser &parser;
    };

    ExprPtr make(ExprKind kind, const SourcePos &pos) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->pos = pos;
        return e;
    }

    // --- statements (parser.cpp) ---

    // Parses statements until a block tag named in `ends` (consumed up to its name) and
    // returns that name; with no `ends`, parses to the end of the template. The block being
    // parsed was opened at `opened` (for the error when it is never closed).
    std::string parse_body(Body &body, std::initializer_list<const char *> ends,
                           const SourcePos &opened = {});
    StmtPtr parse_statement();
    // Parses a body up to `{% end %}` and the rest of that tag.
    void parse_end(Body &body, const char *end, const SourcePos &opened, bool allow_name = false);
    void parse_if(Stmt &s);
    void parse_for(Stmt &s);
    void parse_set(Stmt &s);
    void parse_macro(Stmt &s);
    void parse_call_block(Stmt &s);
    void parse_params(std::vector<Param> &params);
    // A name, a namespace attribute (with_namespace) or a tuple of names.
    ExprPtr parse_assign_target(bool with_namespace);

    // --- expressions (parse_expressions.cpp) ---

    bool at_tuple_end(bool stop_at_if) const;
    // Comma-separated expressions; a tuple when there is a comma (or `()` in parentheses).
    ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens, bool stop_at_if = false);
    ExprPtr parse_expression(bool with_condexpr);
    ExprPtr parse_conditional();
    ExprPtr binary(const char *op, ExprPtr left, ExprPtr right, const SourcePos &pos);
    ExprPtr parse_or();
    ExprPtr parse_and();
    ExprPtr parse_not();
    ExprPtr parse_compare();
    ExprPtr parse_math1();
    ExprPtr parse_concat();
    ExprPtr parse_math2();
    ExprPtr parse_pow();
    ExprPtr parse_unary(bool with_filter);
    ExprPtr parse_primary();
    void parse_sequence(std::vector<ExprPtr> &items, const char *close);
    ExprPtr parse_postfix(ExprPtr node);
    ExprPtr parse_subscript(ExprPtr object, const SourcePos &pos);
    void parse_args(std::vector<Arg> &args);
    ExprPtr parse_call(ExprPtr callee);
    ExprPtr parse_filter_expr(ExprPtr node);
    // One or more `| name(args)`; `operand` is null inside {% filter %} / {% set %} blocks.
    ExprPtr parse_filter(ExprPtr operand, const SourcePos &pos);
    ExprPtr parse_test(ExprPtr operand);

    std::vector<Token> tokens_;
    const std::string &name_;
    size_t pos_ = 0;
    int depth_ = 0;
    int loop_depth_ = 0;
};

} // namespace graft::chat::detail
