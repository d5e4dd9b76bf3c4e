// The chat page's Markdown renderer (server/web/markdown.js): markup it makes, and that
// model text can never become HTML of its own.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, test } from './serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { render } = require(join(here, '../../../server/web/markdown.js'));

test('escapes HTML everywhere', () => {
  const html = render('<script>alert(1)</script> **<b>x</b>** `<i>` [a](javascript:alert(1))');
  assert.ok(!/<script|<b>|<i>/.test(html), html);
  assert.ok(html.includes('&lt;script&gt;'));
  assert.ok(!html.includes('href="javascript'), html);
  const code = render('```html\n<img src=x onerror=alert(1)>\n```');
  assert.ok(!code.includes('<img'), code);
  assert.ok(code.includes('&lt;img src=x onerror=alert(1)&gt;'));
});

test('attribute values cannot be broken out of', () => {
  const html = render('[x](https://e.com/"onmouseover="alert(1))');
  assert.ok(!/href="[^"]*"\s*onmouseover/.test(html), html);
  const lang = render('```"><img>\ncode\n```');
  assert.ok(!lang.includes('<img'), lang);
});

test('code blocks, inline code, emphasis, links', () => {
  const html = render('Use `x < y` and **bold** and *it*.\n\n```js\nconst a = 1;\n```');
  assert.ok(html.includes('<code>x &lt; y</code>'));
  assert.ok(html.includes('<strong>bold</strong>'));
  assert.ok(html.includes('<em>it</em>'));
  assert.ok(html.includes('<code class="language-js">const a = 1;</code>'));
  assert.ok(render('[site](https://example.com/a?b=1&c=2)').includes('<a href="https://example.com/a?b=1&amp;c=2"'));
  assert.ok(render('**a** in `**b**`').includes('<code>**b**</code>'));
});

test('headings, lists, quotes, rules', () => {
  assert.equal(render('## Title'), '<h2>Title</h2>');
  assert.equal(render('- a\n- b'), '<ul><li>a</li><li>b</li></ul>');
  assert.equal(render('3. c\n4. d'), '<ol start="3"><li>c</li><li>d</li></ol>');
  assert.ok(render('> quoted').startsWith('<blockquote><p>quoted</p>'));
  assert.equal(render('---'), '<hr>');
  assert.equal(render('line one\nline two'), '<p>line one<br>line two</p>');
});

test('an unterminated code fence (a reply still streaming) is still a code block', () => {
  const html = render('Here:\n```python\nprint(1)');
  assert.ok(html.includes('<code class="language-python">print(1)</code>'), html);
});

await run();
