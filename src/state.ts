import * as core from '@actions/core';
import * as z from 'zod/mini';
import { ALL_STORES } from './inputs.js';
import { jsonOrNull, parseJsonWith } from './json.js';

/**
 * What main hands to post, under one state key. Saved first right after the lock is taken (so post can
 * release it even if main fails half-way), then again once auth.json is written. Hashes, times and paths
 * only: never a token.
 */
/** Built on first use (in post): main only saves state, and a zod schema built at import costs every start. */
function lazy<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => (built ??= build());
}

const LockHandleSchema = lazy(() => z.union([
  z.object({ kind: z.literal('none') }),
  z.object({ kind: z.literal('file'), path: z.string(), token: z.string() }),
  z.object({ kind: z.literal('github'), repository: z.string(), ref: z.string() }),
]));

/** What post needs to release a lock: saved as state right after acquire. The one declaration of `LockHandle`. */
export type LockHandle = z.infer<ReturnType<typeof LockHandleSchema>>;

const Ready = lazy(() => z.object({
  codexHome: z.string(),
  authPath: z.string(),
  /** sha256 of auth.json's bytes as main left them */
  restoredHash: z.string(),
  restoredLastRefresh: z.nullable(z.number()),
  store: z.enum(ALL_STORES),
  /** what the store held when main restored (for compare-and-swap); null when it held nothing */
  storeVersion: z.nullable(z.string()),
  source: z.string(),
  cleanup: z.boolean(),
  /** a private copy of the file main wrote, for putting it back on the runner store */
  backupPath: z.string(),
  accountId: z.string(),
  email: z.nullable(z.string()),
  /** the access token's `exp` (ms) of the file main left, for the summary */
  accessExpires: z.optional(z.nullable(z.number())),
}));

const MainStateSchema = lazy(() => z.object({
  v: z.literal(1),
  lock: LockHandleSchema(),
  lockWaitMs: z.number(),
  /** absent until auth.json is in place */
  ready: z.optional(Ready()),
  /** api-key / access-token modes: files to remove at the end */
  loginHome: z.optional(z.object({ codexHome: z.string(), cleanup: z.boolean() })),
  /**
   * `lock-scope: refresh` (DESIGN §3.10): main already released the lock and the job ran with a copy whose
   * refresh token is withheld, so post persists nothing and only cleans up.
   */
  shared: z.optional(z.object({ lock: z.enum(['none', 'file', 'github']), lockHeldMs: z.number(), refreshedAhead: z.boolean() })),
}));

export type MainState = z.infer<ReturnType<typeof MainStateSchema>>;
export type ReadyState = z.infer<ReturnType<typeof Ready>>;

const KEY = 'codex-auth';

export function saveMainState(state: MainState): void {
  core.saveState(KEY, JSON.stringify(state));
}

/** null when main never got as far as the lock; throws when the value is not ours. */
export function loadMainState(): MainState | null {
  const raw = core.getState(KEY);
  if (!raw) return null;
  const parsed = parseJsonWith(MainStateSchema())(raw);
  if (!parsed.success) throw new Error(parsed.notJson ? 'The state main saved is not JSON' : `The state main saved has an unexpected shape (${parsed.paths.join(', ')})`);
  return parsed.data;
}

/** The lock handle of state that does not parse as a whole; null when even that is missing or malformed. */
export function lockHandleIn(raw: string): LockHandle | null {
  return jsonOrNull(z.object({ lock: LockHandleSchema() }), raw)?.lock ?? null;
}
