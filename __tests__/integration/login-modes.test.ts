/**
 * API-key mode with the real Codex CLI: signs in from stdin, no store, no lock, cleanup removes the file.
 * Access-token mode, with the real CLI against the stand-in, is in access-token.test.ts.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
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
