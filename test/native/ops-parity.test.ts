/**
 * Every native op, on every kernel set this CPU can run (AVX-512, AVX2/FMA,
 * portable), against the float64 reference ops: linear/GEMM at sizes that hit
 * full and edge tiles (1, 3, 17, 64, 257 rows/cols/depth) with bias, fused
 * activation and accumulate-into-C, on one and two threads; layer norm, group
 * norm, each activation, softmax, attention (unmasked and frame-causal), conv2d
 * with stride and padding. Tolerance: relErr (native-test-helpers.ts) <= 1e-4.
 */
import { describe, expect, it } from 'vitest';
import * as ref from '../../src/addon/reference/ops';
import { addon, addonBuilt, randomArray, relErr } from './native-test-helpers';

const TOL = 1e-4;

function isas(): ('scalar' | 'avx2' | 'avx512')[] {
  if (!addonBuilt) return [];
  const detected = addon().kernelInfo().detected;
  return detected === 'avx512' ? ['avx512', 'avx2', 'scalar'] : detected === 'avx2' ? ['avx2', 'scalar'] : ['scalar'];
}

describe.skipIf(!addonBuilt)('native ops vs float64 reference', () => {
  for (const isa of isas()) {
    describe(`${isa} kernels`, () => {
      it('linear matches x·Wᵀ + b at every edge-tile size (1, 3, 17, 64, 257)', () => {
        const sizes = [1, 3, 17, 64, 257];
        let seed = 1;
        for (const rows of sizes)
          for (const outDim of sizes)
            for (const inDim of [1, 3, 17, 64, 257, 300]) {
              if (rows * outDim * inDim > 4e6) continue;
              const x = randomArray(rows * inDim, seed++);
              const W = randomArray(outDim * inDim, seed++);
              const b = randomArray(outDim, seed++);
              const got = addon().opForTest('linear', { isa, x, W, b, rows, inDim, outDim, threads: 1 + (seed % 2) });
              const want = ref.linear(x, rows, W, b, inDim, outDim);
              expect(relErr(got, want), `rows ${rows} out ${outDim} in ${inDim}`).toBeLessThan(TOL);
            }
      });

      it('linear with fused gelu and accumulate-into-C (residual) matches the reference', () => {
        const rows = 37, inDim = 300, outDim = 45; // K > one 256-deep block
        const x = randomArray(rows * inDim, 3);
        const W = randomArray(outDim * inDim, 4);
        const b = randomArray(outDim, 5);
        const c0 = randomArray(rows * outDim, 6);
        const got = addon().opForTest('linear', { isa, x, W, b, rows, inDim, outDim, accumulate: c0, act: 'gelu', threads: 2 });
        const lin = ref.linear(x, rows, W, b, inDim, outDim);
        const want = ref.activate(lin.map((v, i) => v + c0[i]!), 'gelu');
        expect(relErr(got, want)).toBeLessThan(TOL);
      });

      it('layer norm matches per row, odd widths', () => {
        for (const dim of [1, 7, 16, 33, 384]) {
          const rows = 5;
          const x = randomArray(rows * dim, dim, -3, 5);
          const w = randomArray(dim, dim + 1);
          const b = randomArray(dim, dim + 2);
          const got = addon().opForTest('layernorm', { isa, x, w, b, rows, dim, eps: 1e-5 });
          expect(relErr(got, ref.layerNorm(x, rows, dim, w, b, 1e-5)), `dim ${dim}`).toBeLessThan(TOL);
        }
      });

      it('group norm matches with 1, 2 and 4 groups', () => {
        for (const groups of [1, 2, 4]) {
          const channels = 8, spatial = 13;
          const x = randomArray(channels * spatial, groups, -2, 3);
          const w = randomArray(channels, 9);
          const b = randomArray(channels, 10);
          const got = addon().opForTest('groupnorm', { isa, x, w, b, channels, spatial, groups, eps: 1e-5 });
          expect(relErr(got, ref.groupNorm(x, channels, spatial, groups, w, b, 1e-5))).toBeLessThan(TOL);
        }
      });

      it('gelu (erf form), relu, tanh and silu match on [-9, 9], including tails', () => {
        const x = randomArray(1003, 11, -9, 9);
        for (const act of ['gelu', 'relu', 'tanh', 'silu'] as const) {
          const got = addon().opForTest('activate', { isa, x, act });
          expect(relErr(got, ref.activate(x, act)), act).toBeLessThan(TOL);
          // Elementwise too: small values must not be swamped by large ones.
          const want = ref.activate(x, act);
          for (let i = 0; i < x.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(2e-6 * (1 + Math.abs(want[i]!)));
        }
      });

      it('softmax is stable for large logits', () => {
        const rows = 3, n = 37;
        const x = randomArray(rows * n, 12, 50, 90);
        const got = addon().opForTest('softmax', { isa, x, rows, n, scale: 1 });
        const want = new Float64Array(x);
        for (let r = 0; r < rows; r++) ref.softmaxInPlace(want, r * n, n);
        expect(relErr(got, want)).toBeLessThan(TOL);
      });

      for (const frameTokens of [0, 3]) {
        it(`attention matches ${frameTokens ? 'with the frame-causal mask' : 'unmasked'} (several samples, heads)`, () => {
          const samples = 2, tokens = 12, heads = 3, dh = 8, width = heads * dh;
          const qkv = randomArray(samples * tokens * 3 * width, 13 + frameTokens, -2, 2);
          const got = addon().opForTest('attention', { isa, x: qkv, samples, tokens, width, heads, frameTokens, threads: 2 });
          for (let s = 0; s < samples; s++) {
            const q = new Float64Array(tokens * width), k = new Float64Array(tokens * width), v = new Float64Array(tokens * width);
            for (let t = 0; t < tokens; t++)
              for (let c = 0; c < width; c++) {
                const row = (s * tokens + t) * 3 * width;
                q[t * width + c] = qkv[row + c]!;
                k[t * width + c] = qkv[row + width + c]!;
                v[t * width + c] = qkv[row + 2 * width + c]!;
              }
            const want = ref.attention(q, k, v, tokens, heads, dh, frameTokens);
            expect(relErr(got.subarray(s * tokens * width, (s + 1) * tokens * width), want)).toBeLessThan(TOL);
          }
        });
      }

      it('conv2d matches with stride and padding', () => {
        for (const [k, stride, padding] of [
          [3, 1, 1],
          [3, 2, 0],
          [4, 2, 2],
          [5, 3, 1],
        ] as const) {
          const channels = 3, height = 11, width = 11, outChannels = 5;
          const x = randomArray(channels * height * width, k * 10 + stride);
          const W = randomArray(outChannels * channels * k * k, 20 + k);
          const b = randomArray(outChannels, 30);
          const got = addon().opForTest('conv2d', { isa, x, W, b, channels, height, width, outChannels, kernel: k, stride, padding });
          const want = ref.conv2d(x, channels, height, width, W, b, outChannels, k, stride, padding).out;
          expect(relErr(got, want), `k ${k} s ${stride} p ${padding}`).toBeLessThan(TOL);
        }
      });
    });
  }

  it('rejects an unknown op name with the list of ops', () => {
    expect(() => addon().opForTest('matmul' as 'linear', { x: new Float32Array(1) })).toThrow(/unknown op 'matmul'/);
  });
});
