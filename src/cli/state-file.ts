import { promises as fs } from 'node:fs';
import * as z from 'zod/mini';
import { readCredentialFile, writeCredentialFile } from '../auth-file.js';
import { errorMessage } from '../errors.js';
import { parseJsonWith } from '../json.js';
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
  // A directory this CLI makes is private; one that exists keeps its mode (`--state-file /tmp/s.json` run as
  // root must not close /tmp): the file itself is 0600, written through a temp file and a rename.
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeCredentialFile(file, `${JSON.stringify({ v: 1, state: Object.fromEntries(state) })}\n`, { privateDir: false });
}

/** The state, or null when there is none; a file that is not ours is a warning and counts as none. */
export async function loadStateFile(file: string, log: Log): Promise<Map<string, string> | null> {
  let text: string | null;
  try {
    // No link, FIFO or device: COMMAND ran before this and may have put one where the file was.
    text = await readCredentialFile(file);
    if (text !== null && Buffer.byteLength(text) > MAX_BYTES) throw new Error(`larger than ${MAX_BYTES} bytes`);
  } catch (error) {
    log.warning(`Ignoring the state file ${file}: ${errorMessage(error)}. Nothing is persisted or released on its say-so.`);
    return null;
  }
  if (text === null) return null;
  const parsed = parseJsonWith(StateFile)(text);
  if (!parsed.success) {
    log.warning(`Ignoring the state file ${file}: it is not one \`codex-auth restore\` wrote. Nothing is persisted or released on its say-so.`);
    return null;
  }
  return new Map(Object.entries(parsed.data.state));
}

export async function removeStateFile(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}
