/**
 * src/stdout.ts runs where process.stdout would: in a child process whose stdout is a pipe, as the
 * runner gives a step. The module is bundled with esbuild, as dist/ bundles it.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { ROOT } from './support/runner.js';

let dir: string;
let modulePath: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'codex-auth-stdout-'));
  modulePath = path.join(dir, 'stdout.cjs');
  buildSync({ entryPoints: [path.join(ROOT, 'src', 'stdout.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: modulePath, logLevel: 'silent' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a script with `writeStdout` in scope; its stdout is a pipe. Reports, on stderr, whether it made the stream. */
function run(body: string): { stdout: string; stderr: string; status: number | null } {
  const script = path.join(dir, `script-${Math.random().toString(36).slice(2)}.cjs`);
  writeFileSync(
    script,
    `const { writeStdout } = require(${JSON.stringify(modulePath)});\n${body}\n` +
      `process.stderr.write('stream:' + globalThis[Symbol.for('codex-auth.stdout-stream')]);`,
  );
  const result = spawnSync(process.execPath, [script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

describe('writeStdout', () => {
  test('writes through write(2) without creating process.stdout', () => {
    const r = run(`writeStdout('::add-mask::secret\\n'); writeStdout('héllo €\\n');`);
    expect(r).toEqual({ stdout: '::add-mask::secret\nhéllo €\n', stderr: 'stream:false', status: 0 });
  });

  test('after anything touches process.stdout, goes through it, in order', () => {
    const r = run(`writeStdout('a\\n'); process.stdout.write('b\\n'); writeStdout('c\\n'); process.stdout.write('d\\n'); writeStdout('e\\n');`);
    expect(r).toEqual({ stdout: 'a\nb\nc\nd\ne\n', stderr: 'stream:true', status: 0 });
  });

  test('more than a pipe holds, interleaved with the stream (which may queue), keeps every byte in order', () => {
    const r = run(`
      const line = (i) => 'line ' + i + ' ' + 'x'.repeat(200) + '\\n';
      for (let i = 0; i < 2000; i++) writeStdout(line(i));
      for (let i = 2000; i < 4000; i++) (i % 2 ? writeStdout : (t) => process.stdout.write(t))(line(i));
    `);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4000);
    expect(lines.every((l, i) => l.startsWith(`line ${i} `))).toBe(true);
    expect(r.stderr).toBe('stream:true');
  });

  test('two copies of the module (main and a lazy chunk) agree on whether the stream exists', () => {
    const r = run(`
      delete require.cache[require.resolve(${JSON.stringify(modulePath)})];
      const other = require(${JSON.stringify(modulePath)});
      if (other.writeStdout === writeStdout) throw new Error('not a second copy');
      other.writeStdout('1\\n'); process.stdout.write('2\\n'); writeStdout('3\\n'); other.writeStdout('4\\n');
    `);
    expect(r).toEqual({ stdout: '1\n2\n3\n4\n', stderr: 'stream:true', status: 0 });
  });
});
