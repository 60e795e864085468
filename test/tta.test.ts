/**
 * Flip test-time augmentation (`tta: 'flip'`, src/models/tta.ts) end to end: a flip feature is the
 * mean of the features of the image and of a mirrored copy of the file (ONNX Runtime, TF.js, an
 * `onnx:` model with a fixed batch of 1, a `tfjs:` graph model); a symmetric image is unchanged by
 * it; the cache keeps flip and plain rows apart and serves reruns; an SVM fitted on flip features
 * predicts from files (`loadClassifier`, and the exported ONNX classifier) with the same features;
 * fingerprints of configurations without TTA are the ones main computed before TTA existed.
 *
 * Feature comparisons are relative to the features' size (see relDiff).
 *
 * Small and fast: random-weight MobileNet 0.25 at 32 px, PNG images (lossless, so sharp's `.flop()`
 * gives the exact mirror) whose sides are 1, 2 or 3 times 32: with those scales the bilinear
 * resize samples mirrored positions with mirrored weights exactly, so resizing the mirrored file
 * gives the mirrored tensor bit for bit and the comparison tests TTA, not rounding of the resize.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { SvmClassifier } from '../src/classify/svm.js';
import { exportClassifier } from '../src/export/export.js';
import { FeatureCache } from '../src/extract/cache.js';
import { extractFeatures, type ExtractOptions } from '../src/extract/extract.js';
import { MobileNet } from '../src/models/mobilenet.js';
import { backboneFingerprint, backboneOptionsFrom, networkInfo, resolveBackbone } from '../src/models/backbone.js';
import { averageViews, mirrorInto } from '../src/models/tta.js';
import { loadClassifier } from '../src/predict/formats.js';
import { predict, type ImagePrediction } from '../src/predict/predict.js';
import { selectBackend } from '../src/runtime/backend.js';
import { exportOnnx } from '../src/runtime/onnx_export.js';
import { readOnnxSummary } from '../src/runtime/onnx_graph.js';
import { seedWeights, withNchwInput, writeTinyGraphModel } from './helpers/foreign_models.js';
import { tempHome } from './helpers/home.js';
import { noiseRgb, writeTree } from './helpers/images.js';

await selectBackend({ backend: 'wasm' });
const tmp = await tempHome('ftk-tta-');
const BACKBONE = { model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: 32 } as const;
/**
 * The fingerprint main (1ebd4cd, before TTA existed) computes for BACKBONE: mobilenet 0.25,
 * random:0 weights, its default layer conv_pw_13_relu, avg pooling, 'tf' preprocessing, 32 px,
 * squash. Hard-coded on purpose: a change to it would orphan every user's feature cache, cached
 * ONNX graphs and the fingerprint checks of saved models, so it must not follow the code.
 */
const MAIN_FINGERPRINT = 'a423a7498fe1dc6901ee0ba7a0c369b0';
const SIZES: [number, number][] = [
  [64, 64],
  [96, 64],
  [32, 32],
  [64, 96],
  [96, 96],
];

const png = (data: Buffer, w: number, h: number) => sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();

/** `root` with 5 noise PNGs in two classes, and `mirror` with the same files flopped (sharp) under the same names. */
async function pairOfDatasets(name: string, seed: number): Promise<{ root: string; mirror: string }> {
  const root = path.join(tmp, name);
  const mirror = path.join(tmp, `${name}-mirror`);
  const files: Record<string, Buffer> = {};
  const flopped: Record<string, Buffer> = {};
  for (let i = 0; i < SIZES.length; i++) {
    const [w, h] = SIZES[i];
    const file = `${i % 2 ? 'b' : 'a'}/${i}.png`;
    files[file] = await png(noiseRgb(w, h, seed + i), w, h);
    flopped[file] = await sharp(files[file]).flop().png().toBuffer();
  }
  await writeTree(root, files);
  await writeTree(mirror, flopped);
  return { root, mirror };
}

/**
 * max |a - b| / max |b|. Relative, because random-weight MobileNet features are small (Glorot
 * kernels and identity BatchNorm shrink activations layer after layer: at 32 px they are below
 * 1e-3), so an absolute 1e-5 would allow a 1 % error; the seeded foreign models give O(1) features.
 */
function relDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  assert.ok(scale > 0, 'features are all zero');
  return diff / scale;
}

/** Extracts `root` with flip and `root` + `mirror` without; returns relDiff(flip, mean(plain, mirrored)) and relDiff(flip, plain). */
async function flipAgainstFiles(name: string, seed: number, options: ExtractOptions): Promise<{ diff: number; flipVsPlain: number }> {
  const { root, mirror } = await pairOfDatasets(name, seed);
  // Batches of 2 over 5 images: full batches and a partial last one; 1 thread keeps the test light.
  const run = (dir: string, tta: 'none' | 'flip') => extractFeatures(dir, { batchSize: 2, threads: 1, cache: false, ...options, tta });
  const flip = await run(root, 'flip');
  const plain = await run(root, 'none');
  const mirrored = await run(mirror, 'none');
  assert.deepEqual(flip.meta.files, plain.meta.files);
  assert.deepEqual(mirrored.meta.files, plain.meta.files);
  assert.equal(flip.meta.model.tta, 'flip');
  assert.equal('tta' in plain.meta.model, false, 'tta none is not written: files are as before TTA existed');
  const mean = averageViews(interleave(plain.features, mirrored.features, plain.meta.shape[1]), plain.meta.shape[0], plain.meta.shape[1]);
  return { diff: relDiff(flip.features, mean), flipVsPlain: relDiff(flip.features, plain.features) };
}

/** Rows of `a` and `b` alternated (a0, b0, a1, b1, ...), the layout averageViews reads. */
function interleave(a: Float32Array, b: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(a.length * 2);
  for (let r = 0; r < a.length / dim; r++) {
    out.set(a.subarray(r * dim, (r + 1) * dim), 2 * r * dim);
    out.set(b.subarray(r * dim, (r + 1) * dim), (2 * r + 1) * dim);
  }
  return out;
}

test('mirrorInto reverses the width axis of an HWC image, channels in order', () => {
  // 2 x 2 pixels of 3 channels, value = 100 * y + 10 * x + channel.
  const px = Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => 100 * Math.floor(i / 6) + 10 * Math.floor((i % 6) / 3) + (i % 3));
  const out = new Float32Array(1 + px.length);
  mirrorInto(px, 2, out, 1);
  assert.deepEqual(Array.from(out), [0, 10, 11, 12, 0, 1, 2, 110, 111, 112, 100, 101, 102]);
});

for (const runtime of ['onnx', 'tfjs'] as const) {
  test(`${runtime}: a flip feature is the mean of the features of the image and of its mirrored file (sharp .flop()) within 1e-5`, async (t) => {
    const r = await flipAgainstFiles(`mean-${runtime}`, 10, { ...BACKBONE, runtime });
    t.diagnostic(`relative |flip - mean| = ${r.diff.toExponential(2)}; flip vs plain: ${r.flipVsPlain.toExponential(2)}`);
    assert.ok(r.diff <= 1e-5, `relative |flip - mean| = ${r.diff}`);
    assert.ok(r.flipVsPlain > 1e-3, 'the mirror changes the features of a noise image (else the test proves nothing)');
  });
}

test('onnx: and tfjs: models of other frameworks: flip is the mean of the image and its mirrored file within 1e-5', async (t) => {
  // An NCHW ONNX graph with a fixed batch of 1 (the two views of an image run as two chunks) and a TF.js graph model.
  const net = MobileNet({ includeTop: false, weights: null, alpha: 0.25, inputShape: [32, 32, 3] });
  seedWeights(net, 3);
  const onnxFile = path.join(tmp, 'nchw_b1.onnx');
  await fsp.writeFile(onnxFile, withNchwInput(exportOnnx(net).bytes, 32, { batch: 1 }));
  net.dispose();
  const graphDir = path.join(tmp, 'graph');
  (await writeTinyGraphModel(graphDir, 32, 5)).reference.dispose();
  for (const [name, model] of [['onnx', `onnx:${onnxFile}`], ['tfjs', `tfjs:${graphDir}`]] as const) {
    const r = await flipAgainstFiles(`external-${name}`, 20, { model, preprocess: 'tf' });
    t.diagnostic(`${name}: relative |flip - mean| = ${r.diff.toExponential(2)}; flip vs plain: ${r.flipVsPlain.toExponential(2)}`);
    assert.ok(r.diff <= 1e-5, `${name}: relative |flip - mean| = ${r.diff}`);
    assert.ok(r.flipVsPlain > 1e-3, `${name}: the mirror changes the features`);
  }
});

test('a horizontally symmetric image has the same features with and without flip', async (t) => {
  const files: Record<string, Buffer> = {};
  for (const [i, [w, h]] of [[64, 64], [96, 64]].entries()) {
    const noise = noiseRgb(w, h, 30 + i);
    const sym = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = (y * w + Math.min(x, w - 1 - x)) * 3;
        noise.copy(sym, (y * w + x) * 3, src, src + 3);
      }
    }
    files[`s/${i}.png`] = await png(sym, w, h);
  }
  const root = path.join(tmp, 'symmetric');
  await writeTree(root, files);
  const plain = await extractFeatures(root, { ...BACKBONE, cache: false });
  const flip = await extractFeatures(root, { ...BACKBONE, cache: false, tta: 'flip' });
  const diff = relDiff(flip.features, plain.features);
  t.diagnostic(`relative |flip - plain| = ${diff.toExponential(2)}`);
  assert.ok(diff <= 1e-5, `relative |flip - plain| = ${diff}`);
});

test('cache: tta none then flip computes both (two fingerprints, no collision); a rerun is served from the cache', async () => {
  const { root } = await pairOfDatasets('cached', 40);
  const cacheFile = path.join(tmp, 'tta-cache.sqlite');
  const run = (tta: 'none' | 'flip') => extractFeatures(root, { ...BACKBONE, cache: cacheFile, batchSize: 2, threads: 1, tta });
  const plain = await run('none');
  const flip = await run('flip');
  assert.equal(plain.stats.computed, 5);
  assert.equal(flip.stats.computed, 5, 'flip rows are not served from the plain ones');
  assert.equal(flip.stats.cached, 0);
  assert.notEqual(flip.meta.model.fingerprint, plain.meta.model.fingerprint);
  assert.ok(relDiff(flip.features, plain.features) > 1e-3);
  const again = await run('flip');
  assert.equal(again.stats.computed, 0);
  assert.equal(again.stats.cached, 5);
  assert.deepEqual(again.features, flip.features);
  const againPlain = await run('none');
  assert.equal(againPlain.stats.cached, 5);
  assert.deepEqual(againPlain.features, plain.features);
  const cache = new FeatureCache(cacheFile);
  try {
    assert.equal(cache.count(plain.meta.model.fingerprint), 5);
    assert.equal(cache.count(flip.meta.model.fingerprint), 5);
  } finally {
    cache.close();
  }
  // One exported backbone graph serves both: it is keyed by the network's fingerprint (TTA is applied around it).
  const graphs = (await fsp.readdir(path.join(tmp, 'home', 'weights', 'onnx'))).filter((f) => f.endsWith('.onnx'));
  assert.ok(graphs.some((f) => f.startsWith(plain.meta.model.fingerprint)));
  assert.ok(!graphs.some((f) => f.startsWith(flip.meta.model.fingerprint)), 'no graph exported under the flip fingerprint');
});

test('an SVM fitted on flip features predicts from files with flip features: loadClassifier and the exported ONNX classifier', async (t) => {
  // Two colour classes with noise, sides of 32, 64 or 96 px.
  const root = path.join(tmp, 'svm');
  const files: Record<string, Buffer> = {};
  let s = 5;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  for (const [cls, rgb] of [['blue', [50, 70, 200]], ['red', [200, 60, 50]]] as const) {
    for (let i = 0; i < 8; i++) {
      const [w, h] = SIZES[i % SIZES.length];
      const data = Buffer.alloc(w * h * 3);
      // A left-right gradient, so an image and its mirror differ.
      for (let p = 0; p < w * h; p++) for (let k = 0; k < 3; k++) data[p * 3 + k] = Math.max(0, Math.min(255, rgb[k] + ((p % w) / w - 0.5) * 120 + (rnd() - 0.5) * 140));
      files[`${cls}/${i}.png`] = await png(data, w, h);
    }
  }
  await writeTree(root, files);
  const flip = await extractFeatures(root, { ...BACKBONE, cache: false, tta: 'flip' });
  const [n, d] = flip.meta.shape;
  const X = { data: flip.features, rows: n, cols: d };
  const clf = await new SvmClassifier({ kernel: 'rbf', C: 10, probability: true, scaler: 'standardize', seed: 0 }).fit(X, flip.meta.labels);
  clf.classNames = flip.meta.classes;
  clf.backbone = flip.meta.model;
  const modelFile = path.join(tmp, 'svm-flip.json');
  await fsp.writeFile(modelFile, JSON.stringify(clf.toJSON()));
  const expected = clf.predictProba(X);
  const plain = await extractFeatures(root, { ...BACKBONE, cache: false });
  const plainProba = clf.predictProba({ data: plain.features, rows: n, cols: d });
  clf.dispose();

  // The model records the recipe, and the options rebuilt from it carry it.
  assert.equal(JSON.parse(await fsp.readFile(modelFile, 'utf8')).backbone.tta, 'flip');
  assert.equal(backboneOptionsFrom(flip.meta.model).tta, 'flip');

  const paths = flip.meta.files.map((f) => path.join(root, f));
  const loaded = await loadClassifier(modelFile);
  let diff = 0;
  let plainDiff = 0;
  try {
    assert.match(loaded.description, /flip TTA/);
    const scores = await loaded.predictImages(paths);
    scores.forEach((sc, i) => {
      assert.ok(!('error' in sc), `${paths[i]} predicted`);
      for (let c = 0; c < 2; c++) {
        diff = Math.max(diff, Math.abs(sc.probabilities[c] - expected[i][c]));
        plainDiff = Math.max(plainDiff, Math.abs(sc.probabilities[c] - plainProba[i][c]));
      }
    });
  } finally {
    loaded.dispose();
  }
  t.diagnostic(`loadClassifier: max |p(files) - p(flip matrix)| = ${diff.toExponential(2)}; against the plain features' probabilities ${plainDiff.toExponential(2)}`);
  assert.ok(diff <= 1e-6, `max |p(files) - p(flip matrix)| = ${diff}`);
  assert.ok(plainDiff > 1e-4, 'predicting without flip would give other probabilities (else the test proves nothing)');

  // The exported ONNX classifier mirrors inside its graph and gives the same probabilities.
  const onnx = path.join(tmp, 'svm-flip.onnx');
  await exportClassifier(modelFile, onnx);
  const summary = readOnnxSummary(new Uint8Array(await fsp.readFile(onnx)));
  assert.equal(JSON.parse(summary.metadata['ftk.backbone']).tta, 'flip');
  assert.equal(JSON.parse(summary.metadata['ftk.input']).tta, 'flip');
  const a = await predict(modelFile, paths);
  const b = await predict(onnx, paths);
  let onnxDiff = 0;
  a.predictions.forEach((p, i) => {
    const q = b.predictions[i] as ImagePrediction;
    assert.ok(!('error' in p) && !('error' in q));
    assert.equal(q.label, (p as ImagePrediction).label);
    for (const c of a.model.classes) onnxDiff = Math.max(onnxDiff, Math.abs((p as ImagePrediction).probabilities[c] - q.probabilities[c]));
  });
  t.diagnostic(`exported ONNX vs ftk predict: max probability difference ${onnxDiff.toExponential(2)}`);
  assert.ok(onnxDiff <= 1e-4, `max |p_onnx - p_ftk| = ${onnxDiff}`);
});

test('fingerprints without TTA are the ones main computed before TTA existed; flip gets its own', async () => {
  const plain = await resolveBackbone(BACKBONE);
  assert.equal(plain.info.fingerprint, MAIN_FINGERPRINT);
  const none = await resolveBackbone({ ...BACKBONE, tta: 'none' });
  assert.deepEqual(none.info, plain.info, "tta: 'none' is recorded as absent");
  const flip = await resolveBackbone({ ...BACKBONE, tta: 'flip' });
  assert.equal(flip.info.tta, 'flip');
  assert.notEqual(flip.info.fingerprint, MAIN_FINGERPRINT);
  assert.equal(flip.info.fingerprint, backboneFingerprint(flip.info));
  assert.deepEqual(networkInfo(flip.info), plain.info, 'the network without its TTA is the plain backbone');
});

test('tta is validated: unknown modes and flip with pooling none are refused with the allowed values', async () => {
  await assert.rejects(resolveBackbone({ ...BACKBONE, tta: 'mirror' as 'flip' }), (err: any) => {
    assert.equal(err.code, 'TTA_UNKNOWN');
    assert.match(err.message, /must be one of \[none, flip\]\. Received tta="mirror"/);
    return true;
  });
  await assert.rejects(resolveBackbone({ ...BACKBONE, tta: 'flip', pooling: 'none' }), (err: any) => {
    assert.equal(err.code, 'TTA_POOLING');
    assert.match(err.suggestion, /--pooling avg or max/);
    return true;
  });
  await assert.rejects(resolveBackbone({ model: `onnx:${path.join(tmp, 'absent.onnx')}`, tta: 'flip', pooling: 'none', preprocess: 'tf' }), { code: 'TTA_POOLING' });
  await resolveBackbone({ ...BACKBONE, tta: 'none', pooling: 'none' });
});
