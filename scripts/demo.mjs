// A demo of the action on a persistent self-hosted runner: the built dist/ main then post, as the runner
// runs them, with the real Codex CLI against a loopback HTTPS stand-in of the token endpoint and backend.
// Usage: npm ci && npm run demo
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTs } from './lib/load-ts.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
execFileSync(process.execPath, [path.join(root, 'scripts', 'bundle.mjs')], { cwd: root, stdio: 'inherit' });
const codex = execFileSync(process.execPath, [path.join(root, 'scripts', 'ensure-codex.mjs')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
const { startCodexBackend } = await loadTs('__tests__/support/codex-backend.ts');
const { newRunner, runJob } = await loadTs('__tests__/support/runner.ts');

const backend = await startCodexBackend();
const runner = newRunner({ name: 'demo-runner' });
const codexHome = path.join(runner.dir, 'codex-home');
const say = (line) => console.log(`  ${line}`);
const tokenOf = (text) => JSON.parse(text).tokens.refresh_token.slice(0, 6) + '…';

async function job(title, runId, inputs) {
  console.log(`\n${title}`);
  const refreshesBefore = backend.tokenRequests.length;
  const { main, post } = await runJob({
    runner,
    inputs: { 'codex-home': codexHome, 'codex-args': JSON.stringify(backend.args()), lock: 'file', ...inputs },
    env: { ...backend.env(codexHome, {}), PATH: `${path.dirname(codex)}:${process.env.PATH}` },
    job: { runId, repository: 'octo/demo' },
  });
  const o = main.outputs;
  for (const line of main.stdout.split('\n').filter((l) => /^(Using the|Holding the)/.test(l))) say(`main: ${line}`);
  say(`main: exit ${main.exitCode}; source=${o.source}, stale=${o.stale}, last-refresh=${o['last-refresh']}`);
  if (o['exit-code'] !== undefined) say(`codex exec: exit ${o['exit-code']}, final message "${o['final-message']}", refreshed=${o.refreshed}`);
  say(`token endpoint: ${backend.tokenRequests.length - refreshesBefore} refresh POST(s) during this job`);
  for (const line of post.stdout.split('\n').filter((l) => l && !l.startsWith('::'))) say(`post: ${line}`);
  say(`post: exit ${post.exitCode}`);
  for (const e of [...main.errors, ...post.errors]) say(`error: ${e}`);
  return { main, post };
}

try {
  const { family, authJson } = backend.issue({ stale: true, email: 'ci-bot@example.com', accountId: 'acct-demo' });
  console.log(`Seed: a ChatGPT auth.json whose access token expired an hour ago (refresh token ${tokenOf(authJson)}).`);
  await job('Job 1: first run on the runner (seeds auth.json, Codex refreshes it, the refreshed file stays)', '1', { 'auth-json': authJson, prompt: 'Reply with the single word OK.' });
  console.log(`  auth.json now holds refresh token ${family.refreshToken.slice(0, 6)}… (rotated by Codex, kept on the runner)`);
  await job('Job 2: next run with the same (now outdated) seed (no re-seed, no refresh)', '2', { 'auth-json': authJson, prompt: 'Reply with the single word OK.' });
  backend.rotate(family);
  await job('Job 3: another machine spent the refresh token meanwhile (refresh_token_reused)', '3', { prompt: 'Reply with the single word OK.', 'auth-json': '' });
  const fresh = backend.issue({ email: 'ci-bot@example.com', accountId: 'acct-demo', lastRefresh: new Date(Date.now() + 1000) });
  await job('Job 4: re-seeded from a fresh `codex login` (the newer seed replaces the dead copy)', '4', { 'auth-json': fresh.authJson, prompt: 'Reply with the single word OK.' });
} finally {
  await backend.stop();
  runner.remove();
}
