import { assertSupportedPlatform } from '../src/platform.js';
import { UserError } from '../src/errors.js';

describe('assertSupportedPlatform', () => {
  test.each(['linux', 'darwin'] as const)('%s runs', (platform) => {
    expect(() => assertSupportedPlatform(platform)).not.toThrow();
  });

  test('Windows fails at once with a UserError naming the supported OSes and what to do', () => {
    const run = () => assertSupportedPlatform('win32');
    expect(run).toThrow(UserError);
    expect(run).toThrow(/^codex-auth runs on Linux and macOS runners, not on Windows: .*Run this job on a Linux or macOS runner \(`runs-on: ubuntu-latest` or `macos-latest`/);
  });

  test('any other OS is named as Node names it', () => {
    expect(() => assertSupportedPlatform('freebsd')).toThrow(/not on freebsd:/);
  });

  test('this machine is supported (the tests run here)', () => {
    expect(() => assertSupportedPlatform()).not.toThrow();
  });
});
