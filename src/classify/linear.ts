/**
 * Linear classifiers for any number of rows: `LinearSVC` and multinomial `LogisticRegression`,
 * with scikit-learn's names, defaults and contract (constructor stores options; `fit` validates,
 * learns, returns `this`; `predict` / `decisionFunction` / `predictProba` / `score`; `toJSON` /
 * `fromJSON` / `load`).
 *
 * Memory is O(n d) (the feature matrix itself, read in place and never scaled into a copy) plus
 * O(d k): no n x n kernel, so no sample limit (the exact kernel SVM stops at libsvm-js' heap,
 * `maxPrecomputedSamples`).
 *
 * Solvers (linear_solvers.ts), and why:
 * - LinearSVC: LIBLINEAR's dual coordinate descent (Hsieh et al. 2008), one-vs-rest. Each update
 *   touches one row, so an epoch is one pass over the data; with shrinking it converges in tens of
 *   epochs on bottleneck features, needs no line search and no step size, and the k binary problems
 *   are independent: one per worker thread. (A primal L-BFGS on the squared hinge needs a pass per
 *   function evaluation and many more of them.)
 * - LogisticRegression: L-BFGS on the multinomial objective, as scikit-learn's default 'lbfgs'
 *   (the multinomial loss couples all classes, so there is no per-class split); each gradient is
 *   split into slices of rows, one per worker thread, summed in slice order: a run is
 *   deterministic for a given number of workers.
 *
 * Porting notes: LinearSVC matches scikit-learn's `LinearSVC(loss='squared_hinge', dual=True)`
 * (intercept as a regularized constant feature, class weights multiply C of the positive class in
 * each one-vs-rest problem, as LIBLINEAR); LogisticRegression matches
 * `LogisticRegression(solver='lbfgs')` multinomial (mean log-loss + |W|^2 / (2 C n)). ftk
 * standardizes inside the model by default (scaler 'standardize'), scikit-learn does not.
 *
 * @example
 *   const clf = await new LogisticRegression({ C: 1 }).fit(X, y);
 *   const proba = clf.predictProba(Xtest);
 */
import { accuracy } from './metrics.js';
import os from 'node:os';
import { promises as fsp } from 'node:fs';
import { DatasetError, NotFittedError, OptionsError } from '../errors.js';
import type { BackboneInfo } from '../formats/features.js';
import { LINEAR_MODEL_FORMAT, LINEAR_MODEL_FORMAT_VERSION, validateLinearModelJson, type LinearModelJson, type LinearModelKind } from '../formats/linear_model.js';
import { SvmModelError } from '../formats/svm_model.js';
import { fitMultinomialPath, sumPieces, type MultinomialProblem, type MultinomialSolution } from './linear_fit.js';
import type { GemmEvaluator, LinearLoss } from './linear_gemm.js';
import { LinearPool, sharedMatrix } from './linear_pool.js';
import { fitsOnMatrixProducts, linearSvcUsesDual, matrixProductsPay, resolveLinearSvcOptions, resolveLogisticOptions, type LinearSvcOptions, type LogisticOptions, type ResolvedLinearSvcOptions, type ResolvedLogisticOptions } from './linear_options.js';
import type { DcdSolution, MultinomialPieces, ScaledRows } from './linear_solvers.js';
import { prepareProblem, toLabels, toMatrix, type FeatureMatrix, type MatrixLike } from './matrix.js';
import { applyScaler, fitScaler, scalerFromJson, scalerToJson, type ScalerState } from './scaler.js';
import { resolveClassWeights } from './trainer.js';

const PREDICT_CHUNK = 1024;

export interface LinearFitCallbacks {
  /** Usable but weaker results (e.g. the solver stopped at maxIter). */
  onWarning?: (message: string) => void;
}

/** One fitted solution: weight rows (scaled space) and intercepts. */
export interface LinearSolution {
  C: number;
  coef: Float64Array[];
  intercept: Float64Array;
  iterations: number;
  converged: boolean;
}

export function defaultWorkers(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** The scaling of a fitted scaler, as the solvers fold it into their arithmetic. */
export function scaledRows(X: Float32Array, d: number, s: ScalerState): ScaledRows {
  if (s.kind === 'standardize') return { X, d, mean: s.mean, invScale: Float64Array.from(s.scale, (v) => 1 / v), rowNorm: false };
  return { X, d, mean: null, invScale: null, rowNorm: s.kind === 'l2' };
}

/** What a fit on some rows needs, shared by `fit` and the cross-validation (linear_search.ts). */
export interface LinearProblem {
  S: ScaledRows;
  rows: Int32Array;
  /** Class code of every sample of X (not only of `rows`). */
  codes: Int32Array;
  k: number;
  /** Weight per class (multiplies C / the loss), or null. */
  classWeights: Float64Array | null;
}

/**
 * Fits LinearSVC over a path of C, in the dual or the primal as `o.dual` says for these rows
 * (`linearSvcUsesDual`); the primal falls back to the dual where ONNX Runtime cannot load.
 */
export async function fitLinearSvc(p: LinearProblem, o: ResolvedLinearSvcOptions, Cs: number[], pool: LinearPool, threads: number): Promise<{ dual: boolean; solutions: LinearSolution[] }> {
  if (!linearSvcUsesDual(o, p.rows.length, p.S.d)) {
    const solutions = await fitLinearSvcPrimalPath(p, o, Cs, threads);
    if (solutions) return { dual: false, solutions };
  }
  return { dual: true, solutions: await fitLinearSvcPath(p, o, Cs, pool) };
}

/**
 * LinearSVC's binary problems, as LIBLINEAR sets them up: one per class (one-vs-rest), or one for
 * two classes (class 1 positive); class weights multiply C of the positive side, and of the
 * negative side only with two classes.
 */
function oneVsRestProblems(p: LinearProblem): { positive: number; weightPos: number; weightNeg: number }[] {
  const cw = p.classWeights;
  return (p.k === 2 ? [1] : Array.from({ length: p.k }, (_, c) => c)).map((c) => ({ positive: c, weightPos: cw ? cw[c] : 1, weightNeg: cw && p.k === 2 ? cw[0] : 1 }));
}

/** Fits LinearSVC's dual over a path of C on `pool`: one task per one-vs-rest problem. */
export async function fitLinearSvcPath(p: LinearProblem, o: ResolvedLinearSvcOptions, Cs: number[], pool: LinearPool): Promise<LinearSolution[]> {
  const results = await Promise.all(
    oneVsRestProblems(p).map(({ positive, weightPos, weightNeg }) => {
      const y = new Int8Array(p.rows.length);
      for (let s = 0; s < p.rows.length; s++) y[s] = p.codes[p.rows[s]] === positive ? 1 : -1;
      return pool.run<DcdSolution[]>({
        kind: 'dcd',
        S: p.S,
        rows: p.rows,
        y,
        weightPos,
        weightNeg,
        loss: o.loss,
        bias: o.fitIntercept ? o.interceptScaling : 0,
        tol: o.tol,
        maxIter: o.maxIter,
        seed: o.seed,
        Cs,
      });
    }),
  );
  const d = p.S.d;
  return Cs.map((C, ci) => ({
    C,
    coef: results.map((r) => r[ci].w.slice(0, d)),
    intercept: Float64Array.from(results, (r) => r[ci].w[d]),
    iterations: Math.max(...results.map((r) => r[ci].epochs)),
    converged: results.every((r) => r[ci].converged),
  }));
}

/**
 * The ONNX Runtime evaluator (linear_gemm.ts), imported when a fit needs it: it pulls in ONNX
 * Runtime and protobufjs, which `ftk svm` on small data and the CLI's start-up never load.
 */
async function gemmEvaluator(...args: [ScaledRows, Int32Array, Int32Array, number, LinearLoss, number]): Promise<GemmEvaluator> {
  const m = await import('./linear_gemm.js');
  return m.gemmEvaluator(...args);
}

/**
 * Fits `prob` over the path `Cs` with every evaluation on ONNX Runtime (linear_gemm.ts, `loss`
 * over the rows, `threads` threads); null where ONNX Runtime cannot load (the caller falls back to
 * JavaScript); other errors propagate.
 */
async function fitOnMatrixProducts(prob: MultinomialProblem, Cs: number[], loss: LinearLoss, threads: number): Promise<MultinomialSolution[] | null> {
  let gemm: GemmEvaluator;
  try {
    gemm = await gemmEvaluator(prob.S, prob.rows, prob.codes, prob.k, loss, threads);
  } catch (e) {
    if ((e as { code?: string }).code === 'ONNX_RUNTIME_UNAVAILABLE') return null;
    throw e;
  }
  try {
    return await fitMultinomialPath(prob, Cs, gemm.evaluate);
  } finally {
    await gemm.release();
  }
}

/** L-BFGS solutions (k x d weights in one array) as LinearSolutions (a weight row per output). */
function linearSolutions(sols: MultinomialSolution[], k: number, d: number): LinearSolution[] {
  return sols.map((s) => ({
    C: s.C,
    coef: Array.from({ length: k }, (_, c) => s.W.slice(c * d, (c + 1) * d)),
    intercept: s.b,
    iterations: s.iterations,
    converged: s.converged,
  }));
}

/**
 * Fits LogisticRegression over a path of C. On data of at least MATRIX_PRODUCT_MIN_VALUES values the gradient's two products over the rows run on ONNX
 * Runtime's SGEMM with `threads` threads (linear_gemm.ts); where ONNX Runtime cannot load, the
 * JavaScript loss runs instead: `split`: on slices of rows, one per worker of `pool` (a full
 * fit), summed in slice order; otherwise the whole path as one task (a cross-validation fold, while
 * other folds use the other threads).
 */
export async function fitLogisticPath(p: LinearProblem, o: ResolvedLogisticOptions, Cs: number[], pool: LinearPool, split: boolean, threads = pool.size): Promise<LinearSolution[]> {
  const prob: MultinomialProblem = { S: p.S, rows: p.rows, codes: new Int32Array(0), classWeights: p.classWeights, k: p.k, fitIntercept: o.fitIntercept, tol: o.tol, maxIter: o.maxIter };
  prob.codes = Int32Array.from(p.rows, (i) => p.codes[i]);
  const sols = (matrixProductsPay(p.rows.length, p.S.d) ? await fitOnMatrixProducts(prob, Cs, { kind: 'softmax', classWeights: p.classWeights }, threads) : null) ?? (await fitInJavaScript());
  return linearSolutions(sols, p.k, p.S.d);

  async function fitInJavaScript(): Promise<MultinomialSolution[]> {
    if (!split) return pool.run<MultinomialSolution[]>({ kind: 'multinomial', ...prob, Cs });
    const parts = Math.max(1, Math.min(pool.size, Math.ceil(p.rows.length / 256)));
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * p.rows.length) / parts));
    return fitMultinomialPath(prob, Cs, async (V, Vm, b) => {
      const pieces = await Promise.all(
        bounds.slice(0, -1).map((start, i) =>
          pool.run<MultinomialPieces>({ kind: 'chunk', S: p.S, rows: prob.rows, codes: prob.codes, classWeights: p.classWeights, k: p.k, V, Vm, b, start, end: bounds[i + 1] }),
        ),
      );
      return sumPieces(pieces);
    });
  }
}

/**
 * Fits LinearSVC's primal problem (dual: false) over a path of C: every one-vs-rest problem at
 * once, min sum_j [ |w_j|^2 / 2 + C sum_i c_ij max(0, 1 - y_ij w_j.x_i)^2 ], the intercept the
 * regularized weight of a constant feature (as the dual and LIBLINEAR -s 2), by L-BFGS with the
 * gradient's products on ONNX Runtime's SGEMM. Null when ONNX Runtime cannot load.
 */
export async function fitLinearSvcPrimalPath(p: LinearProblem, o: ResolvedLinearSvcOptions, Cs: number[], threads: number): Promise<LinearSolution[] | null> {
  const problems = oneVsRestProblems(p);
  const loss: LinearLoss = {
    kind: 'squared-hinge',
    positive: Int32Array.from(problems, (q) => q.positive),
    weightPos: Float64Array.from(problems, (q) => q.weightPos),
    weightNeg: Float64Array.from(problems, (q) => q.weightNeg),
  };
  const prob: MultinomialProblem = {
    S: p.S,
    rows: p.rows,
    codes: Int32Array.from(p.rows, (i) => p.codes[i]),
    classWeights: null,
    k: problems.length,
    fitIntercept: o.fitIntercept,
    interceptScaling: o.interceptScaling,
    penalizeIntercept: true,
    tol: o.tol,
    maxIter: o.maxIter,
  };
  const sols = await fitOnMatrixProducts(prob, Cs, loss, threads);
  return sols && linearSolutions(sols, problems.length, p.S.d);
}

/** Decision values of rows of X (raw features) under a solution and a scaler: out[r * m + j]. */
export function linearDecisions(X: Float32Array, rowsIdx: ArrayLike<number> | null, nRows: number, d: number, scaler: ScalerState, coef: Float64Array[], intercept: Float64Array): Float64Array {
  const m = coef.length;
  const out = new Float64Array(nRows * m);
  const buf = new Float32Array(Math.min(PREDICT_CHUNK, nRows) * d);
  for (let r0 = 0; r0 < nRows; r0 += PREDICT_CHUNK) {
    const rows = Math.min(PREDICT_CHUNK, nRows - r0);
    const chunk = buf.subarray(0, rows * d);
    for (let r = 0; r < rows; r++) {
      const src = (rowsIdx ? rowsIdx[r0 + r] : r0 + r) * d;
      chunk.set(X.subarray(src, src + d), r * d);
    }
    const Xs = applyScaler(scaler, chunk, rows, d);
    for (let r = 0; r < rows; r++) {
      const o = r * d;
      for (let j = 0; j < m; j++) {
        const w = coef[j];
        let s = intercept[j];
        for (let k = 0; k < d; k++) s += w[k] * Xs[o + k];
        out[(r0 + r) * m + j] = s;
      }
    }
  }
  return out;
}

/** Class code of each row from decision values (m = 1: binary, positive = code 1). */
export function codesFromDecisions(dec: Float64Array, m: number): Int32Array {
  const n = dec.length / m;
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    if (m === 1) {
      out[r] = dec[r] > 0 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let j = 1; j < m; j++) if (dec[r * m + j] > dec[r * m + best]) best = j;
    out[r] = best;
  }
  return out;
}

abstract class LinearModel<O extends LinearSvcOptions | LogisticOptions, R extends ResolvedLinearSvcOptions | ResolvedLogisticOptions> {
  readonly options: Readonly<O>;
  abstract readonly kind: LinearModelKind;
  /** Class labels, ascending. */
  classes_?: number[];
  nFeaturesIn_?: number;
  /** Weight rows in the scaled space (one for a two-class LinearSVC). */
  coef_?: Float64Array[];
  intercept_?: Float64Array;
  scaler_?: ScalerState;
  classWeight_?: Float64Array | null;
  params_?: R;
  nSamplesFit_?: number;
  /** Epochs (LinearSVC, the most of its binary problems) or L-BFGS iterations of the last fit. */
  nIter_?: number;
  converged_?: boolean;
  classNames?: string[];
  backbone?: BackboneInfo;
  gridSearch?: LinearModelJson['gridSearch'];

  constructor(options: O = {} as O) {
    this.options = Object.freeze({ ...options }) as Readonly<O>;
  }

  protected abstract resolve(): R;
  protected abstract solve(p: LinearProblem, opts: R, pool: LinearPool): Promise<LinearSolution>;
  protected abstract get trainer(): string;

  /**
   * Learns from X (n x d) and labels y. X is read in place: by ONNX Runtime's products on large
   * data (from a plain ArrayBuffer; a shared one is copied once), else by the worker threads (from
   * a SharedArrayBuffer, as loadFeatures(prefix, { shared: true }) loads it; else copied there
   * once). Returns `this`.
   */
  async fit(X: MatrixLike, y: ArrayLike<number>, callbacks: LinearFitCallbacks = {}): Promise<this> {
    const opts = this.resolve();
    const { M, classes, codes, counts } = prepareProblem(X, y);
    const { rows: n, cols: d } = M;
    const workers = opts.workers ?? defaultWorkers();
    // Only the dual's worker threads read the rows from shared memory (ONNX Runtime cannot).
    const data = workers > 1 && !fitsOnMatrixProducts(this.kind === 'logistic' ? 'logistic' : 'liblinear', opts, n, d) ? sharedMatrix(M.data) : M.data;
    const scaler = fitScaler(opts.scaler, data, n, d);
    const weights = resolveClassWeights(opts.classWeight, classes, counts);
    const pool = new LinearPool(workers);
    let sol: LinearSolution;
    try {
      sol = await this.solve({ S: scaledRows(data, d, scaler), rows: Int32Array.from({ length: n }, (_, i) => i), codes, k: classes.length, classWeights: weights }, opts, pool);
    } finally {
      await pool.close();
    }
    if (!sol.converged) {
      callbacks.onWarning?.(
        `${this.constructor.name} stopped at maxIter=${opts.maxIter} before reaching tol=${opts.tol} (C=${opts.C}): the result is usable but not optimal. Raise maxIter, or lower C.`,
      );
    }
    this.classes_ = classes;
    this.nFeaturesIn_ = d;
    this.coef_ = sol.coef;
    this.intercept_ = sol.intercept;
    this.scaler_ = scaler;
    this.classWeight_ = weights;
    this.params_ = opts;
    this.nSamplesFit_ = n;
    this.nIter_ = sol.iterations;
    this.converged_ = sol.converged;
    return this;
  }

  /**
   * Decision values per sample: one per class (scikit-learn's `decision_function`; a two-class
   * LinearSVC gives one value, > 0 for classes_[1]).
   */
  decisionFunction(X: MatrixLike): Float64Array[] {
    const M = this.checkX(X);
    const m = this.coef_!.length;
    const dec = linearDecisions(M.data, null, M.rows, M.cols, this.scaler_!, this.coef_!, this.intercept_!);
    return Array.from({ length: M.rows }, (_, r) => dec.slice(r * m, (r + 1) * m));
  }

  /** Predicted labels. */
  predict(X: MatrixLike): number[] {
    const M = this.checkX(X);
    const m = this.coef_!.length;
    const dec = linearDecisions(M.data, null, M.rows, M.cols, this.scaler_!, this.coef_!, this.intercept_!);
    return Array.from(codesFromDecisions(dec, m), (c) => this.classes_![c]);
  }

  /** Whether `predictProba` is available (LogisticRegression). */
  get hasProbabilities(): boolean {
    return this.kind === 'logistic';
  }

  /** Class probabilities per sample, columns in `classes_` order (LogisticRegression only). */
  predictProba(X: MatrixLike): Float64Array[] {
    if (this.kind !== 'logistic') {
      throw new NotFittedError('LinearSVC has no class probabilities (as scikit-learn).', {
        code: 'SVM_NO_PROBABILITY',
        suggestion: 'Use LogisticRegression (ftk svm fit --solver logistic), or the kernel SVM with probability: true.',
      });
    }
    return this.decisionFunction(X).map((z) => {
      let max = -Infinity;
      for (const v of z) max = Math.max(max, v);
      let sum = 0;
      const p = z.map((v) => {
        const e = Math.exp(v - max);
        sum += e;
        return e;
      });
      for (let i = 0; i < p.length; i++) p[i] /= sum;
      return p;
    });
  }

  /** Accuracy on (X, y). */
  score(X: MatrixLike, y: ArrayLike<number>): number {
    const pred = this.predict(X);
    return accuracy(pred, toLabels(y, pred.length));
  }

  toJSON(): LinearModelJson {
    this.fitted();
    const s = this.scaler_!;
    return {
      format: LINEAR_MODEL_FORMAT,
      formatVersion: LINEAR_MODEL_FORMAT_VERSION,
      model: this.kind,
      C: this.params_!.C,
      classes: [...this.classes_!],
      ...(this.classNames ? { classNames: [...this.classNames] } : {}),
      nFeatures: this.nFeaturesIn_!,
      scaler: scalerToJson(s),
      coef: this.coef_!.map((w) => Array.from(w)),
      intercept: Array.from(this.intercept_!),
      classWeight: this.classWeight_ ? Array.from(this.classWeight_) : null,
      params: { ...this.params_! },
      training: { nSamples: this.nSamplesFit_ ?? 0, createdAt: new Date().toISOString(), trainer: this.trainer, iterations: this.nIter_ ?? 0, converged: this.converged_ ?? true },
      ...(this.backbone ? { backbone: this.backbone } : {}),
      ...(this.gridSearch ? { gridSearch: this.gridSearch } : {}),
    };
  }

  /** Nothing to free (plain typed arrays); present for the estimator contract. */
  dispose(): void {}

  protected restore(m: LinearModelJson): void {
    this.classes_ = [...m.classes];
    this.classNames = m.classNames ? [...m.classNames] : undefined;
    this.nFeaturesIn_ = m.nFeatures;
    this.coef_ = m.coef.map((r) => Float64Array.from(r));
    this.intercept_ = Float64Array.from(m.intercept);
    this.scaler_ = scalerFromJson(m.scaler);
    this.classWeight_ = m.classWeight ? Float64Array.from(m.classWeight) : null;
    this.params_ = { ...(m.params as object), C: m.C, scaler: m.scaler.kind } as R;
    this.nSamplesFit_ = m.training?.nSamples;
    this.nIter_ = m.training?.iterations;
    this.converged_ = m.training?.converged;
    this.backbone = m.backbone;
    this.gridSearch = m.gridSearch;
  }

  protected fitted(): this {
    if (!this.classes_ || !this.coef_) {
      throw new NotFittedError(`This ${this.constructor.name} is not fitted yet.`, {
        code: 'NOT_FITTED',
        suggestion: 'Call fit(X, y) (or loadLinearModel(path)) before predicting.',
      });
    }
    return this;
  }

  private checkX(X: MatrixLike): FeatureMatrix {
    this.fitted();
    const M = toMatrix(X);
    if (M.cols !== this.nFeaturesIn_) {
      throw new DatasetError(`X has ${M.cols} features, but this model was fitted on ${this.nFeaturesIn_}.`, {
        code: 'SVM_FEATURE_COUNT',
        suggestion: 'Use features from the same backbone and layer as the training features.',
      });
    }
    return M;
  }
}

/** Linear SVM, one-vs-rest, LIBLINEAR's dual coordinate descent (scikit-learn `LinearSVC`). */
export class LinearSVC extends LinearModel<LinearSvcOptions, ResolvedLinearSvcOptions> {
  readonly kind = 'linear-svc' as const;
  protected resolve(): ResolvedLinearSvcOptions {
    return resolveLinearSvcOptions(this.options);
  }
  protected get trainer(): string {
    return this.dual_ === false
      ? 'ftk LinearSVC: primal L-BFGS (products on ONNX Runtime), one-vs-rest'
      : 'ftk LinearSVC: dual coordinate descent (LIBLINEAR algorithm), one-vs-rest';
  }
  protected async solve(p: LinearProblem, opts: ResolvedLinearSvcOptions, pool: LinearPool): Promise<LinearSolution> {
    const sol = await fitLinearSvc(p, opts, [opts.C], pool, pool.size);
    this.dual_ = sol.dual;
    return sol.solutions[0];
  }
  /** Whether the last fit solved the dual (coordinate descent) or the primal (L-BFGS); see `dual`. */
  dual_?: boolean;
}

/** Multinomial logistic regression, L2 penalty, L-BFGS (scikit-learn `LogisticRegression`). */
export class LogisticRegression extends LinearModel<LogisticOptions, ResolvedLogisticOptions> {
  readonly kind = 'logistic' as const;
  protected resolve(): ResolvedLogisticOptions {
    return resolveLogisticOptions(this.options);
  }
  protected get trainer(): string {
    // Large data runs the products on ONNX Runtime (fitLogisticPath); small data stays in JavaScript.
    return `ftk LogisticRegression: multinomial, L-BFGS${matrixProductsPay(this.nSamplesFit_ ?? 0, this.nFeaturesIn_ ?? 0) ? ' (products on ONNX Runtime)' : ''}`;
  }
  protected async solve(p: LinearProblem, opts: ResolvedLogisticOptions, pool: LinearPool): Promise<LinearSolution> {
    return (await fitLogisticPath(p, opts, [opts.C], pool, true))[0];
  }
}

export type LinearClassifier = LinearSVC | LogisticRegression;

/** A fitted linear classifier from ftk's linear model format (validated). */
export function linearFromJSON(json: unknown, source = 'model.json'): LinearClassifier {
  const m = validateLinearModelJson(json, source);
  const clf = m.model === 'logistic' ? new LogisticRegression({ C: m.C }) : new LinearSVC({ C: m.C });
  (clf as unknown as { restore(m: LinearModelJson): void }).restore(m);
  return clf;
}

/** Reads a linear model file. */
export async function loadLinearModel(path: string): Promise<LinearClassifier> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    throw new SvmModelError(`Model ${path} cannot be read: ${(e as Error).message}`, { code: 'SVM_MODEL_MISSING', suggestion: 'Check the path.', cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SvmModelError(`Model ${path} is not valid JSON: ${(e as Error).message}.`, { code: 'SVM_MODEL_INVALID', suggestion: 'Fit the model again.', cause: e });
  }
  return linearFromJSON(json, path);
}

/** Throws unless `kind` names a linear model. */
export function linearModelFor(kind: 'liblinear' | 'logistic', options: LinearSvcOptions | LogisticOptions): LinearClassifier {
  if (kind === 'logistic') {
    const { loss, interceptScaling, ...rest } = options as LinearSvcOptions;
    if (loss !== undefined || interceptScaling !== undefined) {
      throw new OptionsError('loss and interceptScaling are LinearSVC options.', { code: 'OPTIONS_CONFLICT', suggestion: 'Drop them, or use solver liblinear.' });
    }
    return new LogisticRegression(rest);
  }
  return new LinearSVC(options);
}
