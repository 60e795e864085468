/**
 * Cross-validation and grid search over C for the linear classifiers, with the SVM's folds,
 * metrics, result types and tie rule (search.ts): stratified seeded folds, the scaler fitted on each
 * training fold only, ties to the smaller C. Every fold's fit runs the whole C path warm-started
 * (LIBLINEAR's C search does the same), as tasks on worker threads: one per (fold, class) for
 * LinearSVC, one per fold for LogisticRegression. Held-out rows are scored in the calling thread.
 */
import { DatasetError, OptionsError } from '../errors.js';
import { foldSplit, repeatedStratifiedKFold, stratifiedKFold } from '../data/split.js';
import {
  codesFromDecisions,
  defaultWorkers,
  fitLinearSvc,
  fitLogisticPath,
  linearDecisions,
  scaledRows,
  type LinearSolution,
} from './linear.js';
import { LinearPool, sharedMatrix } from './linear_pool.js';
import { fitsOnMatrixProducts, resolveLinearSvcOptions, resolveLogisticOptions, type LinearSvcOptions, type LogisticOptions, type ResolvedLinearSvcOptions, type ResolvedLogisticOptions } from './linear_options.js';
import { encodeClasses, toLabels, toMatrix, type MatrixLike } from './matrix.js';
import { confusionMatrix, foldSummary, mean, std } from './metrics.js';
import { CV_CONSTRAINTS, GRID_LOG2C_DEFAULT, checkOptions, resolveCvOptions, type CvOptions } from './options.js';
import { fitScaler } from './scaler.js';
import { resolveClassWeights } from './trainer.js';
import type { CrossValidationResult, GridPoint, GridSearchResult, SearchCallbacks } from './search.js';

/** Which linear model: LinearSVC ('liblinear') or LogisticRegression ('logistic'). */
export type LinearKind = 'liblinear' | 'logistic';

export interface LinearCvResult extends Omit<CrossValidationResult, 'params' | 'gammas'> {
  model: LinearKind;
  params: ResolvedLinearSvcOptions | ResolvedLogisticOptions;
  gammas: null;
}

export interface LinearGridOptions extends CvOptions {
  /** log2 of the C values. Default -5, -3, ..., 15 (libsvm grid.py). */
  log2C?: readonly number[];
}

function resolve(kind: LinearKind, options: LinearSvcOptions | LogisticOptions): ResolvedLinearSvcOptions | ResolvedLogisticOptions {
  return kind === 'logistic' ? resolveLogisticOptions(options) : resolveLinearSvcOptions(options);
}

interface Evaluated {
  classes: number[];
  codes: Int32Array;
  splits: { train: Int32Array; test: Int32Array }[];
  /** predictions[split][C index]: class codes of the test rows. */
  predictions: Int32Array[][];
  converged: boolean;
}

/** Fits every split's C path on the pool and predicts its held-out rows for every C. */
async function evaluatePath(
  kind: LinearKind,
  X: MatrixLike,
  y: ArrayLike<number>,
  opts: ResolvedLinearSvcOptions | ResolvedLogisticOptions,
  cvRaw: CvOptions,
  Cs: number[],
  callbacks: SearchCallbacks,
): Promise<Evaluated> {
  const cv = resolveCvOptions(cvRaw, defaultWorkers());
  const M = toMatrix(X);
  const labels = toLabels(y, M.rows);
  const { classes, codes, counts } = encodeClasses(labels);
  if (classes.length < 2) {
    throw new DatasetError(`A classifier needs at least 2 classes; y has only the label ${classes[0]}.`, { code: 'SVM_SINGLE_CLASS', suggestion: 'Add samples of another class.' });
  }
  const min = Math.min(...counts);
  if (min < cv.folds) {
    const cls = classes[counts.indexOf(min)];
    throw new DatasetError(`Class ${cls} has ${min} sample${min === 1 ? '' : 's'}, fewer than the ${cv.folds} folds: some folds would hold none of it.`, {
      code: 'SVM_CLASS_SMALLER_THAN_FOLDS',
      suggestion: min >= 2 ? `Use --folds ${min} (or fewer), or add samples to class ${cls}.` : `Add samples to class ${cls} (at least 2 are needed).`,
    });
  }
  const assignments =
    cv.repeats > 1
      ? repeatedStratifiedKFold(codes, cv.folds, cv.repeats, { seed: cv.seed ?? 0, onWarning: callbacks.onWarning })
      : [stratifiedKFold(codes, cv.folds, cv.shuffle ? { shuffle: true, seed: cv.seed ?? 0, onWarning: callbacks.onWarning } : { onWarning: callbacks.onWarning })];
  const splits = assignments.flatMap((folds) => Array.from({ length: cv.folds }, (_, f) => foldSplit(folds, f)));
  const { rows: n, cols: d } = M;
  const workers = Math.max(1, cv.workers);
  // Only the dual's worker threads read the rows from shared memory (ONNX Runtime cannot).
  const poolFolds = splits.some((sp) => !fitsOnMatrixProducts(kind, opts, sp.train.length, d));
  const data = workers > 1 && poolFolds ? sharedMatrix(M.data) : M.data;
  const pool = new LinearPool(workers);
  const predictions: Int32Array[][] = [];
  let converged = true;
  let done = 0;
  let gemmTurn: Promise<unknown> = Promise.resolve();
  try {
    await Promise.all(
      splits.map(async (split, s) => {
        const scaler = fitScaler(opts.scaler, data, n, d, split.train);
        const trainCounts = new Array<number>(classes.length).fill(0);
        for (const i of split.train) trainCounts[codes[i]]++;
        const weights = resolveClassWeights(opts.classWeight, classes, trainCounts);
        const problem = { S: scaledRows(data, d, scaler), rows: split.train, codes, k: classes.length, classWeights: weights };
        // Fits on ONNX Runtime's products use every thread: one fold at a time. The others run
        // on the pool (the dual: one task per (fold, class); small logistic fits: one per fold).
        const fitFold = (): Promise<LinearSolution[]> =>
          kind === 'logistic'
            ? fitLogisticPath(problem, opts as ResolvedLogisticOptions, Cs, pool, false, workers)
            : fitLinearSvc(problem, opts as ResolvedLinearSvcOptions, Cs, pool, workers).then((r) => r.solutions);
        let sols: LinearSolution[];
        if (fitsOnMatrixProducts(kind, opts, split.train.length, d)) {
          const turn = gemmTurn.then(fitFold);
          gemmTurn = turn.then(
            () => undefined,
            () => undefined,
          );
          sols = await turn;
        } else sols = await fitFold();
        predictions[s] = sols.map((sol) => {
          if (!sol.converged) converged = false;
          return codesFromDecisions(linearDecisions(data, split.test, split.test.length, d, scaler, sol.coef, sol.intercept), sol.coef.length);
        });
        callbacks.onProgress?.({ tasksDone: ++done, tasksTotal: splits.length });
      }),
    );
  } finally {
    await pool.close();
  }
  return { classes, codes, splits, predictions, converged };
}

function accuracy(pred: Int32Array, test: Int32Array, codes: Int32Array): number {
  let ok = 0;
  for (let t = 0; t < test.length; t++) if (pred[t] === codes[test[t]]) ok++;
  return ok / test.length;
}

/** Stratified k-fold cross-validation of one linear model configuration (same report as the SVM's). */
export async function linearCrossValidate(
  kind: LinearKind,
  X: MatrixLike,
  y: ArrayLike<number>,
  options: LinearSvcOptions | LogisticOptions = {},
  cvOptions: CvOptions & SearchCallbacks = {},
): Promise<LinearCvResult> {
  const t0 = performance.now();
  const { onProgress, onWarning, ...cvRaw } = cvOptions;
  checkOptions('cross-validation', cvRaw, CV_CONSTRAINTS);
  const opts = resolve(kind, options);
  const r = await evaluatePath(kind, X, y, opts, cvRaw, [opts.C], { onProgress, onWarning });
  if (!r.converged) onWarning?.(`Some folds stopped at maxIter=${opts.maxIter} before reaching tol=${opts.tol}: the scores are usable but the models not optimal. Raise maxIter.`);
  const cv = resolveCvOptions(cvRaw, 1);
  const foldAccuracies: number[] = [];
  const yTrue: number[] = [];
  const yPred: number[] = [];
  const firstRepeat = new Array<number>(r.codes.length).fill(-1);
  r.splits.forEach((split, s) => {
    const pred = r.predictions[s][0];
    foldAccuracies.push(accuracy(pred, split.test, r.codes));
    split.test.forEach((i, t) => {
      yTrue.push(r.codes[i]);
      yPred.push(pred[t]);
      if (s < cv.folds) firstRepeat[i] = r.classes[pred[t]];
    });
  });
  const confusion = confusionMatrix(yTrue, yPred, r.classes.length);
  return {
    model: kind,
    classes: r.classes,
    folds: cv.folds,
    repeats: cv.repeats,
    shuffle: cv.shuffle,
    seed: cv.seed ?? null,
    ...foldSummary(foldAccuracies, confusion),
    predictions: firstRepeat,
    gammas: null,
    params: opts,
    elapsedMs: performance.now() - t0,
  };
}

/** Grid search over C by stratified k-fold accuracy; ties go to the smaller C. `options` must not set C. */
export async function linearGridSearch(
  kind: LinearKind,
  X: MatrixLike,
  y: ArrayLike<number>,
  options: LinearSvcOptions | LogisticOptions = {},
  gridOptions: LinearGridOptions & SearchCallbacks = {},
): Promise<GridSearchResult> {
  const t0 = performance.now();
  const { onProgress, onWarning, log2C: l2c, ...cvRaw } = gridOptions;
  checkOptions('grid search', cvRaw, CV_CONSTRAINTS);
  if (options.C !== undefined) {
    throw new OptionsError(`The grid search chooses C; do not pass it. Received C=${options.C}.`, { code: 'OPTIONS_CONFLICT', suggestion: 'Drop C, or set the grid with log2C.' });
  }
  const opts = resolve(kind, options);
  // Ascending C: each fit warm-starts from the previous, smaller C (the easier problem).
  const log2C = [...(l2c ?? GRID_LOG2C_DEFAULT)];
  const order = log2C.map((_, i) => i).sort((a, b) => log2C[a] - log2C[b]);
  const Cs = order.map((i) => 2 ** log2C[i]);
  const r = await evaluatePath(kind, X, y, opts, cvRaw, Cs, { onProgress, onWarning });
  if (!r.converged) onWarning?.(`Some (fold, C) fits stopped at maxIter=${opts.maxIter} before reaching tol=${opts.tol} (usually the largest C): their scores are usable but the models not optimal.`);
  const cv = resolveCvOptions(cvRaw, 1);
  const table: GridPoint[] = new Array(log2C.length);
  order.forEach((i, ci) => {
    const folds = r.splits.map((split, s) => accuracy(r.predictions[s][ci], split.test, r.codes));
    table[i] = { C: 2 ** log2C[i], log2C: log2C[i], gamma: null, log2Gamma: null, meanAccuracy: mean(folds), stdAccuracy: std(folds), foldAccuracies: folds };
  });
  let best: GridPoint | undefined;
  for (const p of table) {
    if (!best || p.meanAccuracy > best.meanAccuracy + 1e-12 || (Math.abs(p.meanAccuracy - best.meanAccuracy) <= 1e-12 && p.C < best.C)) best = p;
  }
  return {
    table,
    best: best!,
    folds: cv.folds,
    repeats: cv.repeats,
    seed: cv.seed ?? null,
    tieBreak: 'smaller C, then smaller gamma',
    elapsedMs: performance.now() - t0,
  };
}
