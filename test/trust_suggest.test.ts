/** src/trust/suggest.ts: no duplicates, seeded, uncertainty first, diversity spreads the picks, options checked. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { suggestLabels } from '../src/trust/suggest.js';

function pool(seed: number, n = 200) {
  const rng = new Rng(seed);
  const X: number[][] = [];
  const P: number[][] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 4; // four clusters
    X.push(Array.from({ length: 8 }, (_, j) => (j === c ? 5 : 0) + rng.normal()));
    const p = 0.5 + 0.5 * rng.next();
    P.push([p, 1 - p]);
  }
  return { X, P };
}

test('no duplicates: each row at most once, exact copies of a row never both picked, excluded rows never picked', () => {
  const { X, P } = pool(1);
  X.push([...X[0]], [...X[0]]); // two exact copies of row 0
  P.push([0.5, 0.5], [0.5, 0.5]); // maximally uncertain, so they would be picked first if allowed
  const r = suggestLabels(P, X, { n: 150, exclude: [3, 4] });
  assert.equal(new Set(r.order).size, r.order.length);
  assert.equal(r.order.length, 150);
  assert.ok(!(r.order.includes(0) && (r.order.includes(200) || r.order.includes(201))), 'a row and its copy both picked');
  assert.ok(!r.order.includes(200) || !r.order.includes(201));
  assert.equal(r.duplicates, 2);
  assert.ok(!r.order.includes(3) && !r.order.includes(4));
  assert.equal(r.candidates, 198); // 202 rows - 2 excluded - 2 copies
  // n larger than the pool: every candidate once.
  assert.equal(suggestLabels(P, X, { n: 1000 }).order.length, 200);
});

test('seeded: the same seed gives the same order; ties are broken by the seed', () => {
  const { X, P } = pool(2);
  assert.deepEqual(suggestLabels(P, X, { n: 50, seed: 7 }).order, suggestLabels(P, X, { n: 50, seed: 7 }).order);
  // All-equal rows and probabilities: only the seed decides.
  const flatX = Array.from({ length: 30 }, (_, i) => [i, 0]);
  const flatP = Array.from({ length: 30 }, () => [0.5, 0.5]);
  const a = suggestLabels(flatP, flatX, { n: 5, seed: 1, diversity: 0 }).order;
  const b = suggestLabels(flatP, flatX, { n: 5, seed: 2, diversity: 0 }).order;
  assert.notDeepEqual(a, b);
  assert.deepEqual(a, suggestLabels(flatP, flatX, { n: 5, seed: 1, diversity: 0 }).order);
});

test('diversity 0 = most uncertain first; with diversity the first picks cover every cluster', () => {
  const { X, P } = pool(3);
  const r = suggestLabels(P, X, { n: 10, diversity: 0 });
  const margins = P.map((p) => Math.abs(p[0] - p[1]));
  const sorted = [...margins].sort((x, y) => x - y);
  assert.deepEqual(r.order.map((i) => margins[i]), sorted.slice(0, 10));
  const spread = suggestLabels(P, X, { n: 4, diversity: 1 });
  assert.deepEqual(new Set(spread.order.map((i) => i % 4)).size, 4, 'one pick per cluster');
  // expectedErrors = sum of (1 - confidence) of the picks.
  const e = r.order.reduce((a, i) => a + 1 - Math.max(...P[i]), 0);
  assert.ok(Math.abs(r.expectedErrors - e) < 1e-12);
});

test('novelty is measured from the labelled images too', () => {
  const { X, P } = pool(4);
  // Labelled images sit on clusters 0-2: with full diversity the first pick is in cluster 3.
  const labelled = [0, 1, 2].map((c) => Array.from({ length: 8 }, (_, j) => (j === c ? 5 : 0)));
  const r = suggestLabels(P, X, { n: 1, diversity: 1, labelled });
  assert.equal(r.order[0] % 4, 3);
});

test('bad options are clear errors', () => {
  const { X, P } = pool(5, 10);
  assert.throws(() => suggestLabels(P, X, { n: 0 }), /n=0/);
  assert.throws(() => suggestLabels(P, X, { diversity: 2 }), /diversity/);
  assert.throws(() => suggestLabels(P.slice(1), X), { code: 'SUGGEST_SHAPE' });
});
