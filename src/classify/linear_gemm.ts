/**
 * The loss-and-gradient pieces of a linear model over all training rows, computed by one ONNX
 * graph on ONNX Runtime's CPU kernels (src/runtime/onnx_function.ts): the two matrix products
 * every evaluation needs (scores Z = X V^T, weighted rows H = E^T X) on MLAS' multi-threaded
 * SGEMM, and the row losses and their derivatives E between them as element-wise operators.
 * JavaScript only sums the n row losses (float64, so L-BFGS' relative-decrease test sees the
 * objective to double precision).
 *
 * The scaling is folded in as everywhere in the linear solvers (linear_solvers.ts): the rows are
 * read raw and in place, z_i = r_i (V x_i - V m) + b.
 *
 * Losses (the pieces are those of multinomialLossChunk: loss, H_c = sum_i e_ic r_i x_i,
 * R_c = sum_i e_ic r_i, gb_c = sum_i e_ic):
 * - 'softmax': multinomial log-loss w_y (logsumexp(z) - z_y), e = w_y (softmax(z) - onehot(y));
 * - 'squared-hinge': one-vs-rest, problem j separates class positive[j] from the rest,
 *   w_j max(0, 1 - y_j z_j)^2 with y_j = +-1 and w_j = weightPos[j] or weightNeg[j]
 *   (LIBLINEAR's C multipliers), e_j = -2 w_j y_j max(0, 1 - y_j z_j).
 */
import type * as Ort from 'onnxruntime-node';
import { GraphBuilder, OnnxFunction } from '../runtime/onnx_function.js';
import type { PiecesEvaluator } from './linear_fit.js';
import { rowFactors, type MultinomialPieces, type ScaledRows } from './linear_solvers.js';

export type LinearLoss =
  | { kind: 'softmax'; classWeights: Float64Array | null }
  | { kind: 'squared-hinge'; positive: Int32Array; weightPos: Float64Array; weightNeg: Float64Array };

/** The graph: inputs X, Vt, Vm, b, r and the loss' constants; outputs rowLoss, H, R, gb. */
function lossGraph(kind: LinearLoss['kind']): Uint8Array {
  const g = new GraphBuilder();
  const X = g.input('X', 'float32', ['n', 'd']);
  const Vt = g.input('Vt', 'float32', ['d', 'k']);
  const Vm = g.input('Vm', 'float32', [1, 'k']);
  const b = g.input('b', 'float32', [1, 'k']);
  const r = g.input('r', 'float32', ['n', 1]);
  const Z = g.op('Add', [g.op('Mul', [g.op('Sub', [g.op('MatMul', [X, Vt]), Vm]), r]), b]);
  let rowLoss: string;
  let E: string;
  if (kind === 'softmax') {
    const onehot = g.input('onehot', 'float32', ['n', 'k']);
    const w = g.input('w', 'float32', ['n', 1]);
    const y = g.input('y', 'int64', ['n', 1]);
    const L = g.op('LogSoftmax', [Z], { axis: 1 });
    rowLoss = g.op('Mul', [g.op('Neg', [g.op('GatherElements', [L, y], { axis: 1 })]), w], {}, 'rowLoss');
    E = g.op('Mul', [g.op('Sub', [g.op('Exp', [L]), onehot]), w]);
  } else {
    const sign = g.input('sign', 'float32', ['n', 'k']);
    const w = g.input('w', 'float32', ['n', 'k']);
    const margin = g.op('Relu', [g.op('Sub', [g.float([1], []), g.op('Mul', [sign, Z])])]);
    const wm = g.op('Mul', [w, margin]);
    rowLoss = g.op('ReduceSum', [g.op('Mul', [wm, margin]), g.int64([1])], { keepdims: 1 }, 'rowLoss');
    E = g.op('Mul', [g.op('Mul', [wm, sign]), g.float([-2], [])]);
  }
  const Er = g.op('Mul', [E, r]);
  g.op('Gemm', [Er, X], { transA: 1 }, 'H');
  g.op('ReduceSum', [Er, g.int64([0])], { keepdims: 0 }, 'R');
  g.op('ReduceSum', [E, g.int64([0])], { keepdims: 0 }, 'gb');
  g.output(rowLoss, 'float32', ['n', 1]);
  g.output('H', 'float32', ['k', 'd']);
  g.output('R', 'float32', ['k']);
  g.output('gb', 'float32', ['k']);
  return g.encode(`ftk_linear_${kind}`);
}

/**
 * The listed rows of X as one contiguous block in a plain ArrayBuffer (ONNX Runtime refuses shared
 * memory): X itself when rows are 0..n-1 in order and X is not shared.
 */
function contiguousRows(X: Float32Array, d: number, rows: Int32Array): Float32Array {
  let identity = rows.length * d <= X.length && !(X.buffer instanceof SharedArrayBuffer);
  for (let s = 0; identity && s < rows.length; s++) if (rows[s] !== s) identity = false;
  if (identity) return X.subarray(0, rows.length * d);
  const out = new Float32Array(rows.length * d);
  for (let s = 0; s < rows.length; s++) out.set(X.subarray(rows[s] * d, rows[s] * d + d), s * d);
  return out;
}

/** The loss' per-row constants (class codes as one-hot / signs and weights). */
function lossFeeds(fn: OnnxFunction, loss: LinearLoss, codes: Int32Array, k: number): Record<string, Ort.Tensor> {
  const n = codes.length;
  if (loss.kind === 'softmax') {
    const onehot = new Float32Array(n * k);
    const w = new Float32Array(n);
    const y = new BigInt64Array(n);
    for (let s = 0; s < n; s++) {
      onehot[s * k + codes[s]] = 1;
      w[s] = loss.classWeights ? loss.classWeights[codes[s]] : 1;
      y[s] = BigInt(codes[s]);
    }
    return {
      onehot: fn.tensor({ type: 'float32', data: onehot, dims: [n, k] }),
      w: fn.tensor({ type: 'float32', data: w, dims: [n, 1] }),
      y: fn.tensor({ type: 'int64', data: y, dims: [n, 1] }),
    };
  }
  const sign = new Float32Array(n * k);
  const w = new Float32Array(n * k);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < k; j++) {
      const pos = codes[s] === loss.positive[j];
      sign[s * k + j] = pos ? 1 : -1;
      w[s * k + j] = pos ? loss.weightPos[j] : loss.weightNeg[j];
    }
  }
  return { sign: fn.tensor({ type: 'float32', data: sign, dims: [n, k] }), w: fn.tensor({ type: 'float32', data: w, dims: [n, k] }) };
}

export interface GemmEvaluator {
  evaluate: PiecesEvaluator;
  release(): Promise<void>;
}

/**
 * An evaluator over `rows` of S for a model with k outputs. `codes` is each listed row's class
 * (same order as rows). Copies the rows once when they are not all of X in order (a fold).
 */
export async function gemmEvaluator(S: ScaledRows, rows: Int32Array, codes: Int32Array, k: number, loss: LinearLoss, threads: number): Promise<GemmEvaluator> {
  const { d } = S;
  const n = rows.length;
  const fn = await OnnxFunction.create(lossGraph(loss.kind), threads);
  const factors = rowFactors(S, rows);
  const fixed = {
    X: fn.tensor({ type: 'float32', data: contiguousRows(S.X, d, rows), dims: [n, d] }),
    r: fn.tensor({ type: 'float32', data: factors ? Float32Array.from(factors) : new Float32Array(n).fill(1), dims: [n, 1] }),
    ...lossFeeds(fn, loss, codes, k),
  };
  const Vt = new Float32Array(d * k);
  const evaluate: PiecesEvaluator = async (V, Vm, b) => {
    for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) Vt[j * k + c] = V[c * d + j];
    const out = await fn.run({
      ...fixed,
      Vt: { type: 'float32', data: Vt, dims: [d, k] },
      Vm: { type: 'float32', data: Float32Array.from(Vm), dims: [1, k] },
      b: { type: 'float32', data: Float32Array.from(b), dims: [1, k] },
    });
    let total = 0;
    for (const v of out.rowLoss) total += v;
    return { loss: total, H: Float64Array.from(out.H), R: Float64Array.from(out.R), gb: Float64Array.from(out.gb) } satisfies MultinomialPieces;
  };
  return { evaluate, release: () => fn.release() };
}
