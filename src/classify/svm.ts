/**
 * `SvmClassifier`: a C-support vector classifier on bottleneck features, in scikit-learn's habit
 * (`sklearn.svm.SVC`): the constructor stores options, `fit` validates, learns and returns `this`,
 * predicting before `fit` throws `NotFittedError`.
 *
 * How it works, and what it costs:
 * - The features are scaled inside the model (`scaler`, fitted on the training data only).
 * - The Gram matrix X X^T is computed once with ftk's WebAssembly SIMD kernel (`gram.ts`); the
 *   RBF or linear kernel is derived from it and handed to libsvm-js in precomputed-kernel mode,
 *   so libsvm's solver never computes a kernel value itself. Fit on 1000x1280 features: about
 *   0.2 s where scikit-learn's SVC takes about 0.4-0.5 s (bench/svm/run.ts).
 * - Memory: the kernel is n x (n+2) x 16 bytes inside libsvm-js's heap, which stops at 2 GiB:
 *   about 10,000 training samples at most; beyond that `fit` refuses before allocating.
 * - libsvm's model is read into JS and its memory freed at once; predictions are one matrix product
 *   against the support vectors plus the one-vs-one vote, all in JS. `dispose()` drops the
 *   matrix engine's memory.
 * - Multi-class is one-vs-one (libsvm): predictions by vote, `decisionFunction` in scikit-learn's
 *   'ovr' shape by default (or 'ovo'), probabilities by Platt scaling + pairwise coupling.
 *
 * Porting notes (differences from scikit-learn's SVC):
 * - kernels: 'linear' and 'rbf' only; default scaler 'standardize' (SVC has none: use
 *   `scaler: 'none'` for SVC's exact behaviour);
 * - the kernel is computed in float32 (SVC: float64); decision values agree to about 1e-5 relative;
 * - probability: libsvm's algorithm with ftk's seeded permutation, so probA/probB differ from
 *   scikit-learn's random_state-seeded ones (predict_proba agrees to about 0.05; given the same
 *   probA/probB it agrees to 1e-9).
 *
 * ```ts
 * const clf = await new SvmClassifier({ C: 10, gamma: 'scale' }).fit(X, y);
 * const labels = clf.predict(Xtest);
 * await fs.writeFile('model.json', JSON.stringify(clf.toJSON()));
 * const again = SvmClassifier.fromJSON(JSON.parse(await fs.readFile('model.json', 'utf8')));
 * clf.dispose();
 * ```
 */
import { accuracy } from './metrics.js';
import { promises as fsp } from 'node:fs';
import { DatasetError, NotFittedError, OptionsError } from '../errors.js';
import {
  SVM_MODEL_FORMAT,
  SVM_MODEL_FORMAT_VERSION,
  SvmModelError,
  decodeFloat32,
  encodeFloat32,
  validateSvmModelJson,
  type SvmModelJson,
} from '../formats/svm_model.js';
import type { BackboneInfo } from '../formats/features.js';
import { validateCalibrationJson, validateUnknownDetectorJson, type CalibrationJson, type UnknownDetectorJson } from '../formats/trust.js';
import { applyCalibration } from '../trust/calibrate.js';
import { GramEngine, SCALAR_FALLBACK_NOTICE } from './gram.js';
import { Libsvm, assertFitsHeap } from './libsvm.js';
import { prepareProblem, sortByClass, toLabels, toMatrix, type FeatureMatrix, type MatrixLike } from './matrix.js';
import { machines, ovrFromPairs, pairDecisions, probabilities, vote, type OvoMachines } from './ovo.js';
import { resolveSvmOptions, type ResolvedSvmOptions, type SvmOptions } from './options.js';
import { applyScaler, fitScaler, overallVariance, scalerFromJson, scalerToJson, type ScalerState } from './scaler.js';
import { plattPairs, resolveClassWeights, trainPositions, writeKernel, type SolverParams } from './trainer.js';
import type { KernelSpec } from './kernel.js';

export interface FitCallbacks {
  /** Told when the result is usable but weaker. */
  onWarning?: (message: string) => void;
}

export interface DecisionOptions {
  /** 'ovr' (default, scikit-learn's default shape: k columns) or 'ovo' (k(k-1)/2 columns). Binary: 1 column, positive = classes_[1]. */
  shape?: 'ovr' | 'ovo';
}

const TRAINER = 'ftk precomputed-kernel C-SVC on libsvm-js 0.2.1 (libsvm 3.22)';
const PREDICT_CHUNK = 1024;

export class SvmClassifier {
  /** The options as given to the constructor (validated by `fit`). */
  readonly options: Readonly<SvmOptions>;

  /** Class labels, ascending. */
  classes_?: number[];
  /** Input dimension. */
  nFeaturesIn_?: number;
  /** Support vectors in the scaled space, [l, nFeaturesIn_] row-major, grouped by class. */
  supportVectors_?: Float32Array;
  /** Training index of each support vector. */
  support_?: Int32Array;
  /** Support vectors per class. */
  nSupport_?: Int32Array;
  /** libsvm's dual coefficients, (k-1) x l. */
  dualCoef_?: Float64Array;
  /** libsvm's rho per pair (decision = sum - rho); scikit-learn's `_intercept_` is -rho. */
  rho_?: Float64Array;
  /** Platt parameters per pair (with `probability: true`). */
  probA_?: Float64Array;
  /** Why `fit` was asked for probabilities and kept none (an inverted Platt sigmoid), if it did. */
  probabilityDropped_?: string;
  probB_?: Float64Array;
  /** The gamma used (resolved from 'scale'/'auto'); undefined for linear. */
  gamma_?: number;
  /** Weight multiplying C for each class, or null. */
  classWeight_?: Float64Array | null;
  /** The fitted scaler. */
  scaler_?: ScalerState;
  /** Options after defaults, as used by the last `fit`. */
  params_?: ResolvedSvmOptions;
  /** Number of training samples. */
  nSamplesFit_?: number;
  /** Class names (when known), same order as `classes_`. */
  classNames?: string[];
  /** Backbone that produced the training features (when known): saved with the model. */
  backbone?: BackboneInfo;
  /** Summary of the grid search that chose C and gamma (when one did): saved with the model. */
  gridSearch?: SvmModelJson['gridSearch'];
  /** Calibration applied by `predictProba` on top of libsvm's probabilities (src/trust/calibrate.ts): saved with the model. */
  calibration?: CalibrationJson;
  /** Unknown detector over the training features (src/trust/ood.ts): saved with the model, used by `ftk predict`. */
  unknown?: UnknownDetectorJson;

  private engine: GramEngine | null = null;
  private svNorms: Float64Array | null = null;
  private ovo: OvoMachines | null = null;

  constructor(options: SvmOptions = {}) {
    this.options = Object.freeze({ ...options });
  }

  /** Learns from X (n x d) and labels y (n numbers, at least 2 distinct). Returns `this`. */
  async fit(X: MatrixLike, y: ArrayLike<number>, callbacks: FitCallbacks = {}): Promise<this> {
    const opts = resolveSvmOptions(this.options);
    const { M, classes, codes, counts } = prepareProblem(X, y);
    const minCount = Math.min(...counts);
    if (opts.probability && minCount < 5) {
      callbacks.onWarning?.(
        `Class ${classes[counts.indexOf(minCount)]} has only ${minCount} samples: the 5-fold probability calibration will be rough. Add samples or skip probability.`,
      );
    }
    assertFitsHeap(M.rows, opts.cacheSize);
    const lib = await Libsvm.load();
    const engine = this.getEngine();
    if (!engine.simd) callbacks.onWarning?.(SCALAR_FALLBACK_NOTICE);
    const { rows: n, cols: d } = M;
    const scaler = fitScaler(opts.scaler, M.data, n, d);
    const Xs = applyScaler(scaler, M.data, n, d);
    const gamma = resolveGamma(opts, Xs, d, null);
    const spec: KernelSpec = { kernel: opts.kernel, gamma: gamma ?? 0 };
    const dots = engine.gram(Xs, n, d);
    const norms = engine.selfDots(Xs, n, d);
    const T = sortByClass(codes);
    const weights = resolveClassWeights(opts.classWeight, classes, counts);
    const solver: SolverParams = { C: opts.C, weights, tol: opts.tol, cacheSize: opts.cacheSize, shrinking: opts.shrinking };
    const block = lib.createBlock(n, opts.cacheSize);
    let raw;
    let prob: { probA: Float64Array; probB: Float64Array } | null = null;
    try {
      writeKernel(block, spec, { dots, ld: n, norms }, T);
      const all = Int32Array.from({ length: n }, (_, i) => i);
      raw = trainPositions(block, all, T, codes, solver);
      if (opts.probability) prob = plattPairs(block, T, codes, classes.length, solver, opts.seed);
    } finally {
      block.dispose();
    }
    const l = raw.svRows.length;
    const sv = new Float32Array(l * d);
    const support = new Int32Array(l);
    for (let s = 0; s < l; s++) {
      const idx = T[raw.svRows[s]];
      support[s] = idx;
      sv.set(Xs.subarray(idx * d, idx * d + d), s * d);
    }
    // libsvm numbered the classes in ascending code order because rows were sorted by class.
    for (let c = 0; c < raw.labels.length; c++) {
      if (raw.labels[c] !== c) throw new Error(`internal: libsvm class order ${raw.labels.join(',')} is not ascending`);
    }
    this.classes_ = classes;
    this.nFeaturesIn_ = d;
    this.supportVectors_ = sv;
    this.support_ = support;
    this.nSupport_ = raw.nSV;
    this.dualCoef_ = raw.coef;
    this.rho_ = raw.rho;
    // Platt's sigmoid P(first class) = 1 / (1 + exp(A f + B)) needs A < 0: the out-of-fold decision
    // values it is fitted on must rank the pair the right way round. On a handful of images with a
    // tiny C they can rank it backwards (A > 0); those probabilities would contradict the model's
    // own decisions (every argmax flipped), so the model keeps no probabilities and says why.
    const inverted = prob ? Array.from(prob.probA).filter((a) => !(a < 0)).length : 0;
    this.probabilityDropped_ =
      inverted > 0
        ? `Platt scaling failed on ${inverted} of ${prob!.probA.length} class pair(s): its out-of-fold decision values ranked the classes backwards (sigmoid slope A >= 0, C=${opts.C}); the model predicts by its decision function, without probabilities`
        : undefined;
    this.probA_ = inverted ? undefined : prob?.probA;
    this.probB_ = inverted ? undefined : prob?.probB;
    this.gamma_ = gamma ?? undefined;
    this.classWeight_ = weights;
    this.scaler_ = scaler;
    this.params_ = opts;
    this.nSamplesFit_ = n;
    this.svNorms = null;
    this.ovo = null;
    return this;
  }

  /** Predicted labels (libsvm's one-vs-one vote). */
  predict(X: MatrixLike): number[] {
    const classes = this.fitted().classes_!;
    const k = classes.length;
    const out: number[] = [];
    const votes = new Int32Array(k);
    this.forEachDecision(X, (dec) => out.push(classes[vote(k, dec, votes)]));
    return out;
  }

  /** Decision values per sample (see `DecisionOptions` for the shapes and signs). */
  decisionFunction(X: MatrixLike, options: DecisionOptions = {}): Float64Array[] {
    const shape = options.shape ?? 'ovr';
    if (shape !== 'ovr' && shape !== 'ovo') {
      throw new OptionsError(`decisionFunction shape must be 'ovr' or 'ovo'. Received shape=${JSON.stringify(shape)}.`, { code: 'OPTIONS_BAD_VALUE' });
    }
    const k = this.fitted().classes_!.length;
    const out: Float64Array[] = [];
    this.forEachDecision(X, (dec) => {
      if (k === 2) out.push(Float64Array.of(-dec[0]));
      else if (shape === 'ovo') out.push(Float64Array.from(dec));
      else {
        const row = new Float64Array(k);
        ovrFromPairs(k, dec, row);
        out.push(row);
      }
    });
    return out;
  }

  /**
   * Class probabilities per sample (columns in `classes_` order); needs `probability: true`.
   * Calibrated by `calibration` when the model has one, unless `raw: true`.
   */
  predictProba(X: MatrixLike, options: { raw?: boolean } = {}): Float64Array[] {
    this.fitted();
    if (!this.probA_ || !this.probB_) {
      throw new NotFittedError('predictProba needs a model fitted with probability: true.', {
        code: 'SVM_NO_PROBABILITY',
        suggestion: 'Fit again with probability: true (ftk svm fit --probability).',
      });
    }
    const k = this.classes_!.length;
    const A = this.probA_;
    const B = this.probB_;
    const out: Float64Array[] = [];
    this.forEachDecision(X, (dec) => {
      const row = new Float64Array(k);
      probabilities(k, dec, A, B, row);
      out.push(row);
    });
    return options.raw || !this.calibration ? out : applyCalibration(this.calibration, out);
  }

  /** Accuracy on (X, y). */
  score(X: MatrixLike, y: ArrayLike<number>): number {
    const pred = this.predict(X);
    return accuracy(pred, toLabels(y, pred.length));
  }

  /** ftk's model format (src/formats/svm_model.ts): everything needed to predict, no libsvm. */
  toJSON(): SvmModelJson {
    this.fitted();
    const k = this.classes_!.length;
    const l = this.support_!.length;
    const d = this.nFeaturesIn_!;
    const s = this.scaler_!;
    const opts = this.params_!;
    const dualCoef: number[][] = [];
    for (let j = 0; j < k - 1; j++) dualCoef.push(Array.from(this.dualCoef_!.subarray(j * l, (j + 1) * l)));
    return {
      format: SVM_MODEL_FORMAT,
      formatVersion: SVM_MODEL_FORMAT_VERSION,
      kernel: opts.kernel,
      gamma: this.gamma_ ?? null,
      C: opts.C,
      classes: [...this.classes_!],
      ...(this.classNames ? { classNames: [...this.classNames] } : {}),
      nFeatures: d,
      scaler: scalerToJson(s),
      nSupport: Array.from(this.nSupport_!),
      supportVectors: encodeFloat32(this.supportVectors_!, [l, d]),
      supportIndices: Array.from(this.support_!),
      dualCoef,
      rho: Array.from(this.rho_!),
      probA: this.probA_ ? Array.from(this.probA_) : null,
      probB: this.probB_ ? Array.from(this.probB_) : null,
      classWeight: this.classWeight_ ? Array.from(this.classWeight_) : null,
      params: { ...opts },
      training: { nSamples: this.nSamplesFit_ ?? 0, createdAt: new Date().toISOString(), trainer: TRAINER },
      ...(this.backbone ? { backbone: this.backbone } : {}),
      ...(this.gridSearch ? { gridSearch: this.gridSearch } : {}),
      ...(this.calibration ? { calibration: this.calibration } : {}),
      ...(this.unknown ? { unknown: this.unknown } : {}),
    };
  }

  /** A fitted classifier from ftk's model format (validated). */
  static fromJSON(json: unknown, source = 'model.json'): SvmClassifier {
    const m = validateSvmModelJson(json, source);
    const p = m.params as Partial<ResolvedSvmOptions>;
    const clf = new SvmClassifier({ kernel: m.kernel, C: m.C, ...(m.kernel === 'rbf' ? { gamma: m.gamma! } : {}) });
    const k = m.classes.length;
    const l = m.supportVectors.shape[0];
    clf.classes_ = [...m.classes];
    clf.classNames = m.classNames ? [...m.classNames] : undefined;
    clf.nFeaturesIn_ = m.nFeatures;
    clf.supportVectors_ = decodeFloat32(m.supportVectors, source);
    clf.support_ = Int32Array.from(m.supportIndices ?? []);
    clf.nSupport_ = Int32Array.from(m.nSupport);
    const coef = new Float64Array((k - 1) * l);
    m.dualCoef.forEach((row, j) => coef.set(row, j * l));
    clf.dualCoef_ = coef;
    clf.rho_ = Float64Array.from(m.rho);
    clf.probA_ = m.probA ? Float64Array.from(m.probA) : undefined;
    clf.probB_ = m.probB ? Float64Array.from(m.probB) : undefined;
    clf.gamma_ = m.kernel === 'rbf' ? m.gamma! : undefined;
    clf.classWeight_ = m.classWeight ? Float64Array.from(m.classWeight) : null;
    clf.scaler_ = scalerFromJson(m.scaler);
    clf.params_ = { ...resolveLoose(p), kernel: m.kernel, C: m.C, scaler: m.scaler.kind };
    clf.nSamplesFit_ = m.training?.nSamples;
    clf.backbone = m.backbone;
    clf.gridSearch = m.gridSearch;
    if (m.calibration !== undefined) clf.calibration = validateCalibrationJson(m.calibration, source);
    if (m.unknown !== undefined) clf.unknown = validateUnknownDetectorJson(m.unknown, source);
    return clf;
  }

  /** Reads a model file written with `JSON.stringify(clf.toJSON())`. */
  static async load(path: string): Promise<SvmClassifier> {
    let text: string;
    try {
      text = await fsp.readFile(path, 'utf8');
    } catch (e) {
      throw new SvmModelError(`SVM model ${path} cannot be read: ${(e as Error).message}`, {
        code: 'SVM_MODEL_MISSING',
        suggestion: 'Check the path; models are written by `ftk svm fit --out model.json`.',
        cause: e,
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      if (/^\s*svm_type\s/.test(text)) {
        throw new SvmModelError(`SVM model ${path} is a libsvm text model (svm-train output); ftk reads its own JSON format.`, {
          code: 'SVM_MODEL_INVALID',
          suggestion: 'Fit the model with `ftk svm fit --out model.json` on features from `ftk bottleneck extract`.',
          cause: e,
        });
      }
      const nan = /\b(NaN|-?Infinity)\b/.test(text) ? ' (it holds NaN or Infinity, which JSON does not allow: the model was edited or written by another tool)' : '';
      throw new SvmModelError(`SVM model ${path} is not valid JSON: ${(e as Error).message}${nan}.`, {
        code: 'SVM_MODEL_INVALID',
        suggestion: 'Fit the model again (`ftk svm fit --out model.json`).',
        cause: e,
      });
    }
    return SvmClassifier.fromJSON(json, path);
  }

  /** Releases the matrix engine's memory (libsvm's memory is freed at the end of `fit`). */
  dispose(): void {
    this.engine?.dispose();
    this.engine = null;
  }

  private getEngine(): GramEngine {
    if (!this.engine) this.engine = new GramEngine();
    return this.engine;
  }

  private fitted(): this {
    if (!this.classes_ || !this.supportVectors_) {
      throw new NotFittedError('This SvmClassifier is not fitted yet.', {
        code: 'NOT_FITTED',
        suggestion: 'Call fit(X, y) (or SvmClassifier.load(path)) before predicting.',
      });
    }
    return this;
  }

  /** Calls `fn` with the pairwise decision values of every row of X, in order. */
  private forEachDecision(X: MatrixLike, fn: (dec: Float64Array) => void): void {
    this.fitted();
    const M: FeatureMatrix = toMatrix(X);
    const d = this.nFeaturesIn_!;
    if (M.cols !== d) {
      throw new DatasetError(`X has ${M.cols} features, but this SVM was fitted on ${d}.`, {
        code: 'SVM_FEATURE_COUNT',
        suggestion: 'Use features from the same backbone and layer as the training features.',
      });
    }
    const engine = this.getEngine();
    const sv = this.supportVectors_!;
    const l = this.support_!.length || sv.length / d;
    if (!this.svNorms) this.svNorms = engine.selfDots(sv, l, d);
    if (!this.ovo) this.ovo = machines(this.nSupport_!, this.dualCoef_!, this.rho_!);
    const m = this.ovo;
    const spec: KernelSpec = { kernel: this.params_!.kernel, gamma: this.gamma_ ?? 0 };
    const dec = new Float64Array((m.k * (m.k - 1)) / 2);
    const kv = new Float64Array(l);
    for (let r0 = 0; r0 < M.rows; r0 += PREDICT_CHUNK) {
      const rows = Math.min(PREDICT_CHUNK, M.rows - r0);
      const chunk = { data: M.data.subarray(r0 * d, (r0 + rows) * d), rows, cols: d };
      const Xs = applyScaler(this.scaler_!, chunk.data, rows, d);
      const norms = engine.selfDots(Xs, rows, d);
      const dots = engine.cross(Xs, rows, sv, l, d);
      for (let r = 0; r < rows; r++) {
        const o = r * l;
        if (spec.kernel === 'linear') {
          for (let s = 0; s < l; s++) kv[s] = dots[o + s];
        } else {
          const g = spec.gamma;
          const na = norms[r];
          for (let s = 0; s < l; s++) {
            const d2 = na + this.svNorms[s] - 2 * dots[o + s];
            kv[s] = Math.exp(-g * (d2 > 0 ? d2 : 0));
          }
        }
        pairDecisions(m, kv, 0, dec);
        fn(dec);
      }
    }
  }
}

/** Resolves gamma: a number, 'scale' = 1/(d * var) of the scaled training rows, 'auto' = 1/d. */
export function resolveGamma(opts: ResolvedSvmOptions, Xs: Float32Array, d: number, rows: ArrayLike<number> | null): number | null {
  if (opts.kernel === 'linear') return null;
  if (typeof opts.gamma === 'number') return opts.gamma;
  if (opts.gamma === 'auto') return 1 / d;
  const all = rows ?? Int32Array.from({ length: Xs.length / d }, (_, i) => i);
  const v = overallVariance(Xs, d, all);
  return v > 0 ? 1 / (d * v) : 1;
}

function resolveLoose(p: Partial<ResolvedSvmOptions>): ResolvedSvmOptions {
  try {
    const known: Record<string, unknown> = {};
    for (const key of ['classWeight', 'probability', 'seed', 'tol', 'cacheSize', 'shrinking'] as const) {
      if (p[key] !== undefined) known[key] = p[key];
    }
    return resolveSvmOptions(known as SvmOptions);
  } catch {
    return resolveSvmOptions({});
  }
}
