/**
 * Where two learning curves change order, read only between measured points (used by `ftk auto`'s
 * curves, src/auto/curves.ts, and by the report).
 */
import type { Crossover, LearningCurve, LearningCurvePoint } from '../formats/run_report.js';
import { PATH_SHORT } from './format.js';

/** The note of a pair of curves that do not cross where they were measured. */
export const NO_CROSSOVER = 'no crossover in the measured range';

/** Two fractions closer than this are the same training size. */
export const FRACTION_EPS = 1e-9;

interface Paired {
  fraction: number;
  size: number;
  /** accuracy(b) - accuracy(a). */
  d: number;
}

/** Shared points of two curves, matched by fraction, ascending. */
function pairByFraction(a: LearningCurve, b: LearningCurve): Paired[] {
  const out: Paired[] = [];
  for (const p of a.points) {
    const q: LearningCurvePoint | undefined = b.points.find((x) => Math.abs(x.fraction - p.fraction) <= FRACTION_EPS);
    // The sizes agree when both came from curveSubsets; an older record may differ slightly.
    if (q) out.push({ fraction: p.fraction, size: (p.trainSize + q.trainSize) / 2, d: q.meanAccuracy - p.meanAccuracy });
  }
  return out.sort((x, y) => x.fraction - y.fraction);
}

/**
 * Where two learning curves change order, read only between measured points. Points are matched
 * by fraction (not by exact training size). A crossover is placed only where the difference
 * b - a changes sign between two measured points: the training size there is interpolated
 * linearly between the two sizes; a difference of exactly 0 at a measured point, with opposite
 * signs on either side, places it at that point. Otherwise `trainSize` is null and `note` starts
 * with 'no crossover in the measured range': nothing is extrapolated.
 *
 * `from` is the curve ahead below the crossover, `to` the one ahead above it. When the order
 * changes more than once, the last change is given (above it the order holds up to the largest
 * measured size) and the note says how many there were.
 */
export function crossoverInRange(a: LearningCurve, b: LearningCurve): Crossover {
  const pts = pairByFraction(a, b);
  const range = pts.length ? `${Math.round(pts[0].size)} to ${Math.round(pts[pts.length - 1].size)} training images` : '';
  if (pts.length < 2) {
    return { from: a.path, to: b.path, trainSize: null, extrapolated: false, note: `${NO_CROSSOVER}: the curves share ${pts.length} training fraction(s), 2 are needed` };
  }
  // Sign changes between consecutive non-zero differences; zeros in between are touch points.
  const changes: { lo: Paired; hi: Paired; zero?: Paired }[] = [];
  let last: Paired | undefined;
  let zero: Paired | undefined;
  for (const p of pts) {
    if (p.d === 0) {
      zero ??= p;
      continue;
    }
    if (last && Math.sign(last.d) !== Math.sign(p.d)) changes.push({ lo: last, hi: p, zero });
    last = p;
    zero = undefined;
  }
  if (!changes.length) {
    const ahead = pts.every((p) => p.d === 0) ? 'the curves are level at every measured size' : `${PATH_SHORT[pts.some((p) => p.d > 0) ? b.path : a.path]} is ahead or level at every measured size`;
    return { from: a.path, to: b.path, trainSize: null, extrapolated: false, note: `${NO_CROSSOVER}, ${range}: ${ahead}` };
  }
  const { lo, hi, zero: at } = changes[changes.length - 1];
  const [from, to] = lo.d < 0 ? [a.path, b.path] : [b.path, a.path];
  const size = at ? at.size : lo.size + (-lo.d / (hi.d - lo.d)) * (hi.size - lo.size);
  const where = at
    ? `level at ${Math.round(at.size)} training images, fraction ${at.fraction}`
    : `interpolated between ${Math.round(lo.size)} and ${Math.round(hi.size)} training images, fractions ${lo.fraction} and ${hi.fraction}`;
  const more = changes.length > 1 ? `; the order changes ${changes.length} times in the measured range, this is the last change` : '';
  return { from, to, trainSize: Math.round(size), extrapolated: false, note: `${where}${more}` };
}
