/** `ftk svm`: argv -> typed options (library defaults not repeated), and real runs on a small features file. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { writeSyntheticFeatures } from './helpers/features.js';
import type { PredictionsDocument } from '../src/formats/prediction.js';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { svmCommand, type SvmCvContext, type SvmFitContext, type SvmPredictContext } from '../src/cli/commands/svm.js';
import { Rng } from '../src/data/random.js';
import { tempDir } from './helpers/images.js';

const { dir: tmp, cleanup } = await tempDir('ftk-cli-svm-');
after(cleanup);

async function parse(argv: string[]) {
  const seen: { fit?: SvmFitContext; cv?: SvmCvContext; predict?: SvmPredictContext } = {};
  const cmd = svmCommand({
    fit: async (c) => ((seen.fit = c), 0),
    cv: async (c) => ((seen.cv = c), 0),
    predict: async (c) => ((seen.predict = c), 0),
  });
  for (const sub of cmd.commands) sub.exitOverride().configureOutput({ writeErr: () => undefined });
  await new Command('ftk').exitOverride().addCommand(cmd).parseAsync(['node', 'ftk', 'svm', ...argv]);
  return seen;
}

test('svm fit/cv/predict flags parse into the library options; unset flags stay unset so library defaults apply', async () => {
  const fit = (await parse(['fit', 'feat', '--kernel', 'rbf', '--C', '4', '--gamma', 'scale', '--grid', '--folds', '3', '--seed', '2', '--class-weight', 'balanced', '--probability', '--out', 'm.json'])).fit!;
  assert.deepEqual(fit.options, { kernel: 'rbf', C: 4, gamma: 'scale', classWeight: 'balanced', probability: true, seed: 2, folds: 3, grid: true, out: 'm.json' });
  const plain = (await parse(['fit', 'feat'])).fit!;
  assert.deepEqual(plain.options, {});
  const cv = (await parse(['cv', 'feat', '--kernel', 'linear', '--C', '0.5', '--gamma', '0.01', '--repeats', '2', '--json'])).cv!;
  assert.deepEqual(cv.options, { kernel: 'linear', C: 0.5, gamma: 0.01, repeats: 2 });
  assert.equal(cv.json, true);
  const predict = (await parse(['predict', 'm.json', 'a.jpg', 'dir/'])).predict!;
  assert.deepEqual(predict, { model: 'm.json', inputs: ['a.jpg', 'dir/'], json: false });
  await assert.rejects(parse(['fit', 'feat', '--kernel', 'poly']), /--kernel must be one of \[linear, rbf\]/);
});

async function blobs(prefix: string): Promise<void> {
  const rng = new Rng(5);
  const n = 60;
  const d = 8;
  const X = new Float32Array(n * d);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 3;
    labels.push(label);
    for (let j = 0; j < d; j++) X[i * d + j] = rng.next() + (j === label ? 3 : 0);
  }
  await writeSyntheticFeatures(prefix, X, labels, ['c0', 'c1', 'c2'], tmp);
}

test('svm --solver / --max-iter / --loss / --workers reach the library; svm cv --grid parses into the nested options', async () => {
  const fit = (await parse(['fit', 'feat', '--kernel', 'linear', '--solver', 'liblinear', '--max-iter', '50', '--loss', 'hinge', '--workers', '2'])).fit!;
  assert.deepEqual(fit.options, { kernel: 'linear', solver: 'liblinear', maxIter: 50, loss: 'hinge', workers: 2 });
  const cv = (await parse(['cv', 'feat', '--grid', '--folds', '4', '--inner-folds', '2', '--log2c', '-1,3,2', '--log2gamma', '-3,-5,-2', '--seed', '1'])).cv!;
  assert.deepEqual(cv.nested, { seed: 1, folds: 4, innerFolds: 2, log2C: [-1, 1, 3], log2Gamma: [-3, -5] });
  assert.equal((await parse(['cv', 'feat'])).cv!.nested, undefined);
  await assert.rejects(parse(['cv', 'feat', '--grid', '--repeats', '2']), /--repeats does not apply to --grid/);
  await assert.rejects(parse(['fit', 'feat', '--solver', 'sgd']), /--solver must be one of \[auto, libsvm, liblinear, logistic\]/);
});

test('svm cv --json, fit --grid --out, predict: real runs of bin/ftk.js', async () => {
  const prefix = path.join(tmp, 'blobs');
  await blobs(prefix);
  const run = (...args: string[]) => spawnSync(process.execPath, [path.resolve('bin/ftk.js'), 'svm', ...args], { encoding: 'utf8', env: { ...process.env, FTK_DEV: '1' } });
  const cv = run('cv', prefix, '--kernel', 'linear', '--json');
  assert.equal(cv.status, 0, cv.stderr);
  const r = JSON.parse(cv.stdout);
  assert.equal(r.foldAccuracies.length, 5);
  assert.ok(r.meanAccuracy > 0.9, `separable blobs: ${r.meanAccuracy}`);
  const model = path.join(tmp, 'm.json');
  const fit = run('fit', prefix, '--grid', '--folds', '3', '--out', model);
  assert.equal(fit.status, 0, fit.stderr);
  assert.match(fit.stdout, /\[grid\] log2\(C\)=-5 log2\(gamma\)=3 .*\(best /);
  assert.match(fit.stdout, /Best: C=/);
  const predict = run('predict', model, prefix, '--json');
  assert.equal(predict.status, 0, predict.stderr);
  // The one prediction schema, as `ftk predict` prints it (src/formats/prediction.ts).
  const p = JSON.parse(predict.stdout) as PredictionsDocument;
  assert.deepEqual(Object.keys(p), ['classes', 'predictions', 'failed', 'accuracy']);
  assert.deepEqual(p.classes, ['c0', 'c1', 'c2']);
  assert.equal(p.predictions.length, 60);
  assert.deepEqual(Object.keys(p.predictions[7]), ['row', 'file', 'label', 'labelIndex']);
  assert.equal(p.predictions[7].row, 7);
  assert.equal(p.predictions[7].label, p.classes[p.predictions[7].labelIndex!]);
  assert.ok(p.accuracy! > 0.9);
  const bad = run('cv', path.join(tmp, 'missing'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /ftk: error: .*missing/);
});
