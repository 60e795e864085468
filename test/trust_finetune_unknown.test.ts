/**
 * Unknown detection and label suggestions for fine-tuned models (src/trust on the network's own
 * features): `finetune()` saves a detector fitted on the features its classifier reads; `predict()`
 * marks images unlike the training ones from the same forward pass; a model folder without the field
 * predicts as before; `ftk export` computes `unknown_score` in the ONNX graph (knn and
 * mahalanobis, SVM and fine-tuned) equal to predict's; `suggest()` ranks with a fine-tuned model.
 *
 * Tiny and fast: synthetic colour images at the models' input size (so no resize differs between
 * the ONNX graph and ftk's decoder), smallcnn from scratch, and MobileNet 0.25 with the shared Keras
 * weights where present (random weights otherwise: their features barely vary from image to image,
 * every distance is about 1e-5, so the tests that need features that differ are skipped then).
 */
import assert from 'node:assert/strict';
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { svmFit } from '../src/classify/commands.js';
import { finetuneCommand, type FinetuneContext } from '../src/cli/commands/finetune.js';
import { exportClassifier } from '../src/export/export.js';
import { extractFeatures } from '../src/extract/extract.js';
import { writeFeatures } from '../src/extract/features_file.js';
import { finetune } from '../src/finetune/finetune.js';
import { FinetunedClassifier } from '../src/predict/finetuned.js';
import { predict, type ImagePrediction } from '../src/predict/predict.js';
import { suggest } from '../src/predict/suggest.js';
import { readOnnxSummary } from '../src/runtime/onnx_graph.js';
import { selectBackend } from '../src/runtime/backend.js';
import { l2Normalize, UnknownDetector } from '../src/trust/ood.js';
import { colourDataset } from './helpers/images.js';
import { tempHome } from './helpers/home.js';
import { needSharedWeights, SHARED_H5 } from './helpers/requires.js';

await selectBackend({ backend: 'wasm' });
const tmp = await tempHome('ftk-ft-unknown-');
const SIZE = 32;

// In distribution: colourDataset's red and blue images; 16 per class train, 6 per class are held out.
const all = path.join(tmp, 'all');
await colourDataset(all, 22, SIZE);
const data = path.join(tmp, 'data');
const heldOut = path.join(tmp, 'held-out');
await fsp.mkdir(heldOut, { recursive: true });
for (const c of ['red', 'blue']) {
  await fsp.mkdir(path.join(data, c), { recursive: true });
  for (let i = 0; i < 22; i++) await fsp.copyFile(path.join(all, c, `${i}.png`), i < 16 ? path.join(data, c, `${i}.png`) : path.join(heldOut, `${c}-${i}.png`));
}
// Clearly different: black-and-white stripes and checkerboards of several periods, and green/yellow noise.
const ood = path.join(tmp, 'ood');
await fsp.mkdir(ood, { recursive: true });
let s = 11;
const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
for (let i = 0; i < 12; i++) {
  const px = Buffer.alloc(SIZE * SIZE * 3);
  const period = 2 + (i % 4);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      for (let k = 0; k < 3; k++) {
        const v = i < 6 ? ((Math.floor(x / period) + (i % 2 ? Math.floor(y / period) : 0)) % 2 ? 255 : 0) : Math.max(0, Math.min(255, [60, 220, i % 2 ? 220 : 40][k] + (rnd() - 0.5) * 120));
        px[(y * SIZE + x) * 3 + k] = v;
      }
    }
  }
  await sharp(px, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path.join(ood, `${i}.png`));
}
const list = async (dir: string) => (await fsp.readdir(dir)).sort().map((f) => path.join(dir, f));
const trainFiles = [...(await list(path.join(data, 'blue'))), ...(await list(path.join(data, 'red')))];

const ok = (r: Awaited<ReturnType<typeof predict>>) => r.predictions.filter((p): p is ImagePrediction => !('error' in p));
const share = (r: Awaited<ReturnType<typeof predict>>) => ok(r).filter((p) => p.unknown).length / ok(r).length;

// smallcnn from scratch: one phase, pixels every step; its features are the 64-unit ReLU before the classifier.
const SMALL = path.join(tmp, 'smallcnn');
const notices: string[] = [];
const small = await finetune(data, { out: SMALL, model: 'smallcnn', inputSize: SIZE, epochs: 4, batchSize: 8, val: 0.25, seed: 2, cache: false, onNotice: (m) => notices.push(m) });

// MobileNet 0.25, default freeze: head phase from the pooled bank, then the top
// blocks from the frozen layers' bank (the 'none' rows of the training images are added for the detector).
const MOBILE = path.join(tmp, 'mobilenet');
const noH5 = needSharedWeights();
const mobile = await finetune(data, { out: MOBILE, model: 'mobilenet', alpha: 0.25, weights: noH5 ? 'random' : SHARED_H5, inputSize: SIZE, headEpochs: 2, epochs: 1, lr: 0.01, batchSize: 8, val: 0.25, seed: 0, cache: false });

test('finetune saves a knn detector (5%, out-of-fold threshold) over the classifier layer\'s input, and says so', () => {
  const u = small.meta.unknown!;
  assert.ok(u, 'a detector by default');
  assert.equal(u.format, 'ftk-unknown-detector');
  assert.equal(u.method, 'knn');
  assert.equal(u.rate, 0.05);
  assert.equal(u.thresholdFrom, 'out-of-fold');
  assert.equal(u.layer, 'activation_3');
  assert.equal(u.nFeatures, 64);
  assert.equal(u.samples, small.meta.metrics.trainImages, 'fitted on the final stage\'s training images');
  assert.equal(small.oofUnknownScores?.length, u.samples);
  assert.deepEqual(JSON.parse(readFileSync(path.join(SMALL, 'ftk.json'), 'utf8')).unknown, JSON.parse(JSON.stringify(u)));
  assert.ok(notices.some((m) => /^Unknown detector: knn \(k=1\) on the 24 training images' activation_3 features \(64 values\)/.test(m)), notices.join('\n'));
  const m = mobile.meta.unknown!;
  assert.equal(m.layer, 'global_average_pooling2d');
  assert.equal(m.nFeatures, 256);
  // Its cost is reported apart from training's: the frozen layers' unaugmented rows of the training images (none cached here).
  assert.equal(mobile.stats.unknown?.prefixComputed, m.samples);
  assert.equal(small.stats.unknown?.prefixComputed, 0, 'smallcnn from scratch has no frozen layers');
  assert.ok(mobile.stats.prefixComputed === m.samples * 4 + mobile.meta.metrics.valImages, 'training\'s own count is unchanged (4 views per training image + validation)');
});

test('the detector\'s training features are the ones predict computes (bank path: frozen-layer rows of the unaugmented images)', { skip: noH5 }, async () => {
  const clf = await FinetunedClassifier.load(MOBILE);
  try {
    const val = new Set(mobile.meta.dataset.valFiles!.map((f) => path.resolve(data, f)));
    const files = trainFiles.filter((f) => !val.has(f));
    assert.equal(files.length, mobile.meta.unknown!.samples);
    const outs = await clf.outputs(files, { features: true });
    const d = clf.nFeatures;
    const X = new Float32Array(files.length * d);
    outs.forEach((o, i) => X.set((o as { features: Float32Array }).features, i * d));
    const mine = l2Normalize({ data: X, rows: files.length, cols: d });
    const ref = clf.detector!.referenceFeatures()!;
    // Rows in the order finetune saw the images: match each predicted row with its nearest reference row.
    let worst = 0;
    for (let i = 0; i < files.length; i++) {
      let best = Infinity;
      for (let r = 0; r < ref.rows; r++) {
        let s2 = 0;
        for (let j = 0; j < d; j++) s2 += (mine[i * d + j] - ref.data[r * d + j]) ** 2;
        best = Math.min(best, Math.sqrt(s2));
      }
      worst = Math.max(worst, best);
    }
    assert.ok(worst < 1e-4, `largest distance between predict's features and the detector's = ${worst}`);
    // And so a training image scores about 0 (it is its own nearest neighbour).
    const scores = clf.detector!.score({ data: X, rows: files.length, cols: d });
    assert.ok(Math.max(...scores) < 1e-2, `training images score ${Math.max(...scores)}`);
  } finally {
    clf.dispose();
  }
});

test('predict marks images of a clearly different distribution unknown more often than held-out images of the classes', async () => {
  for (const [name, model] of [['smallcnn', SMALL], ...(noH5 ? [] : [['mobilenet', MOBILE]])] as const) {
    const known = await predict(model, [heldOut]);
    const unknown = await predict(model, [ood]);
    for (const p of [...ok(known), ...ok(unknown)]) {
      assert.equal(typeof p.unknownScore, 'number');
      assert.equal(p.unknown, p.unknownScore! > p.unknownThreshold!);
      assert.equal(p.label === null, p.unknown);
    }
    const a = share(known);
    const b = share(unknown);
    process.stderr.write(`${name}: unknown held-out ${(100 * a).toFixed(0)}%, different images ${(100 * b).toFixed(0)}%\n`);
    assert.ok(b > a, `${name}: ${b} of the different images unknown, ${a} of the held-out ones`);
    assert.ok(b >= 0.5, `${name}: most different images caught (${b})`);
  }
});

test('a model folder saved before the detector (no "unknown" field) predicts as before; --no-unknown equals it', async () => {
  const old = path.join(tmp, 'smallcnn-old');
  await fsp.cp(SMALL, old, { recursive: true });
  const meta = JSON.parse(readFileSync(path.join(old, 'ftk.json'), 'utf8'));
  delete meta.unknown;
  await fsp.writeFile(path.join(old, 'ftk.json'), JSON.stringify(meta));
  const files = [...(await list(heldOut)), ...(await list(ood))];
  const before = ok(await predict(old, files));
  const withDetector = ok(await predict(SMALL, files));
  const off = ok(await predict(SMALL, files, { unknown: false }));
  assert.equal(before.length, files.length);
  before.forEach((p, i) => {
    assert.equal(p.unknown, false);
    assert.equal(p.unknownScore, undefined);
    assert.equal(typeof p.label, 'string');
    assert.deepEqual(off[i], p, '--no-unknown: the same prediction as a model without a detector');
    for (const c of ['blue', 'red']) assert.ok(Math.abs(withDetector[i].probabilities[c] - p.probabilities[c]) < 1e-6, 'the two-output graph gives the same probabilities');
  });
});

test('a detector that does not match the network is refused at load, naming the field', async () => {
  const bad = path.join(tmp, 'smallcnn-bad');
  await fsp.cp(SMALL, bad, { recursive: true });
  const meta = JSON.parse(readFileSync(path.join(bad, 'ftk.json'), 'utf8'));
  meta.unknown.layer = 'flatten';
  await fsp.writeFile(path.join(bad, 'ftk.json'), JSON.stringify(meta));
  await assert.rejects(predict(bad, [heldOut]), (e: Error & { code?: string }) => e.code === 'UNKNOWN_DETECTOR_INVALID' && /layer flatten/.test(e.message));
  delete meta.unknown.layer;
  await fsp.writeFile(path.join(bad, 'ftk.json'), JSON.stringify(meta));
  await assert.rejects(predict(bad, [heldOut]), /does not name the layer/);
});

/** Exports `model`, checks the unknown_score output and metadata, returns the largest relative score difference with predict. */
async function compareUnknown(model: string, name: string): Promise<number> {
  const onnx = path.join(tmp, `${name}.onnx`);
  await exportClassifier(model, onnx);
  const summary = readOnnxSummary(new Uint8Array(await fsp.readFile(onnx)));
  assert.deepEqual(summary.outputs.map((o) => o.name), ['probabilities', 'label', 'unknown_score']);
  assert.deepEqual(Object.keys(summary.opsets), ['']);
  assert.equal(summary.opsets[''], 13);
  const files = [...(await list(heldOut)), ...(await list(ood))];
  const a = ok(await predict(model, files));
  const b = ok(await predict(onnx, files));
  const meta = JSON.parse(summary.metadata['ftk.unknown']);
  assert.equal(meta.output, 'unknown_score');
  assert.equal(meta.threshold, a[0].unknownThreshold);
  let worst = 0;
  a.forEach((p, i) => {
    assert.equal(b[i].unknownThreshold, p.unknownThreshold);
    const diff = Math.abs(b[i].unknownScore! - p.unknownScore!) / Math.max(Math.abs(p.unknownScore!), 0.1);
    worst = Math.max(worst, diff);
    // The same decision, except for a score within the tolerance of the threshold (either side is right there).
    const t = p.unknownThreshold!;
    if (Math.abs(p.unknownScore! - t) > 1e-4 * Math.max(t, 0.1)) assert.equal(b[i].unknown, p.unknown, `${p.file}: same decision (scores ${p.unknownScore} / ${b[i].unknownScore})`);
  });
  process.stderr.write(`${name}: ${a.length} images, largest relative unknown-score difference ${worst.toExponential(2)}\n`);
  return worst;
}

// Tolerance: 1e-4 of the score, and 1e-5 absolute for scores below 0.1. The backbone runs on ONNX
// Runtime in the file and on TF.js in predict (float32): their unit features differ by about 1e-6,
// and a distance moves at most as much as its query does, so a score near 0 (an image next to a
// training image) cannot be held to a relative tolerance.
test('export: the fine-tuned model\'s unknown_score (knn) equals predict\'s within 1e-4, threshold in ftk.unknown', async () => {
  assert.ok((await compareUnknown(MOBILE, 'mobilenet-knn')) <= 1e-4);
  assert.ok((await compareUnknown(SMALL, 'smallcnn-knn')) <= 1e-4);
});

test('export: a mahalanobis detector too (the quadratic form with the stored precision)', async () => {
  const dir = path.join(tmp, 'smallcnn-maha');
  await fsp.cp(SMALL, dir, { recursive: true });
  const clf = await FinetunedClassifier.load(SMALL);
  const val = new Set(small.meta.dataset.valFiles!.map((f) => path.resolve(data, f)));
  const files = trainFiles.filter((f) => !val.has(f));
  const outs = await clf.outputs(files, { features: true });
  const d = clf.nFeatures;
  clf.dispose();
  const X = new Float32Array(files.length * d);
  outs.forEach((o, i) => X.set((o as { features: Float32Array }).features, i * d));
  const det = new UnknownDetector({ method: 'mahalanobis' }).fit({ data: X, rows: files.length, cols: d }, files.map((f) => (f.includes(`${path.sep}red${path.sep}`) ? 1 : 0)));
  const meta = JSON.parse(readFileSync(path.join(dir, 'ftk.json'), 'utf8'));
  meta.unknown = { ...det.toJSON(), layer: meta.unknown.layer };
  await fsp.writeFile(path.join(dir, 'ftk.json'), JSON.stringify(meta));
  assert.ok((await compareUnknown(dir, 'smallcnn-maha')) <= 1e-4);
});

test('export: an SVM model\'s unknown_score (knn over the raw backbone features) equals predict\'s', async () => {
  const extracted = await extractFeatures(data, { model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: SIZE, cache: false, decodeWorkers: 0 });
  const prefix = path.join(tmp, 'features');
  await writeFeatures(prefix, extracted.features, extracted.meta);
  const model = path.join(tmp, 'svm.json');
  await svmFit(prefix, { kernel: 'linear', C: 1, probability: true, scaler: 'standardize', out: model });
  assert.ok((await compareUnknown(model, 'svm-knn')) <= 1e-4);
});

test('export: a model without a detector keeps the two outputs and no ftk.unknown', async () => {
  const old = path.join(tmp, 'smallcnn-old');
  const onnx = path.join(tmp, 'old.onnx');
  await exportClassifier(old, onnx);
  const summary = readOnnxSummary(new Uint8Array(await fsp.readFile(onnx)));
  assert.deepEqual(summary.outputs.map((o) => o.name), ['probabilities', 'label']);
  assert.equal(summary.metadata['ftk.unknown'], undefined);
  const p = ok(await predict(onnx, [heldOut]));
  assert.ok(p.every((q) => q.unknownScore === undefined && q.unknown === false));
});

test('suggest with a fine-tuned model: no duplicates, seeded, unknown images left out, novelty from the training images', async () => {
  const pool = path.join(tmp, 'pool');
  await fsp.cp(heldOut, pool, { recursive: true });
  for (const f of (await list(ood)).slice(0, 4)) await fsp.copyFile(f, path.join(pool, `ood-${path.basename(f)}`));
  await fsp.copyFile(path.join(pool, 'red-16.png'), path.join(pool, 'red-16-copy.png'));
  const r = await suggest(SMALL, [pool], { n: 50, seed: 3 });
  const files = r.picks.map((p) => p.file);
  assert.equal(new Set(files).size, files.length, 'no image twice');
  assert.deepEqual(r.picks.map((p) => p.rank), files.map((_, i) => i + 1));
  assert.ok(r.unknown.length >= 2, `most of the 4 different images are left out (${r.unknown.length})`);
  assert.ok(r.picks.every((p) => typeof p.unknownScore === 'number' && p.unknownScore <= small.meta.unknown!.threshold));
  assert.match(r.expectation, /away from the training images/);
  const again = await suggest(SMALL, [pool], { n: 50, seed: 3 });
  assert.deepEqual(again.picks.map((p) => p.file), files, 'seeded: the same order');
  const all = await suggest(SMALL, [pool], { n: 50, seed: 3, includeUnknown: true });
  assert.equal(all.duplicates, 1, 'the byte-identical copy is one candidate with its original');
  assert.equal(all.candidates, 16);
  assert.equal(all.picks.length, 16);
  assert.equal(all.picks.filter((p) => /red-16(-copy)?\.png$/.test(p.file)).length, 1);
  // A fine-tuned model without a detector still ranks (novelty between the picks), and says so.
  const said: string[] = [];
  const old = await suggest(path.join(tmp, 'smallcnn-old'), [pool], { n: 5, onNotice: (m) => said.push(m) });
  assert.equal(old.picks.length, 5);
  assert.ok(said.some((m) => /carries no unknown detector/.test(m)), said.join('\n'));
});

test('ftk finetune --no-unknown / --unknown-rate reach the options; defaults stay in the library; a rate without the detector is refused', async () => {
  const seen: FinetuneContext[] = [];
  const fake = async (ctx: FinetuneContext) => (seen.push(ctx), 0);
  await finetuneCommand(fake).parseAsync(['node', 'finetune', 'd', '--out', 'o', '--no-unknown']);
  await finetuneCommand(fake).parseAsync(['node', 'finetune', 'd', '--out', 'o', '--unknown-rate', '0.1']);
  await finetuneCommand(fake).parseAsync(['node', 'finetune', 'd', '--out', 'o']);
  assert.equal(seen[0].options.unknown, false);
  assert.equal(seen[1].options.unknownRate, 0.1);
  assert.ok(!('unknown' in seen[2].options) && !('unknownRate' in seen[2].options));
  await assert.rejects(finetune(data, { out: path.join(tmp, 'x'), model: 'smallcnn', unknown: false, unknownRate: 0.1 }), /unknownRate has no effect with unknown: false/);
  await assert.rejects(finetune(data, { out: path.join(tmp, 'x'), model: 'smallcnn', unknownRate: 1 }), /unknownRate must be a number strictly between 0 and 1/);
  const none = await finetune(data, { out: path.join(tmp, 'no-det'), model: 'smallcnn', inputSize: SIZE, epochs: 1, batchSize: 8, val: 0, cache: false, unknown: false });
  assert.equal(none.meta.unknown, undefined);
  assert.equal(none.oofUnknownScores, undefined);
});
