import { spawn } from 'node:child_process';
import { commandFree } from '../command-free-output.js';
import { hashText, parseAuthFile, type AuthFile } from '../auth-file.js';
import { childEnv } from '../child-env.js';
import { errorMessage, UserError } from '../errors.js';
import { swapDecision, type PersistResult, type Store, type StoreDeps, type Stored } from './store.js';

/** More output than this is not an auth.json (parseAuthFile stops at 256 KiB); it is not kept either. */
const MAX_OUTPUT_BYTES = 1024 * 1024;

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

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  overflow: boolean;
}

/**
 * `store: command`: your secret manager, through two shell commands. `restore-command` prints the stored
 * auth.json on stdout (nothing: none stored); `persist-command` reads the refreshed one on stdin. They run
 * with `bash --noprofile --norc -eo pipefail -c` (as a `run:` step; `sh -ec` where there is no bash), in
 * the step's working directory, with commandEnv(). Their stdout is captured and never printed; their stderr
 * is printed once they end, line by line, after the tokens they returned are masked.
 */
export class CommandStore implements Store {
  readonly kind = 'command' as const;
  readonly inPlace = false;

  constructor(
    private readonly deps: StoreDeps,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    requireInput('restore-command', deps.inputs.restoreCommand, 'prints the stored auth.json on stdout (nothing when none is stored)');
    requireInput('persist-command', deps.inputs.persistCommand, 'reads the refreshed auth.json on stdin and stores it');
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
    const run = await runShell(this.deps.inputs.persistCommand, commandEnv(this.env, this.deps.inputs.key), next.text);
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
    const run = await runShell(this.deps.inputs.restoreCommand, commandEnv(this.env, this.deps.inputs.key));
    try {
      if (run.code !== 0) throw new CommandFailed(`\`restore-command\` ${ending(run)}`);
      if (run.overflow) throw new UserError(`\`restore-command\` printed more than ${MAX_OUTPUT_BYTES} bytes: it must print only the stored auth.json.`);
      if (run.stdout.trim() === '') return null;
      return { auth: parseAuthFile(run.stdout, 'The output of `restore-command`'), version: hashText(run.stdout) };
    } finally {
      this.relay('restore-command', run.stderr);
    }
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

async function runShell(command: string, env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  try {
    return await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', command], env, input);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return run('sh', ['-ec', command], env, input);
}

/** Runs a process; stdin is `input` (then closed), or closed at once so a command that reads it cannot hang. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out = collector();
    const err = collector();
    child.stdout?.on('data', out.add);
    child.stderr?.on('data', err.add);
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout: out.text(), stderr: err.text(), overflow: out.overflow() }));
    // A command that exits without reading its stdin closes the pipe: its exit code says what happened.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

function collector() {
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  return {
    add: (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) overflow = true;
      else chunks.push(chunk);
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
    overflow: () => overflow,
  };
}
