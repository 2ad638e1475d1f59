/**
 * runCodexExec and ensureCodex against a FAKE codex: a small executable script in a temp dir that records
 * its argv, environment, stdin and process group, writes the --output-last-message file, can leave a
 * grandchild behind, and exits with the code it is told.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureCodex, runCodexExec, type ExecResult } from '../src/codex.js';
import { UserError } from '../src/errors.js';
import { captureStdout, cleanupTempDirs, recordingLog, rejection, runContext, tempDir } from './support/fixtures.js';

afterAll(cleanupTempDirs);

const FAKE = `#!${process.execPath}
// A stand-in for \`codex\`: records what it was given, then behaves as FAKE_* says.
const fs = require('fs');
const cp = require('child_process');
const argv = process.argv.slice(2);
if (argv[0] === '--version') {
  console.log('codex-cli ' + (process.env.FAKE_VERSION || '1.2.3'));
  process.exit(0);
}
// /proc/<pid>/stat after "(comm) ": state ppid pgrp session ...
const stat = (pid) => fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ');
const me = stat(process.pid);
const parent = stat(process.ppid);
let stdin;
try {
  stdin = fs.readSync(0, Buffer.alloc(1), 0, 1, null) === 0 ? 'eof' : 'data';
} catch (error) {
  stdin = error.code;
}
const record = {
  argv,
  cwd: process.cwd(),
  codexHome: process.env.CODEX_HOME,
  marker: process.env.FAKE_MARKER,
  pid: process.pid,
  pgid: Number(me[2]),
  sid: Number(me[3]),
  ppid: process.ppid,
  parentPgid: Number(parent[2]),
  stdin,
  grandchild: null,
};
if (process.env.FAKE_GRANDCHILD) {
  const holdOutput = process.env.FAKE_GRANDCHILD === 'holds-output';
  const escape = process.env.FAKE_GRANDCHILD === 'escapes-holding-output';
  // 'escapes-…' leaves the process group (a new session, as setsid does), where killing the group cannot reach
  const child = cp.spawn('sleep', ['30'], { stdio: holdOutput || escape ? ['ignore', 'inherit', 'inherit'] : 'ignore', detached: escape });
  record.grandchild = child.pid;
  child.unref();
}
fs.writeFileSync(process.env.FAKE_RECORD, JSON.stringify(record));
const out = argv.indexOf('--output-last-message');
if (out >= 0 && process.env.FAKE_MESSAGE !== undefined) fs.writeFileSync(argv[out + 1], process.env.FAKE_MESSAGE);
process.stdout.write('fake stdout line\\n');
if (process.env.FAKE_STDERR) process.stderr.write(process.env.FAKE_STDERR + '\\n');
setTimeout(() => process.exit(Number(process.env.FAKE_EXIT || 0)), Number(process.env.FAKE_SLEEP_MS || 0));
`;

interface FakeRecord {
  argv: string[];
  cwd: string;
  codexHome: string;
  marker: string;
  pid: number;
  pgid: number;
  sid: number;
  ppid: number;
  parentPgid: number;
  stdin: string;
  grandchild: number | null;
}

let binDir: string;
let codex: string;

beforeAll(() => {
  binDir = tempDir('fake-codex-');
  codex = path.join(binDir, 'codex');
  writeFileSync(codex, FAKE);
  chmodSync(codex, 0o755);
});

/** Gone, or a zombie nobody reaped yet (in a container PID 1 may not reap): either way no longer running. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
  return state !== 'Z';
}

async function waitUntil(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

async function run(fake: Record<string, string>, options: { prompt?: string; args?: string[]; cwd?: string } = {}) {
  const dir = tempDir();
  const record = path.join(dir, 'record.json');
  const runnerTemp = path.join(dir, 'runner-temp');
  const codexHome = path.join(dir, 'codex-home');
  mkdirSync(runnerTemp);
  mkdirSync(codexHome);
  const started = Date.now();
  const { value, error, stdout } = await captureStdout(() =>
    runCodexExec({
      codex,
      codexHome,
      prompt: options.prompt ?? 'Say OK',
      args: options.args ?? [],
      cwd: options.cwd ?? dir,
      runnerTemp,
      env: { PATH: process.env.PATH, HOME: dir, FAKE_RECORD: record, ...fake },
    }),
  );
  if (error) throw error;
  const recorded = existsSync(record) ? (JSON.parse(readFileSync(record, 'utf8')) as FakeRecord) : null;
  return { result: value as ExecResult, recorded: recorded as FakeRecord, codexHome, runnerTemp, dir, stdout, elapsed: Date.now() - started };
}

describe('runCodexExec', () => {
  test('argv: exec, file credential storage enforced, the last-message file, user args, then -- and the prompt', async () => {
    const { recorded } = await run({ FAKE_MESSAGE: 'hi' }, { prompt: '--looks-like-a-flag', args: ['--model', 'gpt-5', '-c', 'x="y"'] });
    const argv = recorded.argv;
    expect(argv.slice(0, 4)).toEqual(['exec', '-c', 'cli_auth_credentials_store="file"', '--output-last-message']);
    expect(argv[4]).toMatch(/last-message\.txt$/);
    expect(argv.slice(5)).toEqual(['--model', 'gpt-5', '-c', 'x="y"', '--', '--looks-like-a-flag']);
  });

  test('env and cwd: CODEX_HOME is the codex-home given, the caller’s environment is passed on, cwd is the working directory', async () => {
    const cwd = tempDir();
    const { recorded, codexHome } = await run({ FAKE_MARKER: 'passed-through', CODEX_HOME: '/wrong/home' }, { cwd });
    expect(recorded.codexHome).toBe(codexHome);
    expect(recorded.marker).toBe('passed-through');
    expect(recorded.cwd).toBe(cwd);
  });

  test('stdin is closed: codex reads EOF at once instead of waiting', async () => {
    const { recorded } = await run({});
    expect(recorded.stdin).toBe('eof');
  });

  test('codex runs in its own process group (and session), not the action’s', async () => {
    const { recorded } = await run({});
    expect(recorded.pgid).toBe(recorded.pid);
    expect(recorded.sid).toBe(recorded.pid);
    expect(recorded.parentPgid).not.toBe(recorded.pgid);
    expect(recorded.ppid).toBe(process.pid);
  });

  test('exit code 0 and the final message, trimmed; the output streams to the log and its tail is kept', async () => {
    const { result, stdout } = await run({ FAKE_MESSAGE: '  The final answer.\n\n', FAKE_STDERR: 'a warning on stderr' });
    expect(result.exitCode).toBe(0);
    expect(result.finalMessage).toBe('The final answer.');
    expect(result.outputTail).toContain('fake stdout line');
    expect(result.outputTail).toContain('a warning on stderr');
    expect(stdout).toContain('fake stdout line');
  });

  test.each([1, 2, 17])('a non-zero exit (%i) is returned, with no final message when codex wrote none', async (code) => {
    const { result } = await run({ FAKE_EXIT: String(code), FAKE_STDERR: 'Your access token could not be refreshed' });
    expect(result.exitCode).toBe(code);
    expect(result.finalMessage).toBe('');
    expect(result.outputTail).toContain('could not be refreshed');
  });

  test('its scratch directory (the last-message file) is removed afterwards', async () => {
    const { runnerTemp } = await run({ FAKE_MESSAGE: 'x' });
    expect(readdirSync(runnerTemp)).toEqual([]);
  });

  test('what codex leaves running in its group is killed when the run ends', async () => {
    const { recorded, result } = await run({ FAKE_GRANDCHILD: 'detached-output' });
    expect(result.exitCode).toBe(0);
    expect(recorded.grandchild).toEqual(expect.any(Number));
    expect(await waitUntil(() => !running(recorded.grandchild as number), 3000)).toBe(true);
  });

  test('a leftover process that holds codex’s output open does not keep the run going', async () => {
    const { recorded, result, elapsed } = await run({ FAKE_GRANDCHILD: 'holds-output', FAKE_MESSAGE: 'done' });
    expect(result).toMatchObject({ exitCode: 0, finalMessage: 'done' });
    expect(elapsed).toBeLessThan(10_000);
    expect(await waitUntil(() => !running(recorded.grandchild as number), 3000)).toBe(true);
  }, 40_000);

  test('a leftover that left the group (setsid) and holds the output open does not keep the run going either', async () => {
    const { recorded, result, elapsed } = await run({ FAKE_GRANDCHILD: 'escapes-holding-output', FAKE_MESSAGE: 'done' });
    try {
      expect(result).toMatchObject({ exitCode: 0, finalMessage: 'done' });
      expect(elapsed).toBeLessThan(10_000);
    } finally {
      process.kill(recorded.grandchild as number, 'SIGKILL');
    }
  }, 40_000);

  test('a cancel (SIGTERM to the action) kills the whole group: codex and what it started', async () => {
    const before = process.listeners('SIGTERM');
    const beforeInt = process.listeners('SIGINT');
    const dir = tempDir();
    const record = path.join(dir, 'record.json');
    mkdirSync(path.join(dir, 't'));
    const started = Date.now();
    const running$ = captureStdout(() =>
      runCodexExec({ codex, codexHome: dir, prompt: 'p', args: [], cwd: dir, runnerTemp: path.join(dir, 't'), env: { PATH: process.env.PATH, FAKE_RECORD: record, FAKE_GRANDCHILD: 'detached-output', FAKE_SLEEP_MS: '30000' } }),
    );
    expect(await waitUntil(() => existsSync(record) && readFileSync(record, 'utf8').length > 0, 5000)).toBe(true);
    const added = process.listeners('SIGTERM').filter((l) => !before.includes(l));
    expect(added).toHaveLength(1);
    (added[0] as () => void)();
    const { value } = await running$;
    const recorded = JSON.parse(readFileSync(record, 'utf8')) as FakeRecord;
    expect((value as ExecResult).exitCode).toBe(128 + 15);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await waitUntil(() => !running(recorded.grandchild as number), 3000)).toBe(true);
    expect(running(recorded.pid)).toBe(false);
    // the listeners are removed again
    expect(process.listeners('SIGTERM')).toEqual(before);
    expect(process.listeners('SIGINT')).toEqual(beforeInt);
  }, 20_000);

  test('a codex that cannot be started is a UserError naming it', async () => {
    const dir = tempDir();
    const missing = path.join(dir, 'no-such-codex');
    const error = await rejection(runCodexExec({ codex: missing, codexHome: dir, prompt: 'p', args: [], cwd: dir, runnerTemp: dir }));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(new RegExp(`^Failed to start ${missing}: .*ENOENT`));
  });
});

describe('ensureCodex (no network: PATH and a filled tool cache)', () => {
  const withPath = async <T>(dirs: string, fn: () => Promise<T>): Promise<T> => {
    const saved = process.env.PATH;
    process.env.PATH = dirs;
    try {
      return await fn();
    } finally {
      process.env.PATH = saved;
    }
  };

  test('no codex-version: the codex on PATH', async () => {
    const log = recordingLog();
    expect(await withPath(`${binDir}:${process.env.PATH}`, () => ensureCodex('', runContext(), log))).toBe(codex);
    expect(log.lines).toEqual([]);
  });

  test('codex-version that the codex on PATH reports: that one', async () => {
    expect(await withPath(`${binDir}:${process.env.PATH}`, () => ensureCodex('1.2.3', runContext(), recordingLog()))).toBe(codex);
  });

  test('another exact version already installed in the tool cache (its marker written): that one, without npm', async () => {
    const toolCache = tempDir();
    const dir = path.join(toolCache, 'codex-cli', '9.9.9', process.arch);
    mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
    writeFileSync(`${dir}.complete`, '');
    const log = recordingLog();
    const found = await withPath(`${binDir}:${process.env.PATH}`, () => ensureCodex('9.9.9', runContext({ toolCache }), log));
    expect(found).toBe(path.join(dir, 'node_modules', '.bin', 'codex'));
    expect(log.text()).not.toContain('Installing');
  });
});
