/**
 * `safety-strategy`: how `auto` resolves, and what happens where `unprivileged-user` cannot be had: an
 * explicit choice fails with the reason and the way out, `auto` falls back to `none` with one line. The
 * cases that get as far as the user create `codex-agent`, so they need root on Linux.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { agentUserName, prepareAgentRun, resolveSafetyStrategy, type AgentOptions } from '../../src/codex/agent-user.js';
import { UserError } from '../../src/errors.js';
import type { SafetyStrategy } from '../../src/inputs.js';
import { cleanupTempDirs, recordingLog, rejection, runContext, tempDir, type RecordingLog } from '../support/fixtures.js';

afterAll(cleanupTempDirs);

const ROOT_ON_LINUX = process.platform === 'linux' && process.getuid?.() === 0;

describe('resolveSafetyStrategy', () => {
  test.each<[SafetyStrategy, 'github-hosted' | 'self-hosted', NodeJS.Platform, string]>([
    ['auto', 'github-hosted', 'linux', 'unprivileged-user'],
    ['auto', 'github-hosted', 'darwin', 'none'],
    ['auto', 'github-hosted', 'win32', 'none'],
    ['auto', 'self-hosted', 'linux', 'none'],
    ['unprivileged-user', 'self-hosted', 'darwin', 'unprivileged-user'],
    ['none', 'github-hosted', 'linux', 'none'],
  ])('%s on a %s %s runner is %s', (strategy, runnerEnvironment, platform, expected) => {
    expect(resolveSafetyStrategy(strategy, { runnerEnvironment, platform })).toBe(expected);
  });
});

describe('agentUserName', () => {
  test('codex-agent on a GitHub-hosted runner; one per runner name on self-hosted machines, which may host several', () => {
    expect(agentUserName({ runnerEnvironment: 'github-hosted', runnerName: 'GitHub Actions 3' })).toBe('codex-agent');
    const a = agentUserName({ runnerEnvironment: 'self-hosted', runnerName: 'build-1' });
    const b = agentUserName({ runnerEnvironment: 'self-hosted', runnerName: 'build-2' });
    expect(a).toMatch(/^codex-agent-[0-9a-f]{8}$/);
    expect(b).not.toBe(a);
    expect(agentUserName({ runnerEnvironment: 'self-hosted', runnerName: 'build-1' })).toBe(a);
    expect(a.length).toBeLessThanOrEqual(32); // useradd's limit
  });
});

/** A stand-in codex that answers `--version`, in `dir`. */
function fakeCodex(dir: string): string {
  const file = path.join(dir, 'codex');
  writeFileSync(file, `#!${process.execPath}\nconsole.log('codex-cli 0.169.0');\n`, { mode: 0o755 });
  return file;
}

function options(over: Partial<Omit<AgentOptions, 'log'>> = {}): AgentOptions & { log: RecordingLog } {
  const top = tempDir();
  chmodSync(top, 0o755);
  const workspace = path.join(top, 'work');
  const bin = path.join(top, 'bin');
  const codexHome = path.join(top, 'codex-home');
  for (const dir of [workspace, bin]) mkdirSync(dir, { mode: 0o755 });
  mkdirSync(codexHome, { mode: 0o700 });
  return {
    strategy: 'auto' as SafetyStrategy,
    ctx: runContext({ runnerEnvironment: 'github-hosted', workspace, runnerTemp: path.join(top, 'temp') }),
    codex: fakeCodex(bin),
    codexHome,
    workingDirectory: workspace,
    log: recordingLog(),
    platform: 'linux' as NodeJS.Platform,
    ...over,
  };
}

describe('where unprivileged-user is not available', () => {
  test('not Linux: explicit fails, auto never tries', async () => {
    const o = options({ strategy: 'unprivileged-user', platform: 'darwin' });
    const error = await rejection(prepareAgentRun(o));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      '`safety-strategy: unprivileged-user` is not available on this runner: it needs Linux, and this runner is darwin. Fix that, or set `safety-strategy: none` to run Codex as the job\'s own user (the agent can then read this step\'s environment, inputs included).',
    );
    const auto = options({ platform: 'darwin' });
    expect(await prepareAgentRun(auto)).toBeNull();
    expect(auto.log.lines).toEqual([]);
  });

  test('none: nothing is prepared', async () => {
    const o = options({ strategy: 'none' });
    expect(await prepareAgentRun(o)).toBeNull();
    expect(o.log.lines).toEqual([]);
  });

  (ROOT_ON_LINUX ? test : test.skip)(`a codex under a private directory: explicit fails, auto falls back with one line${ROOT_ON_LINUX ? '' : ' (skipped: needs root on Linux)'}`, async () => {
    const hidden = tempDir(); // 0700, root's
    const codex = fakeCodex(hidden);
    const error = await rejection(prepareAgentRun(options({ strategy: 'unprivileged-user', codex })));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/^`safety-strategy: unprivileged-user` is not available on this runner: `codex --version` fails when run as codex-agent \(.*\): install Codex where every user can read it/);
    const auto = options({ codex });
    expect(await prepareAgentRun(auto)).toBeNull();
    expect(auto.log.lines).toHaveLength(1);
    expect(auto.log.text('info')).toMatch(/^Codex runs as the job's own user \(`safety-strategy: auto` fell back to `none`\): `codex --version` fails when run as codex-agent/);
  });

  test('a working directory that holds codex-home is never lent to the agent', async () => {
    const o = options({ strategy: 'unprivileged-user' });
    const codexHome = path.join(o.workingDirectory, '.codex');
    mkdirSync(codexHome, { mode: 0o700 });
    const error = await rejection(prepareAgentRun({ ...o, codexHome }));
    expect(error.message).toContain(`the working directory ${o.workingDirectory} contains ${codexHome}, which the agent must not own`);
  });

  test('a working directory that holds this action (uses: ./) is never lent: the agent could rewrite post', async () => {
    const o = options({ strategy: 'unprivileged-user' });
    const error = await rejection(prepareAgentRun({ ...o, env: { GITHUB_ACTION_PATH: o.workingDirectory } }));
    expect(error.message).toContain(
      `the working directory ${o.workingDirectory} contains this action (${o.workingDirectory}, as with \`uses: ./\`), and an agent that may write there could rewrite its post step, which runs with this step's inputs; use the action from another directory or repository.`,
    );
    const auto = options();
    expect(await prepareAgentRun({ ...auto, env: { GITHUB_ACTION_PATH: path.join(auto.workingDirectory, 'sub') } })).toBeNull();
    expect(auto.log.text('info')).toContain('fell back to `none`');
  });

  (ROOT_ON_LINUX ? test : test.skip)(`an existing agent user whose home is not its own is refused, and nothing is changed there${ROOT_ON_LINUX ? '' : ' (skipped: needs root on Linux)'}`, async () => {
    const ctx = { runnerEnvironment: 'self-hosted' as const, runnerName: 'home-test' };
    const name = agentUserName(ctx);
    const o = options({ strategy: 'unprivileged-user' });
    spawnSync('userdel', [name]);
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/', name]);
    try {
      const rootMode = statSync('/').mode;
      const error = await rejection(prepareAgentRun({ ...o, ctx: { ...o.ctx, ...ctx } }));
      expect(error.message).toContain(`the home directory of ${name}, /, is not a directory of its own; remove the user (\`userdel ${name}\`) and the action creates it again`);
      expect(statSync('/').mode).toBe(rootMode);
    } finally {
      execFileSync('userdel', [name]);
    }
  });
});
