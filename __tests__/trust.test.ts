/**
 * The trust guard (DESIGN §3.6) reads the real event payload file, as the runner writes it.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../src/errors.js';
import { assertTrusted } from '../src/trust.js';
import { cleanupTempDirs, rejection, runContext, tempDir } from './support/fixtures.js';

afterAll(cleanupTempDirs);

/** A pull request event payload on disk; `head: null` is a fork that was deleted. */
function payload(head: string | null, base = 'octo/repo'): string {
  const file = path.join(tempDir(), 'event.json');
  writeFileSync(file, JSON.stringify({ action: 'opened', number: 7, pull_request: { head: { ref: 'feature', repo: head === null ? null : { full_name: head } }, base: { ref: 'main', repo: { full_name: base } } } }));
  return file;
}

const check = (eventName: string, eventPath: string, allowUntrusted = false) => assertTrusted(runContext({ eventName, eventPath }), allowUntrusted);

describe('assertTrusted', () => {
  test('a pull request from a fork is refused, naming the fork, the risk and the opt-in', async () => {
    const error = await rejection(check('pull_request', payload('stranger/repo')));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      "Refusing to run on a pull request from the fork stranger/repo: this would hand the fork's code a live Codex login. Set `allow-untrusted: true` on the codex-auth step only if you accept that risk.",
    );
  });

  test.each(['pull_request_review', 'pull_request_review_comment'])('%s from a fork is refused too', async (event) => {
    await expect(check(event, payload('stranger/repo'))).rejects.toThrow(/from the fork stranger\/repo/);
  });

  test('a pull request whose fork was deleted is refused', async () => {
    await expect(check('pull_request', payload(null))).rejects.toThrow(/from the fork \(deleted repository\)/);
  });

  test('a pull request from a branch of the same repository is allowed', async () => {
    await expect(check('pull_request', payload('octo/repo'))).resolves.toBeUndefined();
  });

  test('pull_request_target is refused whatever the payload says', async () => {
    const error = await rejection(check('pull_request_target', payload('octo/repo')));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/^Refusing to run on a 'pull_request_target' event: .*live Codex login\. Set `allow-untrusted: true`/);
  });

  test('allow-untrusted lets a fork and pull_request_target through', async () => {
    await expect(check('pull_request', payload('stranger/repo'), true)).resolves.toBeUndefined();
    await expect(check('pull_request_target', payload('stranger/repo'), true)).resolves.toBeUndefined();
  });

  test.each([
    ['no payload path', () => ''],
    ['a payload path that does not exist', () => path.join(tempDir(), 'missing.json')],
    ['a payload that is not JSON', () => {
      const file = path.join(tempDir(), 'event.json');
      writeFileSync(file, 'not json');
      return file;
    }],
    ['a payload without pull_request', () => {
      const file = path.join(tempDir(), 'event.json');
      writeFileSync(file, JSON.stringify({ action: 'opened' }));
      return file;
    }],
  ])('a pull_request event with %s is refused', async (_name, file) => {
    const error = await rejection(check('pull_request', file()));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/^Refusing to run on a 'pull_request' event whose payload does not say where the pull request comes from\. Set `allow-untrusted: true`/);
  });

  test.each(['push', 'schedule', 'workflow_dispatch', 'merge_group', ''])('%p is trusted without reading a payload', async (event) => {
    await expect(check(event, path.join(tempDir(), 'never-read.json'))).resolves.toBeUndefined();
  });
});
