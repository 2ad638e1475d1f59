/**
 * main's scratch copy, the one file post may put back: written private beside nothing else, replaced only
 * when Codex refreshed auth.json during main's run, read back and removed by post.
 */
import { afterAll, expect, test } from '@jest/globals';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAuthFile } from '../src/auth-file.js';
import { newScratchDir, readScratchCopy, removeScratchCopy, ScratchCopy } from '../src/scratch-copy.js';
import { authText, captureStdout, cleanupTempDirs, DAY, T0, tempDir } from './support/fixtures.js';

afterAll(cleanupTempDirs);

async function written(text: string) {
  const home = tempDir();
  const authPath = path.join(home, 'auth.json');
  writeFileSync(authPath, text, { mode: 0o600 });
  const scratchDir = newScratchDir(tempDir());
  const auth = (await captureStdout(() => parseAuthFile(text, 'test'))).value!;
  const copy = await ScratchCopy.write(scratchDir, authPath, auth);
  return { authPath, scratchDir, copy };
}

test('is last-good.json, 0600 in a new 0700 dir named codex-auth-<12 hex>', async () => {
  const seed = authText();
  const { scratchDir, copy } = await written(seed);
  expect(path.basename(scratchDir)).toMatch(/^codex-auth-[0-9a-f]{12}$/);
  expect(copy.path).toBe(path.join(scratchDir, 'last-good.json'));
  expect(readFileSync(copy.path, 'utf8')).toBe(seed);
  expect(statSync(copy.path).mode & 0o777).toBe(0o600);
  expect(statSync(scratchDir).mode & 0o777).toBe(0o700);
  await expect(ScratchCopy.write(scratchDir, path.join(scratchDir, 'x'), parseAuthFile(seed, 'again'))).rejects.toMatchObject({ code: 'EEXIST' });
});

test('after Codex: replaced by the file Codex refreshed, and says so; an unchanged or garbled file leaves it', async () => {
  const seed = authText();
  const { authPath, copy } = await written(seed);
  expect(await copy.updateAfterCodex()).toBe(false);
  writeFileSync(authPath, '{"garbled": ');
  expect((await captureStdout(() => copy.updateAfterCodex())).value).toBe(false);
  expect(readFileSync(copy.path, 'utf8')).toBe(seed);
  const refreshed = authText({ lastRefresh: new Date(T0 + DAY) });
  writeFileSync(authPath, refreshed);
  expect((await captureStdout(() => copy.updateAfterCodex())).value).toBe(true);
  expect(readFileSync(copy.path, 'utf8')).toBe(refreshed);
});

test('post reads it back, and removes it with its dir; then there is none', async () => {
  const seed = authText();
  const { scratchDir, copy } = await written(seed);
  expect((await captureStdout(() => readScratchCopy(copy.path))).value?.text).toBe(seed);
  await removeScratchCopy(copy.path);
  expect(existsSync(scratchDir)).toBe(false);
  expect(await readScratchCopy(copy.path)).toBeNull();
});
