/**
 * The addon loader's search order and its one error: every candidate path is
 * listed with why it was not used (missing, dlopen failure, missing exports)
 * and what to run to build the addon.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NativeAddonNotFoundError,
  PACKAGE_ROOT,
  REQUIRED_EXPORTS,
  isNativeAddonNotFound,
  loadNativeAddonFrom,
  nativeCandidates,
} from '../../src/addon/native';

let root: string;
beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'jepa-loader-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to throw');
}

describe('nativeCandidates', () => {
  it('puts JEPA_NATIVE_PATH first, then build/Release, build/Debug, build-gyp/Release under the root', () => {
    expect(nativeCandidates('/pkg', { JEPA_NATIVE_PATH: '/opt/x/jepa_native.node' })).toEqual([
      '/opt/x/jepa_native.node',
      '/pkg/build/Release/jepa_native.node',
      '/pkg/build/Debug/jepa_native.node',
      '/pkg/build-gyp/Release/jepa_native.node',
    ]);
  });

  it('ignores an empty JEPA_NATIVE_PATH and resolves a relative one against the current directory', () => {
    expect(nativeCandidates('/pkg', { JEPA_NATIVE_PATH: '' })).toHaveLength(3);
    expect(nativeCandidates('/pkg', { JEPA_NATIVE_PATH: 'x.node' })[0]).toBe(path.resolve('x.node'));
  });

  it('resolves the package root from the loader file to the repository root', () => {
    expect(existsSync(path.join(PACKAGE_ROOT, 'package.json'))).toBe(true);
    expect(existsSync(path.join(PACKAGE_ROOT, 'src', 'addon', 'native.ts'))).toBe(true);
  });
});

describe('loadNativeAddonFrom', () => {
  it('lists every path with "missing" when nothing exists, and says what to run', () => {
    const candidates = nativeCandidates(root, { JEPA_NATIVE_PATH: path.join(root, 'nonexistent.node') });
    const e = thrown(() => loadNativeAddonFrom(candidates));
    expect(e).toBeInstanceOf(NativeAddonNotFoundError);
    expect(isNativeAddonNotFound(e)).toBe(true);
    const err = e as NativeAddonNotFoundError;
    expect(err.attempts.map((a) => a.path)).toEqual(candidates);
    expect(err.attempts.every((a) => a.reason === 'missing (no such file)')).toBe(true);
    for (const c of candidates) expect(err.message).toContain(`  - ${c}: missing (no such file)`);
    expect(err.message).toContain('`npm run build:addon` (needs cmake >= 3.15 and a C++17 compiler');
    expect(err.message).toContain('`npm run build:gyp`');
  });

  it('reports the dlopen message for a file that is not a shared object, and missing exports for a foreign addon', () => {
    const garbage = path.join(root, 'build', 'Release', 'jepa_native.node');
    mkdirSync(path.dirname(garbage), { recursive: true });
    writeFileSync(garbage, 'not an ELF file');
    // A real, loadable Node addon that is not ours: better-sqlite3's binary.
    const foreignSource = createRequire(import.meta.url).resolve('better-sqlite3/build/Release/better_sqlite3.node');
    const foreign = path.join(root, 'build-gyp', 'Release', 'jepa_native.node');
    mkdirSync(path.dirname(foreign), { recursive: true });
    copyFileSync(foreignSource, foreign);

    const e = thrown(() => loadNativeAddonFrom(nativeCandidates(root, {})));
    const err = e as NativeAddonNotFoundError;
    expect(err.attempts).toHaveLength(3);
    expect(err.attempts[0]!.reason).toMatch(/^failed to load \(dlopen\): .*(invalid ELF header|file too short)/);
    expect(err.attempts[1]!.reason).toBe('missing (no such file)');
    expect(err.attempts[2]!.reason).toBe(
      `loaded, but missing export(s) ${REQUIRED_EXPORTS.join(', ')} (a stale or foreign binary; rebuild it)`,
    );
    expect(err.message).toContain(err.attempts[0]!.reason);
  });

  it('returns the first candidate that loads with every export', () => {
    const built = nativeCandidates().slice(1).find((p) => existsSync(p));
    expect(built, 'run `npm run build:addon` first').toBeDefined();
    const addon = loadNativeAddonFrom([path.join(root, 'missing.node'), built!]);
    expect(typeof addon.inspectSafetensors).toBe('function');
    expect(addon.buildInfo().napiVersion).toBe(8);
  });
});
