/**
 * `safety-strategy: unprivileged-user` for real, through the built dist/: the tests run as root, so main
 * creates the `codex-agent` user and runs a stand-in `codex` as it. The stand-in acts as an agent would:
 * it reports its uid, tries every ancestor's /proc/<pid>/environ, RUNNER_TEMP and the state file, writes the
 * workspace, escapes its process group with setsid, and refreshes auth.json as Codex does.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeAuthJson, makeRefreshToken } from '../support/codex-backend.js';
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
  escapedPid: escaped.pid,
};
const auth = path.join(process.env.CODEX_HOME, 'auth.json');
const json = JSON.parse(fs.readFileSync(auth, 'utf8'));
json.tokens.refresh_token = process.env.AGENT_NEW_REFRESH;
json.last_refresh = new Date().toISOString();
fs.writeFileSync(auth + '.tmp', JSON.stringify(json, null, 2), { mode: 0o600 });
fs.renameSync(auth + '.tmp', auth);
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

(ROOT_ON_LINUX ? describe : describe.skip)(`safety-strategy: unprivileged-user${ROOT_ON_LINUX ? '' : ' (skipped: needs root on Linux to create the agent user)'}`, () => {
  let runner: Runner;
  let binDir: string;
  let codexHome: string;

  beforeAll(() => {
    runner = newRunner({ name: 'agent-user-1' });
    // mkdtemp makes the runner's dir 0700; the agent needs to pass through it to the workspace, as on a real runner
    chmodSync(runner.dir, 0o755);
    binDir = mkdtempSync(path.join(os.tmpdir(), 'codex-auth-agent-bin-'));
    chmodSync(binDir, 0o755);
    writeFileSync(path.join(binDir, 'codex'), AGENT, { mode: 0o755 });
    codexHome = path.join(runner.dir, 'codex-home');
    mkdirSync(codexHome, { mode: 0o700 });
  });

  afterAll(() => {
    runner?.remove();
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  });

  test('the agent runs as another user, reaches only the workspace and its own CODEX_HOME, and its refreshed auth.json is persisted', async () => {
    const seedRefresh = makeRefreshToken();
    const newRefresh = makeRefreshToken();
    const seed = makeAuthJson({ accountId: 'acct-agent', email: 'ci-bot@example.com', lastRefresh: new Date(Date.now() - 3600_000), refreshToken: seedRefresh });
    const tempMode = statSync(runner.temp).mode & 0o7777;
    const { main, post } = await runJob({
      runner,
      inputs: { 'auth-json': seed, prompt: 'refresh and look around', 'codex-home': codexHome, store: 'runner', 'safety-strategy': 'unprivileged-user' },
      env: { PATH: `${binDir}:${process.env.PATH}`, AGENT_NEW_REFRESH: newRefresh, ACTION_CODEX_HOME: codexHome },
    });
    expect(main.stdout).toContain('agent ran');
    expect(main.exitCode).toBe(0);
    expect(main.stdout).toMatch(/Codex runs as the user codex-agent \(uid \d+\)/);
    expect(main.outputs).toMatchObject({ refreshed: 'true', 'exit-code': '0', 'final-message': 'done as the agent' });

    const record = JSON.parse(readFileSync(path.join(runner.workspace, 'agent-record.json'), 'utf8')) as AgentRecord;
    const agentUid = Number(execFileSync('id', ['-u', 'codex-agent'], { encoding: 'utf8' }).trim());
    expect(record.uid).toBe(agentUid);
    expect(record.uid).not.toBe(process.getuid?.());
    expect(record.euid).toBe(agentUid);
    // no root group left over from the action
    expect(record.groups).not.toContain(0);
    // the parent (main's node), and every ancestor up to init, keeps its environment (inputs included) to itself
    expect(record.environs.length).toBeGreaterThanOrEqual(2);
    for (const { result } of record.environs) expect(result).toBe('EACCES');
    expect(record.runnerTemp).toBe('EACCES');
    expect(record.actionCodexHome).toBe('EACCES');
    if (record.stateFile) expect(record.stateWrite).toBe('EACCES');
    expect(main.state.forged).toBeUndefined();
    expect(record.workspaceWrite).toBe('ok');
    expect(record.codexHome.startsWith(`${record.home}/`)).toBe(true);

    // after the run: the escaped process is gone, the agent's copy too, and every permission is as it was
    expect(alive(record.escapedPid)).toBe(false);
    expect(existsSync(record.codexHome)).toBe(false);
    expect(statSync(runner.temp).mode & 0o7777).toBe(tempMode);
    const made = statSync(path.join(runner.workspace, 'agent-was-here.txt'));
    expect([made.uid, made.gid]).toEqual([process.getuid?.(), process.getgid?.()]);
    expect(statSync(runner.workspace).uid).toBe(process.getuid?.());

    // post persists the file the agent refreshed: the runner store keeps it in codex-home
    expect(post.exitCode).toBe(0);
    expect(post.stdout).toContain('stays in');
    const kept = JSON.parse(readFileSync(path.join(codexHome, 'auth.json'), 'utf8')) as { tokens: { refresh_token: string } };
    expect(kept.tokens.refresh_token).toBe(newRefresh);
    expect(main.masks).toContain(newRefresh);
    expect(leakedSecrets(stepLogs(main, post), [seedRefresh, newRefresh])).toEqual([]);
  });
});
