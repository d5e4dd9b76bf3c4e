// Unit tests of the chat-template interpreter: expressions, values, filters, tests and
// methods. Expected texts are what Python Jinja2 (with transformers' tojson) renders.
#include "render_helpers.h"

using graft::chat::Value;
using graft::chat::testing::render;
using graft::chat::testing::render_error;

TEST(ChatExpressions, Literals) {
    EXPECT_EQ(
        render(
            R"({{ 'it\'s' }} {{ "tab\there" }} {{ 'a\nb' }} {{ '\u00e9\x41' }} {{ 'un\known' }})"),
        "it's tab\there a\nb éA un\\known");
    EXPECT_EQ(render("{{ 'adjacent' ' strings' }}"), "adjacent strings");
    EXPECT_EQ(render("{{ 42 }} {{ -7 }} {{ 1_000 }} {{ 2.5 }} {{ 1e3 }} {{ 1.0 }} {{ 0.1 + 0.2 }}"),
              "42 -7 1000 2.5 1000.0 1.0 0.30000000000000004");
    EXPECT_EQ(render("{{ true }} {{ True }} {{ false }} {{ False }} {{ none }} {{ None }}"),
              "True True False False None None");
    EXPECT_EQ(render("{{ [1, 'a', none, true] }} {{ (1,) }} {{ () }} {{ {'k': [1.5], 2: 'x'} }}"),
              "[1, 'a', None, True] (1,) () {'k': [1.5], 2: 'x'}");
    EXPECT_EQ(render(R"({{ ["it's", 'say "hi"'] }})"), R"(["it's", 'say "hi"'])");
    EXPECT_EQ(render("{{ 1e16 }} {{ 1e-5 }} {{ 123456789.125 }} {{ -0.0 }}"),
              "1e+16 1e-05 123456789.125 -0.0");
    EXPECT_EQ(render("[{{ undefined_thing }}]"), "[]");
}

TEST(ChatExpressions, Arithmetic) {
    EXPECT_EQ(
        render(
            "{{ 7 + 2 }} {{ 7 - 2 }} {{ 7 * 2 }} {{ 7 / 2 }} {{ 6 / 2 }} {{ 7 // 2 }} {{ 7 % 3 }}"),
        "9 5 14 3.5 3.0 3 1");
    EXPECT_EQ(render("{{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** "
                     "3 ** 2 }}"),
              "-4 2 -2 1024 0.5 64");
    EXPECT_EQ(render("{{ 1 + 2.5 }} {{ true + 1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}"),
              "3.5 2 3.0 0.5");
    EXPECT_EQ(render("{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 2 * [0] }} {{ [1] + [2, 3] }}"),
              "abcd ababab [0, 0] [1, 2, 3]");
    EXPECT_EQ(render("{{ 1 ~ 2 ~ none ~ missing ~ [1] }}"), "12None[1]");
    EXPECT_EQ(render("{{ -x }} {{ +x }} {{ -(1 + 2) }}", R"({"x": 4})"), "-4 4 -3");
}

TEST(ChatExpressions, ComparisonsAndLogic) {
    EXPECT_EQ(
        render("{{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'b' >= 'a' }}"),
        "True True True False True");
    EXPECT_EQ(
        render(
            "{{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ none == none }} {{ 1 == '1' }}"),
        "True True True False");
    EXPECT_EQ(
        render("{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ not [] }} {{ not 'x' }}"),
        "x b  True False");
    EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] "
                     "}} {{ 'x' in missing }}"),
              "True True True True False");
    EXPECT_EQ(
        render("{{ 'yes' if 1 > 0 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'only' if false }}]"),
        "yes no []");
    EXPECT_EQ(render("{{ 'a' if x else 'b' if y else 'c' }}", R"({"x": false, "y": true})"), "b");
}

TEST(ChatExpressions, AttributesSubscriptsAndSlices) {
    const char *vars =
        R"({"m": {"role": "user", "content": "hello world", "items": 5}, "xs": [1, 2, 3, 4, 5]})";
    EXPECT_EQ(
        render("{{ m.role }} {{ m['role'] }} {{ m.missing is defined }} {{ xs[0] }} {{ xs[-1] }} "
               "{{ xs[10] is defined }}",
               vars),
        "user user False 1 5 False");
    EXPECT_EQ(render("{{ xs[1:3] }} {{ xs[:2] }} {{ xs[3:] }} {{ xs[::-1] }} {{ xs[::2] }} {{ "
                     "xs[-2:] }} {{ xs[4:1:-2] }}",
                     vars),
              "[2, 3] [1, 2] [4, 5] [5, 4, 3, 2, 1] [1, 3, 5] [4, 5] [5, 3]");
    EXPECT_EQ(render("{{ m.content[:5] }} {{ m.content[-5:] }} {{ m.content[0] }} {{ 'héllo'[1] }}",
                     vars),
              "hello world h é");
    // A dict method wins over a key for `.`, a key wins for `[]`, as in Jinja2.
    EXPECT_EQ(render("{{ m['items'] }} {{ m.items is callable }}", vars), "5 True");
    EXPECT_EQ(render("{{ xs.0 }}", vars), "1");
}

TEST(ChatExpressions, PercentAndFormat) {
    EXPECT_EQ(
        render(
            "{{ '%s is %d years' % ('Ann', 30) }} {{ '%05.2f|%-4s|%x' % (3.14159, 'ab', 255) }}"),
        "Ann is 30 years 03.14|ab  |ff");
    EXPECT_EQ(
        render("{{ '%(a)s-%(b)r' % {'a': 1, 'b': 'x'} }} {{ '100%%' % () }} {{ '%s' % [1] }}"),
        "1-'x' 100% [1]");
    EXPECT_EQ(render("{{ '{}-{}'.format(1, 'a') }} {{ '{1}{0}'.format('a', 'b') }} {{ "
                     "'{name}!'.format(name='x') }}"),
              "1-a ba x!");
    EXPECT_EQ(
        render(
            "{{ '{:>5}|{:<4}|{:^7}|{:05d}|{:.2f}|{!r}'.format('ab', 'c', 'mid', 42, 2.5, 's') }}"),
        "   ab|c   |  mid  |00042|2.50|'s'");
    EXPECT_EQ(render("{{ '{{literal}} {0[k]} {0.k}'.format({'k': 'v'}) }}"), "{literal} v v");
    EXPECT_EQ(render("{{ '%s' | format('f') }}"), "f");
    EXPECT_NE(render_error("{{ '%s %s' % ('one',) }}").detail().find("not enough arguments"),
              std::string::npos);
}

TEST(ChatTests, TypeTests) {
    EXPECT_EQ(render("{{ x is defined }}{{ y is undefined }}{{ z is none }}{{ 's' is string }}{{ 1 "
                     "is string }}",
                     R"({"x": 1, "z": null})"),
              "TrueTrueTrueTrueFalse");
    EXPECT_EQ(render("{{ 1 is number }}{{ 1.5 is number }}{{ true is number }}{{ 1 is integer }}{{ "
                     "true is integer }}"
                     "{{ 1.5 is float }}"),
              "TrueTrueTrueTrueFalseTrue");
    EXPECT_EQ(render("{{ {} is mapping }}{{ [] is mapping }}{{ [] is iterable }}{{ 's' is iterable "
                     "}}{{ 1 is iterable }}"
                     "{{ {} is sequence }}{{ 1 is sequence }}{{ missing is iterable }}"),
              "TrueFalseTrueTrueFalseTrueFalseTrue");
    EXPECT_EQ(render("{{ true is boolean }}{{ 1 is boolean }}{{ true is true }}{{ 1 is true }}{{ "
                     "false is false }}"),
              "TrueFalseTrueFalseTrue");
    EXPECT_EQ(render("{{ namespace() is mapping }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'aB' "
                     "is lower }}"),
              "FalseTrueTrueFalse");
}

TEST(ChatTests, ValueTests) {
    EXPECT_EQ(
        render("{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}"),
        "TrueTrueTrueFalse");
    EXPECT_EQ(
        render(
            "{{ 'a' is equalto 'a' }}{{ 1 is eq 2 }}{{ 1 is ne 2 }}{{ 1 is lt 2 }}{{ 2 is ge 3 }}"
            "{{ 1 is in [1] }}{{ none is sameas none }}"),
        "TrueFalseTrueTrueFalseTrueTrue");
    EXPECT_EQ(render("{{ x is not none }} {{ not x is none }}", R"({"x": 1})"), "True True");
    EXPECT_EQ(render("{{ 'upper' is filter }}{{ 'odd' is test }}{{ 'nope' is filter }}"),
              "TrueTrueFalse");
}

TEST(ChatFilters, Strings) {
    EXPECT_EQ(render("[{{ '  pad  ' | trim }}] [{{ 'xxhixx' | trim('x') }}] {{ 'MiXed' | upper }} "
                     "{{ 'MiXed' | lower }}"),
              "[pad] [hi] MIXED mixed");
    EXPECT_EQ(render("{{ 'hello WORLD' | capitalize }} {{ 'hello wORLD-wide (x)' | title }} {{ "
                     "'a-b' | replace('-', '+') }}"),
              "Hello world Hello World-Wide (X) a+b");
    EXPECT_EQ(render("{{ 'aaa' | replace('a', 'b', 2) }} {{ 'héllo' | length }} {{ 'abc' | reverse "
                     "}} {{ 'abc' | first }}"),
              "bba 5 cba a");
    EXPECT_EQ(render("{{ 'a<b>&\"' | e }} {{ 'x' | safe }} {{ 'one two  three' | wordcount }} [{{ "
                     "'ab' | center(6) }}]"),
              "a&lt;b&gt;&amp;&#34; x 3 [  ab  ]");
    EXPECT_EQ(render("{{ 'line1\nline2\n\nline4' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ "
                     "'a\n\nb' | indent(width=1, blank=true) }}"),
              "line1\n  line2\n\n  line4|  a\n  b|a\n \n b");
}

TEST(ChatFilters, Conversions) {
    EXPECT_EQ(render("{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 "
                     "| int }} {{ 'ff' | int(base=16) }}"),
              "42 4 0 7 3 255");
    EXPECT_EQ(render("{{ '2.5' | float }} {{ 3 | float }} {{ 'x' | float }} {{ 1 | string }} {{ "
                     "[1] | string }} {{ none | string }}"),
              "2.5 3.0 0.0 1 [1] None");
    EXPECT_EQ(render("{{ 2.5 | round }} {{ 3.5 | round }} {{ 3.14159 | round(2) }} {{ 3.1 | "
                     "round(0, 'ceil') }} {{ 3.9 | round(method='floor') }} {{ 7 | round }}"),
              "2.0 4.0 3.14 4.0 3.0 7");
    EXPECT_EQ(render("{{ -3 | abs }} {{ -2.5 | abs }} {{ [1, 2, 3] | sum }} {{ [{'n': 1}, {'n': "
                     "2}] | sum(attribute='n') }}"),
              "3 2.5 6 3");
    EXPECT_EQ(render("{{ '{\"a\": [1, 2.5, null]}' | from_json }}"), "{'a': [1, 2.5, None]}");
}

TEST(ChatFilters, Defaults) {
    EXPECT_EQ(
        render("{{ missing | default('d') }} {{ missing | d('short') }} [{{ missing | default }}] "
               "[{{ '' | default('x') }}] {{ '' | default('x', true) }} {{ none | default('x') }}"),
        "d short [] [] x None");
}

TEST(ChatFilters, Sequences) {
    const char *vars =
        R"({"people": [{"name": "Bo", "age": 30, "admin": true}, {"name": "al", "age": 25},
                                      {"name": "Cy", "age": 35, "admin": false}]})";
    EXPECT_EQ(render("{{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ [3, 1, 2] | length }} {{ "
                     "[3, 1, 2] | count }} "
                     "{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ [3, 1, 2] | "
                     "reverse | list }}"),
              "3 2 3 3 [1, 2, 3] [3, 2, 1] [2, 1, 3]");
    EXPECT_EQ(render("{{ ['b', 'A', 'a', 'B'] | unique | list }} {{ ['b', 'A', 'c'] | sort }} {{ "
                     "['b', 'A', 'c'] | sort(case_sensitive=true) }}"),
              "['b', 'A'] ['A', 'b', 'c'] ['A', 'b', 'c']");
    EXPECT_EQ(render("{{ [1, 2, 3] | join }} {{ ['a', 'b'] | join(', ') }} {{ people | join('/', "
                     "attribute='name') }}",
                     vars),
              "123 a, b Bo/al/Cy");
    EXPECT_EQ(render("{{ people | map(attribute='name') | list }} {{ people | "
                     "map(attribute='admin', default='?') | list }}",
                     vars),
              "['Bo', 'al', 'Cy'] [True, '?', False]");
    EXPECT_EQ(render("{{ ['a', 'b'] | map('upper') | join }} {{ people | sort(attribute='age') | "
                     "map(attribute='name') | join }}",
                     vars),
              "AB alBoCy");
    EXPECT_EQ(render("{{ people | selectattr('admin') | map(attribute='name') | list }} "
                     "{{ people | rejectattr('admin') | map(attribute='name') | list }} "
                     "{{ people | selectattr('age', 'gt', 28) | map(attribute='name') | list }} "
                     "{{ people | selectattr('name', 'equalto', 'al') | list | length }}",
                     vars),
              "['Bo'] ['al', 'Cy'] ['Bo', 'Cy'] 1");
    EXPECT_EQ(
        render(
            "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} "
            "{{ [0, 1, '', 'x'] | select | list }} {{ none | selectattr('a') | list }}"),
        "[1, 3] [2, 4] [1, 'x'] []");
    EXPECT_EQ(
        render(
            "{{ people | max(attribute='age') }} {{ ['b', 'A', 'c'] | min }} {{ [2, 9, 4] | max }}",
            vars),
        "{'name': 'Cy', 'age': 35, 'admin': False} A 9");
    EXPECT_EQ(
        render("{{ 'ab' | list }} {{ {'x': 1} | list }} {{ {'b': 1, 'a': 2} | items | list }}"),
        "['a', 'b'] ['x'] [('b', 1), ('a', 2)]");
    EXPECT_EQ(render("{{ {'b': 1, 'a': 2, 'C': 0} | dictsort }} {{ {'b': 1, 'a': 2} | "
                     "dictsort(by='value', reverse=true) }}"),
              "[('a', 2), ('b', 1), ('C', 0)] [('a', 2), ('b', 1)]");
    EXPECT_EQ(render("{{ missing | items | list }} {{ missing | length }} {{ missing | list }}"),
              "[] 0 []");
    EXPECT_EQ(render("{{ namespace(name='Bo') | attr('name') }} [{{ people[0] | attr('name') }}] "
                     "{{ [1, [2]] | pprint }}",
                     vars),
              "Bo [] [1, [2]]");
}

TEST(ChatFilters, ToJson) {
    const char *vars =
        R"({"v": {"b": [1, 2.0, "é\n\"q\""], "a": {"t": true, "n": null}, "e": [], "o": {}}})";
    EXPECT_EQ(render("{{ v | tojson }}", vars),
              R"({"b": [1, 2.0, "é\n\"q\""], "a": {"t": true, "n": null}, "e": [], "o": {}})");
    EXPECT_EQ(render("{{ v | tojson(indent=2) }}", vars),
              "{\n  \"b\": [\n    1,\n    2.0,\n    \"é\\n\\\"q\\\"\"\n  ],\n  \"a\": {\n    "
              "\"t\": true,\n"
              "    \"n\": null\n  },\n  \"e\": [],\n  \"o\": {}\n}");
    EXPECT_EQ(render("{{ v.a | tojson(sort_keys=true) }} {{ 'é<>&' | tojson(ensure_ascii=true) }} "
                     "{{ [1, {'k': 2}] | tojson(separators=(',', ':')) }} {{ '😀' | "
                     "tojson(ensure_ascii=true) }}",
                     vars),
              R"({"n": null, "t": true} "\u00e9<>&" [1,{"k":2}] "\ud83d\ude00")");
    EXPECT_EQ(render("{{ {1: 'int key'} | tojson }} {{ 1e100 | tojson }}"),
              R"({"1": "int key"} 1e+100)");
}

TEST(ChatMethods, Strings) {
    EXPECT_EQ(render("[{{ '  x  '.strip() }}][{{ '  x  '.lstrip() }}][{{ '  x  '.rstrip() }}][{{ "
                     "'\nx\n'.strip('\n') }}]"),
              "[x][x  ][  x][x]");
    EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} "
                     "{{ 'a,b,c'.rsplit(',', 1) }}"),
              "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b,c'] ['a,b', 'c']");
    EXPECT_EQ(
        render("{{ 'think</think>answer'.split('</think>')[-1] }} {{ 'a\nb\n'.splitlines() }}"),
        "answer ['a', 'b']");
    EXPECT_EQ(
        render(
            "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'Hi'.upper() }} "
            "{{ 'Hi'.lower() }} {{ 'hi there'.title() }} {{ 'hi There'.capitalize() }}"),
        "True True HI hi Hi There Hi there");
    EXPECT_EQ(
        render("{{ 'a-b-c'.replace('-', '') }} {{ ', '.join(['x', 'y']) }} {{ 'hello'.find('l') }} "
               "{{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }}"),
        "abc x, y 2 3 -1 2");
    EXPECT_EQ(render("{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ ' '.isspace() }} {{ "
                     "'prefix_x'.removeprefix('prefix_') }}"),
              "True True True x");
}

TEST(ChatMethods, ListsAndDicts) {
    EXPECT_EQ(render("{% set xs = [1, 2] %}{% set _ = xs.append(3) %}{% set y = xs.pop(0) %}{{ xs "
                     "}} {{ y }} "
                     "{{ xs.index(3) }} {{ xs.count(2) }}"),
              "[2, 3] 1 1 1");
    EXPECT_EQ(render("{% set xs = [3] %}{% do xs.insert(0, 1) %}{% do xs.extend([5, 6]) %}{% do "
                     "xs.remove(5) %}"
                     "{% do xs.reverse() %}{{ xs }}"),
              "[6, 3, 1]");
    const char *vars = R"({"d": {"a": 1, "b": null}})";
    EXPECT_EQ(
        render("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'def') }} {{ d.keys() | list }} "
               "{{ d.values() | list }} {{ d.items() | list }}",
               vars),
        "1 None def ['a', 'b'] [1, None] [('a', 1), ('b', None)]");
    EXPECT_EQ(
        render("{% set d2 = {'a': 1} %}{% do d2.update({'b': 2}, c=3) %}{{ d2 }} {{ d2.pop('a') }} "
               "{{ d2.setdefault('z', 0) }} {{ d2 }}"),
        "{'a': 1, 'b': 2, 'c': 3} 1 0 {'b': 2, 'c': 3, 'z': 0}");
    EXPECT_EQ(render("{{ dict(a=1, b='x') }} {{ range(3) | list }} {{ range(1, 10, 4) | list }} {{ "
                     "range(3, 0, -1) | list }}"),
              "{'a': 1, 'b': 'x'} [0, 1, 2] [1, 5, 9] [3, 2, 1]");
}

TEST(ChatValues, ReprAndJsonOfFloats) {
    EXPECT_EQ(Value(0.1).repr(), "0.1");
    EXPECT_EQ(Value(100.0).repr(), "100.0");
    EXPECT_EQ(Value(1e15).repr(), "1000000000000000.0");
    EXPECT_EQ(Value(1.5e-7).repr(), "1.5e-07");
    EXPECT_EQ(Value(-2.5e300).repr(), "-2.5e+300");
    EXPECT_EQ(Value(0.0001).repr(), "0.0001");
    EXPECT_EQ(graft::chat::to_json_string(Value(std::nan(""))), "NaN");
    EXPECT_EQ(Value(int64_t{1}) == Value(1.0), true);
    EXPECT_EQ(Value(true) == Value(int64_t{1}), true);
    EXPECT_EQ(Value("1") == Value(int64_t{1}), false);
}
