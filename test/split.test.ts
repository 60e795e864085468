import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DatasetError, OptionsError } from '../src/errors.js';
import { Rng } from '../src/data/random.js';
import { foldSplit, repeatedStratifiedKFold, stratifiedKFold, stratifiedTrainTestSplit } from '../src/data/split.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/svm/sklearn_svc.json', import.meta.url), 'utf8')) as {
  stratifiedKFold: { y: number[]; k: number; testFold: number[] };
};

function labelsOf(counts: number[], rng: Rng): number[] {
  const y: number[] = [];
  counts.forEach((c, cls) => {
    for (let i = 0; i < c; i++) y.push(cls * 7 + 3); // labels that are not 0..k-1
  });
  return rng.shuffle(y);
}

/** Asserts every fold holds floor or ceil of count/k samples of every class. */
function assertStratified(y: number[], folds: Int32Array, k: number): void {
  const classes = [...new Set(y)];
  for (const c of classes) {
    const total = y.filter((v) => v === c).length;
    for (let f = 0; f < k; f++) {
      const inFold = y.filter((v, i) => v === c && folds[i] === f).length;
      assert.ok(Math.abs(inFold - total / k) < 1, `class ${c}: fold ${f} has ${inFold} of ${total} (k=${k})`);
    }
  }
}

test('Rng: same seed, same stream; int(n) in range; shuffle is a permutation', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 100 }, () => b.next()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(xs, Array.from({ length: 100 }, () => new Rng(43).next()));
  const r = new Rng(0);
  const counts = new Array(7).fill(0);
  for (let i = 0; i < 7000; i++) counts[r.int(7)]++;
  assert.ok(counts.every((c) => c > 850 && c < 1150), `roughly uniform: ${counts.join(',')}`);
  const p = r.shuffle(Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.throws(() => new Rng(0.5), OptionsError);
});

test('stratifiedKFold without shuffle equals scikit-learn StratifiedKFold (fixture)', () => {
  const { y, k, testFold } = fixture.stratifiedKFold;
  assert.deepEqual(Array.from(stratifiedKFold(y, k)), testFold);
});

test('stratifiedKFold with shuffle: every fold within 1 of proportional, same seed identical', () => {
  const rng = new Rng(1);
  for (const [counts, k] of [
    [[50, 30, 20], 5],
    [[13, 7, 29, 5], 5],
    [[100, 3], 3],
    [[11, 11, 11, 11, 11, 11, 11, 11, 11, 12], 10],
  ] as [number[], number][]) {
    const y = labelsOf(counts, rng);
    const a = stratifiedKFold(y, k, { shuffle: true, seed: 7 });
    const b = stratifiedKFold(y, k, { shuffle: true, seed: 7 });
    const c = stratifiedKFold(y, k, { shuffle: true, seed: 8 });
    assert.deepEqual(a, b, 'same seed, same folds');
    assert.notDeepEqual(a, c, 'another seed, other folds');
    assertStratified(y, a, k);
    assertStratified(y, c, k);
    const sizes = Array.from({ length: k }, (_, f) => a.filter((v) => v === f).length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= counts.length, `fold sizes balanced: ${sizes.join(',')}`);
    const { train, test } = foldSplit(a, 0);
    assert.equal(train.length + test.length, y.length);
  }
});

test('stratifiedKFold errors and warnings follow scikit-learn', () => {
  const y = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2];
  assert.throws(() => stratifiedKFold(y, 3, { seed: 1 }), (e: unknown) => e instanceof OptionsError && /seed has no effect/.test(e.message));
  assert.throws(() => stratifiedKFold(y, 1), OptionsError);
  assert.throws(() => stratifiedKFold([0, 0, 1, 1], 3), (e: unknown) => e instanceof DatasetError && /cannot be more than the samples of every class/.test(e.message));
  assert.throws(() => stratifiedKFold([0, 1], 3), DatasetError);
  const warnings: string[] = [];
  const folds = stratifiedKFold(y, 3, { shuffle: true, seed: 0, onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /only 2 members, fewer than k=3/);
  assert.equal(folds.length, y.length);
});

test('repeatedStratifiedKFold: repeats differ, each stratified, reproducible', () => {
  const y = labelsOf([40, 25, 15], new Rng(3));
  const a = repeatedStratifiedKFold(y, 5, 3, { seed: 11 });
  const b = repeatedStratifiedKFold(y, 5, 3, { seed: 11 });
  assert.equal(a.length, 3);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a[0], a[1]);
  for (const f of a) assertStratified(y, f, 5);
});

test('stratifiedTrainTestSplit: sizes, proportions within 1, disjoint, reproducible', () => {
  const y = labelsOf([60, 30, 9], new Rng(5));
  const s = stratifiedTrainTestSplit(y, 0.25, { seed: 2 });
  assert.equal(s.test.length, Math.ceil(0.25 * y.length));
  assert.equal(s.train.length + s.test.length, y.length);
  const seen = new Set([...s.train, ...s.test]);
  assert.equal(seen.size, y.length);
  for (const c of new Set(y)) {
    const total = y.filter((v) => v === c).length;
    const inTest = [...s.test].filter((i) => y[i] === c).length;
    assert.ok(Math.abs(inTest - (total * s.test.length) / y.length) < 1, `class ${c}: ${inTest} of ${total} in test`);
  }
  assert.deepEqual(stratifiedTrainTestSplit(y, 0.25, { seed: 2 }), s);
  assert.throws(() => stratifiedTrainTestSplit(y, 1.5), OptionsError);
  assert.throws(() => stratifiedTrainTestSplit([0, 0, 1, 1, 2, 2], 2), DatasetError);
});
