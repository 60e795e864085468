/**
 * Cross-validation and grid search for `SvmClassifier`, built for speed:
 *
 * - Folds: ftk's stratified, seeded k-fold (`src/data/split.ts`), optionally repeated.
 * - One Gram matrix per training fold: the scaler is fitted on the fold's training rows, all rows
 *   are scaled with it and X X^T is computed once (WebAssembly SIMD). With scaler 'none' or 'l2'
 *   (nothing learned) one Gram matrix serves every fold. Every gamma's RBF kernel is derived from
 *   it (exp(-gamma ||a-b||^2) from the dot products), and every C reuses the kernel block written
 *   into libsvm's heap for that (fold, gamma): libsvm never computes a kernel value.
 * - Held-out rows are predicted from the same Gram matrix (no second matrix product).
 * - (fold, gamma) tasks are spread over worker threads (`workers`, default: all cores), each with
 *   its own libsvm-js instance; the Gram matrices travel as SharedArrayBuffers (no copies).
 *
 * Grid search follows libsvm's `tools/grid.py`: C = 2^-5, 2^-3, ..., 2^15 and, for RBF,
 * gamma = 2^3, 2^1, ..., 2^-15; the score is the mean accuracy over the folds
 * (scikit-learn's `mean_test_score`). Ties go to the simpler model: the smaller C, then the
 * smaller gamma (smoother decision function) — which is also the point scikit-learn's
 * GridSearchCV picks when both lists are ascending. The full table is returned.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { DatasetError, OptionsError, RuntimeError } from '../errors.js';
import { foldSplit, repeatedStratifiedKFold, stratifiedKFold } from '../data/split.js';
import { GramEngine, SCALAR_FALLBACK_NOTICE } from './gram.js';
import { GridLog } from './grid_log.js';
import { Libsvm, assertFitsHeap } from './libsvm.js';
import { prepareProblem, sortByClass, type FeatureMatrix, type MatrixLike, type Problem } from './matrix.js';
import { confusionMatrix, foldSummary, mean, std, type ClassReport } from './metrics.js';
import {
  GRID_CONSTRAINTS,
  GRID_LOG2C_DEFAULT,
  GRID_LOG2GAMMA_DEFAULT,
  checkOptions,
  resolveCvOptions,
  resolveSvmOptions,
  type CvOptions,
  type GridOptions,
  type ResolvedCvOptions,
  type ResolvedSvmOptions,
  type SvmOptions,
} from './options.js';
import { applyScaler, fitScaler, scalerLearns } from './scaler.js';
import { resolveGamma } from './svm.js';
import { resolveClassWeights } from './trainer.js';
import { deserializeError, runFoldTask, type FoldTask, type FoldTaskResult, type SerializedError } from './fold_task.js';

export interface SearchCallbacks {
  /** Progress: one call per finished (fold, gamma) task. */
  onProgress?: (event: SearchProgress) => void;
  /** Usable but weaker results (e.g. a class smaller than the number of folds). */
  onWarning?: (message: string) => void;
}

export interface SearchProgress {
  tasksDone: number;
  tasksTotal: number;
  /** Grid points whose every fold is done, in completion order (grid search only). */
  pointsDone?: number;
  pointsTotal?: number;
  /** The point just completed and the best so far (grid search only). */
  point?: GridPoint;
  best?: GridPoint;
}

export interface CrossValidationResult {
  classes: number[];
  folds: number;
  repeats: number;
  shuffle: boolean;
  seed: number | null;
  /** Accuracy of every fold (repeat-major). */
  foldAccuracies: number[];
  meanAccuracy: number;
  stdAccuracy: number;
  /** 95% interval of the mean fold accuracy (Student t over the folds). */
  ci95: [number, number];
  /** Macro-averaged F1 of the pooled out-of-fold predictions. */
  macroF1: number;
  perClass: ClassReport[];
  /** confusion[t][p], pooled over all folds (and repeats): rows true class, columns predicted. */
  confusion: number[][];
  /** Out-of-fold predicted label of every sample (first repeat). */
  predictions: number[];
  /** Gamma used in each fold (RBF; 'scale' is resolved per training fold). */
  gammas: number[] | null;
  params: ResolvedSvmOptions;
  elapsedMs: number;
}

export interface GridPoint {
  C: number;
  log2C: number;
  gamma: number | null;
  log2Gamma: number | null;
  meanAccuracy: number;
  stdAccuracy: number;
  foldAccuracies: number[];
}

export interface GridSearchResult {
  /** Every point, C-major then gamma, in the order of the given lists. */
  table: GridPoint[];
  best: GridPoint;
  folds: number;
  repeats: number;
  seed: number | null;
  tieBreak: 'smaller C, then smaller gamma';
  /** (split, gamma) tasks read back from the log instead of computed (with `log`; 0 unless `resume`). */
  resumedTasks?: number;
  elapsedMs: number;
}

interface Split {
  train: Int32Array;
  test: Int32Array;
}

interface PreparedSplit {
  T: Int32Array;
  test: Int32Array;
  gram: SharedArrayBuffer;
  norms: SharedArrayBuffer;
  gamma: number;
  weights: Float64Array | null;
}


function makeSplits(p: Problem, cv: ResolvedCvOptions, onWarning?: (m: string) => void): Split[] {
  const y = p.codes;
  const assignments =
    cv.repeats > 1
      ? repeatedStratifiedKFold(y, cv.folds, cv.repeats, { seed: cv.seed ?? 0, onWarning })
      : [stratifiedKFold(y, cv.folds, cv.shuffle ? { shuffle: true, seed: cv.seed ?? 0, onWarning } : { onWarning })];
  const out: Split[] = [];
  for (const folds of assignments) for (let f = 0; f < cv.folds; f++) out.push(foldSplit(folds, f));
  return out;
}

function toShared(a: Float32Array | Float64Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(a.byteLength);
  new Uint8Array(sab).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return sab;
}

/** Builds the per-split kernel inputs lazily, sharing one Gram matrix when the scaler learns nothing. */
class SplitPreparer {
  private shared: { gram: SharedArrayBuffer; norms: SharedArrayBuffer; Xs: Float32Array } | null = null;
  private cache = new Map<number, PreparedSplit>();

  constructor(
    private readonly p: Problem,
    private readonly splits: Split[],
    private readonly opts: ResolvedSvmOptions,
    private readonly engine: GramEngine,
  ) {}

  get(s: number): PreparedSplit {
    let prep = this.cache.get(s);
    if (prep) return prep;
    const { M, codes, classes } = this.p;
    const { rows: n, cols: d } = M;
    const split = this.splits[s];
    let gram: SharedArrayBuffer;
    let norms: SharedArrayBuffer;
    let Xs: Float32Array;
    if (scalerLearns(this.opts.scaler)) {
      const scaler = fitScaler(this.opts.scaler, M.data, n, d, split.train);
      Xs = applyScaler(scaler, M.data, n, d);
      gram = toShared(this.engine.gram(Xs, n, d));
      norms = toShared(this.engine.selfDots(Xs, n, d));
    } else {
      if (!this.shared) {
        const S = applyScaler(fitScaler(this.opts.scaler, M.data, n, d), M.data, n, d);
        this.shared = { gram: toShared(this.engine.gram(S, n, d)), norms: toShared(this.engine.selfDots(S, n, d)), Xs: S };
      }
      ({ gram, norms, Xs } = this.shared);
    }
    const gamma = resolveGamma(this.opts, Xs, d, split.train) ?? 0;
    const trainCounts = new Array<number>(classes.length).fill(0);
    for (const i of split.train) trainCounts[codes[i]]++;
    const weights = resolveClassWeights(this.opts.classWeight, classes, trainCounts);
    prep = { T: sortByClass(codes, split.train), test: split.test, gram, norms, gamma, weights };
    this.cache.set(s, prep);
    return prep;
  }

  release(s: number): void {
    this.cache.delete(s);
  }
}

/** The worker file next to this module (.ts under tsx, .js when compiled). */
function spawnWorker(): Worker {
  const isTs = import.meta.url.endsWith('.ts');
  const target = new URL(`./svm_worker${isTs ? '.ts' : '.js'}`, import.meta.url);
  if (!isTs) return new Worker(target);
  // Under tsx the worker needs tsx's loader registered before it imports TypeScript.
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target.href)}); });`;
  return new Worker(code, { eval: true });
}

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'result'; result: FoldTaskResult }
  | { type: 'error'; taskId: number; error: SerializedError };

/** Runs tasks on `workers` threads (inline when 1), pulling them lazily from `next`. */
async function runTasks(
  workers: number,
  next: () => FoldTask | undefined,
  onResult: (r: FoldTaskResult) => void,
): Promise<void> {
  if (workers <= 1) {
    const lib = await Libsvm.load();
    for (let task = next(); task; task = next()) onResult(runFoldTask(lib, task));
    return;
  }
  const pool: Worker[] = [];
  try {
    const loops: Promise<void>[] = [];
    for (let w = 0; w < workers; w++) {
      const worker = spawnWorker();
      pool.push(worker);
      loops.push(
        new Promise<void>((resolve, reject) => {
          let failed = false;
          const fail = (e: Error): void => {
            if (!failed) {
              failed = true;
              reject(e);
            }
          };
          const dispatch = (): void => {
            let task: FoldTask | undefined;
            try {
              task = next();
            } catch (e) {
              fail(e as Error);
              return;
            }
            if (!task) {
              resolve();
              return;
            }
            worker.postMessage({ type: 'task', task });
          };
          worker.on('message', (msg: WorkerMessage) => {
            if (msg.type === 'ready') dispatch();
            else if (msg.type === 'result') {
              try {
                onResult(msg.result);
              } catch (e) {
                fail(e as Error);
                return;
              }
              dispatch();
            } else if (msg.type === 'error') fail(deserializeError(msg.error));
          });
          worker.on('error', (e) => fail(new RuntimeError(`SVM worker thread failed: ${e.message}`, { code: 'SVM_WORKER', cause: e })));
          worker.on('exit', (code) => {
            if (code !== 0) fail(new RuntimeError(`SVM worker thread exited with code ${code}.`, { code: 'SVM_WORKER' }));
          });
        }),
      );
    }
    await Promise.all(loops);
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

function defaultWorkers(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function checkClassesVsFolds(p: Problem, folds: number): void {
  const min = Math.min(...p.counts);
  if (min < folds) {
    const cls = p.classes[p.counts.indexOf(min)];
    throw new DatasetError(
      `Class ${cls} has ${min} sample${min === 1 ? '' : 's'}, fewer than the ${folds} folds: some folds would hold none of it.`,
      {
        code: 'SVM_CLASS_SMALLER_THAN_FOLDS',
        suggestion: min >= 2 ? `Use --folds ${min} (or fewer), or add samples to class ${cls}.` : `Add samples to class ${cls} (at least 2 are needed).`,
      },
    );
  }
}

interface EvalPlan {
  Cs: number[];
  /** Gammas to evaluate (null: resolve from the options per split: one gamma per split). */
  gammas: number[] | null;
  /** Tasks already done (restored from a log): not run again. */
  isDone?: (split: number, gammaIndex: number) => boolean;
}

interface EvalOutcome {
  splits: Split[];
  prepared: { gamma: number }[];
  /** predictions[split][gammaIndex] = Int32Array(Cs.length * test.length). */
  predictions: Int32Array[][];
}

async function evaluate(
  p: Problem,
  opts: ResolvedSvmOptions,
  cv: ResolvedCvOptions,
  plan: EvalPlan,
  callbacks: SearchCallbacks,
  onTask?: (split: number, gammaIndex: number, preds: Int32Array, splits: Split[]) => void,
): Promise<EvalOutcome> {
  const splits = makeSplits(p, cv, callbacks.onWarning);
  for (const s of splits) assertFitsHeap(s.train.length, opts.cacheSize);
  const engine = new GramEngine();
  if (!engine.simd) callbacks.onWarning?.(SCALAR_FALLBACK_NOTICE);
  const preparer = new SplitPreparer(p, splits, opts, engine);
  const nG = plan.gammas ? plan.gammas.length : 1;
  const pending: { s: number; g: number }[] = [];
  const remaining = new Array<number>(splits.length).fill(0);
  for (let s = 0; s < splits.length; s++) {
    for (let g = 0; g < nG; g++) {
      if (plan.isDone?.(s, g)) continue;
      pending.push({ s, g });
      remaining[s]++;
    }
  }
  const total = pending.length;
  const predictions: Int32Array[][] = splits.map(() => new Array<Int32Array>(nG));
  const gammaOf: { gamma: number }[] = [];
  const taskIndex: { s: number; g: number }[] = [];
  let cursor = 0;
  let done = 0;
  const next = (): FoldTask | undefined => {
    if (cursor >= total) return undefined;
    const { s, g } = pending[cursor];
    const prep = preparer.get(s);
    gammaOf[s] = { gamma: prep.gamma };
    const id = cursor++;
    taskIndex[id] = { s, g };
    return {
      taskId: id,
      gram: prep.gram,
      norms: prep.norms,
      n: p.M.rows,
      T: prep.T,
      test: prep.test,
      codes: p.codes,
      kernel: opts.kernel,
      gamma: plan.gammas ? plan.gammas[g] : prep.gamma,
      Cs: plan.Cs,
      weights: prep.weights,
      tol: opts.tol,
      cacheSize: opts.cacheSize,
      shrinking: opts.shrinking,
    };
  };
  const workers = Math.max(1, Math.min(cv.workers, total));
  try {
    if (total > 0) await runTasks(workers, next, (r) => {
      const { s, g } = taskIndex[r.taskId];
      predictions[s][g] = r.predictions;
      if (--remaining[s] === 0) preparer.release(s);
      done++;
      onTask?.(s, g, r.predictions, splits);
      callbacks.onProgress?.({ tasksDone: done, tasksTotal: total });
    });
  } finally {
    engine.dispose();
  }
  return { splits, prepared: gammaOf, predictions };
}

function accuracyOf(pred: Int32Array, offset: number, test: Int32Array, codes: Int32Array): number {
  let ok = 0;
  for (let t = 0; t < test.length; t++) if (pred[offset + t] === codes[test[t]]) ok++;
  return ok / test.length;
}

/**
 * Stratified k-fold cross-validation of one SVM configuration: per-fold and mean accuracy with a
 * 95% interval, macro-F1 and the confusion matrix of the pooled out-of-fold predictions.
 */
export async function crossValidate(
  X: MatrixLike,
  y: ArrayLike<number>,
  svmOptions: SvmOptions = {},
  cvOptions: CvOptions & SearchCallbacks = {},
): Promise<CrossValidationResult> {
  const t0 = performance.now();
  const { onProgress, onWarning, ...cvRaw } = cvOptions;
  const opts = resolveSvmOptions(svmOptions);
  const cv = resolveCvOptions(cvRaw, defaultWorkers());
  const p = prepareProblem(X, y);
  checkClassesVsFolds(p, cv.folds);
  const out = await evaluate(p, opts, cv, { Cs: [opts.C], gammas: null }, { onProgress, onWarning });
  const k = p.classes.length;
  const foldAccuracies: number[] = [];
  const yTrue: number[] = [];
  const yPred: number[] = [];
  const firstRepeat = new Array<number>(p.M.rows).fill(-1);
  out.splits.forEach((split, s) => {
    const pred = out.predictions[s][0];
    foldAccuracies.push(accuracyOf(pred, 0, split.test, p.codes));
    split.test.forEach((i, t) => {
      yTrue.push(p.codes[i]);
      yPred.push(pred[t]);
      if (s < cv.folds) firstRepeat[i] = p.classes[pred[t]];
    });
  });
  const confusion = confusionMatrix(yTrue, yPred, k);
  return {
    classes: p.classes,
    folds: cv.folds,
    repeats: cv.repeats,
    shuffle: cv.shuffle,
    seed: cv.seed ?? null,
    ...foldSummary(foldAccuracies, confusion),
    predictions: firstRepeat,
    gammas: opts.kernel === 'rbf' ? out.prepared.map((g) => g.gamma) : null,
    params: opts,
    elapsedMs: performance.now() - t0,
  };
}

/**
 * Grid search over C (and gamma for RBF) by stratified k-fold accuracy. `svmOptions` fixes the
 * rest (kernel, scaler, classWeight, ...); passing C or gamma there is an error (the grid sets them).
 */
export async function gridSearch(
  X: MatrixLike,
  y: ArrayLike<number>,
  svmOptions: SvmOptions = {},
  gridOptions: GridOptions & SearchCallbacks = {},
): Promise<GridSearchResult> {
  const t0 = performance.now();
  const { onProgress, onWarning, ...raw } = gridOptions;
  checkOptions('grid search', raw, GRID_CONSTRAINTS);
  if (svmOptions.C !== undefined || svmOptions.gamma !== undefined) {
    throw new OptionsError(
      `The grid search chooses C${svmOptions.kernel === 'linear' ? '' : ' and gamma'}; do not pass them. Received ` +
        `${svmOptions.C !== undefined ? `C=${svmOptions.C} ` : ''}${svmOptions.gamma !== undefined ? `gamma=${String(svmOptions.gamma)}` : ''}.`,
      { code: 'OPTIONS_CONFLICT', suggestion: 'Drop C/gamma, or set the grid with log2C / log2Gamma.' },
    );
  }
  const opts = resolveSvmOptions(svmOptions);
  const { log2C: l2c, log2Gamma: l2g, log: logFile, resume, ...cvRaw } = raw;
  let resumedTasks = 0;
  const cv = resolveCvOptions(cvRaw, defaultWorkers());
  const log2C = [...(l2c ?? GRID_LOG2C_DEFAULT)];
  const log2Gamma = opts.kernel === 'rbf' ? [...(l2g ?? GRID_LOG2GAMMA_DEFAULT)] : null;
  if (opts.kernel === 'linear' && l2g !== undefined) {
    throw new OptionsError('log2Gamma has no effect with the linear kernel.', { code: 'OPTIONS_CONFLICT', suggestion: 'Drop log2Gamma.' });
  }
  const p = prepareProblem(X, y);
  checkClassesVsFolds(p, cv.folds);
  if (resume && !logFile) {
    throw new OptionsError('resume needs the log to resume from. Received resume=true without log.', {
      code: 'OPTIONS_CONFLICT',
      suggestion: 'Pass log (--grid-log <file>), or drop resume.',
    });
  }
  const Cs = log2C.map((e) => 2 ** e);
  const gammas = log2Gamma ? log2Gamma.map((e) => 2 ** e) : null;
  const nG = gammas ? gammas.length : 1;
  const nSplits = cv.folds * cv.repeats;
  // acc[g][c][split]
  const acc: number[][][] = Array.from({ length: nG }, () => Cs.map(() => new Array<number>(nSplits).fill(Number.NaN)));
  const splitsDone = new Array<number>(nG).fill(0);
  const table: (GridPoint | undefined)[] = new Array(Cs.length * nG);
  let best: GridPoint | undefined;
  let pointsDone = 0;
  const better = (a: GridPoint, b: GridPoint | undefined): boolean => {
    if (!b) return true;
    if (Math.abs(a.meanAccuracy - b.meanAccuracy) > 1e-12) return a.meanAccuracy > b.meanAccuracy;
    if (a.C !== b.C) return a.C < b.C;
    return (a.gamma ?? 0) < (b.gamma ?? 0);
  };
  let tasksDone = 0;
  const tasksTotal = nSplits * nG;
  const log = logFile ? GridLog.open(logFile, { M: p.M, codes: p.codes, svm: opts, cv, resume: resume ?? false }) : undefined;
  try {
    // Results read back from the log, where this grid has the same (split, gamma, C).
    const restored = new Set<number>();
    if (log) {
      for (const t of log.restored) {
        const g = log2Gamma ? log2Gamma.indexOf(t.log2Gamma ?? Number.NaN) : t.log2Gamma === null ? 0 : -1;
        if (g < 0 || t.split < 0 || t.split >= nSplits) continue;
        t.log2C.forEach((e, k) => {
          const c = log2C.indexOf(e);
          if (c >= 0) acc[g][c][t.split] = t.accuracy[k];
        });
      }
      for (let s = 0; s < nSplits; s++) for (let g = 0; g < nG; g++) if (Cs.every((_, c) => !Number.isNaN(acc[g][c][s]))) restored.add(s * nG + g);
    }
    /** One (split, gamma) task's accuracies are in acc: complete the points it finishes. */
    const taskFinished = (g: number): void => {
      tasksDone++;
      if (++splitsDone[g] < nSplits) {
        onProgress?.({ tasksDone, tasksTotal, pointsDone, pointsTotal: Cs.length * nG });
        return;
      }
      Cs.forEach((C, c) => {
        const folds = acc[g][c];
        const point: GridPoint = {
          C,
          log2C: log2C[c],
          gamma: gammas ? gammas[g] : null,
          log2Gamma: log2Gamma ? log2Gamma[g] : null,
          meanAccuracy: mean(folds),
          stdAccuracy: std(folds),
          foldAccuracies: folds,
        };
        table[c * nG + g] = point;
        if (better(point, best)) best = point;
        pointsDone++;
        onProgress?.({ tasksDone, tasksTotal, pointsDone, pointsTotal: Cs.length * nG, point, best });
      });
    };
    for (const key of [...restored].sort((a, b) => a - b)) taskFinished(key % nG);
    await evaluate(
      p,
      opts,
      cv,
      { Cs, gammas, isDone: (s, g) => restored.has(s * nG + g) },
      { onWarning },
      (s, g, preds, splits) => {
        const test = splits[s].test;
        Cs.forEach((_, c) => {
          acc[g][c][s] = accuracyOf(preds, c * test.length, test, p.codes);
        });
        log?.append({ split: s, log2Gamma: log2Gamma ? log2Gamma[g] : null, log2C, accuracy: Cs.map((_, c) => acc[g][c][s]) });
        taskFinished(g);
      },
    );
    resumedTasks = restored.size;
  } finally {
    log?.close();
  }
  // The best point from the whole table in table order, so it does not depend on completion order.
  best = undefined;
  for (const point of table) if (better(point!, best)) best = point;
  return {
    table: table as GridPoint[],
    best: best!,
    folds: cv.folds,
    repeats: cv.repeats,
    seed: cv.seed ?? null,
    tieBreak: 'smaller C, then smaller gamma',
    ...(logFile ? { resumedTasks } : {}),
    elapsedMs: performance.now() - t0,
  };
}
