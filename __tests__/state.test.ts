/**
 * lockHandleIn: post's fallback when state does not parse as a whole still finds a well-formed lock handle,
 * and nothing else.
 */
import { expect, test } from '@jest/globals';
import { lockHandleIn } from '../src/state.js';

test.each([
  ['a file handle beside state of another shape', '{"v": 9, "lock": {"kind": "file", "path": "/h/codex-auth.lock", "token": "t"}}', { kind: 'file', path: '/h/codex-auth.lock', token: 't' }],
  ['a github handle', '{"lock": {"kind": "github", "repository": "o/r", "ref": "refs/x"}}', { kind: 'github', repository: 'o/r', ref: 'refs/x' }],
  ['no lock', '{"v": 1}', null],
  ['a malformed lock', '{"lock": {"kind": "file", "path": 3}}', null],
  ['JSON null', 'null', null],
  ['nothing', '', null],
  ['not JSON', '{"lock": ', null],
])('%s', (_name, raw, expected) => {
  expect(lockHandleIn(raw)).toEqual(expected);
});
