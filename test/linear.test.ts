/**
 * The linear classifiers (src/classify/linear*.ts): scikit-learn's solutions on a fixed fixture,
 * determinism across worker counts, persistence, grid search, nested CV, and the `ftk svm`
 * switch above libsvm-js' limit.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { svmCrossValidate, svmFit, svmNestedCrossValidate, svmPredict } from '../src/classify/commands.js';
import { loadFeatures } from '../src/classify/features_io.js';
import { LinearSVC, LogisticRegression, linearFromJSON } from '../src/classify/linear.js';
import { sharedMatrix } from '../src/classify/linear_pool.js';
import { linearCrossValidate, linearGridSearch } from '../src/classify/linear_search.js';
import { maxPrecomputedSamples } from '../src/classify/libsvm.js';
import { nestedCrossValidate } from '../src/classify/nested.js';
import { SVM_DEFAULTS } from '../src/classify/options.js';
import { gridSearch } from '../src/classify/search.js';
import { SvmClassifier } from '../src/classify/svm.js';
import { foldSplit, stratifiedKFold } from '../src/data/split.js';
import { Rng } from '../src/data/random.js';
import { encodeNpy } from '../src/formats/npy.js';
import { tempHome } from './helpers/home.js';

import { fixture, SKLEARN } from './helpers/linear_fixture.js';

function assertClose(actual: ArrayLike<number>, expected: readonly number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs scikit-learn ${expected[i]} (tol ${tol})`);
  }
}

for (const C of [0.1, 1] as const) {
  const ref = SKLEARN[String(C) as '0.1' | '1'];
  test(`LogisticRegression C=${C} finds scikit-learn's multinomial solution (coef within 1e-4)`, async () => {
    const { X, y, n, d } = fixture();
    const m = await new LogisticRegression({ C, tol: 1e-10, maxIter: 10000, workers: 1 }).fit({ data: X, rows: n, cols: d }, y);
    ref.lrCoef.forEach((row, c) => assertClose(m.coef_![c], row, 1e-4, `coef[${c}]`));
    assertClose(m.intercept_!, ref.lrIntercept, 1e-4, 'intercept');
    const p = m.predictProba({ data: X.subarray(0, d), rows: 1, cols: d })[0];
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  });
  test(`LinearSVC C=${C} finds LIBLINEAR's one-vs-rest solution (coef within 1e-4)`, async () => {
    const { X, y, n, d } = fixture();
    const m = await new LinearSVC({ C, tol: 1e-10, maxIter: 100000, workers: 1 }).fit({ data: X, rows: n, cols: d }, y);
    assert.equal(m.converged_, true);
    ref.svcCoef.forEach((row, c) => assertClose(m.coef_![c], row, 1e-4, `coef[${c}]`));
    assertClose(m.intercept_!, ref.svcIntercept, 1e-4, 'intercept');
  });
}

test('LinearSVC: hinge loss, l2 and none scalers, class weights and a two-class problem all fit and separate a clear problem', async () => {
  const rng = new Rng(5);
  const n = 400;
  const d = 4;
  const y = Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 1 : 0));
  const X = Float32Array.from({ length: n * d }, (_, j) => rng.normal() + (y[Math.floor(j / d)] ? 3 : 0) + 5);
  for (const opts of [{ loss: 'hinge' as const }, { scaler: 'none' as const }, { classWeight: 'balanced' as const }]) {
    const m = await new LinearSVC({ ...opts, workers: 1 }).fit({ data: X, rows: n, cols: d }, y);
    assert.equal(m.coef_!.length, 1, 'two classes: one weight row, as scikit-learn');
    assert.ok(m.score({ data: X, rows: n, cols: d }, y) > 0.95, JSON.stringify(opts));
  }
  // The 'l2' scaler is folded into the solver's arithmetic: the same weights as 'none' on rows normalized beforehand.
  const normalized = Float32Array.from(X);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += X[i * d + k] ** 2;
    for (let k = 0; k < d; k++) normalized[i * d + k] = X[i * d + k] / Math.sqrt(s);
  }
  for (const Model of [LinearSVC, LogisticRegression]) {
    const a = await new Model({ scaler: 'l2', workers: 1, tol: 1e-8, maxIter: 5000 }).fit({ data: X, rows: n, cols: d }, y);
    const b = await new Model({ scaler: 'none', workers: 1, tol: 1e-8, maxIter: 5000 }).fit({ data: normalized, rows: n, cols: d }, y);
    assertClose(a.coef_![0], Array.from(b.coef_![0]), 1e-4, `${Model.name} l2 coef`);
  }
  assert.throws(() => new LinearSVC({ loss: 'log' as never }).toJSON(), /not fitted/);
  await assert.rejects(new LinearSVC({ loss: 'log' as never }).fit({ data: X, rows: n, cols: d }, y), /loss must be one of 'squared_hinge', 'hinge'. Received loss="log"/);
});

test('the same fit on 1 and 2 worker threads: LinearSVC identical; LogisticRegression identical between two 2-worker runs and within 1e-6 of 1 worker', async () => {
  const { X, y, n, d } = fixture();
  const M = { data: sharedMatrix(X), rows: n, cols: d };
  const s1 = await new LinearSVC({ workers: 1 }).fit(M, y);
  const s2 = await new LinearSVC({ workers: 2 }).fit(M, y);
  s1.coef_!.forEach((w, c) => assert.deepEqual(Array.from(s2.coef_![c]), Array.from(w)));
  const l1 = await new LogisticRegression({ workers: 1, tol: 1e-8, maxIter: 1000 }).fit(M, y);
  const l2a = await new LogisticRegression({ workers: 2, tol: 1e-8, maxIter: 1000 }).fit(M, y);
  const l2b = await new LogisticRegression({ workers: 2, tol: 1e-8, maxIter: 1000 }).fit(M, y);
  l2a.coef_!.forEach((w, c) => {
    assert.deepEqual(Array.from(l2b.coef_![c]), Array.from(w));
    assertClose(w, Array.from(l1.coef_![c]), 1e-6, `coef[${c}]`);
  });
  assert.equal(sharedMatrix(M.data), M.data, 'a shared matrix is not copied again');
});

test('toJSON / fromJSON round trip predicts the same; predicting before fit or with another width fails clearly', async () => {
  const { X, y, n, d } = fixture();
  const M = { data: X, rows: n, cols: d };
  for (const m of [await new LogisticRegression({ workers: 1 }).fit(M, y), await new LinearSVC({ workers: 1 }).fit(M, y)]) {
    const back = linearFromJSON(JSON.parse(JSON.stringify(m.toJSON())));
    assert.equal(back.kind, m.kind);
    assert.deepEqual(back.predict(M), m.predict(M));
    assert.deepEqual(back.decisionFunction(M).map((r) => Array.from(r)), m.decisionFunction(M).map((r) => Array.from(r)));
    assert.throws(() => m.predict({ data: new Float32Array(4), rows: 1, cols: 4 }), /X has 4 features, but this model was fitted on 5/);
  }
  assert.throws(() => new LogisticRegression().predict(M), /not fitted yet/);
  assert.throws(() => linearFromJSON({ format: 'ftk-linear-model', formatVersion: 1, model: 'logistic', classes: [0, 1], nFeatures: 2, coef: [[1, 2]], intercept: [0], scaler: { kind: 'none' } }, 'm.json'), /m.json is not a valid ftk linear model: coef must be 2 rows of 2/);
});

test('linearGridSearch: one path per fold, the table in the given order, the best by mean accuracy (ties to the smaller C); cross-validation agrees with the table', async () => {
  const { X, y, n, d } = fixture();
  const M = { data: X, rows: n, cols: d };
  const log2C = [3, -9, -1];
  const g = await linearGridSearch('logistic', M, y, {}, { folds: 3, seed: 1, log2C, workers: 2 });
  assert.deepEqual(g.table.map((p) => p.log2C), log2C);
  const top = Math.max(...g.table.map((p) => p.meanAccuracy));
  assert.equal(g.best.meanAccuracy, top);
  assert.equal(g.best.C, Math.min(...g.table.filter((p) => p.meanAccuracy === top).map((p) => p.C)));
  const cv = await linearCrossValidate('logistic', M, y, { C: 2 ** -1 }, { folds: 3, seed: 1, workers: 1 });
  const row = g.table.find((p) => p.log2C === -1)!;
  // The grid fits the C path warm-started, cross-validation from zero: same optimum, same predictions here.
  assert.ok(Math.abs(cv.meanAccuracy - row.meanAccuracy) < 0.01, `${cv.meanAccuracy} vs ${row.meanAccuracy}`);
  assert.equal(cv.confusion.flat().reduce((a, b) => a + b, 0), n);
  await assert.rejects(linearGridSearch('liblinear', M, y, { C: 1 }), /The grid search chooses C; do not pass it/);
});

test('nestedCrossValidate: each outer fold is a grid search on its training rows only, a refit, a score on the held-out rows', async () => {
  const { X, y, n, d } = fixture();
  const M = { data: X, rows: n, cols: d };
  const grid = { folds: 3, seed: 2, innerFolds: 2, log2C: [-3, 1, 5], log2Gamma: [-3, -1], workers: 1 };
  const r = await nestedCrossValidate(M, y, 'libsvm', {}, grid);
  assert.equal(r.folds.length, 3);
  assert.equal(r.meanAccuracy, r.foldAccuracies.reduce((a, b) => a + b, 0) / 3);
  assert.ok(r.ci95[0] <= r.meanAccuracy && r.meanAccuracy <= r.ci95[1]);
  // Redo outer fold 1 by hand: the same split, an inner search on its training rows, the refit.
  const outer = stratifiedKFold(Int32Array.from(y), 3, { shuffle: true, seed: 2 });
  const { train, test: held } = foldSplit(outer, 1);
  const take = (rows: Int32Array) => {
    const data = new Float32Array(rows.length * d);
    rows.forEach((row, i) => data.set(X.subarray(row * d, row * d + d), i * d));
    return { data, rows: rows.length, cols: d };
  };
  const ytr = Array.from(train, (i) => y[i]);
  const best = (await gridSearch(take(train), ytr, {}, { folds: 2, seed: 2 + 1 + 1, log2C: grid.log2C, log2Gamma: grid.log2Gamma, workers: 1 })).best;
  assert.equal(r.folds[1].C, best.C);
  assert.equal(r.folds[1].gamma, best.gamma);
  const clf = await new SvmClassifier({ C: best.C, gamma: best.gamma! }).fit(take(train), ytr);
  assert.equal(r.folds[1].accuracy, clf.score(take(held), Array.from(held, (i) => y[i])));
  clf.dispose();
  const lin = await nestedCrossValidate(M, y, 'liblinear', {}, { folds: 3, seed: 2, innerFolds: 2, log2C: [-5, 0], workers: 1 });
  assert.ok(lin.folds.every((f) => f.gamma === null && (f.C === 2 ** -5 || f.C === 1)));
});

test('ftk svm: above the exact kernel limit --kernel linear switches to LinearSVC on all rows and says so; rbf is refused naming the switch; svm cv --grid is the nested estimate', async () => {
  const dir = await tempHome('ftk-linear-');
  const limit = maxPrecomputedSamples(SVM_DEFAULTS.cacheSize);
  const n = limit + 200;
  const d = 3;
  const rng = new Rng(9);
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const X = Float32Array.from({ length: n * d }, (_, j) => rng.normal() + (labels[Math.floor(j / d)] ? 2 : 0));
  const prefix = path.join(dir, 'big');
  writeFileSync(`${prefix}.npy`, encodeNpy(X, [n, d]));
  writeFileSync(`${prefix}.json`, JSON.stringify({ shape: [n, d], classes: ['a', 'b'], labels }));
  const loaded = await loadFeatures(prefix, { shared: true });
  assert.ok(loaded.X.buffer instanceof SharedArrayBuffer, 'shared: the matrix stays in the SharedArrayBuffer it was read into');
  await assert.rejects(svmFit(prefix), (e: Error & { suggestion?: string }) => {
    assert.match(e.message, new RegExp(`at most ${limit} training samples fit`));
    assert.match(e.suggestion ?? '', /--kernel linear/);
    return true;
  });
  const stages: string[] = [];
  const out = path.join(dir, 'linear.json');
  const fit = await svmFit(prefix, { kernel: 'linear', out, onStage: (m) => stages.push(m) });
  assert.equal(fit.solver, 'liblinear');
  assert.ok(stages.some((s) => s.includes(`${n} training samples: above the ${limit}`) && s.includes(`on all ${n} rows`)), stages.join('\n'));
  const saved = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(saved.format, 'ftk-linear-model');
  assert.equal(saved.training.nSamples, n);
  const pred = await svmPredict(out, prefix);
  assert.equal(pred.predictions.length, n);
  assert.ok(pred.accuracy! > 0.8, `accuracy ${pred.accuracy}`);
  await assert.rejects(svmFit(prefix, { solver: 'liblinear', gamma: 1 }), /linear model: gamma=1 does not apply/);
  await assert.rejects(svmFit(prefix, { solver: 'liblinear', probability: true }), (e: Error & { suggestion?: string }) => /--solver logistic/.test(e.suggestion ?? ''));
  const cv = await svmCrossValidate(prefix, { solver: 'logistic', folds: 3 });
  assert.equal(cv.solver, 'logistic');
  assert.equal(cv.foldAccuracies.length, 3);
  // svm cv --grid on a small file: the nested estimate with per-fold parameters.
  const small = path.join(dir, 'small');
  const { X: fx, y: fy, n: fn, d: fd } = fixture();
  writeFileSync(`${small}.npy`, encodeNpy(fx, [fn, fd]));
  writeFileSync(`${small}.json`, JSON.stringify({ shape: [fn, fd], classes: ['p', 'q', 'r'], labels: fy }));
  const nested = await svmNestedCrossValidate(small, { folds: 3, innerFolds: 2, log2C: [-1, 3], log2Gamma: [-3], workers: 1 });
  assert.equal(nested.folds.length, 3);
  assert.ok(nested.folds.every((f) => f.gamma === 2 ** -3 && (f.C === 0.5 || f.C === 8)));
  assert.deepEqual(nested.classNames, ['p', 'q', 'r']);
  await assert.rejects(svmNestedCrossValidate(small, { C: 1 }), /chooses C \(and gamma\)/);
});

test('multinomialLossChunk: the gradient pieces are the derivatives of the loss (finite differences, 6 classes: blocks of 4 and the rest)', async () => {
  const { multinomialLossChunk } = await import('../src/classify/linear_solvers.js');
  const rng = new Rng(11);
  const n = 50;
  const d = 7;
  const k = 6;
  const X = Float32Array.from({ length: n * d }, () => rng.normal());
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const codes = Int32Array.from({ length: n }, (_, i) => i % k);
  const S = { X, d, mean: null, invScale: null, rowNorm: false };
  const V = Float64Array.from({ length: k * d }, () => 0.3 * rng.normal());
  const b = Float64Array.from({ length: k }, () => 0.1 * rng.normal());
  const Vm = new Float64Array(k);
  const weights = Float64Array.from({ length: k }, (_, c) => 1 + c / 4);
  const at = (V2: Float64Array, b2: Float64Array) => multinomialLossChunk({ S, rows, codes, classWeights: weights, k, V: V2, Vm, b: b2 }, 0, n);
  const base = at(V, b);
  const h = 1e-6;
  for (const i of [0, 8, 20, 27, 30, 41]) {
    const V2 = Float64Array.from(V);
    V2[i] += h;
    const fd = (at(V2, b).loss - base.loss) / h;
    assert.ok(Math.abs(fd - base.H[i]) < 1e-4 * Math.max(1, Math.abs(fd)), `dL/dV[${i}]: ${fd} vs ${base.H[i]}`);
  }
  for (const c of [0, 4, 5]) {
    const b2 = Float64Array.from(b);
    b2[c] += h;
    const fd = (at(V, b2).loss - base.loss) / h;
    assert.ok(Math.abs(fd - base.gb[c]) < 1e-4 * Math.max(1, Math.abs(fd)), `dL/db[${c}]: ${fd} vs ${base.gb[c]}`);
  }
});
