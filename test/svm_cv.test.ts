import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OptionsError } from '../src/errors.js';
import { Rng } from '../src/data/random.js';
import { foldSplit, stratifiedKFold } from '../src/data/split.js';
import { encodeNpy } from '../src/formats/npy.js';
import { svmCrossValidate, svmFit, svmPredict } from '../src/classify/commands.js';
import { GramEngine } from '../src/classify/gram.js';
import { Libsvm } from '../src/classify/libsvm.js';
import { crossValidate, gridSearch } from '../src/classify/search.js';
import { SvmClassifier } from '../src/classify/svm.js';
import type { SvmModelJson } from '../src/formats/svm_model.js';

/** n samples, d features, k overlapping classes, non-negative like bottleneck features. */
function blobs(n: number, d: number, k: number, seed: number, spread = 1.5): { X: Float32Array; y: number[] } {
  const rng = new Rng(seed);
  const centers = Array.from({ length: k }, () => Float64Array.from({ length: d }, () => rng.normal()));
  const X = new Float32Array(n * d);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = rng.int(k);
    y.push(c);
    for (let j = 0; j < d; j++) X[i * d + j] = Math.max(0, 1 + centers[c][j] + spread * rng.normal());
  }
  return { X, y };
}

test('GramEngine: WebAssembly SIMD and typed-array kernels agree with float64 dot products', () => {
  const rng = new Rng(9);
  const n = 37;
  const d = 131;
  const X = Float32Array.from({ length: n * d }, () => rng.normal());
  const simd = new GramEngine();
  const scalar = new GramEngine({ forceScalar: true });
  assert.equal(simd.simd, true, 'Node 20 has WebAssembly SIMD');
  const G = simd.gram(X, n, d);
  const G2 = scalar.gram(X, n, d);
  const C = simd.cross(X.subarray(3 * d), n - 3, X, n, d);
  const norms = simd.selfDots(X, n, d);
  for (let i = 0; i < n; i++) {
    assert.equal(G[i * n + i], norms[i], 'selfDots equals the Gram diagonal exactly');
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += X[i * d + k] * X[j * d + k];
      assert.ok(Math.abs(G[i * n + j] - s) < 1e-4 * Math.max(1, Math.abs(s)), `G[${i},${j}]`);
      assert.ok(Math.abs(G2[i * n + j] - s) < 1e-4 * Math.max(1, Math.abs(s)));
      assert.equal(G[i * n + j], G[j * n + i], 'symmetric');
      if (i >= 3) assert.equal(C[(i - 3) * n + j], G[i * n + j], 'cross equals gram rows');
    }
  }
});

test('crossValidate: scaler and gamma fitted on each training fold only (equals a manual per-fold fit)', async () => {
  const { X, y } = blobs(150, 20, 3, 1);
  const M = { data: X, rows: 150, cols: 20 };
  const cv = await crossValidate(M, y, { C: 2 }, { folds: 4, seed: 5, workers: 1 });
  const folds = stratifiedKFold(y, 4, { shuffle: true, seed: 5 });
  for (let f = 0; f < 4; f++) {
    const { train, test } = foldSplit(folds, f);
    const pick = (idx: Int32Array) => ({ data: Float32Array.from(Array.from(idx).flatMap((i) => Array.from(X.subarray(i * 20, i * 20 + 20)))), rows: idx.length, cols: 20 });
    const clf = await new SvmClassifier({ C: 2 }).fit(pick(train), Array.from(train, (i) => y[i]));
    const pred = clf.predict(pick(test));
    assert.deepEqual(Array.from(test, (i) => cv.predictions[i]), pred, `fold ${f} predictions`);
    assert.equal(cv.gammas![f], clf.gamma_, `fold ${f} gamma='scale' from its training rows`);
    assert.equal(cv.foldAccuracies[f], clf.score(pick(test), Array.from(test, (i) => y[i])));
    clf.dispose();
  }
  const total = cv.confusion.flat().reduce((a, b) => a + b, 0);
  assert.equal(total, 150);
  assert.ok(cv.ci95[0] <= cv.meanAccuracy && cv.meanAccuracy <= cv.ci95[1]);
  assert.ok(cv.macroF1 > 0 && cv.macroF1 <= 1);
  const f1s = cv.perClass.map((c) => c.f1);
  assert.ok(Math.abs(cv.macroF1 - f1s.reduce((a, b) => a + b, 0) / 3) < 1e-12);
});

test('crossValidate: 2 worker threads give exactly the single-thread result; same seed, same result', async () => {
  const { X, y } = blobs(240, 30, 4, 2, 2.5);
  const M = { data: X, rows: 240, cols: 30 };
  const one = await crossValidate(M, y, { classWeight: 'balanced' }, { folds: 5, seed: 1, workers: 1 });
  const two = await crossValidate(M, y, { classWeight: 'balanced' }, { folds: 5, seed: 1, workers: 2 });
  assert.deepEqual(two.foldAccuracies, one.foldAccuracies);
  assert.deepEqual(two.predictions, one.predictions);
  assert.deepEqual(two.confusion, one.confusion);
  const rep = await crossValidate(M, y, { kernel: 'linear', scaler: 'l2' }, { folds: 3, repeats: 2, seed: 4, workers: 2 });
  assert.equal(rep.foldAccuracies.length, 6);
  assert.equal(rep.confusion.flat().reduce((a, b) => a + b, 0), 480, 'pooled over 2 repeats');
});

test('gridSearch: ties go to the smaller C, then the smaller gamma; C/gamma with a grid is an error', async () => {
  const { X, y } = blobs(90, 10, 3, 3, 0.3); // well separated: many points score 100%
  const M = { data: X, rows: 90, cols: 10 };
  const r = await gridSearch(M, y, {}, { folds: 3, log2C: [5, -1, 1], log2Gamma: [-3, -7, -5], workers: 1 });
  assert.equal(r.table.length, 9);
  const top = Math.max(...r.table.map((p) => p.meanAccuracy));
  const tied = r.table.filter((p) => Math.abs(p.meanAccuracy - top) < 1e-12);
  assert.ok(tied.length > 1, 'the data produce ties');
  const expected = [...tied].sort((a, b) => a.C - b.C || a.gamma! - b.gamma!)[0];
  assert.equal(r.best.C, expected.C);
  assert.equal(r.best.gamma, expected.gamma);
  assert.equal(r.tieBreak, 'smaller C, then smaller gamma');
  await assert.rejects(gridSearch(M, y, { C: 1 }, { folds: 3 }), OptionsError);
  const lin = await gridSearch(M, y, { kernel: 'linear' }, { folds: 3, log2C: [-3, 3], workers: 1 });
  assert.equal(lin.table.length, 2);
  assert.equal(lin.best.gamma, null);
});

test('svmFit --grid, svmCrossValidate and svmPredict end to end on a features file', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftk-svm-cmd-'));
  try {
    const { X, y } = blobs(120, 16, 3, 4, 2);
    const prefix = path.join(dir, 'feats');
    writeFileSync(`${prefix}.npy`, encodeNpy(X, [120, 16]));
    writeFileSync(`${prefix}.json`, JSON.stringify({ formatVersion: 1, files: y.map((_, i) => `c/${i}.jpg`), labels: y, classes: ['ant', 'bee', 'cow'], shape: [120, 16] }));
    const stages: string[] = [];
    let lastPoint = 0;
    const out = path.join(dir, 'm', 'model.json');
    const fit = await svmFit(prefix, {
      grid: true,
      log2C: [-1, 1, 3],
      log2Gamma: [-7, -5, -3],
      folds: 3,
      probability: true,
      out,
      workers: 1,
      onStage: (m) => stages.push(m),
      onProgress: (e) => (lastPoint = e.pointsDone ?? lastPoint),
    });
    assert.equal(fit.gridTable!.length, 9);
    assert.equal(lastPoint, 9);
    assert.equal(fit.json.gridSearch!.bestC, fit.grid!.best.C);
    assert.equal(fit.json.C, fit.grid!.best.C);
    assert.equal((fit.json as SvmModelJson).gamma, fit.grid!.best.gamma);
    assert.deepEqual(fit.json.classNames, ['ant', 'bee', 'cow']);
    assert.ok(stages.some((s) => s.startsWith('Best: C=')) && stages.some((s) => s.includes('model.json')));
    const saved = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(saved.format, 'ftk-svm-model');
    const pred = await svmPredict(out, prefix);
    assert.equal(pred.predictions.length, 120);
    assert.ok(pred.accuracy! > 0.8, `training accuracy ${pred.accuracy}`);
    assert.equal(pred.predictions[5].file, 'c/5.jpg');
    assert.deepEqual(pred.classes, ['ant', 'bee', 'cow']);
    assert.equal(pred.predictions[5].label, pred.classes[pred.predictions[5].labelIndex]);
    assert.deepEqual(Object.keys(pred.predictions[5].probabilities!), ['ant', 'bee', 'cow']);
    assert.ok(Math.abs(Object.values(pred.predictions[5].probabilities!).reduce((a, b) => a + b, 0) - 1) < 1e-9);
    const cv = await svmCrossValidate(prefix, { folds: 4, seed: 2, workers: 1 });
    assert.deepEqual(cv.classNames, ['ant', 'bee', 'cow']);
    assert.equal(cv.foldAccuracies.length, 4);
    assert.equal(cv.nSamples, 120);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('libsvm-js memory is freed: the WASM heap does not grow over repeated fits', async () => {
  const { X, y } = blobs(300, 8, 3, 5);
  const M = { data: X, rows: 300, cols: 8 };
  const lib = await Libsvm.load();
  const first = await new SvmClassifier({ probability: true }).fit(M, y);
  first.dispose();
  const heap = lib.heapF64().buffer.byteLength;
  for (let i = 0; i < 12; i++) (await new SvmClassifier({ probability: i % 2 === 0, C: 1 + i }).fit(M, y)).dispose();
  assert.equal(lib.heapF64().buffer.byteLength, heap);
  assert.equal(lib.messages.filter((m) => /abort/i.test(m)).length, 0);
});
