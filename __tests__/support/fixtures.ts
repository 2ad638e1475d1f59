/**
 * Small edges for unit tests: auth.json texts, a recording log, a clock the test moves, a RunContext,
 * real temp dirs, `INPUT_*` variables set for one call, and stdout captured to read `::add-mask::` lines.
 */
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunContext } from '../../src/context.js';
import type { Clock, Log } from '../../src/log.js';
import { makeAuthJson, makeRefreshToken, type AuthJsonParams } from './codex-backend.js';

export const T0 = Date.parse('2026-03-01T10:00:00Z');
export const MINUTE = 60_000;
export const DAY = 86_400_000;

/** A ChatGPT auth.json as Codex writes it; every field can be overridden. */
export function authText(over: Partial<AuthJsonParams> = {}): string {
  return makeAuthJson({ accountId: 'acct-1', email: 'ci-bot@example.com', lastRefresh: new Date(T0), refreshToken: makeRefreshToken(), ...over });
}

/** Rewrites an auth.json text through a function of its JSON. */
export function editAuth(text: string, edit: (json: { [k: string]: unknown; tokens: Record<string, unknown> }) => void): string {
  const json = JSON.parse(text) as { [k: string]: unknown; tokens: Record<string, unknown> };
  edit(json);
  return JSON.stringify(json, null, 2);
}

export interface RecordingLog extends Log {
  lines: { level: 'info' | 'warning' | 'debug'; message: string }[];
  text(level?: 'info' | 'warning' | 'debug'): string;
}

export function recordingLog(): RecordingLog {
  const lines: RecordingLog['lines'] = [];
  return {
    lines,
    info: (message) => void lines.push({ level: 'info', message }),
    warning: (message) => void lines.push({ level: 'warning', message }),
    debug: (message) => void lines.push({ level: 'debug', message }),
    text: (level) => lines.filter((l) => !level || l.level === level).map((l) => l.message).join('\n'),
  };
}

export interface FakeClock extends Clock {
  /** every sleep asked for, in ms */
  sleeps: number[];
  set(ms: number): void;
  advance(ms: number): void;
  /** called after each sleep advanced the time (the n-th sleep, from 1) */
  onSleep: ((n: number) => void | Promise<void>) | null;
}

/** Time moves only when the code under test sleeps (or the test says so); a sleep yields to the event loop. */
export function fakeClock(start = T0): FakeClock {
  let now = start;
  const clock: FakeClock = {
    sleeps: [],
    now: () => now,
    set: (ms) => void (now = ms),
    advance: (ms) => void (now += ms),
    onSleep: null,
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      clock.sleeps.push(ms);
      now += ms;
      await new Promise((resolve) => setImmediate(resolve));
      await clock.onSleep?.(clock.sleeps.length);
      if (signal?.aborted) throw signal.reason;
    },
  };
  return clock;
}

export function runContext(over: Partial<RunContext> = {}): RunContext {
  return {
    repository: 'octo/repo',
    serverUrl: 'https://github.example',
    apiUrl: 'http://127.0.0.1:9/api',
    runId: '1000',
    runAttempt: '1',
    job: 'codex',
    eventName: 'workflow_dispatch',
    eventPath: '',
    refName: 'main',
    runnerName: 'runner-1',
    runnerEnvironment: 'self-hosted',
    runnerTemp: os.tmpdir(),
    toolCache: path.join(os.tmpdir(), 'tool-cache'),
    workspace: '/work/space',
    home: '/home/runner',
    ...over,
  };
}

/** A real temp dir per call; `cleanupTempDirs()` in afterAll removes them all. */
const made: string[] = [];
export function tempDir(prefix = 'codex-auth-unit-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
export function cleanupTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Runs `fn` with exactly these `INPUT_*` variables set (as the runner sets them), then restores the environment. */
export function withInputs<T>(inputs: Record<string, string>, fn: () => T): T {
  const saved = Object.entries(process.env).filter(([k]) => k.startsWith('INPUT_'));
  for (const [k] of saved) delete process.env[k];
  for (const [name, value] of Object.entries(inputs)) process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  try {
    return fn();
  } finally {
    for (const k of Object.keys(process.env)) if (k.startsWith('INPUT_')) delete process.env[k];
    for (const [k, v] of saved) process.env[k] = v;
  }
}

/** What the code under test wrote to stdout while `fn` ran (it still runs even if `fn` throws). */
export async function captureStdout<T>(fn: () => T | Promise<T>): Promise<{ value?: T; error?: unknown; stdout: string; masks: string[] }> {
  let stdout = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    const value = await fn();
    return { value, stdout, masks: masksIn(stdout) };
  } catch (error) {
    return { error, stdout, masks: masksIn(stdout) };
  } finally {
    spy.mockRestore();
  }
}

export function masksIn(stdout: string): string[] {
  return [...stdout.matchAll(/^::add-mask::(.*)$/gm)].map((m) => (m[1] as string).replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%'));
}

/** A thrown value's message (for `expect(...).toThrow` on async code where the type matters too). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-Error: ${String(error)}`);
  }
  throw new Error('expected a rejection, but it resolved');
}

/**
 * A path where creating a directory fails for lack of permission, and why. As a normal user: inside a 0500
 * directory. As root, permission bits do not stop writes; sysfs refuses `mkdir` at its top even to root
 * (EPERM), so a path under /sys stands in. null when neither works here (then the caller skips, saying so).
 */
export function unwritablePath(): { path: string; how: string } | null {
  if (process.getuid?.() !== 0) {
    const parent = tempDir('codex-auth-readonly-');
    execFileSync('chmod', ['0500', parent]);
    return { path: path.join(parent, 'codex-home'), how: 'a 0500 parent directory' };
  }
  const candidate = `/sys/codex-auth-test-${process.pid}`;
  try {
    mkdirSync(candidate);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'EACCES' || code === 'EROFS') return { path: candidate, how: `sysfs (${code}), since this runs as root` };
    return null;
  }
  rmSync(candidate, { recursive: true, force: true });
  return null;
}
