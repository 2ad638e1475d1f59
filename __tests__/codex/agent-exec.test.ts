/**
 * The commands the action runs to set the agent user up: found in a fixed system PATH, never in the job's
 * (whose directories may lie in the tree lent to the agent), and with a cap on what is collected.
 */
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { run, SYSTEM_PATH, systemCommand } from '../../src/codex/agent-exec.js';
import { cleanupTempDirs, tempDir } from '../support/fixtures.js';

afterAll(cleanupTempDirs);

const jobPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = jobPath;
});

describe('run', () => {
  test('a command planted in a directory on the job PATH is not the one run, and the command sees the system PATH', async () => {
    const planted = tempDir();
    for (const name of ['id', 'sudo', 'sh']) writeFileSync(path.join(planted, name), '#!/bin/sh\necho planted\n', { mode: 0o755 });
    process.env.PATH = `${planted}:${jobPath ?? ''}`;
    const id = await run('id', ['-u']);
    expect(id.stdout.trim()).toBe(String(process.getuid?.()));
    expect(systemCommand('sudo')).not.toContain(planted);
    expect(systemCommand('sh')).toMatch(/^\/(usr\/)?(local\/)?s?bin\/sh$/);
    const seen = await run('sh', ['-c', 'echo "$PATH"']);
    expect(seen.stdout.trim()).toBe(SYSTEM_PATH);
  });

  test('output is collected up to a cap, and a command that goes on past it is ended', async () => {
    const started = Date.now();
    const endless = await run('sh', ['-c', 'exec cat /dev/zero'], { maxBytes: 1000, timeoutMs: 20_000 });
    expect(endless.stdout.length).toBe(1001);
    expect(endless.code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const small = await run('sh', ['-c', 'printf abc'], { maxBytes: 1000 });
    expect([small.code, small.stdout]).toEqual([0, 'abc']);
  });
});
