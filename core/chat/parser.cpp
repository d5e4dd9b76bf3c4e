// Parser of the chat-template language: statements (see parser.h).
#include "parser.h"

namespace graft::chat::detail {

// Parses statements until a block tag named in `ends` (consumed up to its name) and
// returns that name; with no `ends`, parses to the end of the template. The block being
// parsed was opened at `opened` (for the error when it is never closed).
std::string Parser::parse_body(Body &body, std::initializer_list<const char *> ends,
                               const SourcePos &opened) {
    DepthGuard guard(*this);
    while (true) {
        const Token &t = peek();
        switch (t.kind) {
        case TokenKind::End:
            if (ends.size() != 0) {
                const char *closer = *(ends.end() - 1);
                fail(opened, "this block is never closed: expected {% " + std::string(closer) +
                                 " %} before the end of the template");
            }
            return "";
        case TokenKind::Text: {
            auto s = std::make_unique<Stmt>();
            s->kind = StmtKind::Text;
            s->pos = t.pos;
            s->text = next().text;
            body.push_back(std::move(s));
            break;
        }
        case TokenKind::ExprBegin: {
            auto s = std::make_unique<Stmt>();
            s->kind = StmtKind::Output;
            s->pos = next().pos;
            s->expr = parse_tuple(true, false);
            if (peek().kind != TokenKind::ExprEnd) {
                fail_here("'}}'");
            }
            next();
            body.push_back(std::move(s));
            break;
        }
        case TokenKind::StmtBegin: {
            const Token &keyword = peek(1);
            if (keyword.kind != TokenKind::Name) {
                next();
                fail_here("a statement name");
            }
            for (const char *e : ends) {
                if (keyword.text == e) {
                    next();
                    next();
                    return keyword.text;
                }
            }
            body.push_back(parse_statement());
            break;
        }
        default:
            fail_here("template text or a tag");
        }
    }
}

StmtPtr Parser::parse_statement() {
    next(); // {%
    const Token &keyword = next();
    auto s = std::make_unique<Stmt>();
    s->pos = keyword.pos;
    const std::string &k = keyword.text;
    if (k == "if") {
        parse_if(*s);
    } else if (k == "for") {
        parse_for(*s);
    } else if (k == "set") {
        parse_set(*s);
    } else if (k == "macro") {
        parse_macro(*s);
    } else if (k == "call") {
        parse_call_block(*s);
    } else if (k == "filter") {
        s->kind = StmtKind::FilterBlock;
        s->expr = parse_filter(nullptr, peek().pos);
        expect_stmt_end();
        parse_end(s->body, "endfilter", s->pos);
    } else if (k == "break" || k == "continue") {
        s->kind = k == "break" ? StmtKind::Break : StmtKind::Continue;
        if (loop_depth_ == 0) {
            fail(keyword.pos, "'" + k + "' outside of a for loop");
        }
        expect_stmt_end();
    } else if (k == "do") {
        s->kind = StmtKind::Do;
        s->expr = parse_tuple(true, false);
        expect_stmt_end();
    } else if (k == "generation") {
        // transformers' marker of assistant-generated text: renders its body in place.
        s->kind = StmtKind::Scope;
        expect_stmt_end();
        parse_end(s->body, "endgeneration", s->pos);
    } else if (k == "block") {
        // A single template has no inheritance: a block renders in place.
        s->kind = StmtKind::Scope;
        expect_name();
        skip_name("scoped");
        expect_stmt_end();
        parse_end(s->body, "endblock", s->pos, true);
    } else if (k == "extends" || k == "include" || k == "import" || k == "from") {
        fail(keyword.pos, "'" + k + "' is not supported: a chat template is a single template");
    } else if (k.rfind("end", 0) == 0 || k == "elif" || k == "else") {
        fail(keyword.pos, "unexpected '{% " + k + " %}' without a matching opening tag");
    } else {
        fail(keyword.pos, "unknown statement '" + k + "'");
    }
    return s;
}

// Parses a body up to `{% end %}` and the rest of that tag.
void Parser::parse_end(Body &body, const char *end, const SourcePos &opened, bool allow_name) {
    parse_body(body, {end}, opened);
    if (allow_name && peek().kind == TokenKind::Name) {
        next();
    }
    expect_stmt_end();
}

void Parser::parse_if(Stmt &s) {
    s.kind = StmtKind::If;
    while (true) {
        Branch branch;
        branch.condition = parse_tuple(false, false);
        expect_stmt_end();
        std::string end = parse_body(branch.body, {"elif", "else", "endif"}, s.pos);
        s.branches.push_back(std::move(branch));
        if (end == "elif") {
            continue;
        }
        if (end == "else") {
            expect_stmt_end();
            parse_end(s.else_body, "endif", s.pos);
        } else {
            expect_stmt_end();
        }
        return;
    }
}

void Parser::parse_for(Stmt &s) {
    s.kind = StmtKind::For;
    s.target = parse_assign_target(false);
    if (!skip_name("in")) {
        fail_here("'in'");
    }
    s.expr = parse_tuple(false, false, true);
    if (skip_name("if")) {
        s.condition = parse_expression(true);
    }
    if (is_name("recursive")) {
        fail(peek().pos, "recursive loops are not supported");
    }
    expect_stmt_end();
    ++loop_depth_;
    std::string end = parse_body(s.body, {"else", "endfor"}, s.pos);
    --loop_depth_;
    if (end == "else") {
        expect_stmt_end();
        int saved = loop_depth_;
        loop_depth_ = 0; // break/continue in the else block belong to no loop
        parse_end(s.else_body, "endfor", s.pos);
        loop_depth_ = saved;
    } else {
        expect_stmt_end();
    }
}

void Parser::parse_set(Stmt &s) {
    s.target = parse_assign_target(true);
    if (skip_op("=")) {
        s.kind = StmtKind::Set;
        s.expr = parse_tuple(true, false);
        expect_stmt_end();
        return;
    }
    s.kind = StmtKind::SetBlock;
    if (s.target->kind == ExprKind::Tuple) {
        fail(s.target->pos, "a {% set %} block assigns a single name");
    }
    if (is_op("|")) {
        s.expr = parse_filter(nullptr, peek().pos);
    }
    expect_stmt_end();
    parse_end(s.body, "endset", s.pos);
}

void Parser::parse_macro(Stmt &s) {
    s.kind = StmtKind::Macro;
    s.name = expect_name();
    parse_params(s.params);
    expect_stmt_end();
    int saved = loop_depth_;
    loop_depth_ = 0;
    parse_end(s.body, "endmacro", s.pos, true);
    loop_depth_ = saved;
}

void Parser::parse_call_block(Stmt &s) {
    s.kind = StmtKind::CallBlock;
    if (is_op("(")) {
        parse_params(s.params);
    }
    s.expr = parse_expression(true);
    if (s.expr->kind != ExprKind::Call) {
        fail(s.expr->pos, "expected a macro call after 'call'");
    }
    expect_stmt_end();
    int saved = loop_depth_;
    loop_depth_ = 0;
    parse_end(s.body, "endcall", s.pos);
    loop_depth_ = saved;
}

void Parser::parse_params(std::vector<Param> &params) {
    expect_op("(");
    while (!is_op(")")) {
        if (!params.empty()) {
            expect_op(",");
            if (is_op(")")) {
                break;
            }
        }
        Param param;
        SourcePos pos = peek().pos;
        param.name = expect_name();
        if (skip_op("=")) {
            param.default_value = parse_expression(true);
        } else if (!params.empty() && params.back().default_value) {
            fail(pos, "parameter without a default follows one with a default");
        }
        params.push_back(std::move(param));
    }
    next();
}

// A name, a namespace attribute (with_namespace) or a tuple of names.
ExprPtr Parser::parse_assign_target(bool with_namespace) {
    SourcePos pos = peek().pos;
    std::vector<ExprPtr> names;
    bool parenthesized = skip_op("(");
    while (true) {
        SourcePos name_pos = peek().pos;
        auto target = make(ExprKind::Name, name_pos);
        target->name = expect_name();
        if (with_namespace && is_op(".")) {
            next();
            auto attr = make(ExprKind::GetAttr, name_pos);
            attr->a = std::move(target);
            attr->name = expect_name();
            target = std::move(attr);
        }
        names.push_back(std::move(target));
        if (!skip_op(",")) {
            break;
        }
        if (peek().kind != TokenKind::Name) {
            break;
        }
    }
    if (parenthesized) {
        expect_op(")");
    }
    if (names.size() == 1 && !parenthesized) {
        return std::move(names[0]);
    }
    for (const auto &n : names) {
        if (n->kind != ExprKind::Name) {
            fail(n->pos, "only names can be unpacked into");
        }
    }
    auto tuple = make(ExprKind::Tuple, pos);
    tuple->items = std::move(names);
    return tuple;
}

std::unique_ptr<Program> parse(std::vector<Token> tokens, const std::string &template_name) {
    return Parser(std::move(tokens), template_name).run();
}

} // namespace graft::chat::detail
