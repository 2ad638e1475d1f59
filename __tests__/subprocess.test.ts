/**
 * runCommand with real processes: the deadline kills the whole process group, a cancel does too, stdin
 * never reaches a message, and output is bounded.
 */
import { describe, expect, test } from '@jest/globals';
import { readFileSync, rmSync } from 'node:fs';
import { CommandTimeoutError, runCommand, type RunOptions } from '../src/subprocess.js';

const base: RunOptions = { label: '`demo`', timeoutMs: 10_000, onTimeout: 'Raise the limit.', env: { PATH: process.env.PATH } };

/** Polls until `pid` is no longer running (a signalled process takes a moment to die on a loaded machine). */
async function ended(pid: number, withinMs = 5000): Promise<boolean> {
  for (const until = Date.now() + withinMs; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) if (!running(pid)) return true;
  return !running(pid);
}

/** Gone, or a zombie nobody reaped yet: either way no longer running. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
}

/** The PIDs a test command wrote (its shell's and its child's), once it has. */
async function pidsOf(file: string): Promise<number[]> {
  const read = () => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  for (let i = 0; i < 300 && !/\d+ \d+/.test(read()); i++) await new Promise((r) => setTimeout(r, 10));
  const text = read();
  rmSync(file, { force: true });
  return text.trim().split(' ').map(Number);
}

describe('runCommand', () => {
  test('resolves with the exit code and both streams; stdin is written and closed', async () => {
    const result = await runCommand('sh', ['-c', 'cat; echo err >&2; exit 3'], { ...base, stdin: 'hello' });
    expect(result).toEqual({ code: 3, signal: null, stdout: 'hello', stderr: 'err\n', overflow: false });
  });

  test('at the deadline the whole group is killed, and the error names the command and the limit, never its stdin', async () => {
    const pidsFile = `/tmp/subprocess-test-${process.pid}-${Date.now()}-t`;
    const started = Date.now();
    const run = runCommand('sh', ['-c', `sleep 1000 & echo "$$ $!" > ${pidsFile}; cat > /dev/null; wait`], { ...base, timeoutMs: 500, stdin: 'sk-secret-stdin' }).catch((e: unknown) => e);
    const pids = await pidsOf(pidsFile);
    expect(pids.every(running)).toBe(true);
    const error = (await run) as Error;
    expect(Date.now() - started).toBeLessThan(4000);
    expect(error).toBeInstanceOf(CommandTimeoutError);
    expect(error.message).toBe('`demo` did not finish within 0.5 s and was killed, with everything it started. Raise the limit.');
    for (const pid of pids) expect(await ended(pid)).toBe(true);
  });

  test('an abort signal stops the command and its children with the signal reason', async () => {
    const controller = new AbortController();
    const pidsFile = `/tmp/subprocess-test-${process.pid}-${Date.now()}`;
    const run = runCommand('sh', ['-c', `sleep 1000 & echo "$$ $!" > ${pidsFile}; wait`], { ...base, signal: controller.signal }).catch((e: unknown) => e);
    const pids = await pidsOf(pidsFile);
    expect(pids.every(running)).toBe(true);
    controller.abort(new Error('stop now'));
    expect(await run).toEqual(new Error('stop now'));
    for (const pid of pids) expect(await ended(pid)).toBe(true);
  });

  test('stdout beyond the limit is cut (flagged); stderr keeps its last bytes, where the error is', async () => {
    const result = await runCommand('sh', ['-c', 'head -c 5000 /dev/zero | tr "\\0" a; head -c 5000 /dev/zero | tr "\\0" b >&2; echo END >&2'], { ...base, maxOutputBytes: 1000 });
    expect(result.overflow).toBe(true);
    expect(result.stdout.length).toBeLessThanOrEqual(1000);
    expect(result.stderr.length).toBe(1000);
    expect(result.stderr.endsWith('bbbEND\n')).toBe(true);
  });

  test('a command that does not exist rejects with ENOENT', async () => {
    await expect(runCommand('/no/such/command', [], base)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
