import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { parseAuthFile, readCredentialFile, refreshTokenOf, writeCredentialFile, type AuthFile } from '../auth-file.js';
import { childEnv } from '../child-env.js';
import { errorMessage, UserError } from '../errors.js';
import { newScratchDir } from '../scratch-copy.js';

/** app-server answers in about 0.6 s; a minute covers a slow token endpoint and a cold start. */
export const APP_SERVER_TIMEOUT_MS = 60_000;
const TAIL_BYTES = 64 * 1024;
/** How long app-server may take to exit after its last reply and stdin closed. */
const EXIT_GRACE_MS = 10_000;

export interface AppServerRefreshOptions {
  codex: string;
  /** the auth.json to rotate; rewritten (atomically) only when the refresh happened */
  authPath: string;
  /** `codex-args`: only the items app-server takes are passed on */
  codexArgs: string[];
  runnerTemp: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export type AppServerRefresh =
  | { ok: true; before: AuthFile; auth: AuthFile }
  | {
      ok: false;
      before: AuthFile;
      /** why the file says no refresh happened */
      why: string;
      /** app-server's exit code (null: killed at the deadline) */
      exitCode: number | null;
      /** what Codex logged, tokens redacted: for the diagnosis, never the raw stream */
      diagnostics: string;
    };

/**
 * `codex-args` are `codex exec`'s; app-server takes only `-c`/`--config`, `--enable` and `--disable` (and
 * exits 2 on exec-only flags such as `--skip-git-repo-check`), so only those are kept, with their values.
 */
export function appServerArgs(codexArgs: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < codexArgs.length; i++) {
    const arg = codexArgs[i] as string;
    if (/^(-c|--config|--enable|--disable)$/.test(arg) && i + 1 < codexArgs.length) out.push(arg, codexArgs[++i] as string);
    else if (/^(--config|--enable|--disable)=/.test(arg) || /^-c.+/.test(arg)) out.push(arg);
  }
  return out;
}

/**
 * DESIGN §5.1: the reply does not say whether the refresh worked (a refused token answers `account: null`,
 * a 500 answers like success), so the file decides: a new refresh token and a `last_refresh` that moved on.
 */
export function judgeRefresh(before: AuthFile, afterText: string | null): { ok: true; auth: AuthFile } | { ok: false; why: string } {
  if (afterText === null) return { ok: false, why: 'Codex left no auth.json behind (it logged out)' };
  if (afterText === before.text) return { ok: false, why: 'auth.json is byte-identical: Codex did not rotate the tokens' };
  let after: AuthFile;
  try {
    after = parseAuthFile(afterText, 'The auth.json Codex wrote');
  } catch (error) {
    return { ok: false, why: errorMessage(error) };
  }
  if (after.info.accountId !== before.info.accountId) return { ok: false, why: `Codex wrote an auth.json for another account (${after.info.accountId})` };
  if (refreshTokenOf(after) === refreshTokenOf(before)) return { ok: false, why: 'the refresh token did not change' };
  if ((after.info.lastRefresh ?? 0) <= (before.info.lastRefresh ?? 0)) return { ok: false, why: '`last_refresh` did not move forward' };
  return { ok: true, auth: after };
}

/** Noise app-server prints on every CI runner, which says nothing about the refresh. */
const NOISE = /bubblewrap|PATH aliases|helper binaries/i;

/**
 * What of app-server's stderr may be shown: its warning and error lines, without the known tokens nor
 * anything shaped like one (a JWT, a long base64url run), at most 10 lines.
 */
export function redactDiagnostics(stderr: string, secrets: string[]): string {
  const lines = stderr.split(/\r?\n/).filter((line) => /\b(ERROR|WARN|error)\b/.test(line) && !NOISE.test(line));
  return lines
    .slice(-10)
    .map((line) => {
      let safe = line;
      for (const secret of secrets) if (secret.length >= 8) safe = safe.split(secret).join('***');
      return safe
        .replace(/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '***')
        .replace(/[A-Za-z0-9_-]{32,}/g, '***')
        .replace(/^\S*Z\s+/, '');
    })
    .join('\n');
}

const Message = z.looseObject({ id: z.optional(z.union([z.number(), z.string()])), error: z.optional(z.unknown()) });

/** One JSON-RPC session over app-server's stdio: a JSON object a line each way. */
class JsonLines {
  private buffer = '';
  private readonly replies = new Map<number | string, (reply: z.infer<typeof Message>) => void>();
  private readonly early = new Map<number | string, z.infer<typeof Message>>();

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (chunk: Buffer) => this.take(chunk.toString('utf8')));
  }

  private take(text: string): void {
    this.buffer = (this.buffer + text).slice(-TAIL_BYTES);
    let at: number;
    while ((at = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at + 1);
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        continue; // not a message: app-server writes only JSON lines on stdout
      }
      const parsed = Message.safeParse(json);
      if (!parsed.success || parsed.data.id === undefined) continue;
      const waiter = this.replies.get(parsed.data.id);
      if (waiter) waiter(parsed.data);
      else this.early.set(parsed.data.id, parsed.data);
    }
  }

  send(message: Record<string, unknown>): void {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  /** The reply to `id`, or null when the process ends first. */
  reply(id: number, ended: Promise<unknown>): Promise<z.infer<typeof Message> | null> {
    const seen = this.early.get(id);
    if (seen) return Promise.resolve(seen);
    return Promise.race([new Promise<z.infer<typeof Message>>((resolve) => this.replies.set(id, resolve)), ended.then(() => null)]);
  }
}

/**
 * DESIGN §5.1: rotates the tokens in `authPath` through Codex itself, without a model turn. app-server runs
 * in a private copy of codex-home (a 0700 scratch dir holding a copy of auth.json and nothing else: it leaves
 * lock and sqlite files behind), in its own process group, with a deadline. Only auth.json comes back.
 */
export async function refreshThroughCodex(options: AppServerRefreshOptions): Promise<AppServerRefresh> {
  const beforeText = await readCredentialFile(options.authPath);
  if (beforeText === null) throw new UserError(`Cannot refresh: ${options.authPath} is gone.`);
  const before = parseAuthFile(beforeText, `The auth.json in ${path.dirname(options.authPath)}`);
  const scratch = newScratchDir(options.runnerTemp);
  const home = path.join(scratch, 'home');
  try {
    await fs.mkdir(scratch, { recursive: true, mode: 0o700 });
    await writeCredentialFile(path.join(home, 'auth.json'), before.text);
    const run = await runAppServer(options, home, scratch);
    const afterText = await readCredentialFile(path.join(home, 'auth.json')).catch(() => null);
    const judged = judgeRefresh(before, afterText);
    if (!judged.ok) {
      const secrets = afterText ? [...tokensOf(before), ...tokensOf(afterText)] : tokensOf(before);
      return { ok: false, before, why: run.timedOut ? `app-server did not finish within ${(run.timeoutMs / 1000).toFixed(0)} s` : judged.why, exitCode: run.exitCode, diagnostics: redactDiagnostics(run.stderr, secrets) };
    }
    await writeCredentialFile(options.authPath, judged.auth.text);
    return { ok: true, before, auth: judged.auth };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

function tokensOf(auth: AuthFile | string): string[] {
  try {
    const json = JSON.parse(typeof auth === 'string' ? auth : auth.text) as { tokens?: Record<string, unknown> };
    return Object.values(json.tokens ?? {}).filter((v): v is string => typeof v === 'string');
  } catch {
    return [];
  }
}

async function runAppServer(options: AppServerRefreshOptions, home: string, cwd: string): Promise<{ exitCode: number | null; stderr: string; timedOut: boolean; timeoutMs: number }> {
  const timeoutMs = options.timeoutMs ?? APP_SERVER_TIMEOUT_MS;
  const argv = ['app-server', '-c', 'cli_auth_credentials_store="file"', ...appServerArgs(options.codexArgs)];
  const child = spawn(options.codex, argv, { cwd, env: childEnv(options.env ?? process.env, { CODEX_HOME: home }), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-TAIL_BYTES)));
  child.stdin.on('error', () => undefined); // app-server may exit before it read everything (bad arguments)
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is already gone
    }
  };
  const closed = new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) => reject(new UserError(`Failed to start ${options.codex} app-server: ${error.message}`)));
    child.once('close', (code) => resolve(code));
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  try {
    const rpc = new JsonLines(child);
    rpc.send({ id: 1, method: 'initialize', params: { clientInfo: { name: 'codex-auth', version: '1' } } });
    // Each request waits for the previous reply: stdin closed too early ends app-server before it refreshes.
    if (await rpc.reply(1, closed)) {
      rpc.send({ method: 'initialized' });
      rpc.send({ id: 2, method: 'account/read', params: { refreshToken: true } });
      await rpc.reply(2, closed);
    }
    child.stdin.end();
    // app-server exits once stdin is closed; one that lingers is killed after a short grace, not the whole deadline
    const grace = new Promise<void>((resolve) => setTimeout(resolve, EXIT_GRACE_MS).unref());
    const exitCode = await Promise.race([closed, grace.then(() => (killGroup(), closed))]);
    return { exitCode: timedOut ? null : exitCode, stderr, timedOut, timeoutMs };
  } finally {
    clearTimeout(timer);
    killGroup();
  }
}
