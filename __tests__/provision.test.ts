/**
 * provisionAuth with the runner store on real temp dirs: seed only when missing, newest wins, another
 * account wins, and a bad stored file or seed stops everything without touching what is stored.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hashText } from '../src/auth-file.js';
import { UserError } from '../src/errors.js';
import { provisionAuth } from '../src/provision.js';
import { readScratchCopy, removeScratchCopy } from '../src/scratch-copy.js';
import { RunnerStore } from '../src/stores/runner.js';
import type { Store, Stored } from '../src/stores/store.js';
import { authText, captureStdout, cleanupTempDirs, DAY, recordingLog, T0, tempDir } from './support/fixtures.js';

afterAll(cleanupTempDirs);

function runnerHome(stored?: string) {
  const home = tempDir();
  const authPath = path.join(home, 'auth.json');
  if (stored !== undefined) writeFileSync(authPath, stored, { mode: 0o600 });
  return { home, authPath, store: new RunnerStore({ authPath }) };
}

async function provision(store: Store, authPath: string, seedText: string) {
  const log = recordingLog();
  const scratchDir = path.join(tempDir(), 'scratch');
  const { value, error } = await captureStdout(() => provisionAuth({ store, seedText, authPath, scratchDir, log }));
  return { result: value, error, log, scratchDir };
}

describe('provisionAuth on the runner store', () => {
  test('nothing stored: the seed is written, 0600 in a 0700 home, with a private backup copy', async () => {
    const { home, authPath, store } = runnerHome();
    const seed = authText();
    const { result, log, scratchDir } = await provision(store, authPath, seed);
    expect(result).toMatchObject({ source: 'seed', fileHash: hashText(seed), storeVersion: null, scratch: { path: path.join(scratchDir, 'last-good.json') } });
    expect(readFileSync(authPath, 'utf8')).toBe(seed);
    expect(statSync(authPath).mode & 0o777).toBe(0o600);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(readFileSync(result!.scratch.path, 'utf8')).toBe(seed);
    expect(statSync(result!.scratch.path).mode & 0o777).toBe(0o600);
    expect(statSync(scratchDir).mode & 0o777).toBe(0o700);
    expect(log.text('info')).toBe('Using the seed from `auth-json`: the runner store holds no auth.json yet.');
  });

  test('a stored copy newer than the seed is kept and not rewritten; the seed is ignored with one warning per seed', async () => {
    const stored = authText({ lastRefresh: new Date(T0 + DAY) });
    const { authPath, store } = runnerHome(stored);
    const inode = statSync(authPath).ino;
    const seed = authText({ lastRefresh: new Date(T0) });
    const first = await provision(store, authPath, seed);
    expect(first.result).toMatchObject({ source: 'runner', fileHash: hashText(stored), storeVersion: hashText(stored) });
    expect(readFileSync(authPath, 'utf8')).toBe(stored);
    expect(statSync(authPath).ino).toBe(inode);
    expect(first.log.text('info')).toMatch(/^Using the runner store's auth\.json: the stored copy .* the seed is ignored\.$/);
    expect(first.log.text('warning')).toMatch(/`auth-json` is ignored on this runner/);
    const second = await provision(store, authPath, seed);
    expect(second.result?.source).toBe('runner');
    expect(second.log.text('warning')).toBe('');
    // another (still older) seed is worth a warning again
    const third = await provision(store, authPath, authText({ lastRefresh: new Date(T0 - DAY) }));
    expect(third.log.text('warning')).toMatch(/is ignored/);
    expect(readFileSync(authPath, 'utf8')).toBe(stored);
  });

  test('the seed that is the stored copy itself: no warning, no write', async () => {
    const text = authText();
    const { authPath, store } = runnerHome(text);
    const { result, log } = await provision(store, authPath, text);
    expect(result?.source).toBe('runner');
    expect(log.text('warning')).toBe('');
  });

  test('no seed: the stored copy', async () => {
    const stored = authText();
    const { authPath, store } = runnerHome(stored);
    const { result, log } = await provision(store, authPath, '');
    expect(result).toMatchObject({ source: 'runner', fileHash: hashText(stored) });
    expect(log.text('info')).toContain("the runner store's copy (no seed given)");
    expect(log.text('warning')).toBe('');
  });

  test('a newer seed (a fresh login) replaces the stored copy', async () => {
    const stored = authText({ lastRefresh: new Date(T0) });
    const { authPath, store } = runnerHome(stored);
    const seed = authText({ lastRefresh: new Date(T0 + DAY) });
    const { result, log } = await provision(store, authPath, seed);
    expect(result).toMatchObject({ source: 'seed', fileHash: hashText(seed), storeVersion: hashText(stored) });
    expect(readFileSync(authPath, 'utf8')).toBe(seed);
    expect(log.text('info')).toContain('the seed is newer');
  });

  test('a seed of another account replaces the stored copy even when older', async () => {
    const { authPath, store } = runnerHome(authText({ accountId: 'acct-old', lastRefresh: new Date(T0 + DAY) }));
    const seed = authText({ accountId: 'acct-new', lastRefresh: new Date(T0) });
    const { result, log } = await provision(store, authPath, seed);
    expect(result?.source).toBe('seed');
    expect(result?.auth.info.accountId).toBe('acct-new');
    expect(readFileSync(authPath, 'utf8')).toBe(seed);
    expect(log.text('info')).toContain('belongs to another account');
  });

  test.each([
    ['garbage', 'this is not json'],
    ['truncated', authText().slice(0, 200)],
    ['without refresh token', JSON.stringify({ auth_mode: 'chatgpt', tokens: { id_token: 'a.b.c', access_token: 'a.b.c', account_id: 'x' } })],
  ])('an invalid stored file (%s): an error naming the file; the file is byte-identical afterwards, even with a valid seed', async (_name, bad) => {
    const { home, authPath, store } = runnerHome(bad);
    const { error, scratchDir } = await provision(store, authPath, authText({ lastRefresh: new Date(T0 + 30 * DAY) }));
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(`The stored ${authPath} (delete it to seed again from \`auth-json\`)`);
    expect(readFileSync(authPath, 'utf8')).toBe(bad);
    expect(readdirSync(home)).toEqual(['auth.json']);
    expect(existsSync(scratchDir)).toBe(false);
  });

  test('a bad seed fails before the store is read', async () => {
    let restored = 0;
    const store: Store = {
      kind: 'runner',
      inPlace: true,
      restore: async (): Promise<Stored | null> => {
        restored++;
        return null;
      },
      persist: async () => 'unchanged',
    };
    const { authPath } = runnerHome();
    const { error } = await provision(store, authPath, '{"auth_mode":"apikey","OPENAI_API_KEY":"sk-0123456789"}');
    expect((error as Error).message).toMatch(/^Input `auth-json` is an API-key auth\.json/);
    expect(restored).toBe(0);
    expect(existsSync(authPath)).toBe(false);
  });

  test('nothing stored and no seed: the error says what to do', async () => {
    const { authPath, store } = runnerHome();
    const { error } = await provision(store, authPath, '');
    expect((error as Error).message).toMatch(/No auth\.json to use: the runner store holds none and `auth-json` is empty/);
  });

  test('a store that cannot answer stops provisioning, and nothing is written', async () => {
    const store: Store = {
      kind: 'cache',
      inPlace: false,
      restore: async () => {
        throw new Error('Could not read the Actions cache (HTTP 503)');
      },
      persist: async () => 'unchanged',
    };
    const { authPath } = runnerHome();
    const { error } = await provision(store, authPath, authText());
    expect((error as Error).message).toContain('HTTP 503');
    expect(existsSync(authPath)).toBe(false);
  });

  test('readScratchCopy reads main’s copy back; removeScratchCopy removes it with its dir', async () => {
    const { authPath, store } = runnerHome();
    const seed = authText();
    const { result, scratchDir } = await provision(store, authPath, seed);
    const backup = (await captureStdout(() => readScratchCopy(result!.scratch.path))).value;
    expect(backup?.text).toBe(seed);
    await removeScratchCopy(result!.scratch.path);
    expect(existsSync(scratchDir)).toBe(false);
    expect(await readScratchCopy(result!.scratch.path)).toBeNull();
  });
});
