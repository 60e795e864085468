/** src/trust/ood.ts: the unknown score separates two known Gaussian clusters from a third; the threshold keeps its rate; JSON round trip. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { UnknownDetector, auroc, quantile, unknownScore } from '../src/trust/ood.js';

const D = 16;
/** n points around `centre` (unit-ish spread) in D dimensions. */
function cluster(rng: Rng, n: number, centre: number[]): number[][] {
  return Array.from({ length: n }, () => centre.map((c) => c + rng.normal() * 0.5));
}
const axis = (i: number, v = 4) => Array.from({ length: D }, (_, j) => (j === i ? v : 0));

function data(seed: number, n: number) {
  const rng = new Rng(seed);
  const a = cluster(rng, n, axis(0));
  const b = cluster(rng, n, axis(1));
  const c = cluster(rng, n, axis(2));
  return { X: [...a, ...b], y: [...a.map(() => 0), ...b.map(() => 1)], unknown: c };
}

for (const method of ['knn', 'mahalanobis'] as const) {
  test(`${method}: two known clusters vs a third: AUROC > 0.99, about 5% of fresh known points rejected, most unknowns caught`, () => {
    const train = data(1, 150);
    const det = new UnknownDetector({ method, rate: 0.05 }).fit(train.X, train.y);
    const fresh = data(2, 300);
    const known = det.score(fresh.X);
    const unknown = det.score(fresh.unknown);
    assert.ok(auroc(known, unknown) > 0.99, `AUROC ${auroc(known, unknown)}`);
    const rejected = known.filter((s) => s > det.threshold_!).length / known.length;
    assert.ok(rejected > 0.01 && rejected < 0.12, `rejected ${rejected}`);
    const caught = unknown.filter((s) => s > det.threshold_!).length / unknown.length;
    assert.ok(caught > 0.9, `caught ${caught}`);
    // The threshold is the 95% quantile of the out-of-fold scores.
    assert.equal(det.threshold_, quantile(det.oofScores_!, 0.95));
    // Plain JSON round trip: same scores, same threshold.
    const again = UnknownDetector.fromJSON(JSON.parse(JSON.stringify(det.toJSON())));
    const s2 = again.score(fresh.unknown);
    unknown.forEach((v, i) => assert.ok(Math.abs(v - s2[i]) < 1e-4 * Math.max(1, v)));
    const u = unknownScore(det.toJSON(), fresh.unknown.slice(0, 5));
    assert.equal(u.threshold, det.threshold_);
    assert.deepEqual(u.unknown, Array.from(u.scores, (v) => v > det.threshold_!));
  });
}

test('the out-of-fold threshold rejects about the stated rate; in-sample knn scores would be 0', () => {
  const train = data(3, 200);
  const det = new UnknownDetector({ method: 'knn', k: 1, rate: 0.1 }).fit(train.X, train.y);
  assert.ok(Math.max(...det.score(train.X)) < 1e-3, 'a training point is its own nearest neighbour');
  const fresh = data(4, 500);
  const rejected = det.score(fresh.X).filter((s) => s > det.threshold_!).length / 1000;
  assert.ok(rejected > 0.04 && rejected < 0.18, `rejected ${rejected} for rate 0.1`);
  assert.ok(det.withRate(0.01).threshold_! > quantile(det.oofScores_!, 0.9));
});

test('AUROC by hand, with ties counted half', () => {
  assert.equal(auroc([0, 1], [2, 3]), 1);
  assert.equal(auroc([2, 3], [0, 1]), 0);
  assert.equal(auroc([1], [1]), 0.5);
  assert.equal(auroc([0, 2], [1, 3]), 0.75);
});

test('bad options and inputs are clear errors', () => {
  assert.throws(() => new UnknownDetector({ rate: 1 }).fit([[0], [1]], [0, 1]), (e: Error) => /rate=1/.test(e.message) && /between 0 and 1/.test(e.message));
  assert.throws(() => new UnknownDetector({ method: 'lof' as 'knn' }).fit([[0], [1]], [0, 1]), /method="lof"/);
  assert.throws(() => new UnknownDetector().score([[0]]), { code: 'NOT_FITTED' });
  const det = new UnknownDetector().fit(data(5, 20).X, data(5, 20).y);
  assert.throws(() => det.score([[1, 2]]), { code: 'UNKNOWN_FEATURE_COUNT' });
  assert.throws(() => UnknownDetector.fromJSON({ format: 'ftk-unknown-detector', formatVersion: 1, method: 'knn', nFeatures: 4, threshold: 1 }, 'm.json'), (e: Error) => /m\.json/.test(e.message) && /knn/.test(e.message));
});
