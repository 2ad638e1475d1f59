import { spawn } from 'node:child_process';
import os from 'node:os';
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

/**
 * Runs COMMAND in its own process group with CODEX_HOME set, stdin closed unless asked for. SIGINT and
 * SIGTERM sent to the CLI go to the whole group (the npm `codex` is a wrapper around a native binary: the
 * wrapper alone is not enough), and the CLI stays alive to persist and release. What the group leaves
 * running once COMMAND exits gets SIGTERM, so nothing rewrites auth.json while it is persisted.
 * Returns COMMAND's exit code (128 + the signal's number when a signal ended it; 127 when it cannot start).
 */
export function runCommand(argv: string[], o: { stdin: boolean; codexHome: string; log: Log; env?: NodeJS.ProcessEnv }): Promise<number> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: [o.stdin ? 'inherit' : 'ignore', 'inherit', 'inherit'], env: commandEnv(o.env ?? process.env, o.codexHome), detached: true });
    const toGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // the group is gone already
      }
    };
    const onSignal = (signal: NodeJS.Signals) => {
      o.log.info(`Got ${signal}: passing it to COMMAND's process group; auth.json is persisted once it exits.`);
      toGroup(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const done = (code: number) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(code);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      o.log.warning(`COMMAND \`${file}\` could not start: ${error.code ?? error.message}.`);
      done(127);
    });
    child.once('exit', (code, signal) => {
      toGroup('SIGTERM');
      done(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0));
    });
  });
}
