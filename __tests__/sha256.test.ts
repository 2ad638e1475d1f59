import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { sha256Hex } from '../src/sha256.js';

const reference = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe('sha256Hex', () => {
  test('FIPS 180-4 test vectors', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });

  test('every length around the block and padding boundaries, and multi-byte UTF-8, as node:crypto', () => {
    for (let length = 0; length <= 200; length++) {
      const text = cryptoRandomBytes(length).toString('latin1');
      expect(sha256Hex(text)).toBe(reference(text));
    }
    const unicode = 'é€😀\u0000\uFEFF'.repeat(50);
    expect(sha256Hex(unicode)).toBe(reference(unicode));
  });

  test('an auth.json-sized text', () => {
    const text = JSON.stringify({ tokens: { id_token: 'x'.repeat(3000), refresh_token: 'rt_'.repeat(40) } });
    expect(sha256Hex(text)).toBe(reference(text));
  });
});
