import { randomBytes, randomHex, randomUUID } from '../src/random.js';

describe('random', () => {
  test('randomBytes gives the size asked for, different each time', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    expect(a).toHaveLength(32);
    expect(a.equals(b)).toBe(false);
    expect(randomBytes(0)).toHaveLength(0);
  });

  test('the bytes are not all alike (a read that filled nothing would leave zeros)', () => {
    const bytes = randomBytes(4096);
    expect(new Set(bytes).size).toBeGreaterThan(200);
  });

  test('randomHex is 2 hex digits a byte', () => {
    expect(randomHex(6)).toMatch(/^[0-9a-f]{12}$/);
  });

  test('randomUUID is an RFC 9562 version 4 UUID, unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => randomUUID()));
    expect(ids.size).toBe(1000);
    for (const id of [...ids].slice(0, 50)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
