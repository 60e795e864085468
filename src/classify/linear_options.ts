/**
 * Options of ftk's linear classifiers (`LinearSVC`, `LogisticRegression`, src/classify/linear.ts):
 * every default stated once, here, and the validation tables (scikit-learn's
 * `_parameter_constraints` habit). The grid search and cross-validation options are the SVM's
 * (`CvOptions`, `GridOptions` in options.ts).
 */
import { bool, checkOptions, integer, positive, type ClassWeight, type Constraint } from './options.js';
import { SCALER_KINDS, type ScalerKind } from './scaler.js';
import { OptionsError } from '../errors.js';

/** Options shared by both linear classifiers. */
export interface LinearOptions {
  /** Inverse regularization strength C > 0 (as scikit-learn). Default 1. */
  C?: number;
  /** Per-class multipliers of C: 'balanced', { label: weight }, or null (all 1). Default null. */
  classWeight?: ClassWeight;
  /** Feature scaling fitted on the training data and stored in the model. Default 'standardize'. */
  scaler?: ScalerKind;
  /** Learn an intercept. Default true. */
  fitIntercept?: boolean;
  /** Stopping tolerance (scikit-learn's `tol`; see each solver for what it bounds). Default 1e-4. */
  tol?: number;
  /**
   * Most passes over the data: epochs of coordinate descent (LinearSVC, scikit-learn's default
   * 1000) or L-BFGS iterations (LogisticRegression, scikit-learn's default 100). A fit that stops
   * here warns (scikit-learn's ConvergenceWarning). Default: per estimator, see
   * LINEAR_SVC_DEFAULTS / LOGISTIC_DEFAULTS.
   */
  maxIter?: number;
  /** Seed of the coordinate order (LinearSVC). Default 0. */
  seed?: number;
  /**
   * Worker threads: one binary problem per class (LinearSVC) or one slice of the rows per thread
   * for each gradient (LogisticRegression). 1 = in the calling thread. Default: all cores.
   */
  workers?: number;
}

/** Options of `LinearSVC`. */
export interface LinearSvcOptions extends LinearOptions {
  /** 'squared_hinge' (LIBLINEAR -s 1, scikit-learn's default) or 'hinge' (-s 3). Default 'squared_hinge'. */
  loss?: LinearSvcLoss;
  /** The intercept is learned as the weight of a constant feature of this value (LIBLINEAR's -B, regularized like the others). Default 1. */
  interceptScaling?: number;
  /**
   * Solve the dual (coordinate descent, one row per update: LIBLINEAR -s 1 / -s 3) or the primal
   * (L-BFGS over all one-vs-rest problems at once, each step two matrix products over the rows on
   * ONNX Runtime's SGEMM: the faster one when there are many more rows than features). 'auto' =
   * scikit-learn's rule (1.3+: the primal when n_samples >= n_features and the loss allows it,
   * i.e. the squared hinge) on data of at least MATRIX_PRODUCT_MIN_VALUES values (n x d), else
   * the dual. Both reach the same optimum. Default 'auto'.
   */
  dual?: boolean | 'auto';
}

/** Options of `LogisticRegression` (multinomial, L2 penalty). */
export type LogisticOptions = LinearOptions;

export type LinearSvcLoss = 'squared_hinge' | 'hinge';
export const LINEAR_SVC_LOSSES: readonly LinearSvcLoss[] = ['squared_hinge', 'hinge'];

export type ResolvedLinearSvcOptions = Required<Omit<LinearSvcOptions, 'workers'>> & { workers: number | null };
export type ResolvedLogisticOptions = Required<Omit<LogisticOptions, 'workers'>> & { workers: number | null };

const LINEAR_SCALERS: readonly ScalerKind[] = SCALER_KINDS.filter((k) => k !== 'sqrt-standardize');

const SHARED_DEFAULTS = {
  C: 1,
  classWeight: null,
  scaler: 'standardize' as ScalerKind,
  fitIntercept: true,
  tol: 1e-4,
  seed: 0,
  workers: null,
};

export const LINEAR_SVC_DEFAULTS: Readonly<ResolvedLinearSvcOptions> = Object.freeze({
  ...SHARED_DEFAULTS,
  maxIter: 1000,
  loss: 'squared_hinge',
  interceptScaling: 1,
  dual: 'auto',
});

export const LOGISTIC_DEFAULTS: Readonly<ResolvedLogisticOptions> = Object.freeze({
  ...SHARED_DEFAULTS,
  maxIter: 100,
});


export const LINEAR_CONSTRAINTS: Readonly<Record<keyof LinearOptions, Constraint>> = {
  C: { allowed: 'a positive number', ok: positive },
  classWeight: {
    allowed: "'balanced', null, or an object mapping class labels to positive weights",
    ok: (v) => v === null || v === 'balanced' || (typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((w) => positive(w))),
  },
  // 'sqrt-standardize' is for kernel SVMs: the linear solvers fold their scaling into the arithmetic.
  scaler: { allowed: `one of ${LINEAR_SCALERS.map((k) => `'${k}'`).join(', ')}`, ok: (v) => LINEAR_SCALERS.includes(v as ScalerKind) },
  fitIntercept: { allowed: 'true or false', ok: bool },
  tol: { allowed: 'a positive number', ok: positive },
  maxIter: { allowed: 'an integer >= 1', ok: integer(1) },
  seed: { allowed: 'an integer', ok: (v) => typeof v === 'number' && Number.isInteger(v) },
  workers: { allowed: 'an integer >= 1', ok: integer(1) },
};

export const LINEAR_SVC_CONSTRAINTS: Readonly<Record<keyof LinearSvcOptions, Constraint>> = {
  ...LINEAR_CONSTRAINTS,
  loss: { allowed: `one of ${LINEAR_SVC_LOSSES.map((k) => `'${k}'`).join(', ')}`, ok: (v) => LINEAR_SVC_LOSSES.includes(v as LinearSvcLoss) },
  interceptScaling: { allowed: 'a positive number', ok: positive },
  dual: { allowed: "true, false or 'auto'", ok: (v) => v === 'auto' || bool(v) },
};

function fill<T extends object>(defaults: T, options: object): T {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as T;
}

export function resolveLinearSvcOptions(options: LinearSvcOptions = {}): ResolvedLinearSvcOptions {
  checkOptions('LinearSVC', options, LINEAR_SVC_CONSTRAINTS);
  return fill(LINEAR_SVC_DEFAULTS, options);
}

/**
 * Rows x features from which the solvers' products over all rows run on ONNX Runtime's SGEMM
 * (float32, all cores) rather than in float64 JavaScript: below it the products take milliseconds
 * either way and the float64 path is exact to any tolerance.
 */
export const MATRIX_PRODUCT_MIN_VALUES = 1 << 20;

export function matrixProductsPay(n: number, d: number): boolean {
  return n * d >= MATRIX_PRODUCT_MIN_VALUES;
}

/**
 * Whether LinearSVC solves the dual for n rows of d features (see `dual`). The primal needs the
 * squared hinge (the hinge is not differentiable); asking for it with the hinge is refused.
 */
export function linearSvcUsesDual(o: Pick<ResolvedLinearSvcOptions, 'dual' | 'loss'>, n: number, d: number): boolean {
  if (o.dual === 'auto') return o.loss === 'hinge' || n < d || !matrixProductsPay(n, d);
  if (!o.dual && o.loss === 'hinge') {
    throw new OptionsError("LinearSVC solves the hinge loss only in the dual (dual: false needs loss 'squared_hinge').", {
      code: 'OPTIONS_CONFLICT',
      suggestion: "Use loss 'squared_hinge', or dual true / 'auto'.",
    });
  }
  return o.dual;
}

/**
 * Whether a fit of `model` on n rows of d features runs on ONNX Runtime's matrix products (all its
 * threads, the rows in a plain buffer) rather than on the worker pool (the rows in shared memory).
 */
export function fitsOnMatrixProducts(model: 'liblinear' | 'logistic', o: ResolvedLinearSvcOptions | ResolvedLogisticOptions, n: number, d: number): boolean {
  return model === 'logistic' ? matrixProductsPay(n, d) : !linearSvcUsesDual(o as ResolvedLinearSvcOptions, n, d);
}

export function resolveLogisticOptions(options: LogisticOptions = {}): ResolvedLogisticOptions {
  checkOptions('LogisticRegression', options, LINEAR_CONSTRAINTS);
  return fill(LOGISTIC_DEFAULTS, options);
}

/**
 * Which solver `ftk svm fit | cv` (and `ftk auto`) use:
 * - 'auto': libsvm's exact kernel SVM when its precomputed kernel fits libsvm-js' heap
 *   (`maxPrecomputedSamples`), else, for the linear kernel, `LinearSVC` on all rows (and says so);
 * - 'libsvm': always the exact kernel SVM (refused above the heap limit);
 * - 'liblinear': `LinearSVC` (dual coordinate descent, LIBLINEAR's algorithm), any number of rows;
 * - 'logistic': multinomial `LogisticRegression` (L-BFGS), any number of rows, with probabilities.
 */
export type SolverName = 'auto' | 'libsvm' | 'liblinear' | 'logistic';
export const SOLVERS: readonly SolverName[] = ['auto', 'libsvm', 'liblinear', 'logistic'];
export const SOLVER_DEFAULT: SolverName = 'auto';

export function checkSolver(solver: unknown): SolverName {
  if (solver === undefined) return SOLVER_DEFAULT;
  if (!SOLVERS.includes(solver as SolverName)) {
    throw new OptionsError(`solver must be one of ${SOLVERS.map((s) => `'${s}'`).join(', ')}. Received solver=${JSON.stringify(solver)}.`, {
      code: 'OPTIONS_BAD_VALUE',
    });
  }
  return solver as SolverName;
}
