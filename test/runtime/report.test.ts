import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { TaskSummary } from '../../src/runtime/evaluate';
import { renderReport, writeReport } from '../../src/runtime/report';

function chromium(): string | undefined {
  for (const c of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) if (existsSync(c)) return c;
  return undefined;
}

/** Decodes an 8-bit RGB/RGBA PNG (filters 0-4) into pixels, to look at what Chromium drew. */
function decodePng(buf: Buffer): { width: number; height: number; channels: number; pixels: Uint8Array } {
  let pos = 8;
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      if (data[8] !== 8 || channels === 0) throw new Error(`unsupported PNG (bit depth ${data[8]}, colour type ${data[9]})`);
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x]!;
      const a = x >= channels ? out[y * stride + x - channels]! : 0;
      const b = y > 0 ? out[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? out[(y - 1) * stride + x - channels]! : 0;
      const p = a + b - c;
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      out[y * stride + x] = (v + pred) & 255;
    }
  }
  return { width, height, channels, pixels: out };
}

const summary = (task: string, rate: number): TaskSummary => ({
  task: task as TaskSummary['task'],
  planner: 'cem',
  backend: 'cpu',
  model: `${task}-linear`,
  episodes: 4,
  successRate: rate,
  plansPerSecond: 30,
  meanPlan_ms: 20,
  p50Tick_ms: 25,
  p99Tick_ms: 60,
  meanIterations: 4,
  shieldInterventions: 3,
  shieldReasons: { TOOL_SPEED: 3 },
  surpriseEvents: 0,
  ticks: 100,
  deadlineOverruns: 0,
  perEpisode: [],
  tickLatencies_ms: Array.from({ length: 100 }, (_, i) => 20 + (i % 17)),
  energyTraces: [[1, 0.5, 0.2, 0.1]],
});

function report(): string {
  const rgb = new Uint8Array(32 * 32 * 3).map((_, i) => (i % 3 === 0 ? 220 : 30));
  return renderReport({
    title: 'test report',
    generated: 'now',
    machine: 'test',
    summaries: [summary('reach', 1), summary('two-rooms', 0.5)],
    episodes: [
      {
        task: 'two-rooms',
        seed: 1,
        success: true,
        samples: [{ step: 0, image: { width: 32, height: 32, rgb }, latent: Float32Array.of(0, 0), predicted: Float32Array.of(0.1, 0, 0.2, 0.1) }],
        observed: Float32Array.of(0, 0, 0.1, 0.05, 0.2, 0.1),
        latentSize: 2,
        goal: Float32Array.of(0.3, 0.2),
      },
    ],
    notes: ['a <note> with markup'],
  });
}

describe('HTML report', () => {
  it('is self-contained: no scripts, no external resources, escaped text', () => {
    const html = report();
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(html).toContain('data:image/png;base64,');
    expect(html).toContain('a &lt;note&gt; with markup');
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(4);
    expect(html).toContain('50% (2/4)');
  });

  it('renders in headless Chromium with plots and frames drawn (screenshot)', () => {
    const browser = chromium();
    if (!browser) {
      console.log('skipped: no Chromium found (install Debian\'s chromium package: apt-get install chromium)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    const file = join(dir, 'report.html');
    writeReport(file, report());
    const shot = join(dir, 'shot.png');
    const r = spawnSync(
      browser,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`, '--window-size=1200,1400', `--screenshot=${shot}`, `file://${file}`],
      { timeout: 60_000, encoding: 'utf8' },
    );
    expect(existsSync(shot), `chromium exited ${r.status}: ${r.stderr?.slice(-500)}`).toBe(true);
    const png = decodePng(readFileSync(shot));
    expect(png.width).toBe(1200);
    // Count coloured pixels: bars, lines and the frame are drawn in saturated colours on a white page.
    let coloured = 0;
    for (let i = 0; i < png.width * png.height; i++) {
      const p = i * png.channels;
      const [R, G, B] = [png.pixels[p]!, png.pixels[p + 1]!, png.pixels[p + 2]!];
      if (Math.max(R, G, B) - Math.min(R, G, B) > 80) coloured++;
    }
    expect(coloured).toBeGreaterThan(5000);
  });
});
