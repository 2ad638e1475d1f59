/**
 * The ephemeral round trip with the real Codex CLI, for each store that leaves the runner: job 1 seeds a
 * stale auth.json, Codex refreshes it, post persists it; job 2, on a fresh runner directory, restores the
 * refreshed file and Codex does not refresh again. No token in any log, no plaintext token in the store.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCacheService, type CacheService } from '../support/cache-service.js';
import { startCodexBackend, type CodexBackend } from '../support/codex-backend.js';
import { startGithubApi, type GithubApiStandIn } from '../support/github-api.js';
import { codexBinary } from '../support/codex-cli.js';
import { leakedSecrets, newRunner, runJob, ROOT, stepLogs, type Runner, type StepResult } from '../support/runner.js';

jest.setTimeout(180_000);

const PROMPT = 'Reply with the single word OK.';
let backend: CodexBackend;
let cache: CacheService;
let api: GithubApiStandIn;
let dir: string;
const runners: Runner[] = [];
const steps: StepResult[] = [];

beforeAll(async () => {
  backend = await startCodexBackend();
  cache = await startCacheService();
  api = await startGithubApi();
  dir = mkdtempSync(path.join(os.tmpdir(), 'ephemeral-codex-'));
  writeFileSync(path.join(dir, 'event.json'), JSON.stringify({ repository: { full_name: 'octo/repo', default_branch: 'main' } }));
});

afterAll(async () => {
  await Promise.all([backend.stop(), cache.stop(), api.stop()]);
  for (const r of runners) r.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** One job on a fresh GitHub-hosted runner: main (with codex) then post. */
async function job(runId: string, inputs: Record<string, string>, env: Record<string, string> = {}) {
  const runner = newRunner({ environment: 'github-hosted' });
  runners.push(runner);
  const home = path.join(runner.home, '.codex');
  const result = await runJob({
    runner,
    inputs: { 'codex-args': JSON.stringify(backend.args()), lock: 'none', prompt: PROMPT, ...inputs },
    env: { ...backend.env(home, {}), CODEX_HOME: '', PATH: `${path.dirname(codexBinary())}:${process.env.PATH}`, ...env },
    job: { runId, eventPath: path.join(dir, 'event.json') },
  });
  steps.push(result.main, result.post);
  return { ...result, home };
}

/** Unpacks a cache archive (tar, zstd or gzip) and returns the files in it, as latin1 text. */
function unpack(blob: Buffer, name: string): string {
  const out = path.join(dir, name);
  mkdirSync(out);
  writeFileSync(`${out}.tar`, blob);
  execFileSync('tar', ['-xf', `${out}.tar`, '-C', out]);
  const names = readdirSync(out, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
  return names.map((d) => readFileSync(path.join(d.parentPath ?? d.path, d.name)).toString('latin1')).join('\n');
}

const refreshTokenOf = (text: string) => (JSON.parse(text) as { tokens: { refresh_token: string } }).tokens.refresh_token;

/** `nextSeed`: what `auth-json` holds in job 2 (for the github-secret store, the rewritten secret). */
async function roundTrip(store: string, inputs: Record<string, string>, env: Record<string, string> = {}, nextSeed?: () => string) {
  const { family, authJson } = backend.issue({ stale: true, accountId: `acct-${store}` });
  const refreshes = backend.tokenRequests.length;
  const first = await job(`${store}-1`, { store, 'auth-json': authJson, ...inputs }, env);
  expect([first.main.exitCode, first.main.errors]).toEqual([0, []]);
  expect(first.main.outputs).toMatchObject({ source: 'seed', stale: 'true', refreshed: 'true', 'exit-code': '0', 'final-message': 'OK' });
  expect([first.post.exitCode, first.post.errors]).toEqual([0, []]);
  expect(backend.tokenRequests.length - refreshes).toBe(1);
  expect(first.post.summary).toContain(`written to the ${store} store`);

  const second = await job(`${store}-2`, { store, 'auth-json': nextSeed ? nextSeed() : authJson, ...inputs }, env);
  expect(second.main.exitCode).toBe(0);
  expect(second.main.outputs).toMatchObject({ source: store, stale: 'false', refreshed: 'false', 'exit-code': '0' });
  expect(backend.tokenRequests.length - refreshes).toBe(1);
  expect([second.post.exitCode, second.post.errors, second.post.stderr.slice(-600)]).toEqual([0, [], expect.anything()]);
  expect(second.post.stderr).not.toMatch(/\n {4}at /);
  // cleanup is on for stores off the runner: nothing is left in CODEX_HOME
  expect(() => readFileSync(path.join(second.home, 'auth.json'))).toThrow();
  return family;
}

describe('ephemeral round trip with the real codex', () => {
  test('store: cache', async () => {
    const family = await roundTrip('cache', {}, cache.env);
    const files = cache.entries().map((entry, i) => unpack(entry.blob as Buffer, `entry-${i}`));
    expect(files.length).toBeGreaterThan(0);
    for (const text of files) {
      expect(text.length).toBeGreaterThan(100);
      for (const token of [family.refreshToken, family.accessToken, ...family.used]) expect(text.includes(token)).toBe(false);
    }
  });

  test('store: command', async () => {
    const file = path.join(dir, 'secret-manager.json');
    const manager = `node ${JSON.stringify(path.join(ROOT, '__tests__', 'support', 'secret-manager.mjs'))}`;
    const family = await roundTrip('command', { 'restore-command': `${manager} get ${file}`, 'persist-command': `${manager} put ${file}` });
    expect(refreshTokenOf(readFileSync(file, 'utf8'))).toBe(family.refreshToken);
  });

  test('store: github-secret, under the github lock', async () => {
    const secret = () => api.secret('octo/repo', 'CODEX_AUTH_JSON')?.value ?? '';
    const inputs = { 'secret-token': 'github_pat_writer', lock: 'github', 'github-token': 'ghs_run_token' };
    const family = await roundTrip('github-secret', inputs, { ...api.env, GITHUB_SHA: api.headSha('octo/repo') }, secret);
    expect(refreshTokenOf(secret())).toBe(family.refreshToken);
    expect(api.refs('octo/repo', 'refs/codex-auth-locks/')).toEqual([]);
    // cleanup happens before the release: once released, another job may be using this codex-home
    const lastPost = steps[steps.length - 1]!.stdout;
    expect(lastPost.indexOf('Removed auth.json')).toBeGreaterThan(-1);
    expect(lastPost.indexOf('Removed auth.json')).toBeLessThan(lastPost.indexOf('Released the github lock'));
  });
});

test('no token reached any log', () => {
  const secrets = backend.families.flatMap((f) => [f.refreshToken, f.accessToken, f.idToken, ...f.used, ...f.oldAccessTokens]);
  expect(secrets.length).toBeGreaterThan(6);
  expect(leakedSecrets(stepLogs(...steps), secrets)).toEqual([]);
});
