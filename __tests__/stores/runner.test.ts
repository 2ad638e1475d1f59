/**
 * The runner store is `codex-home/auth.json` itself, on real temp files.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hashText, parseAuthFile } from '../../src/auth-file.js';
import { UserError } from '../../src/errors.js';
import { RunnerStore } from '../../src/stores/runner.js';
import { authText, captureStdout, cleanupTempDirs, DAY, rejection, T0, tempDir } from '../support/fixtures.js';

afterAll(cleanupTempDirs);

function setup() {
  const home = tempDir();
  const authPath = path.join(home, 'auth.json');
  return { home, authPath, store: new RunnerStore({ authPath }) };
}

describe('RunnerStore', () => {
  test('is in place, of kind runner', () => {
    const { store } = setup();
    expect(store.kind).toBe('runner');
    expect(store.inPlace).toBe(true);
  });

  test('restore: nothing stored is null', async () => {
    expect(await setup().store.restore()).toBeNull();
  });

  test('restore: the file, parsed, versioned by its content hash, its tokens masked', async () => {
    const { authPath, store } = setup();
    const text = authText({ accountId: 'acct-stored' });
    writeFileSync(authPath, text, { mode: 0o600 });
    const { value: stored, masks } = await captureStdout(() => store.restore());
    expect(stored).toMatchObject({ version: hashText(text), auth: { text, info: { accountId: 'acct-stored' } } });
    expect(masks).toContain((JSON.parse(text) as { tokens: { refresh_token: string } }).tokens.refresh_token);
  });

  test.each([
    ['not JSON', '{"auth_mode": "chatgpt", '],
    ['an API-key file', JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-0123456789abcdef' })],
    ['no account_id', JSON.stringify({ auth_mode: 'chatgpt', tokens: { id_token: 'a.b.c', access_token: 'a.b.c', refresh_token: 'rt_0123456789' } })],
    ['empty', ''],
  ])('restore: an invalid stored file (%s) is an error naming the file and how to recover; the file stays byte-identical', async (_name, text) => {
    const { authPath, store } = setup();
    writeFileSync(authPath, text, { mode: 0o600 });
    const before = statSync(authPath);
    const { error } = await captureStdout(() => store.restore());
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(`The stored ${authPath} (delete it to seed again from \`auth-json\`)`);
    expect(readFileSync(authPath, 'utf8')).toBe(text);
    expect(statSync(authPath).mtimeMs).toBe(before.mtimeMs);
    expect(statSync(authPath).ino).toBe(before.ino);
  });

  test('restore: a symlink in place of auth.json is refused', async () => {
    const { home, store } = setup();
    const target = path.join(tempDir(), 'elsewhere.json');
    writeFileSync(target, authText());
    symlinkSync(target, path.join(home, 'auth.json'));
    const error = await rejection(store.restore());
    expect(error.message).toMatch(/Refusing to read .*auth\.json: the path is a symbolic link/);
  });

  test('persist: the same bytes are not written again (same inode)', async () => {
    const { authPath, store } = setup();
    const text = authText();
    writeFileSync(authPath, text, { mode: 0o600 });
    const inode = statSync(authPath).ino;
    const auth = (await captureStdout(() => parseAuthFile(text, 'x'))).value!;
    expect(await store.persist(auth)).toBe('unchanged');
    expect(statSync(authPath).ino).toBe(inode);
  });

  test('persist: other bytes are written atomically, 0600', async () => {
    const { authPath, home, store } = setup();
    writeFileSync(authPath, 'garbled', { mode: 0o644 });
    const next = authText({ lastRefresh: new Date(T0 + DAY) });
    const auth = (await captureStdout(() => parseAuthFile(next, 'x'))).value!;
    expect(await store.persist(auth)).toBe('written');
    expect(readFileSync(authPath, 'utf8')).toBe(next);
    expect(statSync(authPath).mode & 0o777).toBe(0o600);
    expect(readdirSync(home)).toEqual(['auth.json']);
  });

  test('persist: when auth.json is missing, it is written', async () => {
    const { authPath, store } = setup();
    const text = authText();
    const auth = (await captureStdout(() => parseAuthFile(text, 'x'))).value!;
    expect(await store.persist(auth)).toBe('written');
    expect(readFileSync(authPath, 'utf8')).toBe(text);
  });
});
