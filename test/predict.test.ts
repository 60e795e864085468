/**
 * `predict()` and `ftk predict` on a fine-tuned model folder: probabilities, top-k, folders
 * searched recursively, bad images, the JSON document, and what is not a model.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { needSharedWeights, SHARED_H5 } from './helpers/requires.js';
import type { PredictionsDocument } from '../src/formats/prediction.js';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { finetune } from '../src/finetune/finetune.js';
import { collectImageFiles, predict } from '../src/predict/predict.js';
import { loadClassifier } from '../src/predict/formats.js';
import { selectBackend } from '../src/runtime/backend.js';
import { tempDir } from './helpers/images.js';

const H5 = SHARED_H5;
/** The shared weights are needed here: a skip on a developer machine without them, a failure in CI. */
const noWeights = needSharedWeights();
await selectBackend({ backend: 'wasm' });
const { dir: tmp, cleanup } = await tempDir('ftk-predict-');
after(cleanup);

let s = 11;
const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
async function colourImage(file: string, base: number[], size = 40): Promise<void> {
  const data = Buffer.alloc(size * size * 3);
  for (let p = 0; p < size * size; p++) for (let k = 0; k < 3; k++) data[p * 3 + k] = Math.max(0, Math.min(255, base[k] + (rnd() - 0.5) * 180));
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await sharp(data, { raw: { width: size, height: size, channels: 3 } }).png().toFile(file);
}
const RED = [200, 60, 50];
const BLUE = [50, 70, 200];
const data = path.join(tmp, 'data');
for (let i = 0; i < 12; i++) {
  await colourImage(path.join(data, 'blue', `${i}.png`), BLUE);
  await colourImage(path.join(data, 'red', `${i}.png`), RED);
}
const MODEL = path.join(tmp, 'model');
const trained = noWeights ? undefined! : await finetune(data, { out: MODEL, model: 'mobilenet', alpha: 0.25, weights: H5, inputSize: 64, headEpochs: 4, freeze: 'all', lr: 0.01, batchSize: 8, cache: false });

// New images to predict: two red, one blue, nested folders, a broken file and a note.
const photos = path.join(tmp, 'photos');
await colourImage(path.join(photos, 'b.png'), RED);
await colourImage(path.join(photos, 'deeper', 'a.png'), BLUE);
await colourImage(path.join(photos, 'deeper', 'more', 'c.png'), RED);
await fsp.writeFile(path.join(photos, 'broken.jpg'), '<html>not found</html>');
await fsp.writeFile(path.join(photos, 'notes.txt'), 'hello');
await fsp.mkdir(path.join(photos, '.hidden'));
await colourImage(path.join(photos, '.hidden', 'x.png'), RED);

test('folders are searched recursively for images, in code-point order; other files are listed', { skip: noWeights }, async () => {
  const { files, ignored } = await collectImageFiles([photos]);
  assert.deepEqual(
    files.map((f) => path.relative(photos, f)),
    ['b.png', 'broken.jpg', 'deeper/a.png', 'deeper/more/c.png'],
  );
  assert.deepEqual(ignored.map((i) => path.relative(photos, i.file)), ['notes.txt']);
  await assert.rejects(collectImageFiles([path.join(tmp, 'missing')]), /does not exist/);
  await assert.rejects(collectImageFiles([]), /No image given/);
});

test('predict: probabilities of every class summing to 1, the argmax as label, top-k, failures in place', { skip: noWeights }, async () => {
  assert.ok(trained.meta.metrics.valAccuracy! >= 0.8);
  const result = await predict(MODEL, [photos], { topK: 2 });
  assert.deepEqual(result.model.classes, ['blue', 'red']);
  assert.equal(result.model.format, 'ftk-finetuned');
  const byName = new Map(result.predictions.map((p) => [path.basename(p.file), p]));
  const broken = byName.get('broken.jpg')!;
  assert.ok('error' in broken && broken.error === 'not an image (looks like HTML)');
  for (const [name, want] of [['b.png', 'red'], ['a.png', 'blue'], ['c.png', 'red']] as const) {
    const p = byName.get(name)!;
    assert.ok(!('error' in p));
    assert.equal(p.label, want, `${name} is ${want}`);
    const sum = Object.values(p.probabilities).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5);
    assert.equal(p.top.length, 2);
    assert.equal(p.top[0].label, p.label);
    assert.ok(p.top[0].probability >= p.top[1].probability);
  }
});

test('predict reproduces the validation accuracy recorded in ftk.json, whatever the batch size', { skip: noWeights }, async () => {
  const valFiles = trained.meta.dataset.valFiles!;
  assert.equal(valFiles.length, 5);
  // The classifier's accuracy: the unknown check off (with it, an image above the threshold has no label).
  const result = await predict(MODEL, valFiles.map((f) => path.join(data, f)), { batchSize: 2, unknown: false });
  const correct = result.predictions.filter((p, i) => 'label' in p && p.label === valFiles[i].split('/')[0]).length;
  assert.equal(correct / valFiles.length, trained.meta.metrics.valAccuracy);
  const classifier = await loadClassifier(MODEL);
  const files = [path.join(data, 'red', '0.png'), path.join(data, 'blue', '3.png')];
  const one = await classifier.predictImages(files, { batchSize: 1 });
  const batched = await classifier.predictImages(files, { batchSize: 32 });
  one.forEach((o, i) => {
    assert.ok('probabilities' in o && 'probabilities' in batched[i]);
    assert.deepEqual([...(o as { probabilities: Float32Array }).probabilities].map((v) => v.toFixed(5)), [...(batched[i] as { probabilities: Float32Array }).probabilities].map((v) => v.toFixed(5)));
  });
  classifier.dispose();
});

test('what is not a served classifier is a clear error', { skip: noWeights }, async () => {
  await assert.rejects(predict(path.join(tmp, 'nope'), [photos]), (e: Error & { code?: string }) => e.code === 'CLASSIFIER_NOT_FOUND');
  await assert.rejects(predict(photos, [photos]), (e: Error & { code?: string }) => e.code === 'CLASSIFIER_UNKNOWN' && /no ftk.json/.test(e.message));
  const other = path.join(tmp, 'model.other.json');
  await fsp.writeFile(other, JSON.stringify({ format: 'somebody-elses-model', formatVersion: 1 }));
  await assert.rejects(predict(other, [photos]), /format "somebody-elses-model" is not served by `ftk predict` \(known: ftk-finetuned, /);
  const unfinished = path.join(tmp, 'unfinished');
  await fsp.mkdir(unfinished);
  await fsp.writeFile(path.join(unfinished, 'checkpoint.ftkc'), 'x');
  await assert.rejects(predict(unfinished, [photos]), /unfinished training leaves only checkpoint.ftkc/);
});

test('ftk predict --json prints the one prediction schema { classes, predictions, failed } (with the unknown score of the model\'s detector); text mode prints top-k per line', { skip: noWeights }, () => {
  const env = { ...process.env, FTK_HOME: path.join(tmp, 'home'), FTK_DEV: '1' };
  const run = (...args: string[]) => spawnSync(process.execPath, [path.resolve('bin/ftk.js'), ...args], { env, encoding: 'utf8', timeout: 120_000 });
  const r = run('predict', MODEL, path.join(photos, 'b.png'), path.join(photos, 'deeper'), '--json', '--backend', 'wasm');
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as PredictionsDocument;
  assert.deepEqual(Object.keys(doc), ['classes', 'predictions', 'failed']);
  assert.deepEqual(doc.classes, ['blue', 'red']);
  assert.deepEqual(doc.failed, []);
  const json = doc.predictions;
  assert.deepEqual(json.map((j) => path.basename(j.file!)), ['b.png', 'a.png', 'c.png']);
  assert.deepEqual(Object.keys(json[0]), ['file', 'label', 'labelIndex', 'unknown', 'unknownScore', 'unknownThreshold', 'probabilities']);
  assert.equal(json[0].unknown, false, `b.png is like the training images (score ${json[0].unknownScore}, threshold ${json[0].unknownThreshold})`);
  assert.deepEqual(Object.keys(json[0].probabilities!), ['blue', 'red']);
  assert.equal(json[0].label, 'red');
  assert.equal(json[0].labelIndex, 1);
  const text = run('predict', MODEL, path.join(photos, 'b.png'), '--top-k', '2', '--backend', 'wasm');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout.trim(), /b\.png\tred 0\.\d{4}\tblue 0\.\d{4}$/);
  const bad = run('predict', path.join(tmp, 'nope'), photos);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /ftk: error: Model .*nope does not exist/);
});
