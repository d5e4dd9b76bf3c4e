// Shared by the server's JavaScript tests: arguments, skipping, a `graft serve` process on a
// free port, and a tiny test runner (node:test would do, but its output under ctest is noisy).
import { spawn } from 'node:child_process';
import { basename } from 'node:path';

export const SKIP = 77; // ctest's SKIP_RETURN_CODE for these tests

export function skip(reason) {
  console.log(`SKIPPED: ${reason}`);
  process.exit(SKIP);
}

// --graft <path> --model <path> --out <dir>
export function parseArgs(argv = process.argv.slice(2)) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const required of ['graft', 'model']) {
    if (!args[required]) throw new Error(`--${required} is required`);
  }
  args.modelName = basename(args.model).replace(/\.gguf$/, '');
  return args;
}

// Imports an npm package from tests/js/node_modules, or skips when it is not installed.
export async function requireModule(name) {
  try {
    return await import(name);
  } catch (e) {
    if (e.code === 'ERR_MODULE_NOT_FOUND') {
      skip(`npm package '${name}' is not installed (run: npm ci --prefix tests/js)`);
    }
    throw e;
  }
}

// Starts `graft serve --port 0 ...args`, reads the address it prints, waits for /health.
export async function startServer(graft, args) {
  const child = spawn(graft, ['serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15))));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`graft serve printed no address:\n${stderr}`)), 60000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /serving (http:\/\/[^\s]+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`graft serve exited:\n${stderr}`)); });
  });
  const deadline = Date.now() + 120000;
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch (_) { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`graft serve never became healthy:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

// The value of one Prometheus series, e.g. metric(text, 'graft_active_requests{model="m"}').
export function metric(text, series) {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

const tests = [];
export function test(name, fn) { tests.push({ name, fn }); }

// Runs the registered tests in order; exits 1 when any failed.
export async function run(cleanup) {
  let failed = 0;
  for (const t of tests) {
    const start = Date.now();
    try {
      await t.fn();
      console.log(`ok   ${t.name} (${Date.now() - start} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${t.name}\n${e && e.stack ? e.stack : e}`);
    }
  }
  if (cleanup) {
    try {
      await cleanup();
    } catch (e) {
      failed++;
      console.log(`FAIL cleanup\n${e && e.stack ? e.stack : e}`);
    }
  }
  console.log(`${tests.length - failed}/${tests.length} passed`);
  process.exit(failed ? 1 : 0);
}
