/**
 * The read-back of what the agent user left, on real files: only a regular file that user owns, of a sane
 * size, opened without following a link. As root, files can be given any owner; the owner cases need it.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT_FILE_LIMIT, bitsFor, closedAncestors, isWithin, readAgentFile } from '../../src/codex/agent-files.js';
import { UserError } from '../../src/errors.js';
import { cleanupTempDirs, rejection, tempDir } from '../support/fixtures.js';

afterAll(cleanupTempDirs);

const ROOT = process.getuid?.() === 0;
const me = process.getuid?.() ?? 0;
const agent = { name: 'codex-agent', uid: me };

describe('readAgentFile', () => {
  test('reads a regular file the agent owns', async () => {
    const file = path.join(tempDir(), 'auth.json');
    writeFileSync(file, '{"ok":true}', { mode: 0o600 });
    expect(await readAgentFile(file, agent)).toBe('{"ok":true}');
  });

  test('a missing file is null: nothing to take back', async () => {
    expect(await readAgentFile(path.join(tempDir(), 'auth.json'), agent)).toBeNull();
  });

  test('refuses a symbolic link, even to a file the agent owns', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'target'), '{}');
    symlinkSync(path.join(dir, 'target'), path.join(dir, 'auth.json'));
    const error = await rejection(readAgentFile(path.join(dir, 'auth.json'), agent));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`Refusing to take ${path.join(dir, 'auth.json')} back from codex-agent: it is a symbolic link.`);
  });

  test('refuses a FIFO without waiting for a writer', async () => {
    const fifo = path.join(tempDir(), 'auth.json');
    execFileSync('mkfifo', [fifo]);
    const error = await rejection(readAgentFile(fifo, agent));
    expect(error.message).toBe(`Refusing to take ${fifo} back from codex-agent: it is not a regular file.`);
  });

  test('refuses a directory in its place', async () => {
    const dir = path.join(tempDir(), 'auth.json');
    mkdirSync(dir);
    expect((await rejection(readAgentFile(dir, agent))).message).toContain('it is not a regular file');
  });

  test('refuses a file owned by another user (a hard link the agent made to it would otherwise be read with root\'s rights)', async () => {
    const file = path.join(tempDir(), 'auth.json');
    writeFileSync(file, '{}');
    const error = await rejection(readAgentFile(file, { name: 'codex-agent', uid: me + 4242 }));
    expect(error.message).toBe(`Refusing to take ${file} back from codex-agent: it is owned by uid ${me}, not by codex-agent (uid ${me + 4242}).`);
  });

  (ROOT ? test : test.skip)(`refuses a file owned by root when the agent is another uid${ROOT ? '' : ' (skipped: needs root to chown)'}`, async () => {
    const file = path.join(tempDir(), 'auth.json');
    writeFileSync(file, '{}');
    chownSync(file, 4242, 4242);
    expect(await readAgentFile(file, { name: 'codex-agent', uid: 4242 })).toBe('{}');
    chownSync(file, 0, 0);
    expect((await rejection(readAgentFile(file, { name: 'codex-agent', uid: 4242 }))).message).toContain('it is owned by uid 0, not by codex-agent (uid 4242)');
  });

  test('refuses an oversize file', async () => {
    const file = path.join(tempDir(), 'auth.json');
    writeFileSync(file, 'x'.repeat(AGENT_FILE_LIMIT + 1));
    const error = await rejection(readAgentFile(file, agent));
    expect(error.message).toBe(`Refusing to take ${file} back from codex-agent: it is ${AGENT_FILE_LIMIT + 1} bytes, more than the ${AGENT_FILE_LIMIT} an auth.json can need.`);
    writeFileSync(file, 'x'.repeat(AGENT_FILE_LIMIT));
    expect(await readAgentFile(file, agent)).toHaveLength(AGENT_FILE_LIMIT);
  });
});

describe('permission checks', () => {
  test('bitsFor takes the owner, then the group, then the others bits', () => {
    const stat = { uid: 10, gid: 20, mode: 0o40751 };
    expect(bitsFor(stat, { uid: 10, gid: 99 })).toBe(7);
    expect(bitsFor(stat, { uid: 11, gid: 20 })).toBe(5);
    expect(bitsFor(stat, { uid: 11, gid: 21 })).toBe(1);
  });

  test('closedAncestors names every directory above the target that another user cannot pass, top first', async () => {
    const top = tempDir();
    const inner = path.join(top, 'a', 'b', 'c');
    mkdirSync(inner, { recursive: true });
    chmodSync(top, 0o750);
    chmodSync(path.join(top, 'a'), 0o755);
    chmodSync(path.join(top, 'a', 'b'), 0o700);
    chmodSync(inner, 0o700); // the target itself is lent to the agent, not passed through
    const other = { uid: me + 4242, gid: me + 4242 };
    expect(await closedAncestors(inner, other)).toEqual([
      { dir: top, mode: 0o750, uid: me },
      { dir: path.join(top, 'a', 'b'), mode: 0o700, uid: me },
    ]);
    chmodSync(top, 0o751);
    chmodSync(path.join(top, 'a', 'b'), 0o701);
    expect(await closedAncestors(inner, other)).toEqual([]);
    // its owner passes on the owner's bits
    chmodSync(top, 0o700);
    expect(await closedAncestors(inner, { uid: me, gid: me })).toEqual([]);
  });

  test('isWithin', () => {
    expect(isWithin('/a/b/c', '/a/b')).toBe(true);
    expect(isWithin('/a/b', '/a/b')).toBe(true);
    expect(isWithin('/a/bc', '/a/b')).toBe(false);
    expect(isWithin('/a', '/a/b')).toBe(false);
  });
});
