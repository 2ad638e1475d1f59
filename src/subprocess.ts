import { spawn } from 'node:child_process';
import { UserError } from './errors.js';

/** After SIGTERM, what is still running in the group gets SIGKILL this much later. */
const KILL_GRACE_MS = 2_000;
/** More output than this is not kept (stdout: the first bytes; stderr: the last ones, where the error is). */
const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

export interface RunOptions {
  /** how messages name the command, e.g. "`restore-command`" or "`npm install @openai/codex@1.2.3`" */
  label: string;
  /** the command is killed after this long */
  timeoutMs: number;
  /** what the timeout message advises: the fix, or which setting raises the limit */
  onTimeout: string;
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** written to the command's stdin, which is then closed; without it stdin is closed from the start */
  stdin?: string | Buffer;
  /** cancels the command like a timeout, with the signal's reason */
  signal?: AbortSignal;
  maxOutputBytes?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout went past maxOutputBytes: what is kept is only its beginning */
  overflow: boolean;
}

/** A command ran past its deadline and was killed with its process group. */
export class CommandTimeoutError extends UserError {
  override name = 'CommandTimeoutError';
  constructor(
    readonly label: string,
    readonly timeoutMs: number,
    advice: string,
  ) {
    super(`${label} did not finish within ${seconds(timeoutMs)} and was killed, with everything it started. ${advice}`);
  }
}

/**
 * Runs a command with a deadline. It gets its own process group (a shell, npm and the npm `codex` wrapper
 * all start children that a kill of the leader alone would leave running, holding the output pipes open),
 * and that group is killed, SIGTERM then SIGKILL, when the deadline passes, when `signal` aborts, or when
 * the job is cancelled (the runner sends SIGINT, then SIGTERM, to the action). Resolves with how it ended;
 * rejects with CommandTimeoutError, the abort reason, or the spawn error (ENOENT: no such command).
 * Nothing of stdin is ever part of a message.
 */
export function runCommand(file: string, args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const child = spawn(file, args, { env: options.env, cwd: options.cwd, stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true });
    const out = collector(max, 'head');
    const err = collector(max, 'tail');
    child.stdout?.on('data', out.add);
    child.stderr?.on('data', err.add);
    let failure: unknown = null;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      process.off('SIGINT', onCancel);
      process.off('SIGTERM', onCancel);
      options.signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // the group is gone already
      }
    };
    const stop = (why: unknown) => {
      if (failure !== null || settled) return;
      failure = why;
      killGroup('SIGTERM');
      timers.push(setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS).unref());
      // A process that left the group (setsid) may still hold the pipes: do not wait for them forever.
      timers.push(setTimeout(() => finish(() => reject(why)), KILL_GRACE_MS + 1_000).unref());
    };
    const onCancel = () => stop(new UserError(`Cancelled: ${options.label} was stopped.`));
    const onAbort = () => stop(options.signal?.reason ?? new UserError(`Cancelled: ${options.label} was stopped.`));
    process.once('SIGINT', onCancel);
    process.once('SIGTERM', onCancel);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    timers.push(setTimeout(() => stop(new CommandTimeoutError(options.label, options.timeoutMs, options.onTimeout)), options.timeoutMs));
    child.once('error', (error) => finish(() => reject(failure ?? error)));
    child.once('close', (code, signal) =>
      finish(() => (failure !== null ? reject(failure) : resolve({ code, signal, stdout: out.text(), stderr: err.text(), overflow: out.overflow() }))),
    );
    // A command that exits without reading its stdin closes the pipe: its exit code says what happened.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.stdin);
  });
}

function collector(max: number, keep: 'head' | 'tail') {
  let chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  return {
    add: (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) overflow = true;
      if (!overflow || keep === 'tail') chunks.push(chunk);
      if (keep === 'tail' && size > max) {
        const all = Buffer.concat(chunks);
        chunks = [all.subarray(all.length - max)];
        size = max;
      }
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
    overflow: () => overflow,
  };
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
