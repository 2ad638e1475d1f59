/**
 * The CLI's argument parsing: flags and CODEX_AUTH_* (a flag wins), secrets from the environment only,
 * usage errors that name the option, `lock: auto` outside Actions; and the log host's second line of
 * defence (every secret cut out of every line).
 */
import { describe, expect, test } from '@jest/globals';
import { host, info, setSecret, warning } from '../../src/cli/core-host.js';
import { cliContext } from '../../src/cli/context.js';
import { cliInputs, cliWording, envName, parseArgs, UsageError, type OptionSpec } from '../../src/cli/options.js';

const table = cliInputs(
  ['auth-json', 'store', 'codex-home', 'key', 'lock', 'lock-timeout', 'lock-repository', 'github-token', 'prompt', 'encryption-key', 'restore-command', 'secret-repository'].map(
    (name): OptionSpec => ({ name, description: `${name}. More words.` }),
  ),
);

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('no usage error');
}

describe('parseArgs', () => {
  test('a flag wins over its CODEX_AUTH_ variable; --name=value and --name value; COMMAND after --', () => {
    const parsed = parseArgs(['run', '--store=command', '--key', 'k2', '--lock', 'none', '--', 'codex', 'exec', '--key', 'x'], table, { CODEX_AUTH_STORE: 'runner', CODEX_AUTH_KEY: 'k1', CODEX_AUTH_CODEX_HOME: '/h' });
    expect(Object.fromEntries(parsed.inputs)).toMatchObject({ store: 'command', key: 'k2', 'codex-home': '/h', lock: 'none' });
    expect(parsed.command).toEqual(['codex', 'exec', '--key', 'x']);
  });

  test('secrets come from the environment only; the seed is CODEX_AUTH_JSON', () => {
    expect(envName('auth-json')).toBe('CODEX_AUTH_JSON');
    expect(envName('gitlab-token')).toBe('CODEX_AUTH_GITLAB_TOKEN');
    const parsed = parseArgs(['refresh'], table, { CODEX_AUTH_JSON: '{"seed":1}', CODEX_AUTH_GITLAB_TOKEN: 'glpat-x' });
    expect(parsed.inputs.get('auth-json')).toBe('{"seed":1}');
    expect(parsed.inputs.get('gitlab-token')).toBe('glpat-x');
    expect(usageError(() => parseArgs(['refresh', '--auth-json', '{}'], table, {}))).toBe('`--auth-json` is not a flag: a secret on the command line shows in process lists. Put it in CODEX_AUTH_JSON.');
  });

  test('action-only inputs are no options of the CLI', () => {
    expect(table.map((o) => o.name)).not.toEqual(expect.arrayContaining(['prompt']));
    expect(table.map((o) => o.name)).not.toContain('encryption-key');
    expect(usageError(() => parseArgs(['refresh', '--prompt', 'hi'], table, {}))).toMatch(/^Unknown option `--prompt` for `codex-auth refresh`/);
  });

  test('lock auto: the file lock for the runner store; github with a GitHub token; otherwise the user chooses', () => {
    expect(parseArgs(['refresh'], table, {}).inputs.get('lock')).toBe('file');
    expect(parseArgs(['refresh', '--store', 'gitlab-variable', '--lock-repository', 'o/r'], table, { CODEX_AUTH_GITHUB_TOKEN: 'ghp_x' }).inputs.get('lock')).toBe('github');
    expect(usageError(() => parseArgs(['refresh', '--store', 'command'], table, {}))).toMatch(/^Option `--lock` is `auto`, and the command store lies off this machine: .*`--lock none`.*resource_group.*Allowed: `none`, `file`, `github`\.$/);
    expect(usageError(() => parseArgs(['refresh', '--store', 'command', '--lock', 'github'], table, {}))).toBe('Option `--lock-repository` is needed with `--lock github`: give the GitHub repository as {owner}/{repo}.');
  });

  test('help, a missing value, and subcommand rules', () => {
    expect(parseArgs([], table, {}).help).toBe(true);
    expect(parseArgs(['persist', '--help'], table, {})).toMatchObject({ subcommand: 'persist', help: true });
    expect(usageError(() => parseArgs(['run', '--key'], table, {}))).toBe('Option `--key` needs a value.');
    expect(usageError(() => parseArgs(['refresh', '--stdin'], table, {}))).toMatch(/`--stdin` is for `codex-auth run` only/);
    expect(usageError(() => parseArgs(['run', '--state-file', 'x', '--', 'true'], table, {}))).toMatch(/`--state-file` joins `restore` and `persist`/);
  });

  test("the action's messages name the CLI's options", () => {
    expect(cliWording("Input `store` is 'x', which is not one of: `runner`.")).toBe("Option `--store` is 'x', which is not one of: `runner`.");
    expect(cliWording('`store: command` needs `restore-command` … set `restore-command` on the codex-auth step.')).toBe('`--store command` needs `restore-command` … set `restore-command`.');
  });
});

describe('cliContext', () => {
  test('GitLab jobs: the project path, never an owner/repo GitHub could be asked about; no runner name', () => {
    const ctx = cliContext({ CI_PROJECT_PATH: 'group/app', CI_JOB_ID: '77', CI_JOB_NAME: 'codex', CI_PROJECT_DIR: '/builds/group/app', HOME: '/home/u' });
    expect(ctx).toMatchObject({ repository: 'gitlab:group/app', runId: '77', runAttempt: '1', job: 'codex', runnerName: '', runnerEnvironment: 'self-hosted', workspace: '/builds/group/app', eventName: '' });
    expect(cliContext({}).repository).toMatch(/^cli:/);
  });
});

describe('the log host', () => {
  test('every secret, and its JSON-escaped form, is cut out of every line; lines go out with the prefix', () => {
    const lines: string[] = [];
    const write = host.write;
    host.write = (line) => void lines.push(line);
    try {
      setSecret('rt_secret"value');
      info('token rt_secret"value and "rt_secret\\"value" here\nsecond line');
      warning('::stop-commands::0123456789abcdef0123456789abcdef\nreal warning');
    } finally {
      host.write = write;
      host.secrets.clear();
    }
    expect(lines).toEqual(['codex-auth: token *** and "***" here', 'codex-auth: second line', 'codex-auth: warning: real warning']);
  });
});
