import { spawn } from 'node:child_process';
import type { Account } from './agent-files.js';

/** How the action gets root for the few commands that set the agent user up: it is root, or `sudo -n` works. */
export type Privilege = 'root' | 'sudo';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  uid?: number;
  gid?: number;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

const TIMEOUT_MS = 60_000;

/** Runs a command to completion, stdin closed, output captured; a command that outlives its deadline is killed. */
export function run(file: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: options.uid,
      gid: options.gid,
      env: options.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      cwd: options.cwd ?? '/',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: error.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: signal === 'SIGKILL' && !code ? `${stderr}\n(killed after ${options.timeoutMs ?? TIMEOUT_MS} ms)`.trim() : stderr });
    });
  });
}

/** The first line of a command's complaint, for a message. */
export function why(result: CommandResult): string {
  return (result.stderr || result.stdout).trim().split('\n')[0] || `exit ${result.code}`;
}

/** Which privilege the action has; null when it has none (not root, and `sudo -n true` fails). */
export async function probePrivilege(): Promise<Privilege | null> {
  if (process.getuid?.() === 0) return 'root';
  const sudo = await run('sudo', ['-n', 'true'], { timeoutMs: 10_000 });
  return sudo.code === 0 ? 'sudo' : null;
}

/** A command as root. */
export function privileged(privilege: Privilege, args: string[], options: { timeoutMs?: number } = {}): Promise<CommandResult> {
  const [file, ...rest] = args as [string, ...string[]];
  return privilege === 'root' ? run(file, rest, options) : run('sudo', ['-n', '--', ...args], options);
}

/** The small environment every helper command of the agent user gets: never the action's. */
export function baseEnv(account: Account, path = process.env.PATH ?? '/usr/bin:/bin'): Record<string, string> {
  return { PATH: path, HOME: account.home, USER: account.name, LOGNAME: account.name, LANG: process.env.LANG ?? 'C.UTF-8' };
}

/**
 * A command as the agent user. As root: spawn with its uid and gid (libuv drops root's supplementary groups).
 * Through sudo: `env -i` and the few variables on the command line, which hold nothing secret.
 */
export function asAgent(privilege: Privilege, account: Account, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const env = baseEnv(account);
  const [file, ...rest] = args as [string, ...string[]];
  if (privilege === 'root') return run(file, rest, { uid: account.uid, gid: account.gid, env, cwd: options.cwd, timeoutMs: options.timeoutMs });
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return run('sudo', ['-n', '-u', account.name, '--', 'env', '-i', ...assignments, ...args], { cwd: options.cwd, timeoutMs: options.timeoutMs });
}

/** `NAME='value'` lines for `sh`'s `.`, for an environment that must stay off every command line. */
export function shellExports(env: Record<string, string>): string {
  return Object.entries(env)
    .filter(([name]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    .map(([name, value]) => `export ${name}='${value.replace(/'/g, `'\\''`)}'\n`)
    .join('');
}
