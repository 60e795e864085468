/**
 * One fold of each path, shared by `ftk auto` (src/auto/auto.ts) and `ftk bench`
 * (src/bench/compare.ts), so both score the SVM and fine-tuning the same way:
 *
 * - `svmOnFold`: an RBF SVM on bottleneck features, C and gamma by a grid search inside the
 *   training fold (nested), scored on the held-out fold; above the exact kernel's limit
 *   (`FEATURE_LINEAR_ABOVE` training rows) multinomial logistic regression on all of them instead
 *   (`fitFeatureClassifier`);
 * - `finetuneOnRows` + `scoreModelOnRows`: fine-tuning (or training from scratch) on the training
 *   rows, early stopping on a stratified split taken from the training rows, then the saved model
 *   predicts the held-out images from their files.
 */
import { promises as fsp } from 'node:fs';
import { maxPrecomputedSamples } from '../classify/libsvm.js';
import { LogisticRegression } from '../classify/linear.js';
import { linearGridSearch } from '../classify/linear_search.js';
import { SVM_DEFAULTS } from '../classify/options.js';
import { gridSearch, type GridPoint, type GridSearchResult } from '../classify/search.js';
import { SvmClassifier } from '../classify/svm.js';
import type { Dataset } from '../data/dataset.js';
import { finetune, type FinetuneResult } from '../finetune/finetune.js';
import type { FinetuneOptions } from '../finetune/options.js';
import type { BackboneInfo } from '../formats/features.js';
import type { ImageScores } from '../predict/classifier.js';
import { loadClassifier } from '../predict/formats.js';

/** The dataset restricted to `rows` of `files` (row -> file path relative to the root), in row order. */
export function datasetSubset(dataset: Dataset, rows: ArrayLike<number>, files: readonly string[]): Dataset {
  const byFile = new Map(dataset.entries.map((e) => [e.file, e]));
  const entries = Array.from(rows, (r) => byFile.get(files[r])!);
  return { ...dataset, entries, ignored: [] };
}

/** Rows of a row-major [n, d] matrix as a new matrix. */
export function takeRows(X: Float32Array, d: number, rows: ArrayLike<number>): { data: Float32Array; rows: number; cols: number } {
  const data = new Float32Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) data.set(X.subarray(rows[i] * d, (rows[i] + 1) * d), i * d);
  return { data, rows: rows.length, cols: d };
}

/** Moves every exact-duplicate group into the fold of its first member (copies must not straddle folds). Returns how many rows moved. */
export function keepDuplicatesTogether(folds: Int32Array, duplicates: readonly (readonly string[])[], files: readonly string[]): number {
  const index = new Map(files.map((f, i) => [f, i]));
  let moved = 0;
  for (const group of duplicates) {
    const rows = group.map((f) => index.get(f)).filter((r): r is number => r !== undefined);
    for (const r of rows.slice(1)) {
      if (folds[r] !== folds[rows[0]]) {
        folds[r] = folds[rows[0]];
        moved++;
      }
    }
  }
  return moved;
}

/** Training rows above which the exact RBF SVM does not fit libsvm-js' heap (libsvm.ts): the feature path switches to logistic regression on all rows. */
export const FEATURE_LINEAR_ABOVE = maxPrecomputedSamples(SVM_DEFAULTS.cacheSize);
/** C grid of that logistic regression: log2 C = -13, -11, ..., 3 (standardized features rarely want more). */
export const FEATURE_LINEAR_LOG2C: readonly number[] = Object.freeze([-13, -11, -9, -7, -5, -3, -1, 1, 3]);

/** Says why the feature path is a logistic regression, once per run (auto's messages, bench's notes). */
export function linearSwitchMessage(rows: number): string {
  return (
    `feature path: ${rows} training images are above the ${FEATURE_LINEAR_ABOVE} that the exact RBF SVM's kernel holds (libsvm-js' 2 GiB heap), ` +
    'so it trains multinomial logistic regression (L-BFGS, C by grid search) on all of them instead'
  );
}

/**
 * The feature path's classifier on (X, y), C (and gamma) by a `folds`-fold grid search: an RBF SVM
 * while the exact kernel fits, else LogisticRegression on every row (never a subsample).
 */
export async function fitFeatureClassifier(
  X: { data: Float32Array; rows: number; cols: number },
  y: readonly number[],
  options: { folds: number; seed: number; probability: boolean },
): Promise<{ model: SvmClassifier | LogisticRegression; grid: GridSearchResult; solver: 'libsvm' | 'logistic' }> {
  if (X.rows > FEATURE_LINEAR_ABOVE) {
    const grid = await linearGridSearch('logistic', X, y, {}, { folds: options.folds, seed: options.seed, log2C: FEATURE_LINEAR_LOG2C });
    const model = await new LogisticRegression({ C: grid.best.C }).fit(X, y);
    return { model, grid, solver: 'logistic' };
  }
  const grid = await gridSearch(X, y, { kernel: 'rbf' }, { folds: options.folds, seed: options.seed });
  const model = await new SvmClassifier({ kernel: 'rbf', C: grid.best.C, gamma: grid.best.gamma ?? 'scale', probability: options.probability }).fit(X, y);
  return { model, grid, solver: 'libsvm' };
}

export interface SvmFoldOptions {
  /** Seed of the inner folds. */
  seed: number;
  /** Inner folds of the grid search (capped by the smallest class of the training fold). */
  innerFolds: number;
  /** Platt-scaled probabilities when every training class has at least 5 samples. Default true. */
  probability?: boolean;
  /** Save the fitted model (ftk's SVM JSON) here, with these class names and backbone. */
  save?: { file: string; classNames: string[]; backbone?: BackboneInfo };
}

export interface SvmFoldResult {
  /** Predicted class of each held-out row, in `test` order. */
  predicted: number[];
  /** Class probabilities of each held-out row (one-hot when the model has none). */
  probabilities: number[][];
  /** The grid point chosen inside the training fold. */
  best: GridPoint;
  innerFolds: number;
  /** 'logistic' when the training fold was above FEATURE_LINEAR_ABOVE rows. */
  solver: 'libsvm' | 'logistic';
}

/**
 * Nested SVM evaluation of one fold: grid search (libsvm's grid, RBF) by stratified k-fold inside
 * the training rows, refit of the best point on all of them, predictions for the test rows.
 */
export async function svmOnFold(
  X: Float32Array,
  d: number,
  labels: readonly number[],
  numClasses: number,
  fold: { train: ArrayLike<number>; test: ArrayLike<number> },
  options: SvmFoldOptions,
): Promise<SvmFoldResult> {
  const yTrain = Array.from(fold.train, (r) => labels[r]);
  const minTrain = Math.min(...Array.from({ length: numClasses }, (_, c) => yTrain.filter((y) => y === c).length));
  const innerFolds = Math.min(options.innerFolds, minTrain);
  const { model: clf, grid, solver } = await fitFeatureClassifier(takeRows(X, d, fold.train), yTrain, {
    folds: innerFolds,
    seed: options.seed,
    probability: (options.probability ?? true) && minTrain >= 5,
  });
  try {
    const Xt = takeRows(X, d, fold.test);
    const pred = Array.from(clf.predict(Xt));
    const proba = clf instanceof SvmClassifier ? (clf.probA_ ? clf.predictProba(Xt) : undefined) : clf.predictProba(Xt);
    const probabilities = pred.map((p, i) => (proba ? Array.from(proba[i]) : Array.from({ length: numClasses }, (_, c) => (c === p ? 1 : 0))));
    if (options.save) {
      clf.classNames = options.save.classNames;
      clf.backbone = options.save.backbone;
      await fsp.writeFile(options.save.file, JSON.stringify(clf.toJSON()) + '\n');
    }
    return { predicted: pred, probabilities, best: grid.best, innerFolds, solver };
  } finally {
    clf.dispose();
  }
}

/**
 * Fine-tunes (or trains from scratch, per `options`) on `rows` of the dataset into `options.out`.
 * Unless given, the early-stopping split is at least 20% of the rows and holds every class, and the
 * batch never exceeds the images left for training (small folds).
 */
export async function finetuneOnRows(
  dataset: Dataset,
  files: readonly string[],
  rows: ArrayLike<number>,
  options: FinetuneOptions,
): Promise<{ result: FinetuneResult; minutes: number }> {
  const t = performance.now();
  const classesCount = dataset.classes.length;
  const val = options.val ?? Math.min(0.5, Math.max(0.2, (classesCount + 0.5) / rows.length));
  const batchSize = options.batchSize ?? Math.max(1, Math.min(32, rows.length - Math.ceil(rows.length * val)));
  const result = await finetune(datasetSubset(dataset, rows, files), { ...options, val, batchSize });
  return { result, minutes: (performance.now() - t) / 60000 };
}

/** Scores of a saved model (fine-tuned folder, SVM JSON or bundle) on the images of `rows`, in row order. */
export async function scoreModelOnRows(modelDir: string, dataset: Dataset, files: readonly string[], rows: ArrayLike<number>): Promise<ImageScores[]> {
  const byFile = new Map(dataset.entries.map((e) => [e.file, e.path]));
  const clf = await loadClassifier(modelDir);
  try {
    return await clf.predictImages(Array.from(rows, (r) => byFile.get(files[r])!));
  } finally {
    clf.dispose();
  }
}

/** Index of the largest value (the first on ties). */
export function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
  return best;
}

/** The most probable class of each score (-1 for an image that could not be decoded). */
export function argmaxScores(scores: readonly ImageScores[]): number[] {
  return scores.map((s) => ('probabilities' in s ? argmax(s.probabilities) : -1));
}

/** A run's messages (auto, bench): stages go to `onStage`; warnings are kept for the result and go to `onWarning`. */
export function runMessages(options: { onStage?: (message: string) => void; onWarning?: (message: string) => void }): {
  say: (message: string) => void;
  warn: (message: string) => void;
  warnings: string[];
} {
  const warnings: string[] = [];
  return {
    say: (message) => options.onStage?.(message),
    warn: (message) => {
      warnings.push(message);
      options.onWarning?.(message);
    },
    warnings,
  };
}
