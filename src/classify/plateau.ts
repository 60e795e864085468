/**
 * Stable choice of a grid point. On bottleneck features the C x gamma optimum is usually a flat
 * ridge: one pass of folds ranks its points by noise, so the argmax lands anywhere along it and
 * moves with the fold seed. The centre of the plateau does not: every point is scored by the mean
 * accuracy of its 3x3 neighbourhood in (log2 C, log2 gamma) (edges: the neighbours that exist), and
 * the point with the best smoothed score wins (ties: the better raw score, then smaller C, then
 * smaller gamma, libsvm's habit). How flat the optimum was is reported with the choice.
 */
import type { GridPoint, GridSearchResult } from './search.js';

export interface PlateauChoice {
  /** The chosen grid point (its own, unsmoothed scores). */
  point: GridPoint;
  /** Mean accuracy of its neighbourhood. */
  smoothedAccuracy: number;
  /** The raw argmax, for comparison. */
  argmax: GridPoint;
  /** Grid points whose mean accuracy is within `flatWithin` of the best one. */
  flatPoints: number;
  flatWithin: number;
  totalPoints: number;
}

/** Sorted distinct values. */
function axis(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/**
 * The plateau centre of a grid search's table. `flatWithin` (accuracy, default 0.005 = half a point)
 * defines "flat" for the report only.
 */
export function plateauCentre(grid: Pick<GridSearchResult, 'table' | 'best'>, flatWithin = 0.005): PlateauChoice {
  const table = grid.table;
  const cs = axis(table.map((p) => p.log2C));
  const gs = axis(table.map((p) => p.log2Gamma ?? 0));
  const at = new Map<string, GridPoint>(table.map((p) => [`${cs.indexOf(p.log2C)},${gs.indexOf(p.log2Gamma ?? 0)}`, p]));
  let best: { p: GridPoint; s: number } | undefined;
  for (const p of table) {
    const ci = cs.indexOf(p.log2C);
    const gi = gs.indexOf(p.log2Gamma ?? 0);
    let sum = 0;
    let n = 0;
    for (let dc = -1; dc <= 1; dc++) {
      for (let dg = -1; dg <= 1; dg++) {
        const q = at.get(`${ci + dc},${gi + dg}`);
        if (q) {
          sum += q.meanAccuracy;
          n++;
        }
      }
    }
    const s = sum / n;
    const better =
      !best ||
      s > best.s + 1e-12 ||
      (Math.abs(s - best.s) <= 1e-12 &&
        (p.meanAccuracy > best.p.meanAccuracy + 1e-12 ||
          (Math.abs(p.meanAccuracy - best.p.meanAccuracy) <= 1e-12 && (p.C < best.p.C || (p.C === best.p.C && (p.gamma ?? 0) < (best.p.gamma ?? 0))))));
    if (better) best = { p, s };
  }
  const top = grid.best.meanAccuracy;
  return {
    point: best!.p,
    smoothedAccuracy: best!.s,
    argmax: grid.best,
    flatPoints: table.filter((p) => p.meanAccuracy >= top - flatWithin).length,
    flatWithin,
    totalPoints: table.length,
  };
}
