#!/usr/bin/env node
// Makes sure the real Codex CLI used by the integration tests is installed in a cache directory
// outside this package's node_modules (it is ~400 MB; `npm ci` should not pay for it), then prints
// the absolute path of its `codex` binary as the last line of stdout.
//
//   CODEX_TEST_VERSION     version to install (default 0.169.0), or a dist-tag such as `latest`, resolved
//                          with `npm view` (.ci/run resolves it once and passes the version itself)
//   CODEX_AUTH_TEST_CACHE  cache root (default $XDG_CACHE_HOME, else ~/.cache)
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

const wanted = process.env.CODEX_TEST_VERSION || '0.169.0';
const version = /^\d+\.\d+\.\d+/.test(wanted)
  ? wanted
  : execFileSync('npm', ['view', `@openai/codex@${wanted}`, 'version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 120_000 }).trim();
if (!/^\d+\.\d+\.\d+/.test(version)) {
  console.error(`\`npm view @openai/codex@${wanted} version\` printed ${JSON.stringify(version)}, not a version.`);
  process.exit(1);
}
const cacheRoot = process.env.CODEX_AUTH_TEST_CACHE || process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
const dir = path.resolve(cacheRoot, 'codex-auth', 'codex-cli', version);
const bin = path.join(dir, 'node_modules', '.bin', 'codex');

function installedVersion() {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 }).trim();
  } catch {
    return null;
  }
}

if (installedVersion() !== `codex-cli ${version}`) {
  mkdirSync(dir, { recursive: true });
  // npm's own progress goes to stderr so that stdout stays the path alone.
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', dir, `@openai/codex@${version}`], {
    stdio: ['ignore', process.stderr, process.stderr],
  });
  const got = installedVersion();
  if (got !== `codex-cli ${version}`) {
    console.error(`Installed @openai/codex@${version} into ${dir}, but \`codex --version\` printed ${JSON.stringify(got)}.`);
    process.exit(1);
  }
}

console.log(bin);
