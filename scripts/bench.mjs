// Prints the restore-only main step's wall time (runner store, lock none, no prompt) against `node -e 0`,
// interleaved, median of N runs each, with NODE_EXTRA_CA_CERTS unset as on a GitHub runner.
// Usage: npm run bench [-- --runs 9]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fakeAuthJson } from './lib/fake-auth.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 9;
const mainArg = process.argv.indexOf('--main');
const mainScript = mainArg > 0 ? process.argv[mainArg + 1] : 'dist/main/index.js';

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

function time(argv) {
  for (const file of Object.values(files)) writeFileSync(file, '');
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, argv, { env, cwd: root, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} exited ${result.status}: ${result.stdout}${result.stderr}`);
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  time([mainScript]); // the first run seeds auth.json; the measured runs restore it
  const base = [];
  const main = [];
  for (let i = 0; i < runs; i++) {
    base.push(time(['-e', '0']));
    main.push(time([mainScript]));
  }
  const b = median(base);
  const m = median(main);
  console.log(`runs per command:                 ${runs} (interleaved), Node ${process.version}, NODE_EXTRA_CA_CERTS unset`);
  console.log(`node -e 0                  median ${b.toFixed(1)} ms`);
  console.log(`main, restore-only runner  median ${m.toFixed(1)} ms  = ${(m / b).toFixed(2)}x node -e 0 (goal <= 2.0x)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
