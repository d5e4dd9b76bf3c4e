// The npm `ollama` client against `graft serve`: chat and generate streamed and not, list,
// show, ps, version.
import assert from 'node:assert/strict';
import { parseArgs, requireModule, run, startServer, test } from './serve.mjs';

const args = parseArgs();
const { Ollama } = await requireModule('ollama');
const server = await startServer(args.graft, [args.model, '--threads', '1', '--ctx', '512']);
const ollama = new Ollama({ host: server.url });
const model = args.modelName;
const options = { temperature: 0, num_predict: 8, seed: 42 };
const messages = [{ role: 'user', content: 'Why is the sky blue?' }];

test('version', async () => {
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+/);
});

test('list', async () => {
  const r = await ollama.list();
  assert.equal(r.models.length, 1);
  assert.equal(r.models[0].name, model);
  assert.equal(r.models[0].details.format, 'gguf');
  assert.ok(r.models[0].size > 0);
});

test('show', async () => {
  const r = await ollama.show({ model });
  assert.equal(r.details.family, 'llama');
  assert.equal(r.model_info['general.architecture'], 'llama');
  assert.equal(typeof r.template, 'string');
});

test('ps', async () => {
  const r = await ollama.ps();
  assert.equal(r.models.length, 1);
  assert.equal(r.models[0].name, model);
});

let chatText;
test('chat, not streamed', async () => {
  const r = await ollama.chat({ model, messages, options, stream: false });
  assert.equal(r.done, true);
  assert.equal(r.message.role, 'assistant');
  assert.ok(r.eval_count <= 8);
  assert.ok(r.prompt_eval_count > 0);
  assert.ok(r.total_duration > 0);
  chatText = r.message.content;
});

test('chat, streamed', async () => {
  const parts = await ollama.chat({ model, messages, options, stream: true });
  let text = '';
  let last;
  for await (const part of parts) {
    text += part.message.content;
    last = part;
  }
  assert.equal(last.done, true);
  assert.ok(['stop', 'length'].includes(last.done_reason));
  assert.equal(text, chatText);
});

test('generate, both modes', async () => {
  const whole = await ollama.generate({ model, prompt: 'Once upon a time', options, stream: false });
  assert.equal(whole.done, true);
  assert.equal(typeof whole.response, 'string');
  const parts = await ollama.generate({ model, prompt: 'Once upon a time', options, stream: true });
  let text = '';
  let last;
  for await (const part of parts) {
    text += part.response;
    last = part;
  }
  assert.equal(last.done, true);
  assert.equal(last.eval_count, whole.eval_count);
  assert.equal(text, whole.response);
});

test('an unknown model is an error', async () => {
  await assert.rejects(ollama.chat({ model: 'nope', messages, stream: false }),
    (e) => e.status_code === 404 && /not found/.test(e.error ?? e.message));
});

await run(async () => {
  const code = await server.stop();
  assert.equal(code, 0, `graft serve exited with ${code}:\n${server.stderr()}`);
});
