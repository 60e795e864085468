/** `ftk auto` end to end on a tiny synthetic dataset (random weights, 64 px): both paths, paired folds, bundle, report. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { auto } from '../src/auto/auto.js';
import { recommend } from '../src/auto/recommend.js';
import { decide, DECISION_RULE } from '../src/auto/decision.js';
import { validateRunReport } from '../src/formats/run_report.js';
import { loadClassifier } from '../src/predict/formats.js';
import { colourDataset, tempDir } from './helpers/images.js';

const { dir: tmp, cleanup } = await tempDir('ftk-auto-');
after(cleanup);

test('recommend: under 1,000 images the prior is the SVM; over, fine-tuning; far domains with lots of data, scratch', () => {
  assert.equal(recommend({ counts: [100, 100], canTrain: true }).path, 'svm');
  assert.equal(recommend({ counts: [1000, 1000], canTrain: true }).path, 'finetune');
  const far = recommend({ counts: [2000, 2000], canTrain: true, probe: { earlyAccuracy: 0.9, lateAccuracy: 0.91, earlyLayer: 'a', lateLayer: 'b', images: 400 } });
  assert.equal(far.path, 'scratch');
  assert.equal(far.domain, 'far');
  assert.match(far.reasons[0], /91\.0% on b features vs 90\.0% on a/);
  assert.equal(recommend({ counts: [5000, 5000], canTrain: false }).path, 'svm');
});

test('auto: SVM and fine-tuning on the same folds, paired comparison, decision with reasons, bundle that predicts, report', { timeout: 300_000 }, async () => {
  const root = path.join(tmp, 'colours');
  await colourDataset(root, 12, 48);
  const out = path.join(tmp, 'run');
  const stages: string[] = [];
  const r = await auto(root, {
    out, model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: 64, folds: 2, epochs: 1, budget: 20,
    curveFractions: [0.25, 0.5, 1], candidates: 'quick', refitAll: true, cache: path.join(tmp, 'cache.sqlite'), backend: 'wasm', onStage: (m) => stages.push(m),
  });
  const run = validateRunReport(JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')));
  assert.deepEqual(run.paths!.map((p) => p.path), ['svm', 'finetune', 'ensemble']);
  for (const p of run.paths!) assert.equal(p.foldAccuracies.length, 2, p.path);
  assert.ok(run.decision.reasons.length >= 2);
  assert.equal(run.decision.rule, DECISION_RULE);
  // The decision follows the written rule from the evidence it reports: decide() on the paths' own
  // fold accuracies and costs gives the recorded choice, and every comparison's differences are
  // the two paths' fold accuracies.
  const byPath = new Map(run.paths!.map((p) => [p.path, p]));
  for (const cmp of run.comparisons!) {
    cmp.differences.forEach((d, f) => assert.ok(Math.abs(d - (byPath.get(cmp.a)!.foldAccuracies[f] - byPath.get(cmp.b)!.foldAccuracies[f])) < 1e-12, `${cmp.a} - ${cmp.b}, fold ${f + 1}`));
  }
  const again = decide(run.paths!.map((p) => ({ id: p.path, label: p.path, foldAccuracies: p.foldAccuracies, costPerFoldMs: p.elapsedMs! / p.foldAccuracies.length })));
  assert.equal(run.decision.chosen, again.chosen);
  // Every candidate was scored inside the training folds, with its time.
  assert.ok(run.candidates!.some((c) => c.path === 'svm' && c.innerScores.every((s) => s !== null)));
  assert.ok(run.candidates!.some((c) => c.path === 'finetune' && c.picked === 2));
  // refitAll: every contender is a bundle that predicts.
  for (const name of ['svm', 'finetune', 'ensemble']) assert.ok(existsSync(path.join(out, 'paths', name, 'ftk.json')), name);
  const ens = await loadClassifier(path.join(out, 'paths', 'ensemble'));
  const ensScores = await ens.predictImages([path.join(root, 'red', '0.png')]);
  ens.dispose();
  assert.ok('probabilities' in ensScores[0] && Math.abs(ensScores[0].probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4);
  assert.match(ens.description, /mean of the probabilities of 2 models/);
  assert.ok(stages.some((s) => s.startsWith('evidence: ')));
  assert.ok(existsSync(r.report.html) && existsSync(r.report.markdown));
  const clf = await loadClassifier(r.bundle);
  const scores = await clf.predictImages([path.join(root, 'red', '0.png'), path.join(root, 'blue', '0.png'), path.join(tmp, 'nope.png')]);
  clf.dispose();
  assert.ok('probabilities' in scores[0] && scores[0].probabilities.length === 2);
  assert.ok('error' in scores[2]);
});
