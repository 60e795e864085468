/**
 * One-vs-one SVM arithmetic in JS: pairwise decision values from kernel values, libsvm's voting,
 * scikit-learn's one-vs-rest transform, and libsvm's probability estimates (Platt scaling per pair,
 * then pairwise coupling). ftk predicts with these from its own model format, never through libsvm.
 *
 * Ported in behaviour (not in code) from libsvm 3.22 `svm_predict_values`,
 * `svm_predict_probability`, `sigmoid_train`/`sigmoid_predict` (Lin, Lin & Weng 2007, "A note on
 * Platt's probabilistic outputs for support vector machines"), `multiclass_probability` (Wu, Lin &
 * Weng 2004, "Probability estimates for multi-class classification by pairwise coupling", method 2),
 * and scikit-learn's `_ovr_decision_function`.
 */

/** The learned one-vs-one machines, in libsvm's layout. */
export interface OvoMachines {
  /** Number of classes k. */
  k: number;
  /** Support vectors per class (class order = model order). */
  nSV: Int32Array;
  /** Offset of each class's first support vector. */
  start: Int32Array;
  /** Total support vectors l. */
  l: number;
  /** (k-1) x l dual coefficients (libsvm `sv_coef`). */
  coef: Float64Array;
  /** k(k-1)/2 intercepts: decision = sum - rho. */
  rho: Float64Array;
}

export function machines(nSV: Int32Array, coef: Float64Array, rho: Float64Array): OvoMachines {
  const k = nSV.length;
  const start = new Int32Array(k);
  let l = 0;
  for (let i = 0; i < k; i++) {
    start[i] = l;
    l += nSV[i];
  }
  return { k, nSV, start, l, coef, rho };
}

/**
 * Pairwise decision values of one sample: `kv[kvOffset + s]` is K(x, SV_s). Pair p enumerates
 * (i, j), i < j, row by row; positive means class i.
 */
export function pairDecisions(m: OvoMachines, kv: ArrayLike<number>, kvOffset: number, out: Float64Array): void {
  const { k, start, nSV, coef, l, rho } = m;
  let p = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      let sum = 0;
      const si = start[i];
      const sj = start[j];
      const ci = (j - 1) * l; // coefficients of class i's SVs in machine (i, j)
      const cj = i * l; // coefficients of class j's SVs in machine (i, j)
      for (let s = 0; s < nSV[i]; s++) sum += coef[ci + si + s] * kv[kvOffset + si + s];
      for (let s = 0; s < nSV[j]; s++) sum += coef[cj + sj + s] * kv[kvOffset + sj + s];
      out[p] = sum - rho[p];
      p++;
    }
  }
}

/** libsvm's vote: machine (i, j) votes i when its value is > 0; ties go to the lower class. */
export function vote(k: number, dec: Float64Array, votes: Int32Array = new Int32Array(k)): number {
  votes.fill(0);
  let p = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      if (dec[p++] > 0) votes[i]++;
      else votes[j]++;
    }
  }
  let best = 0;
  for (let i = 1; i < k; i++) if (votes[i] > votes[best]) best = i;
  return best;
}

/** scikit-learn's one-vs-rest shape: votes plus confidences squashed into (-1/3, 1/3). */
export function ovrFromPairs(k: number, dec: Float64Array, out: Float64Array): void {
  const votes = new Float64Array(k);
  const conf = new Float64Array(k);
  let p = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const d = dec[p++];
      conf[i] += d;
      conf[j] -= d;
      if (d < 0) votes[j] += 1;
      else votes[i] += 1;
    }
  }
  for (let i = 0; i < k; i++) out[i] = votes[i] + conf[i] / (3 * (Math.abs(conf[i]) + 1));
}

/** P(class i | pair (i, j)) from a decision value: 1 / (1 + exp(A f + B)), computed stably. */
export function sigmoidPredict(dec: number, A: number, B: number): number {
  const f = dec * A + B;
  return f >= 0 ? Math.exp(-f) / (1 + Math.exp(-f)) : 1 / (1 + Math.exp(f));
}

/**
 * Fits Platt's sigmoid P(y=1|f) = 1 / (1 + exp(A f + B)) to decision values `dec` with targets
 * `positive[i]` (true for class +1), by Newton's method with backtracking line search on the
 * regularised targets (N+ + 1)/(N+ + 2) and 1/(N- + 2) (Lin, Lin & Weng 2007, algorithm 1).
 */
export function sigmoidTrain(dec: ArrayLike<number>, positive: ArrayLike<boolean>): { A: number; B: number } {
  const n = dec.length;
  let nPos = 0;
  for (let i = 0; i < n; i++) if (positive[i]) nPos++;
  const nNeg = n - nPos;
  const hi = (nPos + 1) / (nPos + 2);
  const lo = 1 / (nNeg + 2);
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = positive[i] ? hi : lo;
  const objective = (a: number, b: number): number => {
    let f = 0;
    for (let i = 0; i < n; i++) {
      const z = dec[i] * a + b;
      f += z >= 0 ? t[i] * z + Math.log1p(Math.exp(-z)) : (t[i] - 1) * z + Math.log1p(Math.exp(z));
    }
    return f;
  };
  let A = 0;
  let B = Math.log((nNeg + 1) / (nPos + 1));
  let fval = objective(A, B);
  const maxIter = 100;
  const minStep = 1e-10;
  const sigma = 1e-12; // keeps the Hessian positive definite
  const eps = 1e-5;
  for (let iter = 0; iter < maxIter; iter++) {
    let h11 = sigma;
    let h22 = sigma;
    let h21 = 0;
    let g1 = 0;
    let g2 = 0;
    for (let i = 0; i < n; i++) {
      const z = dec[i] * A + B;
      let p: number;
      let q: number;
      if (z >= 0) {
        const e = Math.exp(-z);
        p = e / (1 + e);
        q = 1 / (1 + e);
      } else {
        const e = Math.exp(z);
        p = 1 / (1 + e);
        q = e / (1 + e);
      }
      const d2 = p * q;
      h11 += dec[i] * dec[i] * d2;
      h22 += d2;
      h21 += dec[i] * d2;
      const d1 = t[i] - p;
      g1 += dec[i] * d1;
      g2 += d1;
    }
    if (Math.abs(g1) < eps && Math.abs(g2) < eps) break;
    const det = h11 * h22 - h21 * h21;
    const dA = -(h22 * g1 - h21 * g2) / det;
    const dB = -(-h21 * g1 + h11 * g2) / det;
    const gd = g1 * dA + g2 * dB;
    let step = 1;
    while (step >= minStep) {
      const nA = A + step * dA;
      const nB = B + step * dB;
      const nf = objective(nA, nB);
      if (nf < fval + 0.0001 * step * gd) {
        A = nA;
        B = nB;
        fval = nf;
        break;
      }
      step /= 2;
    }
    if (step < minStep) break; // line search failed: keep the last point, as libsvm does
  }
  return { A, B };
}

/**
 * Class probabilities from pairwise probabilities r[i][j] = P(i | i or j) (k x k, row-major):
 * the fixed-point iteration of Wu, Lin & Weng (2004), method 2, with libsvm's stopping rule
 * (max error below 0.005/k, at most max(100, k) sweeps).
 */
export function couplePairwise(k: number, r: Float64Array, out: Float64Array): void {
  if (k === 2) {
    out[0] = r[1];
    out[1] = r[k];
    return;
  }
  const Q = new Float64Array(k * k);
  const Qp = new Float64Array(k);
  for (let t = 0; t < k; t++) {
    out[t] = 1 / k;
    let diag = 0;
    for (let j = 0; j < k; j++) {
      if (j === t) continue;
      diag += r[j * k + t] * r[j * k + t];
      Q[t * k + j] = -r[j * k + t] * r[t * k + j];
    }
    Q[t * k + t] = diag;
  }
  const maxIter = Math.max(100, k);
  const eps = 0.005 / k;
  for (let iter = 0; iter < maxIter; iter++) {
    let pQp = 0;
    for (let t = 0; t < k; t++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += Q[t * k + j] * out[j];
      Qp[t] = s;
      pQp += out[t] * s;
    }
    let maxError = 0;
    for (let t = 0; t < k; t++) maxError = Math.max(maxError, Math.abs(Qp[t] - pQp));
    if (maxError < eps) break;
    for (let t = 0; t < k; t++) {
      const diff = (-Qp[t] + pQp) / Q[t * k + t];
      out[t] += diff;
      pQp = (pQp + diff * (diff * Q[t * k + t] + 2 * Qp[t])) / (1 + diff) / (1 + diff);
      for (let j = 0; j < k; j++) {
        Qp[j] = (Qp[j] + diff * Q[t * k + j]) / (1 + diff);
        out[j] /= 1 + diff;
      }
    }
  }
}

/** Class probabilities of one sample from its pairwise decision values (libsvm's -b 1 prediction). */
export function probabilities(k: number, dec: Float64Array, probA: Float64Array, probB: Float64Array, out: Float64Array): void {
  const minProb = 1e-7;
  const r = new Float64Array(k * k);
  let p = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const v = Math.min(Math.max(sigmoidPredict(dec[p], probA[p], probB[p]), minProb), 1 - minProb);
      r[i * k + j] = v;
      r[j * k + i] = 1 - v;
      p++;
    }
  }
  couplePairwise(k, r, out);
}
