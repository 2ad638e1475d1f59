/**
 * persistAuth after main provisioned a real temp codex-home: unchanged, refreshed in place, and every way
 * the file can come back wrong on the runner store (missing, garbled, older, unreadable) — then main's copy
 * is put back with a warning. The non-in-place branches run against a small in-memory store.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAuthFile, type AuthFile } from '../src/auth-file.js';
import { persistAuth, removeAuthFiles } from '../src/persist.js';
import { provisionAuth } from '../src/provision.js';
import type { ReadyState } from '../src/state.js';
import { RunnerStore } from '../src/stores/runner.js';
import type { PersistResult, Store, Stored } from '../src/stores/store.js';
import { authText, captureStdout, cleanupTempDirs, DAY, recordingLog, T0, tempDir } from './support/fixtures.js';

afterAll(cleanupTempDirs);

/** What main leaves: auth.json provisioned from `seed` on the runner store, and the state post gets. */
async function afterMain(seed: string, store?: (authPath: string) => Store) {
  const home = tempDir();
  const authPath = path.join(home, 'auth.json');
  const theStore = store ? store(authPath) : new RunnerStore({ authPath });
  const scratchDir = path.join(tempDir(), 'scratch');
  const { value: p, error } = await captureStdout(() => provisionAuth({ store: theStore, seedText: seed, authPath, scratchDir, log: recordingLog() }));
  if (!p) throw error;
  const ready: ReadyState = {
    codexHome: home,
    authPath,
    restoredHash: p.fileHash,
    restoredLastRefresh: p.auth.info.lastRefresh,
    store: theStore.kind,
    storeVersion: p.storeVersion,
    source: p.source,
    cleanup: false,
    backupPath: p.scratch.path,
    accountId: p.auth.info.accountId,
    email: p.auth.info.email,
  };
  return { home, authPath, store: theStore, ready };
}

async function persist(ready: ReadyState, store: Store) {
  const log = recordingLog();
  const { value, error } = await captureStdout(() => persistAuth(ready, store, log));
  return { outcome: value, error, log };
}

const SEED = authText({ lastRefresh: new Date(T0) });

describe('persistAuth on the runner store', () => {
  test('unchanged: nothing to do, nothing written', async () => {
    const { ready, store, authPath } = await afterMain(SEED);
    const { outcome, log } = await persist(ready, store);
    expect(outcome).toEqual({ summary: 'nothing to do (unchanged)', refreshed: false, kept: null });
    expect(log.text()).toBe('auth.json is unchanged: nothing to persist.');
    expect(readFileSync(authPath, 'utf8')).toBe(SEED);
  });

  test('refreshed by Codex: kept in place as it is', async () => {
    const { ready, store, authPath } = await afterMain(SEED);
    const refreshed = authText({ lastRefresh: new Date(T0 + DAY) });
    writeFileSync(authPath, refreshed, { mode: 0o600 });
    const { outcome, log } = await persist(ready, store);
    expect(outcome).toMatchObject({ summary: 'refreshed file kept in place', refreshed: true, kept: { text: refreshed } });
    expect(log.text('info')).toContain('Codex refreshed auth.json (last_refresh 2026-03-02T10:00:00.000Z)');
    expect(log.text('warning')).toBe('');
    expect(readFileSync(authPath, 'utf8')).toBe(refreshed);
  });

  test.each<[string, (authPath: string) => void, RegExp]>([
    ['missing (Codex logged out)', (p) => rmSync(p), /was missing: auth\.json is gone .* a deletion is never persisted/],
    ['garbled', (p) => writeFileSync(p, '{"auth_mode":"chatgpt","tok'), /was invalid: The auth\.json left by this job is not valid JSON/],
    ['emptied', (p) => writeFileSync(p, ''), /was invalid/],
    ['older than restored', (p) => writeFileSync(p, authText({ lastRefresh: new Date(T0 - DAY) })), /was older: its last_refresh 2026-02-28T10:00:00\.000Z is older than the restored 2026-03-01T10:00:00\.000Z/],
    ['an API-key file (Codex signed in with a key)', (p) => writeFileSync(p, JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-0123456789abcdef' })), /was invalid: .*API-key auth\.json/],
  ])('%s: main’s copy is put back, with a warning that says what happened', async (_name, spoil, why) => {
    const { ready, store, authPath } = await afterMain(SEED);
    spoil(authPath);
    const { outcome, log } = await persist(ready, store);
    expect(outcome).toMatchObject({ refreshed: false, kept: { text: SEED }, summary: expect.stringMatching(/^restored the previous copy \((missing|invalid|older)\)$/) });
    expect(log.text('warning')).toMatch(why);
    expect(log.text('warning')).toContain('Put back the copy this job started with.');
    expect(readFileSync(authPath, 'utf8')).toBe(SEED);
  });

  test('a symlink in place of auth.json: nothing is written through it, and the outcome says why', async () => {
    const { ready, store, authPath } = await afterMain(SEED);
    const target = path.join(tempDir(), 'target.json');
    writeFileSync(target, 'target content');
    rmSync(authPath);
    symlinkSync(target, authPath);
    const { outcome, error } = await persist(ready, store);
    expect(readFileSync(target, 'utf8')).toBe('target content');
    // RunnerStore.persist reads the current file first and refuses the link (see the report: it could replace it)
    if (error) expect((error as Error).message).toMatch(/Refusing to read .*auth\.json: the path is a symbolic link/);
    else expect(outcome?.kept?.text).toBe(SEED);
  });

  test('missing and main’s copy gone too: an error that says to seed again', async () => {
    const { ready, store, authPath } = await afterMain(SEED);
    rmSync(authPath);
    rmSync(ready.backupPath);
    const { error } = await persist(ready, store);
    expect((error as Error).message).toMatch(/is missing .* and main's copy is gone too: seed again with `auth-json`/);
  });

  test('a directory in place of auth.json: the put-back fails with an error naming the file, and the directory is left alone', async () => {
    const { ready, store, authPath } = await afterMain(SEED);
    rmSync(authPath);
    mkdirSync(authPath);
    writeFileSync(path.join(authPath, 'keep'), 'x');
    const { error } = await persist(ready, store);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(authPath);
    expect(readFileSync(path.join(authPath, 'keep'), 'utf8')).toBe('x');
  });
});

/** A store that is not in place: holds one file, compare-and-swap on its hash. */
class MemoryStore implements Store {
  readonly kind = 'command' as const;
  readonly inPlace = false;
  writes: AuthFile[] = [];
  constructor(public held: AuthFile | null) {}
  async restore(): Promise<Stored | null> {
    return this.held && { auth: this.held, version: this.held.hash };
  }
  async persist(next: AuthFile, baseVersion: string | null): Promise<PersistResult> {
    if (this.held && this.held.hash !== baseVersion && (this.held.info.lastRefresh ?? 0) >= (next.info.lastRefresh ?? 0)) return { conflict: { auth: this.held, version: this.held.hash } };
    if (this.held?.hash === next.hash) return 'unchanged';
    this.held = next;
    this.writes.push(next);
    return 'written';
  }
}

const parsed = async (text: string) => (await captureStdout(() => parseAuthFile(text, 'x'))).value as AuthFile;

describe('persistAuth on a store that is not in place', () => {
  test('changed: written to the store', async () => {
    const memory = new MemoryStore(await parsed(SEED));
    const { ready, authPath } = await afterMain('', () => memory);
    const refreshed = authText({ lastRefresh: new Date(T0 + DAY) });
    writeFileSync(authPath, refreshed);
    const { outcome, log } = await persist(ready, memory);
    expect(outcome).toMatchObject({ summary: 'written to the command store', refreshed: true });
    expect(memory.writes.map((w) => w.text)).toEqual([refreshed]);
    expect(log.text('info')).toBe('Persisted the refreshed auth.json to the command store.');
  });

  test('the store moved on to a newer copy meanwhile: its copy is kept, with a warning', async () => {
    const memory = new MemoryStore(await parsed(SEED));
    const { ready, authPath } = await afterMain('', () => memory);
    const elsewhere = await parsed(authText({ lastRefresh: new Date(T0 + 2 * DAY) }));
    memory.held = elsewhere;
    writeFileSync(authPath, authText({ lastRefresh: new Date(T0 + DAY) }));
    const { outcome, log } = await persist(ready, memory);
    expect(outcome).toMatchObject({ summary: 'skipped: the store holds a newer copy', kept: { text: elsewhere.text } });
    expect(log.text('warning')).toMatch(/The command store changed while this job ran/);
    expect(memory.held).toBe(elsewhere);
  });

  test.each<[string, (authPath: string) => void, string]>([
    ['missing', (p) => rmSync(p), 'skipped: missing'],
    ['garbled', (p) => writeFileSync(p, 'garbage'), 'skipped: invalid'],
    ['older', (p) => writeFileSync(p, authText({ lastRefresh: new Date(T0 - DAY) })), 'skipped: older'],
  ])('%s: nothing is persisted, the store keeps its copy', async (_name, spoil, summary) => {
    const memory = new MemoryStore(await parsed(SEED));
    const { ready, authPath } = await afterMain('', () => memory);
    spoil(authPath);
    const { outcome, log } = await persist(ready, memory);
    expect(outcome?.summary).toBe(summary);
    expect(memory.writes).toEqual([]);
    expect(memory.held?.text).toBe(SEED);
    expect(log.text('warning')).toMatch(/^Not persisting auth\.json: .*The command store keeps its copy\.$/);
  });
});

test('removeAuthFiles removes auth.json and Codex’s lock files, and nothing else', async () => {
  const home = tempDir();
  for (const name of ['auth.json', 'auth.lock', 'auth.json.lock', 'config.toml']) writeFileSync(path.join(home, name), 'x');
  await removeAuthFiles(home);
  expect(readdirSync(home)).toEqual(['config.toml']);
  await expect(removeAuthFiles(home)).resolves.toBeUndefined();
});
