/**
 * CI builds both addon variants once so neither rots: the cmake-js binary
 * must report how it was built (version, Release, Node-API 8, the ISA
 * variants the source tree has), the node-gyp binary is built here when
 * missing or stale (the one slow test) and must agree with it, and cudaInfo()
 * must match what was compiled and what this machine has.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT, loadNativeAddon, loadNativeAddonFrom, type NativeAddon } from '../../src/addon/native';

const SHARED_FILE = '../shared/data/safetensors/safetensors-cpp/gen/model.safetensors';
const GYP_BINARY = path.join(PACKAGE_ROOT, 'build-gyp', 'Release', 'jepa_native.node');
const BUILD_SCRIPT = path.join(PACKAGE_ROOT, 'scripts', 'build-addon.mjs');

/** ISA variants present in the source tree, by file name (what both builds must report). */
function isaVariantsInTree(): string[] {
  const files = ['core', 'cpu', 'napi'].flatMap((d) => {
    const dir = path.join(PACKAGE_ROOT, 'native', 'src', d);
    return existsSync(dir) ? readdirSync(dir) : [];
  });
  return ['avx2', 'avx512', 'amx'].filter((isa) => files.some((f) => f.endsWith(`_${isa}.cc`)));
}

const nodeGyp = spawnSync(process.execPath, [BUILD_SCRIPT, '--find-node-gyp'], { encoding: 'utf8' });
const nodeGypPath = nodeGyp.stdout.trim();
if (!nodeGypPath) console.log(`skipping the node-gyp build check: ${nodeGyp.stderr.trim() || 'node-gyp not found'}`);

let cmakeAddon: NativeAddon;
beforeAll(() => {
  cmakeAddon = loadNativeAddon();
});

describe('cmake-js addon', () => {
  it('reports the package version, a Release Node-API 8 build, and the ISA variants of the source tree', () => {
    const info = cmakeAddon.buildInfo();
    const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(info.version).toBe(pkg.version);
    expect(info.buildType).toBe('Release');
    expect(info.napiVersion).toBe(8);
    expect(info.isa).toEqual(isaVariantsInTree());
    expect(info.compiler).toMatch(/^(gcc|clang) \d+/);
  });
});

describe('node-gyp addon', () => {
  it.skipIf(!nodeGypPath)(
    'builds with node-gyp (cached when up to date) and agrees with the cmake-js addon',
    () => {
      const r = spawnSync(process.execPath, [BUILD_SCRIPT, '--gyp'], { encoding: 'utf8', cwd: PACKAGE_ROOT });
      expect(r.status, `node-gyp build failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
      expect(existsSync(GYP_BINARY)).toBe(true);
      const gypAddon = loadNativeAddonFrom([GYP_BINARY]);

      const a = cmakeAddon.buildInfo();
      const b = gypAddon.buildInfo();
      expect(b.buildSystem).toBe('node-gyp');
      expect(a.buildSystem).toBe('cmake-js');
      expect({ ...b, buildSystem: 'cmake-js', cuda: a.cuda }).toEqual(a);
      expect(b.cuda).toBe(false);

      expect(gypAddon.inspectSafetensors(SHARED_FILE)).toEqual(cmakeAddon.inspectSafetensors(SHARED_FILE));
      const x = gypAddon.readSafetensorsTensor(SHARED_FILE, 'weight2');
      const y = cmakeAddon.readSafetensorsTensor(SHARED_FILE, 'weight2');
      expect(x.length).toBe(256);
      expect(Array.from(x)).toEqual(Array.from(y));
    },
    600_000,
  );
});

describe('cudaInfo', () => {
  const hasGpuDriver = existsSync('/dev/nvidiactl') || spawnSync('nvidia-smi', ['-L']).status === 0;

  it('says CUDA was not compiled, with no devices, when the addon was built without it', (ctx) => {
    if (cmakeAddon.buildInfo().cuda) {
      console.log('skipping: this addon was built with CUDA');
      ctx.skip();
    }
    expect(cmakeAddon.cudaInfo()).toEqual({ compiled: false, devices: [], error: expect.stringContaining('built without CUDA') });
  });

  it('reports compiled: true and, without a GPU driver, no devices and the CUDA error', (ctx) => {
    if (!cmakeAddon.buildInfo().cuda) {
      console.log('skipping: CUDA was not compiled into this addon (no nvcc at build time)');
      ctx.skip();
    }
    if (hasGpuDriver) {
      console.log('skipping: this machine has an NVIDIA driver; see the device test');
      ctx.skip();
    }
    const info = cmakeAddon.cudaInfo();
    expect(info.compiled).toBe(true);
    expect(info.devices).toEqual([]);
    expect(info.error).toMatch(/^cudaGetDeviceCount failed: cuda\w+ \(.+\)$/);
    expect(info.driverVersion).toBe(0);
    expect(info.runtimeVersion).toBeGreaterThanOrEqual(11000);
  });

  it('lists every device with name, compute capability, memory and SM count when a GPU is present', (ctx) => {
    if (!cmakeAddon.buildInfo().cuda || !hasGpuDriver) {
      console.log('skipping: needs an addon built with CUDA and an NVIDIA driver');
      ctx.skip();
    }
    const info = cmakeAddon.cudaInfo();
    expect(info.error).toBeUndefined();
    expect(info.devices.length).toBeGreaterThan(0);
    for (const d of info.devices) {
      expect(d.name.length).toBeGreaterThan(0);
      expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
      expect(d.totalMemory_bytes).toBeGreaterThan(1 << 30);
      expect(d.multiprocessorCount).toBeGreaterThan(0);
    }
  });
});
