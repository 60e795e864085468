/**
 * Helpers that turn what the training code returns into parts of the run record
 * (src/formats/run_report.ts), so `ftk auto` fills `run.json` without re-deriving anything:
 *
 * - `pathResultFromCv`: an SVM `CrossValidationResult` (+ files, labels, folds) -> `PathResult`
 * - `pathResultFromPredictions`: any path's out-of-fold predictions -> `PathResult` (fine-tuning)
 * - `gridFromSearch`: a `GridSearchResult` -> `GridReport`
 * - `pairedComparison`: two `PathResult`s on the same folds -> `PairedComparison`
 * - `estimateCrossover`: the old name of `crossoverInRange` (src/report/crossover.ts)
 */
import { OptionsError } from '../errors.js';
import { crossoverInRange } from './crossover.js';
import type { CrossValidationResult, GridSearchResult } from '../classify/search.js';
import { confusionMatrix, mean, meanInterval95, perClass, std, t975 } from '../classify/metrics.js';
import type { Crossover, GridReport, LearningCurve, OofPrediction, PairedComparison, PathName, PathResult } from '../formats/run_report.js';

export interface PredictionsInfo {
  /** Image path of each sample (relative to the dataset root), sample order. */
  files: readonly string[];
  /** True class index of each sample. */
  labels: ArrayLike<number>;
  /** Fold (0-based) in which each sample was held out (first repeat). */
  folds: ArrayLike<number>;
  /** Out-of-fold class probabilities of each sample, when available. */
  probabilities?: readonly (readonly number[])[];
}

function checkLengths(n: number, info: PredictionsInfo, what: string): void {
  const bad = [
    ['files', info.files.length],
    ['labels', info.labels.length],
    ['folds', info.folds.length],
    ...(info.probabilities ? [['probabilities', info.probabilities.length] as const] : []),
  ].filter(([, len]) => len !== n);
  if (bad.length > 0) {
    throw new OptionsError(`${what}: ${bad.map(([k, len]) => `${k} has ${len} entries`).join(', ')}, but there are ${n} samples.`, {
      code: 'RUN_REPORT_LENGTHS',
      suggestion: 'Pass one file, label, fold (and probability row) per sample, in sample order.',
    });
  }
}

function oof(predicted: ArrayLike<number>, info: PredictionsInfo): OofPrediction[] {
  const out: OofPrediction[] = [];
  for (let i = 0; i < predicted.length; i++) {
    const p: OofPrediction = { file: info.files[i], label: info.labels[i], predicted: predicted[i], fold: info.folds[i] };
    if (info.probabilities) p.probabilities = Array.from(info.probabilities[i]);
    out.push(p);
  }
  return out;
}

/**
 * Macro-F1 over the classes present in the true or the predicted labels (scikit-learn's
 * `f1_score(average='macro')` without `labels`): a class absent from a fold does not count as 0.
 */
export function macroF1Present(confusion: number[][]): number {
  const k = confusion.length;
  const present: number[] = [];
  for (let c = 0; c < k; c++) {
    let n = 0;
    for (let j = 0; j < k; j++) n += confusion[c][j] + confusion[j][c];
    if (n > 0) present.push(c);
  }
  if (!present.length) return 0;
  const pc = perClass(confusion);
  return present.reduce((a, c) => a + pc[c].f1, 0) / present.length;
}

/** Per-fold macro-F1 from out-of-fold predictions (gives macro-F1 a 95% interval). */
export function foldMacroF1(predictions: readonly OofPrediction[], numClasses: number): number[] {
  const byFold = new Map<number, { t: number[]; p: number[] }>();
  for (const q of predictions) {
    let f = byFold.get(q.fold);
    if (!f) byFold.set(q.fold, (f = { t: [], p: [] }));
    f.t.push(q.label);
    f.p.push(q.predicted);
  }
  return [...byFold.keys()].sort((a, b) => a - b).map((f) => macroF1Present(confusionMatrix(byFold.get(f)!.t, byFold.get(f)!.p, numClasses)));
}

/**
 * A `PathResult` from an SVM cross-validation. `numClasses` is the dataset's class count; the
 * CV's class labels must be dataset class indices (as in feature files). With `predictions`,
 * the out-of-fold predictions are recorded with their image files and folds.
 */
export function pathResultFromCv(
  path: PathName,
  cv: CrossValidationResult,
  numClasses: number,
  extra: { label?: string; predictions?: PredictionsInfo; notes?: string[] } = {},
): PathResult {
  const k = numClasses;
  // The CV's confusion is indexed by position in cv.classes; place it in dataset class indices.
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  cv.confusion.forEach((row, i) => row.forEach((v, j) => (confusion[cv.classes[i]][cv.classes[j]] += v)));
  const r: PathResult = {
    path,
    foldAccuracies: [...cv.foldAccuracies],
    meanAccuracy: cv.meanAccuracy,
    stdAccuracy: cv.stdAccuracy,
    ci95: [cv.ci95[0], cv.ci95[1]],
    macroF1: macroF1Present(confusion),
    perClass: perClass(confusion),
    confusion,
    params: {
      kernel: cv.params.kernel,
      C: cv.params.C,
      gamma: cv.gammas && cv.gammas.length > 0 ? (cv.gammas.every((g) => g === cv.gammas![0]) ? cv.gammas[0] : 'per fold') : null,
      scaler: cv.params.scaler,
      folds: cv.folds,
      repeats: cv.repeats,
    },
    elapsedMs: cv.elapsedMs,
  };
  if (extra.label) r.label = extra.label;
  if (extra.notes) r.notes = [...extra.notes];
  if (extra.predictions) {
    checkLengths(cv.predictions.length, extra.predictions, 'pathResultFromCv');
    r.predictions = oof(cv.predictions, extra.predictions);
    r.foldMacroF1 = foldMacroF1(r.predictions, k);
  }
  return r;
}

/**
 * A `PathResult` from out-of-fold predicted class indices (any path, e.g. fine-tuning): per-fold
 * accuracy, mean with 95% interval, macro-F1 (pooled and per fold), per-class metrics, confusion.
 */
export function pathResultFromPredictions(
  path: PathName,
  predicted: ArrayLike<number>,
  numClasses: number,
  info: PredictionsInfo,
  extra: { label?: string; params?: PathResult['params']; elapsedMs?: number; notes?: string[] } = {},
): PathResult {
  checkLengths(predicted.length, info, 'pathResultFromPredictions');
  const predictions = oof(predicted, info);
  const folds = [...new Set(predictions.map((p) => p.fold))].sort((a, b) => a - b);
  const foldAccuracies = folds.map((f) => {
    const rows = predictions.filter((p) => p.fold === f);
    return rows.filter((p) => p.label === p.predicted).length / rows.length;
  });
  const confusion = confusionMatrix(
    predictions.map((p) => p.label),
    predictions.map((p) => p.predicted),
    numClasses,
  );
  const r: PathResult = {
    path,
    foldAccuracies,
    meanAccuracy: mean(foldAccuracies),
    stdAccuracy: std(foldAccuracies),
    ci95: meanInterval95(foldAccuracies),
    macroF1: macroF1Present(confusion),
    foldMacroF1: foldMacroF1(predictions, numClasses),
    perClass: perClass(confusion),
    confusion,
    predictions,
  };
  if (extra.label) r.label = extra.label;
  if (extra.params) r.params = { ...extra.params };
  if (extra.elapsedMs !== undefined) r.elapsedMs = extra.elapsedMs;
  if (extra.notes) r.notes = [...extra.notes];
  return r;
}

/** The grid-search table for the report. */
export function gridFromSearch(g: GridSearchResult, scope?: string): GridReport {
  const pt = (p: GridSearchResult['best']) => ({ log2C: p.log2C, log2Gamma: p.log2Gamma, meanAccuracy: p.meanAccuracy, stdAccuracy: p.stdAccuracy });
  return {
    kernel: g.table.some((p) => p.log2Gamma !== null) ? 'rbf' : 'linear',
    points: g.table.map(pt),
    best: pt(g.best),
    folds: g.folds,
    ...(scope ? { scope } : {}),
  };
}

/** 95% interval of a mean difference (Student t over the folds; not clipped, differences can be negative). */
export function differenceInterval95(d: readonly number[]): [number, number] {
  const m = mean(d);
  if (d.length < 2) return [m, m];
  const h = (t975(d.length - 1) * std(d)) / Math.sqrt(d.length);
  return [m - h, m + h];
}

/**
 * Paired per-fold differences accuracy(a) - accuracy(b). Both must have been evaluated on the
 * same folds (same count, same order).
 */
export function pairedComparison(a: PathResult, b: PathResult): PairedComparison {
  if (a.foldAccuracies.length !== b.foldAccuracies.length || a.foldAccuracies.length === 0) {
    throw new OptionsError(`A paired comparison needs the same folds: ${a.path} has ${a.foldAccuracies.length} fold accuracies, ${b.path} has ${b.foldAccuracies.length}.`, {
      code: 'RUN_REPORT_UNPAIRED',
      suggestion: 'Evaluate both paths on the same stratified folds.',
    });
  }
  const differences = a.foldAccuracies.map((x, i) => x - b.foldAccuracies[i]);
  return { a: a.path, b: b.path, differences, meanDifference: mean(differences), ci95: differenceInterval95(differences) };
}

/**
 * @deprecated Use `crossoverInRange` (src/report/crossover.ts): points matched by fraction, a crossover
 * only between two measured sizes, never extrapolated. Kept under the old name for existing callers.
 */
export const estimateCrossover: (a: LearningCurve, b: LearningCurve) => Crossover = crossoverInRange;
