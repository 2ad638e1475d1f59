/**
 * The real Codex CLI for integration tests: `scripts/ensure-codex.mjs` installs it into a cache
 * directory on first use (outside node_modules) and prints the binary's path as its last line.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** Absolute path of the `codex` binary (runs the ensure script once per process). */
export function codexBinary(): string {
  if (cached) return cached;
  const script = fileURLToPath(new URL('../../scripts/ensure-codex.mjs', import.meta.url));
  const out = execFileSync(process.execPath, [script], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  });
  const last = out.trim().split('\n').pop()?.trim();
  if (!last || !path.isAbsolute(last)) throw new Error(`scripts/ensure-codex.mjs printed no binary path: ${JSON.stringify(out)}`);
  cached = last;
  return cached;
}
