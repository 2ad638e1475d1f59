import { describe, expect, test } from '@jest/globals';
import { errorMessage, stackOf, UserError } from '../src/errors.js';

describe('stackOf (what the entry points send to core.debug)', () => {
  test('a UserError has none: its message is all the user needs', () => {
    expect(stackOf(new UserError('Input `key` is bad.'))).toBeNull();
    expect(stackOf('a string')).toBeNull();
  });

  test('an unexpected error keeps its stack, and its causes', () => {
    const cause = new TypeError('boom');
    const error = new Error('Failed to restore', { cause });
    const stack = stackOf(error) ?? '';
    expect(stack.startsWith(`Error: Failed to restore\n    at `)).toBe(true);
    expect(stack).toContain('\nCaused by: TypeError: boom\n    at ');
    expect(errorMessage(error)).toBe('Failed to restore: boom');
  });
});
