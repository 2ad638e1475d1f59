#!/usr/bin/env node
// A file-backed stand-in of a secret manager's CLI, for the command store's tests:
//
//   node secret-manager.mjs get <file>   prints the stored value; prints nothing when none is stored
//   node secret-manager.mjs put <file>   stores stdin (atomically: temp file + rename, mode 0600)
//
// SECRET_MANAGER_FAIL=get|put makes that verb fail as a real CLI does: a message on stderr, exit 3.
// Each call appends its verb to <file>.calls, so tests can see what ran without reading any secret.
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const [verb, file] = process.argv.slice(2);
if (!['get', 'put'].includes(verb ?? '') || !file) {
  process.stderr.write('usage: secret-manager.mjs get|put <file>\n');
  process.exit(2);
}
appendFileSync(`${file}.calls`, `${verb}\n`);
if (process.env.SECRET_MANAGER_FAIL === verb) {
  process.stderr.write(`secret-manager: ${verb} denied: AccessDeniedException (test)\n`);
  process.exit(3);
}
if (verb === 'get') {
  let value = '';
  try {
    value = readFileSync(file, 'utf8');
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  process.stdout.write(value);
} else {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, Buffer.concat(chunks), { mode: 0o600 });
  renameSync(temp, file);
  process.stderr.write(`secret-manager: stored ${Buffer.concat(chunks).length} bytes\n`);
}
