/**
 * The file lock on a real directory, with a clock the test moves (a sleep advances it and yields), and
 * once with the real clock for several acquirers at the same time.
 */
import { afterAll, describe, expect, jest, test } from '@jest/globals';
import { existsSync, promises as fsPromises, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RunContext } from '../../src/context.js';
import { UserError } from '../../src/errors.js';
import { FileLock } from '../../src/locks/file.js';
import { LEASE_MS, type Acquired, type LockHandle } from '../../src/locks/lock.js';
import { systemClock, type Clock } from '../../src/log.js';
import { startGithubApi } from '../support/github-api.js';
import { cleanupTempDirs, fakeClock, recordingLog, rejection, runContext, T0, tempDir, type FakeClock, type RecordingLog } from '../support/fixtures.js';

afterAll(cleanupTempDirs);

interface Party {
  lock: FileLock;
  log: RecordingLog;
  ctx: RunContext;
}

/** One job's view of the lock on `home`. */
function party(home: string, clock: Clock, ctx: Partial<RunContext> = {}): Party {
  const log = recordingLog();
  const context = runContext(ctx);
  return { lock: new FileLock({ ctx: context, log, clock, codexHome: home, key: 'codex-auth', lockRepository: 'octo/repo', githubToken: '' }), log, ctx: context };
}

const lockFile = (home: string) => path.join(home, 'codex-auth.lock');
const owner = (home: string) => JSON.parse(readFileSync(lockFile(home), 'utf8')) as Record<string, unknown>;
const tokenOf = (handle: LockHandle) => (handle.kind === 'file' ? handle.token : '');

describe('acquire and release', () => {
  test('a second codex-auth step of the same job fails at once instead of waiting for itself', async () => {
    const home = tempDir();
    const clock = fakeClock();
    const job = { repository: 'octo/a', runId: '11', runAttempt: '1', job: 'build', runnerName: 'r-a' };
    await party(home, clock, job).lock.acquire({ timeoutMs: 1000 });
    const started = clock.now();
    await expect(party(home, clock, job).lock.acquire({ timeoutMs: 3_600_000 })).rejects.toThrow(/This job already holds the lock .* once per job/);
    expect(clock.now() - started).toBeLessThan(1000);
  });

  test('acquire creates the lock file with its owner and a lease; release removes it', async () => {
    const home = tempDir();
    const clock = fakeClock();
    const a = party(home, clock, { repository: 'octo/a', runId: '11', runAttempt: '2', job: 'build', runnerName: 'r-a' });
    const { handle, waitedMs } = await a.lock.acquire({ timeoutMs: 1000 });
    expect(waitedMs).toBe(0);
    expect(handle).toEqual({ kind: 'file', path: lockFile(home), token: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(owner(home)).toEqual({
      token: tokenOf(handle),
      repository: 'octo/a',
      runId: '11',
      runAttempt: '2',
      job: 'build',
      runnerName: 'r-a',
      acquiredAt: T0,
      leaseUntil: T0 + LEASE_MS,
    });
    expect(statSync(lockFile(home)).mode & 0o777).toBe(0o600);
    expect(readdirSync(home)).toEqual(['codex-auth.lock']);
    await a.lock.release(handle);
    expect(existsSync(lockFile(home))).toBe(false);
  });

  test('creates codex-home 0700 when it does not exist', async () => {
    const home = path.join(tempDir(), 'new-home');
    const a = party(home, fakeClock());
    await a.lock.acquire({ timeoutMs: 0 });
    expect(statSync(home).mode & 0o777).toBe(0o700);
  });

  test('a second acquirer waits, says for whom, and gets the lock once the first releases', async () => {
    const home = tempDir();
    const clock = fakeClock();
    const a = party(home, clock, { runId: '1', runnerName: 'r-a', job: 'first' });
    const b = party(home, clock, { runId: '2', runnerName: 'r-b' });
    const held = await a.lock.acquire({ timeoutMs: 0 });
    let releasedAt = 0;
    clock.onSleep = async (n) => {
      if (n === 3) {
        await a.lock.release(held.handle);
        releasedAt = clock.now();
      }
    };
    const got = await b.lock.acquire({ timeoutMs: 60_000 });
    expect(clock.sleeps).toHaveLength(3);
    expect(got.waitedMs).toBe(releasedAt - T0);
    expect(got.waitedMs).toBeCloseTo(clock.sleeps.reduce((x, y) => x + y, 0), 0);
    expect(owner(home).token).toBe(tokenOf(got.handle));
    expect(owner(home).runId).toBe('2');
    // said once per holder, not once per poll
    const waiting = b.log.lines.filter((l) => l.message.startsWith('Waiting for the lock'));
    expect(waiting).toHaveLength(1);
    expect(waiting[0]?.message).toContain("held by job 'first' of https://github.example/octo/repo/actions/runs/1 (attempt 1) on runner 'r-a'");
  });

  test('polls back off but stay within 2 s', async () => {
    const home = tempDir();
    const clock = fakeClock();
    const a = party(home, clock, { runId: '1', runnerName: 'r-a' });
    const b = party(home, clock, { runId: '2', runnerName: 'r-b' });
    await a.lock.acquire({ timeoutMs: 0 });
    await rejection(b.lock.acquire({ timeoutMs: 30_000 }));
    expect(clock.sleeps.length).toBeGreaterThan(10);
    expect(Math.max(...clock.sleeps)).toBeLessThanOrEqual(2000);
    expect(clock.sleeps[0]).toBeLessThanOrEqual(200);
    // from the fifth poll on, 1 to 2 s (jittered); only the last one is cut short by the timeout
    expect(clock.sleeps.slice(4, -1).every((ms) => ms >= 1000)).toBe(true);
  });

  test('a release by someone else (another token) does nothing', async () => {
    const home = tempDir();
    const a = party(home, fakeClock());
    const { handle } = await a.lock.acquire({ timeoutMs: 0 });
    const before = readFileSync(lockFile(home), 'utf8');
    await party(home, fakeClock(), { runId: '2' }).lock.release({ kind: 'file', path: lockFile(home), token: 'f'.repeat(32) });
    expect(readFileSync(lockFile(home), 'utf8')).toBe(before);
    await a.lock.release(handle);
    expect(existsSync(lockFile(home))).toBe(false);
  });

  test('release is idempotent, and a late second release does not free the next holder', async () => {
    const home = tempDir();
    const clock = fakeClock();
    const a = party(home, clock, { runId: '1', runnerName: 'r-a' });
    const b = party(home, clock, { runId: '2', runnerName: 'r-b' });
    const first = await a.lock.acquire({ timeoutMs: 0 });
    await a.lock.release(first.handle);
    await a.lock.release(first.handle);
    const second = await b.lock.acquire({ timeoutMs: 0 });
    await a.lock.release(first.handle);
    expect(owner(home).token).toBe(tokenOf(second.handle));
  });

  test('release of another kind of handle, or of a lock file that is gone, is a no-op', async () => {
    const home = tempDir();
    const a = party(home, fakeClock());
    await expect(a.lock.release({ kind: 'none' })).resolves.toBeUndefined();
    await expect(a.lock.release({ kind: 'file', path: lockFile(home), token: 'x' })).resolves.toBeUndefined();
  });
});

describe('dead holders', () => {
  test('a holder whose lease ran out is taken over at once, with a log line naming it', async () => {
    const home = tempDir();
    const clock = fakeClock();
    const dead = party(home, clock, { repository: 'octo/old', runId: '77', job: 'nightly', runnerName: 'r-old' });
    await dead.lock.acquire({ timeoutMs: 0 });
    clock.advance(LEASE_MS + 1);
    const b = party(home, clock, { runId: '78', runnerName: 'r-new' });
    const got = await b.lock.acquire({ timeoutMs: 0 });
    expect(got.waitedMs).toBe(0);
    expect(owner(home).runId).toBe('78');
    expect(b.log.text('info')).toMatch(
      /^Taking over the lock .*codex-auth\.lock: its holder \(job 'nightly' of https:\/\/github\.example\/octo\/old\/actions\/runs\/77 \(attempt 1\) on runner 'r-old' since 2026-03-01T10:00:00\.000Z\) let its lease run out\.$/m,
    );
    expect(readdirSync(home)).toEqual(['codex-auth.lock']);
  });

  test('a lease that has not run out is respected', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { runId: '1', runnerName: 'r-a' }).lock.acquire({ timeoutMs: 0 });
    clock.advance(LEASE_MS - 60_000);
    const b = party(home, clock, { runId: '2', runnerName: 'r-b' });
    await expect(b.lock.acquire({ timeoutMs: 10_000 })).rejects.toThrow(/Timed out/);
    expect(owner(home).runId).toBe('1');
  });

  test('the same runner name running another job means the holder is gone', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { runId: '1', job: 'a', runnerName: 'shared-runner' }).lock.acquire({ timeoutMs: 0 });
    const next = party(home, clock, { runId: '2', job: 'b', runnerName: 'shared-runner' });
    const got = await next.lock.acquire({ timeoutMs: 0 });
    expect(got.waitedMs).toBe(0);
    expect(next.log.text('info')).toContain("ran on runner 'shared-runner', which now runs this job, so its job is over");
  });

  test('the same runner name in the same job (same run, attempt and job) is not taken as dead', async () => {
    const home = tempDir();
    const clock = fakeClock();
    const ids = { runId: '1', job: 'a', runnerName: 'shared-runner' };
    await party(home, clock, ids).lock.acquire({ timeoutMs: 0 });
    await expect(party(home, clock, ids).lock.acquire({ timeoutMs: 1000 })).rejects.toThrow(UserError);
  });

  test('another attempt of the same job on the same runner takes over (the first attempt is over)', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { runId: '1', runAttempt: '1', runnerName: 'r' }).lock.acquire({ timeoutMs: 0 });
    await expect(party(home, clock, { runId: '1', runAttempt: '2', runnerName: 'r' }).lock.acquire({ timeoutMs: 0 })).resolves.toMatchObject({ waitedMs: 0 });
  });

  test('an empty runner name never matches (an older runner that does not say its name)', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { runId: '1', runnerName: '' }).lock.acquire({ timeoutMs: 0 });
    await expect(party(home, clock, { runId: '2', runnerName: '' }).lock.acquire({ timeoutMs: 500 })).rejects.toThrow(/Timed out/);
  });

  test.each([
    ['garbage', 'not json at all'],
    ['empty', ''],
    ['JSON of another shape', '{"holder": "someone"}'],
  ])('an unparseable lock file (%s) is treated as expired', async (_name, content) => {
    const home = tempDir();
    writeFileSync(lockFile(home), content);
    const b = party(home, fakeClock());
    const got = await b.lock.acquire({ timeoutMs: 0 });
    expect(got.waitedMs).toBe(0);
    expect(owner(home).token).toBe(tokenOf(got.handle));
    expect(b.log.text('info')).toMatch(/Taking over the lock .*an unknown run.*let its lease run out/);
  });
});

describe('timeout', () => {
  test('fails after lock-timeout with a message naming the holder and its run URL', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { repository: 'octo/other', runId: '4242', runAttempt: '3', job: 'deploy', runnerName: 'box-7' }).lock.acquire({ timeoutMs: 0 });
    const b = party(home, clock, { runId: '5', runnerName: 'box-8' });
    const error = await rejection(b.lock.acquire({ timeoutMs: 45_000 }));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain('Timed out after 45 s waiting for the lock');
    expect(error.message).toContain("held by job 'deploy' of https://github.example/octo/other/actions/runs/4242 (attempt 3) on runner 'box-7'");
    expect(error.message).toContain('raise `lock-timeout`');
    // it waited the whole timeout and not much more
    expect(clock.now() - T0).toBeGreaterThanOrEqual(45_000);
    expect(clock.now() - T0).toBeLessThan(45_000 + 2000);
    expect(owner(home).runId).toBe('4242');
  });

  test('a timeout of 0 fails at the first look', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { runId: '1', runnerName: 'r-a' }).lock.acquire({ timeoutMs: 0 });
    await expect(party(home, clock, { runId: '2', runnerName: 'r-b' }).lock.acquire({ timeoutMs: 0 })).rejects.toThrow(/Timed out after 0 s/);
    expect(clock.sleeps).toEqual([]);
  });

  test('an abort signal ends the wait', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { runId: '1', runnerName: 'r-a' }).lock.acquire({ timeoutMs: 0 });
    const controller = new AbortController();
    clock.onSleep = (n) => void (n === 2 && controller.abort(new Error('cancelled')));
    await expect(party(home, clock, { runId: '2', runnerName: 'r-b' }).lock.acquire({ timeoutMs: 600_000, signal: controller.signal })).rejects.toThrow('cancelled');
    expect(clock.sleeps).toHaveLength(2);
  });
});

describe('several acquirers at once (real clock)', () => {
  test('exactly one holds the lock at any time, and all get it', async () => {
    const home = tempDir();
    const parties = Array.from({ length: 6 }, (_, i) => party(home, systemClock, { runId: String(100 + i), runnerName: `runner-${i}` }));
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      parties.map(async (p, i) => {
        const { handle } = await p.lock.acquire({ timeoutMs: 30_000 });
        inside++;
        maxInside = Math.max(maxInside, inside);
        expect(owner(home).token).toBe(tokenOf(handle));
        order.push(i);
        await new Promise((resolve) => setTimeout(resolve, 25));
        expect(owner(home).token).toBe(tokenOf(handle));
        inside--;
        await p.lock.release(handle);
      }),
    );
    expect(maxInside).toBe(1);
    expect(order.sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(readdirSync(home)).toEqual([]);
  }, 30_000);

  test('several waiters on one dead holder: exactly one takes it over, the others keep waiting (300 rounds)', async () => {
    // A slow waiter that saw the dead holder must not remove the fresh lock a faster one made in its place.
    const doubles: number[] = [];
    for (let round = 0; round < 300; round++) {
      const home = tempDir();
      const clock: FakeClock = fakeClock();
      await party(home, clock, { runId: '1', runnerName: 'gone' }).lock.acquire({ timeoutMs: 0 });
      clock.advance(LEASE_MS + 1);
      const waiters = Array.from({ length: 10 }, (_, i) => party(home, clock, { runId: String(10 + i), runnerName: `w-${i}` }));
      const results = await Promise.allSettled(waiters.map((w) => w.lock.acquire({ timeoutMs: 2_000 })));
      const won = results.filter((r): r is PromiseFulfilledResult<Acquired> => r.status === 'fulfilled');
      if (won.length !== 1) doubles.push(round);
      else expect(owner(home).token).toBe(tokenOf(won[0]!.value.handle));
      for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/Timed out/);
      expect(readdirSync(home).sort()).toEqual(['codex-auth.lock']);
    }
    expect(doubles).toEqual([]);
  }, 60_000);

  test("an old holder's late release racing the takeover of its lock never deletes the new holder's lock (300 rounds)", async () => {
    // Real concurrency, no forced order: whatever the interleaving, one holder and its file stand (the
    // interleaving that broke the old read-then-remove release is forced in the next test).
    const lost: number[] = [];
    for (let round = 0; round < 300; round++) {
      const home = tempDir();
      const clock: FakeClock = fakeClock();
      const old = party(home, clock, { runId: '1', runnerName: 'slow' });
      const { handle } = await old.lock.acquire({ timeoutMs: 0 });
      clock.advance(LEASE_MS + 1);
      const next = party(home, clock, { runId: '2', runnerName: 'next' });
      const [taken] = await Promise.all([next.lock.acquire({ timeoutMs: 10_000 }), old.lock.release(handle)]);
      // the new holder's file is in place, and a third job cannot get in
      if (!existsSync(lockFile(home)) || owner(home).token !== tokenOf(taken.handle)) lost.push(round);
      await expect(party(home, clock, { runId: '3', runnerName: 'third' }).lock.acquire({ timeoutMs: 0 })).rejects.toThrow(/Timed out/);
      expect(readdirSync(home)).toEqual(['codex-auth.lock']);
    }
    expect(lost).toEqual([]);
  }, 60_000);

  test("a takeover that lands between the old holder's look at its lock and the removal keeps the new holder's lock", async () => {
    // The exact interleaving, made certain: the file system answers the old holder's read with its own
    // (expired) owner, and only then lets the next job take the lock over.
    const home = tempDir();
    const clock = fakeClock();
    const old = party(home, clock, { runId: '1', runnerName: 'slow' });
    const first = await old.lock.acquire({ timeoutMs: 0 });
    clock.advance(LEASE_MS + 1);
    const next = party(home, clock, { runId: '2', runnerName: 'next' });
    let second: Acquired | null = null;
    const read = fsPromises.readFile.bind(fsPromises);
    const spy = jest.spyOn(fsPromises, 'readFile').mockImplementationOnce((async (file: string, options: unknown) => {
      const text = await read(file, options as BufferEncoding);
      second = await next.lock.acquire({ timeoutMs: 0 });
      return text;
    }) as typeof fsPromises.readFile);
    try {
      await old.lock.release(first.handle);
    } finally {
      spy.mockRestore();
    }
    expect(second).not.toBeNull();
    expect(owner(home).token).toBe(tokenOf((second as unknown as Acquired).handle));
    expect(old.log.text('warning')).toMatch(/was taken over .* the new holder keeps it/);
    expect(readdirSync(home)).toEqual(['codex-auth.lock']);
    await expect(party(home, clock, { runId: '3', runnerName: 'third' }).lock.acquire({ timeoutMs: 0 })).rejects.toThrow(/Timed out/);
  });

  test('a stale takeover guard replaced by a fresh one between the look and the removal keeps the fresh one', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { runId: '1', runnerName: 'gone' }).lock.acquire({ timeoutMs: 0 });
    clock.advance(LEASE_MS + 1);
    const guard = `${lockFile(home)}.break`;
    writeFileSync(guard, JSON.stringify({ token: 'crashed', at: clock.now() - 60_000 }));
    const read = fsPromises.readFile.bind(fsPromises);
    const spy = jest.spyOn(fsPromises, 'readFile').mockImplementation((async (file: string, options: unknown) => {
      const text = await read(file, options as BufferEncoding);
      if (file === guard && text.includes('crashed')) {
        // another waiter removed the stale guard and made its own just now
        rmSync(guard);
        writeFileSync(guard, JSON.stringify({ token: 'fresh', at: clock.now() }));
      }
      return text;
    }) as typeof fsPromises.readFile);
    try {
      await expect(party(home, clock, { runId: '2', runnerName: 'r-b' }).lock.acquire({ timeoutMs: 0 })).rejects.toThrow(/Timed out/);
    } finally {
      spy.mockRestore();
    }
    expect(JSON.parse(readFileSync(guard, 'utf8'))).toMatchObject({ token: 'fresh' });
    expect(readdirSync(home).sort()).toEqual(['codex-auth.lock', 'codex-auth.lock.break']);
  });

  test('a takeover guard that is fresh is left alone, even when an unreadable one was there a moment before', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { runId: '1', runnerName: 'gone' }).lock.acquire({ timeoutMs: 0 });
    clock.advance(LEASE_MS + 1);
    const guard = `${lockFile(home)}.break`;
    writeFileSync(guard, JSON.stringify({ token: 'busy', at: clock.now() }));
    const b = party(home, clock, { runId: '2', runnerName: 'r-b' });
    await expect(b.lock.acquire({ timeoutMs: 5_000 })).rejects.toThrow(/Timed out/);
    expect(JSON.parse(readFileSync(guard, 'utf8'))).toEqual({ token: 'busy', at: expect.any(Number) });
    expect(readdirSync(home).sort()).toEqual(['codex-auth.lock', 'codex-auth.lock.break']);
  });

  test('a takeover guard left by a waiter that died is cleared once stale, and the dead holder is then taken over', async () => {
    const home = tempDir();
    const clock = fakeClock();
    await party(home, clock, { runId: '1', runnerName: 'gone' }).lock.acquire({ timeoutMs: 0 });
    clock.advance(LEASE_MS + 1);
    writeFileSync(`${lockFile(home)}.break`, JSON.stringify({ token: 'crashed', at: clock.now() }));
    const b = party(home, clock, { runId: '2', runnerName: 'r-b' });
    const got = await b.lock.acquire({ timeoutMs: 120_000 });
    expect(owner(home).token).toBe(tokenOf(got.handle));
    // while the guard is fresh nobody takes over; after 30 s it is cleared
    expect(got.waitedMs).toBeGreaterThanOrEqual(30_000);
    expect(got.waitedMs).toBeLessThan(35_000);
    expect(b.log.text('info')).toContain('let its lease run out');
    expect(readdirSync(home)).toEqual(['codex-auth.lock']);
  });
});

describe('a holder whose run the GitHub API reports completed', () => {
  test('is taken over at once, with the run named; while its run is in progress, it is waited for', async () => {
    const api = await startGithubApi();
    try {
      const home = tempDir();
      const clock = fakeClock();
      const holderJob = { repository: 'octo/repo', runId: '4242', runAttempt: '1', job: 'codex', runnerName: 'host-a', apiUrl: api.url };
      await new FileLock({ ctx: runContext(holderJob), log: recordingLog(), clock, codexHome: home, key: 'codex-auth', lockRepository: 'octo/repo', githubToken: 'ghs_holder' }).acquire({ timeoutMs: 1000 });
      api.setRunStatus('octo/repo', 4242, 'in_progress');
      const log = recordingLog();
      const waiter = new FileLock({ ctx: runContext({ repository: 'octo/repo', runId: '4243', job: 'codex', runnerName: 'host-b', apiUrl: api.url }), log, clock, codexHome: home, key: 'codex-auth', lockRepository: 'octo/repo', githubToken: 'ghs_waiter' });
      await expect(waiter.acquire({ timeoutMs: 5_000 })).rejects.toThrow(/Timed out .* held by job 'codex'/);
      api.setRunStatus('octo/repo', 4242, 'completed', 'failure');
      clock.advance(31_000);
      const { waitedMs } = await waiter.acquire({ timeoutMs: 5_000 });
      expect(waitedMs).toBe(0);
      expect(log.lines.map((l) => l.message).join('\n')).toMatch(/Taking over the lock .*runs\/4242 .*reports completed \(failure\)/);
    } finally {
      await api.stop();
    }
  });
});
