/**
 * ftk's saved SVM model: one JSON file holding everything needed to predict in JS (support
 * vectors, dual coefficients, intercepts, Platt parameters, the scaler, the labels, the kernel
 * parameters), independent of libsvm's text format and of libsvm-js's `SVM.load`. See
 * src/formats/README.md, section "SVM model".
 */
import { FtkError } from '../errors.js';
import type { BackboneInfo } from './features.js';
import type { CalibrationJson, UnknownDetectorJson } from './trust.js';

export const SVM_MODEL_FORMAT = 'ftk-svm-model';
export const SVM_MODEL_FORMAT_VERSION = 1;

/** A Float32 matrix stored as base64 of its little-endian bytes, row-major. */
export interface Float32Base64 {
  dtype: 'float32';
  shape: [number, number];
  encoding: 'base64';
  data: string;
}

export type SvmScalerJson =
  | { kind: 'none' }
  | { kind: 'l2' }
  | { kind: 'standardize'; mean: number[]; scale: number[] }
  /** sign(x) sqrt(|x|) of every feature, then standardized with mean and scale. */
  | { kind: 'sqrt-standardize'; mean: number[]; scale: number[] };

export interface SvmModelJson {
  format: typeof SVM_MODEL_FORMAT;
  formatVersion: number;
  kernel: 'linear' | 'rbf';
  /** Resolved RBF gamma (null for linear). */
  gamma: number | null;
  C: number;
  /** Class labels, ascending (the order of every per-class array below). */
  classes: number[];
  /** Class names in the same order, when known (from the features' metadata). */
  classNames?: string[];
  /** Input dimension D. */
  nFeatures: number;
  /** Applied to inputs before the kernel; support vectors are stored already scaled. */
  scaler: SvmScalerJson;
  /** Support vectors per class. */
  nSupport: number[];
  /** [l, D] support vectors in the scaled space, grouped by class in `classes` order. */
  supportVectors: Float32Base64;
  /** Index of each support vector in the training data. */
  supportIndices: number[];
  /** libsvm's sv_coef: (k-1) rows of l coefficients. */
  dualCoef: number[][];
  /** libsvm's rho for the k(k-1)/2 pairs (0,1), (0,2), ..., (k-2,k-1): decision = sum - rho. */
  rho: number[];
  /** Platt parameters per pair, or null without probability estimates. */
  probA: number[] | null;
  probB: number[] | null;
  /** Resolved weight of each class (multiplies C), or null. */
  classWeight: number[] | null;
  /** The options the model was fitted with (after defaults), for the record. */
  params: Record<string, unknown>;
  training: { nSamples: number; createdAt: string; trainer: string };
  /** Backbone that produced the features, for predicting from images (same fingerprint required). */
  backbone?: BackboneInfo;
  /** When the parameters came from a grid search: the winner and its cross-validated accuracy. */
  gridSearch?: { bestC: number; bestGamma: number | null; bestScore: number; folds: number; seed: number | null };
  /** Temperature applied on top of the Platt probabilities (src/trust/calibrate.ts), when fitted. */
  calibration?: CalibrationJson;
  /** Out-of-distribution detector over the (unscaled) input features (src/trust/ood.ts), when fitted. */
  unknown?: UnknownDetectorJson;
}

export class SvmModelError extends FtkError {}

export function encodeFloat32(data: Float32Array, shape: [number, number]): Float32Base64 {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { dtype: 'float32', shape, encoding: 'base64', data: bytes.toString('base64') };
}

export function decodeFloat32(m: Float32Base64, source: string): Float32Array {
  const bytes = Buffer.from(m.data, 'base64');
  const count = m.shape[0] * m.shape[1];
  if (bytes.length !== count * 4) {
    throw new SvmModelError(`${source}: supportVectors hold ${bytes.length} bytes, shape [${m.shape.join(', ')}] needs ${count * 4}.`, {
      code: 'SVM_MODEL_INVALID',
      suggestion: 'The model file is truncated or edited: fit it again.',
    });
  }
  const out = new Float32Array(count);
  new Uint8Array(out.buffer).set(bytes);
  const bad = out.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new SvmModelError(`${source} is not a valid ftk SVM model: supportVectors hold ${out[bad]} (support vector ${Math.floor(bad / m.shape[1])}, feature ${bad % m.shape[1]}).`, {
      code: 'SVM_MODEL_INVALID',
      suggestion: 'The model file was edited or damaged: fit it again (`ftk svm fit`).',
    });
  }
  return out;
}

/** Checks the structure of a parsed model file; `source` names it in errors. */
export function validateSvmModelJson(obj: unknown, source = 'model.json'): SvmModelJson {
  const fail = (what: string): never => {
    throw new SvmModelError(`${source} is not a valid ftk SVM model: ${what}.`, {
      code: 'SVM_MODEL_INVALID',
      suggestion: 'Pass a model written by `ftk svm fit --out` (format ftk-svm-model); if it was edited by hand, fit it again.',
    });
  };
  if (obj === null || typeof obj !== 'object') return fail('not a JSON object');
  const m = obj as Partial<SvmModelJson>;
  if (m.format !== SVM_MODEL_FORMAT) return fail(`format is ${JSON.stringify(m.format)}, expected "${SVM_MODEL_FORMAT}"`);
  if (typeof m.formatVersion === 'number' && m.formatVersion > SVM_MODEL_FORMAT_VERSION) {
    throw new SvmModelError(`${source} was written by a newer ftk: SVM model format version ${m.formatVersion}, this ftk reads version ${SVM_MODEL_FORMAT_VERSION}.`, {
      code: 'SVM_MODEL_VERSION',
      suggestion: 'Upgrade ftk, or fit the model again with this version (`ftk svm fit`).',
    });
  }
  if (m.formatVersion !== SVM_MODEL_FORMAT_VERSION) {
    return fail(`formatVersion ${String(m.formatVersion)} is not supported (this ftk reads ${SVM_MODEL_FORMAT_VERSION})`);
  }
  if (m.kernel !== 'linear' && m.kernel !== 'rbf') return fail(`unknown kernel ${JSON.stringify(m.kernel)}`);
  if (m.kernel === 'rbf' && !(typeof m.gamma === 'number' && m.gamma > 0)) return fail('rbf kernel without a positive gamma');
  const isNumArray = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!isNumArray(m.classes) || m.classes.length < 2) return fail('classes must list at least 2 labels');
  const k = m.classes.length;
  if (typeof m.nFeatures !== 'number' || !Number.isInteger(m.nFeatures) || m.nFeatures < 1) return fail('nFeatures missing');
  if (!isNumArray(m.nSupport) || m.nSupport.length !== k) return fail(`nSupport must have ${k} entries`);
  const l = m.nSupport.reduce((a, b) => a + b, 0);
  const sv = m.supportVectors;
  if (!sv || sv.dtype !== 'float32' || sv.encoding !== 'base64' || !Array.isArray(sv.shape) || sv.shape[0] !== l || sv.shape[1] !== m.nFeatures) {
    return fail(`supportVectors must be float32 base64 of shape [${l}, ${m.nFeatures}]`);
  }
  if (!Array.isArray(m.dualCoef) || m.dualCoef.length !== k - 1 || !m.dualCoef.every((r) => isNumArray(r) && r.length === l)) {
    return fail(`dualCoef must be ${k - 1} rows of ${l} numbers`);
  }
  const pairs = (k * (k - 1)) / 2;
  if (!isNumArray(m.rho) || m.rho.length !== pairs) return fail(`rho must have ${pairs} entries`);
  if ((m.probA === null) !== (m.probB === null)) return fail('probA and probB must both be present or both null');
  if (m.probA !== null && (!isNumArray(m.probA) || !isNumArray(m.probB) || m.probA.length !== pairs || m.probB!.length !== pairs)) {
    return fail(`probA and probB must have ${pairs} entries`);
  }
  const s = m.scaler;
  if (!s || !['none', 'l2', 'standardize', 'sqrt-standardize'].includes(s.kind)) return fail('unknown scaler');
  const learned = s.kind === 'standardize' || s.kind === 'sqrt-standardize';
  if (learned && (!isNumArray(s.mean) || !isNumArray(s.scale) || s.mean.length !== m.nFeatures || s.scale.length !== m.nFeatures)) {
    return fail(`${s.kind} scaler needs mean and scale of ${m.nFeatures} numbers`);
  }
  if (learned && s.scale.some((v) => v <= 0)) {
    return fail(`scaler.scale[${s.scale.findIndex((v) => v <= 0)}] is ${s.scale.find((v) => v <= 0)}: scales must be positive`);
  }
  if (m.classNames !== undefined && (!Array.isArray(m.classNames) || m.classNames.length !== k)) return fail(`classNames must have ${k} entries`);
  return m as SvmModelJson;
}
