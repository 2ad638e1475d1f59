/**
 * Checks of GitHub workflow YAML (and the README's YAML examples) for the habits of actions trusted with
 * credentials: every action pinned to a full commit SHA with a `# vX` comment, a `permissions:` block,
 * and `persist-credentials: false` on every checkout. Each check returns its problems; none is fine.
 */
import { parse } from 'yaml';

export interface UsesLine {
  line: number;
  target: string;
  comment: string | null;
}

const USES_LINE = /^\s*(?:-\s+)?uses:\s*(['"]?)([^'"\s#]+)\1\s*(?:#\s*(.*?))?\s*$/;
const PINNED = /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/;
const VERSION_COMMENT = /^v\d+(\.\d+)*\b/;

/** Every `uses:` of a YAML text, read from its lines (the parser drops comments). */
export function usesLines(text: string): UsesLine[] {
  const found: UsesLine[] = [];
  text.split('\n').forEach((line, i) => {
    const match = USES_LINE.exec(line);
    if (match) found.push({ line: i + 1, target: match[2]!, comment: match[3] ?? null });
  });
  return found;
}

/** Every `uses:` value in a parsed document, wherever it sits (steps, reusable-workflow jobs). */
export function parsedUses(doc: unknown): string[] {
  if (Array.isArray(doc)) return doc.flatMap(parsedUses);
  if (!doc || typeof doc !== 'object') return [];
  return Object.entries(doc).flatMap(([key, value]) => (key === 'uses' && typeof value === 'string' ? [value] : parsedUses(value)));
}

const isLocal = (target: string) => target.startsWith('./') || target.startsWith('../');

/**
 * Pins: a non-local action is `owner/repo[/path]@<40 hex>` with a `# vX…` comment; a docker action names
 * a digest. `allowTag` lists actions that may use a version tag, or a `<placeholder>` where an example
 * shows how to pin, instead (this action in its own README).
 */
export function pinProblems(text: string, where: string, allowTag: readonly string[] = []): string[] {
  const problems: string[] = [];
  const lines = usesLines(text);
  const parsed = parsedUses(parse(text));
  if (lines.map((u) => u.target).join('\n') !== parsed.join('\n')) {
    problems.push(`${where}: the \`uses:\` lines (${lines.length}) and the parsed document's (${parsed.length}) differ; write each as \`uses: owner/repo@sha # vX\` on its own line`);
  }
  for (const { line, target, comment } of lines) {
    if (isLocal(target)) continue;
    if (target.startsWith('docker://')) {
      if (!/@sha256:[0-9a-f]{64}$/.test(target)) problems.push(`${where}:${line}: ${target} is not pinned to a digest`);
      continue;
    }
    const name = target.split('@')[0]!;
    if (allowTag.includes(name) && /@(v\d+(\.\d+)*|<[^<>]+>)$/.test(target)) continue;
    if (!PINNED.test(target)) problems.push(`${where}:${line}: ${target} is not pinned to a full commit SHA`);
    else if (!comment || !VERSION_COMMENT.test(comment)) problems.push(`${where}:${line}: ${target} has no \`# vX\` comment naming its version`);
  }
  return problems;
}

/** Every step that uses actions/checkout sets `persist-credentials: false`. */
export function checkoutProblems(doc: unknown, where: string): string[] {
  const problems: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (typeof record.uses === 'string' && record.uses.startsWith('actions/checkout@')) {
      const withs = record.with as Record<string, unknown> | undefined;
      if (withs?.['persist-credentials'] !== false) problems.push(`${where}: a checkout (${record.uses}) without \`persist-credentials: false\``);
    }
    Object.values(record).forEach(visit);
  };
  visit(doc);
  return problems;
}

/** A workflow declares `permissions:` at the top, or in every job; never `write-all`. */
export function permissionProblems(doc: unknown, where: string): string[] {
  const workflow = (doc ?? {}) as { permissions?: unknown; jobs?: Record<string, { permissions?: unknown }> };
  const jobs = Object.entries(workflow.jobs ?? {});
  const problems: string[] = [];
  if (jobs.length === 0) problems.push(`${where}: no jobs`);
  if (workflow.permissions === undefined) {
    for (const [name, job] of jobs) if (job.permissions === undefined) problems.push(`${where}: neither the workflow nor job \`${name}\` has a \`permissions:\` block`);
  }
  const all = [workflow.permissions, ...jobs.map(([, job]) => job.permissions)];
  if (all.includes('write-all')) problems.push(`${where}: \`permissions: write-all\``);
  return problems;
}

/** The ```yaml blocks of a Markdown text, with the line each starts on. */
export function yamlBlocks(markdown: string): { line: number; text: string }[] {
  const blocks: { line: number; text: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ya?ml\s*$/.test(lines[i]!)) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end < 0) break;
    blocks.push({ line: i + 2, text: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** A README block is often a fragment of a steps list, indented as in a workflow: dedent it to parse it. */
export function dedent(text: string): string {
  const indents = text.split('\n').filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length);
  const cut = Math.min(...indents);
  return text.split('\n').map((l) => l.slice(cut)).join('\n');
}
