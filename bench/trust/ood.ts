/**
 * Acceptance 2 of issue 18: unknown detection with images of other datasets as the unknowns.
 *
 * For each (known set, unknown set, method): 5 outer folds of the known set (seed 0). On each
 * fold's training images the detector is fitted exactly as `ftk svm fit` fits it (threshold = the
 * (1 - rate) quantile of its own 5-fold out-of-fold scores, rate 5%); it then scores the held-out
 * known images and every unknown image. Reported: AUROC (pooled held-out known scores vs the
 * unknowns' scores, averaged over folds), share of unknowns caught and of held-out known images
 * wrongly rejected at the chosen threshold (means over folds).
 *
 *   npx tsx bench/trust/ood.ts [--pairs catsdogs:fashion,catsdogs:flowers,...] [--methods knn1,knn5,knn10,mahalanobis]
 * Raw records: bench/trust/results/ood.jsonl.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { foldSplit, stratifiedKFold } from '../../src/data/split.js';
import { UnknownDetector, auroc, type UnknownDetectorOptions } from '../../src/trust/ood.js';
import { loadLabelled, loadRows, record, round, subset } from './common.js';

const SETS: Record<string, { prefix: string; note: string }> = {
  catsdogs: { prefix: 'bench/.work/catsdogs', note: 'cats-dogs, MobileNet 0.25 features' },
  flowers: { prefix: 'bench/.work/flowers-mobilenet', note: 'Oxford flowers (12 classes, 960 photos), MobileNet 0.25 features' },
  fashion: { prefix: 'bench/.work/fashion-mobilenet', note: '1,000 Fashion-MNIST test images (classes 5-9), MobileNet 0.25 features' },
  'fashion-smallcnn': { prefix: 'bench/.work/trust/fashion-pool-1000', note: 'Fashion-MNIST 5-9, 200 per class, smallcnn features' },
  'catsdogs-smallcnn': { prefix: 'bench/.work/trust/catsdogs-smallcnn', note: 'cats-dogs photos through the Fashion-MNIST smallcnn backbone' },
  'mnistlike-smallcnn': { prefix: 'bench/.work/trust/fashion-source-smallcnn', note: 'Fashion-MNIST classes 0-4 (the pretraining classes), smallcnn features' },
};
const METHODS: Record<string, UnknownDetectorOptions> = {
  knn1: { method: 'knn', k: 1 },
  knn5: { method: 'knn', k: 5 },
  knn10: { method: 'knn', k: 10 },
  mahalanobis: { method: 'mahalanobis' },
};

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: 'catsdogs:fashion,catsdogs:flowers,flowers:catsdogs,flowers:fashion,fashion-smallcnn:catsdogs-smallcnn,fashion-smallcnn:mnistlike-smallcnn' },
    methods: { type: 'string', default: 'knn1,knn5,knn10,mahalanobis' },
    rate: { type: 'string', default: '0.05' },
  },
});
const rate = Number(values.rate);

for (const pair of values.pairs!.split(',')) {
  const [knownName, unknownName] = pair.split(':');
  const known = SETS[knownName];
  const unknown = SETS[unknownName];
  if (!existsSync(`${known.prefix}.npy`) || !existsSync(`${unknown.prefix}.npy`)) {
    console.log(`${pair}: inputs missing (${known.prefix}, ${unknown.prefix}), skipped`);
    continue;
  }
  const K = await loadLabelled(known.prefix);
  const U = await loadRows(unknown.prefix);
  const folds = stratifiedKFold(K.y, 5, { shuffle: true, seed: 0 });
  for (const m of values.methods!.split(',')) {
    const t0 = performance.now();
    const perFold: { auroc: number; caught: number; rejected: number; threshold: number }[] = [];
    for (let f = 0; f < 5; f++) {
      const { train, test } = foldSplit(folds, f);
      const det = new UnknownDetector({ ...METHODS[m], rate, seed: f }).fit(subset(K.X, train), Array.from(train, (i) => K.y[i]));
      const sk = det.score(subset(K.X, test));
      const su = det.score(U);
      const t = det.threshold_!;
      perFold.push({
        auroc: auroc(sk, su),
        caught: su.filter((v) => v > t).length / su.length,
        rejected: sk.filter((v) => v > t).length / sk.length,
        threshold: t,
      });
    }
    const mean = (k: keyof (typeof perFold)[number]) => perFold.reduce((a, p) => a + p[k], 0) / perFold.length;
    const r = {
      known: knownName,
      unknown: unknownName,
      knownNote: known.note,
      unknownNote: unknown.note,
      method: m,
      rate,
      knownImages: K.y.length,
      unknownImages: U.rows,
      auroc: round(mean('auroc')),
      caught: round(mean('caught')),
      rejected: round(mean('rejected')),
      perFold: perFold.map((p) => ({ auroc: round(p.auroc), caught: round(p.caught), rejected: round(p.rejected), threshold: round(p.threshold) })),
      seconds: round((performance.now() - t0) / 1000, 1),
    };
    console.log(`${knownName} vs ${unknownName} ${m}: AUROC ${r.auroc}, caught ${(100 * r.caught).toFixed(1)}%, known rejected ${(100 * r.rejected).toFixed(1)}% (${r.seconds} s)`);
    record('ood', r);
  }
}
