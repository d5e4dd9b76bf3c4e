"""Renders chat templates with Python Jinja2 configured as transformers configures it (the
environment chat templates are written for). Usage:
    python3 render_jinja2.py <conversations.json> <template.jinja>...
Prints one JSON object: {"<template file name>": {"<conversation>": {ok, output|error}}}.
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationTag(Extension):
    """transformers' {% generation %} block: renders its body in place."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def main():
    spec_path, *template_paths = sys.argv[1:]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    n = spec["now"]
    pinned = datetime.datetime(n["year"], n["month"], n["day"], n["hour"], n["minute"], n["second"])

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return pinned.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols, GenerationTag])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now

    results = {}
    for path in template_paths:
        name = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            source = f.read()
        try:
            template = env.from_string(source)
        except Exception as e:  # noqa: BLE001 - any failure is a result
            results[name] = {"compile_error": f"{type(e).__name__}: {e}"}
            continue
        per_conversation = {}
        for conversation in spec["conversations"]:
            context = {
                "messages": conversation["messages"],
                "add_generation_prompt": conversation["add_generation_prompt"],
                "bos_token": spec["bos_token"],
                "eos_token": spec["eos_token"],
            }
            if conversation.get("with_tools"):
                context["tools"] = spec["tools"]
            context.update(conversation.get("extra", {}))
            try:
                per_conversation[conversation["name"]] = {"ok": True, "output": template.render(**context)}
            except Exception as e:  # noqa: BLE001
                per_conversation[conversation["name"]] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        results[name] = per_conversation
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
