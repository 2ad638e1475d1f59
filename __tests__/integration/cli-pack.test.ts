/**
 * The packed tarball: `npm pack` lists the CLI, the tarball installs into an empty directory with no
 * registry (it has no runtime dependencies: dist/ is self-contained), and `npx codex-auth --help` runs.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/runner.js';

jest.setTimeout(120_000);

let dir: string;
let env: NodeJS.ProcessEnv;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cli-pack-it-'));
  env = { ...process.env, npm_config_cache: path.join(dir, 'npm-cache'), npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false' };
  delete env.NODE_OPTIONS;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the npm package', () => {
  test('package.json names the bin and the files, and needs nothing at run time', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; files: string[]; dependencies?: object };
    expect(pkg.bin).toEqual({ 'codex-auth': 'dist/cli/index.js' });
    expect(pkg.files).toEqual(expect.arrayContaining(['dist/', 'action.yml', 'README.md']));
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(readFileSync(path.join(ROOT, 'dist', 'cli', 'index.js'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  test('npm pack, then npm install --offline into an empty directory: `npx codex-auth --help` runs', () => {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, env, encoding: 'utf8' })) as { filename: string; size: number; files: { path: string }[] }[];
    const [tarball] = packed;
    expect(tarball?.files.map((f) => f.path)).toEqual(expect.arrayContaining(['dist/cli/index.js', 'dist/main/index.js', 'dist/post/index.js', 'dist/package.json', 'action.yml', 'README.md', 'package.json']));
    expect(tarball?.files.some((f) => f.path.startsWith('src/') || f.path.startsWith('__tests__/'))).toBe(false);
    const tgz = path.join(dir, tarball?.filename ?? '');
    console.log(`packed tarball: ${tarball?.filename}, ${statSync(tgz).size} bytes`);

    const project = path.join(dir, 'empty');
    mkdirSync(project);
    execFileSync('npm', ['install', '--offline', '--no-save', tgz], { cwd: project, env, encoding: 'utf8' });
    expect(readdirSync(path.join(project, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual(['codex-auth']);

    const help = spawnSync('npx', ['--offline', '--no-install', 'codex-auth', '--help'], { cwd: project, env, encoding: 'utf8' });
    expect([help.status, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toContain('codex-auth SUBCOMMAND [options]');
    const runHelp = spawnSync('npx', ['--offline', '--no-install', 'codex-auth', 'run', '--help'], { cwd: project, env, encoding: 'utf8' });
    expect(runHelp.status).toBe(0);
    expect(runHelp.stdout).toContain('--store, env CODEX_AUTH_STORE');
    expect(runHelp.stdout).toContain('env CODEX_AUTH_GITLAB_TOKEN only');
    const usage = spawnSync('npx', ['--offline', '--no-install', 'codex-auth', 'run', '--store', 'cache', '--', 'true'], { cwd: project, env, encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("Option `--store` is 'cache', which is not one of: `runner`, `github-secret`, `command`, `gitlab-variable`, `auto`.");
  });
});
