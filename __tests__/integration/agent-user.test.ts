/**
 * `safety-strategy: unprivileged-user` for real, through the built dist/: the tests run as root, so main
 * creates the `codex-agent` user and runs a stand-in `codex` as it. The stand-in acts as an agent would:
 * it reports its uid, tries every ancestor's /proc/<pid>/environ, RUNNER_TEMP and the state file, writes the
 * workspace, escapes its process group with setsid, and refreshes auth.json as Codex does.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agentUserName } from '../../src/codex/agent-user.js';
import { makeAuthJson, makeRefreshToken, startCodexBackend } from '../support/codex-backend.js';
import { codexBinary } from '../support/codex-cli.js';
import { leakedSecrets, newRunner, runJob, stepLogs, type Runner } from '../support/runner.js';

jest.setTimeout(120_000);

const ROOT_ON_LINUX = process.platform === 'linux' && process.getuid?.() === 0;

/** The stand-in agent. Everything it finds goes to agent-record.json in the workspace, the one place it may write. */
const AGENT = `#!${process.execPath}
const fs = require('fs');
const path = require('path');
const cp = require('child_process');
const argv = process.argv.slice(2);
if (argv[0] === '--version') {
  console.log('codex-cli 0.169.0');
  process.exit(0);
}
const attempt = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.code || String(e); } };
const ppidOf = (pid) => Number(fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ')[1]);
const environs = [];
for (let pid = process.ppid; pid > 1; pid = ppidOf(pid)) environs.push({ pid, result: attempt(() => fs.readFileSync('/proc/' + pid + '/environ')) });
const stateFile = process.env.GITHUB_STATE || '';
const escaped = cp.spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
escaped.unref();
const record = {
  uid: process.getuid(),
  euid: process.geteuid(),
  groups: process.getgroups(),
  codexHome: process.env.CODEX_HOME,
  home: process.env.HOME,
  environs,
  runnerTemp: attempt(() => fs.readdirSync(process.env.RUNNER_TEMP)),
  stateFile,
  stateWrite: stateFile ? attempt(() => fs.appendFileSync(stateFile, 'forged=by-the-agent\\n')) : 'no GITHUB_STATE',
  actionCodexHome: attempt(() => fs.readFileSync(process.env.ACTION_CODEX_HOME + '/auth.json')),
  workspaceWrite: attempt(() => fs.writeFileSync(path.join(process.cwd(), 'agent-was-here.txt'), 'hello\\n')),
  existingWrite: attempt(() => fs.appendFileSync(path.join(process.cwd(), 'existing.txt'), 'edited by the agent\\n')),
  hardLinkWrite: attempt(() => fs.appendFileSync(path.join(process.cwd(), 'linked.txt'), 'poisoned\\n')),
  escapedPid: escaped.pid,
};
const auth = path.join(process.env.CODEX_HOME, 'auth.json');
const json = JSON.parse(fs.readFileSync(auth, 'utf8'));
json.tokens.refresh_token = process.env.AGENT_NEW_REFRESH;
json.last_refresh = new Date().toISOString();
if (process.env.AGENT_LINK_TO) {
  // a refreshed-looking file elsewhere, and auth.json a link to what the agent wants read with the action's rights
  fs.unlinkSync(auth);
  fs.symlinkSync(process.env.AGENT_LINK_TO, auth);
} else {
  fs.writeFileSync(auth + '.tmp', JSON.stringify(json, null, 2), { mode: 0o600 });
  fs.renameSync(auth + '.tmp', auth);
}
fs.writeFileSync(path.join(process.cwd(), 'agent-record.json'), JSON.stringify(record));
const out = argv.indexOf('--output-last-message');
if (out >= 0) fs.writeFileSync(argv[out + 1], 'done as the agent');
console.log('agent ran');
`;

interface AgentRecord {
  uid: number;
  euid: number;
  groups: number[];
  codexHome: string;
  home: string;
  environs: { pid: number; result: string }[];
  runnerTemp: string;
  stateFile: string;
  stateWrite: string;
  actionCodexHome: string;
  workspaceWrite: string;
  existingWrite: string;
  hardLinkWrite: string;
  escapedPid: number;
}

const alive = (pid: number): boolean => {
  const status = (() => {
    try {
      return readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return '';
    }
  })();
  return status !== '' && !/^State:\s+Z/m.test(status);
};

/** The system's own directories: root's private ones on the suite's PATH only make noise for another user. */
const SYSTEM_PATH = [path.dirname(process.execPath), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
const SUDO = ROOT_ON_LINUX && spawnSync('sudo', ['--version']).status === 0;
const SIM_USER = 'codex-auth-runner';
const SUDOERS = `/etc/sudoers.d/${SIM_USER}`;

/**
 * One job with the hostile stand-in on a fresh runner, as root or as `user`, then everything the agent
 * could and could not do, and what post made of it.
 */
async function hostileJob(binDir: string, user?: { uid: number; gid: number }): Promise<void> {
  const runner = newRunner({ name: 'agent-user-1' });
  try {
    // like /home/runner on GitHub-hosted runners: closed to other users, with the workspace below it
    chmodSync(runner.dir, 0o750);
    const codexHome = path.join(runner.dir, 'codex-home');
    mkdirSync(codexHome, { mode: 0o700 });
    // a file the job checked out, and one hard-linked from outside the tree (as a package manager's store does)
    writeFileSync(path.join(runner.workspace, 'existing.txt'), 'from the checkout\n', { mode: 0o644 });
    const outside = path.join(runner.dir, 'store-file.txt');
    writeFileSync(outside, 'store content\n', { mode: 0o644 });
    linkSync(outside, path.join(runner.workspace, 'linked.txt'));
    if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, runner.dir]);
    const owner = user ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    const seedRefresh = makeRefreshToken();
    const newRefresh = makeRefreshToken();
    const seed = makeAuthJson({ accountId: 'acct-agent', email: 'ci-bot@example.com', lastRefresh: new Date(Date.now() - 3600_000), refreshToken: seedRefresh });
    const tempMode = statSync(runner.temp).mode & 0o7777;
    const { main, post } = await runJob({
      runner,
      user,
      inputs: { 'auth-json': seed, prompt: 'refresh and look around', 'codex-home': codexHome, store: 'runner', 'safety-strategy': 'unprivileged-user' },
      env: { PATH: `${binDir}:${SYSTEM_PATH}`, AGENT_NEW_REFRESH: newRefresh, ACTION_CODEX_HOME: codexHome },
    });
    expect(main.stdout).toContain('agent ran');
    expect(main.exitCode).toBe(0);
    // a self-hosted runner gets an agent user of its own
    const agentName = agentUserName({ runnerEnvironment: 'self-hosted', runnerName: runner.name });
    expect(agentName).toMatch(/^codex-agent-[0-9a-f]{8}$/);
    expect(main.stdout).toMatch(new RegExp(`Codex runs as the user ${agentName} \\(uid \\d+\\)`));
    expect(main.stdout).toContain(`${runner.dir} lets other users pass (mode 751, was 750) while Codex runs`);
    expect(main.outputs).toMatchObject({ refreshed: 'true', 'exit-code': '0', 'final-message': 'done as the agent' });

    const record = JSON.parse(readFileSync(path.join(runner.workspace, 'agent-record.json'), 'utf8')) as AgentRecord;
    const agentUid = Number(execFileSync('id', ['-u', agentName], { encoding: 'utf8' }).trim());
    expect(record.uid).toBe(agentUid);
    expect(record.euid).toBe(agentUid);
    expect(record.uid).not.toBe(owner.uid);
    // only its own group: none of root's or the runner's
    expect(record.groups).not.toContain(0);
    expect(record.groups).not.toContain(owner.gid);
    // the parent (main's node, or sudo), and every ancestor up to init, keeps its environment (inputs included) to itself
    expect(record.environs.length).toBeGreaterThanOrEqual(2);
    for (const { result } of record.environs) expect(result).toBe('EACCES');
    expect(record.runnerTemp).toBe('EACCES');
    expect(record.actionCodexHome).toBe('EACCES');
    if (record.stateFile) expect(record.stateWrite).toBe('EACCES');
    expect(main.state.forged).toBeUndefined();
    expect(record.workspaceWrite).toBe('ok');
    expect(record.existingWrite).toBe('ok');
    // a file with another name outside the tree is not lent: the agent cannot change it through the tree
    expect(record.hardLinkWrite).toBe('EACCES');
    expect(readFileSync(outside, 'utf8')).toBe('store content\n');
    expect([statSync(outside).uid, statSync(path.join(runner.workspace, 'existing.txt')).uid]).toEqual([owner.uid, owner.uid]);
    expect(record.codexHome.startsWith(`/var/lib/codex-auth/${agentName}/run-`)).toBe(true);

    // after the run: the escaped process is gone, the agent's copy too, and every permission is as it was
    expect(alive(record.escapedPid)).toBe(false);
    expect(existsSync(record.codexHome)).toBe(false);
    expect(statSync(runner.temp).mode & 0o7777).toBe(tempMode);
    expect(statSync(runner.dir).mode & 0o7777).toBe(0o750);
    const made = statSync(path.join(runner.workspace, 'agent-was-here.txt'));
    expect([made.uid, made.gid]).toEqual([owner.uid, owner.gid]);
    expect(statSync(runner.workspace).uid).toBe(owner.uid);

    // post persists the file the agent refreshed: the runner store keeps it in codex-home
    expect(post.exitCode).toBe(0);
    expect(post.stdout).toContain('stays in');
    const kept = JSON.parse(readFileSync(path.join(codexHome, 'auth.json'), 'utf8')) as { tokens: { refresh_token: string } };
    expect(kept.tokens.refresh_token).toBe(newRefresh);
    expect(main.masks).toContain(newRefresh);
    expect(leakedSecrets(stepLogs(main, post), [seedRefresh, newRefresh])).toEqual([]);
  } finally {
    runner.remove();
  }
}

/** The agent leaves auth.json as a link to a file of the action's: main refuses it, and codex-home keeps its copy. */
async function linkJob(binDir: string, user?: { uid: number; gid: number }): Promise<void> {
  const runner = newRunner({ name: 'agent-user-1' });
  try {
    chmodSync(runner.dir, 0o750);
    const codexHome = path.join(runner.dir, 'codex-home');
    mkdirSync(codexHome, { mode: 0o700 });
    if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, runner.dir]);
    const seed = makeAuthJson({ accountId: 'acct-agent', email: 'ci-bot@example.com', lastRefresh: new Date(Date.now() - 3600_000), refreshToken: makeRefreshToken() });
    const { main, post } = await runJob({
      runner,
      user,
      inputs: { 'auth-json': seed, prompt: 'leave a link', 'codex-home': codexHome, store: 'runner', 'safety-strategy': 'unprivileged-user' },
      env: { PATH: `${binDir}:${SYSTEM_PATH}`, AGENT_NEW_REFRESH: makeRefreshToken(), ACTION_CODEX_HOME: codexHome, AGENT_LINK_TO: '/etc/shadow' },
    });
    expect(main.stdout).toContain('agent ran');
    expect(main.exitCode).toBe(0);
    expect(main.warnings.join('\n')).toMatch(/The auth\.json Codex used as codex-agent-[0-9a-f]{8} was not taken back: Refusing to take \S+\/auth\.json back from codex-agent-[0-9a-f]{8}: it is a symbolic link\./);
    expect(main.outputs.refreshed).toBe('false');
    expect(readFileSync(path.join(codexHome, 'auth.json'), 'utf8')).toBe(seed);
    expect(post.exitCode).toBe(0);
    expect(post.stdout + post.stderr).not.toContain('root:');
  } finally {
    runner.remove();
  }
}

(ROOT_ON_LINUX ? describe : describe.skip)(`safety-strategy: unprivileged-user${ROOT_ON_LINUX ? '' : ' (skipped: needs root on Linux to create the agent user)'}`, () => {
  let binDir: string;
  let runner: Runner;

  beforeAll(() => {
    binDir = mkdtempSync(path.join(os.tmpdir(), 'codex-auth-agent-bin-'));
    chmodSync(binDir, 0o755);
    writeFileSync(path.join(binDir, 'codex'), AGENT, { mode: 0o755 });
    runner = newRunner({ name: 'agent-user-2' });
    chmodSync(runner.dir, 0o755);
  });

  afterAll(() => {
    runner?.remove();
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  });

  test('as root: the agent runs as another user, reaches only the workspace and its own CODEX_HOME, and its refreshed auth.json is persisted', async () => {
    await hostileJob(binDir);
  });

  test('as root: an auth.json the agent leaves as a link is refused, and codex-home keeps its copy', async () => {
    await linkJob(binDir);
  });

  describe(`through passwordless sudo, as on GitHub-hosted runners${SUDO ? '' : ' (skipped: sudo is not installed)'}`, () => {
    let user: { uid: number; gid: number } | undefined;
    beforeAll(() => {
      if (!SUDO) return;
      if (spawnSync('id', ['-u', SIM_USER]).status !== 0) execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', SIM_USER]);
      writeFileSync(SUDOERS, `${SIM_USER} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
      user = { uid: Number(execFileSync('id', ['-u', SIM_USER], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', SIM_USER], { encoding: 'utf8' })) };
    });
    afterAll(() => {
      if (SUDO) rmSync(SUDOERS, { force: true });
    });

    (SUDO ? test : test.skip)('the same job, with the action running as a user that has passwordless sudo', async () => {
      await hostileJob(binDir, user);
    });

    (SUDO ? test : test.skip)('through sudo too, an auth.json the agent leaves as a link is refused', async () => {
      await linkJob(binDir, user);
    });
  });

  test('API-key mode: the login Codex wrote is handed to the agent as it is, and nothing is taken back', async () => {
    const apiBin = mkdtempSync(path.join(os.tmpdir(), 'codex-auth-agent-apikey-'));
    chmodSync(apiBin, 0o755);
    const KEY = 'sk-proj-agent-user-test-0123456789abcdef';
    writeFileSync(
      path.join(apiBin, 'codex'),
      `#!${process.execPath}
const fs = require('fs');
const argv = process.argv.slice(2);
if (argv[0] === '--version') { console.log('codex-cli 0.169.0'); process.exit(0); }
if (argv[0] === 'login') {
  fs.writeFileSync(process.env.CODEX_HOME + '/auth.json', JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: fs.readFileSync(0, 'utf8') }), { mode: 0o600 });
  process.exit(0);
}
const auth = JSON.parse(fs.readFileSync(process.env.CODEX_HOME + '/auth.json', 'utf8'));
fs.writeFileSync(argv[argv.indexOf('--output-last-message') + 1], 'uid ' + process.getuid() + ' mode ' + auth.auth_mode);
`,
      { mode: 0o755 },
    );
    const home = path.join(runner.dir, 'codex-home-apikey');
    try {
      const { main, post } = await runJob({
        runner,
        inputs: { 'openai-api-key': KEY, prompt: 'hello', 'codex-home': home, 'safety-strategy': 'unprivileged-user' },
        env: { PATH: `${apiBin}:${SYSTEM_PATH}` },
      });
      expect([main.exitCode, main.errors, main.warnings]).toEqual([0, [], []]);
      expect(main.outputs['final-message']).toMatch(/^uid (\d+) mode apikey$/);
      expect(main.outputs['final-message']).not.toBe(`uid ${process.getuid?.()} mode apikey`);
      expect(post.exitCode).toBe(0);
      expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
      expect(leakedSecrets(stepLogs(main, post), [KEY])).toEqual([]);
    } finally {
      rmSync(apiBin, { recursive: true, force: true });
    }
  });

  test('the real Codex CLI, run as the agent, refreshes a stale auth.json, and post persists it', async () => {
    // The CLI the suite uses lies under root's 0700 home: the agent reaches a hard-linked copy in a 0755 dir,
    // as it would reach a CLI in the runner's tool cache.
    const cliDir = mkdtempSync(path.join(os.tmpdir(), 'codex-auth-agent-cli-'));
    chmodSync(cliDir, 0o755);
    const installed = path.dirname(path.dirname(path.dirname(codexBinary())));
    execFileSync('cp', ['-al', installed, path.join(cliDir, 'cli')]);
    const backend = await startCodexBackend();
    const home = path.join(runner.dir, 'codex-home-real');
    try {
      const ca = backend.env(home).CODEX_CA_CERTIFICATE as string;
      chmodSync(path.dirname(ca), 0o755);
      chmodSync(ca, 0o644);
      const { family, authJson } = backend.issue({ stale: true, accountId: 'acct-agent-real', email: 'ci-bot@example.com' });
      const { main, post } = await runJob({
        runner,
        inputs: { 'auth-json': authJson, prompt: 'Reply with the single word OK.', 'codex-home': home, store: 'runner', 'codex-args': JSON.stringify(backend.args()), 'safety-strategy': 'unprivileged-user' },
        env: { ...backend.env(home, {}), PATH: `${path.join(cliDir, 'cli', 'node_modules', '.bin')}:${process.env.PATH}` },
        job: { runId: '2001' },
      });
      expect(main.stdout).toMatch(/Codex runs as the user codex-agent-[0-9a-f]{8} /);
      expect(main.exitCode).toBe(0);
      expect(main.outputs).toMatchObject({ refreshed: 'true', 'exit-code': '0', 'final-message': 'OK' });
      expect(backend.tokenRequests).toHaveLength(1);
      expect(post.exitCode).toBe(0);
      expect(post.stdout).toContain('stays in');
      const kept = JSON.parse(readFileSync(path.join(home, 'auth.json'), 'utf8')) as { tokens: { refresh_token: string } };
      expect(kept.tokens.refresh_token).toBe(family.refreshToken);
      expect(leakedSecrets(stepLogs(main, post), [family.refreshToken, family.accessToken, ...family.used])).toEqual([]);
    } finally {
      await backend.stop();
      rmSync(cliDir, { recursive: true, force: true });
    }
  });
});
