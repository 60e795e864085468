/**
 * Acceptance 1 of issue 18: ECE (15 bins) of the SVM path's probabilities before and after ftk's
 * calibration, on images the calibration never saw.
 *
 * "before" = libsvm's probabilities (Platt's sigmoid on internal 5-fold decision values + pairwise
 * coupling: what `ftk svm fit --probability` gave before issue 18); "after" = the same with the
 * temperature `fitSvmTrust` fits on the training images' out-of-fold probabilities.
 *
 * - cats-dogs (2 classes, MobileNet 0.25 features): 5 outer folds; per fold, C/gamma by a 3-fold
 *   grid on the training folds, the calibration on the training folds (5 inner folds), ECE of the
 *   pooled outer test probabilities.
 * - flowers (12 classes, 960 Oxford-flowers photos, MobileNet 0.25 features): the same.
 * - Fashion-MNIST 5-9 at 200 per class (smallcnn backbone pretrained on classes 0-4, its Flatten
 *   features; bench/trust/fashion_features.ts): train on 1,000 images, ECE on the 5,000 test images, 3 seeds.
 *
 *   npx tsx bench/trust/calibration.ts [--sets catsdogs,flowers,fashion]
 * Inputs (bench/.work, see bench/trust/README.md); raw records: bench/trust/results/calibration.jsonl.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SvmClassifier } from '../../src/classify/svm.js';
import { foldSplit, stratifiedKFold } from '../../src/data/split.js';
import { applyCalibration, reliability } from '../../src/trust/calibrate.js';
import { fitSvmTrust } from '../../src/trust/fit.js';
import type { FeatureMatrix } from '../../src/classify/matrix.js';
import { chooseSvm, eceFields, loadLabelled, record, round, subset } from './common.js';

const { values } = parseArgs({ options: { sets: { type: 'string', default: 'catsdogs,flowers,fashion' } } });
const sets = values.sets!.split(',');

interface Split {
  train: FeatureMatrix;
  ytrain: number[];
  test: FeatureMatrix;
  ytest: number[];
}

async function evaluate(s: Split, seed: number) {
  const t0 = performance.now();
  const svm = await chooseSvm(s.train, s.ytrain, seed);
  const trust = await fitSvmTrust(s.train, s.ytrain, svm, { unknown: false, seed });
  const clf = await new SvmClassifier({ ...svm, probability: true, seed }).fit(s.train, s.ytrain);
  const raw = clf.predictProba(s.test, { raw: true });
  clf.dispose();
  const classes = [...new Set(s.ytrain)].sort((a, b) => a - b);
  const codes = s.ytest.map((v) => classes.indexOf(v));
  return { raw, cal: applyCalibration(trust.calibration, raw), codes, temperature: trust.calibration!.temperature, svm, seconds: (performance.now() - t0) / 1000 };
}

function summary(name: string, raw: Float64Array[], cal: Float64Array[], codes: number[], extra: Record<string, unknown>) {
  const before = reliability(raw, codes);
  const after = reliability(cal, codes);
  const acc = raw.filter((p, i) => p.indexOf(Math.max(...p)) === codes[i]).length / codes.length;
  const r = { set: name, samples: codes.length, accuracy: round(acc), ...eceFields(before, after), ...extra };
  console.log(`${name}: accuracy ${(100 * acc).toFixed(2)}%, ECE ${before.ece.toFixed(4)} -> ${after.ece.toFixed(4)}, NLL ${before.nll.toFixed(4)} -> ${after.nll.toFixed(4)}`);
  return r;
}

async function crossValidated(name: string, prefix: string) {
  const data = await loadLabelled(prefix);
  const folds = stratifiedKFold(data.y, 5, { shuffle: true, seed: 0 });
  const raw: Float64Array[] = new Array(data.y.length);
  const cal: Float64Array[] = new Array(data.y.length);
  const codes: number[] = new Array(data.y.length);
  const perFold: Record<string, unknown>[] = [];
  for (let f = 0; f < 5; f++) {
    const { train, test } = foldSplit(folds, f);
    const s: Split = { train: subset(data.X, train), ytrain: Array.from(train, (i) => data.y[i]), test: subset(data.X, test), ytest: Array.from(test, (i) => data.y[i]) };
    const r = await evaluate(s, f);
    test.forEach((i, j) => {
      raw[i] = r.raw[j];
      cal[i] = r.cal[j];
      codes[i] = r.codes[j];
    });
    perFold.push({ fold: f, temperature: round(r.temperature), C: r.svm.C, gamma: r.svm.gamma, eceBefore: round(reliability(r.raw, r.codes).ece), eceAfter: round(reliability(r.cal, r.codes).ece), seconds: round(r.seconds, 1) });
    console.log(`  fold ${f}: T=${r.temperature.toFixed(3)} ${JSON.stringify(perFold[f])}`);
  }
  record('calibration', summary(name, raw, cal, codes, { protocol: '5 outer folds (seed 0), calibration fitted on the training folds (5 inner folds)', perFold }));
}

if (sets.includes('catsdogs')) await crossValidated('cats-dogs svm (mobilenet 0.25)', 'bench/.work/catsdogs');
if (sets.includes('flowers')) await crossValidated('flowers-12 svm (mobilenet 0.25)', 'bench/.work/flowers-mobilenet');
if (sets.includes('fashion')) {
  const prefix = 'bench/.work/trust/fashion-pool';
  if (!existsSync(`${prefix}.npy`)) throw new Error(`${prefix}.npy is missing: run npx tsx bench/trust/fashion_features.ts first`);
  const pool = await loadLabelled(prefix);
  const test = await loadLabelled('bench/.work/trust/fashion-test');
  for (let seed = 0; seed < 3; seed++) {
    const { Rng } = await import('../../src/data/random.js');
    const rng = new Rng(1000 + seed);
    const rows: number[] = [];
    for (let c = 0; c < pool.classes.length; c++) rows.push(...rng.shuffle(pool.y.map((v, i) => (v === c ? i : -1)).filter((i) => i >= 0)).slice(0, 200));
    const r = await evaluate({ train: subset(pool.X, rows), ytrain: rows.map((i) => pool.y[i]), test: test.X, ytest: test.y }, seed);
    record('calibration', summary(`fashion-mnist 5-9 @200/class svm (smallcnn), seed ${seed}`, r.raw, r.cal, r.codes, { protocol: 'train 1000 (200/class, seeded), test = the 5000 test images of classes 5-9', temperature: round(r.temperature), C: r.svm.C, gamma: r.svm.gamma }));
  }
}
