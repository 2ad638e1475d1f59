/**
 * `safety-strategy`: how `auto` resolves, and what happens where `unprivileged-user` cannot be had: an
 * explicit choice fails with the reason and the way out, `auto` falls back to `none` with one line. The
 * cases that get as far as the user create `codex-agent`, so they need root on Linux.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SYSTEM_PATH } from '../../src/codex/agent-exec.js';
import { agentUserName, handOver, prepareAgentRun, resolveSafetyStrategy, RUN_ROOT, type AgentOptions } from '../../src/codex/agent-user.js';
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

  test.each<[string, (work: string, top: string) => string]>([
    ['a directory of the working tree (node_modules/.bin through GITHUB_PATH)', (work) => path.join(work, 'node_modules', '.bin')],
    ['a link that leads into the working tree', (work, top) => {
      symlinkSync(work, path.join(top, 'work-link'));
      return path.join(top, 'work-link', 'bin');
    }],
    ['an empty entry', () => ''],
    ['a relative entry', () => 'node_modules/.bin'],
  ])('a job PATH with %s: explicit fails, auto falls back', async (_, entry) => {
    const o = options({ strategy: 'unprivileged-user' });
    const top = path.dirname(o.workingDirectory);
    const PATH = `/usr/bin:${entry(o.workingDirectory, top)}:/bin`;
    const error = await rejection(prepareAgentRun({ ...o, env: { PATH } }));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/^`safety-strategy: unprivileged-user` is not available on this runner: the job's PATH holds .*; commands this action and later steps find on PATH would run what the agent put there\. Take that entry off PATH \(as added through GITHUB_PATH\) for this step\./);
    const auto = options();
    const autoPath = `/usr/bin:${entry(auto.workingDirectory, path.dirname(auto.workingDirectory))}`;
    expect(await prepareAgentRun({ ...auto, env: { PATH: autoPath } })).toBeNull();
    expect(auto.log.text('info')).toMatch(/^Codex runs as the job's own user \(`safety-strategy: auto` fell back to `none`\): the job's PATH holds /);
  });

  test('the tree is compared by real path: a workspace reached through a link that holds codex-home, the codex binary or HOME is refused', async () => {
    for (const what of ['codexHome', 'codex', 'home'] as const) {
      const o = options({ strategy: 'unprivileged-user' });
      const top = path.dirname(o.workingDirectory);
      const link = path.join(top, 'through-a-link');
      symlinkSync(o.workingDirectory, link);
      const inside = path.join(o.workingDirectory, 'inside');
      mkdirSync(inside, { mode: 0o755 });
      const over: Partial<AgentOptions> =
        what === 'codexHome' ? { codexHome: inside } : what === 'codex' ? { codex: fakeCodex(inside) } : { ctx: { ...o.ctx, home: inside } };
      const error = await rejection(prepareAgentRun({ ...o, ...over, ctx: { ...(over.ctx ?? o.ctx), workspace: link }, workingDirectory: link, env: { PATH: SYSTEM_PATH } }));
      expect(error.message).toContain(`the working directory ${o.workingDirectory} contains `);
      expect(error.message).toContain('which the agent must not own');
    }
  });
});

/** A user for the tests that need one of their own, with its home; removed by the caller. */
function testUser(runnerName: string): { name: string; uid: number; gid: number; home: string } {
  const name = agentUserName({ runnerEnvironment: 'self-hosted', runnerName });
  spawnSync('userdel', ['-r', name], { stdio: 'ignore' });
  execFileSync('useradd', ['--system', '--user-group', '--create-home', '--home-dir', `/home/${name}`, '--shell', '/bin/bash', name]);
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { name, uid: id('-u'), gid: id('-g'), home: `/home/${name}` };
}

(ROOT_ON_LINUX ? describe : describe.skip)(`what root does for the agent, and what the agent leaves${ROOT_ON_LINUX ? '' : ' (skipped: needs root on Linux)'}`, () => {
  test('hand-over writes as the agent: a link the agent left where CODEX_HOME goes does not carry the write elsewhere', async () => {
    const account = testUser('handover-test');
    const runDir = path.join(RUN_ROOT, account.name, 'run-swap-test');
    try {
      const victim = tempDir();
      chmodSync(victim, 0o755);
      const from = tempDir();
      writeFileSync(path.join(from, 'auth.json'), '{"handed":true}', { mode: 0o600 });
      mkdirSync(runDir, { recursive: true, mode: 0o700 });
      chownSync(runDir, account.uid, account.gid);
      // what an agent process could have done while root worked: codex-home leads to a directory of root's
      symlinkSync(victim, path.join(runDir, 'codex-home'));
      lchownSync(path.join(runDir, 'codex-home'), account.uid, account.gid);
      await rejection(handOver('root', account, from, runDir, path.join(runDir, 'codex-home')));
      expect(existsSync(path.join(victim, 'auth.json'))).toBe(false);
      expect(statSync(victim).uid).toBe(0);
      // the run directory's parents are root's, so the agent can rename none of them
      for (const dir of [RUN_ROOT, path.dirname(runDir)]) expect([statSync(dir).uid, statSync(dir).mode & 0o7777]).toEqual([0, 0o711]);
    } finally {
      rmSync(runDir, { recursive: true, force: true });
      spawnSync('userdel', ['-r', account.name], { stdio: 'ignore' });
    }
  });

  test('a run lends the tree but not .git, closes the runner logs, and finish takes back modes, hard links, temporary files and cron', async () => {
    const o = options({ strategy: 'unprivileged-user' });
    const top = path.dirname(o.workingDirectory);
    const work = o.workingDirectory;
    // a runner laid out as on GitHub: <root>/externals/node24/bin/node, the live step log in <root>/_diag/pages
    const runnerRoot = path.join(top, 'actions-runner');
    const node = path.join(runnerRoot, 'externals', 'node24', 'bin', 'node');
    mkdirSync(path.dirname(node), { recursive: true, mode: 0o755 });
    writeFileSync(node, '', { mode: 0o755 });
    const diag = path.join(runnerRoot, '_diag');
    mkdirSync(path.join(diag, 'pages'), { recursive: true, mode: 0o755 });
    chmodSync(runnerRoot, 0o755);
    chmodSync(diag, 0o755);
    const log = path.join(diag, 'pages', 'step.log');
    writeFileSync(log, '::stop-commands::the-token\n', { mode: 0o644 });
    execFileSync('git', ['init', '-q', work]);
    const gitConfig = readFileSync(path.join(work, '.git', 'config'), 'utf8');
    writeFileSync(path.join(work, 'existing.txt'), 'checked out\n', { mode: 0o644 });
    writeFileSync(path.join(o.codexHome, 'auth.json'), '{"auth_mode":"apikey","OPENAI_API_KEY":"sk-test"}', { mode: 0o600 });
    const ctx = { ...o.ctx, runnerEnvironment: 'self-hosted' as const, runnerName: 'sweep-test' };
    const name = agentUserName(ctx);
    const left = path.join('/tmp', `codex-auth-agent-left-${process.pid}`);
    // a reused user is denied cron too: start from a cron.deny without it
    if (existsSync('/etc/cron.deny')) writeFileSync('/etc/cron.deny', readFileSync('/etc/cron.deny', 'utf8').split('\n').filter((line) => line !== name).join('\n'));
    const run = await prepareAgentRun({ ...o, ctx, execPath: node, env: { PATH: SYSTEM_PATH } });
    if (!run) throw new Error('no agent run');
    try {
      const { uid, gid } = run.account;
      const as = (script: string) => spawnSync('/bin/sh', ['-c', script], { uid, gid, cwd: work, env: { PATH: SYSTEM_PATH, HOME: run.account.home }, encoding: 'utf8' });
      expect(as('echo edit >> existing.txt').status).toBe(0);
      // git, as the agent starts it, still reads the repository whose .git is the job's
      const launch = await run.runAs.command('git', ['status', '--short'], { PATH: SYSTEM_PATH });
      const git = spawnSync(launch.file, launch.args, { cwd: work, env: launch.env, uid: launch.uid, gid: launch.gid, encoding: 'utf8' });
      expect([git.status, git.stderr]).toEqual([0, '']);
      // the runner's logs are closed to others while the agent may pass /home/runner
      expect(statSync(diag).mode & 0o777).toBe(0o750);
      expect(as(`cat ${log}`).status).not.toBe(0);
      // .git stays the job's: no hooks, no core.fsmonitor for a later step's git
      expect(as('echo "[core] fsmonitor = evil" >> .git/config').status).not.toBe(0);
      expect(as('echo evil > .git/hooks/post-checkout').status).not.toBe(0);
      // CODEX_HOME sits in a run directory that is the agent's leaf below directories of root's
      expect(path.dirname(path.dirname(path.dirname(run.codexHome)))).toBe(RUN_ROOT);
      expect(statSync(path.dirname(path.dirname(run.codexHome))).uid).toBe(0);
      // what the agent leaves: world-writable files, a hard link to a file of its own outside, a file in /tmp
      expect(as(`echo made > made.txt && chmod 0666 made.txt && mkdir open && chmod 0777 open && chmod 4755 existing.txt && echo kept > ${left} && ln ${left} linked-in`).status).toBe(0);
      expect(readFileSync('/etc/cron.deny', 'utf8').split('\n')).toContain(name);
    } finally {
      await run.finish();
    }
    expect(o.log.text('warning')).toBe('');
    expect(statSync(diag).mode & 0o777).toBe(0o755);
    expect(readFileSync(path.join(work, '.git', 'config'), 'utf8')).toBe(gitConfig);
    expect(existsSync(path.join(work, '.git', 'hooks', 'post-checkout'))).toBe(false);
    const made = statSync(path.join(work, 'made.txt'));
    expect([made.uid, made.mode & 0o7777]).toEqual([0, 0o644]);
    expect(statSync(path.join(work, 'open')).mode & 0o7777).toBe(0o755);
    expect(statSync(path.join(work, 'existing.txt')).mode & 0o7777).toBe(0o755);
    expect(existsSync(path.join(work, 'linked-in'))).toBe(false);
    expect(existsSync(left)).toBe(false);
    expect(existsSync(path.dirname(run.codexHome))).toBe(false);
    spawnSync('userdel', ['-r', name], { stdio: 'ignore' });
  });
});

