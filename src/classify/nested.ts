/**
 * Nested cross-validation: the honest accuracy estimate of "grid-search C (and gamma), then refit"
 * (scikit-learn's `cross_val_score(GridSearchCV(SVC(), grid, cv=inner), X, y, cv=outer)`).
 *
 * Outer stratified, seeded folds; on each outer training fold only, an inner stratified k-fold grid
 * search (search.ts or linear_search.ts) chooses the parameters, the model is refitted on the whole
 * outer training fold with them and scored on the outer test fold, which the search never saw.
 * Reported: the parameters chosen per outer fold (they may differ: that spread is part of what the
 * estimate measures), each outer fold's accuracy, their mean with a 95% interval (Student t over
 * the outer folds, the same approximation as crossValidate).
 */
import { DatasetError } from '../errors.js';
import { foldSplit, stratifiedKFold } from '../data/split.js';
import { LinearSVC, LogisticRegression } from './linear.js';
import { linearGridSearch, type LinearKind } from './linear_search.js';
import type { LinearSvcOptions, LogisticOptions } from './linear_options.js';
import { encodeClasses, toLabels, toMatrix, type MatrixLike } from './matrix.js';
import { mean, meanInterval95, std } from './metrics.js';
import { CV_DEFAULTS, checkOptions, GRID_CONSTRAINTS, type GridOptions, type SvmOptions } from './options.js';
import { gridSearch, type GridPoint, type SearchCallbacks } from './search.js';
import { SvmClassifier } from './svm.js';

/** Inner folds of the nested estimate, unless given. */
export const NESTED_INNER_FOLDS_DEFAULT = 3;

export interface NestedCvOptions extends Omit<GridOptions, 'log' | 'resume' | 'repeats'> {
  /** Folds of the inner grid search on each outer training fold. Default 3 (NESTED_INNER_FOLDS_DEFAULT). */
  innerFolds?: number;
}

export interface NestedFold {
  /** Outer fold number (0-based). */
  fold: number;
  /** Parameters chosen by the inner search on this fold's training rows. */
  C: number;
  gamma: number | null;
  /** Inner cross-validated accuracy of the chosen point. */
  innerAccuracy: number;
  /** Accuracy of the refitted model on the outer test fold. */
  accuracy: number;
  nTrain: number;
  nTest: number;
}

export interface NestedCvResult {
  solver: 'libsvm' | LinearKind;
  classes: number[];
  outerFolds: number;
  innerFolds: number;
  seed: number;
  folds: NestedFold[];
  foldAccuracies: number[];
  meanAccuracy: number;
  stdAccuracy: number;
  ci95: [number, number];
  elapsedMs: number;
}

function subMatrix(data: Float32Array, d: number, rows: Int32Array): { data: Float32Array; rows: number; cols: number } {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(data.subarray(r * d, r * d + d), i * d));
  return { data: out, rows: rows.length, cols: d };
}

/**
 * Nested CV of a grid-searched classifier. `solver` 'libsvm' searches the kernel SVM (C, and gamma
 * for RBF); 'liblinear' / 'logistic' search C of LinearSVC / LogisticRegression. `modelOptions`
 * fixes everything else (kernel, scaler, classWeight...) and must not set C or gamma.
 */
export async function nestedCrossValidate(
  X: MatrixLike,
  y: ArrayLike<number>,
  solver: 'libsvm' | LinearKind,
  modelOptions: SvmOptions | LinearSvcOptions | LogisticOptions = {},
  options: NestedCvOptions & SearchCallbacks = {},
): Promise<NestedCvResult> {
  const t0 = performance.now();
  const { onProgress, onWarning, innerFolds: inner, ...grid } = options;
  checkOptions('nested cross-validation', grid, GRID_CONSTRAINTS);
  const innerFolds = inner ?? NESTED_INNER_FOLDS_DEFAULT;
  if (!Number.isInteger(innerFolds) || innerFolds < 2) {
    throw new DatasetError(`innerFolds must be an integer >= 2. Received innerFolds=${innerFolds}.`, { code: 'OPTIONS_BAD_VALUE' });
  }
  const outerFolds = grid.folds ?? CV_DEFAULTS.folds;
  const seed = grid.seed ?? CV_DEFAULTS.seed;
  const M = toMatrix(X);
  const labels = toLabels(y, M.rows);
  const { classes, codes, counts } = encodeClasses(labels);
  // Each inner training set holds about (1 - 1/outer) (1 - 1/inner) of a class.
  const min = Math.min(...counts);
  const innerMin = Math.floor(min * (1 - 1 / outerFolds));
  if (min < outerFolds || innerMin < innerFolds) {
    throw new DatasetError(
      `Class ${classes[counts.indexOf(min)]} has ${min} samples: too few for ${outerFolds} outer folds and ${innerFolds} inner folds (each outer training fold keeps about ${innerMin}).`,
      { code: 'SVM_CLASS_SMALLER_THAN_FOLDS', suggestion: 'Use fewer folds (--folds, --inner-folds), or add samples to that class.' },
    );
  }
  const assignment = stratifiedKFold(codes, outerFolds, { shuffle: true, seed, onWarning });
  const folds: NestedFold[] = [];
  for (let f = 0; f < outerFolds; f++) {
    const { train, test } = foldSplit(assignment, f);
    const Xtr = subMatrix(M.data, M.cols, train);
    const Xte = subMatrix(M.data, M.cols, test);
    const ytr = Array.from(train, (i) => labels[i]);
    const yte = Array.from(test, (i) => labels[i]);
    // The inner folds get their own seed per outer fold, so they are not the outer split again.
    const innerOpts = { ...grid, folds: innerFolds, seed: seed + 1 + f, onWarning };
    let best: GridPoint;
    let accuracy: number;
    if (solver === 'libsvm') {
      const svm = modelOptions as SvmOptions;
      best = (await gridSearch(Xtr, ytr, svm, innerOpts)).best;
      const clf = await new SvmClassifier({ ...svm, C: best.C, ...(best.gamma !== null ? { gamma: best.gamma } : {}) }).fit(Xtr, ytr, { onWarning });
      try {
        accuracy = clf.score(Xte, yte);
      } finally {
        clf.dispose();
      }
    } else {
      const { log2Gamma, ...linearGrid } = innerOpts;
      if (log2Gamma !== undefined) throw new DatasetError('log2Gamma has no effect with a linear solver.', { code: 'OPTIONS_CONFLICT', suggestion: 'Drop log2Gamma.' });
      const lin = modelOptions as LinearSvcOptions;
      best = (await linearGridSearch(solver, Xtr, ytr, lin, linearGrid)).best;
      const clf = solver === 'logistic' ? new LogisticRegression({ ...(lin as LogisticOptions), C: best.C }) : new LinearSVC({ ...lin, C: best.C });
      await clf.fit(Xtr, ytr, { onWarning });
      accuracy = clf.score(Xte, yte);
    }
    folds.push({ fold: f, C: best.C, gamma: best.gamma, innerAccuracy: best.meanAccuracy, accuracy, nTrain: train.length, nTest: test.length });
    onProgress?.({ tasksDone: f + 1, tasksTotal: outerFolds });
  }
  const foldAccuracies = folds.map((f) => f.accuracy);
  return {
    solver,
    classes,
    outerFolds,
    innerFolds,
    seed,
    folds,
    foldAccuracies,
    meanAccuracy: mean(foldAccuracies),
    stdAccuracy: std(foldAccuracies),
    ci95: meanInterval95(foldAccuracies),
    elapsedMs: performance.now() - t0,
  };
}
