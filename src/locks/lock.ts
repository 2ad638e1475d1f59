import path from 'node:path';
import type { RunContext } from '../context.js';
import { UserError } from '../errors.js';
import type { Clock, Log } from '../log.js';
import type { LockHandle } from '../state.js';

/** Who holds a lock, as recorded by the holder and shown to waiters. */
export interface LockOwner {
  repository: string;
  runId: string;
  runAttempt: string;
  job: string;
  runnerName: string;
  /** ms since the epoch */
  acquiredAt: number;
  /** ms since the epoch; after this the holder is presumed dead */
  leaseUntil: number;
}

/** What post needs to release a lock: JSON-serialisable, declared once by its state schema (state.ts). */
export type { LockHandle } from '../state.js';

export interface Acquired {
  handle: LockHandle;
  waitedMs: number;
}

export interface Lock {
  /** Waits for the lock; throws a UserError naming the holder after `timeoutMs`. */
  acquire(options: { timeoutMs: number; signal?: AbortSignal }): Promise<Acquired>;
  /** Releases only the caller's own hold; safe to call twice, or after a failed acquire. */
  release(handle: LockHandle): Promise<void>;
}

/** The edges a lock backend gets by constructor. */
export interface LockDeps {
  ctx: RunContext;
  log: Log;
  clock: Clock;
  codexHome: string;
  key: string;
  lockRepository: string;
  githubToken: string;
}

/** What releasing a saved handle needs: post has no key, codex-home or lock repository of its own to give. */
export type ReleaseDeps = Pick<LockDeps, 'ctx' | 'log' | 'clock' | 'githubToken'>;

/** How long post's release may take (a DELETE and its retries): it must not hold up the end of the job. */
export const RELEASE_TIMEOUT_MS = 60_000;

/** How long a hold lasts without its post step: GitHub's default job timeout (360 minutes). */
export const LEASE_MS = 6 * 3600 * 1000;

/** `lock: file`'s lock: a file beside auth.json (post holds a handle from state to this path). */
export function lockFilePath(codexHome: string): string {
  return path.join(codexHome, 'codex-auth.lock');
}

/**
 * CODEX_AUTH_LOCK_LEASE_SECONDS overrides LEASE_MS: for jobs longer than 6 hours (set it above the longest
 * `timeout-minutes`), and for tests.
 */
export function leaseMsFrom(env: NodeJS.ProcessEnv): number {
  const raw = env.CODEX_AUTH_LOCK_LEASE_SECONDS;
  if (raw === undefined || raw === '') return LEASE_MS;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UserError(`CODEX_AUTH_LOCK_LEASE_SECONDS is '${raw}': expected a whole number of seconds, at least 1.`);
  return Number(raw) * 1000;
}

export function ownerFor(ctx: RunContext, now: number, leaseMs = LEASE_MS): LockOwner {
  return {
    repository: ctx.repository,
    runId: ctx.runId,
    runAttempt: ctx.runAttempt,
    job: ctx.job,
    runnerName: ctx.runnerName,
    acquiredAt: now,
    leaseUntil: now + leaseMs,
  };
}
