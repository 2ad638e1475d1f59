import { commandFree } from '../command-free-output.js';
import { hashText, parseAuthFile, type AuthFile } from '../auth-file.js';
import { childEnv } from '../child-env.js';
import { errorMessage, UserError } from '../errors.js';
import { runCommand, type RunResult } from '../subprocess.js';
import { swapDecision, type PersistResult, type Store, type StoreDeps, type Stored } from './store.js';

/** More output than this is not an auth.json (parseAuthFile stops at 256 KiB); it is not kept either. */
const MAX_OUTPUT_BYTES = 1024 * 1024;
/** How long `restore-command` or `persist-command` may run before it is killed (a secret manager answers in seconds). */
export const STORE_COMMAND_TIMEOUT_MS = 5 * 60_000;
/** Raises (or lowers) STORE_COMMAND_TIMEOUT_MS, for a secret manager that is slow on purpose (an approval step). */
const TIMEOUT_VARIABLE = 'CODEX_AUTH_COMMAND_TIMEOUT_SECONDS';

/**
 * The commands' environment: the step's own (PATH, HOME, the runner's GITHUB_* and RUNNER_* variables and
 * whatever the workflow set for its secret manager: AWS_*, VAULT_ADDR, …) minus what childEnv() hides, plus
 * CODEX_AUTH_KEY (the `key` input), so that one command can serve several streams.
 */
export function commandEnv(env: NodeJS.ProcessEnv, key: string): NodeJS.ProcessEnv {
  return childEnv(env, { CODEX_AUTH_KEY: key });
}

/** `restore-command` did not succeed; restore() says what that means for the seed. */
class CommandFailed extends Error {
  override name = 'CommandFailed';
}

type Run = RunResult;

/**
 * `store: command`: your secret manager, through two shell commands. `restore-command` prints the stored
 * auth.json on stdout (nothing: none stored); `persist-command` reads the refreshed one on stdin. They run
 * with `bash --noprofile --norc -eo pipefail -c` (as a `run:` step; `sh -ec` where there is no bash), in
 * the step's working directory, with commandEnv(), each killed (with what it started) after
 * STORE_COMMAND_TIMEOUT_MS. Their stdout is captured and never printed; their stderr is printed once they
 * end, line by line, after the tokens they returned are masked.
 */
export class CommandStore implements Store {
  readonly kind = 'command' as const;
  readonly inPlace = false;
  private readonly timeoutMs: number;

  constructor(
    private readonly deps: StoreDeps,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    requireInput('restore-command', deps.inputs.restoreCommand, 'prints the stored auth.json on stdout (nothing when none is stored)');
    requireInput('persist-command', deps.inputs.persistCommand, 'reads the refreshed auth.json on stdin and stores it');
    this.timeoutMs = timeoutFrom(env);
  }

  async restore(): Promise<Stored | null> {
    const stored = await this.fetch().catch((error: unknown) => {
      if (!(error instanceof CommandFailed)) throw error;
      throw new UserError(
        `${error.message}, so the stored auth.json could not be read. The \`auth-json\` seed was NOT used instead: the store may hold a newer copy, and the seed's refresh token may have been rotated long ago. Fix the command or its access to the secret manager (its stderr is above); it must print nothing and exit 0 while nothing is stored.`,
        { cause: error },
      );
    });
    this.deps.log.info(stored ? '`restore-command` printed a stored auth.json.' : '`restore-command` printed nothing: no auth.json is stored yet.');
    return stored;
  }

  async persist(next: AuthFile, baseVersion: string | null): Promise<PersistResult> {
    const current = await this.current(baseVersion);
    const decided = swapDecision(current, next);
    if (decided) return decided;
    const run = await this.shell('persist-command', next.text);
    this.relay('persist-command', run.stderr);
    if (run.code !== 0) {
      throw new Error(
        `\`persist-command\` ${ending(run)}: the refreshed auth.json was NOT stored. This run's refresh spent the stored copy's refresh token, so the next run may fail with a reused refresh token: fix the command (its stderr is above); if the next run fails so, sign in again with \`codex login\` and update the \`auth-json\` seed.`,
      );
    }
    return 'written';
  }

  /** What the store holds now, when it moved on since `baseVersion`; null when it did not, or cannot say. */
  private async current(baseVersion: string | null): Promise<Stored | null> {
    try {
      const stored = await this.fetch();
      return stored && stored.version !== baseVersion ? stored : null;
    } catch (error) {
      this.deps.log.warning(`Could not check what the store holds now (${errorMessage(error)}); running \`persist-command\` without that check.`);
      return null;
    }
  }

  /** Runs `restore-command`. Its version is the hash of exactly what it printed. */
  private async fetch(): Promise<Stored | null> {
    const run = await this.shell('restore-command');
    try {
      if (run.code !== 0) throw new CommandFailed(`\`restore-command\` ${ending(run)}`);
      if (run.overflow) throw new UserError(`\`restore-command\` printed more than ${MAX_OUTPUT_BYTES} bytes: it must print only the stored auth.json.`);
      if (run.stdout.trim() === '') return null;
      return { auth: parseAuthFile(run.stdout, 'The output of `restore-command`'), version: hashText(run.stdout) };
    } finally {
      this.relay('restore-command', run.stderr);
    }
  }

  /** Runs one of the two commands, with its deadline; `stdin` (the refreshed file) is never part of a message. */
  private shell(input: 'restore-command' | 'persist-command', stdin?: string): Promise<Run> {
    const command = input === 'restore-command' ? this.deps.inputs.restoreCommand : this.deps.inputs.persistCommand;
    const label = `\`${input}\` (\`${excerpt(command)}\`)`;
    const onTimeout = `Make it finish sooner (a command that waits for input, a login or a network that does not answer hangs so), or set the environment variable ${TIMEOUT_VARIABLE} on the step to allow it longer.`;
    return runShell(command, { label, timeoutMs: this.timeoutMs, onTimeout, env: commandEnv(this.env, this.deps.inputs.key), stdin, maxOutputBytes: MAX_OUTPUT_BYTES });
  }

  /** Prints a command's stderr, each line prefixed so it reads as that command's, and none a workflow command. */
  private relay(name: string, stderr: string): void {
    const text = stderr.trimEnd();
    if (text) this.deps.log.info(commandFree(text.split(/\r\n|\r|\n/).map((line) => `${name}: ${line}`).join('\n')));
  }
}

function requireInput(name: string, value: string, what: string): void {
  if (!value.trim()) throw new UserError(`\`store: command\` needs \`${name}\`, a shell command that ${what}, and it is empty: set \`${name}\` on the codex-auth step.`);
}

function ending(run: Run): string {
  return run.code !== null ? `exited with code ${run.code}` : `was killed by ${run.signal ?? 'a signal'}`;
}

type ShellOptions = Parameters<typeof runCommand>[2];

async function runShell(command: string, options: ShellOptions): Promise<Run> {
  try {
    return await runCommand('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', command], options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return runCommand('sh', ['-ec', command], options);
}

/** A command's first line, cut short: enough to recognise it in a message. */
function excerpt(command: string): string {
  const line = command.trim().split('\n')[0] ?? '';
  return line.length > 80 || command.trim().includes('\n') ? `${line.slice(0, 80)}…` : line;
}

function timeoutFrom(env: NodeJS.ProcessEnv): number {
  const raw = env[TIMEOUT_VARIABLE];
  if (raw === undefined || raw === '') return STORE_COMMAND_TIMEOUT_MS;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UserError(`${TIMEOUT_VARIABLE} is '${raw}': expected a whole number of seconds, at least 1.`);
  return Number(raw) * 1000;
}
