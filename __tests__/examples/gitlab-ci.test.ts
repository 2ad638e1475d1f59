/**
 * examples/gitlab-ci.yml and the README's GitLab examples: they parse as YAML, every job is a job GitLab
 * can run, and every `codex-auth` command in them passes the CLI's own parsing and the action's input
 * validation with the job's variables, as the CLI would run it.
 */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { cliContext } from '../../src/cli/context.js';
import { cliInputs, CLI_STORES, parseArgs, type OptionSpec } from '../../src/cli/options.js';
import { readInputs } from '../../src/inputs.js';
import { withInputs } from '../support/fixtures.js';
import { ROOT } from '../support/runner.js';

interface Job {
  image?: string;
  tags?: string[];
  resource_group?: string;
  variables?: Record<string, string>;
  before_script?: string[];
  script?: string[];
  after_script?: string[];
}

const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, { description: string }> };
const table = cliInputs(Object.entries(action.inputs).map(([name, spec]): OptionSpec => ({ name, description: spec.description })));
const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** A GitLab job's environment as far as the CLI reads it: the file's and the job's variables, and what GitLab sets. */
function jobEnv(globals: Record<string, string>, job: Job): NodeJS.ProcessEnv {
  return {
    CI_PROJECT_ID: '7',
    CI_PROJECT_PATH: 'team/app',
    CI_API_V4_URL: 'https://gitlab.example.com/api/v4',
    CI_JOB_ID: '1',
    CI_JOB_TOKEN: 'job-token',
    CODEX_AUTH_GITLAB_TOKEN: 'glpat-example',
    ...globals,
    ...job.variables,
  };
}

/** `codex-auth …` lines of a script, as words (the examples use no quoting inside codex-auth's own options). */
function codexAuthCommands(job: Job): string[][] {
  return [...(job.script ?? []), ...(job.after_script ?? [])]
    .filter((line) => line.startsWith('codex-auth '))
    .map((line) => line.replace(/ -- .*$/, ' -- COMMAND').split(/\s+/).slice(1));
}

function checkJobs(file: string, doc: Record<string, unknown>): number {
  const globals = (doc.variables ?? {}) as Record<string, string>;
  let commands = 0;
  for (const [name, value] of Object.entries(doc)) {
    if (name === 'variables' || name === 'stages' || name === 'default') continue;
    const job = value as Job;
    expect([file, name, Array.isArray(job.script) && job.script.length > 0]).toEqual([file, name, true]);
    expect([file, name, Boolean(job.image || job.tags)]).toEqual([file, name, true]);
    const env = jobEnv(globals, job);
    if (env.CODEX_AUTH_STORE === 'gitlab-variable' && env.CODEX_AUTH_LOCK === 'none') expect([file, name, job.resource_group]).toEqual([file, name, 'codex-auth']);
    for (const argv of codexAuthCommands(job)) {
      commands++;
      const parsed = parseArgs(argv, table, env);
      const inputs = withInputs(Object.fromEntries(parsed.inputs), () => readInputs(cliContext(env), env, { stores: CLI_STORES }));
      expect([file, name, inputs.store]).toEqual([file, name, env.CODEX_AUTH_STORE]);
    }
  }
  return commands;
}

describe('GitLab CI examples', () => {
  test('examples/gitlab-ci.yml: ephemeral with resource_group, after_script, scheduled keep-fresh, persistent shell runner', () => {
    const doc = parse(readFileSync(path.join(ROOT, 'examples', 'gitlab-ci.yml'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(expect.arrayContaining(['codex-review', 'codex-review-split', 'codex-keep-fresh', 'codex-on-shell-runner']));
    expect(checkJobs('examples/gitlab-ci.yml', doc)).toBe(5);
    const keepFresh = doc['codex-keep-fresh'] as Job & { rules: { if: string }[] };
    expect(keepFresh.rules[0]?.if).toContain('$CI_PIPELINE_SOURCE == "schedule"');
    expect((doc['codex-review-split'] as Job).after_script).toEqual(['codex-auth persist']);
  });

  test("the README's GitLab section: every yaml block parses and its codex-auth commands are valid", () => {
    const section = readme.split('## GitLab CI and other CI systems: the `codex-auth` CLI\n')[1]?.split('\n## ')[0] ?? '';
    const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    let commands = 0;
    for (const [i, block] of blocks.entries()) commands += checkJobs(`README block ${i + 1}`, parse(block) as Record<string, unknown>);
    expect(commands).toBeGreaterThanOrEqual(3);
  });
});
