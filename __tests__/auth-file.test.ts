/**
 * auth-file.ts: the only parser of auth.json, the rules (seed only when missing; persist only valid, changed,
 * not older), the masks, and the credential file I/O — on real temp files.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  chooseSource,
  decidePersist,
  EXPIRY_WINDOW_MS,
  hashText,
  isStale,
  maskEmail,
  nextRefreshAt,
  parseAuthFile,
  readCredentialFile,
  REFRESH_AGE_MS,
  withheldCopy,
  writeCredentialFile,
  type AuthFile,
  type AuthInfo,
} from '../src/auth-file.js';
import { UserError } from '../src/errors.js';
import { makeIdToken, makeJwt } from './support/codex-backend.js';
import { authText, captureStdout, cleanupTempDirs, DAY, editAuth, MINUTE, rejection, T0, tempDir, unwritablePath } from './support/fixtures.js';

afterAll(cleanupTempDirs);

const LABEL = 'Input `auth-json`';
const tokensOf = (text: string) => (JSON.parse(text) as { tokens: Record<string, string> }).tokens;

/** parseAuthFile with stdout captured (its masks), expecting a UserError. */
async function parseError(raw: string): Promise<{ message: string; masks: string[] }> {
  const { error, masks } = await captureStdout(() => parseAuthFile(raw, LABEL));
  expect(error).toBeInstanceOf(UserError);
  return { message: (error as Error).message, masks };
}

const parse = (text: string): AuthFile => parseAuthFile(text, LABEL);
const quiet = async <T>(fn: () => T): Promise<T> => (await captureStdout(fn)).value as T;

describe('parseAuthFile accepts', () => {
  const text = authText();

  test('raw JSON, keeping its exact bytes and their hash', async () => {
    const auth = await quiet(() => parse(text));
    expect(auth.text).toBe(text);
    expect(auth.hash).toBe(hashText(text));
    expect(auth.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test('base64 of it', async () => {
    expect((await quiet(() => parse(Buffer.from(text).toString('base64')))).text).toBe(text);
  });

  test('base64 wrapped at 76 columns, as `base64` prints it, with a trailing newline', async () => {
    const wrapped = `${Buffer.from(text).toString('base64').replace(/(.{76})/g, '$1\n')}\n`;
    expect(wrapped.split('\n').length).toBeGreaterThan(3);
    expect((await quiet(() => parse(wrapped))).text).toBe(text);
  });

  test('a byte-order mark, before the JSON or inside the base64', async () => {
    expect((await quiet(() => parse(`\uFEFF${text}`))).text).toBe(text);
    expect((await quiet(() => parse(Buffer.from(`\uFEFF${text}`).toString('base64')))).text).toBe(text);
  });

  test('unknown fields (Codex drops them when it rewrites the file)', async () => {
    const extra = editAuth(text, (j) => {
      j.future_field = { x: 1 };
      j.tokens.future_token = 'whatever-0123456789';
    });
    expect((await quiet(() => parse(extra))).info.accountId).toBe('acct-1');
  });
});

describe('parseAuthFile refuses, saying why', () => {
  const good = authText();

  test.each([
    ['empty', ''],
    ['only whitespace', '  \n\t '],
    ['plain text', 'hello world'],
    ['a JSON array', '[1, 2, 3]'],
    ['base64 of random bytes', randomBytes(300).toString('base64')],
    ['base64 of text that is not JSON', Buffer.from('just some words').toString('base64')],
  ])('%s', async (_name, raw) => {
    const { message } = await parseError(raw);
    expect(message).toBe(`${LABEL} is not an auth.json: expected the JSON of \`~/.codex/auth.json\` or base64 of it.`);
  });

  test.each([
    ['truncated JSON', good.slice(0, good.length / 2)],
    ['base64 of truncated JSON', Buffer.from(good.slice(0, 100)).toString('base64')],
    ['JSON with a trailing comma', '{"auth_mode": "chatgpt",}'],
  ])('%s', async (_name, raw) => {
    expect((await parseError(raw)).message).toBe(`${LABEL} is not valid JSON: expected the JSON of \`~/.codex/auth.json\` or base64 of it.`);
  });

  test('an API-key auth.json, and its key is masked', async () => {
    const { message, masks } = await parseError(JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-proj-secret-0123456789' }));
    expect(message).toMatch(/is an API-key auth\.json.*`openai-api-key`/);
    expect(message).not.toContain('sk-proj');
    expect(masks).toContain('sk-proj-secret-0123456789');
  });

  test('an API-key auth.json without auth_mode (older Codex)', async () => {
    expect((await parseError(JSON.stringify({ OPENAI_API_KEY: 'sk-old-0123456789', tokens: null }))).message).toMatch(/is an API-key auth\.json/);
  });

  test('chatgptAuthTokens (host-managed tokens)', async () => {
    const { message } = await parseError(editAuth(good, (j) => void (j.auth_mode = 'chatgptAuthTokens')));
    expect(message).toMatch(/auth_mode 'chatgptAuthTokens'.*managed by a host application/);
  });

  test.each(['agentIdentity', 'personalAccessToken', 'something-new'])('auth_mode %p', async (mode) => {
    expect((await parseError(editAuth(good, (j) => void (j.auth_mode = mode)))).message).toMatch(new RegExp(`auth_mode '${mode}': only 'chatgpt'`));
  });

  test('no tokens at all', async () => {
    expect((await parseError(JSON.stringify({ auth_mode: 'chatgpt', last_refresh: new Date(T0).toISOString() }))).message).toMatch(/has no `tokens`/);
  });

  test.each([
    ['missing', (t: Record<string, unknown>) => void delete t.refresh_token],
    ['null', (t: Record<string, unknown>) => void (t.refresh_token = null)],
    ['empty', (t: Record<string, unknown>) => void (t.refresh_token = '')],
  ])('refresh_token %s', async (_name, edit) => {
    const { message } = await parseError(editAuth(good, (j) => edit(j.tokens)));
    expect(message).toMatch(/no `tokens\.refresh_token`, so Codex could never refresh it/);
  });

  test('missing account_id, and the tokens are masked before the file is refused', async () => {
    const text = editAuth(good, (j) => void delete j.tokens.account_id);
    const { message, masks } = await parseError(text);
    expect(message).toMatch(/no `tokens\.account_id`, and Codex does not refresh without one/);
    const tokens = tokensOf(text);
    expect(masks).toEqual(expect.arrayContaining([tokens.id_token, tokens.access_token, tokens.refresh_token]));
  });

  test.each([
    ['id_token', 'not-a-jwt'],
    ['id_token', 'a.b'],
    ['access_token', 'aaa.!!!notbase64json.ccc'],
    ['access_token', `x.${Buffer.from('not json').toString('base64url')}.y`],
    ['access_token', 'a..c'],
  ])('%s %p is not a JWT', async (name, value) => {
    const { message } = await parseError(editAuth(good, (j) => void (j.tokens[name] = value)));
    expect(message).toContain(`\`tokens.${name}\` is not a JWT`);
  });

  test('a JWT whose claims have the wrong types', async () => {
    const { message } = await parseError(editAuth(good, (j) => void (j.tokens.access_token = makeJwt({ exp: 'tomorrow' }))));
    expect(message).toContain('`tokens.access_token` has claims of an unexpected type');
  });

  test('a field of the wrong type names its path', async () => {
    expect((await parseError(editAuth(good, (j) => void (j.tokens.refresh_token = 42)))).message).toMatch(/does not have the shape of an auth\.json \(tokens\.refresh_token\)/);
    expect((await parseError('{"tokens": "x"}')).message).toMatch(/shape of an auth\.json \(tokens\)/);
  });

  test('huge input is refused by its size, before it is decoded', async () => {
    const huge = 'A'.repeat(300 * 1024);
    const { message, masks } = await parseError(huge);
    expect(message).toBe(`${LABEL} is ${huge.length} bytes, too large for an auth.json (at most 262144).`);
    expect(masks).toEqual([]);
  });

  test.each(['yesterday', '2026-13-45T99:00:00Z', 'not a date'])('last_refresh %p', async (value) => {
    expect((await parseError(editAuth(good, (j) => void (j.last_refresh = value)))).message).toContain(`\`last_refresh\` is '${value}', which is not an RFC 3339 time`);
  });

  test('the label says where the file came from', async () => {
    const { error } = await captureStdout(() => parseAuthFile('nope', 'The stored /x/auth.json'));
    expect((error as Error).message).toMatch(/^The stored \/x\/auth\.json is not an auth\.json/);
  });
});

describe('what parseAuthFile reports', () => {
  test("account (and the access token's), email, last refresh and access-token expiry", async () => {
    const lastRefresh = new Date(T0);
    const accessExp = new Date(T0 + 10 * DAY);
    const auth = await quiet(() => parse(authText({ accountId: 'acct-42', email: 'someone@example.org', planType: 'enterprise', lastRefresh, accessExp })));
    expect(auth.info).toEqual({
      accountId: 'acct-42',
      claimedAccountId: 'acct-42',
      email: 'someone@example.org',
      lastRefresh: T0,
      accessExpires: Math.floor(accessExp.getTime() / 1000) * 1000,
    });
  });

  test('nulls when the claims and last_refresh are absent', async () => {
    const text = editAuth(authText({ accountId: 'acct-9' }), (j) => {
      delete j.last_refresh;
      j.tokens.id_token = makeJwt({ sub: 'x' });
      j.tokens.access_token = makeJwt({ sub: 'x' });
    });
    expect((await quiet(() => parse(text))).info).toEqual({ accountId: 'acct-9', claimedAccountId: null, email: null, lastRefresh: null, accessExpires: null });
  });

  test('maskEmail keeps two letters and the domain', () => {
    expect(maskEmail('someone@example.com')).toBe('so…@example.com');
    expect(maskEmail(null)).toBe('unknown');
  });
});

describe('masks', () => {
  test('every token is masked, the account id is not', async () => {
    const text = authText({ accountId: 'acct-visible' });
    const { masks } = await captureStdout(() => parse(text));
    const tokens = tokensOf(text);
    expect(masks).toEqual(expect.arrayContaining([tokens.id_token, tokens.access_token, tokens.refresh_token]));
    expect(masks).not.toContain('acct-visible');
  });

  test('a token that JSON escapes differently is masked in both forms', async () => {
    const odd = 'rt_with"quote\\and/slash\u0001ctl';
    const escaped = JSON.stringify(odd).slice(1, -1);
    expect(escaped).not.toBe(odd);
    const { masks } = await captureStdout(() => parse(editAuth(authText(), (j) => void (j.tokens.refresh_token = odd))));
    expect(masks).toEqual(expect.arrayContaining([odd, escaped]));
  });

  test('a plain token is masked once, not twice', async () => {
    const text = authText();
    const { masks } = await captureStdout(() => parse(text));
    expect(masks.filter((m) => m === tokensOf(text).refresh_token)).toHaveLength(1);
  });

  test('tokens are masked even when the file is then refused for its mode', async () => {
    const text = editAuth(authText(), (j) => void (j.auth_mode = 'chatgptAuthTokens'));
    const { masks } = await parseError(text);
    expect(masks).toContain(tokensOf(text).access_token);
  });
});

describe('isStale and nextRefreshAt (codex-rs rules)', () => {
  const info = (over: Partial<AuthInfo>): AuthInfo => ({ accountId: 'a', email: null, claimedAccountId: null, lastRefresh: T0, accessExpires: null, ...over });

  test('with an exp: Codex refreshes when it is within 5 minutes', () => {
    const exp = T0 + DAY;
    expect(nextRefreshAt(info({ accessExpires: exp }))).toBe(exp - EXPIRY_WINDOW_MS);
    expect(EXPIRY_WINDOW_MS).toBe(5 * MINUTE);
    expect(isStale(info({ accessExpires: exp }), exp - 6 * MINUTE)).toBe(false);
    expect(isStale(info({ accessExpires: exp }), exp - 5 * MINUTE)).toBe(true);
    expect(isStale(info({ accessExpires: exp }), exp - 4 * MINUTE)).toBe(true);
    expect(isStale(info({ accessExpires: exp }), exp + DAY)).toBe(true);
  });

  test('an exp decides even when last_refresh is old', () => {
    expect(isStale(info({ lastRefresh: T0 - 30 * DAY, accessExpires: T0 + DAY }), T0)).toBe(false);
  });

  test('without an exp: when last_refresh is older than 8 days', () => {
    expect(REFRESH_AGE_MS).toBe(8 * DAY);
    expect(nextRefreshAt(info({}))).toBe(T0 + 8 * DAY);
    expect(isStale(info({}), T0 + 7 * DAY)).toBe(false);
    expect(isStale(info({}), T0 + 8 * DAY + 1)).toBe(true);
  });

  test('with neither: stale', () => {
    expect(isStale(info({ lastRefresh: null }), T0)).toBe(true);
  });

  test('a seed from the test backend: fresh is not stale, stale is', async () => {
    const fresh = await quiet(() => parse(authText({ lastRefresh: new Date(T0), accessExp: new Date(T0 + 10 * DAY) })));
    const expired = await quiet(() => parse(authText({ lastRefresh: new Date(T0 - 9 * DAY), accessExp: new Date(T0 - 3600_000) })));
    expect(isStale(fresh.info, T0)).toBe(false);
    expect(isStale(expired.info, T0)).toBe(true);
  });
});

describe('chooseSource (DESIGN §3.1)', () => {
  const file = (over: Parameters<typeof authText>[0] = {}) => quiet(() => parse(authText(over)));

  test('nothing stored and no seed: an error that says where to get one', () => {
    expect(() => chooseSource(null, null, 'runner')).toThrow(UserError);
    expect(() => chooseSource(null, null, 'runner')).toThrow(/the runner store holds none and `auth-json` is empty.*codex login/);
  });

  test('nothing stored: the seed', async () => {
    expect(chooseSource(await file(), null, 'runner')).toEqual({ use: 'seed', reason: 'the runner store holds no auth.json yet' });
  });

  test('no seed: the stored copy', async () => {
    expect(chooseSource(null, await file(), 'runner').use).toBe('stored');
  });

  test('the seed is the stored copy itself', async () => {
    const same = await file();
    expect(chooseSource(same, { ...same }, 'runner')).toMatchObject({ use: 'stored', reason: expect.stringContaining('is the seed itself') });
  });

  test('a stored copy refreshed after the seed wins over it', async () => {
    const choice = chooseSource(await file({ lastRefresh: new Date(T0) }), await file({ lastRefresh: new Date(T0 + DAY) }), 'runner');
    expect(choice.use).toBe('stored');
    expect(choice.reason).toMatch(/the seed is ignored/);
  });

  test('equally new but different bytes: the stored copy (ties keep what is stored)', async () => {
    expect(chooseSource(await file(), await file(), 'runner').use).toBe('stored');
  });

  test('a newer seed (a fresh login) wins', async () => {
    const choice = chooseSource(await file({ lastRefresh: new Date(T0 + DAY) }), await file({ lastRefresh: new Date(T0) }), 'runner');
    expect(choice).toMatchObject({ use: 'seed', reason: expect.stringMatching(/the seed is newer \(last_refresh 2026-03-02/) });
  });

  test('a seed of another account wins even when older', async () => {
    const choice = chooseSource(await file({ accountId: 'acct-other', lastRefresh: new Date(T0 - DAY) }), await file({ lastRefresh: new Date(T0) }), 'runner');
    expect(choice).toMatchObject({ use: 'seed', reason: expect.stringContaining('another account') });
  });

  test('a seed without last_refresh never beats a stored copy with one', async () => {
    const seed = await quiet(() => parse(editAuth(authText(), (j) => void delete j.last_refresh)));
    expect(chooseSource(seed, await file(), 'runner').use).toBe('stored');
  });
});

/** The account of an auth.json text, read without masking noise. */
function parseAuthFileQuietly(text: string): string {
  return (JSON.parse(text) as { tokens: { account_id: string } }).tokens.account_id;
}

describe('decidePersist (DESIGN §3.2)', () => {
  const restoredText = authText({ lastRefresh: new Date(T0) });
  const restored = { hash: hashText(restoredText), lastRefresh: T0, accountId: parseAuthFileQuietly(restoredText) };

  test('missing: never persist a deletion', () => {
    expect(decidePersist(restored, null)).toEqual({ kind: 'missing', reason: expect.stringContaining('a deletion is never persisted') });
  });

  test('unchanged bytes', () => {
    expect(decidePersist(restored, restoredText)).toEqual({ kind: 'unchanged' });
  });

  test('changed and newer', async () => {
    const next = authText({ lastRefresh: new Date(T0 + DAY) });
    const decision = await quiet(() => decidePersist(restored, next));
    expect(decision).toMatchObject({ kind: 'changed', auth: { text: next, info: { lastRefresh: T0 + DAY } } });
  });

  test('changed and as new (same last_refresh, other bytes) is still kept', async () => {
    expect((await quiet(() => decidePersist(restored, authText({ lastRefresh: new Date(T0) })))).kind).toBe('changed');
  });

  test.each([
    ['garbage', '{"half": '],
    ['an API-key file', JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-0123456789abc' })],
    ['no refresh token', editAuth(authText(), (j) => void delete j.tokens.refresh_token)],
    ['empty', ''],
  ])('invalid: %s', async (_name, text) => {
    const decision = await quiet(() => decidePersist(restored, text));
    expect(decision.kind).toBe('invalid');
    expect((decision as { reason: string }).reason).toMatch(/^The auth\.json left by this job /);
  });

  test("another account's login, even newer, is never persisted: a refresh does not change the account", async () => {
    const decision = await quiet(() => decidePersist(restored, authText({ lastRefresh: new Date(T0 + DAY), accountId: 'acct-attacker' })));
    expect(decision).toEqual({ kind: 'foreign', reason: expect.stringMatching(/belongs to account acct-attacker, not to the restored one \(.+\): a refresh never changes the account/) });
  });

  test("another account's tokens under the restored account_id are still another account's (the access token's claim)", async () => {
    const swapped = editAuth(authText({ lastRefresh: new Date(T0 + DAY), accountId: 'acct-attacker' }), (j) => void (j.tokens.account_id = restored.accountId));
    const decision = await quiet(() => decidePersist(restored, swapped));
    expect(decision).toEqual({ kind: 'foreign', reason: expect.stringContaining('belongs to account acct-attacker') });
  });

  test("a lock-scope: refresh job's copy (its refresh token withheld) is never persisted, however new", async () => {
    const copy = withheldCopy(await quiet(() => parseAuthFile(authText({ lastRefresh: new Date(T0 + DAY) }), 'test')));
    const decision = await quiet(() => decidePersist(restored, copy.text));
    expect(decision).toEqual({ kind: 'invalid', reason: expect.stringContaining('placeholder of a `lock-scope: refresh` copy') });
  });

  test('older than what was restored', async () => {
    const decision = await quiet(() => decidePersist(restored, authText({ lastRefresh: new Date(T0 - DAY) })));
    expect(decision).toEqual({ kind: 'older', reason: expect.stringContaining('is older than the restored 2026-03-01T10:00:00.000Z') });
  });
});

describe('writeCredentialFile', () => {
  test('0600 file in a 0700 directory, created with its parents', async () => {
    const dir = path.join(tempDir(), 'a', 'b');
    const file = path.join(dir, 'auth.json');
    await writeCredentialFile(file, 'content-1');
    expect(readFileSync(file, 'utf8')).toBe('content-1');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test('tightens an existing directory to 0700', async () => {
    const dir = tempDir();
    execFileSync('chmod', ['0755', dir]);
    await writeCredentialFile(path.join(dir, 'auth.json'), 'x');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test('atomic: replaces by rename (a new inode), leaves no temp file behind', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'auth.json');
    await writeCredentialFile(file, 'old');
    const before = statSync(file).ino;
    await writeCredentialFile(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(statSync(file).ino).not.toBe(before);
    expect(readdirSync(dir)).toEqual(['auth.json']);
  });

  test('an existing file that was 0644 ends up 0600', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'auth.json');
    writeFileSync(file, 'old', { mode: 0o644 });
    await writeCredentialFile(file, 'new');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test('refuses a symlinked directory and writes nothing through it', async () => {
    const real = tempDir();
    const link = path.join(tempDir(), 'linked-home');
    symlinkSync(real, link);
    const error = await rejection(writeCredentialFile(path.join(link, 'auth.json'), 'secret'));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`Refusing to use ${link}: the path is a symbolic link.`);
    expect(readdirSync(real)).toEqual([]);
  });

  test('replaces a symlink at the file name by a file, never writing through it', async () => {
    const dir = tempDir();
    const target = path.join(tempDir(), 'elsewhere.txt');
    writeFileSync(target, 'untouched');
    symlinkSync(target, path.join(dir, 'auth.json'));
    await writeCredentialFile(path.join(dir, 'auth.json'), 'new');
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(lstatSync(path.join(dir, 'auth.json')).isFile()).toBe(true);
  });

  test('a file where the directory should be', async () => {
    const parent = tempDir();
    writeFileSync(path.join(parent, 'home'), 'a file');
    const error = await rejection(writeCredentialFile(path.join(parent, 'home', 'auth.json'), 'x'));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/a file is in the way\. Point `codex-home` at a directory/);
    expect(readFileSync(path.join(parent, 'home'), 'utf8')).toBe('a file');
  });

  const unwritable = unwritablePath();
  (unwritable ? test : test.skip)(`a directory that cannot be created (${unwritable?.how ?? 'no way to make one here'}) names \`codex-home\``, async () => {
    const home = (unwritable as { path: string }).path;
    const error = await rejection(writeCredentialFile(path.join(home, 'auth.json'), 'x'));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(new RegExp(`^Cannot create ${home}: permission denied \\((EACCES|EPERM|EROFS)\\)\\. Point \`codex-home\` at a directory`));
  });

  test('a failed rename (a directory at the name) leaves no temp file and the directory as it was', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'auth.json'));
    writeFileSync(path.join(dir, 'auth.json', 'inside'), 'x');
    const error = await rejection(writeCredentialFile(path.join(dir, 'auth.json'), 'new'));
    expect(error.message).toContain(`Failed to write ${path.join(dir, 'auth.json')}`);
    expect(readdirSync(dir)).toEqual(['auth.json']);
    expect(readdirSync(path.join(dir, 'auth.json'))).toEqual(['inside']);
  });
});

describe('readCredentialFile', () => {
  test('missing: null', async () => {
    expect(await readCredentialFile(path.join(tempDir(), 'auth.json'))).toBeNull();
  });

  test('a regular file: its text', async () => {
    const file = path.join(tempDir(), 'auth.json');
    writeFileSync(file, 'hello');
    expect(await readCredentialFile(file)).toBe('hello');
  });

  test('a symbolic link is refused, even to a good file', async () => {
    const target = path.join(tempDir(), 'real.json');
    writeFileSync(target, authText());
    const link = path.join(tempDir(), 'auth.json');
    symlinkSync(target, link);
    const error = await rejection(readCredentialFile(link));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`Refusing to read ${link}: the path is a symbolic link.`);
  });

  test('a directory is not a regular file', async () => {
    const dir = path.join(tempDir(), 'auth.json');
    mkdirSync(dir);
    expect((await rejection(readCredentialFile(dir))).message).toBe(`Refusing to read ${dir}: it is not a regular file.`);
  });

  test('a FIFO is refused at once instead of blocking until a writer comes', async () => {
    const fifo = path.join(tempDir(), 'auth.json');
    execFileSync('mkfifo', [fifo]);
    const outcome = await Promise.race([
      readCredentialFile(fifo).then(
        () => 'read',
        (error: Error) => error.message,
      ),
      new Promise((resolve) => setTimeout(() => resolve('blocked'), 2000).unref()),
    ]);
    expect(outcome).toBe(`Refusing to read ${fifo}: it is not a regular file.`);
  });

  test('a file too large to be an auth.json', async () => {
    const file = path.join(tempDir(), 'auth.json');
    writeFileSync(file, 'x'.repeat(300 * 1024));
    expect((await rejection(readCredentialFile(file))).message).toMatch(/is 307200 bytes, too large for an auth\.json/);
  });

  test('round trip with writeCredentialFile', async () => {
    const file = path.join(tempDir(), 'h', 'auth.json');
    const text = authText();
    await writeCredentialFile(file, text);
    expect(await readCredentialFile(file)).toBe(text);
    expect(existsSync(file)).toBe(true);
  });
});

test('makeIdToken claims are what parseAuthFile reads (the test fixtures agree with the parser)', async () => {
  const id = makeIdToken({ accountId: 'acct-x', email: 'x@example.com', planType: 'plus', userId: 'u-x' });
  const auth = await quiet(() => parse(editAuth(authText({ accountId: 'acct-x' }), (j) => void (j.tokens.id_token = id))));
  expect(auth.info).toMatchObject({ email: 'x@example.com', claimedAccountId: 'acct-x' });
});
