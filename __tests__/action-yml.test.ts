/**
 * The interface contract (DESIGN.md §2) is fixed: tests outside this repository drive the action by these
 * names. action.yml, the README's tables and every `with:` in the workflows must agree with it.
 */
import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './support/runner.js';

const CONTRACT_INPUTS: Record<string, string> = {
  'auth-json': '', store: 'auto', 'codex-home': '', key: 'codex-auth', 'encryption-key': '', 'restore-command': '',
  'persist-command': '', 'secret-name': 'CODEX_AUTH_JSON', 'secret-token': '', 'secret-repository': '', 'secret-environment': '',
  lock: 'auto', 'lock-timeout': '3600', 'lock-repository': '', 'github-token': '${{ github.token }}', prompt: '', 'prompt-file': '',
  'codex-args': '', 'codex-version': '', 'working-directory': '', cleanup: 'auto', 'allow-untrusted': 'false', 'openai-api-key': '', 'access-token': '',
  refresh: 'auto', 'lock-scope': 'job', 'min-validity': '21600', 'safety-strategy': 'auto',
};
const CONTRACT_OUTPUTS = ['codex-home', 'source', 'last-refresh', 'stale', 'refreshed', 'exit-code', 'final-message', 'lock-wait-seconds', 'expires-at'];

interface Action {
  inputs: Record<string, { description: string; default?: string; required?: boolean }>;
  outputs: Record<string, { description: string }>;
  runs: Record<string, string>;
  branding: Record<string, string>;
}
const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as Action;
const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const workflowDir = path.join(ROOT, '.github', 'workflows');
const workflows = readdirSync(workflowDir).filter((f) => /\.ya?ml$/.test(f));

describe('action.yml', () => {
  test('has every input of the contract, with its default and a description, and no other', () => {
    expect(Object.keys(action.inputs).sort()).toEqual(Object.keys(CONTRACT_INPUTS).sort());
    for (const [name, spec] of Object.entries(action.inputs)) {
      expect([name, String(spec.default)]).toEqual([name, CONTRACT_INPUTS[name]]);
      expect(spec.description.length).toBeGreaterThan(20);
    }
  });

  test('has every output of the contract, with a description', () => {
    expect(Object.keys(action.outputs).sort()).toEqual([...CONTRACT_OUTPUTS].sort());
    for (const spec of Object.values(action.outputs)) expect(spec.description.length).toBeGreaterThan(10);
  });

  test('runs main and post on node24, post always', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/main/index.js', post: 'dist/post/index.js', 'post-if': 'always()' });
    expect(action.branding.icon).toBeTruthy();
  });
});

describe('README', () => {
  const rows = (heading: string) => {
    const section = readme.split(`## ${heading}\n`)[1]?.split('\n## ')[0] ?? '';
    return [...section.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
  };
  test('documents every input and every output, in sync with action.yml', () => {
    expect(rows('Inputs').sort()).toEqual(Object.keys(action.inputs).sort());
    expect(rows('Outputs').sort()).toEqual(Object.keys(action.outputs).sort());
  });
});

describe('workflows', () => {
  test.each(workflows)('%s parses, and every `with:` of this action names an input', (file) => {
    const workflow = parse(readFileSync(path.join(workflowDir, file), 'utf8')) as { on: unknown; jobs: Record<string, { steps?: { uses?: string; with?: Record<string, unknown> }[] }> };
    expect(workflow.on).toBeTruthy();
    expect(Object.keys(workflow.jobs).length).toBeGreaterThan(0);
    for (const job of Object.values(workflow.jobs)) {
      for (const step of job.steps ?? []) {
        if (step.uses !== './' && !step.uses?.startsWith('codex-auth/')) continue;
        for (const key of Object.keys(step.with ?? {})) expect([file, key, key in action.inputs]).toEqual([file, key, true]);
      }
    }
  });

  test('the README examples use only inputs of action.yml', () => {
    const keys = [...readme.matchAll(/^ {10}([a-z-]+): /gm)].map((m) => m[1] as string);
    expect(keys.length).toBeGreaterThanOrEqual(5);
    for (const key of keys) expect([key, key in action.inputs]).toEqual([key, true]);
  });
});
