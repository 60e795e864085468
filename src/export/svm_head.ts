/**
 * An ftk SVM model (src/formats/svm_model.ts) as ONNX operators, computing what
 * `SvmClassifier.predictProba` / `predict` compute (src/classify/svm.ts, ovo.ts), in the same
 * precision where it matters:
 *
 *   features float32 [N, D]
 *   -> scaler in float64, rounded to float32 (applyScaler's Float32Array)
 *   -> dot products with the support vectors in float32 (GramEngine.cross), then float64:
 *      linear: K = dots; rbf: K = exp(-gamma * max(|x|^2 + |sv|^2 - 2 x.sv, 0))
 *   -> pairwise decision values K . W - rho, W the one-vs-one coefficients laid out per pair
 *      (libsvm's sv_coef: pair (i, j) reads class i's SVs in row j-1, class j's in row i)
 *   -> with Platt parameters: P(i | i or j) = 1 / (1 + exp(A f + B)) clipped to [1e-7, 1-1e-7];
 *      2 classes: [r, 1 - r]; more: libsvm's pairwise coupling (Wu, Lin & Weng 2004, method 2),
 *      its fixed-point sweeps as an ONNX Loop (at most max(100, k) sweeps), each sample frozen
 *      (zero update) from the sweep where libsvm's stopping test holds, so the iterate is libsvm's;
 *   -> without them: libsvm's one-vs-one vote (ties to the lower class) as a one-hot vector,
 *      what `ftk predict` reports for such models.
 *
 * A new kernel is one more case in `kernelValues` (a function of the dot products and norms).
 */
import type { SvmModelJson } from '../formats/svm_model.js';
import { decodeFloat32 } from '../formats/svm_model.js';
import { ElemType, valueInfo, type ClassifierGraph } from './graph.js';

/** Pairs (i, j), i < j, in libsvm's order. */
function pairs(k: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) out.push([i, j]);
  return out;
}

/** Adds the SVM to the graph; `features` is float32 [N, D]. Returns float64 probabilities [N, k]. */
export function addSvmHead(g: ClassifierGraph, features: string, m: SvmModelJson, source: string): string {
  const k = m.classes.length;
  const d = m.nFeatures;
  const sv = decodeFloat32(m.supportVectors, source);
  const l = m.supportVectors.shape[0];
  const P = (k * (k - 1)) / 2;

  // Scaler (float64, then float32 as applyScaler stores it).
  let xs = features;
  if (m.scaler.kind !== 'none') {
    const x64 = g.cast(features, ElemType.DOUBLE, 'features_f64');
    let scaled: string;
    if (m.scaler.kind === 'standardize' || m.scaler.kind === 'sqrt-standardize') {
      // sign(x) sqrt(|x|) first for 'sqrt-standardize' (power normalization).
      const base = m.scaler.kind === 'sqrt-standardize' ? g.op('Mul', [g.op('Sign', [x64], 'signs'), g.op('Sqrt', [g.op('Abs', [x64], 'magnitudes')], 'roots')], 'signed_roots') : x64;
      const centred = g.op('Sub', [base, g.double('scaler_mean', [d], m.scaler.mean)], 'centred');
      scaled = g.op('Div', [centred, g.double('scaler_scale', [d], m.scaler.scale)], 'standardized');
    } else {
      const sq = g.op('ReduceSum', [g.op('Mul', [x64, x64], 'squares'), g.int64('axis1', [1])], 'sum_squares', { keepdims: 1 });
      const inv = g.op('Div', [g.double('one_d', [], [1]), g.op('Sqrt', [sq], 'norm')], 'inv_norm');
      const safe = g.op('Where', [g.op('Greater', [sq, g.double('zero_d', [], [0])], 'nonzero'), inv, g.double('one_d', [], [1])], 'inv_norm_safe');
      scaled = g.op('Mul', [x64, safe], 'normalized_rows');
    }
    xs = g.cast(scaled, ElemType.FLOAT, 'scaled');
  }

  // Dot products with the support vectors: float32 as GramEngine.cross.
  const svT = new Float32Array(d * l);
  for (let s = 0; s < l; s++) for (let j = 0; j < d; j++) svT[j * l + s] = sv[s * d + j];
  const dots = g.cast(g.op('MatMul', [xs, g.float('support_vectors_t', [d, l], svT)], 'dots'), ElemType.DOUBLE, 'dots_f64');
  const kernel = kernelValues(g, m, dots, xs, sv, l, d);

  // Pairwise decision values.
  const W = new Float64Array(l * P);
  const start: number[] = [];
  let acc = 0;
  for (const n of m.nSupport) {
    start.push(acc);
    acc += n;
  }
  pairs(k).forEach(([i, j], p) => {
    for (let s = 0; s < m.nSupport[i]; s++) W[(start[i] + s) * P + p] = m.dualCoef[j - 1][start[i] + s];
    for (let s = 0; s < m.nSupport[j]; s++) W[(start[j] + s) * P + p] = m.dualCoef[i][start[j] + s];
  });
  const dec = g.op('Sub', [g.op('MatMul', [kernel, g.double('pair_coef', [l, P], W)], 'pair_sums'), g.double('rho', [P], m.rho)], 'decision');

  if (m.probA && m.probB) return plattProbabilities(g, dec, k, m.probA, m.probB);
  return voteOneHot(g, dec, k);
}

/** Kernel values [N, l] float64 from the float64 dot products. */
function kernelValues(g: ClassifierGraph, m: SvmModelJson, dots: string, xs: string, sv: Float32Array, l: number, d: number): string {
  switch (m.kernel) {
    case 'linear':
      return dots;
    case 'rbf': {
      const x64 = g.cast(xs, ElemType.DOUBLE, 'scaled_f64');
      const xNorm = g.op('ReduceSum', [g.op('Mul', [x64, x64], 'x_squares'), g.int64('axis1', [1])], 'x_norms', { keepdims: 1 });
      const svNorms = new Float64Array(l);
      for (let s = 0; s < l; s++) {
        let sum = 0;
        for (let j = 0; j < d; j++) sum += sv[s * d + j] * sv[s * d + j];
        svNorms[s] = sum;
      }
      const twice = g.op('Mul', [dots, g.double('two_d', [], [2])], 'twice_dots');
      const d2 = g.op('Sub', [g.op('Add', [xNorm, g.double('sv_norms', [1, l], svNorms)], 'norm_sums'), twice], 'sq_distances');
      const clamped = g.op('Max', [d2, g.double('zero_d', [], [0])], 'sq_distances_clamped');
      return g.op('Exp', [g.op('Mul', [clamped, g.double('neg_gamma', [], [-m.gamma!])], 'scaled_distances')], 'kernel');
    }
    default:
      throw new Error(`kernel ${String(m.kernel)} has no ONNX translation`);
  }
}

/** One-hot of libsvm's vote [N, k] float64. */
function voteOneHot(g: ClassifierGraph, dec: string, k: number): string {
  const P = (k * (k - 1)) / 2;
  const toI = new Float64Array(P * k);
  const toJ = new Float64Array(P * k);
  pairs(k).forEach(([i, j], p) => {
    toI[p * k + i] = 1;
    toJ[p * k + j] = 1;
  });
  const wins = g.cast(g.op('Greater', [dec, g.double('zero_d', [], [0])], 'pair_wins'), ElemType.DOUBLE, 'pair_wins_f64');
  const losses = g.op('Sub', [g.double('one_d', [], [1]), wins], 'pair_losses');
  const votes = g.op('Add', [g.op('MatMul', [wins, g.double('votes_i', [P, k], toI)], 'votes_i_sum'), g.op('MatMul', [losses, g.double('votes_j', [P, k], toJ)], 'votes_j_sum')], 'votes');
  // ArgMax returns the first maximum: ties go to the lower class, as libsvm's vote.
  const winner = g.op('ArgMax', [g.cast(votes, ElemType.FLOAT, 'votes_f32')], 'vote_winner', { axis: 1, keepdims: 1, select_last_index: 0 });
  const classIds = g.int64('class_ids', Array.from({ length: k }, (_, i) => i), [1, k]);
  return g.cast(g.op('Equal', [winner, classIds], 'vote_one_hot'), ElemType.DOUBLE, 'vote_probabilities');
}

/** libsvm's probability estimates [N, k] float64 from decision values [N, P]. */
function plattProbabilities(g: ClassifierGraph, dec: string, k: number, A: number[], B: number[]): string {
  const P = (k * (k - 1)) / 2;
  const f = g.op('Add', [g.op('Mul', [dec, g.double('platt_a', [P], A)], 'platt_fa'), g.double('platt_b', [P], B)], 'platt_f');
  const one = g.double('one_d', [], [1]);
  const sig = g.op('Div', [one, g.op('Add', [one, g.op('Exp', [f], 'platt_exp')], 'platt_denominator')], 'pair_probability_raw');
  const r = g.op('Max', [g.op('Min', [sig, g.double('max_prob', [], [1 - 1e-7])], 'pair_probability_hi'), g.double('min_prob', [], [1e-7])], 'pair_probability');
  if (k === 2) return g.op('Concat', [r, g.op('Sub', [one, r], 'pair_probability_other')], 'coupled', { axis: 1 });
  return couple(g, r, k);
}

/** Pairwise coupling (ovo.ts `couplePairwise`): a Loop of sweeps with per-sample freezing. */
function couple(g: ClassifierGraph, r: string, k: number): string {
  const P = (k * (k - 1)) / 2;
  const upper = new Float64Array(P * k * k);
  const lower = new Float64Array(P * k * k);
  pairs(k).forEach(([i, j], p) => {
    upper[p * k * k + i * k + j] = 1;
    lower[p * k * k + j * k + i] = 1;
  });
  const one = g.double('one_d', [], [1]);
  const rFlat = g.op('Add', [g.op('MatMul', [r, g.double('pair_upper', [P, k * k], upper)], 'r_upper'), g.op('MatMul', [g.op('Sub', [one, r], 'r_complement'), g.double('pair_lower', [P, k * k], lower)], 'r_lower')], 'r_flat');
  const R = g.op('Reshape', [rFlat, g.int64('rk_shape', [0, k, k])], 'r_matrix'); // R[t][j] = r_tj
  const RT = g.op('Transpose', [R], 'r_matrix_t', { perm: [0, 2, 1] });
  // Q[t][j] = -r_jt r_tj (t != j); Q[t][t] = sum_j r_jt^2.
  const diag = g.op('ReduceSum', [g.op('Mul', [R, R], 'r_squares'), g.int64('axis1', [1])], 'q_diag', { keepdims: 0 }); // [N, k]: sum over j of R[j][t]^2
  const eye = new Float64Array(k * k);
  for (let t = 0; t < k; t++) eye[t * k + t] = 1;
  const diagMatrix = g.op('Mul', [g.op('Unsqueeze', [diag, g.int64('axis2', [2])], 'q_diag_col'), g.double('eye', [k, k], eye)], 'q_diag_matrix');
  const Q = g.op('Sub', [diagMatrix, g.op('Mul', [R, RT], 'r_products')], 'q');
  const rows: string[] = [];
  const diagCols: string[] = [];
  for (let t = 0; t < k; t++) {
    const idx = g.int64(`t${t}`, [t]);
    rows.push(g.op('Squeeze', [g.op('Gather', [Q, idx], `q_row_${t}_3d`, { axis: 1 }), g.int64('axis1', [1])], `q_row_${t}`)); // [N, k]
    diagCols.push(g.op('Gather', [diag, idx], `q_diag_${t}`, { axis: 1 })); // [N, 1]
  }
  const axis1 = g.int64('axis1', [1]);
  const zero = g.double('zero_d', [], [0]);
  const p0 = g.op('Add', [g.op('Mul', [diag, zero], 'p_zeros'), g.double('uniform', [], [1 / k])], 'p0');
  const done0 = g.op('Greater', [g.op('ReduceSum', [g.op('Mul', [diag, zero], 'done_zeros'), axis1], 'done_zero_sum', { keepdims: 1 }), one], 'done0'); // false, [N, 1]
  const eps = g.double('coupling_eps', [], [0.005 / k]);
  const two = g.double('two_d', [], [2]);
  const maxIter = Math.max(100, k);
  // One sweep of couplePairwise per Loop iteration; the loop ends when every sample has converged.
  const inIter = g.reserve(g.fresh('loop_iter'));
  const inCond = g.reserve(g.fresh('loop_cond'));
  const inP = g.reserve(g.fresh('loop_p'));
  const inDone = g.reserve(g.fresh('loop_done'));
  let pOut = '';
  let doneOut = '';
  let condOut = '';
  const body = g.subgraph(() => {
    let Qp = g.op('Squeeze', [g.op('MatMul', [Q, g.op('Unsqueeze', [inP, g.int64('axis2', [2])], 'p_col')], 'qp3'), g.int64('axis2', [2])], 'qp');
    let pQp = g.op('ReduceSum', [g.op('Mul', [inP, Qp], 'pqp_terms'), axis1], 'pqp', { keepdims: 1 });
    const maxError = g.op('ReduceMax', [g.op('Abs', [g.op('Sub', [Qp, pQp], 'qp_err')], 'qp_abs')], 'max_error', { axes: [1], keepdims: 1 });
    doneOut = g.op('Or', [inDone, g.op('Less', [maxError, eps], 'converged')], 'done');
    let p = inP;
    for (let t = 0; t < k; t++) {
      const qpt = g.op('Gather', [Qp, g.int64(`t${t}`, [t])], `qp_${t}`, { axis: 1 });
      const raw = g.op('Div', [g.op('Sub', [pQp, qpt], `diff_num_${t}`), diagCols[t]], `diff_raw_${t}`);
      const diff = g.op('Where', [doneOut, zero, raw], `diff_${t}`); // a converged sample stays as it is
      const onePlus = g.op('Add', [one, diff], `one_plus_${t}`);
      const onehot = new Float64Array(k);
      onehot[t] = 1;
      const bumped = g.op('Add', [p, g.op('Mul', [diff, g.double(`onehot_${t}`, [k], onehot)], `p_bump_${t}`)], `p_bumped_${t}`);
      const inner = g.op('Add', [g.op('Mul', [diff, diagCols[t]], `dq_${t}`), g.op('Mul', [two, qpt], `two_qp_${t}`)], `pqp_inner_${t}`);
      const pQpNum = g.op('Add', [pQp, g.op('Mul', [diff, inner], `pqp_delta_${t}`)], `pqp_num_${t}`);
      pQp = g.op('Div', [g.op('Div', [pQpNum, onePlus], `pqp_d1_${t}`), onePlus], `pqp_${t}`);
      Qp = g.op('Div', [g.op('Add', [Qp, g.op('Mul', [diff, rows[t]], `qp_delta_${t}`)], `qp_num_${t}`), onePlus], `qp_${t}_next`);
      p = g.op('Div', [bumped, onePlus], `p_${t}`);
    }
    pOut = g.op('Identity', [p], 'p_next');
    const allDone = g.op('ReduceMin', [g.cast(doneOut, ElemType.FLOAT, 'done_f32')], 'all_done', { keepdims: 0 });
    condOut = g.op('Less', [allDone, g.float('half', [], [0.5])], 'continue');
  });
  const dims = (n: number) => ['batch', n] as (string | number)[];
  const [p] = g.opWithGraph(
    'Loop',
    [g.int64('max_iter', [maxIter], []), g.bool('true', [], [true]), p0, done0],
    [g.fresh('coupled'), g.fresh('coupled_done')],
    'body',
    {
      name: 'coupling_sweep',
      node: body,
      input: [valueInfo(inIter, ElemType.INT64, []), valueInfo(inCond, ElemType.BOOL, []), valueInfo(inP, ElemType.DOUBLE, dims(k)), valueInfo(inDone, ElemType.BOOL, dims(1))],
      output: [valueInfo(condOut, ElemType.BOOL, []), valueInfo(pOut, ElemType.DOUBLE, dims(k)), valueInfo(doneOut, ElemType.BOOL, dims(1))],
    },
  );
  return p;
}
