// Benchmarks `lock-scope` (not a test): N jobs (default 6) start at once on separate machines (a runner
// directory each), sharing one auth stream through the command store (a file outside every runner) under the
// github lock (the loopback GitHub API stand-in); each runs the built action with the real Codex CLI and one
// model turn the loopback backend holds for --turn seconds (default 5). Prints the wall time of all N jobs with
// `lock-scope: job` and with `lock-scope: refresh` side by side, their ratio, and how long the lock was held.
// Usage: node scripts/bench-scope.mjs [--jobs 6] [--turn 5] [--json]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTs } from './lib/load-ts.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const jobs = arg('jobs', 6);
const turnMs = arg('turn', 5) * 1000;
const json = process.argv.includes('--json');

execFileSync(process.execPath, [path.join(root, 'scripts', 'bundle.mjs')], { cwd: root, stdio: 'ignore' });
const codex = execFileSync(process.execPath, [path.join(root, 'scripts', 'ensure-codex.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
const { startCodexBackend } = await loadTs('__tests__/support/codex-backend.ts');
const { startGithubApi } = await loadTs('__tests__/support/github-api.ts');
const { newRunner, runStep } = await loadTs('__tests__/support/runner.ts');

const REPO = 'octo/bench';
const MANAGER = path.join(root, '__tests__', 'support', 'secret-manager.mjs');
const backend = await startCodexBackend({ responsesDelayMs: turnMs });
const api = await startGithubApi();
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-scope-'));
const runners = [];

async function job(scope, i, file) {
  const runner = newRunner({ name: `${scope}-${i}`, environment: 'github-hosted' });
  runners.push(runner);
  const o = {
    runner,
    inputs: {
      'codex-args': JSON.stringify(backend.args()),
      store: 'command',
      'restore-command': `node '${MANAGER}' get '${file}'`,
      'persist-command': `node '${MANAGER}' put '${file}'`,
      lock: 'github',
      'github-token': `ghs_${scope}_${i}`,
      'lock-timeout': '900',
      'lock-scope': scope,
      prompt: 'Reply with the single word OK.',
    },
    env: { ...backend.env(path.join(runner.home, '.codex'), {}), CODEX_HOME: '', PATH: `${path.dirname(codex)}:${process.env.PATH}`, ...api.env, GITHUB_SHA: api.headSha(REPO) },
    job: { runId: String(9000 + runners.length), repository: REPO },
  };
  const main = await runStep('main', o);
  const post = await runStep('post', { ...o, state: main.state, jobEnv: main.env });
  if (main.exitCode !== 0 || post.exitCode !== 0) throw new Error(`${scope} job ${i} failed: ${main.errors.join(' ')} ${post.errors.join(' ')}`);
  // refresh: main says how long it held the lock; job: from main's acquire to post's release
  const held = /Released the github lock after (\d+\.\d) s/.exec(main.stdout)?.[1];
  const since = /Holding the github lock since (\S+)/.exec(main.stdout)?.[1];
  const until = /Released the github lock at (\S+?)\.?$/m.exec(post.stdout)?.[1];
  return { main, post, heldS: held ? Number(held) : (Date.parse(until) - Date.parse(since)) / 1000 };
}

async function round(scope) {
  // the stored access token expires within min-validity: the first lock holder refreshes (ahead, or in its turn)
  const { authJson } = backend.issue({ accountId: `acct-${scope}`, accessExp: new Date(Date.now() + 3600_000) });
  const file = path.join(dir, `${scope}.json`);
  writeFileSync(file, authJson);
  const refreshes = backend.tokenRequests.length;
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: jobs }, (_, i) => job(scope, i, file)));
  const wallS = (Date.now() - started) / 1000;
  const held = results.map((r) => r.heldS).sort((a, b) => a - b);
  return { scope, wallS, refreshPosts: backend.tokenRequests.length - refreshes, heldMedianS: held[Math.floor(held.length / 2)], heldMaxS: held.at(-1) };
}

try {
  const serial = await round('job');
  const shared = await round('refresh');
  const ratio = serial.wallS / shared.wallS;
  if (json) {
    console.log(JSON.stringify({ jobs, turnS: turnMs / 1000, job: serial, refresh: shared, ratio }, null, 2));
  } else {
    const row = (r) => `${r.scope.padEnd(8)} ${r.wallS.toFixed(1).padStart(8)} s   lock held median ${r.heldMedianS.toFixed(1)} s, max ${r.heldMaxS.toFixed(1)} s   refresh POSTs ${r.refreshPosts}`;
    console.log(`${jobs} jobs at once, one ${turnMs / 1000} s model turn each, real Codex CLI, command store, github lock (loopback stand-ins)`);
    console.log(`lock-scope   wall time`);
    console.log(row(serial));
    console.log(row(shared));
    console.log(`ratio job / refresh: ${ratio.toFixed(2)}×`);
  }
} finally {
  await Promise.all([backend.stop(), api.stop()]);
  for (const r of runners) r.remove();
  rmSync(dir, { recursive: true, force: true });
}
