import { promises as fs } from 'node:fs';
import path from 'node:path';
import { chooseSource, parseAuthFile, readCredentialFile, writeCredentialFile, type AuthFile } from './auth-file.js';
import type { Log } from './log.js';
import { ScratchCopy } from './scratch-copy.js';
import { storeName, type Store } from './stores/store.js';

export interface Provisioned {
  auth: AuthFile;
  /** where auth.json is */
  authPath: string;
  /** `seed`, or the store's kind */
  source: string;
  /** sha256 of auth.json's bytes on disk as main leaves them */
  fileHash: string;
  /** what the store held, for post's compare-and-swap */
  storeVersion: string | null;
  /** a private copy of what main left in place, for the runner store to put back */
  scratch: ScratchCopy;
}

/**
 * Restores from the store, weighs it against the seed (DESIGN §3.1), and puts the winner in `authPath`.
 * The seed is parsed (and its tokens masked) before the store is read, so a bad seed fails before any I/O.
 */
export async function provisionAuth(options: {
  store: Store;
  seedText: string;
  authPath: string;
  scratchDir: string;
  log: Log;
}): Promise<Provisioned> {
  const { store, authPath, log } = options;
  const seed = options.seedText ? parseAuthFile(options.seedText, 'Input `auth-json`') : null;
  const stored = await store.restore();
  const choice = chooseSource(seed, stored?.auth ?? null, storeName(store.kind));
  const auth = choice.use === 'seed' && seed ? seed : (stored?.auth as AuthFile);
  const source = choice.use === 'seed' ? 'seed' : store.kind;
  log.info(`Using the ${choice.use === 'seed' ? 'seed from `auth-json`' : `${storeName(store.kind)} store's auth.json`}: ${choice.reason}.`);
  if (seed && choice.use === 'stored' && seed.hash !== stored?.auth.hash && store.inPlace) await warnSeedIgnoredOnce(seed, authPath, log);

  const onDisk = await readCredentialFile(authPath);
  if (onDisk !== auth.text) await writeCredentialFile(authPath, auth.text);
  const scratch = await ScratchCopy.write(options.scratchDir, authPath, auth);
  return { auth, authPath, source, fileHash: auth.hash, storeVersion: stored?.version ?? null, scratch };
}

/**
 * On a persistent runner the seed is ignored on every run once Codex has refreshed the stored copy: that is
 * by design, and worth one warning per seed per runner, not one per run.
 */
async function warnSeedIgnoredOnce(seed: AuthFile, authPath: string, log: Log): Promise<void> {
  const marker = path.join(path.dirname(authPath), '.codex-auth-seed-ignored');
  const said = await fs.readFile(marker, 'utf8').catch(() => '');
  if (said.trim() === seed.hash) return;
  log.warning(
    `\`auth-json\` is ignored on this runner: the auth.json stored in ${path.dirname(authPath)} is as new as or newer than it (Codex refreshed it). This is by design; to replace the stored copy, seed with a newer login or another account. (Said once per seed.)`,
  );
  await fs.writeFile(marker, `${seed.hash}\n`, { mode: 0o600 });
}
