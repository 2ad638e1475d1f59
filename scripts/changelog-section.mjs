#!/usr/bin/env node
// Prints the body of one version's section of a Keep a Changelog file, for the GitHub release's notes.
//   node scripts/changelog-section.mjs 1.2.3 [CHANGELOG.md]
// Exits 1 when the file has no `## [1.2.3]` section, or an empty one: a release without notes is a mistake.
import { readFileSync } from 'node:fs';

const [version, file = 'CHANGELOG.md'] = process.argv.slice(2);
if (!version) {
  console.error('Usage: node scripts/changelog-section.mjs VERSION [CHANGELOG.md]');
  process.exit(2);
}
const lines = readFileSync(file, 'utf8').split(/\r?\n/);
const heading = (line) => /^## /.test(line);
const start = lines.findIndex((line) => heading(line) && line.replace(/^## \[?v?/, '').split(/[\]\s]/)[0] === version);
if (start < 0) {
  console.error(`${file} has no section for ${version}: add \`## [${version}] - YYYY-MM-DD\` (move the Unreleased entries there) before tagging v${version}.`);
  process.exit(1);
}
const end = lines.findIndex((line, i) => i > start && (heading(line) || /^\[[^\]]+\]:\s/.test(line)));
const body = lines.slice(start + 1, end < 0 ? undefined : end).join('\n').trim();
if (!body) {
  console.error(`The ${version} section of ${file} is empty: say what changed before tagging v${version}.`);
  process.exit(1);
}
console.log(body);
