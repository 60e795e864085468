/** auto on datasets larger than an SVM can hold: the SVM path trains on a stratified subset, said as a cut. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { svmTrainRows } from '../src/auto/auto.js';
import { maxPrecomputedSamples } from '../src/classify/libsvm.js';
import { SVM_DEFAULTS } from '../src/classify/options.js';

test('svmTrainRows keeps every row under the libsvm-js limit, and a seeded stratified subset above it', () => {
  const cap = maxPrecomputedSamples(SVM_DEFAULTS.cacheSize);
  const cuts: [number, number][] = [];
  const small = Int32Array.from({ length: 500 }, (_, i) => i * 2);
  assert.deepEqual(svmTrainRows(small, Array.from({ length: 1000 }, (_, i) => i % 3), 0, (a, b) => cuts.push([a, b])), small);
  assert.equal(cuts.length, 0);

  const n = cap * 2 + 999;
  const labels = Array.from({ length: n }, (_, i) => (i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2)); // 70/20/10
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const sub = svmTrainRows(all, labels, 7, (a, b) => cuts.push([a, b]));
  assert.ok(sub.length <= cap && sub.length > cap - 200, `${sub.length} rows, cap ${cap}`);
  assert.deepEqual(cuts, [[n, sub.length]]);
  assert.equal(new Set(sub).size, sub.length, 'no row twice');
  const share = (c: number) => Array.from(sub).filter((r) => labels[r] === c).length / sub.length;
  assert.ok(Math.abs(share(0) - 0.7) < 0.005 && Math.abs(share(1) - 0.2) < 0.005 && Math.abs(share(2) - 0.1) < 0.005, 'class proportions kept');
  assert.deepEqual(svmTrainRows(all, labels, 7, () => {}), sub, 'same seed, same subset');
  assert.notDeepEqual(svmTrainRows(all, labels, 8, () => {}), sub, 'another seed, another subset');
});
