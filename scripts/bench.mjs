// The figures of DESIGN §7, side by side in one run (a script that prints figures, not a test):
//  1. the restore-only main step's wall time (runner store, lock none, no prompt) against `node -e 0`,
//     on this Node and on Node 24, all four commands interleaved, median of N runs each (default 21) and
//     the spread, with NODE_EXTRA_CA_CERTS unset as on a GitHub runner;
//  2. `lock: github` with 8 contenders on the loopback GitHub API stand-in (scripts/bench-lock.mjs);
//  3. Actions cache entries left per stream after 10 runs of `store: cache` on the loopback cache service.
// Usage: npm run bench [-- --runs 21] [--only startup|lock|cache] [--this-node-only] [--main dist/main/index.js]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fakeAuthJson } from './lib/fake-auth.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 21;
const mainArg = process.argv.indexOf('--main');
const mainScript = mainArg > 0 ? process.argv[mainArg + 1] : 'dist/main/index.js';
// This Node and the action's declared runtime (node24, from the npm registry into a cache directory:
// scripts/ensure-node.mjs), unless --this-node-only.
const runtimes = [process.execPath];
if (!process.argv.includes('--this-node-only')) {
  const node24 = spawnSync(process.execPath, [path.join(root, 'scripts', 'ensure-node.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (node24.status !== 0) throw new Error('scripts/ensure-node.mjs failed: no Node 24 to measure.');
  const bin = node24.stdout.trim().split('\n').pop();
  if (bin !== process.execPath) runtimes.push(bin);
}
const versions = runtimes.map((node) => spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim());

const dir = mkdtempSync(path.join(os.tmpdir(), 'codex-auth-bench-'));
const codexHome = path.join(dir, 'codex-home');
const files = Object.fromEntries(['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_ENV', 'GITHUB_STEP_SUMMARY'].map((k) => [k, path.join(dir, k.toLowerCase())]));
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
delete env.NODE_OPTIONS;
Object.assign(env, files, {
  RUNNER_TEMP: path.join(dir, 'tmp'),
  RUNNER_ENVIRONMENT: 'self-hosted',
  GITHUB_REPOSITORY: 'octo/bench',
  GITHUB_RUN_ID: '1',
  GITHUB_JOB: 'bench',
  INPUT_STORE: 'runner',
  INPUT_LOCK: 'none',
  'INPUT_CODEX-HOME': codexHome,
  'INPUT_AUTH-JSON': fakeAuthJson(),
});

function time(node, argv) {
  for (const file of Object.values(files)) writeFileSync(file, '');
  const start = process.hrtime.bigint();
  const result = spawnSync(node, argv, { env, cwd: root, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} exited ${result.status}: ${result.stdout}${result.stderr}`);
  return ms;
}

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q + 0.5)];
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
if (!only || only === 'startup') try {
  // Each runtime's first run seeds auth.json; the measured runs restore it.
  for (const node of runtimes) time(node, [mainScript]);
  const base = runtimes.map(() => []);
  const main = runtimes.map(() => []);
  for (let i = 0; i < runs; i++) {
    runtimes.forEach((node, r) => {
      base[r].push(time(node, ['-e', '0']));
      main[r].push(time(node, [mainScript]));
    });
  }
  console.log(`runs per command:                 ${runs} (interleaved across ${runtimes.length} runtime${runtimes.length > 1 ? 's' : ''}), NODE_EXTRA_CA_CERTS unset`);
  runtimes.forEach((node, r) => {
    const b = quantile(base[r], 0.5);
    const m = quantile(main[r], 0.5);
    // the spread: the ratio of each run of main to the run of `node -e 0` just before it
    const ratios = main[r].map((ms, i) => ms / base[r][i]);
    const spread = `${quantile(ratios, 0.25).toFixed(2)}-${quantile(ratios, 0.75).toFixed(2)}x`;
    console.log(`Node ${versions[r]}`);
    console.log(`  node -e 0                  median ${b.toFixed(1)} ms (p25-p75 ${quantile(base[r], 0.25).toFixed(1)}-${quantile(base[r], 0.75).toFixed(1)})`);
    console.log(`  main, restore-only runner  median ${m.toFixed(1)} ms (p25-p75 ${quantile(main[r], 0.25).toFixed(1)}-${quantile(main[r], 0.75).toFixed(1)})  = ${(m / b).toFixed(2)}x node -e 0 (goal <= 2.0x; run by run p25-p75 ${spread})`);
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (!only || only === 'lock') {
  const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'bench-lock.mjs'), '--json'], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`bench-lock failed: ${result.stderr}`);
  const r = JSON.parse(result.stdout.trim().split('\n').pop());
  console.log(`lock: github, ${r.contenders} contenders, hold ${r.holdSeconds} s, API latency ${r.apiLatencyMs} ms:`);
  console.log(`  handoff p50 ${r.handoffMs.p50} ms, p95 ${r.handoffMs.p95} ms`);
  console.log(`  charged requests per waiter per minute of waiting ${r.chargedPerWaiterPerMinute.overall} (most by one waiter in any one minute: ${r.maxChargedInAnyMinuteByOneWaiter})`);
  console.log(`  requests: ${r.totalRequests.all} in all, ${r.totalRequests.charged} charged, ${r.totalRequests.notModified} answered 304; uncontended acquire+release ${r.uncontendedRequests}`);
}

if (!only || only === 'cache') {
  const { loadTs } = await import('./lib/load-ts.mjs');
  const { startCacheService } = await loadTs('__tests__/support/cache-service.ts');
  const { newRunner, runStep } = await loadTs('__tests__/support/runner.ts');
  const service = await startCacheService();
  const eventDir = mkdtempSync(path.join(os.tmpdir(), 'codex-auth-bench-event-'));
  const eventPath = path.join(eventDir, 'event.json');
  writeFileSync(eventPath, JSON.stringify({ repository: { default_branch: 'main' } }));
  try {
    let seed = fakeAuthJson({ lastRefresh: new Date(Date.now() - 9 * 86400000) });
    for (let run = 1; run <= 10; run++) {
      const runner = newRunner({ environment: 'github-hosted' });
      const home = path.join(runner.dir, 'codex-home');
      const o = { runner, inputs: { 'auth-json': seed, store: 'cache', lock: 'none', 'codex-home': home, 'encryption-key': 'bench-encryption-key-0123456789' }, env: service.env, job: { runId: String(run), eventPath } };
      const main = await runStep('main', o);
      if (main.exitCode !== 0) throw new Error(`cache run ${run}: ${main.errors.join(' ')}`);
      // what a Codex refresh does: a new file with a newer last_refresh, so that post persists it
      writeFileSync(path.join(home, 'auth.json'), fakeAuthJson({ lastRefresh: new Date(Date.now() + run * 1000) }), { mode: 0o600 });
      const post = await runStep('post', { ...o, state: main.state });
      if (post.exitCode !== 0) throw new Error(`cache run ${run} post: ${post.errors.join(' ')}`);
      runner.remove();
      seed = '';
    }
    console.log(`cache: entries left in the stream after 10 runs: ${service.entries().length} (at most 2 kept)`);
  } finally {
    await service.stop();
    rmSync(eventDir, { recursive: true, force: true });
  }
}
