/**
 * The outputs action.yml declares are set in src/outputs.ts and nowhere else: one setter a declared name,
 * writing the format the contract gives, through the runner's GITHUB_OUTPUT file.
 */
import { afterAll, beforeEach, expect, test } from '@jest/globals';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { output } from '../src/outputs.js';
import { cleanupTempDirs, tempDir } from './support/fixtures.js';
import { ROOT } from './support/runner.js';

const saved = process.env.GITHUB_OUTPUT;
let file = '';
beforeEach(() => {
  file = path.join(tempDir(), 'output');
  writeFileSync(file, '');
  process.env.GITHUB_OUTPUT = file;
});
afterAll(() => {
  if (saved === undefined) delete process.env.GITHUB_OUTPUT;
  else process.env.GITHUB_OUTPUT = saved;
  cleanupTempDirs();
});

/** name → value, from the heredoc records @actions/core appends to GITHUB_OUTPUT. */
function written(): Record<string, string> {
  const values: Record<string, string> = {};
  const pattern = /^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const match of readFileSync(file, 'utf8').matchAll(pattern)) values[match[1] as string] = match[3] as string;
  return values;
}

test('every setter writes one declared output, in the contract format', () => {
  const at = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
  output.codexHome('/home/runner/.codex');
  output.source('cache');
  output.lastRefresh(at);
  output.stale(true);
  output.refreshed(false);
  output.exitCode(3);
  output.finalMessage('line one\nline two');
  output.lockWait(1234);
  output.expiresAt(at);
  const declared = Object.keys((parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { outputs: Record<string, unknown> }).outputs);
  expect(Object.keys(output)).toHaveLength(declared.length);
  expect(written()).toEqual({
    'codex-home': '/home/runner/.codex',
    source: 'cache',
    'last-refresh': '2026-01-02T03:04:05.006Z',
    stale: 'true',
    refreshed: 'false',
    'exit-code': '3',
    'final-message': 'line one\nline two',
    'lock-wait-seconds': '1.234',
    'expires-at': '2026-01-02T03:04:05.006Z',
  });
  expect(Object.keys(written()).sort()).toEqual([...declared].sort());
});

test('unknown times are empty, and no lock at all waited 0 s', () => {
  output.lastRefresh(null);
  output.expiresAt(null);
  output.lockWait(null);
  expect(written()).toEqual({ 'last-refresh': '', 'expires-at': '', 'lock-wait-seconds': '0' });
});

test('no other module of src/ sets an output', () => {
  const files = readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const setters = files.filter((f) => /\bsetOutput\(/.test(readFileSync(path.join(ROOT, 'src', f), 'utf8')));
  // (src/cli/core-host.ts, the CLI's stand-in for @actions/core, defines `setOutput =`, and calls it nowhere)
  expect(setters).toEqual(['outputs.ts']);
});
