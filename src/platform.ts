import { UserError } from './errors.js';

/**
 * The runner OSes this action supports. It relies on POSIX: auth.json 0600 in a 0700 directory, O_NOFOLLOW
 * opens, an fsync of the directory after a rename, and a process group for Codex (`kill(-pgid)`), so
 * that a cancelled job stops the native binary too. Linux and macOS have all of these; Windows none.
 */
export const SUPPORTED_PLATFORMS: readonly NodeJS.Platform[] = ['linux', 'darwin'];

/** Fails at once, and clearly, where the file modes and process groups above would fail obscurely later. */
export function assertSupportedPlatform(platform: NodeJS.Platform = process.platform): void {
  if (SUPPORTED_PLATFORMS.includes(platform)) return;
  const name = platform === 'win32' ? 'Windows' : platform;
  throw new UserError(
    `codex-auth runs on Linux and macOS runners, not on ${name}: it keeps auth.json private with POSIX file modes and stops Codex through its process group, which ${name} does not have. Run this job on a Linux or macOS runner (\`runs-on: ubuntu-latest\` or \`macos-latest\`, or such a self-hosted runner).`,
  );
}
