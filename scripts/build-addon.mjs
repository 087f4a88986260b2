#!/usr/bin/env node
// Builds the native addon from source; run by `npm install` / `npm ci` and by
// `npm run build:addon` / `npm run build:gyp`. Owns how the binary is made:
//   default: cmake-js (Release, -j2) -> build/Release/jepa_native.node, with the
//            Node-API headers from the node-api-headers package (no downloads);
//            falls back to node-gyp when cmake is not installed;
//   --gyp:   node-gyp with binding.gyp (CPU only) -> build-gyp/Release/jepa_native.node.
// Skips the build when the binary is newer than every native source, unless --force.
// Also answers queries from binding.gyp and tests (--list-sources, --isa-variants,
// --has-sources, --package-version, --find-node-gyp) and exits.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(ROOT, 'package.json'));

const CMAKE_OUTPUT = path.join(ROOT, 'build', 'Release', 'jepa_native.node');
const GYP_DIR = path.join(ROOT, 'build-gyp');
const GYP_OUTPUT = path.join(GYP_DIR, 'Release', 'jepa_native.node');
const MIN_CMAKE = [3, 15, 0];
const ISA_VARIANTS = ['avx2', 'avx512', 'amx'];
const SOURCE_FOLDERS = ['core', 'cpu', 'napi'];

class BuildError extends Error {
  name = 'BuildError';
}

function log(message) {
  console.log(`[jepa build] ${message}`);
}

// --- sources -----------------------------------------------------------------

/** Source files of a folder under native/src matching the ISA variant ('base' = none of them). */
function listSources(rootDir, variant) {
  const out = [];
  for (const folder of SOURCE_FOLDERS) {
    const dir = path.join(rootDir, 'native', 'src', folder);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.cc')) continue;
      const isa = ISA_VARIANTS.find((v) => name.endsWith(`_${v}.cc`));
      if ((variant === 'base' && isa === undefined) || isa === variant) out.push(`native/src/${folder}/${name}`);
    }
  }
  return out;
}

/** Newest modification time among everything the binary is built from. */
function newestInput() {
  let newest = { mtimeMs: 0, file: '' };
  const visit = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p)) visit(path.join(p, name));
    } else if (st.mtimeMs > newest.mtimeMs) {
      newest = { mtimeMs: st.mtimeMs, file: path.relative(ROOT, p) };
    }
  };
  visit(path.join(ROOT, 'native'));
  for (const f of ['CMakeLists.txt', 'binding.gyp', 'scripts/build-addon.mjs']) visit(path.join(ROOT, f));
  return newest;
}

function upToDate(output) {
  if (!existsSync(output)) return { fresh: false, why: `${path.relative(ROOT, output)} does not exist` };
  const built = statSync(output).mtimeMs;
  const newest = newestInput();
  if (newest.mtimeMs > built) return { fresh: false, why: `${newest.file} is newer than ${path.relative(ROOT, output)}` };
  return { fresh: true, why: `${path.relative(ROOT, output)} is newer than every native source` };
}

// --- tools -------------------------------------------------------------------

function run(cmd, args, options = {}) {
  log(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...options });
  if (r.error) throw new BuildError(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new BuildError(`${cmd} exited with status ${r.status ?? r.signal}`);
}

/** cmake's version as [major, minor, patch], or null when cmake is not on PATH. */
function cmakeVersion() {
  const r = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  const m = /cmake version (\d+)\.(\d+)\.(\d+)/.exec(r.stdout);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

function versionAtLeast(v, min) {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] > min[i];
  return true;
}

/**
 * npm's bundled node-gyp: the path npm exports to install scripts, then a
 * project-local copy, then the one beside this node's npm. Never downloads.
 */
export function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed in the project; try npm's copy below
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const npmPrefix = spawnSync('npm', ['prefix', '-g'], { encoding: 'utf8' });
  if (!npmPrefix.error && npmPrefix.status === 0 && npmPrefix.stdout.trim()) {
    const p = npmPrefix.stdout.trim();
    candidates.push(path.join(p, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    candidates.push(path.join(p, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  return { found: candidates.find((c) => existsSync(c)) ?? null, tried: candidates };
}

/** Headers of the running node (include/node/common.gypi) so node-gyp need not download them. */
function localNodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')];
  return candidates.find((d) => d && existsSync(path.join(d, 'include', 'node', 'common.gypi'))) ?? null;
}

// --- builds ------------------------------------------------------------------

async function buildWithCmakeJs(jobs, cudaMode) {
  const { BuildSystem } = require('cmake-js');
  const options = {
    directory: ROOT,
    out: path.join(ROOT, 'build'),
    config: 'Release',
    parallel: jobs,
    cMakeOptions: { JEPA_CUDA: cudaMode },
  };
  const buildSystem = new BuildSystem(options);
  // cmake-js only treats a project as Node-API (headers from node-api-headers,
  // nothing downloaded) when package.json has binary.napi_versions; this
  // addon is Node-API only, so say so directly.
  buildSystem.options.isNodeApi = true;
  log(`configuring with cmake-js (Release, JEPA_CUDA=${cudaMode}, Node-API headers from node-api-headers)`);
  // Configure every time: it is quick, and it picks up newly added source files.
  await buildSystem.configure();
  log(`compiling with ${jobs} parallel jobs`);
  await buildSystem.build();
  if (!existsSync(CMAKE_OUTPUT)) throw new BuildError(`cmake-js finished but ${CMAKE_OUTPUT} was not produced`);
  // The build is current now even when nothing needed relinking (e.g. only this
  // script changed); mark it so the next run skips.
  const now = new Date();
  utimesSync(CMAKE_OUTPUT, now, now);
}

function buildWithNodeGyp(jobs) {
  const gyp = findNodeGyp();
  if (!gyp.found) {
    throw new BuildError(
      `node-gyp was not found (tried: ${gyp.tried.join(', ')}). Install cmake >= ${MIN_CMAKE.join('.')} ` +
        'and a C++17 compiler, then run `npm run build:addon`.',
    );
  }
  mkdirSync(GYP_DIR, { recursive: true });
  // node-gyp always writes into ./build of the directory holding binding.gyp,
  // which is cmake-js's folder here; build from a staging folder that includes
  // the real binding.gyp with the project root one level up.
  writeFileSync(
    path.join(GYP_DIR, 'binding.gyp'),
    "# Generated by scripts/build-addon.mjs: stages binding.gyp so node-gyp builds into build-gyp/.\n" +
      "{ 'variables': { 'jepa_root': '..' }, 'includes': [ '../binding.gyp' ] }\n",
  );
  const args = [gyp.found, 'rebuild', `--jobs=${jobs}`];
  const nodeDir = localNodeDir();
  if (nodeDir) args.push(`--nodedir=${nodeDir}`);
  else log('no local node headers found (include/node/common.gypi); node-gyp may try to download them');
  log(`building with node-gyp (${gyp.found})`);
  run(process.execPath, args, { cwd: GYP_DIR });
  const built = path.join(GYP_DIR, 'build', 'Release', 'jepa_native.node');
  if (!existsSync(built)) throw new BuildError(`node-gyp finished but ${built} was not produced`);
  mkdirSync(path.dirname(GYP_OUTPUT), { recursive: true });
  copyFileSync(built, GYP_OUTPUT);
}

// --- main --------------------------------------------------------------------

function parseArgs(argv) {
  const opts = { force: false, gyp: false, jobs: 2, cuda: process.env.JEPA_CUDA ?? 'AUTO' };
  for (const arg of argv) {
    if (arg === '--force') opts.force = true;
    else if (arg === '--gyp') opts.gyp = true;
    else if (/^--jobs=\d+$/.test(arg)) opts.jobs = Number(arg.slice(7));
    else if (/^--cuda=(AUTO|ON|OFF)$/i.test(arg)) opts.cuda = arg.slice(7).toUpperCase();
    else if (arg === '--help') {
      console.log('usage: node scripts/build-addon.mjs [--force] [--gyp] [--jobs=N] [--cuda=AUTO|ON|OFF]');
      process.exit(0);
    } else throw new BuildError(`unknown argument ${arg} (see --help)`);
  }
  if (!/^(AUTO|ON|OFF)$/.test(opts.cuda)) throw new BuildError(`JEPA_CUDA must be AUTO, ON or OFF (got ${opts.cuda})`);
  if (!(opts.jobs >= 1)) throw new BuildError('--jobs must be at least 1');
  return opts;
}

async function main(argv) {
  // Queries from binding.gyp's command expansions: print and exit.
  if (argv[0] === '--list-sources') {
    console.log(listSources(path.resolve(argv[1] ?? ROOT), argv[2] ?? 'base').map((f) => path.posix.join(argv[1] ?? '.', f)).join('\n'));
    return;
  }
  if (argv[0] === '--isa-variants') {
    console.log(ISA_VARIANTS.filter((v) => listSources(path.resolve(argv[1] ?? ROOT), v).length > 0).join(','));
    return;
  }
  if (argv[0] === '--has-sources') {
    console.log(listSources(path.resolve(argv[1] ?? ROOT), argv[2]).length > 0 ? 1 : 0);
    return;
  }
  if (argv[0] === '--find-node-gyp') {
    const gyp = findNodeGyp();
    console.log(gyp.found ?? '');
    if (!gyp.found) console.error(`node-gyp not found; tried: ${gyp.tried.join(', ')}`);
    return;
  }
  if (argv[0] === '--package-version') {
    console.log(require(path.join(ROOT, 'package.json')).version);
    return;
  }

  const opts = parseArgs(argv);
  const started = Date.now();
  let output;
  if (opts.gyp) {
    output = GYP_OUTPUT;
    const state = upToDate(output);
    if (state.fresh && !opts.force) return log(`skipping the node-gyp build: ${state.why} (use --force to rebuild)`);
    log(`building the node-gyp variant: ${opts.force ? '--force given' : state.why}`);
    buildWithNodeGyp(opts.jobs);
  } else {
    const version = cmakeVersion();
    if (version && versionAtLeast(version, MIN_CMAKE)) {
      output = CMAKE_OUTPUT;
      const state = upToDate(output);
      if (state.fresh && !opts.force) return log(`skipping the build: ${state.why} (use --force to rebuild)`);
      log(`building with cmake ${version.join('.')}: ${opts.force ? '--force given' : state.why}`);
      await buildWithCmakeJs(opts.jobs, opts.cuda);
    } else {
      output = GYP_OUTPUT;
      log(
        version
          ? `cmake ${version.join('.')} is older than ${MIN_CMAKE.join('.')}; falling back to node-gyp (CPU only)`
          : 'cmake was not found on PATH; falling back to node-gyp (CPU only)',
      );
      const state = upToDate(output);
      if (state.fresh && !opts.force) return log(`skipping the node-gyp build: ${state.why} (use --force to rebuild)`);
      buildWithNodeGyp(opts.jobs);
    }
  }
  log(`built ${path.relative(ROOT, output)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`[jepa build] failed: ${e instanceof Error ? e.message : String(e)}`);
    console.error(
      '[jepa build] to build by hand: `npm run build:addon` (needs cmake >= 3.15 and a C++17 compiler) ' +
        'or `npm run build:gyp` (node-gyp, CPU only).',
    );
    process.exit(1);
  });
}
