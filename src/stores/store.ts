import type { AuthFile } from '../auth-file.js';
import type { RunContext } from '../context.js';
import type { Inputs, StoreKind } from '../inputs.js';
import type { Clock, Log } from '../log.js';

/** What a store holds now, and a version it can compare against later (a cache key, a content hash). */
export interface Stored {
  auth: AuthFile;
  version: string;
}

export type PersistResult = 'written' | 'unchanged' | { conflict: Stored };

/**
 * A store only moves bytes. The rules (seed only when missing; persist only valid, changed, not older)
 * live once, in auth-file.ts.
 */
export interface Store {
  readonly kind: StoreKind;
  /** true when the store *is* `codex-home/auth.json` (the runner store): nothing to copy in or out. */
  readonly inPlace: boolean;
  /** The stored auth.json, or null when none is stored. A store that cannot answer throws. */
  restore(): Promise<Stored | null>;
  /**
   * Saves `next` unless the store moved on since `baseVersion` (compare-and-swap): then the newer of the
   * two is kept and the store's copy is returned as a conflict.
   */
  persist(next: AuthFile, baseVersion: string | null): Promise<PersistResult>;
}

export interface StoreDeps {
  ctx: RunContext;
  inputs: Inputs;
  log: Log;
  clock: Clock;
  /** Where auth.json lives on this runner. */
  authPath: string;
}

/**
 * DESIGN §3.3, the compare-and-swap rule of every store that can say what it holds now: `current` is the
 * store's copy when it moved on since this job restored (null when it did not). The newer copy wins; at a
 * tie the store's copy is kept. Returns null when `next` should be written.
 */
export function swapDecision(current: Stored | null, next: AuthFile): PersistResult | null {
  if (current?.auth.hash === next.hash) return 'unchanged';
  if (current && (current.auth.info.lastRefresh ?? 0) >= (next.info.lastRefresh ?? 0)) return { conflict: current };
  return null;
}

/** Human name of a store in messages. */
export function storeName(kind: StoreKind): string {
  return { runner: 'runner', cache: 'Actions cache', command: 'command', 'github-secret': 'GitHub secret', 'gitlab-variable': 'GitLab variable' }[kind];
}
