// The npm `openai` client against `graft serve`: models, chat (plain, streamed, .stream()
// with finalChatCompletion()), completions, and errors as the client's error classes.
import assert from 'node:assert/strict';
import { parseArgs, requireModule, run, startServer, test } from './serve.mjs';

const args = parseArgs();
const { default: OpenAI } = await requireModule('openai');
const server = await startServer(args.graft, [args.model, '--threads', '1', '--ctx', '512']);
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-needed', maxRetries: 0 });
const model = args.modelName;
const messages = [{ role: 'user', content: 'Write a haiku about servers.' }];
const greedy = { model, messages, max_tokens: 10, temperature: 0, ignore_eos: true };

test('models.list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [model]);
});

let plain;
test('chat.completions.create', async () => {
  plain = await client.chat.completions.create(greedy);
  assert.equal(plain.object, 'chat.completion');
  assert.equal(plain.model, model);
  assert.equal(plain.choices.length, 1);
  assert.equal(plain.choices[0].message.role, 'assistant');
  assert.equal(typeof plain.choices[0].message.content, 'string');
  assert.equal(plain.choices[0].finish_reason, 'length');
  assert.equal(plain.usage.completion_tokens, 10);
  assert.ok(plain.usage.prompt_tokens > 0);
});

test('chat.completions.create with stream: true', async () => {
  const stream = await client.chat.completions.create({
    ...greedy, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  const ids = new Set();
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    ids.add(chunk.id);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    text += choice.delta.content ?? '';
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(ids.size, 1);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 10);
  assert.equal(text, plain.choices[0].message.content);
});

test('chat.completions.stream() and finalChatCompletion()', async () => {
  const runner = client.chat.completions.stream(greedy);
  let deltas = '';
  runner.on('content', (delta) => { deltas += delta; });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, deltas);
  assert.equal(final.choices[0].message.content, plain.choices[0].message.content);
  assert.equal(final.choices[0].finish_reason, 'length');
});

test('completions.create', async () => {
  const r = await client.completions.create({
    model, prompt: 'The quick brown fox', max_tokens: 5, temperature: 0, ignore_eos: true,
  });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.usage.completion_tokens, 5);
  const streamed = await client.completions.create({
    model, prompt: 'The quick brown fox', max_tokens: 5, temperature: 0, ignore_eos: true, stream: true,
  });
  let text = '';
  for await (const chunk of streamed) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, r.choices[0].text);
});

test('errors come back as the client error classes', async () => {
  await assert.rejects(
    client.chat.completions.create({ ...greedy, model: 'no-such-model' }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found');
  await assert.rejects(
    client.chat.completions.create({ ...greedy, n: 3 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'n');
});

await run(async () => {
  const code = await server.stop();
  assert.equal(code, 0, `graft serve exited with ${code}:\n${server.stderr()}`);
});
