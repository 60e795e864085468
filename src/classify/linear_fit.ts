/**
 * Multinomial logistic regression fitted by L-BFGS over a path of C values (each warm-started from
 * the previous one), with the loss evaluated by a caller-given function: inline over all rows, or
 * over slices of rows on worker threads, summed in a fixed order (linear.ts).
 */
import { lbfgs, multinomialLossChunk, type MultinomialPieces, type MultinomialSlice, type ScaledRows } from './linear_solvers.js';

export interface MultinomialProblem {
  S: ScaledRows;
  rows: Int32Array;
  codes: Int32Array;
  classWeights: Float64Array | null;
  k: number;
  fitIntercept: boolean;
  /**
   * The intercept is the weight of a constant feature of this value (LIBLINEAR's -B). Default 1
   * (the intercept itself).
   */
  interceptScaling?: number;
  /** Penalize the intercept's weight like the others (LIBLINEAR, LinearSVC). Default false (LogisticRegression). */
  penalizeIntercept?: boolean;
  tol: number;
  maxIter: number;
}

export interface MultinomialSolution {
  C: number;
  /** k x d weights in the scaled space. */
  W: Float64Array;
  /** k intercepts. */
  b: Float64Array;
  iterations: number;
  converged: boolean;
}

/** Evaluates the loss pieces of every row for coefficients (V, Vm, b); see multinomialLossChunk. */
export type PiecesEvaluator = (V: Float64Array, Vm: Float64Array, b: Float64Array) => Promise<MultinomialPieces>;

/** Sums pieces in the given order (so a fixed slice order gives the same bits every run). */
export function sumPieces(parts: readonly MultinomialPieces[]): MultinomialPieces {
  const out: MultinomialPieces = { loss: 0, H: new Float64Array(parts[0].H.length), R: new Float64Array(parts[0].R.length), gb: new Float64Array(parts[0].gb.length) };
  for (const p of parts) {
    out.loss += p.loss;
    for (let i = 0; i < p.H.length; i++) out.H[i] += p.H[i];
    for (let i = 0; i < p.R.length; i++) {
      out.R[i] += p.R[i];
      out.gb[i] += p.gb[i];
    }
  }
  return out;
}

/** An evaluator over all rows in the calling thread. */
export function inlineEvaluator(p: MultinomialProblem): PiecesEvaluator {
  return async (V, Vm, b) => {
    const slice: MultinomialSlice = { S: p.S, rows: p.rows, codes: p.codes, classWeights: p.classWeights, k: p.k, V, Vm, b };
    return multinomialLossChunk(slice, 0, p.rows.length);
  };
}

/**
 * Minimizes mean row loss + |W|^2 / (2 C n) (the row loss is the evaluator's: multinomial log-loss,
 * or the one-vs-rest squared hinge of linear_gemm.ts) by L-BFGS for every C of `Cs`, warm-starting
 * each from the previous solution.
 */
export async function fitMultinomialPath(p: MultinomialProblem, Cs: readonly number[], evaluate: PiecesEvaluator): Promise<MultinomialSolution[]> {
  const { k } = p;
  const { d, mean, invScale } = p.S;
  const n = p.rows.length;
  const kd = k * d;
  let x: Float64Array = new Float64Array(kd + k);
  const V = new Float64Array(kd);
  const Vm = new Float64Array(k);
  const out: MultinomialSolution[] = [];
  const B = p.interceptScaling ?? 1;
  const penalizeB = p.penalizeIntercept ?? false;
  const b = new Float64Array(k);
  for (const C of Cs) {
    const l2 = 1 / (C * n);
    const fg = async (w: Float64Array, g: Float64Array): Promise<number> => {
      for (let c = 0; c < k; c++) {
        let vm = 0;
        for (let j = 0; j < d; j++) {
          const v = invScale ? w[c * d + j] * invScale[j] : w[c * d + j];
          V[c * d + j] = v;
          if (mean) vm += v * mean[j];
        }
        Vm[c] = vm;
      }
      for (let c = 0; c < k; c++) b[c] = p.fitIntercept ? B * w[kd + c] : 0;
      const pieces = await evaluate(V, Vm, b);
      let reg = 0;
      for (let c = 0; c < k; c++) {
        for (let j = 0; j < d; j++) {
          const i = c * d + j;
          const h = pieces.H[i] - (mean ? mean[j] * pieces.R[c] : 0);
          g[i] = (invScale ? invScale[j] * h : h) / n + l2 * w[i];
          reg += w[i] * w[i];
        }
        g[kd + c] = p.fitIntercept ? (B * pieces.gb[c]) / n + (penalizeB ? l2 * w[kd + c] : 0) : 0;
        if (penalizeB) reg += w[kd + c] * w[kd + c];
      }
      return pieces.loss / n + 0.5 * l2 * reg;
    };
    const r = await lbfgs(fg, x, { maxIter: p.maxIter, gtol: p.tol });
    x = r.x;
    out.push({ C, W: x.slice(0, kd), b: p.fitIntercept ? x.slice(kd).map((v) => B * v) : new Float64Array(k), iterations: r.iterations, converged: r.converged });
  }
  return out;
}
