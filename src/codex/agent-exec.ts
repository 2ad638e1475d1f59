import { spawn } from 'node:child_process';
import { accessSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import type { Account } from './agent-files.js';

/**
 * The PATH of every command the action runs to set the agent up, and of the agent's helper commands: never
 * the job's, whose directories may lie in the tree lent to the agent (`node_modules/.bin` through
 * GITHUB_PATH), where it could plant a `sudo` that root or the job's user would then run.
 */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `name` as an absolute path from SYSTEM_PATH (what spawn would otherwise look up in the job's PATH); a path stays as it is. */
export function systemCommand(name: string): string {
  if (name.includes('/')) return name;
  for (const dir of SYSTEM_PATH.split(':')) {
    const file = path.join(dir, name);
    try {
      accessSync(file, fsc.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return path.join('/usr/bin', name); // fails to start, as a missing command should
}

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
  /** the most output kept from each stream; past it the command is killed (a read that meets /dev/zero) */
  maxBytes?: number;
}

const TIMEOUT_MS = 60_000;

/** The most output run() keeps from a stream unless told otherwise. */
const MAX_BYTES = 4 * 1024 * 1024;

/**
 * Runs a command to completion, stdin closed, output captured up to `maxBytes` a stream; a command that
 * outlives its deadline or its output cap is killed. A bare command name is found in SYSTEM_PATH.
 */
export function run(file: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(systemCommand(file), args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: options.uid,
      gid: options.gid,
      env: options.env ?? { PATH: SYSTEM_PATH },
      cwd: options.cwd ?? '/',
    });
    const max = options.maxBytes ?? MAX_BYTES;
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[], sizes: { stdout: 0, stderr: 0 } };
    const collect = (stream: 'stdout' | 'stderr') => (c: Buffer) => {
      const room = max + 1 - out.sizes[stream];
      if (room <= 0) return;
      out[stream].push(c.subarray(0, room));
      out.sizes[stream] += Math.min(c.length, room);
      if (out.sizes[stream] > max) child.kill('SIGKILL');
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    let stdout = '';
    let stderr = '';
    const text = () => {
      stdout = Buffer.concat(out.stdout).toString('utf8');
      stderr = Buffer.concat(out.stderr).toString('utf8');
    };
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      text();
      resolve({ code: 127, stdout, stderr: error.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      text();
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
  return privilege === 'root' ? run(file, rest, options) : run('sudo', ['-n', '--', systemCommand(file), ...rest], options);
}

/** The small environment every helper command of the agent user gets: never the action's. */
export function baseEnv(account: Account, searchPath = SYSTEM_PATH): Record<string, string> {
  return { PATH: searchPath, HOME: account.home, USER: account.name, LOGNAME: account.name, LANG: process.env.LANG ?? 'C.UTF-8' };
}

/**
 * A command as the agent user. As root: spawn with its uid and gid (libuv drops root's supplementary groups).
 * Through sudo: `env -i` and the few variables on the command line, which hold nothing secret.
 */
export function asAgent(privilege: Privilege, account: Account, args: string[], options: { cwd?: string; timeoutMs?: number; maxBytes?: number } = {}): Promise<CommandResult> {
  const env = baseEnv(account);
  const [file, ...rest] = args as [string, ...string[]];
  if (privilege === 'root') return run(file, rest, { uid: account.uid, gid: account.gid, env, ...options });
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return run('sudo', ['-n', '-u', account.name, '--', systemCommand('env'), '-i', ...assignments, systemCommand(file), ...rest], options);
}

/** `NAME='value'` lines for `sh`'s `.`, for an environment that must stay off every command line. */
export function shellExports(env: Record<string, string>): string {
  return Object.entries(env)
    .filter(([name]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    .map(([name, value]) => `export ${name}='${value.replace(/'/g, `'\\''`)}'\n`)
    .join('');
}
