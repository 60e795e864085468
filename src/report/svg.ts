/**
 * Hand-written SVG plots for the report: no chart library, no scripts, no external resources.
 * Each builder returns one `<svg>` element string that is self-contained (fonts from the page's
 * CSS, falling back to the system sans-serif) and accessible: `role="img"`, a `<title>` and a
 * `<desc>` (the text alternative, with the plotted numbers) referenced by `aria-labelledby`, and
 * the title drawn visibly at the top. Every text is escaped.
 *
 * Builders: `intervalPlot` (points with 95% intervals, one row each), `barPlot` (horizontal bars),
 * `linePlot` (series over x, optional interval bands, vertical markers, linear or log x) and
 * `heatMap` (a matrix of coloured cells with values, a colour legend and highlighted cells).
 */
import { escapeHtml, truncate } from './format.js';

export interface PlotBase {
  /** Unique within the page: used for aria ids and gradient ids. Letters, digits, '-'. */
  id: string;
  /** Drawn at the top and read by screen readers. */
  title: string;
  /** Text alternative: what the plot shows, with its main numbers. */
  description: string;
}

/**
 * Formats a value; `step` is given when the value is an axis tick (the tick spacing), so the label
 * can show as many decimals as the spacing needs (ticks 0.5% apart must not all read "88%").
 */
export type ValueFormat = (v: number, step?: number) => string;

const FONT = 12;
/** Average advance of a 12 px sans-serif character, for layout estimates. */
const CHAR_W = 6.8;

/** Coordinates rounded to 0.1 px (shorter files, stable output). */
function r1(x: number): string {
  const v = Math.round(x * 10) / 10;
  return String(Object.is(v, -0) ? 0 : v);
}

function attrs(a: Record<string, string | number | undefined>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? r1(v) : escapeHtml(v)}"`)
    .join('');
}

function text(x: number, y: number, s: string, a: Record<string, string | number | undefined> = {}): string {
  return `<text${attrs({ x, y, ...a })}>${escapeHtml(s)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, a: Record<string, string | number | undefined> = {}): string {
  return `<line${attrs({ x1, y1, x2, y2, ...a })}/>`;
}

function textWidth(s: string, size = FONT): number {
  return Array.from(s).length * CHAR_W * (size / FONT);
}

function open(p: PlotBase, width: number, height: number): string {
  const t = `${p.id}-title`;
  const d = `${p.id}-desc`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="plot-svg" data-plot="${escapeHtml(p.id)}" role="img"` +
    ` aria-labelledby="${escapeHtml(t)} ${escapeHtml(d)}" width="${r1(width)}" height="${r1(height)}" viewBox="0 0 ${r1(width)} ${r1(height)}"` +
    ` font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif" font-size="${FONT}">` +
    `<title id="${escapeHtml(t)}">${escapeHtml(p.title)}</title><desc id="${escapeHtml(d)}">${escapeHtml(p.description)}</desc>` +
    `<rect width="${r1(width)}" height="${r1(height)}" fill="#fff"/>` +
    text(width / 2, 20, p.title, { 'text-anchor': 'middle', 'font-size': 14, 'font-weight': 'bold', fill: '#111' })
  );
}

/** "Nice" ticks (1, 2, 5 x 10^k steps) covering [lo, hi]; returns the ticks and the widened domain. */
export function niceTicks(lo: number, hi: number, count = 5): { ticks: number[]; domain: [number, number]; step: number } {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { ticks: [0, 1], domain: [0, 1], step: 1 };
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi - lo < 1e-12) {
    const pad = Math.abs(lo) > 1e-12 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const e = raw / mag;
  // Thresholds at the geometric means of 1, 2, 5, 10 (as d3's tickStep).
  const step = (e >= Math.SQRT2 * 5 ? 10 : e >= Math.sqrt(10) ? 5 : e >= Math.SQRT2 ? 2 : 1) * mag;
  const i0 = Math.floor(lo / step + 1e-9);
  const i1 = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let i = i0; i <= i1; i++) ticks.push(Number((i * step).toPrecision(12)));
  return { ticks, domain: [ticks[0], ticks[ticks.length - 1]], step };
}

/** Ticks at 1, 2, 5 x 10^k inside [lo, hi] (only powers of ten when there would be too many). */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const all: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) {
        all.push(v);
        if (m === 1) out.push(v);
      }
    }
  }
  if (all.length <= 8) return all;
  return out.length >= 2 ? out : all.filter((_, i) => i % Math.ceil(all.length / 6) === 0);
}

function scale(domain: [number, number], range: [number, number], log = false): (x: number) => number {
  const [d0, d1] = log ? [Math.log(domain[0]), Math.log(domain[1])] : domain;
  const span = d1 - d0 || 1;
  return (x: number) => range[0] + (((log ? Math.log(x) : x) - d0) / span) * (range[1] - range[0]);
}

function noData(p: PlotBase, message: string): string {
  const w = 480;
  const h = 90;
  return `${open(p, w, h)}${text(w / 2, 56, message, { 'text-anchor': 'middle', fill: '#666' })}</svg>`;
}

/** A horizontal axis with ticks, labels and vertical grid lines. */
function xAxis(x: (v: number) => number, ticks: number[], step: number, top: number, bottom: number, label: string, fmt: ValueFormat, labelX: number): string {
  let s = '';
  for (const t of ticks) {
    const px = x(t);
    s += line(px, top, px, bottom, { stroke: '#e3e3e3' });
    s += line(px, bottom, px, bottom + 5, { stroke: '#555' });
    s += text(px, bottom + 18, fmt(t, step), { 'text-anchor': 'middle', fill: '#333' });
  }
  s += line(x(ticks[0]), bottom, x(ticks[ticks.length - 1]), bottom, { stroke: '#555' });
  s += text(labelX, bottom + 38, label, { 'text-anchor': 'middle', fill: '#111' });
  return s;
}

export interface IntervalRow {
  label: string;
  value: number;
  /** 95% interval; drawn as a bar with caps when given. */
  lo?: number;
  hi?: number;
  color?: string;
  /** Text right of the row (default: the formatted value and interval). */
  valueText?: string;
}

export interface IntervalPlotOptions extends PlotBase {
  rows: IntervalRow[];
  xLabel: string;
  /** Format of tick labels and default value texts. */
  format: ValueFormat;
  /** Fixed x domain (default: from the rows, widened to nice ticks). */
  domain?: [number, number];
  /** Clip the automatic domain to these bounds (e.g. [0, 1] for accuracies). */
  clip?: [number, number];
  /** A vertical reference line, e.g. 0 for differences. */
  reference?: { value: number; label: string };
}

/** Points with 95% intervals, one row per item (a forest plot). */
export function intervalPlot(o: IntervalPlotOptions): string {
  const rows = o.rows.filter((r) => Number.isFinite(r.value));
  if (rows.length === 0) return noData(o, 'No data to plot.');
  const labels = rows.map((r) => truncate(r.label, 30));
  const left = Math.min(230, Math.max(70, Math.max(...labels.map((l) => textWidth(l))) + 18));
  const valueTexts = rows.map((r) => r.valueText ?? (r.lo !== undefined && r.hi !== undefined ? `${o.format(r.value)} [${o.format(r.lo)}, ${o.format(r.hi)}]` : o.format(r.value)));
  const right = Math.max(90, Math.max(...valueTexts.map((t) => textWidth(t))) + 20);
  const width = Math.max(500, left + 270 + right);
  const rowH = 30;
  const top = 38;
  const plotBottom = top + rows.length * rowH + 6;
  const height = plotBottom + 50;
  let lo = Math.min(...rows.map((r) => r.lo ?? r.value));
  let hi = Math.max(...rows.map((r) => r.hi ?? r.value));
  if (o.reference) {
    lo = Math.min(lo, o.reference.value);
    hi = Math.max(hi, o.reference.value);
  }
  const pad = (hi - lo) * 0.08 || 0.02;
  lo -= pad;
  hi += pad;
  if (o.clip) {
    lo = Math.max(o.clip[0], lo);
    hi = Math.min(o.clip[1], hi);
  }
  const nice = niceTicks(o.domain ? o.domain[0] : lo, o.domain ? o.domain[1] : hi, 5);
  const domain: [number, number] = o.domain ?? [o.clip ? Math.max(o.clip[0], nice.domain[0]) : nice.domain[0], o.clip ? Math.min(o.clip[1], nice.domain[1]) : nice.domain[1]];
  const ticks = nice.ticks.filter((t) => t >= domain[0] - 1e-9 && t <= domain[1] + 1e-9);
  const x = scale(domain, [left, width - right]);
  let s = open(o, width, height);
  s += xAxis(x, ticks, nice.step, top, plotBottom, o.xLabel, o.format, (left + width - right) / 2);
  if (o.reference) {
    const px = x(o.reference.value);
    s += line(px, top - 4, px, plotBottom, { stroke: '#222', 'stroke-dasharray': '4 3' });
    s += text(px + 4, top + 2, o.reference.label, { fill: '#222', 'font-size': 11 });
  }
  rows.forEach((r, i) => {
    const cy = top + i * rowH + rowH / 2 + 3;
    const color = r.color ?? '#333';
    s += `<g><title>${escapeHtml(`${r.label}: ${valueTexts[i]}`)}</title>`;
    s += text(left - 10, cy + 4, labels[i], { 'text-anchor': 'end', fill: '#111' });
    if (r.lo !== undefined && r.hi !== undefined && Number.isFinite(r.lo) && Number.isFinite(r.hi)) {
      const [a, b] = [x(Math.max(domain[0], r.lo)), x(Math.min(domain[1], r.hi))];
      s += line(a, cy, b, cy, { stroke: color, 'stroke-width': 2.5 });
      s += line(a, cy - 6, a, cy + 6, { stroke: color, 'stroke-width': 2 });
      s += line(b, cy - 6, b, cy + 6, { stroke: color, 'stroke-width': 2 });
    }
    s += `<circle cx="${r1(x(r.value))}" cy="${r1(cy)}" r="5" fill="${escapeHtml(color)}" stroke="#fff" stroke-width="1.5"/>`;
    s += text(width - right + 10, cy + 4, valueTexts[i], { fill: '#111' });
    s += '</g>';
  });
  return `${s}</svg>`;
}

export interface BarRow {
  label: string;
  value: number;
  color?: string;
}

export interface BarPlotOptions extends PlotBase {
  rows: BarRow[];
  xLabel: string;
  format: ValueFormat;
}

/** Horizontal bars from zero, one row per item, the value written after the bar. */
export function barPlot(o: BarPlotOptions): string {
  const rows = o.rows.filter((r) => Number.isFinite(r.value));
  if (rows.length === 0) return noData(o, 'No data to plot.');
  const labels = rows.map((r) => truncate(r.label, 30));
  const left = Math.min(230, Math.max(70, Math.max(...labels.map((l) => textWidth(l))) + 18));
  const right = 70;
  const width = Math.max(520, left + 320 + right);
  const rowH = rows.length > 24 ? 16 : 26;
  const top = 38;
  const plotBottom = top + rows.length * rowH + 6;
  const height = plotBottom + 50;
  const max = Math.max(0, ...rows.map((r) => r.value));
  const nice = niceTicks(0, max > 0 ? max : 1, 5);
  const x = scale(nice.domain, [left, width - right]);
  let s = open(o, width, height);
  s += xAxis(x, nice.ticks, nice.step, top, plotBottom, o.xLabel, o.format, (left + width - right) / 2);
  rows.forEach((r, i) => {
    const y = top + i * rowH + 3;
    const h = rowH - 6;
    s += `<g><title>${escapeHtml(`${r.label}: ${o.format(r.value)}`)}</title>`;
    s += text(left - 10, y + h / 2 + 4, labels[i], { 'text-anchor': 'end', fill: '#111', 'font-size': rowH < 20 ? 10 : FONT });
    s += `<rect x="${r1(x(0))}" y="${r1(y)}" width="${r1(Math.max(0, x(r.value) - x(0)))}" height="${r1(h)}" fill="${escapeHtml(r.color ?? '#4a7fb5')}"/>`;
    s += text(x(r.value) + 5, y + h / 2 + 4, o.format(r.value), { fill: '#111', 'font-size': rowH < 20 ? 10 : FONT });
    s += '</g>';
  });
  return `${s}</svg>`;
}

export interface LinePoint {
  x: number;
  y: number;
  lo?: number;
  hi?: number;
  /** Tooltip for the point (default: x and y formatted). */
  label?: string;
}

export interface LineSeries {
  name: string;
  color: string;
  points: LinePoint[];
}

export interface LinePlotOptions extends PlotBase {
  series: LineSeries[];
  xLabel: string;
  yLabel: string;
  xScale?: 'linear' | 'log';
  xFormat: ValueFormat;
  yFormat: ValueFormat;
  /** Explicit x ticks (e.g. fold numbers); default: nice ticks of the data. */
  xTicks?: number[];
  /** Clip the automatic y domain to these bounds (e.g. [0, 1]). */
  yClip?: [number, number];
  /** Vertical markers, e.g. the crossover. */
  markers?: { x: number; label: string; color?: string }[];
  width?: number;
  height?: number;
}

/** Lines over x with optional interval bands, a legend and vertical markers. */
export function linePlot(o: LinePlotOptions): string {
  const series = o.series.map((s) => ({ ...s, points: s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (o.xScale !== 'log' || p.x > 0)).sort((a, b) => a.x - b.x) })).filter((s) => s.points.length > 0);
  if (series.length === 0) return noData(o, 'No data to plot.');
  const log = o.xScale === 'log';
  const width = o.width ?? 660;
  const height = o.height ?? 360;
  const left = 66;
  const right = 24;
  const top = 58;
  const bottom = height - 54;
  const markers = (o.markers ?? []).filter((m) => Number.isFinite(m.x) && (!log || m.x > 0));
  const xs = [...series.flatMap((s) => s.points.map((p) => p.x)), ...markers.map((m) => m.x), ...(o.xTicks ?? [])];
  let xlo = Math.min(...xs);
  let xhi = Math.max(...xs);
  let xTicks: number[];
  let xStep: number | undefined;
  let xDomain: [number, number];
  if (log) {
    if (xhi / xlo < 1.5) {
      xlo /= 1.5;
      xhi *= 1.5;
    }
    xDomain = [xlo / 1.12, xhi * 1.12];
    xTicks = o.xTicks ?? logTicks(xDomain[0], xDomain[1]);
  } else if (o.xTicks) {
    const pad = (xhi - xlo) * 0.06 || 0.5;
    xDomain = [xlo - pad, xhi + pad];
    xTicks = o.xTicks;
  } else {
    const n = niceTicks(xlo, xhi, 6);
    xDomain = n.domain;
    xTicks = n.ticks;
    xStep = n.step;
  }
  const ys = series.flatMap((s) => s.points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y])).filter(Number.isFinite);
  let ylo = Math.min(...ys);
  let yhi = Math.max(...ys);
  const ypad = (yhi - ylo) * 0.08 || 0.02;
  ylo -= ypad;
  yhi += ypad;
  if (o.yClip) {
    ylo = Math.max(o.yClip[0], ylo);
    yhi = Math.min(o.yClip[1], yhi);
  }
  const yn = niceTicks(ylo, yhi, 5);
  const yDomain: [number, number] = o.yClip ? [Math.max(o.yClip[0], yn.domain[0]), Math.min(o.yClip[1], yn.domain[1])] : yn.domain;
  const yTicks = yn.ticks.filter((t) => t >= yDomain[0] - 1e-9 && t <= yDomain[1] + 1e-9);
  const x = scale(xDomain, [left, width - right], log);
  const y = scale(yDomain, [bottom, top]);
  let s = open(o, width, height);
  // Legend under the title.
  let lx = left;
  for (const ser of series) {
    s += line(lx, 38, lx + 22, 38, { stroke: ser.color, 'stroke-width': 2.5 });
    s += `<circle cx="${r1(lx + 11)}" cy="38" r="3.5" fill="${escapeHtml(ser.color)}"/>`;
    s += text(lx + 28, 42, ser.name, { fill: '#111' });
    lx += 28 + textWidth(ser.name) + 22;
  }
  for (const t of yTicks) {
    s += line(left, y(t), width - right, y(t), { stroke: '#e3e3e3' });
    s += text(left - 8, y(t) + 4, o.yFormat(t, yn.step), { 'text-anchor': 'end', fill: '#333' });
  }
  for (const t of xTicks) {
    if (t < xDomain[0] || t > xDomain[1]) continue;
    s += line(x(t), top, x(t), bottom, { stroke: '#f0f0f0' });
    s += line(x(t), bottom, x(t), bottom + 5, { stroke: '#555' });
    s += text(x(t), bottom + 18, o.xFormat(t, xStep), { 'text-anchor': 'middle', fill: '#333' });
  }
  s += line(left, bottom, width - right, bottom, { stroke: '#555' });
  s += line(left, top, left, bottom, { stroke: '#555' });
  s += text((left + width - right) / 2, bottom + 40, o.xLabel, { 'text-anchor': 'middle', fill: '#111' });
  s += text(16, (top + bottom) / 2, o.yLabel, { 'text-anchor': 'middle', fill: '#111', transform: `rotate(-90 16 ${r1((top + bottom) / 2)})` });
  const cy = (v: number) => y(Math.min(yDomain[1], Math.max(yDomain[0], v)));
  for (const ser of series) {
    const banded = ser.points.filter((p) => p.lo !== undefined && p.hi !== undefined && Number.isFinite(p.lo) && Number.isFinite(p.hi));
    if (banded.length >= 2) {
      const pts = [...banded.map((p) => `${r1(x(p.x))},${r1(cy(p.hi!))}`), ...banded.reverse().map((p) => `${r1(x(p.x))},${r1(cy(p.lo!))}`)];
      s += `<polygon points="${pts.join(' ')}" fill="${escapeHtml(ser.color)}" fill-opacity="0.14" stroke="none"/>`;
    } else if (banded.length === 1) {
      const p = banded[0];
      s += line(x(p.x), cy(p.lo!), x(p.x), cy(p.hi!), { stroke: ser.color, 'stroke-width': 1.5, 'stroke-opacity': 0.6 });
    }
    if (ser.points.length >= 2) {
      s += `<polyline points="${ser.points.map((p) => `${r1(x(p.x))},${r1(cy(p.y))}`).join(' ')}" fill="none" stroke="${escapeHtml(ser.color)}" stroke-width="2.2"/>`;
    }
    for (const p of ser.points) {
      const tip = p.label ?? `${ser.name}: ${o.xFormat(p.x)} -> ${o.yFormat(p.y)}`;
      s += `<circle cx="${r1(x(p.x))}" cy="${r1(cy(p.y))}" r="4" fill="${escapeHtml(ser.color)}" stroke="#fff" stroke-width="1.2"><title>${escapeHtml(tip)}</title></circle>`;
    }
  }
  for (const m of markers) {
    const px = x(m.x);
    const color = m.color ?? '#222';
    s += line(px, top, px, bottom, { stroke: color, 'stroke-width': 1.5, 'stroke-dasharray': '5 4' });
    const anchorEnd = px > (left + width - right) / 2;
    s += text(anchorEnd ? px - 5 : px + 5, top + 14, m.label, { 'text-anchor': anchorEnd ? 'end' : 'start', fill: color, 'font-weight': 'bold' });
  }
  return `${s}</svg>`;
}

/** Sequential blue colour map (light to dark), t in [0, 1]. */
export function heatColor(t: number): string {
  const stops: [number, number, number][] = [
    [247, 251, 255],
    [198, 219, 239],
    [107, 174, 214],
    [33, 113, 181],
    [8, 48, 107],
  ];
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  const c = stops[i].map((v, j) => Math.round(v + (stops[i + 1][j] - v) * f));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

export interface HeatMapOptions extends PlotBase {
  rowLabels: string[];
  colLabels: string[];
  /** Axis titles, e.g. 'true class' / 'predicted class'. */
  rowTitle: string;
  colTitle: string;
  /** Colour values (null: no value, drawn grey). */
  values: (number | null)[][];
  /** Text in each cell (default: none); drawn when cells are large enough. */
  texts?: string[][];
  /** Colour scale bounds (default: min and max of `values`). */
  colorDomain?: [number, number];
  /** Legend label format. */
  legendFormat: (v: number) => string;
  legendTitle: string;
  /** Cells outlined in black, e.g. the best grid point. */
  highlight?: [number, number][];
}

/** A matrix of coloured cells with a colour legend. */
export function heatMap(o: HeatMapOptions): string {
  const nr = o.rowLabels.length;
  const nc = o.colLabels.length;
  if (nr === 0 || nc === 0) return noData(o, 'No data to plot.');
  const finite = o.values.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  const [vlo, vhi] = o.colorDomain ?? [finite.length ? Math.min(...finite) : 0, finite.length ? Math.max(...finite) : 1];
  const cell = Math.max(14, Math.min(60, Math.floor(460 / Math.max(nr, nc))));
  const rowLabels = o.rowLabels.map((l) => truncate(l, 18));
  const colLabels = o.colLabels.map((l) => truncate(l, 18));
  const rotate = colLabels.some((l) => textWidth(l) > cell - 4);
  const left = 28 + Math.max(...rowLabels.map((l) => textWidth(l))) + 10;
  const top = 38;
  const gridW = nc * cell;
  const gridH = nr * cell;
  const colLabelH = rotate ? Math.max(...colLabels.map((l) => textWidth(l))) * 0.72 + 14 : 20;
  const legendW = 110;
  const width = Math.max(left + gridW + legendW, textWidth(o.title, 14) + 40);
  const height = top + gridH + colLabelH + 34;
  const span = vhi - vlo || 1;
  const showText = o.texts !== undefined && cell >= 26;
  let s = open(o, width, height);
  const grad = `${o.id}-grad`;
  s += `<defs><linearGradient id="${escapeHtml(grad)}" x1="0" y1="1" x2="0" y2="0">`;
  for (let i = 0; i <= 4; i++) s += `<stop offset="${i / 4}" stop-color="${heatColor(i / 4)}"/>`;
  s += '</linearGradient></defs>';
  for (let r = 0; r < nr; r++) {
    for (let c = 0; c < nc; c++) {
      const v = o.values[r]?.[c] ?? null;
      const has = v !== null && Number.isFinite(v);
      const t = has ? (v - vlo) / span : 0;
      const x = left + c * cell;
      const y = top + r * cell;
      const txt = o.texts?.[r]?.[c] ?? (has ? o.legendFormat(v) : 'none');
      s += `<g><title>${escapeHtml(`${o.rowTitle} ${o.rowLabels[r]}, ${o.colTitle} ${o.colLabels[c]}: ${txt}`)}</title>`;
      s += `<rect x="${r1(x)}" y="${r1(y)}" width="${cell}" height="${cell}" fill="${has ? heatColor(t) : '#d9d9d9'}" stroke="#fff" stroke-width="1"/>`;
      if (showText) {
        const lines = txt.split('\n');
        lines.forEach((ln, i) => {
          const ty = y + cell / 2 + 4 + (i - (lines.length - 1) / 2) * 13;
          s += text(x + cell / 2, ty, ln, { 'text-anchor': 'middle', fill: has && t > 0.55 ? '#fff' : '#111', 'font-size': i === 0 ? (cell >= 40 ? 12 : 10) : 9 });
        });
      }
      s += '</g>';
    }
  }
  for (const [r, c] of o.highlight ?? []) {
    if (r < nr && c < nc) s += `<rect x="${r1(left + c * cell + 1.5)}" y="${r1(top + r * cell + 1.5)}" width="${cell - 3}" height="${cell - 3}" fill="none" stroke="#111" stroke-width="3"/>`;
  }
  rowLabels.forEach((l, r) => {
    s += text(left - 6, top + r * cell + cell / 2 + 4, l, { 'text-anchor': 'end', fill: '#111', 'font-size': cell < 20 ? 10 : FONT });
  });
  colLabels.forEach((l, c) => {
    const cx = left + c * cell + cell / 2;
    const cy = top + gridH + 14;
    s += rotate
      ? text(cx, cy, l, { 'text-anchor': 'end', fill: '#111', transform: `rotate(-45 ${r1(cx)} ${r1(cy)})`, 'font-size': cell < 20 ? 10 : FONT })
      : text(cx, cy, l, { 'text-anchor': 'middle', fill: '#111' });
  });
  s += text(left + gridW / 2, top + gridH + colLabelH + 24, o.colTitle, { 'text-anchor': 'middle', fill: '#111', 'font-weight': 'bold' });
  const ry = top + gridH / 2;
  s += text(14, ry, o.rowTitle, { 'text-anchor': 'middle', fill: '#111', 'font-weight': 'bold', transform: `rotate(-90 14 ${r1(ry)})` });
  // Colour legend.
  const lx = left + gridW + 24;
  const lh = Math.max(60, Math.min(gridH, 200));
  s += text(lx, top - 4 + 2, o.legendTitle, { fill: '#333', 'font-size': 11 });
  s += `<rect x="${r1(lx)}" y="${r1(top + 8)}" width="14" height="${r1(lh)}" fill="url(#${escapeHtml(grad)})" stroke="#999" stroke-width="0.5"/>`;
  s += text(lx + 20, top + 16, o.legendFormat(vhi), { fill: '#333', 'font-size': 11 });
  s += text(lx + 20, top + 8 + lh, o.legendFormat(vlo), { fill: '#333', 'font-size': 11 });
  return `${s}</svg>`;
}
