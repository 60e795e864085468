/**
 * Every option of ftk's SVM, its default (stated once, here) and its validation table
 * (scikit-learn's `_parameter_constraints` habit). Commands and estimators call the resolve
 * functions; nothing else states a default.
 */
import { OptionsError } from '../errors.js';
import { KERNELS, type KernelName } from './kernel.js';
import { SCALER_KINDS, type ScalerKind } from './scaler.js';

/** 'balanced' (n / (nClasses * count)), or a weight per class label. */
export type ClassWeight = 'balanced' | Readonly<Record<string, number>> | null;

/** Options of `SvmClassifier` (a C-SVC). */
export interface SvmOptions {
  /** Kernel: 'rbf' or 'linear'. Default 'rbf'. */
  kernel?: KernelName;
  /** Penalty C > 0. Default 1. */
  C?: number;
  /**
   * RBF width: a positive number, 'scale' = 1 / (nFeatures * X.var()) of the scaled training data
   * (scikit-learn's default), or 'auto' = 1 / nFeatures. Default 'scale'. Only for 'rbf'.
   */
  gamma?: number | 'scale' | 'auto';
  /** Per-class multipliers of C: 'balanced', { label: weight }, or null (all 1). Default null. */
  classWeight?: ClassWeight;
  /** Feature scaling fitted on the training data and stored in the model. Default 'standardize'. */
  scaler?: ScalerKind;
  /**
   * Fit Platt-scaled class probabilities (libsvm's `-b 1`: a 5-fold internal cross-validation per
   * class pair, seeded by `seed`). Costs about 5 extra small fits per pair. Default false.
   */
  probability?: boolean;
  /** Seed of the probability cross-validation. Default 0. */
  seed?: number;
  /** libsvm's stopping tolerance (-e). Default 1e-3 (as scikit-learn). */
  tol?: number;
  /** libsvm's kernel cache in MB (-m). Default 100. */
  cacheSize?: number;
  /** libsvm's shrinking heuristics (-h). Default true. */
  shrinking?: boolean;
}

export type ResolvedSvmOptions = Required<SvmOptions>;

export const SVM_DEFAULTS: Readonly<ResolvedSvmOptions> = Object.freeze({
  kernel: 'rbf',
  C: 1,
  gamma: 'scale',
  classWeight: null,
  scaler: 'standardize',
  probability: false,
  seed: 0,
  tol: 1e-3,
  cacheSize: 100,
  shrinking: true,
});

/** libsvm `tools/grid.py`'s default grid, as exponents of 2. */
export const GRID_LOG2C_DEFAULT: readonly number[] = Object.freeze(range(-5, 15, 2));
export const GRID_LOG2GAMMA_DEFAULT: readonly number[] = Object.freeze(range(3, -15, -2));

/** Options of cross-validation (and of the folds of a grid search). */
export interface CvOptions {
  /** Number of stratified folds k >= 2. Default 5. */
  folds?: number;
  /** Repetitions of the k-fold with fresh shuffles. Default 1. */
  repeats?: number;
  /** Shuffle samples within each class before making folds. Default true. */
  shuffle?: boolean;
  /** Seed of the folds (only with shuffle). Default 0. */
  seed?: number;
  /** Worker threads for the folds. Default: os.availableParallelism(). */
  workers?: number;
}

export type ResolvedCvOptions = Required<Omit<CvOptions, 'seed'>> & { seed: number | undefined };

export const CV_DEFAULTS = Object.freeze({ folds: 5, repeats: 1, shuffle: true, seed: 0 });

/** Options of the grid search over C (and gamma for RBF). */
export interface GridOptions extends CvOptions {
  /** log2 of the C values. Default -5, -3, ..., 15 (libsvm grid.py). */
  log2C?: readonly number[];
  /** log2 of the gamma values (RBF). Default 3, 1, ..., -15 (libsvm grid.py). */
  log2Gamma?: readonly number[];
  /**
   * Results log: one line per finished (fold, gamma) task, appended as the search goes
   * (src/classify/grid_log.ts). Default: none.
   */
  log?: string;
  /** Reuse the finished tasks of `log` (same features and options) instead of starting over. Default false. */
  resume?: boolean;
}

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; step > 0 ? v <= to : v >= to; v += step) out.push(v);
  return out;
}

export interface Constraint {
  /** What is allowed, for the message. */
  allowed: string;
  ok: (v: unknown) => boolean;
}

export const positive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;
export const integer = (min: number) => (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;
export const bool = (v: unknown): boolean => typeof v === 'boolean';
const finiteArray = (v: unknown): boolean =>
  Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));

export const SVM_CONSTRAINTS: Readonly<Record<keyof SvmOptions, Constraint>> = {
  kernel: { allowed: `one of ${KERNELS.map((k) => `'${k}'`).join(', ')}`, ok: (v) => KERNELS.includes(v as KernelName) },
  C: { allowed: 'a positive number', ok: positive },
  gamma: { allowed: "a positive number, 'scale' or 'auto'", ok: (v) => v === 'scale' || v === 'auto' || positive(v) },
  classWeight: {
    allowed: "'balanced', null, or an object mapping class labels to positive weights",
    ok: (v) =>
      v === null ||
      v === 'balanced' ||
      (typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((w) => positive(w))),
  },
  scaler: { allowed: `one of ${SCALER_KINDS.map((k) => `'${k}'`).join(', ')}`, ok: (v) => SCALER_KINDS.includes(v as ScalerKind) },
  probability: { allowed: 'true or false', ok: bool },
  seed: { allowed: 'an integer', ok: (v) => typeof v === 'number' && Number.isInteger(v) },
  tol: { allowed: 'a positive number', ok: positive },
  cacheSize: { allowed: 'a positive number of MB', ok: positive },
  shrinking: { allowed: 'true or false', ok: bool },
};

export const CV_CONSTRAINTS: Readonly<Record<keyof CvOptions, Constraint>> = {
  folds: { allowed: 'an integer >= 2', ok: integer(2) },
  repeats: { allowed: 'an integer >= 1', ok: integer(1) },
  shuffle: { allowed: 'true or false', ok: bool },
  seed: { allowed: 'an integer', ok: (v) => typeof v === 'number' && Number.isInteger(v) },
  workers: { allowed: 'an integer >= 1', ok: integer(1) },
};

export const GRID_CONSTRAINTS: Readonly<Record<keyof GridOptions, Constraint>> = {
  ...CV_CONSTRAINTS,
  log2C: { allowed: 'a non-empty array of finite numbers', ok: finiteArray },
  log2Gamma: { allowed: 'a non-empty array of finite numbers', ok: finiteArray },
  log: { allowed: 'a file path', ok: (v) => typeof v === 'string' && v.length > 0 },
  resume: { allowed: 'true or false', ok: bool },
};

/** Checks `options` against a table: unknown keys and bad values are OptionsErrors. */
export function checkOptions<T extends object>(
  what: string,
  options: T,
  table: Readonly<Record<string, Constraint>>,
  ignore: readonly string[] = [],
): void {
  if (options === null || typeof options !== 'object') {
    throw new OptionsError(`${what} options must be an object. Received ${String(options)}.`, { code: 'OPTIONS_NOT_OBJECT' });
  }
  for (const [key, value] of Object.entries(options)) {
    if (ignore.includes(key)) continue;
    const c = table[key];
    if (!c) {
      throw new OptionsError(`Unknown ${what} option '${key}'. Allowed: ${Object.keys(table).join(', ')}.`, {
        code: 'OPTIONS_UNKNOWN',
        suggestion: 'Check the spelling; option names are camelCase (e.g. classWeight).',
      });
    }
    if (value !== undefined && !c.ok(value)) {
      throw new OptionsError(`${what} option ${key} must be ${c.allowed}. Received ${key}=${JSON.stringify(value)}.`, {
        code: 'OPTIONS_BAD_VALUE',
      });
    }
  }
}

/** Validates and fills in the SVM options. */
export function resolveSvmOptions(options: SvmOptions = {}): ResolvedSvmOptions {
  checkOptions('SVM', options, SVM_CONSTRAINTS);
  const out = { ...SVM_DEFAULTS } as ResolvedSvmOptions;
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  if (out.kernel === 'linear' && typeof options.gamma === 'number') {
    throw new OptionsError(`gamma has no effect with the linear kernel. Received kernel='linear', gamma=${options.gamma}.`, {
      code: 'OPTIONS_CONFLICT',
      suggestion: "Drop gamma, or use kernel: 'rbf'.",
    });
  }
  return out;
}

/** Validates and fills in cross-validation options. */
export function resolveCvOptions(options: CvOptions, defaultWorkers: number): ResolvedCvOptions {
  checkOptions('cross-validation', options, CV_CONSTRAINTS);
  const shuffle = options.shuffle ?? CV_DEFAULTS.shuffle;
  if (!shuffle && options.seed !== undefined) {
    throw new OptionsError(`A seed has no effect without shuffling. Received seed=${options.seed} with shuffle=false.`, {
      code: 'OPTIONS_CONFLICT',
      suggestion: 'Drop the seed, or shuffle.',
    });
  }
  if (!shuffle && (options.repeats ?? 1) > 1) {
    throw new OptionsError(`Repeated k-fold needs shuffling: without it every repeat is the same. Received repeats=${options.repeats}.`, {
      code: 'OPTIONS_CONFLICT',
      suggestion: 'Use shuffle: true (the default) or repeats: 1.',
    });
  }
  return {
    folds: options.folds ?? CV_DEFAULTS.folds,
    repeats: options.repeats ?? CV_DEFAULTS.repeats,
    shuffle,
    seed: shuffle ? (options.seed ?? CV_DEFAULTS.seed) : undefined,
    workers: options.workers ?? defaultWorkers,
  };
}
