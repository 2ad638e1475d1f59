import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { childEnv } from './child-env.js';
import { CommandFreeOutput } from './command-free-output.js';
import { UserError } from './errors.js';
import { newScratchDir } from './scratch-copy.js';
import { runCommand } from './subprocess.js';

const TAIL_BYTES = 64 * 1024;
/** How long codex's output may still arrive after codex exited. */
const EXIT_GRACE_MS = 2000;
/** `codex login`: API-key login is local; access-token login asks the auth server once. */
export const LOGIN_TIMEOUT_MS = 60_000;

export { ensureCodex } from './codex-install.js';

export interface ExecOptions {
  codex: string;
  codexHome: string;
  prompt: string;
  args: string[];
  cwd: string;
  runnerTemp: string;
  env?: NodeJS.ProcessEnv;
  /** run codex as another user (`safety-strategy: unprivileged-user`, src/codex/agent-user.ts) */
  runAs?: RunAs;
}

/** How to run codex as another user: the command that does it, and what that user writes and leaves. */
export interface RunAs {
  /** a directory that user can write, for `--output-last-message` */
  outputDir: string;
  /** that user's CODEX_HOME */
  codexHome: string;
  /** the command, environment and ids that run `file args` as that user with `env` */
  command(file: string, args: string[], env: Record<string, string>): Promise<{ file: string; args: string[]; env: Record<string, string>; uid?: number; gid?: number }>;
  /** reads a file that user wrote, refusing links and anything but a regular file it owns */
  readOutput(file: string): Promise<string>;
  /** ends every process of that user: an agent can leave the process group with `setsid` */
  endAll(): Promise<void>;
}

export interface ExecResult {
  exitCode: number;
  finalMessage: string;
  /** the last bytes of stdout and stderr, for diagnosis */
  outputTail: string;
}

/** Keeps the last `TAIL_BYTES` of a stream. */
class Tail {
  private text = '';
  push(chunk: Buffer): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-TAIL_BYTES);
  }
  toString(): string {
    return this.text;
  }
}

/**
 * Runs `codex exec` with stdin closed (it reads stdin to EOF otherwise) in its own process group (the npm
 * `codex` is a wrapper around a native binary: a cancel must reach both), with file credential storage
 * enforced, and the final message captured.
 */
export async function runCodexExec(options: ExecOptions): Promise<ExecResult> {
  const scratch = newScratchDir(options.runnerTemp);
  await fs.mkdir(scratch, { recursive: true, mode: 0o700 });
  const { runAs } = options;
  const lastMessage = path.join(runAs?.outputDir ?? scratch, 'last-message.txt');
  const argv = ['exec', '-c', 'cli_auth_credentials_store="file"', '--output-last-message', lastMessage, ...options.args, '--', options.prompt];
  const env = childEnv(options.env ?? process.env, { CODEX_HOME: runAs?.codexHome ?? options.codexHome });
  const launch = runAs ? await runAs.command(options.codex, argv, env) : { file: options.codex, args: argv, env };
  const child = spawn(launch.file, launch.args, {
    cwd: options.cwd,
    env: launch.env,
    uid: launch.uid,
    gid: launch.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const tail = new Tail();
  // Nothing Codex or its agent prints is a workflow command (DESIGN §3.11).
  const relay = new CommandFreeOutput();
  relay.open();
  child.stdout.on('data', (chunk: Buffer) => {
    tail.push(chunk);
    relay.push('stdout', chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    tail.push(chunk);
    relay.push('stderr', chunk);
  });
  // The group outlives its leader while anything codex started still runs: it is signalled whatever the
  // leader's state (a group that is already empty answers ESRCH).
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is already gone
    }
  };
  let hardKill: NodeJS.Timeout | undefined;
  const onCancel = () => {
    killGroup('SIGTERM');
    hardKill = setTimeout(() => killGroup('SIGKILL'), 5000).unref();
  };
  process.once('SIGINT', onCancel);
  process.once('SIGTERM', onCancel);
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', (error) => reject(new UserError(`Failed to start ${options.codex}: ${error.message}`)));
      // When codex exits, what it left behind in its group goes too: a leftover that holds its output open
      // would otherwise keep 'close' (and this step) waiting.
      child.once('exit', (code, signal) => {
        killGroup('SIGKILL');
        void runAs?.endAll().catch(() => undefined); // the finally below ends them again, and reports
        // A process that left the group (setsid) can still hold the pipes open: 'close' would then never
        // come. What it prints after codex exited is not codex's output; stop listening after a grace.
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          resolve(exitCodeOf(code, signal));
        }, EXIT_GRACE_MS).unref();
      });
      child.once('close', (code, signal) => resolve(exitCodeOf(code, signal)));
    });
    const finalMessage = await (runAs ? runAs.readOutput(lastMessage) : fs.readFile(lastMessage, 'utf8')).catch(() => '');
    return { exitCode, finalMessage: finalMessage.trim(), outputTail: tail.toString() };
  } finally {
    relay.close();
    process.removeListener('SIGINT', onCancel);
    process.removeListener('SIGTERM', onCancel);
    clearTimeout(hardKill);
    killGroup('SIGKILL');
    await runAs?.endAll();
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
}


/** `codex login` exited non-zero: its code and the last lines it printed, for the mode to explain. */
export class CodexLoginError extends UserError {
  override name = 'CodexLoginError';
  constructor(
    readonly flag: string,
    readonly exitCode: number,
    readonly reason: string,
  ) {
    super(`\`codex login ${flag}\` failed (exit ${exitCode}): ${reason}`);
  }
}

/** `codex login --with-api-key` / `--with-access-token`, the secret on stdin, nothing echoed. */
export async function codexLogin(codex: string, codexHome: string, flag: '--with-api-key' | '--with-access-token', secret: string): Promise<void> {
  const result = await runCommand(codex, ['login', '-c', 'cli_auth_credentials_store="file"', flag], {
    label: `\`codex login ${flag}\` (for \`${flag === '--with-api-key' ? 'openai-api-key' : 'access-token'}\`)`,
    timeoutMs: LOGIN_TIMEOUT_MS,
    onTimeout: "Codex may be waiting for a network that does not answer (an access-token login asks OpenAI's auth server): check the runner's network and proxy settings.",
    stdin: secret,
    env: childEnv(process.env, { CODEX_HOME: codexHome }),
  });
  if (result.code !== 0) {
    const why = (result.stderr || result.stdout).trim().split('\n').slice(-2).join(' ');
    throw new CodexLoginError(flag, exitCodeOf(result.code, result.signal), why);
  }
}
