/**
 * A saved unknown detector (src/trust/ood.ts, `UnknownDetectorJson`) as ONNX operators: the
 * exported classifier's `unknown_score` output, computed as `UnknownDetector.score` computes it.
 *
 *   features float32 [N, D] (the detector's input: the backbone's raw features for an SVM, the
 *   classifier layer's input for a fine-tuned model)
 *   -> L2-normalised in float64 (a zero row stays zero), rounded to float32 as l2Normalize stores it
 *   -> 'knn': dot products with the stored unit training rows in float64 (MatMul), the k-th largest
 *      (TopK, opset 11+), score = sqrt(max(0, |q|^2 + 1 - 2 q.r_k)): the Euclidean distance to the
 *      k-th nearest training image, with |r| = 1 as the JS code takes it;
 *   -> 'mahalanobis': v = q - mean_c for every class at once ([N, C, D] by broadcasting),
 *      v^T P v as MatMul + Mul + ReduceSum, the smallest over the classes (ReduceMin), its square root.
 *   -> float32 [N].
 * Everything in float64 (the stored float32 constants are cast once per run), so the only
 * difference from `ftk predict` is the backbone's own (ONNX Runtime against TF.js, about 1e-6
 * relative). Opset 13, default domain only.
 *
 * Size: knn stores the n x D training features (float32, as in the model file); mahalanobis the
 * C x D means and the D x D precision.
 */
import { decodeFloat32 } from '../formats/svm_model.js';
import type { UnknownDetectorJson } from '../formats/trust.js';
import { ElemType, type ClassifierGraph } from './graph.js';

/** Adds the detector's score of `features` (float32 [N, D]); returns float32 [N]. */
export function addUnknownHead(g: ClassifierGraph, features: string, u: UnknownDetectorJson, source: string): string {
  const d = u.nFeatures;
  const x = g.cast(features, ElemType.DOUBLE, 'unknown_features_f64');
  const axis1 = g.int64('axis1', [1]);
  const zero = g.double('zero_d', [], [0]);
  const one = g.double('one_d', [], [1]);
  const sq = g.op('ReduceSum', [g.op('Mul', [x, x], 'unknown_squares'), axis1], 'unknown_sum_squares', { keepdims: 1 });
  // 1 / |x| where |x| > 0, else 0 (l2Normalize leaves a zero row at zero); Where picks before the Inf of 1/0 could spread.
  const inv = g.op('Where', [g.op('Greater', [sq, zero], 'unknown_nonzero'), g.op('Div', [one, g.op('Sqrt', [sq], 'unknown_norm')], 'unknown_inv_norm_raw'), zero], 'unknown_inv_norm');
  const q32 = g.cast(g.op('Mul', [x, inv], 'unknown_unit_f64'), ElemType.FLOAT, 'unknown_unit_f32');
  const q = g.cast(q32, ElemType.DOUBLE, 'unknown_unit');
  let score: string;
  if (u.method === 'knn') {
    const k = u.k!;
    const ref = decodeFloat32(u.reference!, source);
    const n = u.reference!.shape[0];
    const refT = new Float32Array(d * n);
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) refT[j * n + r] = ref[r * d + j];
    const dots = g.op('MatMul', [q, g.cast(g.float('unknown_reference_t', [d, n], refT), ElemType.DOUBLE, 'unknown_reference_t_f64')], 'unknown_dots');
    const top = g.fresh('unknown_top_dots');
    g.opMulti('TopK', [dots, g.int64('unknown_k', [k])], [top, g.fresh('unknown_top_indices')], { axis: 1, largest: 1, sorted: 1 });
    const kth = g.op('Slice', [top, g.int64('unknown_kth_start', [k - 1]), g.int64('unknown_kth_end', [k]), axis1], 'unknown_kth_dot');
    const qq = g.op('ReduceSum', [g.op('Mul', [q, q], 'unknown_unit_squares'), axis1], 'unknown_unit_sq_norm', { keepdims: 1 });
    const d2 = g.op('Sub', [g.op('Add', [qq, one], 'unknown_norm_sum'), g.op('Mul', [kth, g.double('two_d', [], [2])], 'unknown_twice_dot')], 'unknown_sq_distance');
    score = g.op('Sqrt', [g.op('Max', [d2, zero], 'unknown_sq_distance_clamped')], 'unknown_distance_col');
    score = g.op('Squeeze', [score, axis1], 'unknown_distance');
  } else {
    const means = decodeFloat32(u.means!, source);
    const classes = u.means!.shape[0];
    const precision = decodeFloat32(u.precision!, source);
    const diff = g.op('Sub', [g.op('Unsqueeze', [q, axis1], 'unknown_unit_3d'), g.cast(g.float('unknown_means', [classes, d], means), ElemType.DOUBLE, 'unknown_means_f64')], 'unknown_centred');
    const vp = g.op('MatMul', [diff, g.cast(g.float('unknown_precision', [d, d], precision), ElemType.DOUBLE, 'unknown_precision_f64')], 'unknown_centred_p');
    const quad = g.op('ReduceSum', [g.op('Mul', [vp, diff], 'unknown_quad_terms'), g.int64('axis2', [2])], 'unknown_quad', { keepdims: 0 });
    const min = g.op('ReduceMin', [quad], 'unknown_min_quad', { axes: [1], keepdims: 0 });
    score = g.op('Sqrt', [g.op('Max', [min, zero], 'unknown_min_quad_clamped')], 'unknown_distance');
  }
  return g.cast(score, ElemType.FLOAT, 'unknown_score_f32');
}
