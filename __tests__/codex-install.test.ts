/**
 * ensureCodex's install into the tool cache, with a stand-in `npm` on PATH (no network): it answers
 * `npm view` with a version and installs a fake `@openai/codex` slowly, file by file, the bin link last.
 * Two runners sharing one tool cache install at once; a watcher looks at the target all along.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureCodex } from '../src/codex.js';
import { cleanupTempDirs, recordingLog, runContext, tempDir } from './support/fixtures.js';

afterAll(cleanupTempDirs);

const VERSION = '7.7.7';

/** `npm view … version` → VERSION; `npm install --prefix DIR @openai/codex@V` → a fake package, slowly. */
const FAKE_NPM = `#!${process.execPath}
const fs = require('fs');
const path = require('path');
const argv = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_NPM_LOG, argv.join(' ') + '\\n');
if (argv[0] === 'view') {
  console.log(process.env.FAKE_NPM_VERSION);
  process.exit(0);
}
const prefix = argv[argv.indexOf('--prefix') + 1];
const version = argv[argv.length - 1].split('@').pop();
const pkg = path.join(prefix, 'node_modules', '@openai', 'codex');
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
for (let i = 0; i < 5; i++) {
  fs.writeFileSync(path.join(pkg, 'part-' + i + '.js'), '// part ' + i + '\\n');
  sleep(60);
}
fs.writeFileSync(path.join(pkg, 'bin', 'codex.sh'), '#!/bin/sh\\necho "codex-cli ' + version + '"\\n', { mode: 0o755 });
sleep(60);
fs.mkdirSync(path.join(prefix, 'node_modules', '.bin'), { recursive: true });
fs.symlinkSync('../@openai/codex/bin/codex.sh', path.join(prefix, 'node_modules', '.bin', 'codex'));
`;

let npmDir: string;
let npmLog: string;

beforeAll(() => {
  npmDir = tempDir('fake-npm-');
  npmLog = path.join(npmDir, 'calls.log');
  writeFileSync(path.join(npmDir, 'npm'), FAKE_NPM);
  chmodSync(path.join(npmDir, 'npm'), 0o755);
});

/** PATH with the stand-in npm first and no codex anywhere on it. */
async function withFakeNpm<T>(fn: () => Promise<T>): Promise<T> {
  const saved = { PATH: process.env.PATH, log: process.env.FAKE_NPM_LOG, version: process.env.FAKE_NPM_VERSION };
  process.env.PATH = `${npmDir}:/usr/bin:/bin`;
  process.env.FAKE_NPM_LOG = npmLog;
  process.env.FAKE_NPM_VERSION = VERSION;
  try {
    return await fn();
  } finally {
    process.env.PATH = saved.PATH;
    process.env.FAKE_NPM_LOG = saved.log;
    process.env.FAKE_NPM_VERSION = saved.version;
  }
}

const installs = () => (existsSync(npmLog) ? readFileSync(npmLog, 'utf8').split('\n').filter((l) => l.startsWith('install ')).length : 0);

describe('ensureCodex installs atomically into a shared tool cache', () => {
  test('two runners installing at once both end with a working codex; no one ever sees a half-installed tree; nothing is left behind', async () => {
    const toolCache = tempDir();
    const versionDir = path.join(toolCache, 'codex-cli', VERSION);
    const dir = path.join(versionDir, process.arch);
    const binary = path.join(dir, 'node_modules', '.bin', 'codex');
    const before = installs();
    // The watcher: whenever the target exists, it must be whole (its codex there and answering).
    const seen = { present: 0, partial: 0 };
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        if (existsSync(dir)) {
          seen.present++;
          if (!existsSync(binary) || !existsSync(path.join(dir, 'node_modules', '@openai', 'codex', 'part-4.js'))) seen.partial++;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const installing = withFakeNpm(() => Promise.all([ensureCodex(VERSION, runContext({ toolCache }), recordingLog()), ensureCodex('', runContext({ toolCache }), recordingLog())]));
    const [a, b] = await installing.finally(() => (watching = false));
    await watcher;
    expect(a).toBe(binary);
    expect(b).toBe(binary);
    expect(execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim()).toBe(`codex-cli ${VERSION}`);
    expect(installs() - before).toBe(2);
    expect(seen.present).toBeGreaterThan(0);
    expect(seen.partial).toBe(0);
    expect(readdirSync(versionDir).sort()).toEqual([process.arch, `${process.arch}.complete`]);
    // a third runner finds it complete and installs nothing
    await withFakeNpm(() => ensureCodex(VERSION, runContext({ toolCache }), recordingLog()));
    expect(installs() - before).toBe(2);
  }, 30_000);

  test('a half-installed tree that an older version left in place (no marker, no codex) is replaced', async () => {
    const toolCache = tempDir();
    const dir = path.join(toolCache, 'codex-cli', VERSION, process.arch);
    mkdirSync(path.join(dir, 'node_modules', '@openai', 'codex'), { recursive: true });
    writeFileSync(path.join(dir, 'node_modules', '@openai', 'codex', 'part-0.js'), '// half\n');
    const log = recordingLog();
    const binary = await withFakeNpm(() => ensureCodex(VERSION, runContext({ toolCache }), log));
    expect(execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim()).toBe(`codex-cli ${VERSION}`);
    expect(readdirSync(path.dirname(dir)).sort()).toEqual([process.arch, `${process.arch}.complete`]);
    expect(log.text('info')).toContain(`Installing @openai/codex@${VERSION} into ${dir}`);
  }, 30_000);
});
