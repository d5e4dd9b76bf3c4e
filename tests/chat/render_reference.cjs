// Renders chat templates with @huggingface/jinja, the reference the C++ interpreter is
// compared with. Usage:
//   node render_reference.cjs <tests/js dir> <conversations.json> <template.jinja>...
// Prints one JSON object: { "<template file name>": { "<conversation>": {ok, output|error} } }.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const [jsDir, conversationsPath, ...templatePaths] = process.argv.slice(2);
if (!jsDir || !conversationsPath) {
  process.stderr.write("usage: render_reference.cjs <js dir> <conversations.json> <template>...\n");
  process.exit(2);
}
const { Template } = createRequire(path.join(path.resolve(jsDir), "package.json"))("@huggingface/jinja");
const spec = JSON.parse(fs.readFileSync(conversationsPath, "utf8"));

// strftime_now() reads the clock through `new Date()`; pin it so both sides see the same day.
const RealDate = Date;
const n = spec.now;
const pinned = new RealDate(n.year, n.month - 1, n.day, n.hour, n.minute, n.second).getTime();
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(pinned);
    else super(...args);
  }
  static now() {
    return pinned;
  }
};

const results = {};
for (const templatePath of templatePaths) {
  const name = path.basename(templatePath);
  const perConversation = {};
  let template;
  try {
    template = new Template(fs.readFileSync(templatePath, "utf8"));
  } catch (err) {
    results[name] = { compile_error: String(err && err.message ? err.message : err) };
    continue;
  }
  for (const conversation of spec.conversations) {
    const context = {
      messages: conversation.messages,
      add_generation_prompt: conversation.add_generation_prompt,
      bos_token: spec.bos_token,
      eos_token: spec.eos_token,
    };
    if (conversation.with_tools) context.tools = spec.tools;
    Object.assign(context, conversation.extra || {});
    try {
      perConversation[conversation.name] = { ok: true, output: template.render(context) };
    } catch (err) {
      perConversation[conversation.name] = { ok: false, error: String(err && err.message ? err.message : err) };
    }
  }
  results[name] = perConversation;
}
process.stdout.write(JSON.stringify(results));
