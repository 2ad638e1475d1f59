/**
 * Issue 5, faults: the built action with the real Codex CLI against the loopback backend, on a persistent
 * runner (runner store, file lock). Steps are killed, Codex fails or leaves a bad file, the disk refuses a
 * write. After each: the stored auth.json is the old one or the new one — never missing, garbled or older —
 * and the lock is released, or recoverable (the next job on the runner gets it).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startCodexBackend, type CodexBackend, type TokenFamily } from '../support/codex-backend.js';
import { codexBinary } from '../support/codex-cli.js';
import { leakedSecrets, newRunner, runStep, startStep, stepLogs, type Runner, type RunningStep, type StepOptions, type StepResult } from '../support/runner.js';

jest.setTimeout(120_000);

const PROMPT = 'Reply with the single word OK.';
let backend: CodexBackend;
const runners: Runner[] = [];
const logs: StepResult[] = [];
let runIds = 7000;

beforeAll(async () => {
  backend = await startCodexBackend();
});
afterAll(async () => {
  await backend.stop();
  runners.forEach((r) => r.remove());
});

interface Setup {
  runner: Runner;
  home: string;
  authPath: string;
  /** marks every process of this test's steps (and what they start), as the runner's tracking id does */
  marker: string;
}

function setup(): Setup {
  const runner = newRunner({ name: `faults-${runners.length}` });
  runners.push(runner);
  const home = path.join(runner.dir, 'codex-home');
  return { runner, home, authPath: path.join(home, 'auth.json'), marker: randomUUID() };
}

function options(s: Setup, inputs: Record<string, string>): StepOptions {
  return {
    runner: s.runner,
    inputs: { 'codex-home': s.home, 'codex-args': JSON.stringify(backend.args()), lock: 'file', 'lock-timeout': '15', ...inputs },
    env: { ...backend.env(s.home, {}), PATH: `${path.dirname(codexBinary())}:${process.env.PATH}`, CODEX_AUTH_FAULT_MARK: s.marker },
    job: { runId: String(runIds++) },
  };
}

async function step(script: 'main' | 'post', o: StepOptions): Promise<StepResult> {
  const result = await runStep(script, o);
  logs.push(result);
  return result;
}

async function killed(running: RunningStep): Promise<StepResult> {
  running.child.kill('SIGKILL');
  const result = await running.done;
  logs.push(result);
  return result;
}

/** post with the state the (possibly killed) main left, as the runner hands it over. */
const post = (o: StepOptions, main: StepResult) => step('post', { ...o, state: main.state, jobEnv: main.env });

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The runner ends a job by killing what its steps left running, found by an environment marker
 * (RUNNER_TRACKING_ID). Killing main with SIGKILL leaves codex running in its own group; this does what the
 * runner does, by process id.
 */
async function killLeftovers(marker: string): Promise<number> {
  const pids = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').includes(`CODEX_AUTH_FAULT_MARK=${marker}`);
      } catch {
        return false;
      }
    })
    .map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await until(() => pids.every((pid) => !alive(pid)), 5000, 'leftover processes to die');
  return pids.length;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

const read = (file: string) => readFileSync(file, 'utf8');
const refreshTokenOf = (text: string) => (JSON.parse(text) as { tokens: { refresh_token: string } }).tokens.refresh_token;
const lastRefreshOf = (text: string) => Date.parse((JSON.parse(text) as { last_refresh: string }).last_refresh);

/**
 * The invariant: the stored copy is exactly the old one, or the new one Codex wrote — a valid file whose
 * refresh token is the one the token service accepts now, and not older than the old one.
 */
function expectOldOrNew(s: Setup, old: string, family: TokenFamily): 'old' | 'new' {
  expect(existsSync(s.authPath)).toBe(true);
  const text = read(s.authPath);
  if (text === old) {
    // the old copy is only good if the service did not move on (Codex did not refresh, or the refresh was lost)
    expect(refreshTokenOf(text)).toBe(family.refreshToken);
    return 'old';
  }
  expect(() => JSON.parse(text)).not.toThrow();
  expect(refreshTokenOf(text)).toBe(family.refreshToken);
  expect(lastRefreshOf(text)).toBeGreaterThanOrEqual(lastRefreshOf(old));
  return 'new';
}

/** The next job on the same runner gets the lock (released, or taken over) and, when `ok`, runs on the stored copy. */
async function nextJobGetsTheLock(s: Setup, { ok = true, inputs = {} }: { ok?: boolean; inputs?: Record<string, string> } = {}): Promise<StepResult> {
  const o = options(s, { 'lock-timeout': '10', ...inputs });
  const main = await step('main', o);
  expect(main.stdout).toMatch(/Holding the file lock since/);
  if (ok) expect(main.exitCode).toBe(0);
  const after = await post(o, main);
  expect(after.exitCode).toBe(0);
  expect(existsSync(path.join(s.home, 'codex-auth.lock'))).toBe(false);
  return main;
}

const noLockLeft = (s: Setup) => expect(existsSync(path.join(s.home, 'codex-auth.lock'))).toBe(false);

describe('killed steps', () => {
  test('main killed (SIGKILL) during the Codex run: post with the state saved so far keeps the refreshed file and releases the lock', async () => {
    const s = setup();
    const { family, authJson: seed } = backend.issue({ stale: true });
    const o = options(s, { 'auth-json': seed, prompt: PROMPT });
    const responses = backend.responsesRequests.length;
    backend.settings.responsesDelayMs = 5000;
    let main: StepResult;
    try {
      const running = startStep('main', o);
      await until(() => backend.responsesRequests.length > responses, 30_000, 'codex to ask the backend for a response');
      main = await killed(running);
      expect(await killLeftovers(s.marker)).toBeGreaterThan(0);
    } finally {
      backend.settings.responsesDelayMs = 0;
    }
    expect(main.signal).toBe('SIGKILL');
    expect(JSON.parse(main.state['codex-auth'] ?? '{}')).toMatchObject({ lock: { kind: 'file' }, ready: { source: 'seed' } });
    const p = await post(o, main);
    expect(p.exitCode).toBe(0);
    noLockLeft(s);
    // Codex refreshed before it asked for a response, and wrote the new file: that is what stays
    expect(expectOldOrNew(s, seed, family)).toBe('new');
    expect(p.stdout).toContain('Codex refreshed auth.json');
    await nextJobGetsTheLock(s);
  });

  test.each<[string, 0 | 'lock' | 'lock+15' | 'lock+40']>([
    ['as soon as it starts', 0],
    ['when the lock file appears', 'lock'],
    ['just after the lock file appears', 'lock+15'],
    ['a little later', 'lock+40'],
  ])('main killed during restore (%s): the stored copy is the old one or the seed, and the lock is recoverable', async (_name, when) => {
    const s = setup();
    const { family, authJson: stored } = backend.issue({ lastRefresh: new Date(Date.now() - 3600_000) });
    mkdirSync(s.home, { recursive: true, mode: 0o700 });
    writeFileSync(s.authPath, stored, { mode: 0o600 });
    // a newer seed of the same account: main would replace the stored copy with it
    const newer = backend.issue({ accountId: family.identity.accountId, email: family.identity.email });
    const o = options(s, { 'auth-json': newer.authJson });
    const running = startStep('main', o);
    if (when !== 0) {
      await until(() => existsSync(path.join(s.home, 'codex-auth.lock')) || running.child.exitCode !== null, 10_000, 'the lock file');
      const extra = when === 'lock' ? 0 : Number(when.split('+')[1]);
      if (extra) await new Promise((resolve) => setTimeout(resolve, extra));
    }
    const main = await killed(running);
    const p = await post(o, main);
    expect(p.exitCode).toBe(0);
    const text = read(s.authPath);
    expect([stored, newer.authJson]).toContain(text);
    // no half-written auth.json anywhere (a kill between writing and renaming leaves at most a temp file,
    // which nothing reads; the lock's own temp file may stay behind the same way and is not a lock)
    expect(readdirSync(s.home).filter((f) => f.startsWith('.auth.json.') && !f.endsWith('.tmp'))).toEqual([]);
    expect(readdirSync(s.home).filter((f) => !/^(auth\.json|codex-auth\.lock|\.auth\.json\.[0-9a-f]+\.tmp|codex-auth\.lock\.[0-9a-f]+\.tmp)$/.test(f))).toEqual([]);
    // whatever post could do, the next job on this runner gets the lock (released, or taken over), and with
    // the same newer seed ends where an undisturbed job would have
    const next = await nextJobGetsTheLock(s, { inputs: { 'auth-json': newer.authJson } });
    expect(next.outputs.source).toBe(text === stored ? 'seed' : 'runner');
    expect(read(s.authPath)).toBe(newer.authJson);
  });

  test.each([0, 40, 80, 120])('post killed %i ms after it starts, while it puts back a garbled file: the file is whole (old or as Codex left it), and the lock is recoverable', async (delay) => {
    const s = setup();
    const { family, authJson: seed } = backend.issue();
    const o = options(s, { 'auth-json': seed });
    const main = await step('main', o);
    expect(main.exitCode).toBe(0);
    const junk = '{"auth_mode":"chatgpt","tokens":{"id_token":"ey';
    writeFileSync(s.authPath, junk);
    const running = startStep('post', { ...o, state: main.state, jobEnv: main.env });
    if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
    const p = await killed(running);
    expect([junk, seed]).toContain(read(s.authPath));
    expect(readdirSync(s.home).filter((f) => f.startsWith('.auth.json')).length).toBeLessThanOrEqual(1);
    if (read(s.authPath) === seed) expect(refreshTokenOf(seed)).toBe(family.refreshToken);
    const next = await nextJobGetsTheLock(s, { ok: read(s.authPath) === seed });
    if (read(s.authPath) === junk) {
      // post died before it could put the copy back: the next job says so, and does not quietly seed
      expect(next.exitCode).toBe(1);
      expect(next.errors.join('\n')).toMatch(/The stored .*auth\.json \(delete it to seed again from `auth-json`\) is not valid JSON/);
    }
    expect(p.signal === 'SIGKILL' || p.exitCode === 0).toBe(true);
  });

  test('post killed while Codex’s refreshed file is in place: the refreshed file stays, the next job takes the lock over', async () => {
    const s = setup();
    const { family, authJson: seed } = backend.issue({ stale: true });
    const o = options(s, { 'auth-json': seed, prompt: PROMPT });
    const main = await step('main', o);
    expect(main.outputs.refreshed).toBe('true');
    const running = startStep('post', { ...o, state: main.state, jobEnv: main.env });
    await killed(running);
    expect(expectOldOrNew(s, seed, family)).toBe('new');
    const next = await nextJobGetsTheLock(s);
    // the killed post may or may not have released it; if not, the same runner running another job frees it
    if (existsSync(path.join(s.home, 'codex-auth.lock'))) expect(next.stdout).toContain('Taking over the lock');
  });
});

describe('Codex fails', () => {
  test('codex exits non-zero (an argument it does not know): main fails with the exit code, the stored copy is byte-identical, the lock is released', async () => {
    const s = setup();
    const { family, authJson: seed } = backend.issue();
    const first = options(s, { 'auth-json': seed });
    const seeded = await step('main', first);
    await post(first, seeded);
    const before = read(s.authPath);
    const o = options(s, { prompt: PROMPT, 'codex-args': JSON.stringify([...backend.args(), '--no-such-flag']) });
    const main = await step('main', o);
    expect(main.exitCode).toBe(1);
    expect(main.outputs['exit-code']).toBe('2');
    expect(main.errors.join('\n')).toMatch(/^codex exec failed \(exit 2\)/);
    const p = await post(o, main);
    expect(p.exitCode).toBe(0);
    expect(read(s.authPath)).toBe(before);
    expect(expectOldOrNew(s, before, family)).toBe('old');
    noLockLeft(s);
    await nextJobGetsTheLock(s);
  });

  test('an expired, unrefreshable seed: codex exits 1, the step says to seed again, the file is byte-identical', async () => {
    const s = setup();
    const { family, authJson: seed } = backend.issue({ stale: true });
    family.failure = 'expired';
    const o = options(s, { 'auth-json': seed, prompt: PROMPT });
    const main = await step('main', o);
    expect(main.exitCode).toBe(1);
    expect(main.outputs['exit-code']).toBe('1');
    expect(main.errors.join('\n')).toMatch(/refresh token can no longer be used.*Seed again: run `codex login`/s);
    const p = await post(o, main);
    expect(p.exitCode).toBe(0);
    expect(read(s.authPath)).toBe(seed);
    noLockLeft(s);
  });

  test.each([
    ['missing (deleted)', 'missing', (file: string) => rmSync(file)],
    ['garbled', 'invalid', (file: string) => writeFileSync(file, 'not json at all {')],
    ['older (an earlier login put back)', 'older', (file: string) => writeFileSync(file, JSON.stringify({ ...JSON.parse(read(file)), last_refresh: '2020-01-01T00:00:00Z' }, null, 2))],
  ])('Codex leaves auth.json %s: post puts main’s copy back with a warning, and the lock is released', async (_name, kind, spoil) => {
    const s = setup();
    const { family, authJson: seed } = backend.issue();
    const o = options(s, { 'auth-json': seed, prompt: PROMPT });
    const main = await step('main', o);
    expect(main.exitCode).toBe(0);
    expect(main.outputs.refreshed).toBe('false');
    spoil(s.authPath);
    const p = await post(o, main);
    expect(p.exitCode).toBe(0);
    expect(p.warnings.join('\n')).toMatch(new RegExp(`auth\\.json in .* was ${kind}: .*Put back the copy this job started with`));
    expect(read(s.authPath)).toBe(seed);
    expect(expectOldOrNew(s, seed, family)).toBe('old');
    noLockLeft(s);
    await nextJobGetsTheLock(s);
  });
});

describe('the disk refuses a write', () => {
  const prlimit = (() => {
    try {
      execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  (prlimit ? test : test.skip)('main cannot write the newer seed (file size limit, EFBIG): the stored copy stays, main fails saying so, post releases the lock', async () => {
    const s = setup();
    const { family, authJson: stored } = backend.issue({ lastRefresh: new Date(Date.now() - 3600_000) });
    mkdirSync(s.home, { recursive: true, mode: 0o700 });
    writeFileSync(s.authPath, stored, { mode: 0o600 });
    const newer = backend.issue({ accountId: family.identity.accountId });
    expect(Buffer.byteLength(newer.authJson)).toBeGreaterThan(1024);
    const o = options(s, { 'auth-json': newer.authJson });
    const running = startStep('main', o);
    // RLIMIT_FSIZE on the step process: small files (the lock, state, outputs) fit, auth.json does not
    execFileSync('prlimit', ['--pid', String(running.child.pid), '--fsize=1024:1024']);
    expect(readFileSync(`/proc/${running.child.pid}/limits`, 'utf8')).toMatch(/Max file size\s+1024\s+1024/);
    const main = await running.done;
    logs.push(main);
    expect(main.exitCode).toBe(1);
    expect(main.errors.join('\n')).toMatch(new RegExp(`Failed to write ${s.authPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: EFBIG`));
    expect(read(s.authPath)).toBe(stored);
    expect(readdirSync(s.home).sort()).toEqual(['auth.json', 'codex-auth.lock']);
    const p = await post(o, main);
    expect(p.exitCode).toBe(0);
    noLockLeft(s);
    expect(read(s.authPath)).toBe(stored);
    await nextJobGetsTheLock(s);
  });

  test('auth.json replaced by a directory between main and post: post fails naming the file, keeps its hands off the directory, releases the lock', async () => {
    const s = setup();
    const { authJson: seed } = backend.issue();
    const o = options(s, { 'auth-json': seed });
    const main = await step('main', o);
    expect(main.exitCode).toBe(0);
    rmSync(s.authPath);
    mkdirSync(s.authPath);
    writeFileSync(path.join(s.authPath, 'something'), 'x');
    const p = await post(o, main);
    expect(p.exitCode).toBe(1);
    expect(p.errors.join('\n')).toMatch(new RegExp(`^Failed to persist the refreshed auth\\.json: .*${path.basename(s.home)}/auth\\.json`));
    expect(`${p.stdout}\n${p.stderr}`).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(read(path.join(s.authPath, 'something'))).toBe('x');
    noLockLeft(s);
    // the next job gets the lock and refuses the directory clearly instead of seeding over it
    const next = await nextJobGetsTheLock(s, { ok: false });
    expect(next.exitCode).toBe(1);
    expect(next.errors.join('\n')).toMatch(/Refusing to read .*auth\.json: it is not a regular file/);
  });
});

test('no token reached any log', () => {
  const secrets = backend.families.flatMap((f) => [f.refreshToken, f.accessToken, f.idToken, ...f.used, ...f.oldAccessTokens]);
  expect(secrets.length).toBeGreaterThan(20);
  expect(leakedSecrets(stepLogs(...logs), secrets)).toEqual([]);
});
