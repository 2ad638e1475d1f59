import * as core from '@actions/core';
import { constants as fsc, promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { UserError } from './errors.js';
import { randomHex } from './random.js';
import { sha256Hex } from './sha256.js';

/** Codex refreshes when the access token expires within this window (codex-rs: proactive refresh). */
export const EXPIRY_WINDOW_MS = 5 * 60 * 1000;
/** Without an expiry, Codex refreshes when `last_refresh` is older than this (codex-rs: scheduled refresh). */
export const REFRESH_AGE_MS = 8 * 24 * 3600 * 1000;
/** An auth.json is a few kilobytes; anything this large is not one. */
const MAX_BYTES = 256 * 1024;

const Tokens = z.looseObject({
  id_token: z.string(),
  access_token: z.string(),
  refresh_token: z.optional(z.nullable(z.string())),
  account_id: z.optional(z.nullable(z.string())),
});

const AuthJson = z.looseObject({
  auth_mode: z.optional(z.nullable(z.string())),
  OPENAI_API_KEY: z.optional(z.nullable(z.string())),
  tokens: z.optional(z.nullable(Tokens)),
  last_refresh: z.optional(z.nullable(z.string())),
});
export type AuthJson = z.infer<typeof AuthJson>;

const JwtClaims = z.looseObject({
  email: z.optional(z.string()),
  exp: z.optional(z.number()),
  'https://api.openai.com/auth': z.optional(
    z.looseObject({
      chatgpt_account_id: z.optional(z.nullable(z.string())),
    }),
  ),
});

/** What the rules and the logs need to know of a ChatGPT auth.json. No token in here. */
export interface AuthInfo {
  accountId: string;
  /** the account the access token names (its claim; unverified, as Codex reads it); null when it names none */
  claimedAccountId: string | null;
  email: string | null;
  /** `last_refresh` in ms since the epoch; null when the file has none. */
  lastRefresh: number | null;
  /** The access token's `exp` in ms since the epoch; null when it has none. */
  accessExpires: number | null;
}

/** A validated ChatGPT-managed auth.json: its exact bytes and what they say. */
export interface AuthFile {
  text: string;
  hash: string;
  info: AuthInfo;
}

/** The hex SHA-256 of auth.json's text (without node:crypto, for start-up: see sha256.ts). */
export function hashText(text: string): string {
  return sha256Hex(text);
}

/** Every token is masked before anything can print it, also in its JSON-escaped form. */
function maskSecret(value: unknown): void {
  if (typeof value !== 'string' || value.length < 8) return;
  core.setSecret(value);
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) core.setSecret(escaped);
}

function maskTokens(json: unknown): void {
  if (!json || typeof json !== 'object') return;
  const record = json as Record<string, unknown>;
  maskSecret(record.OPENAI_API_KEY);
  const tokens = record.tokens;
  if (tokens && typeof tokens === 'object') {
    for (const [name, value] of Object.entries(tokens)) if (name !== 'account_id') maskSecret(value);
  }
}

function decodeText(raw: string, label: string): string {
  const text = raw.replace(/^\uFEFF/, '');
  if (text.trim().startsWith('{')) return text;
  const compact = text.replace(/\s+/g, '');
  if (compact && /^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) {
    const decoded = Buffer.from(compact, 'base64').toString('utf8').replace(/^\uFEFF/, '');
    if (decoded.trim().startsWith('{')) return decoded;
  }
  throw new UserError(`${label} is not an auth.json: expected the JSON of \`~/.codex/auth.json\` or base64 of it.`);
}

function jwtClaims(token: string, name: string, label: string): z.infer<typeof JwtClaims> {
  const parts = token.split('.');
  let payload: unknown;
  try {
    if (parts.length !== 3 || !parts[1]) throw new Error('not three parts');
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new UserError(`${label}: \`tokens.${name}\` is not a JWT (three base64url parts with a JSON payload). Seed again from a fresh \`codex login\`.`);
  }
  const claims = JwtClaims.safeParse(payload);
  if (!claims.success) throw new UserError(`${label}: \`tokens.${name}\` has claims of an unexpected type. Seed again from a fresh \`codex login\`.`);
  return claims.data;
}

function timeOf(value: string | null | undefined, label: string): number | null {
  if (!value) return null;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UserError(`${label}: \`last_refresh\` is '${value}', which is not an RFC 3339 time.`);
  return ms;
}

/**
 * Parses and validates a ChatGPT-managed auth.json (raw JSON, or base64 of it).
 * `label` names where it came from in every message (`Input \`auth-json\``, `The stored auth.json`).
 */
export function parseAuthFile(raw: string, label: string): AuthFile {
  if (raw.length > MAX_BYTES) throw new UserError(`${label} is ${raw.length} bytes, too large for an auth.json (at most ${MAX_BYTES}).`);
  const text = decodeText(raw, label);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError(`${label} is not valid JSON: expected the JSON of \`~/.codex/auth.json\` or base64 of it.`);
  }
  maskTokens(json);
  const parsed = AuthJson.safeParse(json);
  if (!parsed.success) throw new UserError(`${label} does not have the shape of an auth.json (${parsed.error.issues.map((i) => i.path.join('.') || 'root').join(', ')}).`);
  const auth = parsed.data;
  const mode = auth.auth_mode ?? (auth.tokens ? 'chatgpt' : auth.OPENAI_API_KEY ? 'apikey' : 'unknown');
  if (mode === 'apikey' || (!auth.tokens && auth.OPENAI_API_KEY)) {
    throw new UserError(`${label} is an API-key auth.json (auth_mode '${mode}'): pass the key in \`openai-api-key\` instead; this store is for ChatGPT-managed sign-in.`);
  }
  if (mode === 'chatgptAuthTokens') {
    throw new UserError(`${label} has auth_mode 'chatgptAuthTokens': those tokens are managed by a host application and cannot be refreshed by Codex from a file. Seed from \`codex login\` with \`cli_auth_credentials_store = "file"\`.`);
  }
  if (mode !== 'chatgpt') throw new UserError(`${label} has auth_mode '${mode}': only 'chatgpt' (ChatGPT sign-in) can be kept fresh by this action.`);
  const tokens = auth.tokens;
  if (!tokens) throw new UserError(`${label} has no \`tokens\`: seed it from a fresh \`codex login\` on a trusted machine.`);
  if (!tokens.refresh_token) throw new UserError(`${label} has no \`tokens.refresh_token\`, so Codex could never refresh it: seed it from a fresh \`codex login\`.`);
  if (!tokens.account_id) throw new UserError(`${label} has no \`tokens.account_id\`, and Codex does not refresh without one: seed it from a fresh \`codex login\`.`);
  const id = jwtClaims(tokens.id_token, 'id_token', label);
  const access = jwtClaims(tokens.access_token, 'access_token', label);
  return {
    text,
    hash: hashText(text),
    info: {
      accountId: tokens.account_id,
      claimedAccountId: access['https://api.openai.com/auth']?.chatgpt_account_id ?? null,
      email: id.email ?? null,
      lastRefresh: timeOf(auth.last_refresh, label),
      accessExpires: access.exp === undefined ? null : access.exp * 1000,
    },
  };
}

/** When Codex will refresh on its own: the rules of codex-rs `auth.rs`. */
export function nextRefreshAt(info: AuthInfo): number {
  if (info.accessExpires !== null) return info.accessExpires - EXPIRY_WINDOW_MS;
  return (info.lastRefresh ?? 0) + REFRESH_AGE_MS;
}

export function isStale(info: AuthInfo, now: number): boolean {
  return nextRefreshAt(info) <= now;
}

export function iso(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString();
}

/** `someone@example.com` → `so…@example.com`, for logs and summaries. */
export function maskEmail(email: string | null): string {
  if (!email) return 'unknown';
  const [user = '', domain = ''] = email.split('@');
  return `${user.slice(0, 2)}…@${domain}`;
}

export interface Choice {
  use: 'seed' | 'stored';
  reason: string;
}

/**
 * DESIGN §3.1: the seed is used only when nothing is stored, when it belongs to another account,
 * or when it is newer than the stored copy (the user signed in again). Newest wins.
 */
export function chooseSource(seed: AuthFile | null, stored: AuthFile | null, storeName: string): Choice {
  if (!stored && !seed) {
    throw new UserError(
      `No auth.json to use: the ${storeName} store holds none and \`auth-json\` is empty. Sign in with \`codex login\` on a trusted machine and pass that auth.json in \`auth-json\` (from a secret).`,
    );
  }
  if (!stored) return { use: 'seed', reason: `the ${storeName} store holds no auth.json yet` };
  if (!seed) return { use: 'stored', reason: `the ${storeName} store's copy (no seed given)` };
  if (seed.hash === stored.hash) return { use: 'stored', reason: `the ${storeName} store's copy is the seed itself` };
  if (seed.info.accountId !== stored.info.accountId) {
    return { use: 'seed', reason: `the seed belongs to another account than the stored copy, so it replaces it` };
  }
  if ((seed.info.lastRefresh ?? 0) > (stored.info.lastRefresh ?? 0)) {
    return { use: 'seed', reason: `the seed is newer (last_refresh ${iso(seed.info.lastRefresh)}) than the stored copy (${iso(stored.info.lastRefresh) || 'none'})` };
  }
  return {
    use: 'stored',
    reason: `the stored copy (last_refresh ${iso(stored.info.lastRefresh) || 'none'}) is as new as or newer than the seed (${iso(seed.info.lastRefresh) || 'none'}); the seed is ignored`,
  };
}

export type PersistDecision =
  | { kind: 'unchanged' }
  | { kind: 'changed'; auth: AuthFile }
  | { kind: 'missing'; reason: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'older'; reason: string }
  | { kind: 'foreign'; reason: string };

/**
 * DESIGN §3.2: persist only what is valid, changed and not older than what main restored — and of the same
 * account: a refresh never changes it, so another account's login in codex-home was put there by something
 * else (an agent swapping in its own login would have every later job send its prompts to that account).
 */
export function decidePersist(restored: { hash: string; lastRefresh: number | null; accountId: string }, currentText: string | null): PersistDecision {
  if (currentText === null) return { kind: 'missing', reason: 'auth.json is gone (Codex logged out or something deleted it); a deletion is never persisted' };
  if (hashText(currentText) === restored.hash) return { kind: 'unchanged' };
  let current: AuthFile;
  try {
    current = parseAuthFile(currentText, 'The auth.json left by this job');
  } catch (error) {
    return { kind: 'invalid', reason: error instanceof Error ? error.message : String(error) };
  }
  if ((current.info.lastRefresh ?? 0) < (restored.lastRefresh ?? 0)) {
    return { kind: 'older', reason: `its last_refresh ${iso(current.info.lastRefresh) || 'none'} is older than the restored ${iso(restored.lastRefresh)}` };
  }
  if (isWithheld(current)) {
    return { kind: 'invalid', reason: 'its refresh token is the placeholder of a `lock-scope: refresh` copy, which the stream must never hold' };
  }
  const owner = [current.info.accountId, current.info.claimedAccountId].find((id) => id !== null && id !== restored.accountId);
  if (owner !== undefined) {
    return { kind: 'foreign', reason: `it belongs to account ${owner}, not to the restored one (${restored.accountId}): a refresh never changes the account` };
  }
  return { kind: 'changed', auth: current };
}

/**
 * Reads a credential file; null when there is none. Refuses links, which could point anywhere, and anything
 * but a regular file (O_NONBLOCK: opening a FIFO would otherwise wait forever for a writer).
 */
export async function readCredentialFile(file: string): Promise<string | null> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new UserError(`Refusing to read ${file}: the path is a symbolic link.`);
    if (code === 'EACCES') throw new UserError(`Cannot read ${file}: permission denied. Give the runner's user read access to it, or remove it to seed again.`);
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new UserError(`Refusing to read ${file}: it is not a regular file.`);
    if (stat.size > MAX_BYTES) throw new UserError(`${file} is ${stat.size} bytes, too large for an auth.json.`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Creates `dir` (and parents) with mode 0700, or tightens it to 0700; refuses a link or a file. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST' || error.code === 'ENOTDIR') throw new UserError(`Cannot use ${dir} as a directory: a file is in the way. Point \`codex-home\` at a directory.`);
    if (error.code === 'EACCES' || error.code === 'EPERM' || error.code === 'EROFS') {
      throw new UserError(`Cannot create ${dir}: permission denied (${error.code}). Point \`codex-home\` at a directory the runner's user can write.`);
    }
    throw error;
  });
  const stat = await fs.lstat(dir);
  if (stat.isSymbolicLink()) throw new UserError(`Refusing to use ${dir}: the path is a symbolic link.`);
  if (!stat.isDirectory()) throw new UserError(`Cannot use ${dir} as a directory: a file is in the way. Point \`codex-home\` at a directory.`);
  if ((stat.mode & 0o777) !== 0o700) {
    await fs.chmod(dir, 0o700).catch((error: NodeJS.ErrnoException) => {
      throw new UserError(`Cannot make ${dir} private (mode 0700): ${error.code ?? error.message}. Point \`codex-home\` at a directory the runner's user owns.`);
    });
  }
}

/** Writes a credential file atomically: a 0600 temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeCredentialFile(file: string, text: string, options: { privateDir?: boolean } = {}): Promise<void> {
  const dir = path.dirname(file);
  // privateDir: false for a file that holds no token in a directory that is not ours to close (the CLI's state file)
  if (options.privateDir !== false) await ensurePrivateDir(dir);
  const temp = path.join(dir, `.${path.basename(file)}.${randomHex(6)}.tmp`);
  const handle = await fs.open(temp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw new Error(`Failed to write ${file}`, { cause: error });
  }
  await handle.close();
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw new Error(`Failed to write ${file}`, { cause: error });
  }
  const dirHandle = await fs.open(dir, fsc.O_RDONLY);
  await dirHandle.sync().catch(() => undefined);
  await dirHandle.close();
}

/** The refresh token of a validated auth.json text (never logged: for comparing only). */
export function refreshTokenOf(auth: AuthFile): string {
  return String((JSON.parse(auth.text) as { tokens: { refresh_token: string } }).tokens.refresh_token);
}

/** Every withheld refresh token starts so: the token endpoint knows no such token and can only reject it. */
export const WITHHELD_PREFIX = 'codex-auth-withheld-';

/**
 * DESIGN §3.10: the copy a `lock-scope: refresh` job runs with. Its refresh token is a placeholder (one per
 * job, so a refused one can be traced), never the real one, nor a spent one: reusing a spent token revokes
 * the whole family.
 */
export function withheldCopy(auth: AuthFile): AuthFile {
  const json = JSON.parse(auth.text) as { tokens: Record<string, unknown> };
  json.tokens.refresh_token = `${WITHHELD_PREFIX}${randomHex(12)}`;
  const text = `${JSON.stringify(json, null, 2)}\n`;
  return { text, hash: hashText(text), info: auth.info };
}

/** true when this auth.json's refresh token is a placeholder a `lock-scope: refresh` job wrote. */
export function isWithheld(auth: AuthFile): boolean {
  return refreshTokenOf(auth).startsWith(WITHHELD_PREFIX);
}
