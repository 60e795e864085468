/**
 * The "trust" fields a saved model carries (src/trust): how its probabilities are calibrated and
 * how it recognises images outside its classes. Plain JSON, so an exporter (ONNX, TF.js) can carry
 * them as they are. See src/formats/README.md, section "Calibration and unknown detection".
 */
import { FtkError } from '../errors.js';
import type { Float32Base64 } from './svm_model.js';

/** ECE and the reliability diagram of one set of probabilities (confidence = top probability). */
export interface ReliabilityJson {
  /** Expected calibration error: sum over bins of (bin share) x |accuracy - mean confidence|. */
  ece: number;
  /** Number of equal-width confidence bins over [0, 1]. */
  bins: number;
  /** Per bin: samples, mean confidence, accuracy (null when empty). */
  count: number[];
  confidence: (number | null)[];
  accuracy: (number | null)[];
  /** Mean negative log-likelihood of the true class. */
  nll: number;
  samples: number;
}

/**
 * A calibration map applied to a model's class probabilities p:
 * - 'temperature': q = softmax(log(p) / T) (Guo et al. 2017; one parameter, keeps the argmax);
 * - 'none': q = p (calibration measured but not needed or not possible).
 */
export interface CalibrationJson {
  method: 'temperature' | 'none';
  /** T for 'temperature' (1 = unchanged; > 1 softens over-confident probabilities). */
  temperature: number;
  /** Where the fitting probabilities came from: 'out-of-fold' (cross-validation) or 'validation' (a held-out split). */
  fittedOn: 'out-of-fold' | 'validation';
  /** Reliability of the fitting probabilities before and after (15 bins). */
  before: ReliabilityJson;
  after: ReliabilityJson;
}

/**
 * An out-of-distribution ("unknown") detector over backbone features. Features are L2-normalised
 * first. Score: larger = less like the training images.
 * - 'knn': distance (Euclidean on the unit sphere) to the k-th nearest training image;
 * - 'mahalanobis': smallest Mahalanobis distance to a class mean, with a shared, shrunk covariance.
 */
export interface UnknownDetectorJson {
  format: 'ftk-unknown-detector';
  formatVersion: 1;
  method: 'knn' | 'mahalanobis';
  nFeatures: number;
  /** knn: k. */
  k?: number;
  /** knn: the L2-normalised training features [n, nFeatures]. */
  reference?: Float32Base64;
  /** mahalanobis: class means [classes, nFeatures] of the normalised features. */
  means?: Float32Base64;
  /** mahalanobis: inverse of the shrunk shared covariance [nFeatures, nFeatures]. */
  precision?: Float32Base64;
  /** mahalanobis: Ledoit-Wolf shrinkage used. */
  shrinkage?: number;
  /** Images scoring above this are unknown. */
  threshold: number;
  /** Share of in-distribution (training) images the threshold rejects, as chosen. */
  rate: number;
  /** How the threshold was chosen: quantile 1 - rate of `thresholdFrom` scores of the training images. */
  thresholdFrom: 'out-of-fold' | 'in-sample';
  /** Training images (and folds) behind the threshold. */
  samples: number;
  folds: number;
}

export class TrustFormatError extends FtkError {}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Checks a calibration field read from a model file; `source` names the file in errors. */
export function validateCalibrationJson(obj: unknown, source: string): CalibrationJson {
  const c = obj as Partial<CalibrationJson> | null;
  if (!c || typeof c !== 'object' || (c.method !== 'temperature' && c.method !== 'none') || !finite(c.temperature) || c.temperature <= 0) {
    throw new TrustFormatError(`${source}: the "calibration" field is invalid (expected method 'temperature' or 'none' with a positive temperature).`, {
      code: 'CALIBRATION_INVALID',
      suggestion: 'Fit the model again (`ftk svm fit --probability`), or delete the "calibration" field to use uncalibrated probabilities.',
    });
  }
  return c as CalibrationJson;
}

/** Checks an unknown-detector field read from a model file. */
export function validateUnknownDetectorJson(obj: unknown, source: string): UnknownDetectorJson {
  const u = obj as Partial<UnknownDetectorJson> | null;
  const fail = (what: string): never => {
    throw new TrustFormatError(`${source}: the "unknown" detector is invalid: ${what}.`, {
      code: 'UNKNOWN_DETECTOR_INVALID',
      suggestion: 'Fit the model again (`ftk svm fit`, `ftk finetune`), or delete the "unknown" field to predict without unknown detection.',
    });
  };
  if (!u || typeof u !== 'object' || u.format !== 'ftk-unknown-detector') return fail('format is not "ftk-unknown-detector"');
  if (u.formatVersion !== 1) return fail(`formatVersion ${String(u.formatVersion)} is not supported (this ftk reads 1)`);
  if (!finite(u.nFeatures) || u.nFeatures < 1) return fail('nFeatures missing');
  if (!finite(u.threshold)) return fail('threshold missing');
  const d = u.nFeatures;
  const shaped = (m: Float32Base64 | undefined, rows: number | null, cols: number): boolean =>
    !!m && m.dtype === 'float32' && m.encoding === 'base64' && Array.isArray(m.shape) && (rows === null || m.shape[0] === rows) && m.shape[1] === cols;
  if (u.method === 'knn') {
    if (!finite(u.k) || u.k < 1) return fail('knn without a positive k');
    if (!shaped(u.reference, null, d)) return fail(`knn reference must be float32 base64 of shape [n, ${d}]`);
    if (u.reference!.shape[0] < u.k!) return fail(`knn reference holds ${u.reference!.shape[0]} images, fewer than k=${u.k}`);
  } else if (u.method === 'mahalanobis') {
    if (!shaped(u.means, null, d)) return fail(`mahalanobis means must be float32 base64 of shape [classes, ${d}]`);
    if (!shaped(u.precision, d, d)) return fail(`mahalanobis precision must be float32 base64 of shape [${d}, ${d}]`);
  } else return fail(`unknown method ${JSON.stringify(u.method)}`);
  return u as UnknownDetectorJson;
}

/**
 * The trust part of an `ftk auto` run record (run.json `trust`), drawn by the report: the chosen
 * path's calibration (reliability before/after) and its unknown detector's out-of-fold score
 * distribution with the threshold.
 */
export interface TrustRunReport {
  /** Per path that has one: its calibration (before/after reliability, method, temperature). */
  calibration?: { path: 'svm' | 'finetune' | 'scratch'; calibration: CalibrationJson }[];
  unknown?: {
    path: 'svm' | 'finetune' | 'scratch';
    method: 'knn' | 'mahalanobis';
    threshold: number;
    rate: number;
    /** Histogram of the training images' out-of-fold unknown scores: bins [edges[i], edges[i+1]). */
    edges: number[];
    counts: number[];
  };
}

/** Equal-width histogram of scores (20 bins over [min, max], the last bin closed). */
export function scoreHistogram(scores: ArrayLike<number>, bins = 20): { edges: number[]; counts: number[] } {
  const v = Array.from(scores).filter(Number.isFinite);
  if (!v.length) return { edges: [], counts: [] };
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const w = hi > lo ? (hi - lo) / bins : 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * w);
  const counts = new Array<number>(bins).fill(0);
  for (const x of v) counts[Math.min(bins - 1, Math.floor((x - lo) / w))]++;
  return { edges, counts };
}
