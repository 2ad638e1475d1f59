/**
 * The action end to end on a persistent self-hosted runner, as the runner runs it (built dist/, main then
 * post), with the real Codex CLI against the loopback HTTPS stand-in of the token endpoint and backend.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCodexBackend, type CodexBackend, type TokenFamily } from '../support/codex-backend.js';
import { codexBinary } from '../support/codex-cli.js';
import { leakedSecrets, newRunner, runJob, stepLogs, type Runner, type StepResult } from '../support/runner.js';

jest.setTimeout(180_000);

const PROMPT = 'Reply with the single word OK.';
let backend: CodexBackend;
let runner: Runner;
let codexHome: string;
const logs: StepResult[] = [];

beforeAll(async () => {
  backend = await startCodexBackend();
  runner = newRunner({ name: 'self-hosted-1' });
  codexHome = path.join(runner.dir, 'persistent-codex-home');
});

afterAll(async () => {
  await backend.stop();
  runner.remove();
});

function jobEnv(home: string): Record<string, string | undefined> {
  return { ...backend.env(home, {}), PATH: `${path.dirname(codexBinary())}:${process.env.PATH}` };
}

async function job(inputs: Record<string, string>, options: { runId: string; home?: string; onRunner?: Runner }) {
  const home = options.home ?? codexHome;
  const result = await runJob({
    runner: options.onRunner ?? runner,
    inputs: { 'codex-home': home, 'codex-args': JSON.stringify(backend.args()), ...inputs },
    env: jobEnv(home),
    job: { runId: options.runId },
  });
  logs.push(result.main, result.post);
  return result;
}

const authText = (home = codexHome) => readFileSync(path.join(home, 'auth.json'), 'utf8');
const refreshTokenOf = (text: string) => (JSON.parse(text) as { tokens: { refresh_token: string } }).tokens.refresh_token;
const familyTokens = (f: TokenFamily) => [f.refreshToken, f.accessToken, f.idToken, ...f.used, ...f.oldAccessTokens];

describe('persistent runner, runner store, real codex', () => {
  let family: TokenFamily;
  let seed: string;

  test('a stale seed is seeded, Codex refreshes it, and the refreshed file stays', async () => {
    ({ family, authJson: seed } = backend.issue({ stale: true, email: 'ci-bot@example.com', accountId: 'acct-111' }));
    const before = backend.tokenRequests.length;
    const { main, post } = await job({ 'auth-json': seed, prompt: PROMPT }, { runId: '101' });
    expect(main.exitCode).toBe(0);
    expect(main.outputs).toMatchObject({ source: 'seed', stale: 'true', refreshed: 'true', 'exit-code': '0', 'final-message': 'OK', 'codex-home': codexHome });
    expect(main.env.CODEX_HOME).toBe(codexHome);
    expect(backend.tokenRequests.length - before).toBe(1);
    expect(post.exitCode).toBe(0);
    expect(post.stdout).toContain('stays in');
    expect(post.summary).toContain('refreshed file kept in place');
    expect(post.summary).toMatch(/<td>Lock<\/td><td>file lock, waited \d+\.\d s<\/td>/);
    expect(post.summary).toContain('ci…@example.com (acct-111)');
    const kept = authText();
    expect(refreshTokenOf(kept)).toBe(family.refreshToken);
    expect(refreshTokenOf(kept)).not.toBe(refreshTokenOf(seed));
    // every token of every auth.json read was masked
    expect(main.masks).toEqual(expect.arrayContaining([refreshTokenOf(seed), JSON.parse(seed).tokens.access_token]));
  });

  test('a second job with the same (old) seed does not re-seed, and Codex does not refresh again', async () => {
    const stored = authText();
    const before = backend.tokenRequests.length;
    const { main, post } = await job({ 'auth-json': seed, prompt: PROMPT }, { runId: '102' });
    expect(main.exitCode).toBe(0);
    expect(main.outputs).toMatchObject({ source: 'runner', stale: 'false', refreshed: 'false', 'exit-code': '0' });
    expect(main.stdout).toContain('the seed is ignored');
    expect(backend.tokenRequests.length).toBe(before);
    expect(post.stdout).toContain('unchanged');
    expect(authText()).toBe(stored);
  });

  test('a newer seed (a fresh login) is taken over the stored copy', async () => {
    const fresh = backend.issue({ accountId: 'acct-111', email: 'ci-bot@example.com', lastRefresh: new Date(Date.now() + 1000) });
    const { main, post } = await job({ 'auth-json': fresh.authJson }, { runId: '103' });
    expect(main.exitCode).toBe(0);
    expect(main.outputs).toMatchObject({ source: 'seed', refreshed: 'false' });
    expect(main.stdout).toContain('the seed is newer');
    expect(post.exitCode).toBe(0);
    expect(authText()).toBe(fresh.authJson);
    family = fresh.family;
    seed = fresh.authJson;
  });

  test('a refresh that fails with refresh_token_reused leaves the stored file as it was and says to re-seed', async () => {
    // make the stored copy stale, then let another machine rotate the family behind our back
    const stale = backend.issue({ stale: true, accountId: 'acct-111', email: 'ci-bot@example.com', lastRefresh: new Date(Date.now() + 2000) });
    await job({ 'auth-json': stale.authJson }, { runId: '104' });
    backend.rotate(stale.family);
    const stored = authText();
    const { main, post } = await job({ prompt: PROMPT }, { runId: '105' });
    expect(main.exitCode).toBe(1);
    expect(main.outputs['exit-code']).toBe('1');
    expect(main.errors.join('\n')).toMatch(/refresh token can no longer be used[\s\S]*Seed again: run `codex login`/);
    expect(post.exitCode).toBe(0);
    expect(authText()).toBe(stored);
    expect(post.summary).toContain('nothing to do (unchanged)');
  });
});

describe('eight jobs at once on one codex-home with lock: file', () => {
  test('never overlap, and only the first refreshes', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'codex-auth-shared-home-'));
    try {
      const { authJson } = backend.issue({ stale: true, accountId: 'acct-222' });
      const refreshesBefore = backend.tokenRequests.length;
      const requestsBefore = backend.requests.length;
      const runners = Array.from({ length: 8 }, (_, i) => newRunner({ name: `shared-${i}` }));
      const jobs = await Promise.all(
        runners.map((r, i) => job({ 'auth-json': authJson, prompt: PROMPT, lock: 'file', 'lock-timeout': '120' }, { runId: String(200 + i), home, onRunner: r })),
      );
      runners.forEach((r) => r.remove());
      for (const { main, post } of jobs) {
        expect(main.exitCode).toBe(0);
        expect(post.exitCode).toBe(0);
      }
      // critical section: from the moment main logged it holds the lock to the moment post logged its release
      const logged = (text: string, pattern: RegExp) => Date.parse(pattern.exec(text)![1]!);
      const sections = jobs
        .map(({ main, post }) => ({ from: logged(main.stdout, /Holding the file lock since (\S+) /), to: logged(post.stdout, /Released the file lock at (\S+)\./) }))
        .sort((a, b) => a.from - b.from);
      for (let i = 1; i < sections.length; i++) expect(sections[i]!.from).toBeGreaterThanOrEqual(sections[i - 1]!.to);
      // every backend request of those jobs falls in one job's section, and no two sections saw requests at once
      const requests = backend.requests.slice(requestsBefore);
      expect(requests.length).toBeGreaterThanOrEqual(8);
      for (const r of requests) expect(sections.some((s) => r.at >= s.from && r.at <= s.to)).toBe(true);
      // n overlapping processes on a stale file make n refresh POSTs; serialized, only the first refreshes
      expect(backend.tokenRequests.length - refreshesBefore).toBe(1);
      expect(jobs.filter(({ main }) => main.outputs.source === 'seed')).toHaveLength(1);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

test('no token reached any log', () => {
  const secrets = backend.families.flatMap(familyTokens);
  expect(secrets.length).toBeGreaterThan(10);
  expect(leakedSecrets(stepLogs(...logs), secrets)).toEqual([]);
});
