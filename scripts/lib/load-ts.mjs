// Loads a TypeScript module of this repository (the loopback stand-ins in __tests__/support) from a plain
// Node script: esbuild bundles it to a temp file, which is then imported.
import * as esbuild from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function loadTs(relative) {
  // inside the repository, so that the bundle's imports of packages resolve to its node_modules
  mkdirSync(path.join(root, '.tmp'), { recursive: true });
  const dir = mkdtempSync(path.join(root, '.tmp', 'ts-'));
  const outfile = path.join(dir, `${path.basename(relative, '.ts')}.mjs`);
  try {
    await esbuild.build({
      entryPoints: [path.join(root, relative)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'error',
      // import.meta.url must keep pointing into the repository for paths the modules derive from it
      define: { 'import.meta.url': JSON.stringify(pathToFileURL(path.join(root, relative)).href) },
    });
    return await import(pathToFileURL(outfile).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
