/**
 * Issue 5, bad input: each case runs the BUILT main as the runner does, then post with the state main saved.
 * Main fails (exit 1) with an `::error::` that names the problem and no stack trace; a stored auth.json
 * placed beforehand is byte-identical afterwards; post still exits 0, leaves the stored copy alone and
 * releases the lock.
 */
import { afterAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { authText, editAuth, unwritablePath } from '../support/fixtures.js';
import { makeJwt } from '../support/codex-backend.js';
import { leakedSecrets, newRunner, runStep, stepLogs, type Runner, type StepOptions, type StepResult } from '../support/runner.js';

jest.setTimeout(60_000);

const runners: Runner[] = [];
const logs: StepResult[] = [];
const secrets: string[] = [];
afterAll(() => runners.forEach((r) => r.remove()));

/** A valid auth.json placed in codex-home before the job: the stored copy that must survive. */
function storedText(): string {
  const text = authText({ accountId: 'acct-stored', lastRefresh: new Date() });
  collectSecrets(text);
  return text;
}

function collectSecrets(text: string): void {
  try {
    const tokens = (JSON.parse(text) as { tokens?: Record<string, unknown> }).tokens ?? {};
    for (const [name, value] of Object.entries(tokens)) if (name !== 'account_id' && typeof value === 'string' && value.length >= 8) secrets.push(value);
  } catch {
    // not JSON: nothing to collect
  }
}

/** A seed for the bad-seed cases: valid tokens so that leaks can be looked for, then spoiled. */
function seedWith(edit: (json: { [k: string]: unknown; tokens: Record<string, unknown> }) => void): string {
  const text = editAuth(authText({ accountId: 'acct-seed' }), edit);
  collectSecrets(text);
  return text;
}

/** Where the case's stored copy lives, and what it must still be afterwards. */
interface Placed {
  /** the path whose bytes (or kind, for a directory, link or FIFO) must not change */
  path: string | null;
  snapshot: () => string;
}

interface Case {
  name: string;
  inputs?: (home: string, runner: Runner) => Record<string, string>;
  /** prepares codex-home; by default a valid stored auth.json */
  place?: (home: string, runner: Runner) => Placed;
  job?: (runner: Runner) => StepOptions['job'];
  error: RegExp;
  /** main fails before the lock is taken: post has no state */
  beforeLock?: boolean;
  skip?: string;
}

function describePath(p: string): string {
  if (!existsSync(p) && !isLink(p)) return 'absent';
  const stat = lstatSync(p);
  if (stat.isSymbolicLink()) return `link -> ${readlinkSync(p)}`;
  if (stat.isFIFO()) return 'fifo';
  if (stat.isDirectory()) return `dir mode ${(stat.mode & 0o777).toString(8)}`;
  return `file ${stat.mode & 0o777}:${readFileSync(p, 'utf8')}`;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The default placement: a valid stored auth.json. */
function storedAuth(home: string): Placed {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = path.join(home, 'auth.json');
  writeFileSync(file, storedText(), { mode: 0o600 });
  return { path: file, snapshot: () => describePath(file) };
}

/** A stored auth.json that is not a usable regular file. */
function storedAs(make: (file: string) => void) {
  return (home: string): Placed => {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const file = path.join(home, 'auth.json');
    make(file);
    return { path: file, snapshot: () => describePath(file) };
  };
}

function eventFile(runner: Runner, head: string): string {
  const file = path.join(runner.dir, `event-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify({ pull_request: { head: { repo: { full_name: head } }, base: { repo: { full_name: 'octo/repo' } } } }));
  return file;
}

const API_KEY = 'sk-proj-badinput-\\"quoted"-0123456789abcdef';
const unwritable = unwritablePath();

const CASES: Case[] = [
  {
    name: 'empty auth-json with nothing stored',
    place: (home) => ({ path: path.join(home, 'auth.json'), snapshot: () => describePath(path.join(home, 'auth.json')) }),
    inputs: () => ({ 'auth-json': '' }),
    error: /^No auth\.json to use: the runner store holds none and `auth-json` is empty\. Sign in with `codex login`/,
  },
  { name: 'auth-json that is not JSON', inputs: () => ({ 'auth-json': '{"auth_mode": "chatgpt", "tokens": ' }), error: /^Input `auth-json` is not valid JSON: expected the JSON of `~\/\.codex\/auth\.json` or base64 of it\.$/ },
  { name: 'auth-json that is plain text', inputs: () => ({ 'auth-json': 'paste your auth.json here' }), error: /^Input `auth-json` is not an auth\.json: expected the JSON of/ },
  { name: 'auth-json that is base64 of garbage', inputs: () => ({ 'auth-json': Buffer.concat([Buffer.from('x'), randomBytes(600)]).toString('base64') }), error: /^Input `auth-json` is not an auth\.json/ },
  {
    name: 'an API-key auth.json',
    inputs: () => {
      secrets.push('sk-proj-in-auth-json-0123456789');
      return { 'auth-json': JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-proj-in-auth-json-0123456789' }) };
    },
    error: /^Input `auth-json` is an API-key auth\.json \(auth_mode 'apikey'\): pass the key in `openai-api-key` instead/,
  },
  { name: 'auth_mode chatgptAuthTokens', inputs: () => ({ 'auth-json': seedWith((j) => void (j.auth_mode = 'chatgptAuthTokens')) }), error: /auth_mode 'chatgptAuthTokens': those tokens are managed by a host application/ },
  { name: 'a missing refresh token', inputs: () => ({ 'auth-json': seedWith((j) => void delete j.tokens.refresh_token) }), error: /^Input `auth-json` has no `tokens\.refresh_token`, so Codex could never refresh it/ },
  { name: 'a missing account_id', inputs: () => ({ 'auth-json': seedWith((j) => void delete j.tokens.account_id) }), error: /^Input `auth-json` has no `tokens\.account_id`, and Codex does not refresh without one/ },
  { name: 'a malformed JWT', inputs: () => ({ 'auth-json': seedWith((j) => void (j.tokens.access_token = 'eyJ.not-a-jwt')) }), error: /^Input `auth-json`: `tokens\.access_token` is not a JWT/ },
  { name: 'a JWT with claims of the wrong type', inputs: () => ({ 'auth-json': seedWith((j) => void (j.tokens.id_token = makeJwt({ email: 42 }))) }), error: /`tokens\.id_token` has claims of an unexpected type/ },
  { name: 'a bad last_refresh', inputs: () => ({ 'auth-json': seedWith((j) => void (j.last_refresh = 'last tuesday')) }), error: /`last_refresh` is 'last tuesday', which is not an RFC 3339 time/ },
  {
    // An environment variable holds at most 128 KiB on Linux, so this is as huge as an input can get.
    name: 'huge input (100 KB of base64)',
    inputs: () => ({ 'auth-json': randomBytes(75_000).toString('base64') }),
    error: /^Input `auth-json` is not an auth\.json: expected the JSON of `~\/\.codex\/auth\.json` or base64 of it\.$/,
  },
  { name: 'unknown store', inputs: () => ({ store: 'disk' }), error: /^Input `store` is 'disk', which is not one of: `runner`, `cache`, `github-secret`, `command`, `auto`\.$/, beforeLock: true },
  { name: 'unknown lock', inputs: () => ({ lock: 'flock' }), error: /^Input `lock` is 'flock', which is not one of: `none`, `file`, `github`, `auto`\.$/, beforeLock: true },
  { name: 'negative lock-timeout', inputs: () => ({ 'lock-timeout': '-5' }), error: /^Input `lock-timeout` is '-5': expected a whole number of seconds from 0 to 604800\.$/, beforeLock: true },
  { name: 'non-number lock-timeout', inputs: () => ({ 'lock-timeout': 'an hour' }), error: /^Input `lock-timeout` is 'an hour'/, beforeLock: true },
  { name: 'a bad key', inputs: () => ({ key: '../escape' }), error: /^Input `key` is '\.\.\/escape': use 1 to 64 letters/, beforeLock: true },
  { name: 'a bad lock-repository', inputs: () => ({ 'lock-repository': 'not-a-repo' }), error: /^Input `lock-repository` is 'not-a-repo': expected format \{owner\}\/\{repo\}\.$/, beforeLock: true },
  { name: 'a boolean that is not one', inputs: () => ({ 'allow-untrusted': 'yes' }), error: /^Input `allow-untrusted` is 'yes', which is not a boolean: use `true` or `false`\.$/, beforeLock: true },
  {
    name: 'codex-home that is a file',
    place: (home) => {
      mkdirSync(path.dirname(home), { recursive: true });
      writeFileSync(home, 'a file, not a directory');
      return { path: home, snapshot: () => describePath(home) };
    },
    inputs: () => ({ 'auth-json': authText() }),
    error: /^Cannot use .*codex-home as a directory: a file is in the way\. Point `codex-home` at a directory\.$/,
    beforeLock: true,
  },
  {
    name: `codex-home that cannot be created (${unwritable?.how ?? 'none here'})`,
    place: () => ({ path: null, snapshot: () => '' }),
    inputs: () => ({ 'codex-home': (unwritable as { path: string }).path, 'auth-json': authText() }),
    error: /^Cannot create .*: permission denied \((EACCES|EPERM|EROFS)\)\. Point `codex-home` at a directory the runner's user can write\.$/,
    beforeLock: true,
    skip: unwritable ? undefined : 'no directory here refuses a mkdir (running as root without sysfs)',
  },
  {
    name: 'a garbled stored auth.json (with a valid seed)',
    place: storedAs((f) => writeFileSync(f, '{"auth_mode":"chatgpt","tokens":{"id_tok', { mode: 0o600 })),
    inputs: () => ({ 'auth-json': authText() }),
    error: /^The stored .*auth\.json \(delete it to seed again from `auth-json`\) is not valid JSON/,
  },
  {
    name: 'a stored auth.json that is a directory',
    place: storedAs((f) => mkdirSync(f)),
    inputs: () => ({ 'auth-json': authText() }),
    error: /^Refusing to read .*auth\.json: it is not a regular file\.$/,
  },
  {
    name: 'a stored auth.json that is a FIFO (would block a plain read)',
    place: storedAs((f) => execFileSync('mkfifo', [f])),
    inputs: () => ({ 'auth-json': authText() }),
    error: /^Refusing to read .*auth\.json: it is not a regular file\.$/,
  },
  {
    name: 'a stored auth.json that is a symlink',
    place: storedAs((f) => {
      const target = path.join(path.dirname(f), '..', 'elsewhere.json');
      writeFileSync(target, storedText());
      symlinkSync(target, f);
    }),
    inputs: () => ({ 'auth-json': authText() }),
    error: /^Refusing to read .*auth\.json: the path is a symbolic link\.$/,
  },
  {
    name: 'two auth modes',
    inputs: () => {
      secrets.push(API_KEY);
      return { 'auth-json': authText(), 'openai-api-key': API_KEY };
    },
    error: /^Inputs `auth-json` and `openai-api-key` are both set: give exactly one auth mode/,
    beforeLock: true,
  },
  { name: 'codex-args that is a JSON array of non-strings', inputs: () => ({ 'codex-args': '["--model", 5]', prompt: 'hi' }), error: /^Input `codex-args` is a JSON array whose items are not all strings/, beforeLock: true },
  { name: 'codex-args with an unclosed quote', inputs: () => ({ 'codex-args': `-c 'model="gpt-5"`, prompt: 'hi' }), error: /^Input `codex-args` has an unclosed ' quote/, beforeLock: true },
  { name: 'prompt and prompt-file', inputs: () => ({ prompt: 'hi', 'prompt-file': 'prompt.md' }), error: /^Inputs `prompt` and `prompt-file` are both set: give one of them\.$/, beforeLock: true },
  { name: 'a missing prompt-file', inputs: () => ({ 'prompt-file': 'no-such-prompt.md' }), error: /^Cannot read `prompt-file` .*no-such-prompt\.md: ENOENT$/, beforeLock: true },
  {
    name: 'a pull request from a fork',
    job: (runner) => ({ eventName: 'pull_request', eventPath: eventFile(runner, 'stranger/fork') }),
    error: /^Refusing to run on a pull request from the fork stranger\/fork: .*Set `allow-untrusted: true`/,
    beforeLock: true,
  },
  {
    name: 'pull_request_target',
    job: (runner) => ({ eventName: 'pull_request_target', eventPath: eventFile(runner, 'octo/repo') }),
    error: /^Refusing to run on a 'pull_request_target' event/,
    beforeLock: true,
  },
];

const STACK = /^\s+at .+(:\d+:\d+\)?|\(node:.+\))$/m;

describe('bad input through the built action', () => {
  test('there are at least 20 cases', () => {
    expect(CASES.filter((c) => !c.skip).length).toBeGreaterThanOrEqual(20);
  });

  for (const c of CASES) {
    (c.skip ? test.skip : test)(c.skip ? `${c.name} (skipped: ${c.skip})` : c.name, async () => {
      const runner = newRunner({ name: 'bad-input-runner' });
      runners.push(runner);
      const home = path.join(runner.dir, 'codex-home');
      const placed = (c.place ?? storedAuth)(home, runner);
      const before = placed.snapshot();
      const options: StepOptions = {
        runner,
        inputs: { 'codex-home': home, 'lock-timeout': '5', ...(c.inputs?.(home, runner) ?? {}) },
        job: { runId: String(5000 + CASES.indexOf(c)), ...(c.job?.(runner) ?? {}) },
      };

      const main = await runStep('main', options);
      logs.push(main);
      expect({ exit: main.exitCode, errors: main.errors }).toEqual({ exit: 1, errors: [expect.stringMatching(c.error)] });
      expect(`${main.stdout}\n${main.stderr}`).not.toMatch(STACK);
      expect(main.stderr).toBe('');
      expect(placed.snapshot()).toBe(before);
      // before the lock main saved nothing; after it, the lock handle, so that post can release it
      if (c.beforeLock) expect(main.state).toEqual({});
      else expect(JSON.parse(main.state['codex-auth'] ?? '{}')).toMatchObject({ lock: { kind: 'file' } });

      const post = await runStep('post', { ...options, state: main.state, jobEnv: main.env });
      logs.push(post);
      expect(post.exitCode).toBe(0);
      expect(post.errors).toEqual([]);
      expect(`${post.stdout}\n${post.stderr}`).not.toMatch(STACK);
      expect(placed.snapshot()).toBe(before);
      if (placed.path && lstatSync(path.dirname(placed.path), { throwIfNoEntry: false })?.isDirectory()) {
        expect(existsSync(path.join(path.dirname(placed.path), 'codex-auth.lock'))).toBe(false);
      }
    });
  }

  test('a missing `working-directory` fails before Codex starts, naming the input and the path (not "Failed to start …/codex")', async () => {
    const runner = newRunner({ name: 'bad-input-runner' });
    runners.push(runner);
    const home = path.join(runner.dir, 'codex-home');
    const placed = storedAuth(home);
    const before = placed.snapshot();
    // a codex on PATH that leaves a mark if anything starts it
    const bin = path.join(runner.dir, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'codex'), `#!/bin/sh\ntouch "${bin}/started"\necho codex-cli 0.0.1\n`, { mode: 0o755 });
    const options: StepOptions = {
      runner,
      inputs: { 'codex-home': home, 'lock-timeout': '5', prompt: 'hi', 'working-directory': 'no-such-dir' },
      env: { PATH: `${bin}:${process.env.PATH ?? ''}` },
      job: { runId: '5999' },
    };
    const main = await runStep('main', options);
    logs.push(main);
    expect({ exit: main.exitCode, errors: main.errors }).toEqual({
      exit: 1,
      errors: [
        `Input \`working-directory\` is ${path.join(runner.workspace, 'no-such-dir')}, which does not exist: Codex runs there. Create it in an earlier step (check out the repository first), or fix \`working-directory\` (relative paths start at the workspace).`,
      ],
    });
    expect(`${main.stdout}\n${main.stderr}`).not.toMatch(STACK);
    expect(existsSync(path.join(bin, 'started'))).toBe(false);
    const post = await runStep('post', { ...options, state: main.state, jobEnv: main.env });
    logs.push(post);
    expect({ exit: post.exitCode, errors: post.errors }).toEqual({ exit: 0, errors: [] });
    expect(placed.snapshot()).toBe(before);
    expect(existsSync(path.join(home, 'codex-auth.lock'))).toBe(false);
  });

  test('no token or key of any case reached any log', () => {
    expect(secrets.length).toBeGreaterThan(20);
    expect(leakedSecrets(stepLogs(...logs), secrets)).toEqual([]);
  });
});
