// Bundles the widget (src/index.js, an anywidget ES module) with esbuild into rtsp_notebook/static/:
//
//   widget.js                 the ES module, with JSMpeg and its WebAssembly decoder inlined
//   widget.css                the CSS the module imports (an empty stylesheet when it imports none)
//   THIRD_PARTY_LICENSES.txt  name, version and full license text of every npm package in the bundle
//
//   node build.mjs           minified production build (what the wheel ships; the build hook runs this)
//   node build.mjs --watch   development: rebuilds on every change, not minified, inline source maps
//
// A Worker's code is inlined too: anywidget loads widget.js from a string, so a Worker cannot be loaded
// from a file URL beside it. `import source from 'worker-text:./worker.js'` (see workerTextPlugin) bundles
// that module on its own first and gives the importer its text, which it starts from a Blob URL.
//
// The static folder is git-ignored: the bundle is built, never committed. Importing this file builds
// nothing: it exports workerTextPlugin (the tests bundle src/h264/player.js with it).
import * as esbuild from 'esbuild';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT_DIR = path.resolve(HERE, '..', 'rtsp_notebook', 'static');
const WIDGET_CSS = path.join(OUT_DIR, 'widget.css');
const LICENSES = path.join(OUT_DIR, 'THIRD_PARTY_LICENSES.txt');
/** Everything this script writes; removed before a build so that no stale file outlives it. */
const OUTPUTS = ['widget.js', 'widget.js.map', 'widget.css', 'widget.css.map', 'THIRD_PARTY_LICENSES.txt'];
const BANNER = '/*! rtsp-notebook widget | bundled third-party code: see THIRD_PARTY_LICENSES.txt */';

/**
 * Notices a bundled package's own license file leaves out: the projects its code derives from.
 * @type {Record<string, { basedOn: string, file: string }>}
 */
const UPSTREAM_NOTICES = {
  '@cycjimmy/jsmpeg-player': {
    basedOn: 'jsmpeg by Dominic Szablewski (https://github.com/phoboslab/jsmpeg)',
    file: 'third_party/phoboslab-jsmpeg.LICENSE',
  },
};

/** Run as a script (`node build.mjs`), not imported (then argv[1] may be anything, e.g. under `node -e`). */
const isMain = (() => {
  try {
    return process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1]);
  } catch {
    return false;
  }
})();
const watch = isMain && process.argv.includes('--watch');
const WORKER_TEXT = 'worker-text:';

/**
 * An esbuild plugin for `import source from 'worker-text:./worker.js'`: bundles the named module on its own
 * (an IIFE, for a classic Worker; minified, or with an inline source map, as the main build) and resolves
 * the import to the bundle's text. A change to any file of the Worker rebuilds the importer in --watch.
 * @param {{minify: boolean, sourcemap: boolean}} how
 * @param {Map<string, {inputs: string[], bytes: number}>} [workers]  filled with each Worker bundle's
 *   inputs (relative to js/, as in a metafile: their npm packages' licenses are collected too) and size
 * @returns {esbuild.Plugin}
 */
export function workerTextPlugin(how, workers = new Map()) {
  return {
    name: 'worker-text',
    setup(build) {
      build.onResolve({ filter: /^worker-text:/ }, (args) => ({
        path: path.resolve(args.resolveDir, args.path.slice(WORKER_TEXT.length)),
        namespace: 'worker-text',
      }));
      build.onLoad({ filter: /.*/, namespace: 'worker-text' }, async (args) => {
        let result;
        try {
          result = await esbuild.build({
            absWorkingDir: HERE,
            entryPoints: [args.path],
            bundle: true,
            write: false,
            format: 'iife',
            platform: 'browser',
            target: 'es2020',
            minify: how.minify,
            sourcemap: how.sourcemap ? 'inline' : false,
            legalComments: 'eof',
            metafile: true,
            logLevel: 'silent',
          });
        } catch (error) {
          if (error instanceof Error && 'errors' in error) {
            const failure = /** @type {esbuild.BuildFailure} */ (error);
            return { errors: failure.errors, warnings: failure.warnings };
          }
          throw error;
        }
        const inputs = Object.keys(result.metafile.inputs);
        const text = result.outputFiles[0].text;
        workers.set(path.relative(HERE, args.path), { inputs, bytes: Buffer.byteLength(text) });
        return {
          contents: text,
          loader: 'text',
          watchFiles: inputs.map((input) => path.resolve(HERE, input)),
          warnings: result.warnings,
        };
      });
    },
  };
}

/** @type {Map<string, {inputs: string[], bytes: number}>} the Worker bundles of the latest build */
const workers = new Map();

/** @type {esbuild.BuildOptions} */
const options = {
  absWorkingDir: HERE,
  entryPoints: { widget: 'src/index.js' },
  outdir: OUT_DIR,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: !watch,
  // anywidget loads the module from a string, so a linked .map could not be found: inline maps in
  // development only, none in the wheel.
  sourcemap: watch ? 'inline' : false,
  // Keep any /*! ... */ or @license comment (none in JSMpeg 6.1) at the end of the file; the full
  // license texts are in THIRD_PARTY_LICENSES.txt.
  legalComments: 'eof',
  banner: { js: BANNER, css: BANNER },
  metafile: true,
  logLevel: watch ? 'info' : 'warning',
  plugins: [workerTextPlugin({ minify: !watch, sourcemap: watch }, workers)],
};

/**
 * The nearest enclosing folder whose package.json names a package (skipping e.g. dist/package.json
 * files that only set "type").
 * @param {string} file
 * @returns {Promise<{ dir: string, meta: { name: string, version: string, license?: string, homepage?: string } }>}
 */
async function packageOf(file) {
  let dir = path.dirname(file);
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      const meta = JSON.parse(await readFile(manifest, 'utf8'));
      if (meta.name && meta.version) return { dir, meta };
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json with a name and version above ${file}`);
    dir = parent;
  }
}

/**
 * THIRD_PARTY_LICENSES.txt for the npm packages that went into a build (its Worker bundles included).
 * @param {esbuild.Metafile} metafile
 * @param {Iterable<string>} workerInputs  the inputs of the Worker bundles inlined into it
 * @returns {Promise<string>}
 */
async function thirdPartyLicenses(metafile, workerInputs) {
  /** @type {Map<string, Awaited<ReturnType<typeof packageOf>>>} */
  const packages = new Map();
  for (const input of new Set([...Object.keys(metafile.inputs), ...workerInputs])) {
    if (!input.split(/[\\/]/).includes('node_modules')) continue;
    const pkg = await packageOf(path.resolve(HERE, input));
    packages.set(`${pkg.meta.name}@${pkg.meta.version}`, pkg);
  }
  const rule = '='.repeat(78);
  const sections = [
    "Third-party software bundled in rtsp-notebook's widget (widget.js, widget.css).\n" +
      'Generated by js/build.mjs from the npm packages esbuild bundled; do not edit.',
  ];
  for (const [id, { dir, meta }] of [...packages].sort(([a], [b]) => a.localeCompare(b))) {
    const files = (await readdir(dir)).filter((name) => /^(licen[cs]e|copying|notice)([.-].*)?$/i.test(name));
    if (files.length === 0) {
      throw new Error(`${id} is bundled but ships no LICENSE file: add its license text by hand to js/build.mjs`);
    }
    const texts = await Promise.all(files.sort().map((name) => readFile(path.join(dir, name), 'utf8')));
    const lines = [rule, `${meta.name} ${meta.version} (${meta.license ?? 'license: see below'})`];
    if (meta.homepage) lines.push(meta.homepage);
    lines.push(rule, '', ...texts.map((text) => text.trimEnd() + '\n'));
    const upstream = UPSTREAM_NOTICES[meta.name];
    if (upstream) {
      const text = await readFile(path.join(HERE, upstream.file), 'utf8');
      lines.push(`${meta.name} is based on ${upstream.basedOn}, whose license follows.`, '', text.trimEnd() + '\n');
    }
    sections.push(lines.join('\n'));
  }
  if (packages.size === 0) sections.push('(none)\n');
  return sections.join('\n\n');
}

/**
 * What follows a successful build: the stylesheet even without CSS imports (the Python side always
 * ships one), the license file, and the output sizes.
 * @param {esbuild.BuildResult<{ metafile: true }>} result
 */
async function finish(result) {
  if (!existsSync(WIDGET_CSS)) await writeFile(WIDGET_CSS, `${BANNER}\n/* the widget imports no CSS */\n`);
  const workerInputs = [...workers.values()].flatMap((worker) => worker.inputs);
  await writeFile(LICENSES, await thirdPartyLicenses(result.metafile, workerInputs));
  for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
    console.log(`  ${path.relative(process.cwd(), path.resolve(HERE, file))}  ${(bytes / 1024).toFixed(1)} KiB`);
  }
  for (const [file, { bytes }] of workers) {
    console.log(`    inlined Worker ${file}  ${(bytes / 1024).toFixed(1)} KiB`);
  }
}

async function main() {
  await mkdir(OUT_DIR, { recursive: true });
  await Promise.all(OUTPUTS.map((name) => rm(path.join(OUT_DIR, name), { force: true })));
  if (watch) await buildAndWatch();
  else await buildOnce();
}

async function buildAndWatch() {
  const context = await esbuild.context({
    ...options,
    plugins: [
      ...(options.plugins ?? []),
      {
        name: 'after-build',
        setup(build) {
          build.onEnd(async (result) => {
            if (result.errors.length > 0 || !result.metafile) return; // esbuild has printed them
            try {
              await finish(/** @type {esbuild.BuildResult<{ metafile: true }>} */ (result));
            } catch (error) {
              console.error(error);
            }
          });
        },
      },
    ],
  });
  await context.watch();
  console.log(`watching ${path.relative(process.cwd(), path.join(HERE, 'src'))} (Ctrl-C stops)`);
}

async function buildOnce() {
  try {
    await finish(await esbuild.build({ ...options, metafile: true }));
  } catch (error) {
    // esbuild has already printed its own errors; anything else is ours
    if (!(error instanceof Error && 'errors' in error)) console.error(error);
    process.exitCode = 1;
  }
}

if (isMain) await main();
