/** The candidate space, the plateau choice of C/gamma, the feature path's nested selection and the bundle's averaging (pure or synthetic, fast). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { candidateSpace, largerSize, type BackboneChoice, type FeatureCandidate } from '../src/auto/candidates.js';
import { selectFeatures } from '../src/auto/feature_path.js';
import { plateauCentre } from '../src/classify/plateau.js';
import type { GridPoint } from '../src/classify/search.js';
import { averageScores } from '../src/predict/bundle.js';
import { Rng } from '../src/data/random.js';

const mobilenet: BackboneChoice = { model: 'mobilenet', alpha: 0.25, weights: 'x.h5', defaultSize: 224, minSize: 32, trainable: true };

test('candidateSpace: quick is one per path; standard searches size x crop x TTA and two unfrozen depths; fixed knobs are not searched', () => {
  const quick = candidateSpace({ level: 'quick', backbones: [mobilenet], nonSquare: 0.9 });
  assert.equal(quick.features.length, 1);
  assert.deepEqual([quick.features[0].inputSize, quick.features[0].crop, quick.features[0].tta], [224, 'center', 'flip']);
  assert.equal(quick.finetune.length, 1);
  assert.equal(quick.finetune[0].freeze, 11);

  const std = candidateSpace({ level: 'standard', backbones: [mobilenet], nonSquare: 0.1 });
  assert.equal(largerSize(224), 288);
  assert.equal(std.features.length, 16, '2 sizes x 2 crops x 2 TTA x 2 feature scalings');
  assert.deepEqual([...new Set(std.features.map((c) => c.inputSize))], [224, 288]);
  assert.equal(std.features[0].crop, 'squash', 'square images: squash first');
  assert.equal(new Set(std.features.map((c) => c.id)).size, 16, 'ids are unique');
  assert.deepEqual(std.finetune.map((c) => c.freeze), [11, 9]);

  const fixed = candidateSpace({ level: 'standard', backbones: [mobilenet], fixed: { inputSize: 160, crop: 'center', tta: 'none', freeze: 5 } });
  assert.deepEqual(fixed.features.map((c) => c.scaler), ['standardize', 'sqrt-standardize'], 'the feature scaling is still tried');
  assert.deepEqual([fixed.features[0].inputSize, fixed.features[0].crop, fixed.features[0].tta], [160, 'center', 'none']);
  assert.deepEqual(fixed.finetune.map((c) => [c.freeze, c.inputSize]), [[5, 160]]);

  const thorough = candidateSpace({ level: 'thorough', backbones: [mobilenet] });
  assert.ok(thorough.features.some((c) => c.classifier === 'linear'));
  assert.ok(thorough.finetune.length > std.finetune.length);

  const two = candidateSpace({ level: 'quick', backbones: [mobilenet, { model: 'onnx:b.onnx', defaultSize: 192, minSize: 192, trainable: false }] });
  assert.deepEqual(two.features.map((c) => c.backbone), [0, 1], 'each backbone is a feature candidate');
  assert.equal(two.finetune.length, 1, 'fine-tuning starts from the trainable one');
  assert.throws(() => candidateSpace({ level: 'huge' as never, backbones: [mobilenet] }), /candidates must be one of/);
});

function point(log2C: number, log2Gamma: number, acc: number): GridPoint {
  return { C: 2 ** log2C, log2C, gamma: 2 ** log2Gamma, log2Gamma, meanAccuracy: acc, stdAccuracy: 0, foldAccuracies: [acc] };
}

test('plateauCentre: a lone spike at the grid edge loses to the centre of a broad plateau; flatness is counted', () => {
  const table: GridPoint[] = [];
  for (const c of [-1, 1, 3, 5, 7]) {
    for (const g of [-11, -9, -7, -5, -3]) {
      // A plateau around (3, -7), falling off with distance; one noisy spike at (7, -3).
      const dist = Math.abs(c - 3) / 2 + Math.abs(g + 7) / 2;
      table.push(point(c, g, c === 7 && g === -3 ? 0.95 : 0.94 - 0.01 * dist));
    }
  }
  const best = table.reduce((a, b) => (b.meanAccuracy > a.meanAccuracy ? b : a));
  const choice = plateauCentre({ table, best });
  assert.deepEqual([choice.argmax.log2C, choice.argmax.log2Gamma], [7, -3]);
  assert.deepEqual([choice.point.log2C, choice.point.log2Gamma], [3, -7]);
  assert.equal(choice.totalPoints, 25);
  assert.equal(choice.flatPoints, 1, 'only the spike is within half a point of the best');
});

test('selectFeatures: inside the training rows, the informative configuration beats a noise one, and the pair is kept only if it scores higher', async () => {
  const rng = new Rng(3);
  const n = 120;
  const d = 8;
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const good = new Float32Array(n * d);
  const noise = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      good[i * d + j] = (j === 0 ? (labels[i] ? 1.5 : -1.5) : 0) + rng.normal();
      noise[i * d + j] = rng.normal();
    }
  }
  const mk = (id: string, crop: 'squash' | 'center'): FeatureCandidate => ({ kind: 'features', id, label: id, backbone: 0, inputSize: 32, crop, tta: 'none', classifier: 'rbf', scaler: 'standardize' });
  const cands = [mk('noise', 'squash'), mk('good', 'center')];
  const features = new Map([
    ['noise', { X: noise, d }],
    ['good', { X: good, d }],
  ]);
  const train = Int32Array.from({ length: 90 }, (_, i) => i);
  const sel = await selectFeatures(cands, features, labels, 2, train, { seed: 0, innerFolds: 3 });
  assert.equal(sel.members[0].candidate.id, 'good');
  const scoreOf = (id: string) => sel.scores.find((s) => s.id === id)!.score;
  assert.ok(scoreOf('good') > scoreOf('noise') + 0.1, `good ${scoreOf('good')} vs noise ${scoreOf('noise')}`);
  const pair = sel.scores.find((s) => s.id.startsWith('svm:pair('));
  assert.ok(pair, 'the pair rung ran');
  assert.equal(sel.members.length, pair.score > scoreOf('good') ? 2 : 1);
});

test('averageScores: the mean of the members, an undecodable image stays an error, the first unknown score is kept', () => {
  const a = [{ probabilities: Float32Array.from([0.8, 0.2]), unknownScore: 0.3, unknownThreshold: 0.5 }, { error: 'bad file' }];
  const b = [{ probabilities: Float32Array.from([0.4, 0.6]) }, { probabilities: Float32Array.from([0.5, 0.5]) }];
  const out = averageScores([a, b]);
  assert.ok('probabilities' in out[0]);
  assert.ok(Math.abs(out[0].probabilities[0] - 0.6) < 1e-6 && Math.abs(out[0].probabilities[1] - 0.4) < 1e-6);
  assert.equal(out[0].unknownScore, 0.3);
  assert.deepEqual(out[1], { error: 'bad file' });
});

test('SvmClassifier: an inverted Platt sigmoid (out-of-fold decisions ranked backwards) is dropped, not served', async () => {
  const { SvmClassifier } = await import('../src/classify/svm.js');
  // Weak signal and a tiny C: libsvm's internal 5-fold decision values rank the pair backwards.
  const rng = new Rng(0);
  const n = 40;
  const d = 16;
  const y = Array.from({ length: n }, (_, i) => i % 2);
  const X = Float32Array.from({ length: n * d }, (_, k) => rng.normal() + (k % d === 0 && y[Math.floor(k / d)] ? 0.3 : 0));
  const m = await new SvmClassifier({ kernel: 'rbf', C: 2 ** -5, probability: true, seed: 0 }).fit({ data: X, rows: n, cols: d }, y);
  assert.match(m.probabilityDropped_ ?? '', /ranked the classes backwards/);
  assert.equal(m.probA_, undefined, 'no probabilities that would flip every decision');
  assert.equal(m.predict({ data: X, rows: n, cols: d }).length, n);
  m.dispose();
  // A model whose out-of-fold decisions rank the classes correctly keeps its probabilities.
  const Xs = Float32Array.from({ length: n * d }, (_, k) => rng.normal() + (k % d === 0 && y[Math.floor(k / d)] ? 3 : 0));
  const ok = await new SvmClassifier({ kernel: 'rbf', C: 1, probability: true, seed: 0 }).fit({ data: Xs, rows: n, cols: d }, y);
  assert.equal(ok.probabilityDropped_, undefined);
  assert.ok(ok.probA_ && ok.probA_[0] < 0);
  ok.dispose();
});
