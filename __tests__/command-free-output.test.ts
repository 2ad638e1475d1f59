import { describe, expect, test } from '@jest/globals';
import { CommandFreeOutput, commandFree } from '../src/command-free-output.js';

function relay() {
  let text = '';
  const out = new CommandFreeOutput((t) => (text += t));
  return { out, text: () => text };
}

/** The stop token and the lines between, as the runner reads them. */
function parse(text: string): { token: string; inner: string[]; after: string[] } {
  const lines = text.split('\n');
  const token = /^::stop-commands::([0-9a-f]{32})$/.exec(lines[0] as string)?.[1] ?? '';
  const end = lines.indexOf(`::${token}::`);
  return { token, inner: lines.slice(1, end), after: lines.slice(end + 1) };
}

describe('CommandFreeOutput', () => {
  test('both streams go to one sink in whole lines, between the stop line and the resume line', () => {
    const { out, text } = relay();
    out.open();
    out.push('stdout', Buffer.from('one\ntw'));
    out.push('stderr', Buffer.from('err-a\n'));
    out.push('stdout', Buffer.from('o\n'));
    out.close();
    const { token, inner, after } = parse(text());
    expect(token).toHaveLength(32);
    expect(inner).toEqual(['one', 'err-a', 'two']);
    expect(after).toEqual(['']);
  });

  test("a partial last line is ended before the resume line, which stands alone on its own line", () => {
    const { out, text } = relay();
    out.open();
    out.push('stdout', '::error::tail');
    out.push('stderr', 'no newline either');
    out.close();
    const lines = text().split('\n');
    expect(lines.slice(1)).toEqual(['::error::tail', 'no newline either', `::${parse(text()).token}::`, '']);
  });

  test("the agent's own stop-commands and resume attempts are only lines inside the block", () => {
    const { out, text } = relay();
    out.open();
    out.push('stdout', '::stop-commands::evil\n::add-mask::x\n');
    out.close();
    const { inner, after } = parse(text());
    expect(inner).toEqual(['::stop-commands::evil', '::add-mask::x']);
    expect(after).toEqual(['']);
  });

  test('a UTF-8 character split across chunks arrives whole', () => {
    const { out, text } = relay();
    const bytes = Buffer.from('é\n');
    out.open();
    out.push('stdout', bytes.subarray(0, 1));
    out.push('stdout', bytes.subarray(1));
    out.close();
    expect(parse(text()).inner).toEqual(['é']);
  });

  test('an endless line is cut, not buffered without bound', () => {
    const { out, text } = relay();
    out.open();
    out.push('stdout', 'x'.repeat(200 * 1024));
    const before = text().split('\n');
    expect(before.length).toBeGreaterThan(2);
    out.close();
    expect(parse(text()).inner.join('')).toBe('x'.repeat(200 * 1024));
  });

  test('each relay has its own unguessable token; nothing is written before open or after close', () => {
    const a = relay();
    const b = relay();
    a.out.push('stdout', 'early\n');
    a.out.open();
    b.out.open();
    a.out.close();
    a.out.close();
    a.out.push('stdout', 'late\n');
    expect(a.text().split('\n').filter(Boolean)).toHaveLength(2);
    expect(parse(a.text()).token).not.toBe(parse(b.text()).token);
  });

  test('commandFree wraps captured text as one block', () => {
    const block = commandFree('::set-env name=A::b\nline');
    const { inner } = parse(`${block}\n`);
    expect(inner).toEqual(['::set-env name=A::b', 'line']);
  });
});
