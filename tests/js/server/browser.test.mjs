// The chat page in headless Debian chromium (playwright-core): send a message and see the
// streamed reply with its speed, then start a long reply and stop it; the server must free
// the slot. Leaves a screenshot (chat-page.png) in --out.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metric, parseArgs, requireModule, run, skip, startServer, test } from './serve.mjs';

const CHROMIUM = '/usr/bin/chromium';
const args = parseArgs();
if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is not installed (apt-get install chromium)`);
const { chromium } = await requireModule('playwright-core');

const LONG = 3000; // tokens of the reply that gets stopped
const server = await startServer(args.graft, [args.model, '--threads', '1', '--ctx', '4096', '--parallel', '1']);
const model = args.modelName;
const profile = mkdtempSync(join(tmpdir(), 'graft-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] ?? await context.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));

async function metrics() { return (await fetch(`${server.url}/metrics`)).text(); }

// A message whose greedy reply runs LONG tokens without an end-of-text token, so that
// stopping it is what ends it (the model has random weights: find one by asking).
async function longRunningMessage() {
  for (let i = 0; i < 20; i++) {
    const content = `Tell me everything, part ${i}.`;
    const r = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }], temperature: 0, max_tokens: LONG }),
    });
    const body = await r.json();
    if (body.choices[0].finish_reason === 'length') return content;
  }
  throw new Error('no prompt found whose greedy reply is long');
}

async function setSetting(selector, value) {
  if (await page.locator('#settings').isHidden()) await page.click('#toggle-settings');
  await page.fill(selector, String(value));
}

async function send(text) {
  await page.fill('#prompt', text);
  await page.press('#prompt', 'Enter');
}

test('the page loads with the model picker filled', async () => {
  await page.goto(`${server.url}/`);
  await page.waitForFunction((m) => [...document.querySelectorAll('#model option')].some((o) => o.value === m), model);
  assert.equal(await page.locator('#health').textContent(), 'ok');
});

test('a message gets a streamed reply with its speed', async () => {
  await setSetting('#max-tokens', 24);
  await setSetting('#temperature', 0);
  await send('Hello from the browser test');
  const user = page.locator('.message.user').last();
  assert.equal(await user.locator('.bubble').textContent(), 'Hello from the browser test');
  const reply = page.locator('.message.assistant').last();
  await reply.locator('.meta .stats').waitFor({ timeout: 60000 });
  assert.match(await reply.locator('.meta .stats').textContent(), /tok\/s/);
  assert.ok((await reply.locator('.bubble').innerText()).length > 0);
  assert.equal(await page.locator('#send').isVisible(), true);
  // The conversation is kept: it is listed and survives a reload.
  assert.equal(await page.locator('.conversation').count(), 1);
  await page.reload();
  await page.locator('.message.assistant .meta .stats').waitFor();
  assert.equal(await page.locator('.message').count(), 2);
});

test('a long reply in a new conversation can be stopped and frees the slot', async () => {
  const content = await longRunningMessage();
  const finishedBefore = metric(await metrics(), `graft_requests_finished_total{model="${model}"}`);
  const generatedBefore = metric(await metrics(), `graft_generated_tokens_total{model="${model}"}`);
  await page.click('#new-chat');
  await setSetting('#max-tokens', LONG);
  await send(content);
  const reply = page.locator('.message.assistant').last();
  await page.locator('#stop').waitFor({ state: 'visible' });
  await page.waitForFunction(() => {
    const bubbles = document.querySelectorAll('.message.assistant .bubble');
    return bubbles.length && bubbles[bubbles.length - 1].innerText.length > 0;
  });
  await page.click('#stop');
  await reply.locator('.meta .stats').waitFor();
  assert.match(await reply.locator('.meta .stats').textContent(), /stopped/);
  assert.equal(await page.locator('.conversation').count(), 2);
  // The server noticed the aborted request: the slot is free and the reply was cut short.
  const deadline = Date.now() + 30000;
  let text = await metrics();
  while (metric(text, `graft_requests_finished_total{model="${model}"}`) !== finishedBefore + 1) {
    assert.ok(Date.now() < deadline, 'the stopped request never finished on the server');
    await new Promise((r) => setTimeout(r, 50));
    text = await metrics();
  }
  assert.equal(metric(text, `graft_active_requests{model="${model}"}`), 0);
  assert.ok(metric(text, `graft_generated_tokens_total{model="${model}"}`) - generatedBefore < LONG);
});

test('a screenshot of the page', async () => {
  if (args.out) {
    mkdirSync(args.out, { recursive: true });
    await page.screenshot({ path: join(args.out, 'chat-page.png'), fullPage: true });
  }
  assert.deepEqual(pageErrors, []);
});

await run(async () => {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  const code = await server.stop();
  assert.equal(code, 0, `graft serve exited with ${code}:\n${server.stderr()}`);
});
