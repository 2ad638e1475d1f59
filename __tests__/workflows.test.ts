/**
 * Every workflow, and every YAML example in the README, pins each action to a full commit SHA with a
 * `# vX` comment (as users pin since the tj-actions/changed-files compromise), declares `permissions:`,
 * and checks out with `persist-credentials: false`, so that no step (the agent least of all) finds a
 * git credential in the checkout.
 */
import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './support/runner.js';
import { checkoutProblems, dedent, permissionProblems, pinProblems, usesLines, yamlBlocks } from './support/workflow-check.js';

const workflowDir = path.join(ROOT, '.github', 'workflows');
const workflows = readdirSync(workflowDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((file) => ({ file, text: readFileSync(path.join(workflowDir, file), 'utf8') }));
const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const examples = yamlBlocks(readme).map((block) => ({ where: `README.md:${block.line}`, text: dedent(block.text) }));
/** The README shows this action by its major tag, which the release workflow moves; it shows how to pin it too. */
const THIS_ACTION = 'codex-auth/codex-auth';

describe('workflows', () => {
  test('there are workflows, the release workflow among them', () => {
    expect(workflows.map((w) => w.file)).toEqual(expect.arrayContaining(['ci.yml', 'release.yml']));
  });

  test.each(workflows)('$file pins every action to a full commit SHA with a # vX comment', ({ file, text }) => {
    expect(pinProblems(text, file)).toEqual([]);
  });

  test.each(workflows)('$file has a permissions: block', ({ file, text }) => {
    expect(permissionProblems(parse(text), file)).toEqual([]);
  });

  test.each(workflows)('$file checks out with persist-credentials: false', ({ file, text }) => {
    expect(checkoutProblems(parse(text), file)).toEqual([]);
  });

  test('the release workflow may write contents in its release job only', () => {
    const release = parse(workflows.find((w) => w.file === 'release.yml')!.text) as { permissions: unknown; jobs: Record<string, { permissions?: unknown }> };
    expect(release.permissions).toEqual({ contents: 'read' });
    expect(Object.fromEntries(Object.entries(release.jobs).map(([name, job]) => [name, job.permissions ?? null]))).toEqual({ test: null, release: { contents: 'write' } });
  });
});

describe("the README's YAML examples", () => {
  test('there are examples, and they use third-party actions too', () => {
    expect(examples.length).toBeGreaterThan(5);
    const targets = examples.flatMap((e) => usesLines(e.text).map((u) => u.target));
    expect(targets.filter((t) => !t.startsWith(`${THIS_ACTION}@`)).length).toBeGreaterThan(1);
  });

  test.each(examples)('$where parses and pins every third-party action', ({ where, text }) => {
    expect(() => parse(text)).not.toThrow();
    expect(pinProblems(text, where, [THIS_ACTION])).toEqual([]);
  });

  test.each(examples)('$where checks out with persist-credentials: false', ({ where, text }) => {
    expect(checkoutProblems(parse(text), where)).toEqual([]);
  });

  test('shows how to pin this action to a commit SHA', () => {
    expect(readme).toMatch(new RegExp(`uses: ${THIS_ACTION}@<[^>\\s]*SHA[^>\\s]*> # v1`));
  });
});

describe('the checks find what they look for', () => {
  const bad = `
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@1234567890123456789012345678901234567890
      - uses: "some/action@abcdefabcdefabcdefabcdefabcdefabcdefabcd" # v2.1.0
      - uses: ./local
      - uses: docker://alpine:3
  b:
    uses: org/repo/.github/workflows/reuse.yml@main
    permissions: write-all
`;

  test('unpinned, pinned without a comment, and tag-only uses', () => {
    expect(pinProblems(bad, 'bad.yml')).toEqual([
      'bad.yml:7: actions/checkout@v4 is not pinned to a full commit SHA',
      'bad.yml:8: actions/setup-node@1234567890123456789012345678901234567890 has no `# vX` comment naming its version',
      'bad.yml:11: docker://alpine:3 is not pinned to a digest',
      'bad.yml:13: org/repo/.github/workflows/reuse.yml@main is not pinned to a full commit SHA',
    ]);
  });

  test('a uses: the line reader cannot see (flow style) is reported', () => {
    expect(pinProblems('steps: [{ uses: a/b@v1 }]', 'flow.yml')[0]).toMatch(/lines \(0\) and the parsed document's \(1\) differ/);
  });

  test('a tag is allowed only for the actions named', () => {
    const text = 'steps:\n  - uses: codex-auth/codex-auth@v1\n  - uses: other/action@v1\n';
    expect(pinProblems(text, 'x', ['codex-auth/codex-auth'])).toEqual(['x:3: other/action@v1 is not pinned to a full commit SHA']);
  });

  test('missing permissions and write-all', () => {
    expect(permissionProblems(parse(bad), 'bad.yml')).toEqual(['bad.yml: neither the workflow nor job `a` has a `permissions:` block', 'bad.yml: `permissions: write-all`']);
  });

  test('a checkout that keeps its credentials, and one that sets them to true', () => {
    expect(checkoutProblems(parse(bad), 'bad.yml')).toEqual(['bad.yml: a checkout (actions/checkout@v4) without `persist-credentials: false`']);
    expect(checkoutProblems(parse('- uses: actions/checkout@v4\n  with: { persist-credentials: true }'), 'y')).toHaveLength(1);
  });
});
