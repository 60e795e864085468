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
  const t1 = performance.now();
  const fit = await svmFit(prefix, { kernel: 'rbf', grid: true, folds: 5, seed: 0 });
  const best = fit.grid!.best;
  lines.push(
    `| RBF SVM, grid.py default grid (${fit.gridTable!.length} points x 5 folds), best C=2^${best.log2C}, gamma=2^${best.log2Gamma} | ${pct(best.meanAccuracy)} (std ${pct(best.stdAccuracy)}) | | |`,
  );
  lines.push(`grid search + refit: ${((performance.now() - t1) / 1000).toFixed(1)} s`);
}
console.log(lines.join('\n'));
