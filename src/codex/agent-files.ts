import { constants as fsc, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

/** The largest auth.json taken back from the agent: a real one is about 4 KiB. */
export const AGENT_FILE_LIMIT = 64 * 1024;

/** The account codex runs as under `safety-strategy: unprivileged-user`. */
export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The permission bits (rwx as 4/2/1) that apply to `account` on a file or directory with `stat`. */
export function bitsFor(stat: Pick<Stats, 'uid' | 'gid' | 'mode'>, account: Pick<Account, 'uid' | 'gid'>): number {
  if (stat.uid === account.uid) return (stat.mode >> 6) & 7;
  if (stat.gid === account.gid) return (stat.mode >> 3) & 7;
  return stat.mode & 7;
}

/**
 * The directories above `target` that `account` cannot traverse, top first. Plain mode bits: the account
 * has no supplementary groups, and an ACL could only widen what this finds.
 */
export async function closedAncestors(target: string, account: Pick<Account, 'uid' | 'gid'>): Promise<{ dir: string; mode: number; uid: number }[]> {
  const closed: { dir: string; mode: number; uid: number }[] = [];
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    const stat = await fs.stat(dir);
    if ((bitsFor(stat, account) & 1) === 0) closed.unshift({ dir, mode: stat.mode & 0o7777, uid: stat.uid });
    if (dir === path.dirname(dir)) return closed;
  }
}

/**
 * Reads a file the agent user left, as root, without following a link: only a regular file owned by that
 * user and at most `limit` bytes. O_NONBLOCK: a FIFO in its place would otherwise wait for a writer. The
 * owner check is what makes a link in a parent directory harmless: whatever it leads to, a file the agent
 * owns is one it could have written anyway. null when there is no file.
 */
export async function readAgentFile(file: string, account: Pick<Account, 'name' | 'uid'>, limit = AGENT_FILE_LIMIT): Promise<string | null> {
  const refuse = (why: string) => new UserError(`Refusing to take ${file} back from ${account.name}: ${why}.`);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw refuse('it is a symbolic link');
    throw refuse(`it cannot be opened (${code ?? String(error)})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw refuse('it is not a regular file');
    if (stat.uid !== account.uid) throw refuse(`it is owned by uid ${stat.uid}, not by ${account.name} (uid ${account.uid})`);
    if (stat.size > limit) throw refuse(`it is ${stat.size} bytes, more than the ${limit} an auth.json can need`);
    const buffer = Buffer.alloc(limit + 1);
    const { bytesRead } = await handle.read(buffer, 0, limit + 1, 0);
    if (bytesRead > limit) throw refuse(`it grew past ${limit} bytes while being read`);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Live (not zombie) processes whose real or effective uid is `uid`, from /proc. */
export async function processesOf(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await fs.readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    if (uids && state !== 'Z' && state !== 'X' && (Number(uids[1]) === uid || Number(uids[2]) === uid)) pids.push(Number(entry));
  }
  return pids;
}

/** `true` when `inner` is `outer` or lies below it. */
export function isWithin(inner: string, outer: string): boolean {
  const rel = path.relative(path.resolve(outer), path.resolve(inner));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
