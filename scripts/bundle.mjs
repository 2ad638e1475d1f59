// Builds dist/ with esbuild. Start-up is where an action's own cost lies, so the build is shaped by
// measurement (figures in the README, "Start-up"; `npm run bench` prints them again):
//
// - main and post are each one CommonJS file holding only their common path (restore, write, outputs):
//   the ESM loader costs more than the CommonJS one, and a single file beats a graph of shared chunks.
// - Every module that src/ loads with `await import('./x.js')` (the stores and locks other than the
//   runner's, codex, login, summary) becomes its own file in dist/lazy/, imported only when that path
//   runs: the runner-store main never loads exec, the cache SDK or an HTTP client. dist/lazy/ is one
//   ESM build with code splitting, so what several lazy paths share (undici, @actions/http-client) is
//   one chunk, not a copy in each.
// - @actions/core statically imports its OIDC client (an HTTP client and undici) and its `platform` helper
//   (@actions/exec), for features this action never calls; inside @actions/core they are replaced by
//   stand-ins that throw if anything ever calls them. Its one use of node:crypto (a random delimiter)
//   comes from src/random.ts instead, so that the restore-only path never loads node:crypto; its writes to
//   stdout go through src/stdout.ts, which does not create process.stdout's stream until something else does.
import * as esbuild from 'esbuild';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';

const SRC = path.resolve('src');
// Built beside dist/ and swapped in at the end, so a test running the action meanwhile never sees half a dist/.
const OUT = `dist.build-${process.pid}`;

const unusedCoreModules = {
  name: 'unused-core-modules',
  setup(build) {
    build.onResolve({ filter: /^\.\/(oidc-utils|platform)\.js$/ }, (args) =>
      /[\\/]@actions[\\/]core[\\/]/.test(args.importer) ? { path: args.path, namespace: 'unused-core' } : undefined,
    );
    // Its file commands' delimiter is the one use of node:crypto (randomUUID); src/random.ts makes the same
    // from /dev/urandom without loading node:crypto and the stream modules.
    build.onResolve({ filter: /^(node:)?crypto$/ }, (args) =>
      /[\\/]@actions[\\/]core[\\/]/.test(args.importer) ? { path: path.join(SRC, 'random.ts') } : undefined,
    );
    // Its writes to stdout go through src/stdout.ts, which does not create process.stdout (a pipe's stream
    // loads net and the stream modules) until something else does.
    build.onLoad({ filter: /[\\/]@actions[\\/]core[\\/]lib[\\/](command|core)\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const calls = source.split('process.stdout.write(').length - 1;
      const expected = args.path.endsWith('command.js') ? 1 : 2;
      if (calls !== expected) throw new Error(`${args.path} has ${calls} process.stdout.write calls, not ${expected}: check src/stdout.ts still covers @actions/core's output.`);
      const stdout = JSON.stringify(path.join(SRC, 'stdout.ts'));
      return { contents: `import { writeStdout as __writeStdout } from ${stdout};\n${source.replaceAll('process.stdout.write(', '__writeStdout(')}`, loader: 'js', resolveDir: path.dirname(args.path) };
    });
    build.onLoad({ filter: /.*/, namespace: 'unused-core' }, (args) => ({
      contents: args.path.includes('oidc')
        ? "export class OidcClient { static getIDToken() { throw new Error('core.getIDToken is not bundled in codex-auth'); } }"
        : 'export {};',
      loader: 'js',
    }));
  },
};

/** `src/stores/cache.ts` → `stores-cache.js`: the file name of a lazy module in dist/lazy/. */
const lazyName = (source) => `${path.relative(SRC, source).replace(/\.ts$/, '').split(path.sep).join('-')}.js`;

/** Turns each dynamic import of a module in src/ into a require of its own file in dist/lazy/. */
function lazyModules(fromDir, found) {
  return {
    name: 'lazy-modules',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.kind !== 'dynamic-import' || !args.importer.startsWith(SRC)) return undefined;
        const source = path.resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
        // The action does not offer the CLI's gitlab-variable store (readInputs refuses it): no file for it.
        if (source === path.join(SRC, 'stores', 'gitlab-variable.ts')) return { path: 'gitlab-variable', namespace: 'cli-only' };
        found.add(source);
        const target = path.relative(fromDir, path.join(OUT, 'lazy', lazyName(source)));
        return { path: target.startsWith('.') ? target : `./${target}`, external: true };
      });
      build.onLoad({ filter: /.*/, namespace: 'cli-only' }, () => ({
        contents: "export class GitlabVariableStore { constructor() { throw new Error('The gitlab-variable store is for the codex-auth CLI.'); } }",
        loader: 'js',
      }));
    },
  };
}

const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Some dependencies are ESM that reads import.meta.url (createRequire); in CommonJS it is this file's URL.
  define: { 'import.meta.url': '__importMetaUrl' },
  banner: { js: 'var __importMetaUrl=require("url").pathToFileURL(__filename).href;' },
};

/**
 * The `codex-auth` CLI (DESIGN §8): the same modules, one self-contained file (its start-up is not a
 * step's), with `@actions/core` resolved to src/cli/core-host.ts wherever src/ imports it, and action.yml's
 * inputs embedded as the CLI's options. The Actions cache store has no place outside Actions: a stand-in
 * keeps the cache SDK out. An import core-host lacks fails the build, as does any other warning.
 */
async function buildCli() {
  const action = parse(await readFile('action.yml', 'utf8'));
  const inputs = Object.entries(action.inputs).map(([name, spec]) => ({ name, description: String(spec.description ?? '') }));
  const cliHost = {
    name: 'cli-host',
    setup(build) {
      build.onResolve({ filter: /^@actions\/core$/ }, (args) => (args.importer.startsWith(SRC) ? { path: path.join(SRC, 'cli', 'core-host.ts') } : undefined));
      build.onResolve({ filter: /^\.\/cache\.js$/ }, (args) => (args.importer === path.join(SRC, 'stores', 'create-store.ts') ? { path: 'cache', namespace: 'no-cache' } : undefined));
      build.onLoad({ filter: /.*/, namespace: 'no-cache' }, () => ({
        contents: "export class CacheStore { constructor() { throw new Error('The Actions cache store works only inside GitHub Actions.'); } }",
        loader: 'js',
      }));
    },
  };
  const result = await esbuild.build({
    ...common,
    entryPoints: ['src/cli/index.ts'],
    outfile: `${OUT}/cli/index.js`,
    define: { ...common.define, __CODEX_AUTH_INPUTS__: JSON.stringify(inputs) },
    banner: { js: `#!/usr/bin/env node\n${common.banner.js}` },
    plugins: [unusedCoreModules, cliHost],
    logLevel: 'silent',
  });
  await chmod(`${OUT}/cli/index.js`, 0o755);
  if (result.warnings.length > 0) {
    const text = await esbuild.formatMessages(result.warnings, { kind: 'warning' });
    throw new Error(`The CLI bundle has warnings (an @actions/core function src/cli/core-host.ts lacks?):\n${text.join('\n')}`);
  }
}

await rm(OUT, { recursive: true, force: true });
const lazy = new Set();
for (const entry of ['main', 'post']) {
  await esbuild.build({ ...common, entryPoints: [`src/${entry}.ts`], outfile: `${OUT}/${entry}/index.js`, plugins: [unusedCoreModules, lazyModules(`${OUT}/${entry}`, lazy)] });
}
// Lazy modules can load others lazily: find them all first (nothing written) ...
for (let size = 0; size < lazy.size; ) {
  size = lazy.size;
  for (const source of [...lazy].sort()) {
    await esbuild.build({ ...common, entryPoints: [source], outfile: path.join(OUT, 'lazy', lazyName(source)), write: false, plugins: [unusedCoreModules, lazyModules(`${OUT}/lazy`, lazy)] });
  }
}
// ... then build them in one go, as ESM with code splitting: what several of them use (undici and
// @actions/http-client, for the locks, the cache and the github-secret store) is one shared chunk,
// parsed once however many paths load it. These files are loaded with `import()` from the CommonJS
// entries, only when their path runs; the ESM loader's extra cost there is nothing against the network.
await esbuild.build({
  ...common,
  format: 'esm',
  define: {},
  // Bundled CommonJS dependencies call require() for Node's own modules; ESM has no require of its own.
  banner: { js: 'import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);' },
  splitting: true,
  entryPoints: Object.fromEntries([...lazy].sort().map((source) => [lazyName(source).replace(/\.js$/, ''), source])),
  outdir: path.join(OUT, 'lazy'),
  chunkNames: 'shared-[hash]',
  plugins: [unusedCoreModules, lazyModules(`${OUT}/lazy`, lazy)],
});
await writeFile(path.join(OUT, 'lazy', 'package.json'), '{ "type": "module" }\n');
await buildCli();
await mkdir(OUT, { recursive: true });
// The package is ESM ("type": "module"); the bundles are CommonJS, which starts faster.
await writeFile(`${OUT}/package.json`, '{ "type": "commonjs" }\n');
const old = `dist.old-${process.pid}`;
await rename('dist', old).catch((error) => {
  if (error.code !== 'ENOENT') throw error;
});
await rename(OUT, 'dist');
await rm(old, { recursive: true, force: true });
