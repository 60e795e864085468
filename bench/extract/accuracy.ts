/**
 * Proves architecture + weight loader + preprocessing together (issue 2, acceptance 3) and the
 * SVM on real features (issue 3, acceptance 5): extract the 2,000 cats-dogs photos with the shared
 * Keras MobileNet 0.25 weights and with random weights (same architecture, seed 0), then score
 * - a linear SVM (stratified 5-fold, seed 0) over a C sweep, and
 * - the grid-searched RBF SVM (libsvm grid.py's default grid, 5-fold).
 *
 *   npx tsx bench/extract/accuracy.ts [--out-dir /tmp/ftk-acc]
 * Features are cached under FTK_HOME, so a rerun only scores.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { svmCrossValidate, svmFit } from '../../src/classify/commands.js';
import { loadFeatures } from '../../src/classify/features_io.js';
import { gridSearch } from '../../src/classify/search.js';
import { SvmClassifier } from '../../src/classify/svm.js';
import { foldSplit, stratifiedKFold } from '../../src/data/split.js';
import { extractFeatures } from '../../src/extract/extract.js';
import { writeFeatures } from '../../src/extract/features_file.js';

const { values } = parseArgs({ options: { 'out-dir': { type: 'string', default: '/tmp/ftk-acc' } } });
const DATA = path.resolve('../shared/datasets/cats-dogs');
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const outDir = values['out-dir']!;

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const lines: string[] = [];
for (const [label, weights] of [
  ['Keras ImageNet weights', H5],
  ['random weights (seed 0)', 'random'],
] as const) {
  const t0 = performance.now();
  const r = await extractFeatures(DATA, { model: 'mobilenet', alpha: 0.25, weights, seed: 0 });
  const prefix = path.join(outDir, weights === 'random' ? 'cd025_random' : 'cd025_imagenet');
  await writeFeatures(prefix, r.features, r.meta);
  lines.push(`\n## MobileNet 0.25, ${label}: ${r.meta.shape[0]} images -> ${r.meta.shape[1]} features, ` +
    `${((performance.now() - t0) / 1000).toFixed(1)} s (computed ${r.stats.computed}, cached ${r.stats.cached}, ${r.stats.backend})`);
  lines.push('| classifier | 5-fold accuracy | 95% interval | macro-F1 |', '|---|---|---|---|');
  for (const C of [0.001, 0.01, 0.1, 1]) {
    const cv = await svmCrossValidate(prefix, { kernel: 'linear', C, folds: 5, seed: 0 });
    lines.push(`| linear SVM, C=${C}, standardized | ${pct(cv.meanAccuracy)} | ${pct(cv.ci95[0])} - ${pct(cv.ci95[1])} | ${cv.macroF1.toFixed(4)} |`);
  }
  lines.push(`| linear SVM, C chosen by an inner 5-fold grid (log2 C -15..5) in each outer fold (nested CV) | ${pct(await nestedLinear(prefix))} | | |`);
  const t1 = performance.now();
  const fit = await svmFit(prefix, { kernel: 'rbf', grid: true, folds: 5, seed: 0 });
  const best = fit.grid!.best;
  lines.push(
    `| RBF SVM, grid.py default grid (${fit.gridTable!.length} points x 5 folds), best C=2^${best.log2C}, gamma=2^${best.log2Gamma} | ${pct(best.meanAccuracy)} (std ${pct(best.stdAccuracy)}) | | |`,
  );
  lines.push(`grid search + refit: ${((performance.now() - t1) / 1000).toFixed(1)} s`);
}
console.log(lines.join('\n'));

/** Honest accuracy of "linear SVM with C tuned on the training data": nested 5x5 CV. */
async function nestedLinear(prefix: string): Promise<number> {
  const f = await loadFeatures(prefix);
  const folds = stratifiedKFold(f.labels, 5, { shuffle: true, seed: 0 });
  let correct = 0;
  for (let k = 0; k < 5; k++) {
    const { train, test } = foldSplit(folds, k);
    const take = (rows: Int32Array) => {
      const data = new Float32Array(rows.length * f.d);
      rows.forEach((r, i) => data.set(f.X.subarray(r * f.d, (r + 1) * f.d), i * f.d));
      return { data, rows: rows.length, cols: f.d };
    };
    const yTrain = Array.from(train, (r) => f.labels[r]);
    const inner = await gridSearch(take(train), yTrain, { kernel: 'linear' }, { folds: 5, seed: 1, log2C: [-15, -13, -11, -9, -7, -5, -3, -1, 1, 3, 5] });
    const clf = await new SvmClassifier({ kernel: 'linear', C: inner.best.C }).fit(take(train), yTrain);
    const predicted = clf.predict(take(test));
    predicted.forEach((p, i) => (correct += p === f.labels[test[i]] ? 1 : 0));
    clf.dispose();
  }
  return correct / f.n;
}
