import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { childEnv } from '../child-env.js';
import type { Log } from '../log.js';

/**
 * The CLI's inputs (the seed, tokens) are CODEX_AUTH_* variables: COMMAND, which may run an agent, gets
 * none of them, as Codex gets no INPUT_* in the action.
 */
function commandEnv(env: NodeJS.ProcessEnv, codexHome: string): Record<string, string> {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) if (!/^CODEX_AUTH_/i.test(name)) out[name] = value;
  return childEnv(out, { CODEX_HOME: codexHome });
}

/** COMMAND, running: `signal` passes a signal to its whole process group. */
export interface Running {
  signal(signal: NodeJS.Signals): void;
  /** COMMAND's exit code (128 + the signal's number when a signal ended it; 127 when it cannot start) */
  exited: Promise<number>;
}

/**
 * Starts COMMAND in its own process group with CODEX_HOME set, stdin closed unless asked for. The caller
 * passes SIGINT and SIGTERM on to the whole group (the npm `codex` is a wrapper around a native binary: the
 * wrapper alone is not enough). What the group leaves running once COMMAND exits gets SIGTERM, so nothing
 * rewrites auth.json while it is persisted.
 */
export function startCommand(argv: string[], o: { stdin: boolean; codexHome: string; log: Log; env?: NodeJS.ProcessEnv }): Running {
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, args, { stdio: [o.stdin ? 'inherit' : 'ignore', 'inherit', 'inherit'], env: commandEnv(o.env ?? process.env, o.codexHome), detached: true });
  const toGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  const exited = new Promise<number>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      o.log.warning(`COMMAND \`${file}\` could not start: ${error.code ?? error.message}.`);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      toGroup('SIGTERM');
      resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0));
    });
  });
  if (child.pid) o.log.info(`Running \`${path.basename(file)}\` (process group ${child.pid}) with CODEX_HOME=${o.codexHome}.`);
  return { signal: toGroup, exited };
}

/** 128 + the number of `signal`: the exit code of a process a signal ended, as shells report it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}
