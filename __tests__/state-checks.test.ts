import { describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { ticketName } from '../src/locks/github.js';
import { distrustLock, distrustState, isScratchPath, type Expected } from '../src/state-checks.js';
import type { MainState } from '../src/state.js';
import { runContext } from './support/fixtures.js';

const ctx = runContext({ runnerTemp: '/runner/_temp', runId: '1000', runAttempt: '2', job: 'review', repository: 'octo/repo' });
const home = '/home/runner/.codex';
const expected = (over: Partial<Expected> = {}): Expected => ({ ctx, codexHome: home, store: 'cache', lock: 'github', key: 'codex-auth', lockRepository: 'octo/locks', ...over });
const owner = { repository: 'octo/repo', runId: '1000', runAttempt: '2', job: 'review', runnerName: 'r1', leaseSeconds: 21600 };
const ownRef = `refs/codex-auth-locks/codex-auth/${ticketName(Date.now(), 'a1b2c3d4', owner)}`;

function state(over: { lock?: MainState['lock']; ready?: Partial<NonNullable<MainState['ready']>>; loginHome?: MainState['loginHome'] } = {}): MainState {
  return {
    v: 1,
    lock: over.lock ?? { kind: 'github', repository: 'octo/locks', ref: ownRef },
    lockWaitMs: 0,
    loginHome: over.loginHome,
    ready: {
      codexHome: home,
      authPath: path.join(home, 'auth.json'),
      restoredHash: 'h',
      restoredLastRefresh: 1,
      store: 'cache',
      storeVersion: null,
      source: 'cache',
      cleanup: true,
      backupPath: '/runner/_temp/codex-auth-0123456789ab/last-good.json',
      accountId: 'acct',
      email: null,
      ...over.ready,
    },
  };
}

describe('distrustState', () => {
  test('what main writes for this job passes', async () => {
    expect(await distrustState(state(), expected())).toBeNull();
    expect(await distrustState({ v: 1, lock: { kind: 'none' }, lockWaitMs: 0, loginHome: { codexHome: home, cleanup: true } }, expected({ lock: 'none' }))).toBeNull();
  });

  test.each([
    ['a codex-home elsewhere', { ready: { codexHome: '/victim' } }, /codex-home \/victim is not the input's/],
    ['auth.json outside codex-home', { ready: { authPath: '/victim/auth.json' } }, /auth.json path \/victim\/auth.json is not in codex-home/],
    ['another store', { ready: { store: 'command' as const } }, /store `command` is not the input's/],
    ['a scratch path outside RUNNER_TEMP', { ready: { backupPath: '/victim/codex-auth-0123456789ab/last-good.json' } }, /scratch path/],
    ['a scratch path that climbs out', { ready: { backupPath: '/runner/_temp/codex-auth-0123456789ab/../../victim/last-good.json' } }, /scratch path/],
    ['a scratch dir of another name', { ready: { backupPath: '/runner/_temp/victim/last-good.json' } }, /scratch path/],
    ['an api-key home elsewhere', { loginHome: { codexHome: '/victim', cleanup: true } }, /codex-home \/victim/],
  ])('%s is refused', async (_name, over, reason) => {
    expect(await distrustState(state(over), expected())).toMatch(reason);
  });
});

test('lock-scope: refresh on the runner store: a private home in RUNNER_TEMP/codex-auth-<hex>/home passes, and only then', async () => {
  const jobHome = '/runner/_temp/codex-auth-0123456789ab/home';
  const ready = { codexHome: jobHome, authPath: `${jobHome}/auth.json`, store: 'runner' as const };
  const shared = { ...state({ lock: { kind: 'none' }, ready }), shared: { lock: 'file' as const, lockHeldMs: 500, refreshedAhead: false } };
  expect(await distrustState(shared, expected({ store: 'runner', lock: 'file' }))).toBeNull();
  expect(await distrustState({ ...shared, shared: undefined }, expected({ store: 'runner', lock: 'file' }))).toMatch(/codex-home .* is not the input's/);
  expect(await distrustState({ ...shared, ready: { ...shared.ready!, store: 'command' } }, expected({ store: 'command', lock: 'file' }))).toMatch(/codex-home .* is not the input's/);
  expect(await distrustState({ ...shared, ready: { ...shared.ready!, codexHome: '/runner/_temp/codex-auth-0123456789ab/../../victim', authPath: '/victim/auth.json' } }, expected({ store: 'runner', lock: 'file' }))).toMatch(/is not the input's/);
});

describe('distrustLock', () => {
  test('a ticket of this run, attempt and job under this key, in lock-repository, is ours', async () => {
    expect(await distrustLock({ kind: 'github', repository: 'octo/locks', ref: ownRef }, expected())).toBeNull();
  });

  test.each([
    ['another run', { ...owner, runId: '999' }],
    ['another attempt', { ...owner, runAttempt: '1' }],
    ['another job of the same run', { ...owner, job: 'other' }],
    ['another repository', { ...owner, repository: 'evil/repo' }],
  ])("a ticket of %s is not released", async (_name, who) => {
    const ref = `refs/codex-auth-locks/codex-auth/${ticketName(Date.now(), 'a1b2c3d4', who)}`;
    expect(await distrustLock({ kind: 'github', repository: 'octo/locks', ref }, expected())).toMatch(/is not one this job \(run 1000, attempt 2, job review\) queued/);
  });

  test('a ticket under another key, a ref that is no ticket, another repository, or a lock of another kind is refused', async () => {
    const otherKey = ownRef.replace('/codex-auth/', '/other/');
    expect(await distrustLock({ kind: 'github', repository: 'octo/locks', ref: otherKey }, expected())).toMatch(/not one this job/);
    expect(await distrustLock({ kind: 'github', repository: 'octo/locks', ref: 'refs/heads/main' }, expected())).toMatch(/not one this job/);
    expect(await distrustLock({ kind: 'github', repository: 'octo/repo', ref: ownRef }, expected())).toMatch(/lock repository octo\/repo is not `lock-repository`/);
    expect(await distrustLock({ kind: 'file', path: path.join(home, 'codex-auth.lock'), token: 't' }, expected())).toMatch(/this step's lock is `github`/);
  });

  test("a file lock is ours only next to this step's auth.json", async () => {
    const e = expected({ lock: 'file' });
    expect(await distrustLock({ kind: 'file', path: path.join(home, 'codex-auth.lock'), token: 't' }, e)).toBeNull();
    expect(await distrustLock({ kind: 'file', path: '/shared/other/codex-auth.lock', token: 't' }, e)).toMatch(/lock file \/shared\/other\/codex-auth.lock is not this job's/);
  });
});

test('isScratchPath accepts exactly RUNNER_TEMP/codex-auth-<12 hex>/<file>', () => {
  expect(isScratchPath('/runner/_temp/codex-auth-0123456789ab/last-good.json', '/runner/_temp/', 'last-good.json')).toBe(true);
  expect(isScratchPath('/runner/_temp/codex-auth-0123456789ab/other.json', '/runner/_temp', 'last-good.json')).toBe(false);
  expect(isScratchPath('/runner/_temp/codex-auth-0123456789ab/x/last-good.json', '/runner/_temp', 'last-good.json')).toBe(false);
  expect(isScratchPath('runner/_temp/codex-auth-0123456789ab/last-good.json', 'runner/_temp', 'last-good.json')).toBe(true);
});
