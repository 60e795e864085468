/**
 * `ftk auto`'s contest (issue 14), pure parts: the decision rule (src/auto/decision.ts), the budget
 * plan (src/auto/budget.ts), the learning-curve subsets and crossover (src/auto/curves.ts).
 * Synthetic per-fold numbers; no model, no disk.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { planFolds, splitBudget } from '../src/auto/budget.js';
import { crossoverInRange, curveSubsets, NO_CROSSOVER } from '../src/auto/curves.js';
import { decide, DECISION_RULE, type Contender } from '../src/auto/decision.js';
import { stratifiedKFold } from '../src/data/split.js';
import { OptionsError } from '../src/errors.js';
import type { LearningCurve, PairedComparison, PathName } from '../src/formats/run_report.js';

const MIN = 60_000;

const svm = (foldAccuracies: (number | null)[], costPerFoldMs = 2_000): Contender<PathName> => ({ id: 'svm', label: 'SVM', foldAccuracies, costPerFoldMs });
const ft = (foldAccuracies: (number | null)[], costPerFoldMs = 4 * MIN): Contender<PathName> => ({ id: 'finetune', label: 'Fine-tuning', foldAccuracies, costPerFoldMs });
const ens = (foldAccuracies: (number | null)[], costPerFoldMs = 4 * MIN + 2_000): Contender<PathName> => ({ id: 'ensemble', label: 'Ensemble', foldAccuracies, costPerFoldMs });

test('DECISION_RULE is the rule written in the header of decision.ts, word for word', () => {
  const src = readFileSync(new URL('../src/auto/decision.ts', import.meta.url), 'utf8');
  const header = src.slice(src.indexOf(' * The rule:'), src.indexOf(' * Why paired'));
  const words = header.replace(/^ \*/gm, '').replace('The rule:', '').replace(/\s+/g, ' ').trim();
  assert.equal(words, DECISION_RULE);
  assert.match(DECISION_RULE, /cheapest contender whose paired difference to the best is within noise/);
});

test('decide: a significant fine-tuning win chooses fine-tuning, with its numbers', () => {
  const d = decide([svm([0.8, 0.82, 0.79, 0.81, 0.8]), ft([0.9, 0.91, 0.88, 0.92, 0.9])]);
  assert.equal(d.best, 'finetune');
  assert.equal(d.chosen, 'finetune');
  assert.equal(d.withinNoise, false);
  assert.deepEqual(d.commonFolds, [0, 1, 2, 3, 4]);
  assert.equal(d.comparisons.length, 1);
  const c = d.comparisons[0];
  assert.deepEqual([c.a, c.b, c.withinNoise], ['finetune', 'svm', false]);
  assert.ok(c.ci95[0] > 0, `interval ${c.ci95.join(' to ')} above 0`);
  assert.ok(Math.abs(c.meanDifference - 0.098) < 1e-12);
  assert.ok(d.reasons.some((r) => /^Fine-tuning - SVM = \+9\.8 pp \(95% interval \+8\.8 to \+10\.8 pp\) over 5 paired folds: Fine-tuning is ahead beyond noise\.$/.test(r)), d.reasons.join('\n'));
  assert.ok(d.reasons.some((r) => /Fine-tuning is chosen: it is ahead of every other contender beyond noise/.test(r)));
  assert.deepEqual(d.excluded, []);
  // With path ids, the comparisons go into the run record's `comparisons` as they are.
  const forRecord: PairedComparison[] = d.comparisons;
  assert.equal(forRecord[0].a, 'finetune');
});

test('decide: a difference within noise chooses the cheaper contender, not the best', () => {
  // Fine-tuning is ahead by 0.8 points on average, but fold 3 goes the other way.
  const d = decide([ft([0.91, 0.9, 0.9, 0.91, 0.9]), svm([0.9, 0.88, 0.91, 0.89, 0.9])]);
  assert.equal(d.best, 'finetune');
  assert.equal(d.chosen, 'svm');
  assert.equal(d.withinNoise, true);
  assert.ok(d.comparisons[0].ci95[0] < 0 && d.comparisons[0].ci95[1] > 0);
  assert.deepEqual(d.compared.map((c) => c.id), ['finetune', 'svm']);
  assert.ok(d.reasons.some((r) => /^SVM is chosen: it is within noise of the best and the cheapest of those \(2\.00 s per fold, against 4 min 0 s per fold for Fine-tuning\)\.$/.test(r)), d.reasons.join('\n'));
  // Within noise but dearer than the best: the best stays.
  const e = decide([svm([0.91, 0.9, 0.9, 0.91, 0.9]), ft([0.9, 0.88, 0.91, 0.89, 0.9])]);
  assert.deepEqual([e.best, e.chosen, e.withinNoise], ['svm', 'svm', true]);
  assert.ok(e.reasons.some((r) => /SVM is chosen: it is the best and also the cheapest of the contenders within noise of it/.test(r)));
});

test('decide: an exact tie of three goes to the cheapest, whatever the input order', () => {
  const acc = [0.85, 0.9, 0.8, 0.95];
  const d = decide([ens(acc), ft(acc), svm(acc)]);
  assert.deepEqual([d.best, d.chosen, d.withinNoise], ['svm', 'svm', true]);
  assert.deepEqual(d.comparisons.map((c) => [c.b, c.ci95]), [
    ['ensemble', [0, 0]],
    ['finetune', [0, 0]],
  ]);
});

test('decide: a significant SVM win chooses the SVM', () => {
  const d = decide([svm([0.93, 0.95, 0.94, 0.92, 0.94]), ft([0.85, 0.88, 0.84, 0.86, 0.87]), ens([0.9, 0.91, 0.9, 0.9, 0.92])]);
  assert.deepEqual([d.best, d.chosen, d.withinNoise], ['svm', 'svm', false]);
  assert.ok(d.comparisons.every((c) => c.a === 'svm' && c.ci95[0] > 0));
  assert.ok(d.reasons.some((r) => /^SVM - Ensemble = \+3\.0 pp/.test(r)));
});

test('decide: a contender the budget left with one fold is not compared, and the record says why', () => {
  // The ensemble has 100% on its single fold and would win on a mean over "its" folds.
  const d = decide([svm([0.8, 0.82, 0.79, 0.81, 0.8]), ft([0.9, 0.91, 0.88, 0.92, 0.9]), ens([1, null, null, null, null])]);
  assert.deepEqual(d.commonFolds, [0, 1, 2, 3, 4], 'the others decide on their own common folds');
  assert.deepEqual([d.best, d.chosen], ['finetune', 'finetune']);
  assert.deepEqual(d.compared.map((c) => c.id), ['svm', 'finetune']);
  assert.equal(d.excluded.length, 1);
  assert.equal(d.excluded[0].id, 'ensemble');
  assert.match(d.excluded[0].why, /^Ensemble completed 1 outer fold \(fold 1\); of the 5 folds SVM and Fine-tuning both completed it shares only fold 1: with fewer than 2 paired folds it has no 95% interval, so it cannot be chosen over them\.$/);
  assert.match(d.reasons[0], /not compared: Ensemble/);
  // Fine-tuning with one fold against an SVM with five: nothing is compared, the SVM is chosen.
  const e = decide([svm([0.8, 0.82, 0.79, 0.81, 0.8], 2_000), ft([0.99, null, null, null, null], 100)]);
  assert.deepEqual([e.best, e.chosen, e.comparisons.length], ['svm', 'svm', 0]);
  assert.deepEqual(e.excluded.map((x) => x.id), ['finetune']);
  assert.match(e.excluded[0].why, /^Fine-tuning completed 1 outer fold \(fold 1\) and shares only fold 1 with SVM: with fewer than 2 paired folds there is no 95% interval, so nothing shows it is better\.$/);
});

test('decide: contenders on disjoint folds are not compared; the cheapest with 2 or more folds is chosen', () => {
  const d = decide([ft([null, null, null, 0.97, 0.96]), svm([0.8, 0.82, 0.79, null, null])]);
  assert.deepEqual(d.commonFolds, []);
  assert.deepEqual(d.comparisons, []);
  assert.equal(d.chosen, 'svm');
  assert.equal(d.best, 'finetune', 'highest mean on its own folds');
  assert.equal(d.withinNoise, false);
  assert.match(d.reasons[0], /^No two contenders completed 2 outer folds in common, so none could be compared with a paired interval: Fine-tuning 96\.5% on 2 outer folds \(folds 4, 5 of 5\); SVM 80\.3% on 3 outer folds \(folds 1, 2, 3 of 5\)\.$/);
  assert.deepEqual(d.excluded.map((x) => x.id), ['finetune']);
  assert.match(d.excluded[0].why, /shares none with SVM/);
});

test('decide: a single contender is chosen; bad input is refused with what was received', () => {
  const d = decide([svm([0.8, 0.9, null])]);
  assert.deepEqual([d.chosen, d.best, d.withinNoise, d.comparisons.length], ['svm', 'svm', false, 0]);
  assert.deepEqual(d.reasons, ['Only one contender ran: SVM, 85.0% on 2 outer folds (folds 1, 2 of 3).']);
  assert.throws(() => decide([]), OptionsError);
  assert.throws(() => decide([svm([0.8, 0.9]), ft([0.8])]), /svm has 2, finetune has 1/);
  assert.throws(() => decide([svm([0.8]), svm([0.9])]), /unique/);
  assert.throws(() => decide([svm([0.8, 1.5])]), /accuracy of fold 2 must be a number in \[0, 1\] or null\. Received 1\.5/);
  assert.throws(() => decide([svm([null, null]), ft([null, null])]), /No contender completed an outer fold/);
});

test('planFolds: the budget cuts the folds of every path at once, with the numbers in the sentence', () => {
  const costs = [
    { path: 'svm', firstFoldMs: 20_000, oneTimeMs: 0 },
    { path: 'finetune', firstFoldMs: 8 * MIN, oneTimeMs: 3 * MIN },
  ];
  const o = { budgetMs: 30 * MIN, elapsedMs: 9 * MIN, k: 5, foldsDone: 1, refitMs: 4 * MIN, costs };
  const plan = planFolds(o);
  // 17 min left after the refit; one more fold of both paths: 20 s + (8 - 3) min = 5 min 20 s -> 3 more.
  assert.equal(plan.folds, 4);
  assert.equal(plan.perFoldMs, 20_000 + 5 * MIN);
  assert.equal(
    plan.cut,
    'outer folds cut from 5 to 4 for every path: one more fold of all paths takes about 5 min 20 s (svm 20.0 s, finetune 5 min 0 s; one-time costs of 3 min 0 s left out), and 17 min 0 s of the 30 min 0 s budget are left after 9 min 0 s spent and 4 min 0 s kept for the refit',
  );
  assert.deepEqual(planFolds({ ...o, costs: [...costs].reverse() }).folds, plan.folds, 'the order of the paths does not matter');
  assert.deepEqual(planFolds({ ...o, budgetMs: 60 * MIN }), { folds: 5, perFoldMs: plan.perFoldMs }, 'nothing cut: no sentence');
});

test('planFolds: a slow cold first fold does not by itself cut folds', () => {
  // Fine-tuning's first fold took 10 min, 9 of them a cold feature cache and the model export.
  const costs = [
    { path: 'svm', firstFoldMs: 20_000, oneTimeMs: 0 },
    { path: 'finetune', firstFoldMs: 10 * MIN, oneTimeMs: 9 * MIN },
  ];
  const plan = planFolds({ budgetMs: 30 * MIN, elapsedMs: 11 * MIN, k: 5, foldsDone: 1, refitMs: 2 * MIN, costs });
  assert.deepEqual(plan, { folds: 5, perFoldMs: 80_000 });
  // Counted as a repeating cost, the same first fold would have cut to 2 folds.
  assert.equal(planFolds({ budgetMs: 30 * MIN, elapsedMs: 11 * MIN, k: 5, foldsDone: 1, refitMs: 2 * MIN, costs: costs.map((c) => ({ ...c, oneTimeMs: 0 })) }).folds, 2);
});

test('planFolds: never fewer than the folds done, never more than k; bad numbers are refused', () => {
  const costs = [{ path: 'finetune', firstFoldMs: 5 * MIN, oneTimeMs: 0 }];
  assert.equal(planFolds({ budgetMs: 10 * MIN, elapsedMs: 25 * MIN, k: 5, foldsDone: 2, refitMs: 0, costs }).folds, 2, 'over budget: keep what is measured');
  assert.equal(planFolds({ budgetMs: 10 * MIN, elapsedMs: 0, k: 5, foldsDone: 0, refitMs: 0, costs: [{ path: 'svm', firstFoldMs: 50, oneTimeMs: 80 }] }).folds, 5, 'a per-fold estimate below 0 counts as 0');
  assert.throws(() => planFolds({ budgetMs: -1, elapsedMs: 0, k: 5, foldsDone: 0, refitMs: 0, costs }), /budgetMs must be a finite number of milliseconds >= 0\. Received budgetMs=-1/);
  assert.throws(() => planFolds({ budgetMs: 1, elapsedMs: 0, k: 5, foldsDone: 6, refitMs: 0, costs }), /foldsDone must be an integer in \[0, k=5\]/);
});

test('splitBudget: equal shares; what a finished path leaves goes to the others', () => {
  assert.deepEqual(splitBudget(600_000, ['svm', 'finetune']), { svm: 300_000, finetune: 300_000 });
  assert.deepEqual(splitBudget(600_000, ['svm', 'finetune'], { svm: 60_000 }), { svm: 60_000, finetune: 540_000 });
  assert.deepEqual(splitBudget(600_000, ['svm', 'finetune', 'ensemble'], { svm: 700_000 }), { svm: 700_000, finetune: 0, ensemble: 0 }, 'an overrun leaves nothing, never less');
  assert.throws(() => splitBudget(1, ['svm'], { scratch: 1 }), /spentMs names path\(s\) not in the split: scratch/);
});

test('curveSubsets: the same stratified rows for both paths, nested, inside each training fold, 3 sizes or more', () => {
  const labels = Array.from({ length: 60 }, (_, i) => i % 3);
  const k = 3;
  const folds = stratifiedKFold(labels, k, { shuffle: true, seed: 1 });
  const fractions = [0.25, 1, 0.5];
  const forSvm = curveSubsets(folds, labels, fractions, 7, k);
  const forFinetune = curveSubsets(folds, labels, fractions, 7, k);
  assert.deepEqual(forFinetune, forSvm, 'the same rows at every fraction and fold');
  assert.deepEqual(forSvm.map((s) => s.fraction), [0.25, 0.5, 1]);
  for (const s of forSvm) {
    assert.equal(s.rows.length, k);
    s.rows.forEach((rows, f) => {
      assert.ok(rows.every((r) => folds[r] !== f), 'no held-out row of the fold');
      for (let c = 0; c < 3; c++) assert.ok(rows.filter((r) => labels[r] === c).length >= 2, 'every class, at least 2 rows');
      assert.equal(s.trainSizes[f], rows.length);
    });
  }
  // 40 training rows per fold, 13, 13 and 14 per class: 0.25 -> 3 + 3 + 4, 0.5 -> 7 + 7 + 7, 1 -> all.
  assert.deepEqual(forSvm.map((s) => s.trainSizes), [
    [10, 10, 10],
    [21, 21, 21],
    [40, 40, 40],
  ]);
  assert.deepEqual(forSvm[2].rows[0], Int32Array.from(labels.map((_, i) => i).filter((i) => folds[i] !== 0)), 'fraction 1: the whole training fold');
  forSvm[0].rows.forEach((rows, f) => assert.ok(rows.every((r) => forSvm[1].rows[f].includes(r)), 'nested: the smaller subset lies inside the larger'));
  assert.notDeepEqual(curveSubsets(folds, labels, fractions, 8, k)[0].rows, forSvm[0].rows, 'another seed, other rows');
  assert.throws(
    () => curveSubsets(folds, labels, [0.5, 1], 7, k),
    (e: unknown) => e instanceof OptionsError && e.code === 'CURVE_TOO_FEW_SIZES' && /needs at least 3 training sizes to show its shape\. Received 2 distinct fraction\(s\): \[0\.5, 1\]/.test(e.message),
  );
  assert.throws(() => curveSubsets(folds, labels, [0.5, 0.5, 1], 7, k), /Received 2 distinct fraction/);
  assert.throws(() => curveSubsets(folds, labels, [0, 0.5, 1], 7, k), /fractions must be numbers in \(0, 1\]\. Received 0/);
});

const curve = (path: PathName, accs: number[], sizes = [10, 20, 40], fractions = [0.25, 0.5, 1]): LearningCurve => ({
  path,
  points: sizes.map((n, i) => ({ fraction: fractions[i], trainSize: n, meanAccuracy: accs[i] })),
});

test('crossoverInRange: curves that never cross give no crossover and are not extrapolated', () => {
  // Fine-tuning closes the gap fast; an extrapolation would put a crossover just past 40 images.
  const x = crossoverInRange(curve('svm', [0.9, 0.9, 0.9]), curve('finetune', [0.6, 0.75, 0.88]));
  assert.equal(x.trainSize, null);
  assert.equal(x.extrapolated, false);
  assert.ok(x.note!.startsWith(NO_CROSSOVER));
  assert.equal(x.note, 'no crossover in the measured range, 10 to 40 training images: SVM is ahead or level at every measured size');
});

test('crossoverInRange: a sign change between two measured points is interpolated between their sizes', () => {
  // b - a: -0.1 at 10, -0.05 at 20, +0.1 at 40 -> 0 a third of the way from 20 to 40.
  const x = crossoverInRange(curve('svm', [0.8, 0.8, 0.8]), curve('finetune', [0.7, 0.75, 0.9]));
  assert.deepEqual(x, { from: 'svm', to: 'finetune', trainSize: 27, extrapolated: false, note: 'interpolated between 20 and 40 training images, fractions 0.5 and 1' });
  assert.ok(x.trainSize! > 20 && x.trainSize! < 40);
  // The other way round: the curve ahead below the crossover is `from`.
  assert.deepEqual([crossoverInRange(curve('finetune', [0.7, 0.75, 0.9]), curve('svm', [0.8, 0.8, 0.8])).from, 'svm'], ['svm', 'svm']);
  // Level at a measured point with opposite signs around it: the crossover is that point.
  assert.equal(crossoverInRange(curve('svm', [0.8, 0.8, 0.8]), curve('finetune', [0.7, 0.8, 0.9])).trainSize, 20);
});

test('crossoverInRange: points are matched by fraction, not by exact training size', () => {
  // Fine-tuning's sizes differ by one image (another rounding), and it has an extra 0.1 point.
  const a = curve('svm', [0.8, 0.8, 0.8]);
  const b = curve('finetune', [0.5, 0.7, 0.75, 0.9], [4, 11, 21, 41], [0.1, 0.25, 0.5, 1]);
  const x = crossoverInRange(a, b);
  // Shared fractions 0.25, 0.5, 1 at sizes 10.5, 20.5, 40.5; b - a = -0.1, -0.05, +0.1.
  assert.equal(x.trainSize, Math.round(20.5 + (0.05 / 0.15) * 20));
  const none = crossoverInRange(a, curve('finetune', [0.9, 0.9], [5, 8], [0.1, 0.2]));
  assert.equal(none.trainSize, null);
  assert.match(none.note!, /^no crossover in the measured range: the curves share 0 training fraction\(s\), 2 are needed$/);
});
