import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadStateFile, saveStateFile } from '../../src/cli/state-file.js';
import { cleanupTempDirs, recordingLog, tempDir } from '../support/fixtures.js';

afterAll(cleanupTempDirs);

describe('the CLI state file', () => {
  test('round trip: 0600, and a directory that exists keeps its mode', async () => {
    const dir = path.join(tempDir(), 'shared');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o1777);
    const file = path.join(dir, 'state.json');
    await saveStateFile(file, new Map([['codex-auth', '{"v":1}']]));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o7777).toBe(0o1777);
    expect(await loadStateFile(file, recordingLog())).toEqual(new Map([['codex-auth', '{"v":1}']]));
  });

  test('a directory it makes is private', async () => {
    const file = path.join(tempDir(), 'new', 'state.json');
    await saveStateFile(file, new Map());
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });

  test.each([
    ['a FIFO (reading it would wait forever)', (file: string) => execFileSync('mkfifo', [file]), /not a regular file/],
    ['a link', (file: string) => symlinkSync('/etc/hostname', file), /symbolic link/],
    ['an oversize file', (file: string) => writeFileSync(file, 'x'.repeat(65 * 1024)), /larger than 65536 bytes/],
    ['a file that is not ours', (file: string) => writeFileSync(file, '{"v":2}'), /not one `codex-auth restore` wrote/],
  ])('COMMAND left %s where the state file was: ignored with a warning, nothing acted on', async (_name, plant, reason) => {
    const file = path.join(tempDir(), 'state.json');
    plant(file);
    const log = recordingLog();
    expect(await loadStateFile(file, log)).toBeNull();
    expect(log.lines.map((l) => l.message).join('\n')).toMatch(reason);
  });
});
