// Parser of the chat-template language: expressions (see parser.h).
#include "parser.h"

namespace graft::chat::detail {

bool Parser::at_tuple_end(bool stop_at_if) const {
    const Token &t = peek();
    return t.kind == TokenKind::StmtEnd || t.kind == TokenKind::ExprEnd || is_op(")") ||
           (stop_at_if && t.kind == TokenKind::Name && (t.text == "if" || t.text == "recursive"));
}

// Comma-separated expressions; a tuple when there is a comma (or `()` in parentheses).
ExprPtr Parser::parse_tuple(bool with_condexpr, bool explicit_parens, bool stop_at_if) {
    SourcePos pos = peek().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
        if (!items.empty()) {
            if (!skip_op(",")) {
                break;
            }
            is_tuple = true;
        }
        if (at_tuple_end(stop_at_if)) {
            break;
        }
        items.push_back(parse_expression(with_condexpr));
        if (!is_op(",")) {
            break;
        }
    }
    if (!is_tuple && items.size() == 1) {
        return std::move(items[0]);
    }
    if (items.empty() && !explicit_parens) {
        fail_here("an expression");
    }
    auto tuple = make(ExprKind::Tuple, pos);
    tuple->items = std::move(items);
    return tuple;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    return with_condexpr ? parse_conditional() : parse_or();
}

ExprPtr Parser::parse_conditional() {
    ExprPtr expr = parse_or();
    while (is_name("if")) {
        SourcePos pos = next().pos;
        auto cond = make(ExprKind::Conditional, pos);
        cond->a = parse_or();
        cond->b = std::move(expr);
        if (skip_name("else")) {
            cond->c = parse_conditional();
        }
        expr = std::move(cond);
    }
    return expr;
}

ExprPtr Parser::binary(const char *op, ExprPtr left, ExprPtr right, const SourcePos &pos) {
    auto e = make(ExprKind::Binary, pos);
    e->name = op;
    e->a = std::move(left);
    e->b = std::move(right);
    return e;
}

ExprPtr Parser::parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
        SourcePos pos = next().pos;
        left = binary("or", std::move(left), parse_and(), pos);
    }
    return left;
}

ExprPtr Parser::parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
        SourcePos pos = next().pos;
        left = binary("and", std::move(left), parse_not(), pos);
    }
    return left;
}

ExprPtr Parser::parse_not() {
    if (is_name("not")) {
        DepthGuard guard(*this);
        auto e = make(ExprKind::Unary, next().pos);
        e->name = "not";
        e->a = parse_not();
        return e;
    }
    return parse_compare();
}

ExprPtr Parser::parse_compare() {
    SourcePos pos = peek().pos;
    ExprPtr first = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
        const Token &t = peek();
        if (t.kind == TokenKind::Operator && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                                              t.text == "<=" || t.text == ">" || t.text == ">=")) {
            ops.push_back(next().text);
        } else if (is_name("in")) {
            next();
            ops.push_back("in");
        } else if (is_name("not") && is_name("in", 1)) {
            next();
            next();
            ops.push_back("not in");
        } else {
            break;
        }
        operands.push_back(parse_math1());
    }
    if (ops.empty()) {
        return first;
    }
    auto e = make(ExprKind::Compare, pos);
    e->items.push_back(std::move(first));
    for (auto &operand : operands) {
        e->items.push_back(std::move(operand));
    }
    e->ops = std::move(ops);
    return e;
}

ExprPtr Parser::parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
        const Token &op = next();
        const char *name = op.text == "+" ? "+" : "-";
        left = binary(name, std::move(left), parse_concat(), op.pos);
    }
    return left;
}

ExprPtr Parser::parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
        SourcePos pos = next().pos;
        left = binary("~", std::move(left), parse_math2(), pos);
    }
    return left;
}

ExprPtr Parser::parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
        const Token &op = next();
        std::string name = op.text;
        SourcePos pos = op.pos;
        auto e = make(ExprKind::Binary, pos);
        e->name = name;
        e->a = std::move(left);
        e->b = parse_pow();
        left = std::move(e);
    }
    return left;
}

ExprPtr Parser::parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
        SourcePos pos = next().pos;
        left = binary("**", std::move(left), parse_unary(true), pos);
    }
    return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
        const Token &op = next();
        node = make(ExprKind::Unary, op.pos);
        node->name = op.text;
        node->a = parse_unary(false);
    } else {
        node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) {
        node = parse_filter_expr(std::move(node));
    }
    return node;
}

ExprPtr Parser::parse_primary() {
    const Token &t = peek();
    switch (t.kind) {
    case TokenKind::Name: {
        next();
        auto e = make(ExprKind::Literal, t.pos);
        if (t.text == "true" || t.text == "True") {
            e->literal = Value(true);
        } else if (t.text == "false" || t.text == "False") {
            e->literal = Value(false);
        } else if (t.text == "none" || t.text == "None") {
            e->literal = Value::none();
        } else {
            e->kind = ExprKind::Name;
            e->name = t.text;
        }
        return e;
    }
    case TokenKind::String: {
        auto e = make(ExprKind::Literal, t.pos);
        std::string text;
        while (peek().kind == TokenKind::String) {
            text += next().text; // adjacent literals concatenate
        }
        e->literal = Value(std::move(text));
        return e;
    }
    case TokenKind::Int: {
        auto e = make(ExprKind::Literal, next().pos);
        e->literal = Value(t.int_value);
        return e;
    }
    case TokenKind::Float: {
        auto e = make(ExprKind::Literal, next().pos);
        e->literal = Value(t.float_value);
        return e;
    }
    case TokenKind::Operator:
        if (t.text == "(") {
            next();
            ExprPtr inner = parse_tuple(true, true);
            expect_op(")");
            return inner;
        }
        if (t.text == "[") {
            auto e = make(ExprKind::List, next().pos);
            parse_sequence(e->items, "]");
            return e;
        }
        if (t.text == "{") {
            auto e = make(ExprKind::Dict, next().pos);
            while (!is_op("}")) {
                if (!e->items.empty()) {
                    expect_op(",");
                    if (is_op("}")) {
                        break;
                    }
                }
                e->items.push_back(parse_expression(true));
                expect_op(":");
                e->items.push_back(parse_expression(true));
            }
            next();
            return e;
        }
        break;
    default:
        break;
    }
    fail_here("an expression");
}

void Parser::parse_sequence(std::vector<ExprPtr> &items, const char *close) {
    while (!is_op(close)) {
        if (!items.empty()) {
            expect_op(",");
            if (is_op(close)) {
                break;
            }
        }
        items.push_back(parse_expression(true));
    }
    next();
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
    while (true) {
        if (is_op(".")) {
            SourcePos pos = next().pos;
            const Token &t = peek();
            if (t.kind == TokenKind::Name) {
                auto e = make(ExprKind::GetAttr, pos);
                e->a = std::move(node);
                e->name = next().text;
                node = std::move(e);
            } else if (t.kind == TokenKind::Int) {
                auto e = make(ExprKind::GetItem, pos);
                e->a = std::move(node);
                e->b = make(ExprKind::Literal, t.pos);
                e->b->literal = Value(next().int_value);
                node = std::move(e);
            } else {
                fail_here("an attribute name");
            }
        } else if (is_op("[")) {
            SourcePos pos = next().pos;
            node = parse_subscript(std::move(node), pos);
        } else if (is_op("(")) {
            node = parse_call(std::move(node));
        } else {
            return node;
        }
    }
}

ExprPtr Parser::parse_subscript(ExprPtr object, const SourcePos &pos) {
    ExprPtr start;
    if (!is_op(":")) {
        start = parse_expression(true);
        if (!is_op(":")) {
            expect_op("]");
            auto e = make(ExprKind::GetItem, pos);
            e->a = std::move(object);
            e->b = std::move(start);
            return e;
        }
    }
    auto e = make(ExprKind::Slice, pos);
    e->a = std::move(object);
    e->items.resize(3);
    e->items[0] = std::move(start);
    expect_op(":");
    if (!is_op("]") && !is_op(":")) {
        e->items[1] = parse_expression(true);
    }
    if (skip_op(":") && !is_op("]")) {
        e->items[2] = parse_expression(true);
    }
    expect_op("]");
    return e;
}

void Parser::parse_args(std::vector<Arg> &args) {
    expect_op("(");
    bool seen_keyword = false;
    while (!is_op(")")) {
        if (!args.empty()) {
            expect_op(",");
            if (is_op(")")) {
                break;
            }
        }
        Arg arg;
        if (peek().kind == TokenKind::Name && is_op("=", 1)) {
            arg.keyword = next().text;
            next();
            seen_keyword = true;
        } else if (seen_keyword) {
            fail(peek().pos, "positional argument follows keyword argument");
        } else if (is_op("*") || is_op("**")) {
            fail(peek().pos, "argument unpacking (* and **) is not supported");
        }
        arg.value = parse_expression(true);
        args.push_back(std::move(arg));
    }
    next();
}

ExprPtr Parser::parse_call(ExprPtr callee) {
    auto e = make(ExprKind::Call, callee->pos);
    e->a = std::move(callee);
    parse_args(e->args);
    return e;
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
    while (true) {
        if (is_op("|")) {
            node = parse_filter(std::move(node), peek().pos);
        } else if (is_name("is")) {
            node = parse_test(std::move(node));
        } else if (is_op("(")) {
            node = parse_call(std::move(node));
        } else {
            return node;
        }
    }
}

// One or more `| name(args)`; `operand` is null inside {% filter %} / {% set %} blocks.
ExprPtr Parser::parse_filter(ExprPtr operand, const SourcePos &pos) {
    bool first = true;
    while (first || is_op("|")) {
        if (!first || is_op("|")) {
            expect_op("|");
        }
        first = false;
        auto e = make(ExprKind::Filter, pos);
        e->name = expect_name();
        while (skip_op(".")) {
            e->name += "." + expect_name();
        }
        if (is_op("(")) {
            parse_args(e->args);
        }
        e->a = std::move(operand);
        operand = std::move(e);
    }
    return operand;
}

ExprPtr Parser::parse_test(ExprPtr operand) {
    auto e = make(ExprKind::Test, next().pos); // 'is'
    e->negated = skip_name("not");
    e->name = expect_name();
    e->a = std::move(operand);
    const Token &t = peek();
    if (is_op("(")) {
        parse_args(e->args);
    } else if ((t.kind == TokenKind::Name || t.kind == TokenKind::String ||
                t.kind == TokenKind::Int || t.kind == TokenKind::Float || is_op("[") ||
                is_op("{")) &&
               !(t.kind == TokenKind::Name &&
                 (t.text == "else" || t.text == "or" || t.text == "and" || t.text == "if" ||
                  t.text == "in" || t.text == "not" || t.text == "is"))) {
        // `x is divisibleby 3`, `x is sameas none`: one argument without parentheses.
        Arg arg;
        arg.value = parse_postfix(parse_primary());
        e->args.push_back(std::move(arg));
    }
    return e;
}

} // namespace graft::chat::detail
