// Lexer of the chat-template language (see lexer.h).
#include "lexer.h"

#include "text.h"

#include <graft/chat/template.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace graft::chat::detail {

namespace {

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Jinja reads templates with universal newlines: \r\n and \r become \n.
std::string normalize_newlines(std::string_view source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') {
                ++i;
            }
        } else {
            out += source[i];
        }
    }
    return out;
}

class Lexer {
  public:
    Lexer(std::string_view source, const std::string &name)
        : src_(normalize_newlines(source)), name_(name) {
        if (!src_.empty() && src_.back() == '\n') {
            src_.pop_back(); // keep_trailing_newline=False
        }
        line_starts_.push_back(0);
        for (size_t i = 0; i < src_.size(); ++i) {
            if (src_[i] == '\n') {
                line_starts_.push_back(i + 1);
            }
        }
    }

    std::vector<Token> run() {
        while (i_ < src_.size()) {
            size_t open = find_tag_open(i_);
            if (open == std::string::npos) {
                emit_text(src_.substr(i_), i_);
                break;
            }
            char kind = src_[open + 1]; // '{', '%' or '#'
            char modifier = open + 2 < src_.size() ? src_[open + 2] : '\0';
            std::string text = src_.substr(i_, open - i_);
            if (modifier == '-') {
                text = strip(text, nullptr, false, true);
            } else if (kind != '{' && modifier != '+') {
                text = lstrip_block_indent(text, open);
            }
            emit_text(std::move(text), i_);
            if (kind == '#') {
                lex_comment(open);
            } else if (kind == '%' && lex_raw(open)) {
                // raw block consumed
            } else {
                lex_tag(open, kind == '%');
            }
        }
        Token end;
        end.kind = TokenKind::End;
        end.pos = pos_at(src_.size());
        tokens_.push_back(std::move(end));
        return std::move(tokens_);
    }

  private:
    SourcePos pos_at(size_t offset) const {
        auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
        size_t line = static_cast<size_t>(it - line_starts_.begin());
        size_t start = line_starts_[line - 1];
        return SourcePos{
            static_cast<int>(line),
            static_cast<int>(utf8_length(std::string_view(src_).substr(start, offset - start)) +
                             1)};
    }

    [[noreturn]] void fail(size_t offset, const std::string &message) const {
        SourcePos pos = pos_at(offset);
        throw TemplateError(name_, pos.line, pos.column, message, false);
    }

    size_t find_tag_open(size_t from) const {
        for (size_t p = src_.find('{', from); p != std::string::npos; p = src_.find('{', p + 1)) {
            if (p + 1 < src_.size() &&
                (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) {
                return p;
            }
        }
        return std::string::npos;
    }

    // lstrip_blocks: drop spaces and tabs between the start of the line and a block tag.
    std::string lstrip_block_indent(const std::string &text, size_t open) const {
        return lstrip_block_indent_at(text, i_, open);
    }

    void emit_text(std::string text, size_t offset) {
        if (text.empty()) {
            return;
        }
        Token token;
        token.kind = TokenKind::Text;
        token.text = std::move(text);
        token.pos = pos_at(offset);
        tokens_.push_back(std::move(token));
    }

    void push(TokenKind kind, std::string text, size_t offset) {
        Token token;
        token.kind = kind;
        token.text = std::move(text);
        token.pos = pos_at(offset);
        tokens_.push_back(std::move(token));
    }

    // After a tag's closing delimiter: "-" strips all following whitespace; for block and
    // comment tags without "+", trim_blocks drops one newline.
    void after_tag_end(size_t next, char modifier, bool trims_newline) {
        i_ = next;
        if (modifier == '-') {
            while (i_ < src_.size() && is_space(src_[i_])) {
                ++i_;
            }
        } else if (trims_newline && modifier != '+' && i_ < src_.size() && src_[i_] == '\n') {
            ++i_;
        }
    }

    void lex_comment(size_t open) {
        size_t close = src_.find("#}", open + 2);
        if (close == std::string::npos) {
            fail(open, "unterminated comment: missing '#}'");
        }
        char modifier = close > open + 2 ? src_[close - 1] : '\0';
        after_tag_end(close + 2, modifier == '-' || modifier == '+' ? modifier : '\0', true);
    }

    // Matches "{%[-+]? raw [-+]?%}" (or endraw) at `at`; returns the offset after it.
    size_t match_raw_tag(size_t at, std::string_view word, char &open_mod, char &close_mod) const {
        if (src_.compare(at, 2, "{%") != 0) {
            return std::string::npos;
        }
        size_t p = at + 2;
        open_mod = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p++] : '\0';
        while (p < src_.size() && is_space(src_[p])) {
            ++p;
        }
        if (src_.compare(p, word.size(), word) != 0 ||
            (p + word.size() < src_.size() && is_name_char(src_[p + word.size()]))) {
            return std::string::npos;
        }
        p += word.size();
        while (p < src_.size() && is_space(src_[p])) {
            ++p;
        }
        close_mod = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p++] : '\0';
        if (src_.compare(p, 2, "%}") != 0) {
            return std::string::npos;
        }
        return p + 2;
    }

    bool lex_raw(size_t open) {
        char open_mod = 0, close_mod = 0;
        size_t body = match_raw_tag(open, "raw", open_mod, close_mod);
        if (body == std::string::npos) {
            return false;
        }
        after_tag_end(body, close_mod, true);
        size_t body_start = i_;
        for (size_t p = find_tag_open(body_start); p != std::string::npos;
             p = find_tag_open(p + 1)) {
            char end_open = 0, end_close = 0;
            size_t after = match_raw_tag(p, "endraw", end_open, end_close);
            if (after == std::string::npos) {
                continue;
            }
            std::string text = src_.substr(body_start, p - body_start);
            if (end_open == '-') {
                text = strip(text, nullptr, false, true);
            } else if (end_open != '+') {
                text = lstrip_block_indent_at(text, body_start, p);
            }
            emit_text(std::move(text), body_start);
            after_tag_end(after, end_close, true);
            return true;
        }
        fail(open, "unterminated raw block: missing '{% endraw %}'");
    }

    // `text` is src_[from, open).
    std::string lstrip_block_indent_at(const std::string &text, size_t from, size_t open) const {
        size_t k = open;
        while (k > from && (src_[k - 1] == ' ' || src_[k - 1] == '\t')) {
            --k;
        }
        if (k == 0 || src_[k - 1] == '\n') {
            return text.substr(0, k - from);
        }
        return text;
    }

    void lex_tag(size_t open, bool statement) {
        push(statement ? TokenKind::StmtBegin : TokenKind::ExprBegin, "", open);
        size_t p = open + 2;
        if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) {
            ++p;
        }
        int brace_depth = 0;
        while (true) {
            while (p < src_.size() && is_space(src_[p])) {
                ++p;
            }
            if (p >= src_.size()) {
                fail(open, statement ? "unterminated tag: missing '%}'"
                                     : "unterminated expression: missing '}}'");
            }
            const char *close = statement ? "%}" : "}}";
            if ((src_[p] == '-' || src_[p] == '+') && src_.compare(p + 1, 2, close) == 0 &&
                (statement || brace_depth == 0)) {
                push(statement ? TokenKind::StmtEnd : TokenKind::ExprEnd, "", p);
                after_tag_end(p + 3, src_[p], statement);
                return;
            }
            if (src_.compare(p, 2, close) == 0 && (statement || brace_depth == 0)) {
                push(statement ? TokenKind::StmtEnd : TokenKind::ExprEnd, "", p);
                after_tag_end(p + 2, '\0', statement);
                return;
            }
            p = lex_token(p, brace_depth);
        }
    }

    size_t lex_token(size_t p, int &brace_depth) {
        char c = src_[p];
        if (is_digit(c)) {
            return lex_number(p);
        }
        if (is_name_start(c)) {
            size_t q = p;
            while (q < src_.size() && is_name_char(src_[q])) {
                ++q;
            }
            push(TokenKind::Name, src_.substr(p, q - p), p);
            return q;
        }
        if (c == '\'' || c == '"') {
            return lex_string(p);
        }
        static const char *const two_char_ops[] = {"**", "//", "==", "!=", "<=", ">="};
        for (const char *op : two_char_ops) {
            if (src_.compare(p, 2, op) == 0) {
                push(TokenKind::Operator, op, p);
                return p + 2;
            }
        }
        if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) != std::string_view::npos) {
            if (c == '{') {
                ++brace_depth;
            } else if (c == '}') {
                --brace_depth;
            }
            push(TokenKind::Operator, std::string(1, c), p);
            return p + 1;
        }
        fail(p, std::string("unexpected character '") + c + "' in tag");
    }

    size_t lex_number(size_t p) {
        size_t q = p;
        auto digits = [&] {
            while (q < src_.size() && (is_digit(src_[q]) || src_[q] == '_')) {
                ++q;
            }
        };
        digits();
        bool is_float = false;
        bool after_dot = !tokens_.empty() && tokens_.back().kind == TokenKind::Operator &&
                         tokens_.back().text == ".";
        if (!after_dot && q + 1 < src_.size() && src_[q] == '.' && is_digit(src_[q + 1])) {
            is_float = true;
            ++q;
            digits();
        }
        if (!after_dot && q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
            size_t r = q + 1;
            if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) {
                ++r;
            }
            if (r < src_.size() && is_digit(src_[r])) {
                is_float = true;
                q = r;
                digits();
            }
        }
        std::string text;
        for (size_t k = p; k < q; ++k) {
            if (src_[k] != '_') {
                text += src_[k];
            }
        }
        Token token;
        token.pos = pos_at(p);
        token.text = text;
        if (is_float) {
            token.kind = TokenKind::Float;
            token.float_value = std::strtod(text.c_str(), nullptr);
        } else {
            token.kind = TokenKind::Int;
            errno = 0;
            char *end = nullptr;
            long long value = std::strtoll(text.c_str(), &end, 10);
            if (errno == ERANGE) {
                fail(p, "integer literal " + text + " is too large");
            }
            token.int_value = value;
        }
        tokens_.push_back(std::move(token));
        return q;
    }

    size_t lex_string(size_t p) {
        char quote = src_[p];
        std::string value;
        size_t q = p + 1;
        while (true) {
            if (q >= src_.size()) {
                fail(p, "unterminated string literal");
            }
            char c = src_[q];
            if (c == quote) {
                ++q;
                break;
            }
            if (c != '\\') {
                value += c;
                ++q;
                continue;
            }
            if (q + 1 >= src_.size()) {
                fail(p, "unterminated string literal");
            }
            char e = src_[q + 1];
            q += 2;
            switch (e) {
            case 'n':
                value += '\n';
                break;
            case 't':
                value += '\t';
                break;
            case 'r':
                value += '\r';
                break;
            case 'b':
                value += '\b';
                break;
            case 'f':
                value += '\f';
                break;
            case 'v':
                value += '\v';
                break;
            case 'a':
                value += '\a';
                break;
            case '0':
                value += '\0';
                break;
            case '\\':
            case '\'':
            case '"':
                value += e;
                break;
            case '\n':
                break; // line continuation
            case 'x':
            case 'u':
            case 'U': {
                size_t length = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                char32_t cp = 0;
                for (size_t k = 0; k < length; ++k) {
                    int d = q + k < src_.size() ? hex_digit(src_[q + k]) : -1;
                    if (d < 0) {
                        fail(q - 2, std::string("invalid \\") + e + " escape in string literal");
                    }
                    cp = cp * 16 + static_cast<char32_t>(d);
                }
                if (cp > 0x10ffff) {
                    fail(q - 2, "escape names a code point above U+10FFFF");
                }
                q += length;
                utf8_append(value, cp);
                break;
            }
            default:
                // Python keeps unknown escapes as written.
                value += '\\';
                value += e;
            }
        }
        push(TokenKind::String, std::move(value), p);
        return q;
    }

    std::string src_;
    const std::string &name_;
    std::vector<size_t> line_starts_;
    std::vector<Token> tokens_;
    size_t i_ = 0;
};

} // namespace

std::vector<Token> tokenize(std::string_view source, const std::string &template_name) {
    return Lexer(source, template_name).run();
}

} // namespace graft::chat::detail
