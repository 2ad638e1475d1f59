import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Random bytes from the kernel's CSPRNG, without node:crypto: loading node:crypto pulls in the stream
 * modules and costs the restore-only main about a tenth of its start-up (README, "Start-up"). Linux and
 * macOS, the runner OSes this action supports, both have /dev/urandom; elsewhere WebCrypto serves.
 * The bundle also gives this module to `@actions/core` in place of node:crypto (its file-command delimiter).
 */
export function randomBytes(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  let fd: number;
  try {
    fd = openSync('/dev/urandom', 'r');
  } catch {
    globalThis.crypto.getRandomValues(bytes);
    return bytes;
  }
  try {
    for (let got = 0; got < size; ) {
      const n = readSync(fd, bytes, got, size - got, null);
      if (n <= 0) throw new Error('/dev/urandom returned no bytes.');
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

export const randomHex = (size: number): string => randomBytes(size).toString('hex');

/** An RFC 9562 version 4 UUID, as `crypto.randomUUID()` makes. */
export function randomUUID(): string {
  const b = randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
