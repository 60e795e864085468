/**
 * Learning curves of `ftk auto` on a fair footing (issue 14): both paths train on the SAME
 * stratified subsets of the SAME outer training folds, so the two curves differ only by the path,
 * and a crossover is read only where both were measured.
 *
 * - `curveSubsets`: for every training fraction and every outer fold, the rows to train on. One
 *   call serves both paths. Subsets are nested: a class's rows are shuffled once per fold and each
 *   fraction takes a prefix, so a larger fraction adds images and never swaps them (less noise
 *   between the points of one curve).
 * - `crossoverInRange`: where two curves change order between two measured sizes, by linear
 *   interpolation of the accuracy difference; never beyond the measured sizes (an extrapolated
 *   crossover rests on the shape of two points and was too often read as a promise).
 */
import { OptionsError } from '../errors.js';
import { Rng } from '../data/random.js';
import { FRACTION_EPS } from '../report/crossover.js';
import type { Crossover, LearningCurve, LearningCurvePoint } from '../formats/run_report.js';

/** Fewer sizes than this do not show the shape of a curve. */
export const MIN_CURVE_SIZES = 3;

/** Each class keeps at least this many rows in a subset (a class with one row cannot be split again inside the fold). */
export const MIN_PER_CLASS = 2;

/** The crossover of two curves, read between measured points only, lives with the report (src/report/crossover.ts). */
export { NO_CROSSOVER, crossoverInRange } from '../report/crossover.js';

/**
 * A stratified subsample of `rows`: `fraction` of each class (rounded, at least 2 per class),
 * seeded. `fraction >= 1` returns all rows. Rows come back sorted. With the same `rows` and seed,
 * a smaller fraction gives a subset of a larger one's rows.
 */
export function stratifiedSubsample(rows: ArrayLike<number>, labels: readonly number[], fraction: number, seed: number): Int32Array {
  if (fraction >= 1) return Int32Array.from(rows);
  const byClass = new Map<number, number[]>();
  for (const r of Array.from(rows)) {
    const list = byClass.get(labels[r]) ?? [];
    list.push(r);
    byClass.set(labels[r], list);
  }
  const rng = new Rng(seed);
  const out: number[] = [];
  for (const list of byClass.values()) {
    rng.shuffle(list);
    out.push(...list.slice(0, Math.max(MIN_PER_CLASS, Math.round(list.length * fraction))));
  }
  return Int32Array.from(out.sort((a, b) => a - b));
}

export interface CurveSubset {
  /** Fraction of each training fold, in (0, 1]. */
  fraction: number;
  /** Training rows of outer fold f at this fraction (sorted), f = 0..k-1. Shared by every path. */
  rows: Int32Array[];
  /** rows[f].length for each fold. */
  trainSizes: number[];
}

/** Distinct fractions in (0, 1], ascending; an OptionsError says what was wrong. */
export function checkCurveFractions(fractions: readonly number[]): number[] {
  const bad = fractions.filter((x) => !(typeof x === 'number' && x > 0 && x <= 1));
  if (bad.length) {
    throw new OptionsError(`Learning-curve fractions must be numbers in (0, 1]. Received ${bad.map(String).join(', ')}.`, {
      code: 'CURVE_FRACTIONS',
      suggestion: 'Pass fractions of the training fold such as 0.1,0.25,0.5,1.',
    });
  }
  const sorted = [...fractions].sort((a, b) => a - b).filter((x, i, a) => i === 0 || x - a[i - 1] > FRACTION_EPS);
  if (sorted.length < MIN_CURVE_SIZES) {
    throw new OptionsError(
      `A learning curve needs at least ${MIN_CURVE_SIZES} training sizes to show its shape. Received ${sorted.length} distinct fraction(s): [${fractions.join(', ')}].`,
      { code: 'CURVE_TOO_FEW_SIZES', suggestion: 'Pass 3 or more fractions, e.g. 0.25,0.5,1 (the default is 0.1,0.25,0.5,1).' },
    );
  }
  return sorted;
}

/**
 * The training rows of every learning-curve point: for each fraction (ascending) and each outer
 * fold f, a stratified subset of fold f's training rows (`folds[i] !== f`), seeded with
 * `seed + f`. Both paths train on exactly these rows, so their curves share folds and sizes.
 *
 * `folds[i]` is the outer fold (0..k-1) in which row i is held out; `labels[i]` its class.
 * Throws OptionsError for fewer than 3 distinct fractions, fractions outside (0, 1], or folds
 * and labels that do not match.
 */
export function curveSubsets(folds: Int32Array, labels: readonly number[], fractions: readonly number[], seed: number, k: number): CurveSubset[] {
  const sorted = checkCurveFractions(fractions);
  if (folds.length !== labels.length) {
    throw new OptionsError(`folds has ${folds.length} entries, but labels has ${labels.length}: one fold index per row is needed.`, { code: 'CURVE_FOLDS' });
  }
  if (!Number.isInteger(k) || k < 2) throw new OptionsError(`k must be an integer >= 2. Received k=${k}.`, { code: 'CURVE_FOLDS' });
  const outside = folds.findIndex((f) => f < 0 || f >= k);
  if (outside >= 0) throw new OptionsError(`Row ${outside} is in fold ${folds[outside]}, outside [0, ${k - 1}].`, { code: 'CURVE_FOLDS' });
  const train = Array.from({ length: k }, (_, f) => Int32Array.from(Array.from(folds.keys()).filter((i) => folds[i] !== f)));
  return sorted.map((fraction) => {
    const rows = train.map((t, f) => stratifiedSubsample(t, labels, fraction, seed + f));
    return { fraction, rows, trainSizes: rows.map((r) => r.length) };
  });
}
