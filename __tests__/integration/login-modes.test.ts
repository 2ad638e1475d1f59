/**
 * API-key mode with the real Codex CLI, and access-token mode with a stand-in `codex` (the real one checks
 * the token's agent-identity format): signs in from stdin, no store, no lock, cleanup removes the file.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { codexBinary } from '../support/codex-cli.js';
import { leakedSecrets, newRunner, runJob, runStep, stepLogs, type Runner } from '../support/runner.js';

jest.setTimeout(60_000);
let runner: Runner;
const KEY = 'sk-proj-testkey-\\"quoted"-0123456789abcdef';

beforeAll(() => {
  runner = newRunner();
});
afterAll(() => runner.remove());

const env = () => ({ PATH: `${path.dirname(codexBinary())}:${process.env.PATH}` });

test('openai-api-key signs Codex in with the key on stdin, masks it, and cleanup removes the file', async () => {
  const home = path.join(runner.dir, 'api-key-home');
  const { main, post } = await runJob({ runner, inputs: { 'openai-api-key': KEY, 'codex-home': home }, env: env() });
  expect(main.exitCode).toBe(0);
  expect(main.outputs).toMatchObject({ source: 'api-key', 'codex-home': home, 'lock-wait-seconds': '0' });
  expect(main.masks).toContain(KEY);
  expect(main.env.CODEX_HOME).toBe(home);
  expect(post.exitCode).toBe(0);
  expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
  expect(leakedSecrets(stepLogs(main, post), [KEY])).toEqual([]);
});

test('the key lands only in Codex own auth.json while the job runs', async () => {
  const home = path.join(runner.dir, 'api-key-home-2');
  const main = await runStep('main', { runner, inputs: { 'openai-api-key': KEY, 'codex-home': home, cleanup: 'false' }, env: env() });
  expect(main.exitCode).toBe(0);
  const auth = JSON.parse(readFileSync(path.join(home, 'auth.json'), 'utf8')) as { auth_mode: string; OPENAI_API_KEY: string };
  expect(auth).toMatchObject({ auth_mode: 'apikey', OPENAI_API_KEY: KEY });
  expect(leakedSecrets(stepLogs(main), [KEY])).toEqual([]);
});

test('two auth modes at once is a clear error', async () => {
  const main = await runStep('main', { runner, inputs: { 'openai-api-key': KEY, 'access-token': 'at-0123456789', 'auth-json': '{}' }, env: env() });
  expect(main.exitCode).toBe(1);
  expect(main.errors.join('\n')).toMatch(/`auth-json` and `openai-api-key` and `access-token` are all set: give exactly one auth mode/);
});

/** A `codex` that, for `login --with-access-token`, records its argv and stdin and writes auth.json as Codex does. */
function fakeCodexDir(): string {
  const dir = path.join(runner.dir, 'fake-bin');
  mkdirSync(dir, { recursive: true });
  const script = `#!${process.execPath}
const fs = require('fs');
const args = process.argv.slice(2);
if (args[0] === '--version') { console.log('codex-cli 0.169.0'); process.exit(0); }
const stdin = fs.readFileSync(0, 'utf8');
const hidden = Object.keys(process.env).filter((k) => /^(INPUT_|STATE_|ACTIONS_RUNTIME_TOKEN)/i.test(k));
fs.writeFileSync(process.env.CODEX_HOME + '/login-record.json', JSON.stringify({ args, stdinLength: stdin.length, stdinMatches: stdin === process.env.EXPECTED_TOKEN, hidden }));
fs.writeFileSync(process.env.CODEX_HOME + '/auth.json', JSON.stringify({ auth_mode: 'agentIdentity', token: stdin }), { mode: 0o600 });
console.error('Reading access token from stdin...');
`;
  writeFileSync(path.join(dir, 'codex'), script);
  chmodSync(path.join(dir, 'codex'), 0o755);
  return dir;
}

test('access-token mode passes the token on stdin only, masks it, and cleanup removes the file', async () => {
  const TOKEN = 'at-enterprise-0123456789abcdef0123456789';
  const home = path.join(runner.dir, 'access-token-home');
  const { main, post } = await runJob({
    runner,
    inputs: { 'access-token': TOKEN, 'codex-home': home },
    env: { PATH: `${fakeCodexDir()}:${process.env.PATH}`, EXPECTED_TOKEN: TOKEN, ACTIONS_RUNTIME_TOKEN: 'runtime-token-codex-must-not-see' },
  });
  expect([main.exitCode, main.errors]).toEqual([0, []]);
  expect(main.outputs).toMatchObject({ source: 'access-token', 'codex-home': home });
  expect(main.masks).toContain(TOKEN);
  const record = JSON.parse(readFileSync(path.join(home, 'login-record.json'), 'utf8')) as { args: string[]; stdinMatches: boolean; hidden: string[] };
  // codex (whose agent runs commands) gets neither the action's inputs nor the runner's credentials
  expect(record.hidden).toEqual([]);
  expect(record.args).toEqual(['login', '-c', 'cli_auth_credentials_store="file"', '--with-access-token']);
  expect(record.stdinMatches).toBe(true);
  expect(post.exitCode).toBe(0);
  expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
  expect(leakedSecrets(stepLogs(main, post), [TOKEN])).toEqual([]);
});
