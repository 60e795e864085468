/**
 * Proves architecture + weight loader + preprocessing together (issue 2, acceptance 3) and the
 * SVM on real features (issue 3, acceptance 5): extract the 2,000 cats-dogs photos with the shared
 * Keras MobileNet 0.25 weights and with random weights (same architecture, seed 0), then score
 * - a linear SVM (stratified 5-fold, seed 0) over a C sweep, and with C chosen inside each
 *   training fold (nested CV);
 * - the grid-searched RBF SVM: the honest figure is nested (libsvm grid.py's default grid searched
 *   by an inner 3-fold CV on each outer training fold, refit, scored on the outer fold); the best
 *   cell of the grid scored on the same 5 folds it was chosen on is printed too, labelled as such
 *   (it is optimistic: the maximum of 110 noisy estimates).
 *
 *   npx tsx bench/extract/accuracy.ts [--out-dir /tmp/ftk-acc] [--record bench/extract/accuracy.jsonl]
 * Features are cached under FTK_HOME, so a rerun only scores. Appends one JSON line per result to
 * the record (date, load average, versions) and prints the table.
 */
import { appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageInfo } from '../../src/runtime/package_info.js';
import { svmCrossValidate, svmFit } from '../../src/classify/commands.js';
import { loadFeatures } from '../../src/classify/features_io.js';
import { gridSearch } from '../../src/classify/search.js';
import { SvmClassifier } from '../../src/classify/svm.js';
import { foldSplit, stratifiedKFold } from '../../src/data/split.js';
import { extractFeatures } from '../../src/extract/extract.js';
import { writeFeatures } from '../../src/extract/features_file.js';

const { values } = parseArgs({ options: { 'out-dir': { type: 'string', default: '/tmp/ftk-acc' }, record: { type: 'string', default: 'bench/extract/accuracy.jsonl' } } });
const started = new Date().toISOString();
const loads: number[][] = [os.loadavg()];
/** One line of the raw record. */
function record(fields: Record<string, unknown>): void {
  loads.push(os.loadavg());
  const versions = { ftk: packageInfo().version, node: process.version };
  appendFileSync(values.record!, `${JSON.stringify({ bench: 'extract/accuracy', started, date: new Date().toISOString(), loadavg: os.loadavg(), versions, ...fields })}\n`);
}
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
    record({ weights: label, classifier: 'linear', C, protocol: '5-fold, C fixed', accuracy: cv.meanAccuracy, ci95: cv.ci95, macroF1: cv.macroF1, foldAccuracies: cv.foldAccuracies });
    lines.push(`| linear SVM, C=${C}, standardized | ${pct(cv.meanAccuracy)} | ${pct(cv.ci95[0])} - ${pct(cv.ci95[1])} | ${cv.macroF1.toFixed(4)} |`);
  }
  const linearNested = await nested(prefix, 'linear');
  record({ weights: label, classifier: 'linear', protocol: 'nested: C by inner 5-fold grid (log2 C -15..5) on each outer training fold; outer stratified 5-fold, seed 0', accuracy: linearNested.accuracy, chosen: linearNested.chosen, seconds: linearNested.seconds });
  lines.push(`| linear SVM, C chosen by an inner 5-fold grid (log2 C -15..5) in each outer fold (nested CV) | ${pct(linearNested.accuracy)} | | |`);
  if (weights !== 'random') {
    const rbfNested = await nested(prefix, 'rbf');
    record({ weights: label, classifier: 'rbf', protocol: 'nested: grid.py default grid (110 points) by inner 3-fold CV on each outer training fold, refit; outer stratified 5-fold, seed 0', accuracy: rbfNested.accuracy, chosen: rbfNested.chosen, seconds: rbfNested.seconds });
    lines.push(`| RBF SVM, grid.py default grid searched by an inner 3-fold CV in each outer fold (nested CV; chosen ${rbfNested.chosen.map((c) => `2^${c.log2C}/2^${c.log2Gamma}`).join(', ')}) | ${pct(rbfNested.accuracy)} | | |`);
  }
  const t1 = performance.now();
  const fit = await svmFit(prefix, { kernel: 'rbf', grid: true, folds: 5, seed: 0 });
  const best = fit.grid!.best;
  record({ weights: label, classifier: 'rbf', protocol: `best cell of the ${fit.gridTable!.length}-point grid scored on the same 5 folds it was chosen on (optimistic)`, accuracy: best.meanAccuracy, std: best.stdAccuracy, C: best.C, gamma: best.gamma });
  lines.push(
    `| RBF SVM, best cell of grid.py's default grid (${fit.gridTable!.length} points x 5 folds) scored on the folds it was chosen on (optimistic), C=2^${best.log2C}, gamma=2^${best.log2Gamma} | ${pct(best.meanAccuracy)} (std ${pct(best.stdAccuracy)}) | | |`,
  );
  lines.push(`grid search + refit: ${((performance.now() - t1) / 1000).toFixed(1)} s`);
}
console.log(lines.join('\n'));

/**
 * Honest accuracy of "an SVM with its parameters tuned on the training data": outer stratified
 * 5-fold; in each outer training fold an inner grid search (linear: C over log2 -15..5, 5 folds;
 * RBF: grid.py's default 110-point grid, 3 folds), refit with the best point, score the outer fold.
 */
async function nested(prefix: string, kernel: 'linear' | 'rbf'): Promise<{ accuracy: number; chosen: { log2C: number; log2Gamma?: number }[]; seconds: number }> {
  const t0 = performance.now();
  const f = await loadFeatures(prefix);
  const folds = stratifiedKFold(f.labels, 5, { shuffle: true, seed: 0 });
  let correct = 0;
  const chosen: { log2C: number; log2Gamma?: number }[] = [];
  for (let k = 0; k < 5; k++) {
    const { train, test } = foldSplit(folds, k);
    const take = (rows: Int32Array) => {
      const data = new Float32Array(rows.length * f.d);
      rows.forEach((r, i) => data.set(f.X.subarray(r * f.d, (r + 1) * f.d), i * f.d));
      return { data, rows: rows.length, cols: f.d };
    };
    const yTrain = Array.from(train, (r) => f.labels[r]);
    const inner =
      kernel === 'linear'
        ? await gridSearch(take(train), yTrain, { kernel: 'linear' }, { folds: 5, seed: 1, log2C: [-15, -13, -11, -9, -7, -5, -3, -1, 1, 3, 5] })
        : await gridSearch(take(train), yTrain, { kernel: 'rbf' }, { folds: 3, seed: 1 });
    chosen.push(kernel === 'linear' ? { log2C: inner.best.log2C } : { log2C: inner.best.log2C, log2Gamma: inner.best.log2Gamma! });
    const clf = await new SvmClassifier(kernel === 'linear' ? { kernel, C: inner.best.C } : { kernel, C: inner.best.C, gamma: inner.best.gamma! }).fit(take(train), yTrain);
    const predicted = clf.predict(take(test));
    predicted.forEach((p, i) => (correct += p === f.labels[test[i]] ? 1 : 0));
    clf.dispose();
  }
  return { accuracy: correct / f.n, chosen, seconds: (performance.now() - t0) / 1000 };
}
