/**
 * parseJsonWith: the one reader of JSON src/ did not write. It tells "not JSON" from "another shape", and
 * names a bad shape by its paths, never by its values.
 */
import { describe, expect, test } from '@jest/globals';
import * as z from 'zod/mini';
import { jsonOrNull, parseJsonWith } from '../src/json.js';

const Pair = z.object({ name: z.string(), tags: z.array(z.string()) });

describe('parseJsonWith', () => {
  test('JSON of the shape gives its value, unknown keys dropped', () => {
    expect(parseJsonWith(Pair)('{"name":"a","tags":["x"],"extra":1}')).toEqual({ success: true, data: { name: 'a', tags: ['x'] } });
  });

  test.each([[''], ['{'], ['not json'], ['{"name": "a",}']])('%j is not JSON', (text) => {
    expect(parseJsonWith(Pair)(text)).toEqual({ success: false, notJson: true });
  });

  test('another shape names the paths, not the values', () => {
    const parsed = parseJsonWith(Pair)('{"name": "SECRETVALUE", "tags": [1]}');
    expect(parsed).toEqual({ success: false, notJson: false, paths: ['tags.0'] });
    expect(JSON.stringify(parsed)).not.toContain('SECRETVALUE');
  });

  test('JSON that is not an object at all fails on the root', () => {
    expect(parseJsonWith(Pair)('null')).toEqual({ success: false, notJson: false, paths: [''] });
  });
});

describe('jsonOrNull', () => {
  test('the value, or null for either failure', () => {
    expect(jsonOrNull(Pair, '{"name":"a","tags":[]}')).toEqual({ name: 'a', tags: [] });
    expect(jsonOrNull(Pair, '{"name":1,"tags":[]}')).toBeNull();
    expect(jsonOrNull(Pair, '{')).toBeNull();
  });
});
