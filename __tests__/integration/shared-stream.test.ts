/**
 * `lock-scope: refresh` end to end (DESIGN §3.10), with the real Codex CLI against the loopback stand-ins:
 * jobs on separate machines (a runner directory each) share one stream through the command store (a file
 * outside every runner) under the github lock (the GitHub API stand-in). The lock holder refreshes ahead
 * through Codex when the access token expires within `min-validity`, persists, releases; every job then
 * runs its (long) model turn with a copy whose refresh token is withheld.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCodexBackend, type CodexBackend, type LoggedRequest, type TokenFamily } from '../support/codex-backend.js';
import { codexBinary } from '../support/codex-cli.js';
import { startCacheService, type CacheService } from '../support/cache-service.js';
import { startGithubApi, type GithubApiStandIn } from '../support/github-api.js';
import { leakedSecrets, newRunner, ROOT, runPostAfter, runStep, stepLogs, type Runner, type StepOptions, type StepResult } from '../support/runner.js';

jest.setTimeout(300_000);

const REPO = 'octo/repo';
const JOBS = 6;
const TURN_MS = 4000;
const PROMPT = 'Reply with the single word OK.';
const MANAGER = path.join(ROOT, '__tests__', 'support', 'secret-manager.mjs');
const WITHHELD = 'codex-auth-withheld-';
let backend: CodexBackend;
let api: GithubApiStandIn;
let cache: CacheService;
let dir: string;
const runners: Runner[] = [];
const steps: StepResult[] = [];

beforeAll(async () => {
  backend = await startCodexBackend({ responsesDelayMs: TURN_MS });
  api = await startGithubApi();
  api.setLatency(5);
  cache = await startCacheService();
  dir = mkdtempSync(path.join(os.tmpdir(), 'shared-stream-it-'));
  writeFileSync(path.join(dir, 'event.json'), JSON.stringify({ repository: { full_name: REPO, default_branch: 'main' } }));
});

afterAll(async () => {
  await Promise.all([backend.stop(), api.stop(), cache.stop()]);
  for (const r of runners) r.remove();
  rmSync(dir, { recursive: true, force: true });
});

const refreshTokenOf = (text: string) => (JSON.parse(text) as { tokens: { refresh_token: string } }).tokens.refresh_token;
const realTokens = (family: TokenFamily) => [family.refreshToken, ...family.used];

/** A job on its own machine: the command store over `file`, the github lock, a prompt unless told. */
function jobOptions(name: string, file: string, inputs: Record<string, string>): StepOptions {
  const runner = newRunner({ name, environment: 'github-hosted' });
  runners.push(runner);
  return {
    runner,
    inputs: {
      'codex-args': JSON.stringify(backend.args()),
      store: 'command',
      'restore-command': `node '${MANAGER}' get '${file}'`,
      'persist-command': `node '${MANAGER}' put '${file}'`,
      lock: 'github',
      'github-token': `ghs_${name}`,
      'lock-timeout': '300',
      prompt: PROMPT,
      ...inputs,
    },
    env: { ...backend.env(path.join(runner.home, '.codex'), {}), CODEX_HOME: '', PATH: `${path.dirname(codexBinary())}:${process.env.PATH}`, ...api.env, GITHUB_SHA: api.headSha(REPO) },
    job: { runId: String(8000 + runners.length), repository: REPO },
  };
}

/** Every file under `root` that holds one of `tokens` (as text). */
function filesHolding(root: string, tokens: string[]): string[] {
  const hits: string[] = [];
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    const text = readFileSync(file).toString('latin1');
    if (tokens.some((t) => text.includes(t))) hits.push(file);
  }
  return hits;
}

/** Watches the jobs' codex-homes while they run: every refresh token any auth.json there ever held. */
function watchHomes(homes: string[]): { seen: Set<string>; stop: () => void } {
  const seen = new Set<string>();
  const timer = setInterval(() => {
    for (const home of homes) {
      try {
        seen.add(refreshTokenOf(readFileSync(path.join(home, 'auth.json'), 'utf8')));
      } catch {
        // not there (yet, or any more), or caught mid-rename
      }
    }
  }, 20);
  return { seen, stop: () => clearInterval(timer) };
}

/** The most intervals open at one moment. */
function maxInFlight(requests: LoggedRequest[]): number {
  const edges = requests.flatMap((r) => [[r.at, 1], [r.doneAt ?? Date.now(), -1]] as [number, number][]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (open += d));
  return most;
}

/** main, a scan of the machine right after it, then post. */
async function runJob(o: StepOptions, family: TokenFamily) {
  const main = await runStep('main', o);
  const leftovers = filesHolding(o.runner.dir, realTokens(family));
  const post = await runPostAfter(o, main);
  steps.push(main, post);
  return { main, post, leftovers };
}

describe('lock-scope: refresh, one stream shared by concurrent jobs', () => {
  test(`${JOBS} jobs at once, the stored access token expiring within min-validity: 1 refresh in all, overlapping model turns`, async () => {
    const { family, authJson } = backend.issue({ accountId: 'acct-shared', accessExp: new Date(Date.now() + 3600_000) });
    const file = path.join(dir, 'shared.json');
    writeFileSync(file, authJson);
    const original = family.refreshToken;
    const refreshes = backend.tokenRequests.length;
    const turns = backend.responsesRequests.length;
    const jobs = Array.from({ length: JOBS }, (_, i) => jobOptions(`shared-${i}`, file, { 'lock-scope': 'refresh' }));
    const homes = jobs.map((o) => path.join(o.runner.home, '.codex'));
    const watch = watchHomes(homes);
    const started = Date.now();
    const results = await Promise.all(jobs.map((o) => runJob(o, family))).finally(watch.stop);
    const elapsed = Date.now() - started;

    for (const [i, r] of results.entries()) {
      expect({ i, main: r.main.exitCode, errors: r.main.errors, post: r.post.exitCode, postErrors: r.post.errors }).toEqual({ i, main: 0, errors: [], post: 0, postErrors: [] });
      expect(r.main.outputs).toMatchObject({ 'exit-code': '0', 'final-message': 'OK' });
      expect(r.main.stdout).toMatch(/Released the github lock after \d+\.\d s \(`lock-scope: refresh`\)/);
      expect(r.post.stdout).toContain('post persists nothing');
      expect(r.post.summary).toMatch(/<td>Lock<\/td><td>github lock, waited \d+\.\d s<\/td><\/tr><tr><td>Lock scope<\/td><td>refresh: the lock was held \d+\.\d s, by main only<\/td>/);
      expect(r.main.outputs['expires-at']).toBe(family.accessExp!.toISOString().replace(/\.\d{3}Z$/, '.000Z'));
      // after main, no file on the machine holds the real refresh token (codex-home, RUNNER_TEMP, scratch)
      expect({ i, leftovers: r.leftovers }).toEqual({ i, leftovers: [] });
    }
    expect(results.filter((r) => r.main.stdout.includes('refreshing ahead under the lock'))).toHaveLength(1);

    const mine = backend.tokenRequests.slice(refreshes);
    expect(mine.map((r) => [r.refreshToken, r.outcome])).toEqual([[original, 'rotated']]);
    expect(refreshTokenOf(readFileSync(file, 'utf8'))).toBe(family.refreshToken);
    // one write to the store, by the lock holder's main; no post touched the store
    const calls = readFileSync(`${file}.calls`, 'utf8').trim().split('\n');
    expect(calls.filter((c) => c === 'put')).toHaveLength(1);
    expect(calls.filter((c) => c === 'get').length).toBeGreaterThanOrEqual(JOBS);
    // the real refresh token was presented once, by the lock holder, before any job's model turn began
    const modelTurns = backend.responsesRequests.slice(turns);
    expect(modelTurns).toHaveLength(JOBS);
    expect(mine[0]!.at).toBeLessThan(Math.min(...modelTurns.map((t) => t.at)));
    expect(maxInFlight(modelTurns)).toBeGreaterThanOrEqual(4);
    // no job's codex-home ever held a real refresh token: only placeholders, one per job
    expect(watch.seen.size).toBeGreaterThanOrEqual(JOBS);
    for (const token of watch.seen) expect(token.startsWith(WITHHELD)).toBe(true);
    for (const home of homes) expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
    console.log(`shared stream: ${JOBS} jobs in ${(elapsed / 1000).toFixed(1)} s, ${maxInFlight(modelTurns)} model turns in flight at most`);
  });

  test(`with lock-scope: job (the default), the same ${JOBS} jobs never overlap`, async () => {
    const { family, authJson } = backend.issue({ accountId: 'acct-serial' });
    const file = path.join(dir, 'serial.json');
    writeFileSync(file, authJson);
    const turns = backend.responsesRequests.length;
    const results = await Promise.all(Array.from({ length: JOBS }, (_, i) => runJob(jobOptions(`serial-${i}`, file, {}), family)));
    for (const [i, r] of results.entries()) expect({ i, main: r.main.exitCode, post: r.post.exitCode }).toEqual({ i, main: 0, post: 0 });
    const modelTurns = backend.responsesRequests.slice(turns);
    expect(modelTurns).toHaveLength(JOBS);
    expect(maxInFlight(modelTurns)).toBe(1);
    // and the job's post held it: main to post, one job at a time
    const windows = results.map((r) => [r.main.endedAt, r.post.startedAt] as const).sort((a, b) => a[0] - b[0]);
    for (let k = 1; k < windows.length; k++) expect(windows[k]![0]).toBeGreaterThanOrEqual(windows[k - 1]![1]);
  });

  test('a 401 mid-run in a shared job: only the placeholder reaches the token endpoint, the stream is intact, a later locked refresh rotates', async () => {
    const { family, authJson } = backend.issue({ accountId: 'acct-401' });
    const file = path.join(dir, 'revoked.json');
    writeFileSync(file, authJson);
    backend.revokeAccessToken(family); // the backend no longer takes the stored access token
    const refreshes = backend.tokenRequests.length;
    const { main, post } = await runJob(jobOptions('mid-run-401', file, { 'lock-scope': 'refresh' }), family);
    expect(main.exitCode).not.toBe(0);
    const presented = backend.tokenRequests.slice(refreshes);
    expect(presented.length).toBeGreaterThan(0);
    for (const r of presented) expect(r.refreshToken!.startsWith(WITHHELD)).toBe(true);
    const codexSaid = /Your access token could not be refreshed[^\n]*/.exec(main.stdout + main.stderr)?.[0];
    console.log(`Codex on the placeholder path: ${codexSaid}`);
    expect(codexSaid).toBeDefined();
    const error = main.errors.join('\n');
    expect(error).toContain("The backend refused this job's access token mid-run, and Codex's recovery refresh was refused too");
    expect(error).toContain('The stored auth stream is intact: do not seed again.');
    expect(error).not.toContain('Seed again');
    expect(post.exitCode).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(authJson);

    const later = await runJob(jobOptions('after-401', file, { 'lock-scope': 'refresh', refresh: 'force', prompt: '' }), family);
    expect([later.main.exitCode, later.main.errors]).toEqual([0, []]);
    expect(backend.tokenRequests.at(-1)).toMatchObject({ outcome: 'rotated', refreshReason: 'forced' });
    expect(family.rotations).toBe(1);
    expect(refreshTokenOf(readFileSync(file, 'utf8'))).toBe(family.refreshToken);
  });

  test('runner store and file lock: 3 runners on one host share its codex-home; each job runs in a private home', async () => {
    const { family, authJson } = backend.issue({ accountId: 'acct-runner-shared', accessExp: new Date(Date.now() + 3600_000) });
    const hosts = [0, 1, 2].map((i) => newRunner({ name: `host-runner-${i}`, environment: 'self-hosted' }));
    runners.push(...hosts);
    const home = path.join(dir, 'host-codex-home');
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(path.join(home, 'auth.json'), authJson, { mode: 0o600 });
    const refreshes = backend.tokenRequests.length;
    const options = (i: number): StepOptions => ({
      runner: hosts[i]!,
      inputs: { 'codex-args': JSON.stringify(backend.args()), store: 'runner', 'codex-home': home, lock: 'file', 'lock-scope': 'refresh', prompt: PROMPT },
      env: { ...backend.env(home, {}), PATH: `${path.dirname(codexBinary())}:${process.env.PATH}` },
      job: { runId: String(8100 + i) },
    });
    const results = await Promise.all([0, 1, 2].map(async (i) => {
      const main = await runStep('main', options(i));
      const jobHome = main.outputs['codex-home'] as string;
      const copy = readFileSync(path.join(jobHome, 'auth.json'), 'utf8');
      const post = await runPostAfter(options(i), main);
      steps.push(main, post);
      return { main, post, jobHome, copy };
    }));
    for (const r of results) {
      expect([r.main.exitCode, r.main.errors, r.post.exitCode]).toEqual([0, [], 0]);
      expect(hosts.some((h) => r.jobHome.startsWith(path.join(h.temp, 'codex-auth-')))).toBe(true);
      expect(refreshTokenOf(r.copy).startsWith(WITHHELD)).toBe(true);
      expect(existsSync(r.jobHome)).toBe(false);
    }
    expect(backend.tokenRequests.slice(refreshes).map((r) => r.outcome)).toEqual(['rotated']);
    expect(refreshTokenOf(readFileSync(path.join(home, 'auth.json'), 'utf8'))).toBe(family.refreshToken);
  });
});

describe('lock-scope: refresh on the stores off the runner', () => {
  const stores: [string, () => { inputs: Record<string, string>; env: Record<string, string>; next: (seed: string) => string }][] = [
    ['cache', () => ({ inputs: { lock: 'none' }, env: cache.env, next: (seed) => seed })],
    [
      'github-secret',
      () => ({
        inputs: { 'secret-token': 'github_pat_writer', 'github-token': 'ghs_shared_secret' },
        env: { ...api.env, GITHUB_SHA: api.headSha(REPO) },
        next: () => api.secret(REPO, 'CODEX_AUTH_JSON')?.value ?? '',
      }),
    ],
  ];
  test.each(stores)('store: %s — main refreshes ahead and persists under the lock, the next job restores it and runs with a withheld copy', async (store, setup) => {
    const { family, authJson } = backend.issue({ accountId: `acct-shared-${store}`, accessExp: new Date(Date.now() + 3600_000) });
    const { inputs, env, next } = setup();
    const job = (name: string, seed: string, prompt: string): StepOptions => {
      const o = jobOptions(name, '/nonexistent', { store, 'auth-json': seed, 'lock-scope': 'refresh', 'restore-command': '', 'persist-command': '', prompt, ...inputs });
      return { ...o, env: { ...o.env, ...env, GITHUB_API_URL: env.GITHUB_API_URL ?? o.env!.GITHUB_API_URL }, job: { ...o.job, eventPath: path.join(dir, 'event.json') } };
    };
    const first = await runJob(job(`${store}-1`, authJson, ''), family);
    expect([first.main.exitCode, first.main.errors, first.post.exitCode, first.post.errors]).toEqual([0, [], 0, []]);
    expect(first.main.stdout).toContain('refreshing ahead under the lock');
    expect(first.main.stdout).toContain(`Persisted the refreshed auth.json to the ${store} store.`);
    expect(first.leftovers).toEqual([]);
    expect(family.rotations).toBe(1);

    const second = await runJob(job(`${store}-2`, next(authJson), PROMPT), family);
    expect([second.main.exitCode, second.main.errors, second.post.exitCode, second.post.errors]).toEqual([0, [], 0, []]);
    expect(second.main.outputs).toMatchObject({ source: store, 'final-message': 'OK', refreshed: 'false' });
    expect(second.main.stdout).not.toContain('refreshing ahead');
    expect(second.leftovers).toEqual([]);
    expect(family.rotations).toBe(1);
  });
});

test('no token reached any log, and no refresh token was ever reused', () => {
  expect(backend.tokenRequests.filter((r) => r.outcome === 'reused')).toEqual([]);
  const secrets = backend.families.flatMap((f) => [f.refreshToken, f.accessToken, f.idToken, ...f.used, ...f.oldAccessTokens]);
  expect(leakedSecrets(stepLogs(...steps), secrets)).toEqual([]);
});
