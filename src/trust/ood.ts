/**
 * `UnknownDetector`: an out-of-distribution ("unknown") score over backbone features, and a
 * threshold chosen for a stated share of wrongly rejected training images.
 *
 * Two scores, both on L2-normalised features (larger = less like the training images):
 * - 'knn' (default): Euclidean distance to the k-th nearest training image (Sun, Ming, Zhu & Li
 *   2022, "Out-of-distribution detection with deep nearest neighbors"). No distribution is
 *   assumed; the model stores the training features.
 * - 'mahalanobis': smallest Mahalanobis distance to a class mean under a shared covariance (Lee,
 *   Lee, Lee & Shin 2018), shrunk toward a scaled identity by the Ledoit-Wolf formula
 *   (scikit-learn's `ledoit_wolf_shrinkage`), since a few hundred images cannot estimate a
 *   256 x 256 covariance. Stores the means and the inverse covariance.
 * Which is better on small data is measured in bench/trust/ood.ts (results in bench/RESULTS.md):
 * the default follows that measurement.
 *
 * The threshold: the detector is fitted on k-1 folds and scores the held-out fold, for every fold
 * (stratified, seeded); the threshold is the (1 - rate) quantile of these out-of-fold scores, so
 * about `rate` of new images like the training ones are rejected. In-sample scores would be too
 * low (for knn, an image is its own nearest neighbour) and the threshold would reject far more
 * than `rate`. The saved detector is then fitted on all images, whose scores are slightly lower
 * than a k-1-fold detector's: the real rejection rate is at most about `rate`.
 *
 * ```ts
 * const det = new UnknownDetector({ rate: 0.05 }).fit(X, y);
 * det.isUnknown(Xnew); // boolean per row
 * const json = det.toJSON(); // plain JSON, saved in the model file
 * ```
 */
import { DatasetError, NotFittedError, OptionsError } from '../errors.js';
import { decodeFloat32, encodeFloat32 } from '../formats/svm_model.js';
import type { UnknownDetectorJson } from '../formats/trust.js';
import { validateUnknownDetectorJson } from '../formats/trust.js';
import { toMatrix, type FeatureMatrix, type MatrixLike } from '../classify/matrix.js';
import { foldSplit, stratifiedKFold } from '../data/split.js';

export type UnknownMethod = 'knn' | 'mahalanobis';

/** Options of `UnknownDetector` (defaults in `UNKNOWN_DEFAULTS`). */
export interface UnknownDetectorOptions {
  /** Score: 'knn' or 'mahalanobis'. Default 'knn'. */
  method?: UnknownMethod;
  /** knn: which neighbour's distance. Default 1. */
  k?: number;
  /** Share of in-distribution images the threshold may reject. Default 0.05. */
  rate?: number;
  /** Folds of the out-of-fold scores behind the threshold. Default 5. */
  folds?: number;
  /** Seed of the fold assignment. Default 0. */
  seed?: number;
}

export const UNKNOWN_DEFAULTS = Object.freeze({ method: 'knn' as UnknownMethod, k: 1, rate: 0.05, folds: 5, seed: 0 });

function resolve(o: UnknownDetectorOptions): Required<UnknownDetectorOptions> {
  const r = { ...UNKNOWN_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as Required<UnknownDetectorOptions>;
  const bad = (what: string, allowed: string): never => {
    throw new OptionsError(`UnknownDetector ${what}. Allowed: ${allowed}.`, { code: 'OPTIONS_BAD_VALUE' });
  };
  if (r.method !== 'knn' && r.method !== 'mahalanobis') bad(`method=${JSON.stringify(r.method)}`, "'knn' or 'mahalanobis'");
  if (!Number.isInteger(r.k) || r.k < 1) bad(`k=${r.k}`, 'an integer >= 1');
  if (!(r.rate > 0 && r.rate < 1)) bad(`rate=${r.rate}`, 'a number strictly between 0 and 1 (e.g. 0.05 for 5%)');
  if (!Number.isInteger(r.folds) || r.folds < 2) bad(`folds=${r.folds}`, 'an integer >= 2');
  if (!Number.isInteger(r.seed)) bad(`seed=${r.seed}`, 'an integer');
  return r;
}

/** Rows scaled to unit length (a zero row stays zero), as a new Float32Array. */
export function l2Normalize(m: FeatureMatrix): Float32Array {
  const { data, rows, cols } = m;
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += data[i * cols + j] * data[i * cols + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < cols; j++) out[i * cols + j] = data[i * cols + j] * inv;
  }
  return out;
}

function take(Z: Float32Array, d: number, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * d);
  for (let r = 0; r < idx.length; r++) out.set(Z.subarray(idx[r] * d, idx[r] * d + d), r * d);
  return out;
}

/** The fitted state of one score (no threshold). */
type Scorer =
  | { method: 'knn'; k: number; ref: Float32Array; n: number; d: number }
  | { method: 'mahalanobis'; means: Float32Array; precision: Float64Array; classes: number; d: number; shrinkage: number };

function fitKnn(Z: Float32Array, n: number, d: number, k: number): Scorer {
  if (n < k) throw new DatasetError(`knn unknown detection needs at least k=${k} training images; got ${n}.`, { code: 'UNKNOWN_TOO_FEW' });
  return { method: 'knn', k, ref: Z, n, d };
}

/** Ledoit-Wolf shrinkage of the covariance of centred rows C (n x d), as scikit-learn. */
function ledoitWolf(C: Float64Array, n: number, d: number, S: Float64Array): number {
  let trace = 0;
  for (let i = 0; i < d; i++) trace += S[i * d + i];
  const mu = trace / d;
  let frob = 0;
  for (let i = 0; i < d * d; i++) frob += S[i] * S[i];
  let norm4 = 0;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += C[r * d + j] * C[r * d + j];
    norm4 += s * s;
  }
  const delta = (frob - 2 * mu * trace + d * mu * mu) / d;
  let beta = (norm4 / n - frob) / (d * n);
  beta = Math.min(beta, delta);
  return delta <= 0 || beta <= 0 ? 0 : beta / delta;
}

/** Inverse of a symmetric positive definite matrix by Cholesky (A = L L^T). */
function spdInverse(A: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * d + j];
      for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
      if (i === j) {
        if (!(s > 0)) throw new DatasetError('The shrunk feature covariance is not positive definite (constant features?).', { code: 'UNKNOWN_SINGULAR', suggestion: "Use method 'knn'." });
        L[i * d + i] = Math.sqrt(s);
      } else L[i * d + j] = s / L[j * d + j];
    }
  }
  // Linv (lower), then A^-1 = Linv^T Linv.
  const Li = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    Li[i * d + i] = 1 / L[i * d + i];
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= L[i * d + k] * Li[k * d + j];
      Li[i * d + j] = s / L[i * d + i];
    }
  }
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < d; k++) s += Li[k * d + i] * Li[k * d + j];
      inv[i * d + j] = s;
      inv[j * d + i] = s;
    }
  }
  return inv;
}

function fitMahalanobis(Z: Float32Array, n: number, d: number, codes: Int32Array, nClasses: number): Scorer {
  const means = new Float64Array(nClasses * d);
  const counts = new Float64Array(nClasses);
  for (let r = 0; r < n; r++) {
    counts[codes[r]]++;
    for (let j = 0; j < d; j++) means[codes[r] * d + j] += Z[r * d + j];
  }
  for (let c = 0; c < nClasses; c++) for (let j = 0; j < d; j++) means[c * d + j] /= Math.max(1, counts[c]);
  const C = new Float64Array(n * d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) C[r * d + j] = Z[r * d + j] - means[codes[r] * d + j];
  const S = new Float64Array(d * d);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let i = 0; i < d; i++) {
      const ci = C[o + i];
      if (ci === 0) continue;
      for (let j = 0; j <= i; j++) S[i * d + j] += ci * C[o + j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) S[j * d + i] = S[i * d + j] = S[i * d + j] / n;
  const shrinkage = ledoitWolf(C, n, d, S);
  let mu = 0;
  for (let i = 0; i < d; i++) mu += S[i * d + i];
  mu /= d;
  const floor = Math.max(mu, 1e-12) * 1e-6; // keeps a rank-deficient S (n < d) invertible
  const A = new Float64Array(d * d);
  for (let i = 0; i < d * d; i++) A[i] = (1 - shrinkage) * S[i];
  for (let i = 0; i < d; i++) A[i * d + i] += shrinkage * mu + floor;
  return { method: 'mahalanobis', means: Float32Array.from(means), precision: spdInverse(A, d), classes: nClasses, d, shrinkage };
}

/** Scores of normalised rows Q (m x d). */
function scoreWith(s: Scorer, Q: Float32Array, m: number): Float64Array {
  const out = new Float64Array(m);
  const d = s.d;
  if (s.method === 'knn') {
    const { k, ref, n } = s;
    const best = new Float64Array(k); // the k largest dot products, descending
    for (let q = 0; q < m; q++) {
      best.fill(-Infinity);
      const qo = q * d;
      for (let r = 0; r < n; r++) {
        const ro = r * d;
        let dot = 0;
        for (let j = 0; j < d; j++) dot += Q[qo + j] * ref[ro + j];
        if (dot > best[k - 1]) {
          let p = k - 1;
          while (p > 0 && best[p - 1] < dot) {
            best[p] = best[p - 1];
            p--;
          }
          best[p] = dot;
        }
      }
      // |q|^2 + |r|^2 - 2 q.r with unit rows (a zero query row is at distance 1 from everything).
      let qq = 0;
      for (let j = 0; j < d; j++) qq += Q[qo + j] * Q[qo + j];
      out[q] = Math.sqrt(Math.max(0, qq + 1 - 2 * best[k - 1]));
    }
    return out;
  }
  const { means, precision: P, classes } = s;
  const v = new Float64Array(d);
  for (let q = 0; q < m; q++) {
    let min = Infinity;
    for (let c = 0; c < classes; c++) {
      for (let j = 0; j < d; j++) v[j] = Q[q * d + j] - means[c * d + j];
      let quad = 0;
      for (let i = 0; i < d; i++) {
        let row = 0;
        const o = i * d;
        for (let j = 0; j < d; j++) row += P[o + j] * v[j];
        quad += v[i] * row;
      }
      if (quad < min) min = quad;
    }
    out[q] = Math.sqrt(Math.max(0, min));
  }
  return out;
}

/** Quantile q in [0, 1] of the values (linear interpolation, numpy's default). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return NaN;
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (pos - lo) * (s[hi] - s[lo]);
}

export class UnknownDetector {
  readonly options: Readonly<UnknownDetectorOptions>;
  /** Images scoring above this are unknown. */
  threshold_?: number;
  /** Out-of-fold scores of the training images (in training order) behind the threshold. */
  oofScores_?: Float64Array;
  /** Ledoit-Wolf shrinkage (mahalanobis). */
  shrinkage_?: number;
  nFeaturesIn_?: number;
  private scorer: Scorer | null = null;
  private params: Required<UnknownDetectorOptions> | null = null;
  private samples = 0;
  private thresholdFrom: 'out-of-fold' | 'in-sample' = 'out-of-fold';

  constructor(options: UnknownDetectorOptions = {}) {
    this.options = Object.freeze({ ...options });
  }

  /** Fits on training features X (n x d) with their labels y (used by mahalanobis and by the stratified folds). */
  fit(X: MatrixLike, y: ArrayLike<number>): this {
    const p = resolve(this.options);
    const M = toMatrix(X);
    if (y.length !== M.rows) throw new DatasetError(`X has ${M.rows} samples, but y has ${y.length}.`, { code: 'UNKNOWN_SHAPE' });
    const { rows: n, cols: d } = M;
    const Z = l2Normalize(M);
    const classes = [...new Set(Array.from(y))].sort((a, b) => a - b);
    const codes = Int32Array.from(Array.from(y), (v) => classes.indexOf(v));
    const fitOn = (idx: ArrayLike<number>): Scorer => {
      const Zi = take(Z, d, idx);
      const ci = Int32Array.from(Array.from(idx), (i) => codes[i]);
      return p.method === 'knn' ? fitKnn(Zi, idx.length, d, p.k) : fitMahalanobis(Zi, idx.length, d, ci, classes.length);
    };
    const minClass = Math.min(...classes.map((_, c) => codes.filter((v) => v === c).length));
    const oof = new Float64Array(n);
    let folds = p.folds;
    if (minClass >= 2 && n >= 2 * p.folds) {
      folds = Math.min(p.folds, minClass);
      const assign = stratifiedKFold(codes, folds, { shuffle: true, seed: p.seed });
      for (let f = 0; f < folds; f++) {
        const { train, test } = foldSplit(assign, f);
        const s = scoreWith(fitOn(train), take(Z, d, test), test.length);
        test.forEach((i, j) => (oof[i] = s[j]));
      }
      this.thresholdFrom = 'out-of-fold';
    } else {
      // Too few images for folds: in-sample scores (knn: leave-one-out by taking the next neighbour).
      const all = Int32Array.from({ length: n }, (_, i) => i);
      const s = scoreWith(p.method === 'knn' ? fitKnn(Z, n, d, Math.min(n, p.k + 1)) : fitOn(all), Z, n);
      oof.set(s);
      folds = 1;
      this.thresholdFrom = 'in-sample';
    }
    this.scorer = fitOn(Int32Array.from({ length: n }, (_, i) => i));
    this.params = { ...p, folds };
    this.oofScores_ = oof;
    this.threshold_ = quantile(oof, 1 - p.rate);
    this.shrinkage_ = this.scorer.method === 'mahalanobis' ? this.scorer.shrinkage : undefined;
    this.nFeaturesIn_ = d;
    this.samples = n;
    return this;
  }

  /** Unknown scores of X (larger = less like the training images). */
  score(X: MatrixLike): Float64Array {
    const s = this.fitted();
    const M = toMatrix(X);
    if (M.cols !== s.d) {
      throw new DatasetError(`X has ${M.cols} features, but this unknown detector was fitted on ${s.d}.`, {
        code: 'UNKNOWN_FEATURE_COUNT',
        suggestion: 'Use features from the same backbone and layer as the training features.',
      });
    }
    return scoreWith(s, l2Normalize(M), M.rows);
  }

  /** True for rows scoring above the threshold. */
  isUnknown(X: MatrixLike): boolean[] {
    const t = this.threshold_!;
    return Array.from(this.score(X), (v) => v > t);
  }

  /** Moves the threshold to another rate, from the stored out-of-fold scores (no refit). */
  withRate(rate: number): this {
    this.fitted();
    resolve({ ...this.options, rate });
    if (!this.oofScores_) throw new NotFittedError('withRate needs the out-of-fold scores of a fit in this process (a loaded detector has only its threshold).', { code: 'UNKNOWN_NO_SCORES', suggestion: 'Fit the model again with the new rate.' });
    this.threshold_ = quantile(this.oofScores_, 1 - rate);
    this.params = { ...this.params!, rate };
    return this;
  }

  toJSON(): UnknownDetectorJson {
    const s = this.fitted();
    const p = this.params!;
    const base = {
      format: 'ftk-unknown-detector' as const,
      formatVersion: 1 as const,
      method: s.method,
      nFeatures: s.d,
      threshold: this.threshold_!,
      rate: p.rate,
      thresholdFrom: this.thresholdFrom,
      samples: this.samples,
      folds: p.folds,
    };
    if (s.method === 'knn') return { ...base, k: s.k, reference: encodeFloat32(s.ref, [s.n, s.d]) };
    return { ...base, shrinkage: s.shrinkage, means: encodeFloat32(s.means, [s.classes, s.d]), precision: encodeFloat32(Float32Array.from(s.precision), [s.d, s.d]) };
  }

  static fromJSON(json: unknown, source = 'model.json'): UnknownDetector {
    const u = validateUnknownDetectorJson(json, source);
    const det = new UnknownDetector({ method: u.method, rate: u.rate, folds: u.folds, ...(u.k ? { k: u.k } : {}) });
    if (u.method === 'knn') {
      det.scorer = { method: 'knn', k: u.k!, ref: decodeFloat32(u.reference!, source), n: u.reference!.shape[0], d: u.nFeatures };
    } else {
      det.scorer = {
        method: 'mahalanobis',
        means: decodeFloat32(u.means!, source),
        precision: Float64Array.from(decodeFloat32(u.precision!, source)),
        classes: u.means!.shape[0],
        d: u.nFeatures,
        shrinkage: u.shrinkage ?? 0,
      };
    }
    det.params = resolve({ method: u.method, rate: u.rate, folds: Math.max(2, u.folds), ...(u.k ? { k: u.k } : {}) });
    det.params.folds = u.folds;
    det.threshold_ = u.threshold;
    det.shrinkage_ = u.shrinkage;
    det.nFeaturesIn_ = u.nFeatures;
    det.samples = u.samples;
    det.thresholdFrom = u.thresholdFrom;
    return det;
  }

  /** The L2-normalised training features (knn), e.g. for diversity in `suggestLabels`; else undefined. */
  referenceFeatures(): FeatureMatrix | undefined {
    const s = this.fitted();
    return s.method === 'knn' ? { data: s.ref, rows: s.n, cols: s.d } : undefined;
  }

  private fitted(): Scorer {
    if (!this.scorer) {
      throw new NotFittedError('This UnknownDetector is not fitted yet.', { code: 'NOT_FITTED', suggestion: 'Call fit(X, y) or UnknownDetector.fromJSON(json) first.' });
    }
    return this.scorer;
  }
}

/**
 * Unknown scores of features X under a saved detector (plain JSON from a model file) and which
 * rows are unknown (score > threshold).
 */
export function unknownScore(detector: UnknownDetectorJson | UnknownDetector, X: MatrixLike): { scores: Float64Array; unknown: boolean[]; threshold: number } {
  const det = detector instanceof UnknownDetector ? detector : UnknownDetector.fromJSON(detector);
  const scores = det.score(X);
  const threshold = det.threshold_!;
  return { scores, unknown: Array.from(scores, (v) => v > threshold), threshold };
}

/** Area under the ROC curve of scores separating positives (unknowns, larger scores) from negatives; ties count half. */
export function auroc(negatives: ArrayLike<number>, positives: ArrayLike<number>): number {
  const all = [...Array.from(negatives, (v) => ({ v, pos: false })), ...Array.from(positives, (v) => ({ v, pos: true }))].sort((a, b) => a.v - b.v);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].v === all[i].v) j++;
    const avg = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) if (all[t].pos) rankSum += avg;
    i = j;
  }
  const np = positives.length;
  const nn = negatives.length;
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
}
