import { describe, expect, test } from '@jest/globals';
import { UserError } from '../../src/errors.js';
import { open, seal, sealKey, SealError, type SealFailure } from '../../src/stores/seal.js';

const SEED = '{"auth_mode":"chatgpt","tokens":{"refresh_token":"rt_seed-one-0123456789"}}';
const PLAINTEXT = '{"auth_mode":"chatgpt","tokens":{"refresh_token":"rt_refreshed-abcdefghij"}}';
const key = (over: Partial<Parameters<typeof sealKey>[0]> = {}) => sealKey({ encryptionKey: '', seedText: SEED, stream: 'codex-auth', ...over });

function failure(fn: () => unknown): SealFailure {
  try {
    fn();
  } catch (error) {
    if (error instanceof SealError) return error.reason;
    throw error;
  }
  throw new Error('expected a SealError');
}

describe('seal / open', () => {
  test('round trip with a key derived from the seed, across separately derived keys (two runs)', () => {
    const sealed = seal(key(), PLAINTEXT);
    expect(open(key(), sealed)).toBe(PLAINTEXT);
  });

  test('round trip with `encryption-key`', () => {
    const k = () => key({ encryptionKey: 'a-random-key-0123456789abcdef' });
    expect(open(k(), seal(k(), PLAINTEXT))).toBe(PLAINTEXT);
  });

  test('the plaintext does not appear in the envelope, and two seals of one text differ', () => {
    const a = seal(key(), PLAINTEXT);
    const b = seal(key(), PLAINTEXT);
    expect(a.includes(Buffer.from('rt_refreshed'))).toBe(false);
    expect(a.toString('base64')).not.toContain(Buffer.from('rt_refreshed').toString('base64'));
    expect(a.equals(b)).toBe(false);
  });

  test('another seed, another encryption-key or another stream is another key', () => {
    const sealed = seal(key(), PLAINTEXT);
    expect(failure(() => open(key({ seedText: SEED.replace('one', 'two') }), sealed))).toBe('other-key');
    expect(failure(() => open(key({ encryptionKey: 'a-random-key-0123456789abcdef' }), sealed))).toBe('other-key');
    expect(failure(() => open(key({ stream: 'other-stream' }), sealed))).toBe('other-key');
  });

  test('every single flipped byte is detected, header and body alike', () => {
    const sealed = seal(key(), PLAINTEXT);
    const reasons = new Set<SealFailure>();
    for (let i = 0; i < sealed.length; i++) {
      const tampered = Buffer.from(sealed);
      tampered[i] = (tampered[i] as number) ^ 0x01;
      reasons.add(failure(() => open(key(), tampered)));
    }
    expect([...reasons].sort()).toEqual(['damaged', 'not-sealed', 'other-key', 'unsupported-version']);
  });

  test('truncated envelopes fail: a cut header is `truncated`, a cut body fails the tag', () => {
    const sealed = seal(key(), PLAINTEXT);
    for (const length of [0, 3, 4, 5, 20, 56]) expect(failure(() => open(key(), sealed.subarray(0, length)))).toBe('truncated');
    expect(failure(() => open(key(), sealed.subarray(0, sealed.length - 1)))).toBe('damaged');
    expect(failure(() => open(key(), sealed.subarray(0, 57)))).toBe('damaged');
  });

  test('a version this code does not know is refused as such', () => {
    const sealed = seal(key(), PLAINTEXT);
    sealed[4] = 2;
    expect(failure(() => open(key(), sealed))).toBe('unsupported-version');
  });

  test('something that is not an envelope (a plaintext auth.json) is `not-sealed`', () => {
    expect(failure(() => open(key(), Buffer.from(PLAINTEXT)))).toBe('not-sealed');
  });

  test('SealError messages say what happened without any key material', () => {
    const sealed = seal(key(), PLAINTEXT);
    expect(() => open(key({ seedText: 'another seed entirely' }), sealed)).toThrow(/another key .*`auth-json` or `encryption-key` changed/);
  });
});

describe('sealKey', () => {
  test('no `encryption-key` and no `auth-json` is a UserError naming both', () => {
    expect(() => sealKey({ encryptionKey: '', seedText: '', stream: 'codex-auth' })).toThrow(UserError);
    expect(() => sealKey({ encryptionKey: '', seedText: '', stream: 'codex-auth' })).toThrow(/`encryption-key` and `auth-json` are empty/);
  });

  test('a short `encryption-key` is refused with the fix', () => {
    expect(() => key({ encryptionKey: 'hunter2' })).toThrow(/`encryption-key` is 7 characters.*openssl rand/);
  });

  test('`encryption-key` takes precedence over the seed', () => {
    expect(key({ encryptionKey: 'a-random-key-0123456789abcdef' }).source).toBe('encryption-key');
    expect(key().source).toBe('auth-json');
  });
});
