import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';

/** A line longer than this is cut in two: the runner reads lines, and memory is not the agent's to spend. */
const MAX_LINE = 64 * 1024;

/**
 * Output of a process the action runs (Codex and its agent, a store's command), relayed into the step log
 * inside `::stop-commands::<token>` … `::<token>::`, so that no line it prints is a workflow command.
 *
 * GitHub's runner (ActionCommandManager) processes nothing while stopped but the resume token, a nested
 * `::stop-commands::` included, and it reads stdout and stderr separately: a stderr line could be read after
 * a resume written later to stdout. So both streams go to one sink in whole lines, and a partial last line
 * is ended before the resume line — which only counts when it starts its own line (`::error::tail::<token>::`
 * is an `error` command, and commands would stay stopped for the rest of the step, `::add-mask::` included).
 */
export class CommandFreeOutput {
  private readonly token = randomBytes(16).toString('hex');
  private readonly streams = new Map<string, { decoder: StringDecoder; partial: string }>();
  private state: 'new' | 'open' | 'closed' = 'new';

  constructor(private readonly sink: (text: string) => void = (text) => void process.stdout.write(text)) {}

  open(): void {
    if (this.state !== 'new') return;
    this.state = 'open';
    this.sink(`::stop-commands::${this.token}\n`);
  }

  /** Relays the whole lines of `chunk`; the rest waits for the next chunk of the same stream. */
  push(stream: string, chunk: Buffer | string): void {
    if (this.state !== 'open') return;
    const s = this.stream(stream);
    const text = s.partial + (typeof chunk === 'string' ? chunk : s.decoder.write(chunk));
    const end = text.lastIndexOf('\n');
    s.partial = end < 0 ? text : text.slice(end + 1);
    let whole = end < 0 ? '' : text.slice(0, end + 1);
    while (s.partial.length > MAX_LINE) {
      whole += `${s.partial.slice(0, MAX_LINE)}\n`;
      s.partial = s.partial.slice(MAX_LINE);
    }
    if (whole) this.sink(whole);
  }

  /** Ends every partial line, then resumes commands. Safe to call twice. */
  close(): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    let rest = '';
    for (const s of this.streams.values()) {
      const tail = s.partial + s.decoder.end();
      if (tail) rest += `${tail}\n`;
    }
    this.sink(`${rest}::${this.token}::\n`);
  }

  private stream(name: string): { decoder: StringDecoder; partial: string } {
    let s = this.streams.get(name);
    if (!s) this.streams.set(name, (s = { decoder: new StringDecoder('utf8'), partial: '' }));
    return s;
  }
}

/** `text` as one block that runs no workflow command, for output that was captured whole. */
export function commandFree(text: string): string {
  let block = '';
  const out = new CommandFreeOutput((t) => (block += t));
  out.open();
  out.push('text', text);
  out.close();
  return block.replace(/\n$/, '');
}
