/**
 * The linear solvers' products on ONNX Runtime (src/classify/linear_gemm.ts,
 * src/runtime/onnx_gemm.ts): the pieces equal the float64 JavaScript loss's, the squared hinge's
 * derivative is right, LinearSVC's primal reaches scikit-learn's (dual) solution, and a
 * LogisticRegression large enough to run on ONNX Runtime finds the JavaScript path's solution.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LinearSVC, LogisticRegression } from '../src/classify/linear.js';
import { fitMultinomialPath, inlineEvaluator } from '../src/classify/linear_fit.js';
import { gemmEvaluator } from '../src/classify/linear_gemm.js';
import { MATRIX_PRODUCT_MIN_VALUES, matrixProductsPay } from '../src/classify/linear_options.js';
import { sharedMatrix } from '../src/classify/linear_pool.js';
import { multinomialLossChunk } from '../src/classify/linear_solvers.js';
import { Rng } from '../src/data/random.js';
import { fixture, SKLEARN } from './helpers/linear_fixture.js';

function relClose(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b} (tol ${tol})`);
}

test('the pieces on ONNX Runtime equal the float64 JavaScript loss (rows picked out of a shared matrix, l2 row scaling, class weights)', async () => {
  const rng = new Rng(3);
  const N = 300;
  const d = 9;
  const k = 6;
  const X = sharedMatrix(Float32Array.from({ length: N * d }, () => rng.normal()));
  const rows = Int32Array.from({ length: 200 }, (_, i) => (i * 7) % N);
  const codes = Int32Array.from(rows, (i) => i % k);
  const weights = Float64Array.from({ length: k }, (_, c) => 1 + c / 3);
  for (const rowNorm of [false, true]) {
    const S = { X, d, mean: null, invScale: null, rowNorm };
    const V = Float64Array.from({ length: k * d }, () => 0.3 * rng.normal());
    const Vm = Float64Array.from({ length: k }, () => 0.05 * rng.normal());
    const b = Float64Array.from({ length: k }, () => 0.1 * rng.normal());
    const js = multinomialLossChunk({ S, rows, codes, classWeights: weights, k, V, Vm, b }, 0, rows.length);
    const g = await gemmEvaluator(S, rows, codes, k, { kind: 'softmax', classWeights: weights }, 2);
    try {
      const onnx = await g.evaluate(V, Vm, b);
      relClose(onnx.loss, js.loss, 1e-5, `loss (rowNorm ${rowNorm})`);
      for (let i = 0; i < k * d; i++) relClose(onnx.H[i], js.H[i], 1e-4, `H[${i}]`);
      for (let c = 0; c < k; c++) {
        relClose(onnx.R[c], js.R[c], 1e-5, `R[${c}]`);
        relClose(onnx.gb[c], js.gb[c], 1e-5, `gb[${c}]`);
      }
    } finally {
      await g.release();
    }
  }
});

/** The one-vs-rest squared hinge pieces in float64, row by row (the reference of the graph). */
function hingeReference(X: Float32Array, d: number, rows: Int32Array, codes: Int32Array, V: Float64Array, Vm: Float64Array, b: Float64Array, positive: number[], wPos: number[], wNeg: number[]) {
  const k = positive.length;
  const H = new Float64Array(k * d);
  const R = new Float64Array(k);
  const gb = new Float64Array(k);
  let loss = 0;
  rows.forEach((row, s) => {
    for (let j = 0; j < k; j++) {
      let z = b[j] - Vm[j];
      for (let c = 0; c < d; c++) z += V[j * d + c] * X[row * d + c];
      const pos = codes[s] === positive[j];
      const y = pos ? 1 : -1;
      const w = pos ? wPos[j] : wNeg[j];
      const m = Math.max(0, 1 - y * z);
      loss += w * m * m;
      const e = -2 * w * y * m;
      gb[j] += e;
      R[j] += e;
      for (let c = 0; c < d; c++) H[j * d + c] += e * X[row * d + c];
    }
  });
  return { loss, H, R, gb };
}

test('the squared hinge pieces on ONNX Runtime equal a float64 reference (rows on both sides of the margin, weights per side)', async () => {
  const rng = new Rng(9);
  const N = 150;
  const d = 6;
  const X = Float32Array.from({ length: N * d }, () => rng.normal());
  const rows = Int32Array.from({ length: 120 }, (_, i) => (i * 5) % N);
  const codes = Int32Array.from(rows, (i) => i % 4);
  const positive = [0, 2, 3];
  const wPos = [2, 1, 0.5];
  const wNeg = [1, 3, 1];
  const S = { X, d, mean: null, invScale: null, rowNorm: false };
  const V = Float64Array.from({ length: 3 * d }, () => 0.5 * rng.normal());
  const Vm = Float64Array.from({ length: 3 }, () => 0.1 * rng.normal());
  const b = Float64Array.from({ length: 3 }, () => 0.2 * rng.normal());
  const ref = hingeReference(X, d, rows, codes, V, Vm, b, positive, wPos, wNeg);
  const g = await gemmEvaluator(S, rows, codes, 3, { kind: 'squared-hinge', positive: Int32Array.from(positive), weightPos: Float64Array.from(wPos), weightNeg: Float64Array.from(wNeg) }, 2);
  try {
    const got = await g.evaluate(V, Vm, b);
    relClose(got.loss, ref.loss, 1e-5, 'loss');
    for (let i = 0; i < ref.H.length; i++) relClose(got.H[i], ref.H[i], 1e-4, `H[${i}]`);
    for (let j = 0; j < 3; j++) {
      relClose(got.R[j], ref.R[j], 1e-5, `R[${j}]`);
      relClose(got.gb[j], ref.gb[j], 1e-5, `gb[${j}]`);
    }
    assert.ok(ref.gb.some((v) => v !== 0) && ref.loss > 0, 'some rows inside the margin');
  } finally {
    await g.release();
  }
});

test("LinearSVC's primal (dual: false, L-BFGS on ONNX Runtime) reaches scikit-learn's dual solution; dual 'auto' picks it only on large data", async () => {
  // The fixture and scikit-learn's LinearSVC(C=1, dual=True, tol=1e-10) of test/linear.test.ts.
  const { X, y, n, d } = fixture();
  const { svcCoef, svcIntercept } = SKLEARN['1'];
  const m = await new LinearSVC({ C: 1, dual: false, tol: 1e-7, maxIter: 5000, workers: 2 }).fit({ data: X, rows: n, cols: d }, y);
  assert.equal(m.dual_, false);
  assert.match(m.toJSON().training.trainer, /primal L-BFGS/);
  svcCoef.forEach((row, c) => row.forEach((v, j) => relClose(m.coef_![c][j], v, 1e-3, `coef[${c}][${j}]`)));
  svcIntercept.forEach((v, c) => relClose(m.intercept_![c], v, 1e-3, `intercept[${c}]`));
  const auto = await new LinearSVC({ C: 1, workers: 1 }).fit({ data: X, rows: n, cols: d }, y);
  assert.equal(auto.dual_, true, 'auto: the dual below MATRIX_PRODUCT_MIN_VALUES');
  assert.ok(matrixProductsPay(4096, 256) && !matrixProductsPay(240, 5));
  await assert.rejects(new LinearSVC({ dual: false, loss: 'hinge' }).fit({ data: X, rows: n, cols: d }, y), /hinge loss only in the dual/);
});

test('LogisticRegression on data large enough for ONNX Runtime finds the float64 JavaScript solution', async () => {
  const rng = new Rng(5);
  const d = 64;
  const n = Math.ceil(MATRIX_PRODUCT_MIN_VALUES / d);
  const k = 4;
  const centres = Array.from({ length: k }, () => Float64Array.from({ length: d }, () => rng.normal()));
  const X = new Float32Array(n * d);
  const y = Array.from({ length: n }, (_, i) => i % k);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) X[i * d + j] = 0.4 * centres[y[i]][j] + 2 * rng.normal();
  const m = await new LogisticRegression({ C: 0.05, scaler: 'none', tol: 1e-6, maxIter: 500, workers: 2 }).fit({ data: X, rows: n, cols: d }, y);
  assert.match(m.toJSON().training.trainer, /products on ONNX Runtime/);
  const small = await new LogisticRegression({ workers: 1 }).fit({ data: X.subarray(0, 200 * d), rows: 200, cols: d }, y.slice(0, 200));
  assert.doesNotMatch(small.toJSON().training.trainer, /ONNX Runtime/, 'small data is fitted in JavaScript and says so');
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const prob = { S: { X, d, mean: null, invScale: null, rowNorm: false }, rows, codes: Int32Array.from(y), classWeights: null, k, fitIntercept: true, tol: 1e-6, maxIter: 500 };
  const [js] = await fitMultinomialPath(prob, [0.05], inlineEvaluator(prob));
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < d; j++) assert.ok(Math.abs(m.coef_![c][j] - js.W[c * d + j]) < 2e-4, `coef[${c}][${j}]: ${m.coef_![c][j]} vs ${js.W[c * d + j]}`);
    assert.ok(Math.abs(m.intercept_![c] - js.b[c]) < 2e-4, `intercept[${c}]`);
  }
});
