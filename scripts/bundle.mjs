// Builds dist/ with esbuild: ESM, minified, code-split, so that each path of the action loads only what it
// uses (the runner-store main never loads the cache SDK, octokit or exec). The figures behind this choice
// are in the README ("Start-up"); `npm run bench` prints them again.
import * as esbuild from 'esbuild';
import { rm, writeFile } from 'node:fs/promises';

// @actions/core statically imports its OIDC client (an HTTP client and undici) and its `platform` helper
// (@actions/exec), for features this action never calls. Left in, they are loaded by every step and cost
// more than the rest of main together. Inside @actions/core only, both are replaced by stand-ins that
// throw if anything ever calls them.
const unusedCoreModules = {
  name: 'unused-core-modules',
  setup(build) {
    build.onResolve({ filter: /^\.\/(oidc-utils|platform)\.js$/ }, (args) =>
      /[\\/]@actions[\\/]core[\\/]/.test(args.importer) ? { path: args.path, namespace: 'unused-core' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'unused-core' }, (args) => ({
      contents: args.path.includes('oidc')
        ? "export class OidcClient { static getIDToken() { throw new Error('core.getIDToken is not bundled in codex-auth'); } }"
        : 'export {};',
      loader: 'js',
    }));
  },
};

await rm('dist', { recursive: true, force: true });
// main and post are built apart: shared chunks between them would add files to each one's start-up.
for (const entry of ['main', 'post']) {
await esbuild.build({
  entryPoints: { index: `src/${entry}.ts` },
  outdir: `dist/${entry}`,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  // Bundled CommonJS dependencies call require(); ESM has none, so each file gets one.
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  plugins: [unusedCoreModules],
  logLevel: 'warning',
});
}
await writeFile('dist/package.json', '{ "type": "module" }\n');
