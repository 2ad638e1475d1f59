/**
 * The command store against a file-backed secret manager script (support/secret-manager.mjs), run through
 * the real shell: what the commands see, what reaches the log, and the compare-and-swap.
 */
import { afterAll, beforeEach, describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashText, parseAuthFile, type AuthFile } from '../../src/auth-file.js';
import { readContext } from '../../src/context.js';
import { UserError } from '../../src/errors.js';
import type { Inputs } from '../../src/inputs.js';
import type { Clock, Log } from '../../src/log.js';
import { CommandStore, STORE_COMMAND_TIMEOUT_MS } from '../../src/stores/command.js';
import { makeAuthJson, makeRefreshToken } from '../support/codex-backend.js';
import { ROOT } from '../support/runner.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const HOUR = 3600_000;
const MANAGER = path.join(ROOT, '__tests__', 'support', 'secret-manager.mjs');
const SEED = makeAuthJson({ accountId: 'acct-1', lastRefresh: new Date(T0), refreshToken: makeRefreshToken() });

const root = mkdtempSync(path.join(os.tmpdir(), 'command-store-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let secretFile: string;
beforeEach(() => {
  secretFile = path.join(mkdtempSync(path.join(root, 'secret-')), 'codex-auth.json');
});

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const get = () => `node ${q(MANAGER)} get "$SECRET_FILE"`;
const put = () => `node ${q(MANAGER)} put "$SECRET_FILE"`;

interface Recorded extends Log {
  lines: string[];
}

const clock: Clock = { now: () => T0, sleep: async () => undefined };

/** The step's environment as the runner gives it, with this action's inputs in it (which the commands must not see). */
function stepEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: os.homedir(),
    GITHUB_REPOSITORY: 'octo/repo',
    GITHUB_RUN_ID: '42',
    RUNNER_TEMP: root,
    SECRET_FILE: secretFile,
    'INPUT_AUTH-JSON': SEED,
    'INPUT_GITHUB-TOKEN': 'ghs_input_token_0123456789',
    STATE_codex_auth: '{"v":1}',
    ACTIONS_RUNTIME_TOKEN: 'runtime-token-0123456789',
    ACTIONS_RESULTS_URL: 'http://127.0.0.1:1/',
    ...extra,
  };
}

function store(over: Partial<Inputs> = {}, env: NodeJS.ProcessEnv = stepEnv()): { store: CommandStore; log: Recorded } {
  const lines: string[] = [];
  const log: Recorded = { lines, info: (m) => lines.push(`info: ${m}`), warning: (m) => lines.push(`warning: ${m}`), debug: () => undefined };
  const inputs = {
    authJson: SEED, key: 'codex-auth', restoreCommand: get(), persistCommand: put(), ...over,
  } as Inputs;
  return { store: new CommandStore({ ctx: readContext(env), inputs, log, clock, authPath: path.join(root, 'auth.json') }, env), log };
}

function authFile(lastRefresh: number): AuthFile {
  return parseAuthFile(makeAuthJson({ accountId: 'acct-1', lastRefresh: new Date(lastRefresh), refreshToken: makeRefreshToken() }), 'test auth.json');
}

const tokensOf = (file: AuthFile) => Object.values((JSON.parse(file.text) as { tokens: Record<string, string> }).tokens).filter((t) => t.length > 20);
const calls = () => (existsSync(`${secretFile}.calls`) ? readFileSync(`${secretFile}.calls`, 'utf8').trim().split('\n') : []);

describe('CommandStore', () => {
  test('nothing stored: `restore-command` prints nothing, restore is null', async () => {
    const { store: s, log } = store();
    expect(await s.restore()).toBeNull();
    expect(log.lines).toContain('info: `restore-command` printed nothing: no auth.json is stored yet.');
  });

  test('round trip: persist writes the file through stdin, a later job restores the same bytes', async () => {
    const refreshed = authFile(T0 + HOUR);
    expect(await store().store.persist(refreshed, null)).toBe('written');
    expect(readFileSync(secretFile, 'utf8')).toBe(refreshed.text);
    const stored = await store().store.restore();
    expect(stored?.auth.text).toBe(refreshed.text);
    expect(stored?.version).toBe(hashText(refreshed.text));
  });

  test('the commands see the step environment without INPUT_*, STATE_* or the runner credentials, plus CODEX_AUTH_KEY', async () => {
    const envFile = path.join(root, 'env-seen.json');
    const dump = `node -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env))' ${q(envFile)}`;
    await store({ key: 'team-a', restoreCommand: dump }, stepEnv({ VAULT_ADDR: 'https://vault.example' })).store.restore();
    const seen = JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>;
    expect(Object.keys(seen).filter((n) => /^(INPUT_|STATE_)/i.test(n))).toEqual([]);
    expect(seen.ACTIONS_RUNTIME_TOKEN).toBeUndefined();
    expect(seen.ACTIONS_RESULTS_URL).toBeUndefined();
    expect(JSON.stringify(seen)).not.toContain(JSON.parse(SEED).tokens.refresh_token);
    expect(seen).toMatchObject({ PATH: process.env.PATH, HOME: os.homedir(), GITHUB_RUN_ID: '42', RUNNER_TEMP: root, VAULT_ADDR: 'https://vault.example', CODEX_AUTH_KEY: 'team-a' });
  });

  test('stdout is never logged; stderr is, after the command ends, line by line', async () => {
    const file = authFile(T0 + HOUR);
    const { store: s, log } = store();
    await s.persist(file, null);
    await s.restore();
    const text = log.lines.join('\n');
    expect(text).toContain('persist-command: secret-manager: stored');
    for (const token of tokensOf(file)) expect(text).not.toContain(token.slice(0, 16));
  });

  test('a failing `restore-command` fails restore (the seed is not used) and shows its stderr', async () => {
    const { store: s, log } = store({}, stepEnv({ SECRET_MANAGER_FAIL: 'get' }));
    const failed = s.restore();
    await expect(failed).rejects.toThrow(UserError);
    await expect(s.restore()).rejects.toThrow(/^`restore-command` exited with code 3, so the stored auth.json could not be read\. The `auth-json` seed was NOT used.*rotated long ago/);
    expect(log.lines.join('\n')).toMatch(/^restore-command: secret-manager: get denied: AccessDeniedException \(test\)$/m);
  });

  test('a failing command early in a pipeline fails too (pipefail), rather than looking like "nothing stored"', async () => {
    const { store: s } = store({ restoreCommand: `SECRET_MANAGER_FAIL=get ${get()} | cat` });
    await expect(s.restore()).rejects.toThrow(/exited with code 3/);
  });

  test("a command's stderr runs no workflow command: it is relayed inside stop-commands, a lone CR included", async () => {
    const { store: s, log } = store({ restoreCommand: `printf '::add-mask::x\\r::save-state name=codex-auth::{}\\n' >&2` });
    expect(await s.restore()).toBeNull();
    const [block] = log.lines.filter((l) => l.includes('save-state'));
    const lines = (block as string).replace(/^info: /, '').split('\n');
    const token = /^::stop-commands::([0-9a-f]{32})$/.exec(lines[0] as string)?.[1];
    expect(token).toBeDefined();
    expect(lines.slice(1)).toEqual(['restore-command: ::add-mask::x', 'restore-command: ::save-state name=codex-auth::{}', `::${token}::`]);
  });

  test('a command that reads stdin during restore gets end-of-file at once, not a hang', async () => {
    expect(await store({ restoreCommand: 'cat' }).store.restore()).toBeNull();
  });

  test('output that is not an auth.json is refused, naming where it came from', async () => {
    await expect(store({ restoreCommand: 'echo not-json-at-all' }).store.restore()).rejects.toThrow(/The output of `restore-command` is not an auth.json/);
  });

  test('a failing `persist-command` fails persist with what was lost and the fix', async () => {
    const { store: s, log } = store({}, stepEnv({ SECRET_MANAGER_FAIL: 'put' }));
    await expect(s.persist(authFile(T0 + HOUR), null)).rejects.toThrow(/^`persist-command` exited with code 3: the refreshed auth.json was NOT stored.*`codex login`/);
    expect(log.lines.join('\n')).toMatch(/^persist-command: secret-manager: put denied: AccessDeniedException \(test\)$/m);
    expect(existsSync(secretFile)).toBe(false);
  });

  describe('compare-and-swap', () => {
    test('the store moved on to a newer copy: conflict, `persist-command` not run', async () => {
      await store().store.persist(authFile(T0 + HOUR), null);
      const base = (await store().store.restore())?.version ?? null;
      const newer = authFile(T0 + 3 * HOUR);
      await store().store.persist(newer, base);
      const before = calls().filter((c) => c === 'put').length;
      const result = await store().store.persist(authFile(T0 + 2 * HOUR), base);
      expect(typeof result === 'object' && result.conflict.auth.text).toBe(newer.text);
      expect(calls().filter((c) => c === 'put')).toHaveLength(before);
      expect(readFileSync(secretFile, 'utf8')).toBe(newer.text);
    });

    test('the store moved on to an older copy: ours is newer and is written', async () => {
      writeFileSync(secretFile, authFile(T0 + HOUR).text);
      const ours = authFile(T0 + 2 * HOUR);
      expect(await store().store.persist(ours, 'some-other-version')).toBe('written');
      expect(readFileSync(secretFile, 'utf8')).toBe(ours.text);
    });

    test('the store already holds this very file: unchanged', async () => {
      const file = authFile(T0 + HOUR);
      writeFileSync(secretFile, file.text);
      expect(await store().store.persist(file, null)).toBe('unchanged');
      expect(calls()).toEqual(['get']);
    });

    test('when `restore-command` fails in post, the refreshed file is still written, with a warning', async () => {
      const file = authFile(T0 + HOUR);
      const { store: s, log } = store({ restoreCommand: 'exit 7' });
      expect(await s.persist(file, null)).toBe('written');
      expect(log.lines.join('\n')).toMatch(/warning: Could not check what the store holds now \(`restore-command` exited with code 7\)/);
      expect(readFileSync(secretFile, 'utf8')).toBe(file.text);
    });
  });

  test('an empty `restore-command` or `persist-command` is a UserError naming the input', () => {
    expect(() => store({ restoreCommand: '' })).toThrow(/`store: command` needs `restore-command`.*set `restore-command` on the codex-auth step/);
    expect(() => store({ persistCommand: ' ' })).toThrow(/`store: command` needs `persist-command`/);
  });
});

describe('deadlines', () => {
  /** Gone, or a zombie nobody reaped yet: either way no longer running. */
  const running = (pid: number) => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  };
  const pids = (file: string) => readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
  /** A command that never ends, with a child of its own, that writes both PIDs to `file`. */
  const forever = (file: string) => `sleep 1000 & echo $$ $! > ${q(file)}; wait`;

  test('a `restore-command` that never ends is killed at the deadline with everything it started, and the error names it, the input and the limit', async () => {
    const pidFile = path.join(root, `pids-${Date.now()}`);
    const command = forever(pidFile);
    const { store: s } = store({ restoreCommand: command }, stepEnv({ CODEX_AUTH_COMMAND_TIMEOUT_SECONDS: '1' }));
    const started = Date.now();
    const error = await s.restore().catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(
      `\`restore-command\` (\`${command.length > 80 ? `${command.slice(0, 80)}…` : command}\`) did not finish within 1 s and was killed, with everything it started. Make it finish sooner (a command that waits for input, a login or a network that does not answer hangs so), or set the environment variable CODEX_AUTH_COMMAND_TIMEOUT_SECONDS on the step to allow it longer.`,
    );
    for (const pid of pids(pidFile)) expect(running(pid)).toBe(false);
  });

  test('a `persist-command` that never ends is killed too; the refreshed file it was given appears in no message', async () => {
    const pidFile = path.join(root, `pids-${Date.now()}`);
    const file = authFile(T0 + HOUR);
    const { store: s, log } = store({ restoreCommand: 'true', persistCommand: `cat > /dev/null; ${forever(pidFile)}` }, stepEnv({ CODEX_AUTH_COMMAND_TIMEOUT_SECONDS: '1' }));
    const error = (await s.persist(file, null).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^`persist-command` \(`cat > \/dev\/null; sleep 1000 &.*`\) did not finish within 1 s and was killed/);
    for (const token of tokensOf(file)) expect(`${error.message}\n${log.lines.join('\n')}`).not.toContain(token.slice(0, 16));
    for (const pid of pids(pidFile)) expect(running(pid)).toBe(false);
  });

  test('the default limit is 5 minutes; CODEX_AUTH_COMMAND_TIMEOUT_SECONDS must be whole seconds', () => {
    expect(STORE_COMMAND_TIMEOUT_MS).toBe(300_000);
    expect(() => store({}, stepEnv({ CODEX_AUTH_COMMAND_TIMEOUT_SECONDS: '1.5' }))).toThrow("CODEX_AUTH_COMMAND_TIMEOUT_SECONDS is '1.5': expected a whole number of seconds, at least 1.");
  });

  test('a job cancelled while a command runs (SIGTERM to the action) stops the command and its children at once', async () => {
    const pidFile = path.join(root, `pids-${Date.now()}`);
    const { store: s } = store({ restoreCommand: forever(pidFile) });
    const before = process.listeners('SIGTERM').length;
    const restoring = s.restore().catch((e: unknown) => e);
    for (let i = 0; i < 200 && !(existsSync(pidFile) && readFileSync(pidFile, 'utf8').includes(' ')); i++) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    process.emit('SIGTERM');
    const error = (await restoring) as Error;
    expect(Date.now() - started).toBeLessThan(4000);
    expect(error.message).toMatch(/^Cancelled: `restore-command` .* was stopped\.$/);
    for (const pid of pids(pidFile)) expect(running(pid)).toBe(false);
    expect(process.listeners('SIGTERM')).toHaveLength(before);
  });
});
