/**
 * readInputs reads `INPUT_*` as the runner sets them (name upper-cased, spaces to `_`, hyphens kept):
 * defaults, `auto` resolution, and a message for every bad value that names the input and what is allowed.
 */
import { describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { UserError } from '../src/errors.js';
import { parseCodexArgs, readInputs, type Inputs } from '../src/inputs.js';
import { captureStdout, runContext, withInputs } from './support/fixtures.js';

const ctx = runContext({ workspace: '/work/space', home: '/home/runner', repository: 'octo/repo' });
const hosted = runContext({ runnerEnvironment: 'github-hosted', workspace: '/work/space', home: '/home/runner' });

/** readInputs with these inputs and no CODEX_HOME in the environment. */
function read(inputs: Record<string, string>, context = ctx, env: NodeJS.ProcessEnv = {}): Inputs {
  return withInputs(inputs, () => readInputs(context, env));
}

/** The UserError readInputs throws for these inputs. */
function failure(inputs: Record<string, string>, context = ctx): UserError {
  try {
    read(inputs, context);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error(`readInputs accepted ${JSON.stringify(inputs)}`);
}

describe('defaults and auto', () => {
  test('a self-hosted runner with no inputs: runner store, file lock, no cleanup, the documented defaults', () => {
    const inputs = read({});
    expect(inputs).toMatchObject({
      mode: 'chatgpt',
      authJson: '',
      store: 'runner',
      lock: 'file',
      cleanup: false,
      key: 'codex-auth',
      lockTimeoutMs: 3600_000,
      secretName: 'CODEX_AUTH_JSON',
      secretRepository: 'octo/repo',
      lockRepository: 'octo/repo',
      codexHome: '/home/runner/.codex',
      workingDirectory: '/work/space',
      codexArgs: [],
      prompt: '',
      promptFile: '',
      allowUntrusted: false,
      refresh: 'auto',
      lockScope: 'job',
      minValidityMs: 21600_000,
      safetyStrategy: 'auto',
    });
  });

  test('refresh, lock-scope, min-validity and safety-strategy take their documented values', () => {
    expect(read({ refresh: 'force', 'lock-scope': 'refresh', 'min-validity': '600', 'safety-strategy': 'unprivileged-user' })).toMatchObject({
      refresh: 'force',
      lockScope: 'refresh',
      minValidityMs: 600_000,
      safetyStrategy: 'unprivileged-user',
    });
    expect(read({ 'safety-strategy': 'none' }).safetyStrategy).toBe('none');
  });

  test('a GitHub-hosted runner: `auto` is the cache store, the github lock and cleanup', () => {
    expect(read({ store: 'auto', lock: 'auto', cleanup: 'auto' }, hosted)).toMatchObject({ store: 'cache', lock: 'github', cleanup: true });
    expect(read({}, hosted)).toMatchObject({ store: 'cache', lock: 'github', cleanup: true });
  });

  test('the lock and cleanup follow the store that was chosen, not the runner', () => {
    expect(read({ store: 'command' })).toMatchObject({ store: 'command', lock: 'github', cleanup: true });
    expect(read({ store: 'github-secret', 'secret-token': 'github_pat_0123456789' })).toMatchObject({ lock: 'github', cleanup: true });
    expect(read({ store: 'runner' }, hosted)).toMatchObject({ store: 'runner', lock: 'file', cleanup: false });
  });

  test('explicit values win over auto', () => {
    expect(read({ store: 'cache', lock: 'none', cleanup: 'false' })).toMatchObject({ store: 'cache', lock: 'none', cleanup: false });
    expect(read({ store: 'runner', lock: 'github', cleanup: 'TRUE' })).toMatchObject({ lock: 'github', cleanup: true });
  });

  test('API-key and access-token modes need no lock and clean up even on the runner store', () => {
    expect(read({ 'openai-api-key': 'sk-test-0123456789abcdef', lock: 'file' })).toMatchObject({ mode: 'api-key', lock: 'none', cleanup: true, store: 'runner' });
    expect(read({ 'access-token': 'at-test-0123456789abcdef' })).toMatchObject({ mode: 'access-token', lock: 'none', cleanup: true });
  });

  test('codex-home: ~ is the runner home, relative paths are under the workspace, $CODEX_HOME is the default', () => {
    const selfHosted = runContext({ workspace: '/work/space', home: '/home/runner', runnerTemp: '/runner/temp', runnerEnvironment: 'self-hosted' });
    // a store off the runner, or an API key, never touches the persistent ~/.codex (nor $CODEX_HOME) of a self-hosted runner
    expect(read({ store: 'command' }, selfHosted, { CODEX_HOME: '/opt/codex-home' }).codexHome).toBe('/runner/temp/codex-home-codex-auth');
    expect(read({ 'openai-api-key': 'sk-0123456789', key: 'k2' }, selfHosted).codexHome).toBe('/runner/temp/codex-home-k2');
    expect(read({ store: 'runner' }, selfHosted).codexHome).toBe('/home/runner/.codex');
    expect(read({ store: 'command', 'codex-home': '~/.codex' }, selfHosted).codexHome).toBe('/home/runner/.codex');
    expect(read({ 'codex-home': '~/custom' }).codexHome).toBe('/home/runner/custom');
    expect(read({ 'codex-home': 'rel/home' }).codexHome).toBe('/work/space/rel/home');
    expect(read({}, ctx, { CODEX_HOME: '/opt/codex-home' }).codexHome).toBe('/opt/codex-home');
    expect(read({ 'codex-home': '/explicit' }, ctx, { CODEX_HOME: '/opt/codex-home' }).codexHome).toBe('/explicit');
  });

  test('prompt-file and working-directory are resolved against the workspace', () => {
    const inputs = read({ 'prompt-file': 'prompts/p.md', 'working-directory': 'sub' });
    expect(inputs.promptFile).toBe(path.join('/work/space', 'prompts/p.md'));
    expect(inputs.workingDirectory).toBe('/work/space/sub');
  });

  test('lock-timeout in seconds, 0 and the maximum included', () => {
    expect(read({ 'lock-timeout': '0' }).lockTimeoutMs).toBe(0);
    expect(read({ 'lock-timeout': '604800' }).lockTimeoutMs).toBe(604_800_000);
    expect(read({ 'lock-timeout': ' 90 ' }).lockTimeoutMs).toBe(90_000);
  });

  test('secret inputs are masked as they are read', async () => {
    const { masks } = await captureStdout(() => read({ 'openai-api-key': 'sk-masked-0123456789', 'github-token': 'ghs_masked_0123456789', 'encryption-key': 'enc-masked-0123456789' }));
    expect(masks).toEqual(expect.arrayContaining(['sk-masked-0123456789', 'ghs_masked_0123456789', 'enc-masked-0123456789']));
  });
});

describe('bad values name the input and what is allowed', () => {
  test.each(['disk', 'Runner', 's3'])('store %p', (value) => {
    const error = failure({ store: value });
    expect(error.message).toContain('`store`');
    expect(error.message).toContain(`'${value}'`);
    for (const allowed of ['runner', 'cache', 'github-secret', 'command', 'auto']) expect(error.message).toContain(`\`${allowed}\``);
  });

  test.each([
    ['refresh', 'always', ['auto', 'force']],
    ['lock-scope', 'step', ['job', 'refresh']],
    ['safety-strategy', 'drop-sudo', ['unprivileged-user', 'none', 'auto']],
  ])('%s %p', (name, value, allowed) => {
    const error = failure({ [name]: value });
    expect(error.message).toContain(`\`${name}\``);
    expect(error.message).toContain(`'${value}'`);
    for (const a of allowed) expect(error.message).toContain(`\`${a}\``);
  });

  test('min-validity is whole seconds', () => {
    expect(failure({ 'min-validity': '6h' }).message).toContain('`min-validity`');
  });

  test.each(['flock', 'redis', 'File'])('lock %p', (value) => {
    const error = failure({ lock: value });
    expect(error.message).toContain('`lock`');
    for (const allowed of ['none', 'file', 'github', 'auto']) expect(error.message).toContain(`\`${allowed}\``);
  });

  test.each(['ten', '-1', '-30', '1.5', '1e3', '604801', '99999999999999999999', '0x10'])('lock-timeout %p', (value) => {
    const error = failure({ 'lock-timeout': value });
    expect(error.message).toContain('`lock-timeout`');
    expect(error.message).toContain(`'${value}'`);
    expect(error.message).toContain('0 to 604800');
  });

  test.each(['-lead', 'has space', 'a/b', '../up', 'x'.repeat(65), 'é'])('key %p', (value) => {
    const error = failure({ key: value });
    expect(error.message).toContain('`key`');
    expect(error.message).toMatch(/1 to 64 letters, digits/);
  });

  test.each([
    ['secret-repository', 'just-a-name'],
    ['secret-repository', 'a/b/c'],
    ['lock-repository', 'owner /repo'],
    ['lock-repository', '/repo'],
    ['lock-repository', 'https://github.com/o/r'],
  ])('%s %p', (name, value) => {
    const error = failure({ [name]: value });
    expect(error.message).toContain(`\`${name}\``);
    expect(error.message).toContain('{owner}/{repo}');
  });

  test.each([
    ['[1, 2]', /items are not all strings/],
    ['["--model", 5]', /items are not all strings/],
    ['[{"a": 1}]', /items are not all strings/],
    ['["unclosed"', /starts with `\[` but is not a JSON array/],
    ['--model "gpt-5', /unclosed " quote/],
    ["-c 'a=b", /unclosed ' quote/],
  ])('codex-args %p', (value, why) => {
    const error = failure({ 'codex-args': value });
    expect(error.message).toContain('`codex-args`');
    expect(error.message).toMatch(why);
    expect(error.message).toMatch(/JSON array of strings/);
  });

  test('the github-secret store without secret-token names the token it needs', () => {
    expect(failure({ store: 'github-secret' }).message).toMatch(/`store: github-secret` needs `secret-token`/);
  });

  test('prompt and prompt-file together', () => {
    expect(failure({ prompt: 'hi', 'prompt-file': 'p.md' }).message).toMatch(/`prompt` and `prompt-file` are both set/);
  });

  test.each([
    [{ 'auth-json': '{}', 'openai-api-key': 'sk-x-0123456789' }, /`auth-json` and `openai-api-key` are both set/],
    [{ 'openai-api-key': 'sk-x-0123456789', 'access-token': 'at-0123456789' }, /`openai-api-key` and `access-token` are both set/],
    [{ 'auth-json': '{}', 'openai-api-key': 'sk-x-0123456789', 'access-token': 'at-0123456789' }, /are all set: give exactly one auth mode/],
  ])('two auth modes at once: %p', (inputs, why) => {
    expect(failure(inputs).message).toMatch(why);
  });

  test.each(['yes', 'no', '1', 'on', 'ture'])('allow-untrusted %p is not a boolean', (value) => {
    const error = failure({ 'allow-untrusted': value });
    expect(error.message).toContain('`allow-untrusted`');
    expect(error.message).toContain('`true` or `false`');
  });

  test('cleanup `yes` is refused, with auto among the allowed values', () => {
    const error = failure({ cleanup: 'yes' });
    expect(error.message).toContain('`cleanup`');
    expect(error.message).toContain('`true`, `false` or `auto`');
  });

  test('allow-untrusted does not take `auto`', () => {
    expect(failure({ 'allow-untrusted': 'auto' }).message).toContain('`allow-untrusted`');
  });

  test.each(['latest; rm -rf /', '1.0 2.0', '-1'])('codex-version %p', (value) => {
    expect(failure({ 'codex-version': value }).message).toMatch(/`codex-version`.*expected an npm version or tag/);
  });

  test('a bad value is reported before a secret of another input could be echoed', async () => {
    const { error, stdout } = await captureStdout(() => read({ store: 'nope', 'openai-api-key': 'sk-leak-check-0123456789' }));
    expect((error as Error).message).not.toContain('sk-leak-check');
    expect(stdout).toContain('::add-mask::sk-leak-check-0123456789');
  });
});

describe('parseCodexArgs', () => {
  test.each<[string, string[]]>([
    ['', []],
    ['   \n\t ', []],
    ['["--model", "gpt-5", "-c", "x=\\"y z\\""]', ['--model', 'gpt-5', '-c', 'x="y z"']],
    ['  ["a b"]  ', ['a b']],
    ['[]', []],
    ['--model gpt-5 --json', ['--model', 'gpt-5', '--json']],
    ['  spaced\t\twords\nnext  ', ['spaced', 'words', 'next']],
    [`-c 'model_reasoning_effort="high"'`, ['-c', 'model_reasoning_effort="high"']],
    ['-c "a \\"quoted\\" b"', ['-c', 'a "quoted" b']],
    ['one\\ word', ['one word']],
    [`'single \\n stays'`, ['single \\n stays']],
    ['"double \\n stays"', ['double \\n stays']],
    ['"\\\\ and \\$ and \\`"', ['\\ and $ and `']],
    [`a"b c"d'e f'`, ['ab cde f']],
    [`'' ""`, ['', '']],
    ['--flag=', ['--flag=']],
  ])('%p', (raw, expected) => {
    expect(parseCodexArgs(raw)).toEqual(expected);
  });
});
