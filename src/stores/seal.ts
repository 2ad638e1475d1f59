import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { UserError } from '../errors.js';

/**
 * The envelope of a cache entry (DESIGN §3.7): AES-256-GCM, versioned, binary.
 *
 *   magic "CXAS" | version (1 byte) | key id (8) | salt (16) | iv (12) | tag (16) | ciphertext
 *
 * Everything before the tag is authenticated as additional data, so no header byte can be changed
 * unnoticed. The AES key is HKDF-SHA256(key material, salt, context): the salt is random per envelope, the
 * context names the format, the auth stream and where the material came from. The key material is the
 * `encryption-key` input, or else the `auth-json` seed itself, which is a secret that forks never receive:
 * the same seed gives the same key on every run, and a new seed makes older entries unreadable, which the
 * cache store treats as "nothing stored" — the new seed is then used, which is what a re-seed is for.
 * The key id (HKDF of the material with no salt) says "sealed with another key" apart from "damaged";
 * guessing the material against it is no easier than against the tag.
 */
const MAGIC = Buffer.from('CXAS', 'ascii');
const VERSION = 1;
const KID_BYTES = 8;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 1 + KID_BYTES + SALT_BYTES + IV_BYTES;
/** Key material shorter than this is a password, not a key. */
const MIN_KEY_CHARS = 16;

export type SealFailure = 'not-sealed' | 'unsupported-version' | 'truncated' | 'other-key' | 'damaged';

const FAILURES: Record<SealFailure, string> = {
  'not-sealed': 'it is not a codex-auth sealed envelope',
  'unsupported-version': 'it was sealed in a newer envelope format than this version of codex-auth reads',
  truncated: 'it is truncated',
  'other-key': 'it was sealed with another key (`auth-json` or `encryption-key` changed since it was saved)',
  damaged: 'it was altered or damaged (the AES-GCM authentication tag does not match)',
};

/** Why an envelope did not open. Callers treat it as "nothing stored" and say so. */
export class SealError extends Error {
  override name = 'SealError';
  constructor(readonly reason: SealFailure) {
    super(FAILURES[reason]);
  }
}

export interface SealKey {
  /** where the key material came from, for messages */
  readonly source: 'encryption-key' | 'auth-json';
  readonly kid: Buffer;
  readonly material: Buffer;
  readonly context: string;
}

/**
 * The key of one auth stream. `seedText` is the seed's decoded auth.json text, so raw JSON and base64 of
 * the same file give the same key.
 */
export function sealKey(options: { encryptionKey: string; seedText: string; stream: string }): SealKey {
  const { encryptionKey, seedText, stream } = options;
  if (!encryptionKey && !seedText) {
    throw new UserError(
      '`store: cache` needs a key to seal its entries, and both `encryption-key` and `auth-json` are empty: pass the seed in `auth-json` (the key is derived from it), or a random `encryption-key` (e.g. `openssl rand -base64 32`, kept in a secret).',
    );
  }
  if (encryptionKey && encryptionKey.length < MIN_KEY_CHARS) {
    throw new UserError(`Input \`encryption-key\` is ${encryptionKey.length} characters, too short to be a key: use at least ${MIN_KEY_CHARS} random characters (e.g. \`openssl rand -base64 32\`), kept in a secret.`);
  }
  const source = encryptionKey ? 'encryption-key' : 'auth-json';
  const material = Buffer.from(encryptionKey || seedText, 'utf8');
  const context = `codex-auth cache v${VERSION}|stream=${stream}|from=${source}`;
  const kid = Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), `${context}|key-id`, KID_BYTES));
  return { source, kid, material, context };
}

function aesKey(key: SealKey, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key.material, salt, key.context, 32));
}

export function seal(key: SealKey, plaintext: string): Buffer {
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const header = Buffer.concat([MAGIC, Buffer.from([VERSION]), key.kid, salt, iv]);
  const cipher = createCipheriv('aes-256-gcm', aesKey(key, salt), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(header);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([header, cipher.getAuthTag(), ciphertext]);
}

/** Opens an envelope; throws SealError when it is not ours, truncated, of another key or damaged. */
export function open(key: SealKey, data: Buffer): string {
  const magic = data.subarray(0, MAGIC.length);
  if (!MAGIC.subarray(0, magic.length).equals(magic)) throw new SealError('not-sealed');
  if (data.length <= MAGIC.length) throw new SealError('truncated');
  if (data[MAGIC.length] !== VERSION) throw new SealError('unsupported-version');
  if (data.length < HEADER_BYTES + TAG_BYTES) throw new SealError('truncated');
  let at = MAGIC.length + 1;
  const take = (n: number) => data.subarray(at, (at += n));
  const kid = take(KID_BYTES);
  const salt = take(SALT_BYTES);
  const iv = take(IV_BYTES);
  const tag = take(TAG_BYTES);
  if (!timingSafeEqual(kid, key.kid)) throw new SealError('other-key');
  const decipher = createDecipheriv('aes-256-gcm', aesKey(key, salt), iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(data.subarray(0, HEADER_BYTES));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(data.subarray(at)), decipher.final()]).toString('utf8');
  } catch {
    throw new SealError('damaged');
  }
}
