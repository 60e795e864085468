/**
 * SVM speed benchmark, ftk vs scikit-learn, on the same machine, same features, in one run.
 * Not a test. Needs python3-sklearn (Debian: apt-get install -y python3-sklearn) at /usr/bin/python3.
 *
 *   npx tsx bench/svm/run.ts [--n 1000] [--d 1280] [--classes 10] [--skip-grid]
 *
 * 1. Generates seeded bottleneck-like features (bench/svm/data.ts): N x D train + N x D test.
 * 2. Fit: StandardScaler + RBF SVC, C=1, gamma='scale'. ftk `SvmClassifier` (scaler 'standardize')
 *    vs scikit-learn `make_pipeline(StandardScaler(), SVC())`; median of 3 fits each (ftk's first
 *    fit, which also loads libsvm-js, is reported too); test accuracy of both.
 * 3. Grid: libsvm grid.py's default grid (11 C x 10 gamma), 5-fold, refit on all data. ftk
 *    `svmFit(..., { grid: true, workers: 2 })` vs `GridSearchCV(n_jobs=2)` on ftk's stratified
 *    folds (PredefinedSplit), so both score the same splits; best point, CV accuracy, test accuracy.
 * Prints the ratios ftk/scikit-learn (<= 1.0 means ftk is faster) and accuracy differences, and
 * appends them with the date, load average and versions to bench/svm/results.jsonl.
 * The features are synthetic (seeded, ReLU'd, correlated), not extracted from images.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { svmFit } from '../../src/classify/commands.js';
import { SvmClassifier } from '../../src/classify/svm.js';
import { stratifiedKFold } from '../../src/data/split.js';
import { encodeNpy } from '../../src/formats/npy.js';
import { makeFeatures } from './data.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const n = arg('n', 1000);
const d = arg('d', 1280);
const k = arg('classes', 10);
const skipGrid = process.argv.includes('--skip-grid');
const here = path.dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'ftk-svm-bench-'));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (s: number): string => `${s.toFixed(3)} s`;

try {
  const { train, test } = makeFeatures(n, d, k, 42, 2.0);
  const folds = stratifiedKFold(train.y, 5, { shuffle: true, seed: 0 });
  writeFileSync(path.join(dir, 'Xtrain.npy'), encodeNpy(train.X, [n, d]));
  writeFileSync(path.join(dir, 'ytrain.npy'), encodeNpy(train.y, [n]));
  writeFileSync(path.join(dir, 'Xtest.npy'), encodeNpy(test.X, [n, d]));
  writeFileSync(path.join(dir, 'ytest.npy'), encodeNpy(test.y, [n]));
  writeFileSync(path.join(dir, 'test_fold.npy'), encodeNpy(folds, [n]));
  // ftk's features file pair for svmFit (meta as `ftk bottleneck extract` writes it, minimal).
  const classes = Array.from({ length: k }, (_, i) => `class${i}`);
  writeFileSync(path.join(dir, 'train.npy'), encodeNpy(train.X, [n, d]));
  writeFileSync(
    path.join(dir, 'train.json'),
    JSON.stringify({ formatVersion: 1, files: Array.from({ length: n }, (_, i) => `f${i}.jpg`), labels: Array.from(train.y), classes, shape: [n, d] }),
  );

  console.log(`SVM benchmark: ${n} x ${d} features, ${k} classes, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`);
  console.log('Running scikit-learn (fit x3, then GridSearchCV n_jobs=2)...');
  const skOut = execFileSync('/usr/bin/python3', [path.join(here, 'sklearn_bench.py'), dir, ...(skipGrid ? ['--skip-grid'] : [])], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const sk = JSON.parse(skOut.trim().split('\n').pop()!) as {
    sklearn: string;
    fitSeconds: number[];
    testAccuracy: number;
    nSupport: number;
    gridSeconds?: number;
    gridBest?: { C: number; gamma: number; score: number };
    gridTestAccuracy?: number;
    gridTable?: { C: number; gamma: number; mean: number }[];
  };

  console.log('Running ftk (fit x3, then grid search with 2 workers)...');
  const Xtr = { data: train.X, rows: n, cols: d };
  const Xte = { data: test.X, rows: n, cols: d };
  const fitTimes: number[] = [];
  let clf: SvmClassifier | undefined;
  for (let r = 0; r < 3; r++) {
    clf?.dispose();
    const t = performance.now();
    clf = await new SvmClassifier({ kernel: 'rbf', C: 1, gamma: 'scale', scaler: 'standardize' }).fit(Xtr, train.y);
    fitTimes.push((performance.now() - t) / 1000);
  }
  const tp = performance.now();
  const ftkAcc = clf!.score(Xte, test.y);
  const ftkPredict = (performance.now() - tp) / 1000;
  const ftkSV = clf!.support_!.length;
  clf!.dispose();

  const lines: string[] = [];
  const skFit = median(sk.fitSeconds);
  const ftkFit = median(fitTimes.slice(1).concat(fitTimes[0]));
  lines.push(`scikit-learn ${sk.sklearn}; ftk fit includes scaling, Gram matrix, libsvm training and model read-out`);
  lines.push(`fit RBF C=1 gamma=scale: ftk ${fmt(ftkFit)} (first ${fmt(fitTimes[0])}, all ${fitTimes.map((x) => x.toFixed(3)).join('/')}) vs sklearn ${fmt(skFit)} (${sk.fitSeconds.map((x) => x.toFixed(3)).join('/')})`);
  lines.push(`  ratio ftk/sklearn = ${(ftkFit / skFit).toFixed(3)} (acceptance <= 1.0)`);
  lines.push(`  test accuracy: ftk ${(100 * ftkAcc).toFixed(2)}% vs sklearn ${(100 * sk.testAccuracy).toFixed(2)}% (diff ${(100 * (ftkAcc - sk.testAccuracy)).toFixed(2)} points); support vectors ${ftkSV} vs ${sk.nSupport}; ftk predict ${fmt(ftkPredict)}`);

  if (!skipGrid && sk.gridSeconds !== undefined) {
    const t = performance.now();
    let points = 0;
    const res = await svmFit(path.join(dir, 'train'), { grid: true, folds: 5, seed: 0, workers: 2, onProgress: (e) => { points = e.pointsDone ?? points; } });
    const ftkGrid = (performance.now() - t) / 1000;
    const b = res.grid!.best;
    const gridAcc = res.model.score(Xte, test.y);
    res.model.dispose();
    let maxDiff = 0;
    let sumDiff = 0;
    for (const row of sk.gridTable ?? []) {
      const p = res.gridTable!.find((q) => q.C === row.C && q.gamma === row.gamma);
      if (p) {
        maxDiff = Math.max(maxDiff, Math.abs(p.meanAccuracy - row.mean));
        sumDiff += Math.abs(p.meanAccuracy - row.mean);
      }
    }
    lines.push(`grid 11 C x 10 gamma, 5-fold, refit: ftk ${fmt(ftkGrid)} (${points} points) vs GridSearchCV(n_jobs=2) ${fmt(sk.gridSeconds)}`);
    lines.push(`  ratio ftk/sklearn = ${(ftkGrid / sk.gridSeconds).toFixed(3)} (acceptance <= 1.0)`);
    lines.push(`  best: ftk C=${b.C} gamma=${b.gamma} cv ${(100 * b.meanAccuracy).toFixed(2)}% vs sklearn C=${sk.gridBest!.C} gamma=${sk.gridBest!.gamma} cv ${(100 * sk.gridBest!.score).toFixed(2)}% (diff ${(100 * (b.meanAccuracy - sk.gridBest!.score)).toFixed(2)} points)`);
    lines.push(`  refit test accuracy: ftk ${(100 * gridAcc).toFixed(2)}% vs sklearn ${(100 * sk.gridTestAccuracy!).toFixed(2)}% (diff ${(100 * (gridAcc - sk.gridTestAccuracy!)).toFixed(2)} points)`);
    lines.push(`  score table, same folds: max |ftk - sklearn| ${(100 * maxDiff).toFixed(2)} points, mean ${((100 * sumDiff) / (sk.gridTable?.length ?? 1)).toFixed(3)} points over ${sk.gridTable?.length} points`);
  }
  console.log(lines.join('\n'));
  // The raw record: every line above with when, where and under what load it was measured.
  const record = { bench: 'svm/run', date: new Date().toISOString(), loadavg: os.loadavg(), cores: os.availableParallelism(), cpu: os.cpus()[0]?.model, node: process.version, sklearn: sk.sklearn, features: `synthetic (bench/svm/data.ts), ${n} x ${d}, ${k} classes, seed 42`, lines };
  appendFileSync(path.join(here, 'results.jsonl'), `${JSON.stringify(record)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
