/**
 * Runs the built CLI (`node dist/cli/index.js …`) as a CI job would: its own environment only, stdout and
 * stderr captured, an optional signal sent once a line appears on stderr.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './runner.js';

export const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, o: { cwd?: string; signalWhen?: { line: RegExp; signal: NodeJS.Signals } } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (o.signalWhen && !signalled && o.signalWhen.line.test(stderr)) {
        signalled = true;
        child.kill(o.signalWhen.signal);
      }
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
