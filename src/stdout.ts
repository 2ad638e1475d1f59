import { writeSync } from 'node:fs';

/**
 * Writes to stdout with write(2) until something creates `process.stdout`. For a pipe, which is what the
 * runner gives a step, creating that stream loads `net` and the stream modules: about a sixth of
 * `node -e 0`, on every start of main and post (README, "Start-up"). The bundle routes `@actions/core`'s
 * own writes (log lines and workflow commands) through here.
 *
 * Order is what matters in a log that carries workflow commands. So once anything touches
 * `process.stdout` (Codex's output relay, a library), every later write goes through that stream too: it
 * may hold queued bytes that a direct write would overtake. A direct write that fails (EAGAIN on a full
 * non-blocking pipe, anything else) hands what is left to the stream, as before.
 */
const STREAM = Symbol.for('codex-auth.stdout-stream');
type Flagged = typeof globalThis & { [STREAM]?: boolean };
const flags = globalThis as Flagged;

/** Once per process (the bundles hold several copies of this module): note the first use of `process.stdout`. */
function watchStdout(): void {
  if (flags[STREAM] !== undefined) return;
  const descriptor = Object.getOwnPropertyDescriptor(process, 'stdout');
  const get = descriptor?.get;
  if (!descriptor || !get || !descriptor.configurable) {
    flags[STREAM] = true;
    return;
  }
  flags[STREAM] = false;
  Object.defineProperty(process, 'stdout', {
    ...descriptor,
    get(this: NodeJS.Process) {
      flags[STREAM] = true;
      return get.call(this);
    },
  });
}

export function writeStdout(text: string): void {
  watchStdout();
  if (flags[STREAM]) {
    process.stdout.write(text);
    return;
  }
  const bytes = Buffer.from(text, 'utf8');
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(1, bytes, done, bytes.length - done);
  } catch {
    process.stdout.write(bytes.subarray(done));
  }
}
