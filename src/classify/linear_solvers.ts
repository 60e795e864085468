/**
 * The numerical cores of ftk's linear classifiers, written for any number of rows: they read the
 * feature matrix as it was loaded (float32, row-major, possibly in shared memory read by several
 * threads) and never copy or scale it. Scaling is folded into the arithmetic:
 * x~ = r_i (x_i - mean) * invScale, with r_i = 1 / |x_i| for the 'l2' scaler, else 1. Memory is
 * O(n + d * classes) on top of the matrix.
 *
 * - `dcdBinary`: L2-regularized hinge / squared-hinge SVM, solved in the dual by coordinate
 *   descent with shrinking (Hsieh, Chang, Lin, Keerthi & Sundararajan, ICML 2008; LIBLINEAR's
 *   `solve_l2r_l1l2_svc`, solvers -s 3 and -s 1). The intercept is the weight of a constant
 *   feature B (LIBLINEAR's -B, scikit-learn's intercept_scaling), regularized like the others.
 *   Stops when the projected-gradient spread max PG - min PG <= tol (LIBLINEAR's eps), or after
 *   maxIter epochs. A path over ascending C warm-starts from the previous C's alphas (LIBLINEAR's
 *   C search does the same).
 * - `multinomialLossChunk`: loss and gradient pieces of multinomial logistic regression for a range
 *   of rows (summed by the caller over threads in a fixed order), and `lbfgs` to minimize it
 *   (Nocedal & Wright, algorithm 7.5, two-loop recursion, history 10, backtracking Armijo line
 *   search). scikit-learn minimizes the same objective with scipy's L-BFGS-B: mean weighted
 *   log-loss + |W|^2 / (2 C n), the intercept not penalized; it stops when max |gradient| <= tol
 *   or the relative decrease of f is below 64 machine epsilons, as here.
 */
import { Rng } from '../data/random.js';

/** qp . X[o .. o+d), four partial sums (shorter dependency chains). */
function rowDot(qp: Float64Array, X: Float32Array, o: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < d; k += 4) {
    s0 += qp[k] * X[o + k];
    s1 += qp[k + 1] * X[o + k + 1];
    s2 += qp[k + 2] * X[o + k + 2];
    s3 += qp[k + 3] * X[o + k + 3];
  }
  for (; k < d; k++) s0 += qp[k] * X[o + k];
  return s0 + s1 + (s2 + s3);
}

/** The feature matrix and the scaling folded into every access. */
export interface ScaledRows {
  /** n x d row-major (may be backed by a SharedArrayBuffer). */
  X: Float32Array;
  d: number;
  /** Subtracted from every row before scaling (standardize), or null. */
  mean: Float64Array | null;
  /** Multiplies every centred value (1 / std), or null. */
  invScale: Float64Array | null;
  /** Divide every row by its norm ('l2' scaler). */
  rowNorm: boolean;
}

/** 1 / |x_i| of each listed row (1 for a zero row), or null without row normalization. */
export function rowFactors(S: ScaledRows, rows: Int32Array): Float64Array | null {
  if (!S.rowNorm) return null;
  const { X, d } = S;
  const out = new Float64Array(rows.length);
  for (let s = 0; s < rows.length; s++) {
    const o = rows[s] * d;
    let sum = 0;
    for (let k = 0; k < d; k++) sum += X[o + k] * X[o + k];
    out[s] = sum > 0 ? 1 / Math.sqrt(sum) : 1;
  }
  return out;
}

export interface DcdProblem {
  S: ScaledRows;
  /** Training rows. */
  rows: Int32Array;
  /** +1 or -1 for each training row (same order as rows). */
  y: Int8Array;
  /** Multipliers of C for the positive and the negative class. */
  weightPos: number;
  weightNeg: number;
  loss: 'hinge' | 'squared_hinge';
  /** Constant feature carrying the intercept (0: no intercept). */
  bias: number;
  tol: number;
  maxIter: number;
  seed: number;
}

export interface DcdSolution {
  C: number;
  /** Weights in the scaled space (d) followed by the intercept. */
  w: Float64Array;
  epochs: number;
  converged: boolean;
}

/** Solves the binary problem for every C of `Cs` (best in ascending order), warm-starting each from the last. */
export function dcdBinary(p: DcdProblem, Cs: readonly number[]): DcdSolution[] {
  const { S, rows, y, loss, bias } = p;
  const { X, d } = S;
  const l = rows.length;
  const mean = S.mean;
  const u = S.invScale;
  const r = rowFactors(S, rows);
  // u^2 and the per-row constants of the folded scaling (see the file comment).
  const u2 = u ? Float64Array.from(u, (v) => v * v) : null;
  const b = new Float64Array(l); // b_i = sum u_k^2 m_k x_ik
  const xx = new Float64Array(l); // |x~_i|^2
  let mm = 0;
  if (mean) for (let k = 0; k < d; k++) mm += (u2 ? u2[k] : 1) * mean[k] * mean[k];
  for (let s = 0; s < l; s++) {
    const o = rows[s] * d;
    let bs = 0;
    let q = 0;
    for (let k = 0; k < d; k++) {
      const x = X[o + k];
      const uk = u2 ? u2[k] : 1;
      const mk = mean ? mean[k] : 0;
      bs += uk * mk * x;
      q += uk * (x - mk) * (x - mk);
    }
    b[s] = bs;
    const rs = r ? r[s] : 1;
    xx[s] = rs * rs * q + bias * bias;
  }
  const qp = new Float64Array(d); // q' (see file comment)
  let t = 0;
  let qm = 0;
  let wb = 0;
  const alpha = new Float64Array(l);
  const index = new Int32Array(l);
  const rng = new Rng(p.seed);
  const out: DcdSolution[] = [];
  let prevUpper = Number.POSITIVE_INFINITY;
  for (const C of Cs) {
    const cPos = C * p.weightPos;
    const cNeg = C * p.weightNeg;
    const upperPos = loss === 'hinge' ? cPos : Number.POSITIVE_INFINITY;
    const upperNeg = loss === 'hinge' ? cNeg : Number.POSITIVE_INFINITY;
    const diagPos = loss === 'hinge' ? 0 : 0.5 / cPos;
    const diagNeg = loss === 'hinge' ? 0 : 0.5 / cNeg;
    // A smaller upper bound than the previous C's: clip the alphas and rebuild w from them.
    if (loss === 'hinge' && Math.min(upperPos, upperNeg) < prevUpper && out.length > 0) {
      qp.fill(0);
      t = 0;
      qm = 0;
      wb = 0;
      for (let s = 0; s < l; s++) {
        const up = y[s] > 0 ? upperPos : upperNeg;
        if (alpha[s] > up) alpha[s] = up;
        if (alpha[s] !== 0) {
          const delta = alpha[s] * y[s];
          const c = delta * (r ? r[s] : 1);
          const o = rows[s] * d;
          if (u2) for (let k = 0; k < d; k++) qp[k] += c * u2[k] * X[o + k];
          else for (let k = 0; k < d; k++) qp[k] += c * X[o + k];
          t += c;
          qm += c * b[s];
          wb += delta * bias;
        }
      }
    }
    prevUpper = Math.min(upperPos, upperNeg);
    for (let s = 0; s < l; s++) index[s] = s;
    let active = l;
    let pgMaxOld = Number.POSITIVE_INFINITY;
    let pgMinOld = Number.NEGATIVE_INFINITY;
    let epoch = 0;
    let converged = false;
    while (epoch < p.maxIter) {
      let pgMaxNew = Number.NEGATIVE_INFINITY;
      let pgMinNew = Number.POSITIVE_INFINITY;
      for (let s = 0; s < active; s++) {
        const j = s + rng.int(active - s);
        const tmp = index[s];
        index[s] = index[j];
        index[j] = tmp;
      }
      for (let s = 0; s < active; s++) {
        const i = index[s];
        const yi = y[i];
        const o = rows[i] * d;
        const ri = r ? r[i] : 1;
        const dot = rowDot(qp, X, o, d);
        const wx = ri * (dot - t * b[i] - qm + t * mm) + wb * bias;
        const diag = yi > 0 ? diagPos : diagNeg;
        const upper = yi > 0 ? upperPos : upperNeg;
        const a = alpha[i];
        const G = yi * wx - 1 + a * diag;
        let PG = 0;
        if (a === 0) {
          if (G > pgMaxOld) {
            active--;
            index[s] = index[active];
            index[active] = i;
            s--;
            continue;
          } else if (G < 0) PG = G;
        } else if (a === upper) {
          if (G < pgMinOld) {
            active--;
            index[s] = index[active];
            index[active] = i;
            s--;
            continue;
          } else if (G > 0) PG = G;
        } else PG = G;
        if (PG > pgMaxNew) pgMaxNew = PG;
        if (PG < pgMinNew) pgMinNew = PG;
        if (Math.abs(PG) > 1e-12) {
          let an = a - G / (xx[i] + diag);
          if (an < 0) an = 0;
          else if (an > upper) an = upper;
          alpha[i] = an;
          const delta = (an - a) * yi;
          const c = delta * ri;
          if (u2) for (let k = 0; k < d; k++) qp[k] += c * u2[k] * X[o + k];
          else for (let k = 0; k < d; k++) qp[k] += c * X[o + k];
          t += c;
          qm += c * b[i];
          wb += delta * bias;
        }
      }
      epoch++;
      if (pgMaxNew - pgMinNew <= p.tol) {
        if (active === l) {
          converged = true;
          break;
        }
        active = l;
        pgMaxOld = Number.POSITIVE_INFINITY;
        pgMinOld = Number.NEGATIVE_INFINITY;
        continue;
      }
      pgMaxOld = pgMaxNew <= 0 ? Number.POSITIVE_INFINITY : pgMaxNew;
      pgMinOld = pgMinNew >= 0 ? Number.NEGATIVE_INFINITY : pgMinNew;
    }
    // w_k = q_k / u_k, q = q' - t u^2 m.
    const w = new Float64Array(d + 1);
    for (let k = 0; k < d; k++) {
      const qk = qp[k] - (mean ? t * (u2 ? u2[k] : 1) * mean[k] : 0);
      w[k] = u ? qk / u[k] : qk;
    }
    w[d] = wb * bias;
    out.push({ C, w, epochs: epoch, converged });
  }
  return out;
}

/** Inputs of one slice of the multinomial loss: coefficients folded with the scaling. */
export interface MultinomialSlice {
  S: ScaledRows;
  rows: Int32Array;
  /** Class code of each row (same order as rows). */
  codes: Int32Array;
  /** Weight of each class (class_weight), or null. */
  classWeights: Float64Array | null;
  k: number;
  /** V = W * invScale, k x d. */
  V: Float64Array;
  /** V . mean per class (0 without a mean). */
  Vm: Float64Array;
  /** Intercepts. */
  b: Float64Array;
}

export interface MultinomialPieces {
  /** Sum of weighted log-losses. */
  loss: number;
  /** H_c = sum_i e_ic r_i x_i (k x d, raw rows), R_c = sum_i e_ic r_i, gb_c = sum_i e_ic. */
  H: Float64Array;
  R: Float64Array;
  gb: Float64Array;
}

/** Loss and gradient pieces of rows [start, end) of the slice. */
export function multinomialLossChunk(m: MultinomialSlice, start: number, end: number): MultinomialPieces {
  const { S, rows, codes, k, V, Vm, b, classWeights } = m;
  const { X, d } = S;
  const H = new Float64Array(k * d);
  const R = new Float64Array(k);
  const gb = new Float64Array(k);
  const z = new Float64Array(k);
  const r = S.rowNorm ? rowFactors(S, rows.subarray(start, end)) : null;
  let loss = 0;
  for (let s = start; s < end; s++) {
    const o = rows[s] * d;
    const ri = r ? r[s - start] : 1;
    // z = r (V x - Vm) + b, four classes at a time (one read of x for four dot products).
    let c = 0;
    for (; c + 3 < k; c += 4) {
      const v0 = c * d;
      const v1 = v0 + d;
      const v2 = v1 + d;
      const v3 = v2 + d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = 0; j < d; j++) {
        const x = X[o + j];
        s0 += V[v0 + j] * x;
        s1 += V[v1 + j] * x;
        s2 += V[v2 + j] * x;
        s3 += V[v3 + j] * x;
      }
      z[c] = ri * (s0 - Vm[c]) + b[c];
      z[c + 1] = ri * (s1 - Vm[c + 1]) + b[c + 1];
      z[c + 2] = ri * (s2 - Vm[c + 2]) + b[c + 2];
      z[c + 3] = ri * (s3 - Vm[c + 3]) + b[c + 3];
    }
    for (; c < k; c++) {
      const v0 = c * d;
      let s0 = 0;
      for (let j = 0; j < d; j++) s0 += V[v0 + j] * X[o + j];
      z[c] = ri * (s0 - Vm[c]) + b[c];
    }
    const yi = codes[s];
    let zmax = z[0];
    for (let q = 1; q < k; q++) if (z[q] > zmax) zmax = z[q];
    const zy = z[yi] - zmax;
    let sum = 0;
    for (let q = 0; q < k; q++) {
      z[q] = Math.exp(z[q] - zmax);
      sum += z[q];
    }
    const sw = classWeights ? classWeights[yi] : 1;
    // log-loss = log(sum exp z) - z_y = log(sum exp(z - zmax)) - (z_y - zmax).
    loss += sw * (Math.log(sum) - zy);
    const inv = 1 / sum;
    for (let q = 0; q < k; q++) z[q] = sw * (z[q] * inv - (q === yi ? 1 : 0));
    for (let q = 0; q < k; q++) {
      gb[q] += z[q];
      R[q] += z[q] * ri;
    }
    c = 0;
    for (; c + 3 < k; c += 4) {
      const e0 = z[c] * ri;
      const e1 = z[c + 1] * ri;
      const e2 = z[c + 2] * ri;
      const e3 = z[c + 3] * ri;
      const h0 = c * d;
      const h1 = h0 + d;
      const h2 = h1 + d;
      const h3 = h2 + d;
      for (let j = 0; j < d; j++) {
        const x = X[o + j];
        H[h0 + j] += e0 * x;
        H[h1 + j] += e1 * x;
        H[h2 + j] += e2 * x;
        H[h3 + j] += e3 * x;
      }
    }
    for (; c < k; c++) {
      const e0 = z[c] * ri;
      const h0 = c * d;
      for (let j = 0; j < d; j++) H[h0 + j] += e0 * X[o + j];
    }
  }
  return { loss, H, R, gb };
}

export interface LbfgsOptions {
  maxIter: number;
  /** Stop when max |g| <= gtol. */
  gtol: number;
  /** Stop when (f_old - f) / max(|f_old|, |f|, 1) <= ftol. Default 64 * eps (scikit-learn's). */
  ftol?: number;
  /** History length. Default 10 (scipy's). */
  history?: number;
  /** Most function evaluations per line search. Default 50 (scikit-learn's maxls). */
  maxLineSearch?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  /** Why it stopped. */
  reason: 'gtol' | 'ftol' | 'maxIter' | 'lineSearch';
}

/** f(x) and its gradient (written into g). */
export type Objective = (x: Float64Array, g: Float64Array) => number | Promise<number>;

function dotv(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m) m = v;
  }
  return m;
}

/** Minimizes a smooth function by L-BFGS (two-loop recursion, backtracking Armijo line search). */
export async function lbfgs(fg: Objective, x0: Float64Array, options: LbfgsOptions): Promise<LbfgsResult> {
  const n = x0.length;
  const hist = options.history ?? 10;
  const ftol = options.ftol ?? 64 * Number.EPSILON;
  const maxLs = options.maxLineSearch ?? 50;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  let f = await fg(x, g);
  let evaluations = 1;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const dir = new Float64Array(n);
  const xNew = new Float64Array(n);
  const gNew = new Float64Array(n);
  const alphaBuf = new Float64Array(hist);
  if (maxAbs(g) <= options.gtol) return { x, f, iterations: 0, evaluations, converged: true, reason: 'gtol' };
  for (let iter = 1; iter <= options.maxIter; iter++) {
    // Two-loop recursion: dir = -H g.
    for (let i = 0; i < n; i++) dir[i] = -g[i];
    for (let j = S.length - 1; j >= 0; j--) {
      const a = rho[j] * dotv(S[j], dir);
      alphaBuf[j] = a;
      const yj = Y[j];
      for (let i = 0; i < n; i++) dir[i] -= a * yj[i];
    }
    if (S.length > 0) {
      const last = S.length - 1;
      const gamma = dotv(S[last], Y[last]) / dotv(Y[last], Y[last]);
      for (let i = 0; i < n; i++) dir[i] *= gamma;
    }
    for (let j = 0; j < S.length; j++) {
      const beta = rho[j] * dotv(Y[j], dir);
      const sj = S[j];
      const c = alphaBuf[j] - beta;
      for (let i = 0; i < n; i++) dir[i] += c * sj[i];
    }
    let slope = dotv(g, dir);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      for (let i = 0; i < n; i++) dir[i] = -g[i];
      slope = dotv(g, dir);
    }
    let step = S.length === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    let fNew = Number.NaN;
    let accepted = false;
    for (let ls = 0; ls < maxLs; ls++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i] + step * dir[i];
      fNew = await fg(xNew, gNew);
      evaluations++;
      if (Number.isFinite(fNew) && fNew <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) return { x, f, iterations: iter, evaluations, converged: false, reason: 'lineSearch' };
    const s = new Float64Array(n);
    const yv = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i] - x[i];
      yv[i] = gNew[i] - g[i];
    }
    const sy = dotv(s, yv);
    if (sy > 1e-10 * dotv(yv, yv)) {
      if (S.length === hist) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(yv);
      rho.push(1 / sy);
    }
    const fOld = f;
    x.set(xNew);
    g.set(gNew);
    f = fNew;
    if (maxAbs(g) <= options.gtol) return { x, f, iterations: iter, evaluations, converged: true, reason: 'gtol' };
    if ((fOld - f) / Math.max(Math.abs(fOld), Math.abs(f), 1) <= ftol) return { x, f, iterations: iter, evaluations, converged: true, reason: 'ftol' };
  }
  return { x, f, iterations: options.maxIter, evaluations, converged: false, reason: 'maxIter' };
}
