// Unit tests of the chat-template interpreter: statements, scoping, whitespace control and
// error positions. Expected texts are what Python Jinja2 (trim_blocks, lstrip_blocks)
// renders for the same source.
#include "render_helpers.h"

using graft::chat::Context;
using graft::chat::Template;
using graft::chat::TemplateError;
using graft::chat::Value;
using graft::chat::testing::render;
using graft::chat::testing::render_error;

TEST(ChatStatements, IfElifElse) {
    const char *source = "{% if x > 2 %}big{% elif x == 2 %}two{% else %}small{% endif %}";
    EXPECT_EQ(render(source, R"({"x": 3})"), "big");
    EXPECT_EQ(render(source, R"({"x": 2})"), "two");
    EXPECT_EQ(render(source, R"({"x": 1})"), "small");
    EXPECT_EQ(render("{% if missing %}yes{% endif %}"), "");
}

TEST(ChatStatements, ForLoopVariables) {
    EXPECT_EQ(
        render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
               "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
               R"({"xs": ["a", "b"]})"),
        "1021TrueFalse2;2110FalseTrue2;");
    EXPECT_EQ(render("{% for x in xs %}{{ loop.previtem }}-{{ loop.nextitem }}|{% endfor %}",
                     R"({"xs": [1, 2, 3]})"),
              "-2|1-3|2-|");
    EXPECT_EQ(render("{% for x in xs %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
                     R"({"xs": [1, 2, 3]})"),
              "odd even odd ");
}

TEST(ChatStatements, ForElseFilterAndUnpacking) {
    EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
    EXPECT_EQ(render("{% for x in missing %}x{% else %}none{% endfor %}"), "none");
    EXPECT_EQ(render("{% for i in range(5) if i is odd %}{{ i }}/{{ loop.length }} {% endfor %}"),
              "1/2 3/2 ");
    EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
                     R"({"d": {"b": 1, "a": 2}})"),
              "b=1;a=2;");
    EXPECT_EQ(render("{% for k in d %}{{ k }}{% endfor %}", R"({"d": {"x": 1, "y": 2}})"), "xy");
    EXPECT_EQ(render("{% for c in 'héllo' %}[{{ c }}]{% endfor %}"), "[h][é][l][l][o]");
}

TEST(ChatStatements, NestedLoopsHaveTheirOwnLoopVariable) {
    EXPECT_EQ(render("{% for a in [1, 2] %}{% for b in [3] %}{{ loop.index }}{{ loop.length }}"
                     "{% endfor %}{{ loop.index }}{% endfor %}"),
              "111112");
}

TEST(ChatStatements, BreakAndContinue) {
    EXPECT_EQ(
        render("{% for i in range(10) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
        "012");
    EXPECT_EQ(render("{% for i in range(5) %}{% if i is even %}{% continue %}{% endif %}{{ i }}{% "
                     "endfor %}"),
              "13");
}

TEST(ChatStatements, SetScopingFollowsJinja) {
    // A set inside a loop lasts for that iteration only; a namespace carries state out.
    EXPECT_EQ(
        render(
            "{% set c = 0 %}{% for i in range(3) %}{% set c = c + 1 %}{{ c }}{% endfor %}{{ c }}"),
        "1110");
    EXPECT_EQ(render("{% set ns = namespace(c=0) %}{% for i in range(3) %}{% set ns.c = ns.c + 1 %}"
                     "{% endfor %}{{ ns.c }}"),
              "3");
    // An if-block is not a scope.
    EXPECT_EQ(render("{% if true %}{% set x = 5 %}{% endif %}{{ x }}"), "5");
}

TEST(ChatStatements, SetForms) {
    EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
    EXPECT_EQ(render("{% set t = 1, 2 %}{{ t }}"), "(1, 2)");
    EXPECT_EQ(render("{% set block %}  Hello {{ name }}  {% endset %}[{{ block }}]",
                     R"({"name": "you"})"),
              "[  Hello you  ]");
    EXPECT_EQ(render("{% set block | trim | upper %}  hi  {% endset %}[{{ block }}]"), "[HI]");
    EXPECT_EQ(
        render("{% set ns = namespace(a=1, b='x') %}{% set ns.a = ns.a + 1 %}{{ ns.a }}{{ ns.b }}"),
        "2x");
    EXPECT_EQ(render("{% set ns = namespace({'k': 3}) %}{{ ns.k }}"), "3");
    EXPECT_NE(render_error("{% set d = {} %}{% set d.x = 1 %}").detail().find("namespace"),
              std::string::npos);
}

TEST(ChatStatements, Macros) {
    EXPECT_EQ(
        render("{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}"
               "{{ greet('Ann') }} {{ greet('Bob', greeting='Hi') }} {{ greet(name='Cy') }}"),
        "Hello, Ann! Hi, Bob! Hello, Cy!");
    EXPECT_EQ(
        render(
            "{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, x=4) }}"),
        "1(2, 3){'x': 4}");
    EXPECT_EQ(render("{% macro f(a, b=a * 2) %}{{ b }}{% endmacro %}{{ f(3) }}"), "6");
    // Recursion, and a macro seeing a top-level variable.
    EXPECT_EQ(
        render("{% set suffix = '!' %}{% macro count(n) %}{% if n > 0 %}{{ n }}{{ count(n - 1) }}"
               "{% else %}{{ suffix }}{% endif %}{% endmacro %}{{ count(3) }}"),
        "321!");
    EXPECT_EQ(render("{% macro m() %}x{% endmacro %}{{ m is callable }}{{ 1 is callable }}"),
              "TrueFalse");
}

TEST(ChatStatements, CallBlockAndFilterBlock) {
    EXPECT_EQ(render("{% macro box(title) %}[{{ title }}: {{ caller() }}]{% endmacro %}"
                     "{% call box('t') %}inside{% endcall %}"),
              "[t: inside]");
    EXPECT_EQ(
        render("{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}"
               "{% call(item) each([1, 2]) %}<{{ item }}>{% endcall %}"),
        "<1><2>");
    EXPECT_EQ(render("{% filter upper %}abc{{ 'd' }}{% endfilter %}"), "ABCD");
}

TEST(ChatStatements, RawGenerationDoAndComments) {
    EXPECT_EQ(render("{% raw %}{{ not evaluated }}{% if %}{% endraw %}"),
              "{{ not evaluated }}{% if %}");
    EXPECT_EQ(render("a{# a comment #}b"), "ab");
    EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");
    EXPECT_EQ(render("{% set xs = [] %}{% do xs.append(1) %}{{ xs }}"), "[1]");
}

TEST(ChatWhitespace, TrimAndLstripBlocks) {
    // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
    EXPECT_EQ(render("{% if true %}\n  yes\n{% endif %}\n"), "  yes\n");
    EXPECT_EQ(render("  {% if true %}\nx\n  {% endif %}\ny"), "x\ny");
    // Expression tags are not trimmed.
    EXPECT_EQ(render("{{ 'a' }}\n{{ 'b' }}"), "a\nb");
    EXPECT_EQ(render("a  {% if true %}b{% endif %}"), "a  b");
    EXPECT_EQ(render("{# c #}\nx"), "x");
}

TEST(ChatWhitespace, MinusAndPlusModifiers) {
    EXPECT_EQ(render("a  \n  {{- 'b' -}}  \n  c"), "abc");
    EXPECT_EQ(render("a\n{%- if true -%}\n  b  \n{%- endif -%}\n c"), "abc");
    EXPECT_EQ(render("a \n {#- comment -#} \n b"), "ab");
    // "+" keeps what lstrip_blocks and trim_blocks would remove.
    EXPECT_EQ(render("  {%+ if true +%}\nx{% endif %}"), "  \nx");
}

TEST(ChatWhitespace, TrailingNewlineAndLineEndings) {
    EXPECT_EQ(render("hello\n"), "hello");
    EXPECT_EQ(render("hello\n\n"), "hello\n");
    EXPECT_EQ(render("a\r\nb\rc"), "a\nb\nc");
}

TEST(ChatErrors, SyntaxErrorsCarryLineAndColumn) {
    auto expect_error = [](const char *source, int line, int column, const char *fragment) {
        try {
            Template t(source, "tpl");
            ADD_FAILURE() << "compiled: " << source;
        } catch (const TemplateError &e) {
            EXPECT_EQ(e.line(), line) << source << ": " << e.what();
            EXPECT_EQ(e.column(), column) << source << ": " << e.what();
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
            EXPECT_EQ(std::string(e.what()).rfind("tpl:", 0), 0u) << e.what();
            EXPECT_FALSE(e.raised_by_template());
        }
    };
    expect_error("ab\n  {{ x ", 2, 3, "unterminated expression");
    expect_error("{% for x in xs %}\n{{ x }}", 1, 4, "expected {% endfor %}");
    expect_error("x\n{% frobnicate %}", 2, 4, "unknown statement 'frobnicate'");
    expect_error("{{ 'abc }}", 1, 4, "unterminated string");
    expect_error("{{ a + }}", 1, 8, "expected an expression");
    expect_error("{% endif %}", 1, 4, "without a matching");
    expect_error("{{ a ? b }}", 1, 6, "unexpected character '?'");
    expect_error("{# open", 1, 1, "unterminated comment");
    expect_error("{% break %}", 1, 4, "outside of a for loop");
    expect_error("{% include 'x' %}", 1, 4, "not supported");
    expect_error("日本 {{ ) }}", 1, 7, "expected an expression");
}

TEST(ChatErrors, RenderErrorsCarryLineAndColumn) {
    TemplateError e = render_error("line one\n  {{ 1 + missing }}");
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.column(), 10);
    EXPECT_NE(e.detail().find("'missing' is undefined"), std::string::npos) << e.what();

    e = render_error("{{ 'a' | nosuchfilter }}");
    EXPECT_NE(e.detail().find("no filter named 'nosuchfilter'"), std::string::npos);
    e = render_error("{{ x is nosuchtest }}");
    EXPECT_NE(e.detail().find("no test named 'nosuchtest'"), std::string::npos);
    e = render_error("{{ nothing() }}");
    EXPECT_NE(e.detail().find("'nothing' is undefined"), std::string::npos);
    e = render_error("{{ a.b.c }}", R"({"a": {}})");
    EXPECT_NE(e.detail().find("'a.b' is undefined"), std::string::npos) << e.what();
    e = render_error("{{ 1 / 0 }}");
    EXPECT_NE(e.detail().find("division by zero"), std::string::npos);
    e = render_error("{{ 'a' + 1 }}");
    EXPECT_NE(e.detail().find("unsupported operand types for +: 'str' and 'int'"),
              std::string::npos);
    e = render_error("{{ 1 < 'a' }}");
    EXPECT_NE(e.detail().find("cannot order"), std::string::npos);
}

TEST(ChatErrors, RaiseException) {
    TemplateError e = render_error(
        "{% if messages|length == 0 %}\n  {{ raise_exception('Need a message!') }}{% endif %}",
        R"({"messages": []})");
    EXPECT_TRUE(e.raised_by_template());
    EXPECT_EQ(e.detail(), "Need a message!");
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.column(), 6);
}

TEST(ChatErrors, HostileTemplatesFailCleanly) {
    std::string deep(5000, '(');
    EXPECT_THROW(Template("{{ " + deep + "1 }}"), TemplateError);
    std::string nested;
    for (int i = 0; i < 500; ++i) {
        nested += "{% if true %}";
    }
    EXPECT_THROW(Template(nested + "x"), TemplateError);
    EXPECT_NE(render_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
                  .detail()
                  .find("nested deeper"),
              std::string::npos);
    EXPECT_NE(render_error("{{ range(100000000) | length }}").detail().find("too long"),
              std::string::npos);
    EXPECT_NE(render_error("{{ 'x' * 100000000000 }}").detail().find("64 MiB"), std::string::npos);
    // Where Python would grow a big integer or build a cycle, graft stops with an error.
    EXPECT_NE(render_error("{{ 9223372036854775807 + 1 }}").detail().find("overflow"),
              std::string::npos);
    EXPECT_NE(
        render_error("{% set ns = namespace() %}{% set ns.me = ns %}").detail().find("itself"),
        std::string::npos);
    EXPECT_NE(render_error("{% set xs = [] %}{% do xs.append(xs) %}").detail().find("itself"),
              std::string::npos);
}

TEST(ChatContext, RenderDoesNotMutateTheContext) {
    Context context;
    context.set("messages", Value::array({Value("a"), Value("b")}));
    Template t("{{ messages.pop() }}{{ messages | length }}");
    EXPECT_EQ(t.render(context), "b1");
    EXPECT_EQ(t.render(context), "b1");
    EXPECT_EQ(context.find("messages")->items().size(), 2u);
}

TEST(ChatContext, StrftimeNowReadsTheClock) {
    Context context;
    context.set_clock([] {
        std::tm t{};
        t.tm_year = 124;
        t.tm_mon = 6;
        t.tm_mday = 26;
        t.tm_hour = 9;
        t.tm_min = 5;
        timegm(&t);
        return t;
    });
    EXPECT_EQ(Template("{{ strftime_now('%d %b %Y %H:%M %A') }}").render(context),
              "26 Jul 2024 09:05 Friday");
    EXPECT_EQ(Template("[{{ strftime_now('') }}]").render(context), "[]");
}

TEST(ChatContext, JsonVariables) {
    EXPECT_EQ(
        render("{{ a.b[1].c }} {{ n + 1 }} {{ f * 2 }} {{ t }} {{ z }}",
               R"({"a": {"b": [0, {"c": "deep"}]}, "n": 41, "f": 1.25, "t": true, "z": null})"),
        "deep 42 2.5 True None");
    Value v = Value::from_json(boost::json::parse(R"({"z": 1, "a": [true, null, 2.5, "s"]})"));
    EXPECT_EQ(boost::json::serialize(v.to_json()), R"({"z":1,"a":[true,null,2.5E0,"s"]})");
}
