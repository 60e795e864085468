/** auto on datasets larger than the exact SVM can hold: the feature path trains logistic regression on every row, and says so. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FEATURE_LINEAR_ABOVE, linearSwitchMessage, svmOnFold } from '../src/auto/folds.js';
import { maxPrecomputedSamples } from '../src/classify/libsvm.js';
import { SVM_DEFAULTS } from '../src/classify/options.js';
import { Rng } from '../src/data/random.js';

test('svmOnFold above the libsvm-js limit fits logistic regression on all training rows (no subsample)', async () => {
  assert.equal(FEATURE_LINEAR_ABOVE, maxPrecomputedSamples(SVM_DEFAULTS.cacheSize));
  const n = FEATURE_LINEAR_ABOVE + 1500;
  const d = 6;
  const rng = new Rng(3);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const X = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) X[i * d + k] = rng.normal() + (k === labels[i] ? 2.5 : 0);
  const test = Int32Array.from({ length: 300 }, (_, i) => i * 7);
  const inTest = new Set(test);
  const train = Int32Array.from({ length: n }, (_, i) => i).filter((i) => !inTest.has(i));
  assert.ok(train.length > FEATURE_LINEAR_ABOVE);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftk-auto-rows-'));
  try {
    const file = path.join(dir, 'model.json');
    const r = await svmOnFold(X, d, labels, 3, { train, test }, { seed: 0, innerFolds: 2, save: { file, classNames: ['a', 'b', 'c'] } });
    assert.equal(r.solver, 'logistic');
    assert.equal(r.best.gamma, null);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.format, 'ftk-linear-model');
    assert.equal(saved.training.nSamples, train.length, 'trained on every training row');
    const acc = r.predicted.filter((p, i) => p === labels[test[i]]).length / test.length;
    assert.ok(acc > 0.8, `held-out accuracy ${acc}`);
    for (const p of r.probabilities) assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-9, 'probabilities sum to 1');
    assert.match(linearSwitchMessage(train.length), new RegExp(`${train.length} training images are above the ${FEATURE_LINEAR_ABOVE}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('svmOnFold under the limit keeps the RBF SVM', async () => {
  const n = 90;
  const d = 3;
  const rng = new Rng(4);
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const X = Float32Array.from({ length: n * d }, (_, j) => rng.normal() + (labels[Math.floor(j / d)] ? 1.5 : 0));
  const train = Int32Array.from({ length: 60 }, (_, i) => i);
  const test = Int32Array.from({ length: 30 }, (_, i) => 60 + i);
  const r = await svmOnFold(X, d, labels, 2, { train, test }, { seed: 0, innerFolds: 2, probability: false });
  assert.equal(r.solver, 'libsvm');
  assert.notEqual(r.best.gamma, null);
});
