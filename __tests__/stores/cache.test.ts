/**
 * The cache store against the loopback cache service, with the real @actions/cache client moving the
 * bytes (tar + zstd, Azure blob upload and ranged download). Each "job" has its own RUNNER_TEMP and store
 * instance, as on two runners.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseAuthFile, type AuthFile } from '../../src/auth-file.js';
import { readContext } from '../../src/context.js';
import { UserError } from '../../src/errors.js';
import type { Inputs } from '../../src/inputs.js';
import type { Clock, Log } from '../../src/log.js';
import { CacheStore, KEEP_ENTRIES } from '../../src/stores/cache.js';
import { makeAuthJson, makeRefreshToken } from '../support/codex-backend.js';
import { startCacheService, type CacheService } from '../support/cache-service.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const HOUR = 3600_000;

let service: CacheService;
let root: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  service = await startCacheService();
  root = mkdtempSync(path.join(os.tmpdir(), 'cache-store-test-'));
});

afterAll(async () => {
  await service.stop();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  // @actions/cache reads these from the process: they are the edge it talks through.
  Object.assign(process.env, service.env, { RUNNER_TEMP: path.join(root, 'sdk-temp') });
  mkdirSync(process.env.RUNNER_TEMP as string, { recursive: true });
});

afterEach(() => {
  service.failWith(null);
  service.forbidDeletes(false);
  for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
  Object.assign(process.env, savedEnv);
});

interface Recorded extends Log {
  lines: string[];
}

function recordingLog(): Recorded {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info: ${m}`), warning: (m) => lines.push(`warning: ${m}`), debug: () => undefined };
}

let now = T0;
const clock: Clock = { now: () => (now += 1000), sleep: async () => undefined };

function inputs(over: Partial<Inputs>): Inputs {
  return {
    mode: 'chatgpt', authJson: '', store: 'cache', codexHome: '', key: 'codex-auth', encryptionKey: '', restoreCommand: '', persistCommand: '',
    secretName: 'CODEX_AUTH_JSON', secretToken: '', secretRepository: 'octo/repo', secretEnvironment: '', lock: 'none', lockTimeoutMs: 0,
    lockRepository: 'octo/repo', githubToken: 'ghs_faketoken_for_tests', prompt: '', promptFile: '', codexArgs: [], codexVersion: '',
    workingDirectory: '', cleanup: true, allowUntrusted: false, openaiApiKey: '', accessToken: '',
    refresh: 'auto', lockScope: 'job', minValidityMs: 21600000, safetyStrategy: 'none',
    gitlabVariable: 'CODEX_AUTH_JSON', gitlabProject: '', gitlabApiUrl: '', gitlabToken: '', ...over,
  };
}

interface Job {
  store: CacheStore;
  log: Recorded;
}

/** A store as one job on a fresh runner sees it. */
function job(over: Partial<Inputs> & { seed: string }, env: Record<string, string> = {}, runId = String(Math.floor(Math.random() * 1e6))): Job {
  const temp = mkdtempSync(path.join(root, 'runner-temp-'));
  const ctx = readContext({ ...service.env, GITHUB_REPOSITORY: 'octo/repo', GITHUB_RUN_ID: runId, GITHUB_REF_NAME: 'main', RUNNER_TEMP: temp, ...env });
  const log = recordingLog();
  const { seed, ...rest } = over;
  const store = new CacheStore({ ctx, inputs: inputs({ authJson: seed, ...rest }), log, clock, authPath: path.join(temp, 'auth.json') });
  return { store, log };
}

function authFile(lastRefresh: number, accountId = 'acct-1'): AuthFile {
  return parseAuthFile(makeAuthJson({ accountId, lastRefresh: new Date(lastRefresh), refreshToken: makeRefreshToken() }), 'test auth.json');
}

const streamEntries = (key: string) => service.entries().filter((e) => e.key.startsWith(`${key}-`));

/** Unpacks a stored archive with the system tar, as @actions/cache does, and returns the one file in it. */
function unpack(blob: Buffer): Buffer {
  const dir = mkdtempSync(path.join(root, 'unpack-'));
  writeFileSync(path.join(dir, 'archive'), blob);
  const zstd = blob.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
  const out = spawnSync('tar', ['-xOf', 'archive', ...(zstd ? ['--use-compress-program', 'unzstd'] : ['-z'])], { cwd: dir });
  rmSync(dir, { recursive: true, force: true });
  if (out.status !== 0) throw new Error(`tar failed: ${out.stderr.toString()}`);
  return out.stdout;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('CacheStore', () => {
  const seed = authFile(T0).text;

  test('round trip across two jobs on two runners: job 1 saves, job 2 restores the same bytes', async () => {
    const one = job({ seed, key: 'round-trip' });
    expect(await one.store.restore()).toBeNull();
    expect(one.log.lines.join('\n')).toContain('holds no entry of `round-trip` yet');
    const refreshed = authFile(T0 + HOUR);
    expect(await one.store.persist(refreshed, null)).toBe('written');

    const two = job({ seed, key: 'round-trip' });
    const stored = await two.store.restore();
    expect(stored?.auth.text).toBe(refreshed.text);
    expect(stored?.version).toMatch(/^round-trip-\d+-1-\d+$/);
    expect(stored?.version).toBe(streamEntries('round-trip')[0]?.key);
  });

  test('the newest of several entries wins', async () => {
    const files = [authFile(T0 + HOUR), authFile(T0 + 2 * HOUR), authFile(T0 + 3 * HOUR)];
    let base: string | null = null;
    for (const file of files) {
      const j = job({ seed, key: 'newest' });
      base = (await j.store.restore())?.version ?? null;
      expect(await j.store.persist(file, base)).toBe('written');
    }
    expect((await job({ seed, key: 'newest' }).store.restore())?.auth.text).toBe(files[2]?.text);
  });

  test(`pruning leaves at most ${KEEP_ENTRIES} entries per stream after 10 runs`, async () => {
    const before = service.requests().length;
    for (let run = 1; run <= 10; run++) {
      const j = job({ seed, key: 'pruned' }, {}, String(run));
      const base = await j.store.restore();
      expect(await j.store.persist(authFile(T0 + run * HOUR), base?.version ?? null)).toBe('written');
    }
    const left = streamEntries('pruned');
    console.log(`cache entries left for one stream after 10 runs: ${left.length} (${left.map((e) => e.key).join(', ')})`);
    expect(left.length).toBeLessThanOrEqual(KEEP_ENTRIES);
    expect(left.map((e) => e.key.split('-')[1])).toEqual(['10', '9']);
    expect(service.requests().slice(before).filter((r) => r.startsWith('DELETE /repos/octo/repo/actions/caches/'))).toHaveLength(10 - KEEP_ENTRIES);
  });

  test('without `actions: write`, old entries stay and one info line names the permission', async () => {
    service.forbidDeletes(true);
    let last: Job | null = null;
    for (let run = 1; run <= 4; run++) {
      last = job({ seed, key: 'no-perm' });
      const base = await last.store.restore();
      expect(await last.store.persist(authFile(T0 + run * HOUR), base?.version ?? null)).toBe('written');
    }
    expect(streamEntries('no-perm')).toHaveLength(4);
    const lines = last?.log.lines.filter((l) => l.includes('actions: write')) ?? [];
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^info: /);
  });

  test('streams whose keys share a prefix never see each other', async () => {
    await job({ seed, key: 'team' }).store.persist(authFile(T0 + HOUR, 'acct-team'), null);
    await job({ seed, key: 'team-prod' }).store.persist(authFile(T0 + 2 * HOUR, 'acct-prod'), null);
    expect((await job({ seed, key: 'team' }).store.restore())?.auth.info.accountId).toBe('acct-team');
    expect((await job({ seed, key: 'team-prod' }).store.restore())?.auth.info.accountId).toBe('acct-prod');
  });

  test('an entry sealed with another key (a new seed) is missing, and the log says why', async () => {
    await job({ seed, key: 'rekeyed' }).store.persist(authFile(T0 + HOUR), null);
    const other = job({ seed: authFile(T0 + 2 * HOUR).text, key: 'rekeyed' });
    expect(await other.store.restore()).toBeNull();
    expect(other.log.lines.join('\n')).toMatch(/warning: Actions cache entry rekeyed-.* cannot be opened: it was sealed with another key .*treated as missing/);
  });

  test('`encryption-key` seals independently of the seed; another `encryption-key` cannot open it', async () => {
    const key = 'k'.repeat(32);
    await job({ seed, key: 'with-key', encryptionKey: key }).store.persist(authFile(T0 + HOUR), null);
    const newSeed = authFile(T0 + 2 * HOUR).text;
    expect(await job({ seed: newSeed, key: 'with-key', encryptionKey: key }).store.restore()).not.toBeNull();
    expect(await job({ seed, key: 'with-key', encryptionKey: 'x'.repeat(32) }).store.restore()).toBeNull();
  });

  test('a corrupted blob is missing, and the log says the archive is damaged', async () => {
    await job({ seed, key: 'corrupt' }).store.persist(authFile(T0 + HOUR), null);
    service.corrupt('corrupt-');
    const j = job({ seed, key: 'corrupt' });
    expect(await j.store.restore()).toBeNull();
    expect(j.log.lines.join('\n')).toMatch(/warning: Actions cache entry corrupt-.* could not be unpacked/);
  });

  test('a cache service answering 500 fails restore loudly: never a silent fallback to the seed', async () => {
    await job({ seed, key: 'down' }).store.persist(authFile(T0 + HOUR), null);
    service.failWith(500);
    const before = service.requests().length;
    const failed = job({ seed, key: 'down' }).store.restore();
    await expect(failed).rejects.toThrow(/Could not read the Actions cache \(POST GetCacheEntryDownloadURL: HTTP 500 \(internal\), 3 attempts\)\. The `auth-json` seed was NOT used.*rotated long ago/);
    expect(service.requests().slice(before).filter((r) => r.endsWith('/GetCacheEntryDownloadURL'))).toHaveLength(3);
  });

  test('an unreachable cache service fails restore loudly too', async () => {
    const j = job({ seed, key: 'nowhere' });
    process.env.ACTIONS_RESULTS_URL = `http://127.0.0.1:${await closedPort()}/`;
    await expect(j.store.restore()).rejects.toThrow(/Could not read the Actions cache \(POST GetCacheEntryDownloadURL: fetch failed.*ECONNREFUSED.*\)\. The `auth-json` seed was NOT used/);
  });

  test('no plaintext token in any stored blob, nor in the file inside it', async () => {
    const file = authFile(T0 + HOUR);
    await job({ seed, key: 'plaintext' }).store.persist(file, null);
    const tokens = Object.values((JSON.parse(file.text) as { tokens: Record<string, string> }).tokens).filter((t) => t.length > 20);
    expect(tokens).toHaveLength(3);
    const forms = tokens.flatMap((t) => [t, Buffer.from(t).toString('base64'), t.slice(0, 24)]);
    for (const entry of service.entries()) expect(forms.filter((form) => entry.blob?.includes(form))).toEqual([]);
    const [ours] = streamEntries('plaintext');
    const inner = unpack(ours?.blob as Buffer);
    expect(inner.subarray(0, 4).toString()).toBe('CXAS');
    expect(forms.filter((form) => inner.includes(form))).toEqual([]);
  });

  describe('compare-and-swap in persist', () => {
    test('the store moved on to a newer copy: conflict, nothing saved', async () => {
      await job({ seed, key: 'cas' }).store.persist(authFile(T0 + HOUR), null);
      const a = job({ seed, key: 'cas' });
      const b = job({ seed, key: 'cas' });
      const base = (await a.store.restore())?.version ?? null;
      const newer = authFile(T0 + 3 * HOUR);
      expect(await b.store.persist(newer, base)).toBe('written');
      const count = streamEntries('cas').length;
      const result = await a.store.persist(authFile(T0 + 2 * HOUR), base);
      expect(typeof result === 'object' && result.conflict.auth.text).toBe(newer.text);
      expect(streamEntries('cas')).toHaveLength(count);
    });

    test('the store moved on to an older copy: ours is newer and is written', async () => {
      await job({ seed, key: 'cas-older' }).store.persist(authFile(T0 + HOUR), null);
      const a = job({ seed, key: 'cas-older' });
      const base = (await a.store.restore())?.version ?? null;
      expect(await job({ seed, key: 'cas-older' }).store.persist(authFile(T0 + 2 * HOUR), base)).toBe('written');
      const ours = authFile(T0 + 3 * HOUR);
      expect(await a.store.persist(ours, base)).toBe('written');
      expect((await job({ seed, key: 'cas-older' }).store.restore())?.auth.text).toBe(ours.text);
    });

    test('the store already holds this very file: unchanged', async () => {
      const file = authFile(T0 + HOUR);
      await job({ seed, key: 'cas-same' }).store.persist(file, null);
      expect(await job({ seed, key: 'cas-same' }).store.persist(file, null)).toBe('unchanged');
      expect(streamEntries('cas-same')).toHaveLength(1);
    });
  });

  test('a save the service refuses fails persist with what was lost and the fix', async () => {
    service.failWith(403, ['CreateCacheEntry']);
    await expect(job({ seed, key: 'refused' }).store.persist(authFile(T0 + HOUR), null)).rejects.toThrow(
      /Failed to save Actions cache entry refused-.*did not take it.*sign in again with `codex login` and update the `auth-json` secret/,
    );
  });

  describe('refusals', () => {
    function event(defaultBranch: string | null): string {
      const file = path.join(mkdtempSync(path.join(root, 'event-')), 'event.json');
      writeFileSync(file, JSON.stringify(defaultBranch ? { repository: { default_branch: defaultBranch } } : {}));
      return file;
    }

    test('off the default branch (DESIGN §3.8): a UserError naming the fix', async () => {
      const j = job({ seed, key: 'branch' }, { GITHUB_REF_NAME: 'feature/x', GITHUB_EVENT_PATH: event('main') });
      await expect(j.store.restore()).rejects.toThrow(UserError);
      await expect(j.store.restore()).rejects.toThrow(/not the default branch 'main'.*`store: github-secret` or `store: command`/);
      await expect(j.store.persist(authFile(T0 + HOUR), null)).rejects.toThrow(/not the default branch/);
    });

    test('on the default branch, or when the event does not say, the store works', async () => {
      expect(await job({ seed, key: 'branch-ok' }, { GITHUB_EVENT_PATH: event('main') }).store.restore()).toBeNull();
      expect(await job({ seed, key: 'branch-ok' }, { GITHUB_REF_NAME: 'feature/x', GITHUB_EVENT_PATH: event(null) }).store.restore()).toBeNull();
    });

    test('neither `encryption-key` nor `auth-json`: a UserError naming both', () => {
      expect(() => job({ seed: '', key: 'keyless' })).toThrow(/both `encryption-key` and `auth-json` are empty/);
    });

    test('no cache service variables, or GitHub Enterprise Server: a UserError naming the other stores', async () => {
      const j = job({ seed, key: 'nowhere' });
      delete process.env.ACTIONS_RUNTIME_TOKEN;
      await expect(j.store.restore()).rejects.toThrow(/ACTIONS_RUNTIME_TOKEN are not all set.*`store: command` or `store: github-secret`/);
      const ghes = job({ seed, key: 'nowhere' }, { GITHUB_SERVER_URL: 'https://git.example.com' });
      await expect(ghes.store.restore()).rejects.toThrow(/GitHub Enterprise Server/);
    });

    test('a read-only cache (ACTIONS_CACHE_MODE=read): refused, since the refreshed file could not be saved', async () => {
      process.env.ACTIONS_CACHE_MODE = 'read';
      await expect(job({ seed, key: 'ro' }).store.restore()).rejects.toThrow(/The Actions cache is `read` for this run/);
    });
  });
});

describe('the cache service stand-in, on the paths the SDK takes only for large archives', () => {
  async function twirp(method: string, body: unknown): Promise<Record<string, string | boolean>> {
    const res = await fetch(`${service.origin}/twirp/github.actions.results.api.v1.CacheService/${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.env.ACTIONS_RUNTIME_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await res.json()) as Record<string, string | boolean>;
  }

  test('block upload, ranged download, and delete by exact key', async () => {
    const created = await twirp('CreateCacheEntry', { key: 'blocks-1', version: 'v-blocks' });
    const upload = String(created.signed_upload_url);
    const block = (id: string, data: string) => fetch(`${upload}&comp=block&blockid=${id}`, { method: 'PUT', body: data });
    expect((await block('YQ==', 'hello ')).status).toBe(201);
    expect((await block('Yg==', 'world')).status).toBe(201);
    const list = '<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>YQ==</Latest><Latest>Yg==</Latest></BlockList>';
    expect((await fetch(`${upload}&comp=blocklist`, { method: 'PUT', body: list })).status).toBe(201);
    expect((await twirp('FinalizeCacheEntryUpload', { key: 'blocks-1', version: 'v-blocks', size_bytes: '11' })).ok).toBe(true);

    const found = await twirp('GetCacheEntryDownloadURL', { key: 'blocks-', restore_keys: ['blocks-'], version: 'v-blocks' });
    expect(found).toMatchObject({ ok: true, matched_key: 'blocks-1' });
    expect(await twirp('GetCacheEntryDownloadURL', { key: 'blocks-', restore_keys: [], version: 'v-blocks' })).toEqual({ ok: false });
    const part = await fetch(String(found.signed_download_url), { headers: { 'x-ms-range': 'bytes=6-10' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 6-10/11');
    expect(await part.text()).toBe('world');

    const auth = { authorization: 'Bearer ghs_faketoken_for_tests' };
    expect((await fetch(`${service.origin}/repos/octo/repo/actions/caches?key=blocks-`, { method: 'DELETE', headers: auth })).status).toBe(404);
    expect((await fetch(`${service.origin}/repos/octo/repo/actions/caches?key=blocks-1`, { method: 'DELETE', headers: auth })).status).toBe(200);
    expect(service.entries().filter((e) => e.key === 'blocks-1')).toEqual([]);
  });
});
