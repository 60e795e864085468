/**
 * Text helpers shared by the HTML, SVG and Markdown builders: escaping (file and class names can
 * hold `<`, `&`, quotes, `|`) and number formatting (one style everywhere: accuracies as
 * percentages with one decimal, differences in percentage points, durations in ms / s / min).
 */
import type { Crossover, PathName } from '../formats/run_report.js';

/** Shown for a number that is missing or not finite. */
export const MISSING = 'n/a';

/** Escapes text for HTML/SVG element content and attribute values (double- or single-quoted). */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * Escapes text for inline use in Markdown (a table cell, a list item): the characters that start
 * emphasis, code, links or strike-through are backslash-escaped, `<` (which could open raw HTML)
 * and an `&` that would read as an entity become entities, `|` cannot end a cell and newlines
 * cannot end a row. Characters that only matter at the start of a line (`#`, `+`, `-`, `>`) are
 * left alone: the Markdown report never starts a line with record text.
 */
export function escapeMarkdown(value: unknown): string {
  return String(value)
    .replace(/&(?=#?[A-Za-z0-9]+;)/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/([\\`*_[\]|~])/g, '\\$1')
    .replace(/\r?\n/g, ' ');
}

function finite(x: number | null | undefined): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** 0.9349 -> '93.5%'. */
export function pct(x: number | null | undefined, digits = 1): string {
  return finite(x) ? `${(100 * x).toFixed(digits)}%` : MISSING;
}

/** Decimals needed to tell ticks `step` apart: 0.5 -> 1, 0.02 -> 2, 5 -> 0. */
export function decimalsFor(step: number): number {
  if (!finite(step) || step <= 0) return 0;
  return Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
}

/** An accuracy axis tick or value: ticks get the decimals their spacing needs, values one. */
export function pctAxis(x: number, step?: number): string {
  return pct(x, step === undefined ? 1 : decimalsFor(step * 100));
}

/** A plain-number axis tick or value (values with `digits` decimals). */
export function numAxis(x: number, step?: number, digits = 2): string {
  return finite(x) ? x.toFixed(step === undefined ? digits : decimalsFor(step)) : MISSING;
}

/** [0.91, 0.96] -> '91.0% - 96.0%'. */
export function interval(ci: readonly [number, number] | null | undefined, digits = 1): string {
  return ci && finite(ci[0]) && finite(ci[1]) ? `${pct(ci[0], digits)} - ${pct(ci[1], digits)}` : MISSING;
}

/** A difference of two accuracies in percentage points, signed: 0.023 -> '+2.3 pp'. */
export function pp(x: number | null | undefined, digits = 1): string {
  if (!finite(x)) return MISSING;
  const s = (100 * x).toFixed(digits);
  if (Number(s) === 0) return `${(0).toFixed(digits)} pp`;
  return `${x > 0 ? '+' : ''}${s} pp`;
}

/** [-0.01, 0.05] -> '-1.0 to +5.0 pp'. */
export function ppInterval(ci: readonly [number, number] | null | undefined, digits = 1): string {
  return ci && finite(ci[0]) && finite(ci[1]) ? `${pp(ci[0], digits).replace(/ pp$/, '')} to ${pp(ci[1], digits)}` : MISSING;
}

/** A plain number: integers with thousands separators, others with `digits` decimals. */
export function num(x: number | null | undefined, digits = 2): string {
  if (!finite(x)) return MISSING;
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A number to `sig` significant digits, without exponent for usual magnitudes: 0.000123 -> '0.000123'. */
export function sig(x: number | null | undefined, digits = 3): string {
  if (!finite(x)) return MISSING;
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-4 && a < 1e7) return String(Number(x.toPrecision(digits)));
  return x.toExponential(digits - 1);
}

/** 850 -> '850 ms', 12345 -> '12.3 s', 125000 -> '2 min 5 s', 4000000 -> '1 h 7 min'. */
export function duration(ms: number | null | undefined): string {
  if (!finite(ms) || ms < 0) return MISSING;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const total = Math.round(s);
  if (total < 3600) return `${Math.floor(total / 60)} min ${total % 60} s`;
  const min = Math.round(total / 60);
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** Images per second of a stage: '123 img/s'; n/a without images or time. */
export function rate(images: number | null | undefined, ms: number | null | undefined): string {
  if (!finite(images) || !finite(ms) || ms <= 0 || images <= 0) return MISSING;
  return `${sig((images * 1000) / ms, 3)} img/s`;
}

/** 'C = 2^3' style for grid exponents. */
export function pow2(e: number | null | undefined): string {
  return finite(e) ? `2^${e}` : MISSING;
}

/** How a path is named in the report. */
export const PATH_TITLES: Readonly<Record<PathName, string>> = Object.freeze({
  svm: 'SVM on bottleneck features',
  finetune: 'Fine-tuning',
  scratch: 'Small CNN from scratch',
  ensemble: 'Ensemble of SVM and fine-tuning',
});

/** Short names for legends and tables. */
export const PATH_SHORT: Readonly<Record<PathName, string>> = Object.freeze({
  svm: 'SVM',
  finetune: 'fine-tune',
  scratch: 'scratch',
  ensemble: 'ensemble',
});

/** Okabe-Ito colours (distinguishable with the common colour-vision deficiencies). */
export const PATH_COLORS: Readonly<Record<PathName, string>> = Object.freeze({
  svm: '#0072B2',
  finetune: '#D55E00',
  scratch: '#009E73',
  ensemble: '#CC79A7',
});

/** One sentence about a crossover of two learning curves (HTML and Markdown say the same). */
export function crossoverText(c: Crossover): string {
  if (c.trainSize === null) {
    // Notes written by crossoverInRange already say 'no crossover ...'.
    const note = c.note ?? '';
    return `${PATH_SHORT[c.from]} vs ${PATH_SHORT[c.to]}: ${/^no crossover/.test(note) ? note : `no crossover${note ? ` (${note})` : ''}`}`;
  }
  return `${PATH_SHORT[c.to]} overtakes ${PATH_SHORT[c.from]} at about ${num(c.trainSize)} training images${c.extrapolated ? ' (extrapolated)' : ''}${c.note ? ` (${c.note})` : ''}`;
}

/** Cuts text to `max` characters with an ellipsis (labels in plots; the full text goes in tables). */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, Math.max(1, max - 1)).join('')}\u2026`;
}

/** An id-safe slug: 'Fine tune / <x>' -> 'fine-tune-x'. */
export function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'x'
  );
}
