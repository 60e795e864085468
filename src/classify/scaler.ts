/**
 * Feature scaling that lives inside an SVM model and is fitted on the training rows only (in
 * cross-validation: on each training fold, never on the held-out fold).
 *
 * - 'standardize': (x - mean) / std per feature, population std, a constant feature keeps scale 1
 *   (scikit-learn `StandardScaler`).
 * - 'l2': every row divided by its Euclidean norm, zero rows unchanged (scikit-learn `Normalizer`);
 *   it learns nothing, so it is the same on every fold.
 * - 'none': features as given.
 * - 'sqrt-standardize': the signed square root of every value, sign(x) sqrt(|x|) (power
 *   normalization, Perronnin, Sanchez & Mensink 2010: it evens out pooled activations dominated by
 *   a few large values), then 'standardize'. Kernel SVMs only (the linear solvers fold their
 *   scaling into the arithmetic, which a square root does not allow).
 */
import type { SvmScalerJson } from '../formats/svm_model.js';

export type ScalerKind = 'standardize' | 'l2' | 'none' | 'sqrt-standardize';
export const SCALER_KINDS: readonly ScalerKind[] = ['standardize', 'l2', 'none', 'sqrt-standardize'];

export type ScalerState =
  | { kind: 'standardize' | 'sqrt-standardize'; mean: Float64Array; scale: Float64Array }
  | { kind: 'l2' }
  | { kind: 'none' };

/** The scaler as the model files store it (SVM and linear model formats). */
export function scalerToJson(s: ScalerState): SvmScalerJson {
  return s.kind === 'standardize' || s.kind === 'sqrt-standardize' ? { kind: s.kind, mean: Array.from(s.mean), scale: Array.from(s.scale) } : { kind: s.kind };
}

/** A stored scaler, ready to apply. */
export function scalerFromJson(j: SvmScalerJson): ScalerState {
  return j.kind === 'standardize' || j.kind === 'sqrt-standardize' ? { kind: j.kind, mean: Float64Array.from(j.mean), scale: Float64Array.from(j.scale) } : { kind: j.kind };
}

/** Whether the scaler learns statistics from the training rows (so it is fitted on each training fold). */
export function scalerLearns(kind: ScalerKind): kind is 'standardize' | 'sqrt-standardize' {
  return kind === 'standardize' || kind === 'sqrt-standardize';
}

/** sign(x) sqrt(|x|), the power normalization of 'sqrt-standardize'. */
export function signedSqrt(x: number): number {
  return x < 0 ? -Math.sqrt(-x) : Math.sqrt(x);
}

/** Fits the scaler on rows `rows` (all rows when omitted) of the n x d matrix X. */
export function fitScaler(kind: ScalerKind, X: Float32Array, n: number, d: number, rows?: ArrayLike<number>): ScalerState {
  if (!scalerLearns(kind)) return { kind };
  const t = kind === 'sqrt-standardize' ? signedSqrt : (v: number) => v;
  const count = rows ? rows.length : n;
  const mean = new Float64Array(d);
  const m2 = new Float64Array(d);
  for (let a = 0; a < count; a++) {
    const o = (rows ? rows[a] : a) * d;
    for (let k = 0; k < d; k++) mean[k] += t(X[o + k]);
  }
  for (let k = 0; k < d; k++) mean[k] /= count;
  for (let a = 0; a < count; a++) {
    const o = (rows ? rows[a] : a) * d;
    for (let k = 0; k < d; k++) {
      const c = t(X[o + k]) - mean[k];
      m2[k] += c * c;
    }
  }
  const scale = new Float64Array(d);
  for (let k = 0; k < d; k++) {
    const std = Math.sqrt(m2[k] / count);
    // scikit-learn treats a std that is zero up to rounding as zero: such a feature keeps scale 1.
    scale[k] = std < 10 * Number.EPSILON * Math.max(1, Math.abs(mean[k])) ? 1 : std;
  }
  return { kind, mean, scale };
}

/** Applies the scaler to all n rows of X; returns a new Float32Array. */
export function applyScaler(state: ScalerState, X: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  if (state.kind === 'none') {
    out.set(X.subarray(0, n * d));
  } else if (state.kind === 'l2') {
    for (let i = 0; i < n; i++) {
      const o = i * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += X[o + k] * X[o + k];
      const inv = s > 0 ? 1 / Math.sqrt(s) : 1;
      for (let k = 0; k < d; k++) out[o + k] = X[o + k] * inv;
    }
  } else if (state.kind === 'sqrt-standardize') {
    const { mean, scale } = state;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      for (let k = 0; k < d; k++) out[o + k] = (signedSqrt(X[o + k]) - mean[k]) / scale[k];
    }
  } else {
    const { mean, scale } = state;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      for (let k = 0; k < d; k++) out[o + k] = (X[o + k] - mean[k]) / scale[k];
    }
  }
  return out;
}

/** Variance of all entries of the given rows (scikit-learn's `X.var()` for gamma='scale'). */
export function overallVariance(X: Float32Array, d: number, rows: ArrayLike<number>): number {
  let sum = 0;
  const count = rows.length * d;
  for (let a = 0; a < rows.length; a++) {
    const o = rows[a] * d;
    for (let k = 0; k < d; k++) sum += X[o + k];
  }
  const mean = sum / count;
  let ss = 0;
  for (let a = 0; a < rows.length; a++) {
    const o = rows[a] * d;
    for (let k = 0; k < d; k++) {
      const c = X[o + k] - mean;
      ss += c * c;
    }
  }
  return ss / count;
}
