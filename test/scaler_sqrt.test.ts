/**
 * Power normalization ('sqrt-standardize', src/classify/scaler.ts): sign(x) sqrt(|x|), then
 * standardized with the training rows' statistics; an SVM stores and applies it, the linear
 * models refuse it, and auto's feature path tries it as a candidate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { candidateSpace } from '../src/auto/candidates.js';
import { LogisticRegression } from '../src/classify/linear.js';
import { applyScaler, fitScaler, signedSqrt } from '../src/classify/scaler.js';
import { SvmClassifier } from '../src/classify/svm.js';
import { Rng } from '../src/data/random.js';

test('sqrt-standardize: the signed square root, then mean 0 and std 1 over the fitting rows only', () => {
  const X = Float32Array.from([4, -9, 0, 1, 16, -1, 9, 0.25, 1, 25, 100, -4]);
  const rows = [0, 1, 2];
  const s = fitScaler('sqrt-standardize', X, 4, 3, rows);
  assert.equal(s.kind, 'sqrt-standardize');
  if (s.kind !== 'sqrt-standardize') return;
  // Column 0 over rows 0-2: sqrt of 4, 1, 9 = 2, 1, 3 -> mean 2, population std sqrt(2/3).
  assert.ok(Math.abs(s.mean[0] - 2) < 1e-12 && Math.abs(s.scale[0] - Math.sqrt(2 / 3)) < 1e-12);
  // Column 1: -3, 4, 0.5 (the sign kept).
  assert.ok(Math.abs(s.mean[1] - (-3 + 4 + 0.5) / 3) < 1e-12);
  const out = applyScaler(s, X, 4, 3);
  for (let j = 0; j < 3; j++) assert.ok(Math.abs((signedSqrt(X[9 + j]) - s.mean[j]) / s.scale[j] - out[9 + j]) < 1e-5, `row 3, column ${j}`);
  assert.equal(signedSqrt(-4), -2);
});

test('an RBF SVM on sqrt-standardize round-trips through JSON and predicts the same; the linear models refuse the scaler', async () => {
  const rng = new Rng(4);
  const n = 80;
  const d = 6;
  const X = new Float32Array(n * d);
  const y = Array.from({ length: n }, (_, i) => i % 2);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) X[i * d + j] = Math.max(0, rng.normal() + (j === 0 ? 2 * y[i] : 0)) ** 2;
  const M = { data: X, rows: n, cols: d };
  const clf = await new SvmClassifier({ kernel: 'rbf', C: 4, scaler: 'sqrt-standardize' }).fit(M, y);
  const back = SvmClassifier.fromJSON(JSON.parse(JSON.stringify(clf.toJSON())));
  assert.deepEqual(back.predict(M), clf.predict(M));
  assert.ok(clf.score(M, y) > 0.8);
  await assert.rejects(new LogisticRegression({ scaler: 'sqrt-standardize' as never }).fit(M, y), /scaler/);
  clf.dispose();
  back.dispose();
});

test("auto's feature path tries power-normalized features next to standardized ones ('standard'), not in 'quick' nor when the classifier will be linear", () => {
  const backbones = [{ model: 'mobilenet', alpha: 0.25, defaultSize: 224, minSize: 32, trainable: true }];
  const standard = candidateSpace({ level: 'standard', backbones });
  assert.equal(standard.features.filter((c) => c.scaler === 'sqrt-standardize').length, standard.features.length / 2);
  assert.ok(standard.features.every((c) => c.scaler === 'standardize' || c.id.endsWith('-sqrt')));
  assert.ok(candidateSpace({ level: 'quick', backbones }).features.every((c) => c.scaler === 'standardize'));
  assert.ok(candidateSpace({ level: 'standard', backbones, kernelSvm: false }).features.every((c) => c.scaler === 'standardize' && c.classifier === 'linear'));
});
