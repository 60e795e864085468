/**
 * `compareMethods` / `ftk bench` on a tiny synthetic dataset (random-weight MobileNet 0.25 at
 * 32 px, smallcnn at 32 px, 2 folds, 1 epoch): the structure of the result, the same folds for
 * every method, per-fold accuracies equal to what the saved fold models give when evaluated
 * directly, resume from folds.jsonl, and the CLI's argv -> typed context.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { benchTableMarkdown, compareMethods, type BenchFoldRecord } from '../src/bench/compare.js';
import { benchCommand, type BenchContext } from '../src/cli/commands/bench.js';
import { findDataset } from '../src/data/dataset.js';
import { foldSplit, stratifiedKFold } from '../src/data/split.js';
import { loadClassifier } from '../src/predict/formats.js';
import { argmaxScores } from '../src/auto/folds.js';
import { selectBackend } from '../src/runtime/backend.js';
import { colourDataset } from './helpers/images.js';
import { parseContext } from './helpers/parse.js';
import { tempHome } from './helpers/home.js';

const tmp = await tempHome('ftk-bench-');
await selectBackend({ backend: 'wasm' });

const root = path.join(tmp, 'colours');
await colourDataset(root, 8, 40);

test('compareMethods: scratch, SVM and fine-tuning on the same folds; accuracies from real predictions; resumes', { timeout: 600_000 }, async () => {
  const out = path.join(tmp, 'bench');
  const options = {
    out,
    folds: 2,
    seed: 0,
    model: 'mobilenet',
    alpha: 0.25,
    weights: 'random',
    inputSize: 32,
    epochs: 1,
    finetune: { views: 1, headEpochs: 1 },
    scratch: { inputSize: 32, views: 1 },
    cache: path.join(tmp, 'cache.sqlite'),
    backend: 'wasm' as const,
  };
  const seen: BenchFoldRecord[] = [];
  const r = await compareMethods(root, { ...options, onFold: (rec) => seen.push(rec) });

  assert.deepEqual(r.methods.map((m) => m.method), ['scratch', 'svm', 'finetune']);
  assert.deepEqual(r.folds.summarised, [0, 1]);
  assert.equal(seen.length, 6);
  // Fold-major order: every method on fold 1 before fold 2.
  assert.deepEqual(seen.map((s) => `${s.fold}:${s.method}`), ['0:scratch', '0:svm', '0:finetune', '1:scratch', '1:svm', '1:finetune']);
  assert.equal(r.comparisons.length, 3);
  for (const c of r.comparisons) assert.equal(c.differences.length, 2);
  assert.match(benchTableMarkdown(r), /\| scratch: smallcnn trained from scratch/);

  // The folds are ftk's seeded stratified folds over the dataset, the same for every method.
  const dataset = await findDataset(root);
  const labels = dataset.entries.map((e) => e.label);
  const folds = stratifiedKFold(labels, 2, { shuffle: true, seed: 0 });
  for (const m of r.methods) {
    assert.equal(m.foldAccuracies.length, 2);
    assert.ok(m.seconds > 0 && m.imagesPerSecond > 0, `${m.method} timed`);
    for (const [i, f] of m.folds.entries()) {
      const rec = seen.find((s) => s.method === m.method && s.fold === f)!;
      const { train, test } = foldSplit(folds, f);
      assert.equal(rec.testImages, test.length);
      assert.equal(rec.trainImages, train.length);
      // Evaluate the fold's saved model directly on the held-out files: same predictions, same accuracy.
      const modelPath = String(m.details[i].model);
      const clf = await loadClassifier(modelPath);
      const direct = argmaxScores(await clf.predictImages(Array.from(test, (t) => dataset.entries[t].path)));
      clf.dispose();
      assert.deepEqual(direct, rec.predicted, `${m.method} fold ${f + 1}: predictions`);
      const accuracy = direct.filter((p, k) => p === labels[test[k]]).length / test.length;
      assert.equal(m.foldAccuracies[i], accuracy, `${m.method} fold ${f + 1}: accuracy`);
    }
  }
  const lines = readFileSync(path.join(out, 'folds.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.filter((l) => l.kind === 'fold').length, 6);
  assert.equal(lines.filter((l) => l.kind === 'shared' && l.method === 'svm').length, 1);

  // Rerun: everything comes from folds.jsonl, nothing is trained again.
  const again: BenchFoldRecord[] = [];
  const r2 = await compareMethods(root, { ...options, onFold: (rec) => again.push(rec) });
  assert.equal(again.length, 0);
  assert.deepEqual(r2.methods.map((m) => m.foldAccuracies), r.methods.map((m) => m.foldAccuracies));

  // Another seed in the same folder is refused (the folds would differ).
  await assert.rejects(compareMethods(root, { ...options, seed: 1 }), /holds a benchmark of other data, folds or seed \(config\.json differs: seed\)/);
});

test('compareMethods: runFolds runs every method on the same first folds and says so', { timeout: 300_000 }, async () => {
  const r = await compareMethods(root, {
    out: path.join(tmp, 'bench-svm'),
    methods: ['svm'],
    folds: 4,
    runFolds: 2,
    model: 'mobilenet',
    alpha: 0.25,
    weights: 'random',
    inputSize: 32,
    cache: path.join(tmp, 'cache.sqlite'),
    backend: 'wasm',
  });
  assert.deepEqual(r.folds.summarised, [0, 1]);
  assert.equal(r.methods[0].foldAccuracies.length, 2);
  assert.ok(r.cuts.includes('2 of 4 folds run (runFolds)'));
  assert.equal(r.comparisons.length, 0);
  await assert.rejects(compareMethods(root, { out: path.join(tmp, 'x'), methods: ['svm', 'knn' as never] }), /Unknown method "knn"/);
});

const parse = (argv: string[]) => parseContext<BenchContext>(benchCommand, ['bench', ...argv]);

test('ftk bench flags parse into typed CompareMethodsOptions', async () => {
  const plain = await parse(['photos', '--out', 'b']);
  assert.deepEqual(plain, { dataset: 'photos', json: false, options: { out: 'b' } });
  const ctx = await parse([
    'photos', '--out', 'b', '--methods', 'svm,finetune', '--folds', '5', '--run-folds', '3', '--model', 'mobilenet', '--alpha', '0.25',
    '--weights', 'w.h5', '--input-size', '288', '--crop', 'center', '--epochs', '15', '--freeze', '11', '--views', '8', '--dropout', '0.5',
    '--scratch-epochs', '4', '--scratch-input-size', '128', '--budget', '40', '--cache-file', 'c.sqlite', '--json',
  ]);
  assert.equal(ctx.json, true);
  assert.deepEqual(ctx.options, {
    out: 'b', methods: ['svm', 'finetune'], folds: 5, runFolds: 3, model: 'mobilenet', alpha: 0.25, weights: 'w.h5', inputSize: 288, crop: 'center',
    epochs: 15, budget: 40, cache: 'c.sqlite', finetune: { freeze: 11, views: 8, dropout: 0.5 }, scratch: { inputSize: 128, epochs: 4 },
  });
  // fine-tuning's own flags pass through to its settings, as `ftk finetune` takes them
  const ft = await parse(['photos', '--out', 'b', '--batch', '16', '--augment', 'flip', '--patience', '5', '--val', '0.1', '--layer', 'conv_pw_11_relu', '--runtime', 'tfjs', '--memory', '256', '--preprocess', 'torch']);
  assert.deepEqual(ft.options.finetune, { batchSize: 16, augment: 'flip', patience: 5, val: 0.1, layer: 'conv_pw_11_relu', preprocess: 'torch', runtime: 'tfjs', memoryBudgetMB: 256 });
  await assert.rejects(parse(['photos', '--out', 'b', '--methods', 'svm,knn']), /unknown method "knn"/);
  await assert.rejects(parse(['photos']), /required option '--out <dir>'/);
});

test('ftk bench end to end (the real binary, SVM only): exit 0, one JSON document, table.md', { timeout: 300_000 }, () => {
  const out = path.join(tmp, 'cli-run');
  const r = spawnSync(
    process.execPath,
    [path.resolve('bin/ftk.js'), 'bench', root, '--methods', 'svm', '--folds', '2', '--model', 'mobilenet', '--alpha', '0.25', '--weights', 'random', '--input-size', '32', '--backend', 'wasm', '--cache-file', path.join(tmp, 'cache.sqlite'), '--json', '--out', out],
    { env: { ...process.env, FTK_HOME: path.join(tmp, 'home'), FTK_DEV: '1' }, encoding: 'utf8', timeout: 240_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(result.format, 'ftk-bench');
  assert.deepEqual(result.methods.map((m: { method: string }) => m.method), ['svm']);
  assert.equal(result.methods[0].foldAccuracies.length, 2);
  assert.ok(existsSync(path.join(out, 'table.md')) && existsSync(path.join(out, 'folds.jsonl')));
});
