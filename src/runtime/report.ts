/**
 * The run report: one self-contained HTML file (inline SVG plots, PNG frames
 * as data URIs, no scripts, no external resources) with success per task,
 * energy versus planner iteration, the tick-latency histogram, shield
 * reasons, and one recorded episode per task: camera frames beside the
 * planner's predicted latent trajectory, projected onto the two latent
 * directions of largest variance (state models: the first two proprio
 * dimensions when those carry the motion).
 */
import { writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodePng } from '../sim/render/png';
import type { TaskSummary } from './evaluate';

export interface EpisodeFrames {
  task: string;
  seed: number;
  success: boolean;
  /** Sampled ticks: camera frame and the latent trajectory the plan predicted from there. */
  samples: {
    step: number;
    image?: { width: number; height: number; rgb: Uint8Array };
    /** Observed latent at this tick [L]. */
    latent: Float32Array;
    /** Predicted latents of the chosen plan [H, L]. */
    predicted: Float32Array;
  }[];
  /** Observed latent at every tick [T, L]. */
  observed: Float32Array;
  latentSize: number;
  goal: Float32Array;
}

export interface ReportInput {
  title: string;
  generated: string;
  machine: string;
  summaries: TaskSummary[];
  episodes: EpisodeFrames[];
  notes: string[];
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const fmt = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '–');
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];

interface Series {
  name: string;
  points: [number, number][];
  color: string;
}

function linePlot(title: string, xLabel: string, yLabel: string, series: Series[], logY = false): string {
  const W = 420, H = 260, m = { l: 56, r: 12, t: 28, b: 40 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!logY || y > 0));
  if (all.length === 0) return `<figure><figcaption>${esc(title)}: no data</figcaption></figure>`;
  const tf = (y: number) => (logY ? Math.log10(y) : y);
  const xs = all.map((p) => p[0]), ys = all.map((p) => tf(p[1]));
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - ((tf(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const ticks = (a: number, b: number, n: number) => Array.from({ length: n + 1 }, (_, i) => a + ((b - a) * i) / n);
  const yTicks = ticks(y0, y1, 4)
    .map((t) => {
      const py = H - m.b - ((t - y0) / (y1 - y0)) * (H - m.t - m.b);
      const label = logY ? `1e${t.toFixed(1)}` : Math.abs(t) >= 100 ? t.toFixed(0) : t.toPrecision(3);
      return `<line x1="${m.l}" x2="${W - m.r}" y1="${py}" y2="${py}" stroke="#eee"/><text x="${m.l - 4}" y="${py + 4}" text-anchor="end">${label}</text>`;
    })
    .join('');
  const xTicks = ticks(x0, x1, 4)
    .map((t) => `<text x="${X(t)}" y="${H - m.b + 14}" text-anchor="middle">${Math.abs(t) >= 100 ? t.toFixed(0) : t.toPrecision(3)}</text>`)
    .join('');
  const lines = series
    .map((s) => {
      const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!logY || y > 0));
      return `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`;
    })
    .join('');
  const legend = series
    .slice(0, 6)
    .map((s, i) => `<rect x="${m.l + 6}" y="${m.t + 4 + i * 14}" width="10" height="3" fill="${s.color}"/><text x="${m.l + 20}" y="${m.t + 9 + i * 14}">${esc(s.name)}</text>`)
    .join('');
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-size="10" font-family="sans-serif">
<text x="${W / 2}" y="16" text-anchor="middle" font-size="12">${esc(title)}</text>${yTicks}${xTicks}
<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>
${lines}${legend}
<text x="${(W + m.l) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>
<text transform="translate(12 ${(H - m.b + m.t) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text></svg></figure>`;
}

function barChart(title: string, bars: { label: string; value: number }[]): string {
  const W = 420, H = 260, m = { l: 40, r: 12, t: 28, b: 70 };
  const bw = (W - m.l - m.r) / Math.max(1, bars.length);
  const body = bars
    .map((b, i) => {
      const h = Math.max(0, Math.min(1, b.value)) * (H - m.t - m.b);
      const x = m.l + i * bw;
      return `<rect x="${(x + 4).toFixed(1)}" y="${(H - m.b - h).toFixed(1)}" width="${(bw - 8).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[i % COLORS.length]}"/>
<text x="${(x + bw / 2).toFixed(1)}" y="${(H - m.b - h - 3).toFixed(1)}" text-anchor="middle">${(100 * b.value).toFixed(0)}%</text>
<text transform="translate(${(x + bw / 2).toFixed(1)} ${H - m.b + 10}) rotate(30)" font-size="9">${esc(b.label)}</text>`;
    })
    .join('');
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-size="10" font-family="sans-serif">
<text x="${W / 2}" y="16" text-anchor="middle" font-size="12">${esc(title)}</text>
<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/><text x="${m.l - 4}" y="${m.t + 4}" text-anchor="end">100%</text>
${body}</svg></figure>`;
}

function histogram(title: string, values: number[], bins: number, color: string): string {
  const W = 420, H = 260, m = { l: 56, r: 12, t: 28, b: 40 };
  if (values.length === 0) return `<figure><figcaption>${esc(title)}: no data</figcaption></figure>`;
  const sorted = [...values].sort((a, b) => a - b);
  const lo = sorted[0]!, hi = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.995))]!;
  const width = (hi - lo) / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))]!++;
  const cmax = Math.max(...counts);
  const bw = (W - m.l - m.r) / bins;
  const bars = counts
    .map((c, i) => {
      const h = (c / cmax) * (H - m.t - m.b);
      return `<rect x="${(m.l + i * bw).toFixed(1)}" y="${(H - m.b - h).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"/>`;
    })
    .join('');
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-size="10" font-family="sans-serif">
<text x="${W / 2}" y="16" text-anchor="middle" font-size="12">${esc(title)}</text>${bars}
<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>
<text x="${m.l}" y="${H - m.b + 14}" text-anchor="middle">${fmt(lo, 1)}</text><text x="${W - m.r}" y="${H - m.b + 14}" text-anchor="middle">${fmt(hi, 1)}</text>
<text x="${m.l - 4}" y="${m.t + 8}" text-anchor="end">${cmax}</text>
<text x="${(W + m.l) / 2}" y="${H - 6}" text-anchor="middle">tick latency, ms (n = ${values.length})</text></svg></figure>`;
}

/** The two principal directions of a set of latents (power iteration on the covariance). */
function principalAxes(rows: Float32Array, L: number): Float64Array[] {
  const n = rows.length / L;
  const mean = new Float64Array(L);
  for (let i = 0; i < n; i++) for (let j = 0; j < L; j++) mean[j] += rows[i * L + j]! / n;
  const C = new Float64Array(L * L);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < L; a++) {
      const da = rows[i * L + a]! - mean[a]!;
      for (let b = 0; b < L; b++) C[a * L + b] += (da * (rows[i * L + b]! - mean[b]!)) / Math.max(1, n - 1);
    }
  const axes: Float64Array[] = [];
  for (let k = 0; k < Math.min(2, L); k++) {
    let v = new Float64Array(L).map((_, j) => (j === k ? 1 : 0.01 * (j + 1)));
    for (let it = 0; it < 100; it++) {
      const w = new Float64Array(L);
      for (let a = 0; a < L; a++) for (let b = 0; b < L; b++) w[a] += C[a * L + b]! * v[b]!;
      for (const u of axes) {
        let d = 0;
        for (let j = 0; j < L; j++) d += w[j]! * u[j]!;
        for (let j = 0; j < L; j++) w[j] -= d * u[j]!;
      }
      const norm = Math.hypot(...w) || 1;
      v = w.map((x) => x / norm);
    }
    axes.push(v);
  }
  return axes;
}

function projectionPlot(ep: EpisodeFrames): string {
  const L = ep.latentSize;
  const all = new Float32Array(ep.observed.length + ep.goal.length);
  all.set(ep.observed);
  all.set(ep.goal, ep.observed.length);
  const axes = principalAxes(all, L);
  const proj = (z: ArrayLike<number>, off: number): [number, number] => {
    let a = 0, b = 0;
    for (let j = 0; j < L; j++) {
      a += z[off + j]! * axes[0]![j]!;
      b += axes[1] ? z[off + j]! * axes[1]![j]! : 0;
    }
    return [a, b];
  };
  const T = ep.observed.length / L;
  const series: Series[] = [{ name: 'observed', points: Array.from({ length: T }, (_, t) => proj(ep.observed, t * L)), color: '#333' }];
  ep.samples.forEach((s, i) => {
    const H = s.predicted.length / L;
    series.push({
      name: `predicted @ step ${s.step}`,
      points: [proj(s.latent, 0), ...Array.from({ length: H }, (_, h) => proj(s.predicted, h * L))],
      color: COLORS[(i + 1) % COLORS.length]!,
    });
  });
  const g = proj(ep.goal, 0);
  series.push({ name: 'goal', points: [g, [g[0] + 1e-9, g[1]]], color: '#2ca02c' });
  return linePlot(`${ep.task} seed ${ep.seed}: latents on their two main axes`, 'axis 1', 'axis 2', series);
}

function framesStrip(ep: EpisodeFrames): string {
  const cells = ep.samples
    .filter((s) => s.image)
    .map((s) => {
      const img = s.image!;
      const uri = `data:image/png;base64,${encodePng(img.width, img.height, img.rgb).toString('base64')}`;
      return `<figure class="frame"><img src="${uri}" width="${Math.max(96, img.width)}" height="${Math.max(96, img.height)}" alt="step ${s.step}"/><figcaption>step ${s.step}</figcaption></figure>`;
    })
    .join('');
  return cells ? `<div class="frames">${cells}</div>` : '<p>(no camera frames recorded)</p>';
}

export function renderReport(r: ReportInput): string {
  const rows = r.summaries
    .map(
      (s) => `<tr><td>${esc(s.task)}</td><td>${esc(s.planner)}</td><td>${esc(s.model)} (${esc(s.backend)})</td><td>${(100 * s.successRate).toFixed(0)}% (${Math.round(s.successRate * s.episodes)}/${s.episodes})</td>
<td>${fmt(s.plansPerSecond, 1)}</td><td>${fmt(s.p50Tick_ms, 1)}</td><td>${fmt(s.p99Tick_ms, 1)}</td><td>${fmt(s.meanIterations, 1)}</td><td>${s.shieldInterventions} / ${s.ticks}</td>
<td>${esc(Object.entries(s.shieldReasons).map(([k, v]) => `${k} ${v}`).join(', ') || '–')}</td></tr>`,
    )
    .join('\n');
  const success = barChart(
    'success rate per task',
    r.summaries.map((s) => ({ label: `${s.task} ${s.planner}`, value: s.successRate })),
  );
  const energy = linePlot(
    'best energy vs planner iteration (first plan of each episode)',
    'iteration',
    'energy (log)',
    r.summaries.flatMap((s, i) =>
      s.energyTraces.slice(0, 3).map((tr, k) => ({ name: k === 0 ? `${s.task} ${s.planner}` : '', points: tr.map((e, it) => [it + 1, e] as [number, number]), color: COLORS[i % COLORS.length]! })),
    ).filter((s) => s.points.length > 0),
    true,
  );
  const hist = r.summaries.map((s, i) => histogram(`${s.task} (${s.planner}): tick latency`, s.tickLatencies_ms, 24, COLORS[i % COLORS.length]!)).join('');
  const episodes = r.episodes
    .map((ep) => `<section><h3>${esc(ep.task)}, seed ${ep.seed}: ${ep.success ? 'success' : 'no success'}</h3>${framesStrip(ep)}${projectionPlot(ep)}</section>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}
.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}.frames{display:flex;flex-wrap:wrap;gap:6px}
.frame img{image-rendering:pixelated;border:1px solid #999}.frame figcaption{font-size:11px;text-align:center}
.note{color:#555;font-size:13px}
</style></head><body>
<h1>${esc(r.title)}</h1>
<p class="note">${esc(r.generated)} · ${esc(r.machine)}</p>
<h2>Summary</h2>
<table><tr><th>task</th><th>planner</th><th>model</th><th>success</th><th>plans/s</th><th>p50 tick ms</th><th>p99 tick ms</th><th>iterations</th><th>shield interventions / ticks</th><th>shield reasons</th></tr>
${rows}</table>
<h2>Plots</h2><div class="plots">${success}${energy}${hist}</div>
<h2>Episodes</h2>${episodes}
${r.notes.length ? `<h2>Notes</h2><ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}

/** Writes the report atomically (temporary file, then rename). */
export function writeReport(path: string, html: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.partial`;
  writeFileSync(tmp, html);
  renameSync(tmp, path);
}
