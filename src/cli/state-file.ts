import { promises as fs } from 'node:fs';
import * as z from 'zod/mini';
import { ensurePrivateDir, writeCredentialFile } from '../auth-file.js';
import type { Log } from '../log.js';
import path from 'node:path';

/** More than this is not a state file this CLI wrote. */
const MAX_BYTES = 64 * 1024;
const StateFile = z.object({ v: z.literal(1), state: z.record(z.string(), z.string()) });

/**
 * `restore` → `persist`: main's state (hashes, times, paths, the lock handle; never a token) in a file,
 * 0600 in a 0700 directory, written atomically. COMMAND runs between the two and may rewrite it, so
 * `persist` parses it here and runPost checks every claim in it, as post does with the action's state.
 */
export async function saveStateFile(file: string, state: Map<string, string>): Promise<void> {
  await ensurePrivateDir(path.dirname(file));
  await writeCredentialFile(file, `${JSON.stringify({ v: 1, state: Object.fromEntries(state) })}\n`);
}

/** The state, or null when there is none; a file that is not ours is a warning and counts as none. */
export async function loadStateFile(file: string, log: Log): Promise<Map<string, string> | null> {
  let text: string;
  try {
    const handle = await fs.open(file, 'r');
    try {
      const buffer = Buffer.alloc(MAX_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_BYTES) throw new Error(`larger than ${MAX_BYTES} bytes`);
      text = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    log.warning(`Ignoring the state file ${file}: ${(error as Error).message}.`);
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const parsed = StateFile.safeParse(json);
  if (!parsed.success) {
    log.warning(`Ignoring the state file ${file}: it is not one \`codex-auth restore\` wrote. Nothing is persisted or released on its say-so.`);
    return null;
  }
  return new Map(Object.entries(parsed.data.state));
}

export async function removeStateFile(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}
