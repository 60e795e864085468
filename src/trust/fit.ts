/**
 * The trust fields of an SVM, from its training features: the calibration (temperature on top of
 * libsvm's Platt probabilities, fitted on out-of-fold probabilities of the training images) and the
 * unknown detector. `svmFit` calls this with `probability: true`; the result is plain JSON that the
 * model file carries (`calibration`, `unknown`).
 *
 * Cost: `folds` extra SVM fits with probability (each does libsvm's internal 5-fold Platt fit),
 * so about (folds + 1)x the time of one probability fit, plus the detector (seconds).
 */
import type { CalibrationJson, UnknownDetectorJson } from '../formats/trust.js';
import { OptionsError } from '../errors.js';
import { toMatrix, type FeatureMatrix, type MatrixLike } from '../classify/matrix.js';
import { SvmClassifier } from '../classify/svm.js';
import type { SvmOptions } from '../classify/options.js';
import { foldSplit, stratifiedKFold } from '../data/split.js';
import { calibrate, type CalibrateOptions } from './calibrate.js';
import { UnknownDetector, type UnknownDetectorOptions } from './ood.js';

/** Options of `fitSvmTrust` (defaults in `TRUST_DEFAULTS`). */
export interface SvmTrustOptions {
  /** Fit the calibration (needs probability estimates). Default true. */
  calibrate?: boolean;
  /** Fit the unknown detector. Default true. */
  unknown?: boolean;
  /** Folds of the out-of-fold probabilities. Default 5. */
  folds?: number;
  /** Seed of the folds. Default 0. */
  seed?: number;
  /** Detector options (`rate` = share of known images rejected, default 0.05). */
  unknownOptions?: UnknownDetectorOptions;
  calibrateOptions?: Omit<CalibrateOptions, 'fittedOn'>;
  /** Told when the result is usable but weaker (a class too small for the folds). */
  onWarning?: (message: string) => void;
  /** Told after each fold of the out-of-fold probabilities. */
  onProgress?: (done: number, total: number) => void;
}

export const TRUST_DEFAULTS = Object.freeze({ calibrate: true, unknown: true, folds: 5, seed: 0 });

export interface SvmTrustResult {
  calibration?: CalibrationJson;
  unknown?: UnknownDetectorJson;
  /** Out-of-fold probabilities of the training images (model class order), when calibrated. */
  oofProbabilities?: Float64Array[];
  /** Out-of-fold unknown scores of the training images. */
  oofUnknownScores?: Float64Array;
}

function rows(M: FeatureMatrix, idx: Int32Array): FeatureMatrix {
  const d = M.cols;
  const data = new Float32Array(idx.length * d);
  idx.forEach((r, j) => data.set(M.data.subarray(r * d, r * d + d), j * d));
  return { data, rows: idx.length, cols: d };
}

/**
 * Out-of-fold class probabilities of an SVM configuration (probability estimates on), columns in
 * ascending label order: each image's row comes from a model that did not train on it.
 */
export async function svmOutOfFoldProbabilities(X: MatrixLike, y: ArrayLike<number>, svmOptions: SvmOptions, folds = 5, seed = 0, onProgress?: (done: number, total: number) => void): Promise<{ probabilities: Float64Array[]; classes: number[] }> {
  const M = toMatrix(X);
  const labels = Array.from(y);
  const classes = [...new Set(labels)].sort((a, b) => a - b);
  const assign = stratifiedKFold(labels, folds, { shuffle: true, seed });
  const out: Float64Array[] = new Array(M.rows);
  for (let f = 0; f < folds; f++) {
    const { train, test } = foldSplit(assign, f);
    const ytr = Array.from(train, (i) => labels[i]);
    const clf = await new SvmClassifier({ ...svmOptions, probability: true }).fit(rows(M, train), ytr);
    try {
      const fitted = clf.classes_!;
      // A fold whose Platt sigmoid came out inverted keeps no probabilities (SvmClassifier.fit): its
      // decisions count as one-hot rows.
      const p = clf.probA_ ? clf.predictProba(rows(M, test), { raw: true }) : clf.predict(rows(M, test)).map((label) => Float64Array.from(fitted, (c) => (c === label ? 1 : 0)));
      test.forEach((i, j) => {
        // A class missing from a training fold gets probability 0.
        const row = new Float64Array(classes.length);
        fitted.forEach((c, k) => (row[classes.indexOf(c)] = p[j][k]));
        out[i] = row;
      });
    } finally {
      clf.dispose();
    }
    onProgress?.(f + 1, folds);
  }
  return { probabilities: out, classes };
}

/** Calibration and unknown detector of an SVM configuration on (X, y). */
export async function fitSvmTrust(X: MatrixLike, y: ArrayLike<number>, svmOptions: SvmOptions, options: SvmTrustOptions = {}): Promise<SvmTrustResult> {
  const o = { ...TRUST_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as SvmTrustOptions & typeof TRUST_DEFAULTS;
  if (!Number.isInteger(o.folds) || o.folds < 2) throw new OptionsError(`trust folds must be an integer >= 2. Received folds=${o.folds}.`, { code: 'OPTIONS_BAD_VALUE' });
  const M = toMatrix(X);
  const result: SvmTrustResult = {};
  const counts = new Map<number, number>();
  for (const v of Array.from(y)) counts.set(v, (counts.get(v) ?? 0) + 1);
  const smallest = Math.min(...counts.values());
  if (o.calibrate && smallest < 2) {
    o.onWarning?.(`The smallest class has ${smallest} image: no out-of-fold probabilities, so the probabilities stay uncalibrated. Add images to every class.`);
  } else if (o.calibrate) {
    const folds = Math.min(o.folds, smallest);
    if (folds < o.folds) o.onWarning?.(`The smallest class has ${smallest} images: the calibration uses ${folds} folds instead of ${o.folds}.`);
    const { probabilities, classes } = await svmOutOfFoldProbabilities(M, y, svmOptions, folds, o.seed, o.onProgress);
    const codes = Array.from(y, (v) => classes.indexOf(v));
    result.calibration = calibrate(probabilities, codes, { ...o.calibrateOptions, fittedOn: 'out-of-fold' });
    result.oofProbabilities = probabilities;
  }
  if (o.unknown) {
    const det = new UnknownDetector({ seed: o.seed, ...o.unknownOptions }).fit(M, y);
    result.unknown = det.toJSON();
    result.oofUnknownScores = det.oofScores_;
  }
  return result;
}
