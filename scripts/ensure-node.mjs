#!/usr/bin/env node
// Makes sure a second Node runtime for the tests (the action declares `node24`; the machines have Node 20)
// is installed in a cache directory, from the npm registry's `node-<platform>-<arch>` package, then prints
// the absolute path of its `node` binary as the last line of stdout.
//
//   CODEX_AUTH_TEST_NODE   major version, or an exact version (default 24)
//   CODEX_AUTH_TEST_CACHE  cache root (default $XDG_CACHE_HOME, else /var/cache as root, else ~/.cache)
//
// The install is reused while its `node --version` still matches the wanted major (an exact version is
// checked exactly); a fresh install goes into a temporary directory renamed into place, so two runs that
// share the cache never see half a runtime.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

const wanted = process.env.CODEX_AUTH_TEST_NODE || '24';
// As root, not under root's private home: the unprivileged-user tests run this node as other users.
const cacheRoot = process.env.CODEX_AUTH_TEST_CACHE || process.env.XDG_CACHE_HOME || (process.getuid?.() === 0 ? '/var/cache' : path.join(homedir(), '.cache'));
const pkg = `node-${process.platform}-${process.arch}`;
const dir = path.resolve(cacheRoot, 'codex-auth', `node${wanted}`);
const binOf = (root) => path.join(root, 'node_modules', pkg, 'bin', process.platform === 'win32' ? 'node.exe' : 'node');

const matches = (v) => (v ? (wanted.includes('.') ? v === `v${wanted}` : v.startsWith(`v${wanted}.`)) : false);

function versionOf(bin) {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 }).trim();
  } catch {
    return null;
  }
}

if (!matches(versionOf(binOf(dir)))) {
  mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = mkdtempSync(`${dir}.tmp-`);
  chmodSync(tmp, 0o755); // mkdtemp makes it 0700; the runtime is no secret
  try {
    // npm's own progress goes to stderr so that stdout stays the path alone.
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', tmp, `${pkg}@${wanted}`], {
      stdio: ['ignore', process.stderr, process.stderr],
    });
    const got = versionOf(binOf(tmp));
    if (!matches(got)) {
      console.error(`Installed ${pkg}@${wanted} into ${tmp}, but \`node --version\` printed ${JSON.stringify(got)}.`);
      process.exit(1);
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

console.log(binOf(dir));
