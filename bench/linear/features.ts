/**
 * Features for the linear-model benchmark (bench/linear/compare.ts): Fashion-MNIST, two training
 * sets of 30,000 images and their test sets, through two backbones.
 *
 * Sets:
 * - `c5-9`: all 30,000 training images of classes 5-9 (sandal, shirt, sneaker, bag, ankle boot);
 *   test: the 5,000 test images of those classes.
 * - `all10`: 3,000 training images per class of all ten (a seeded stratified subset, 30,000);
 *   test: all 10,000 test images.
 * Backbones:
 * - `smallcnn`: the small convnet pretrained on classes 0-4 by bench/fashion_mnist.ts
 *   (`<fm-work>/backbone`), its Flatten output (256 numbers), 32 px, 'tf' preprocessing.
 * - `mobilenet025`: Keras MobileNet 0.25 with the ImageNet weights in ../shared, global average
 *   pooling (256 numbers), 128 px input, through `extractFeatures` (ONNX Runtime).
 *
 *   npx tsx bench/linear/features.ts [--fm-work bench/.work/fashion-mnist] [--work bench/.work/linear]
 *        [--backbones smallcnn,mobilenet025] [--mobilenet-size 128]
 *
 * Needs bench/fashion_mnist.ts to have written its PNG files and pretrained its backbone.
 * Writes <work>/feats/<backbone>-<set>-<train|test>.npy + .json (labels, classes).
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { Dataset, ImageEntry } from '../../src/data/dataset.js';
import { decodeImage } from '../../src/data/decode.js';
import { readIdx } from '../../src/data/idx.js';
import { Rng } from '../../src/data/random.js';
import { extractFeatures } from '../../src/extract/extract.js';
import { loadFinetunedLayersModel, readFinetunedMeta } from '../../src/finetune/format.js';
import { encodeNpy } from '../../src/formats/npy.js';
import { preprocessPixels } from '../../src/models/preprocess.js';
import { selectBackend } from '../../src/runtime/backend.js';

const { values } = parseArgs({
  options: {
    'fm-work': { type: 'string', default: 'bench/.work/fashion-mnist' },
    work: { type: 'string', default: 'bench/.work/linear' },
    data: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    'mobilenet-size': { type: 'string', default: '128' },
    backbones: { type: 'string', default: 'smallcnn,mobilenet025' },
  },
});
const fmWork = path.resolve(values['fm-work']!);
const out = path.join(path.resolve(values.work!), 'feats');
mkdirSync(out, { recursive: true });
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const CLASS_NAMES = ['t-shirt-top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
const t0 = performance.now();
const log = (m: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${m}`);
await selectBackend({ backend: 'wasm' });

const file = (name: string) => path.join(values.data!, name);
const [trainX, trainY, testX, testY] = await Promise.all(
  ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((f) => readIdx(file(f))),
);
const [h, w] = trainX.shape.slice(1);
/** The PNG of image i of a split (bench/fashion_mnist.ts's naming), written if missing. */
async function png(split: 'train' | 'test', i: number): Promise<string> {
  const dir = path.join(fmWork, 'png', split === 'train' ? 'train' : 'test-all');
  const p = path.join(dir, `${String(i).padStart(5, '0')}.png`);
  if (!existsSync(p)) {
    mkdirSync(dir, { recursive: true });
    const X = (split === 'train' ? trainX : testX).data as Uint8Array;
    await sharp(Buffer.from(X.subarray(i * h * w, (i + 1) * h * w)), { raw: { width: w, height: h, channels: 1 } }).png().toFile(p);
  }
  return p;
}

const trainLabels = trainY.data as Uint8Array;
const testLabels = testY.data as Uint8Array;
const byClass = (labels: Uint8Array, c: number) => Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] === c);
const rng = new Rng(15);
const sets = {
  'c5-9': {
    classes: [5, 6, 7, 8, 9],
    train: [5, 6, 7, 8, 9].flatMap((c) => byClass(trainLabels, c)),
    test: [5, 6, 7, 8, 9].flatMap((c) => byClass(testLabels, c)),
  },
  all10: {
    classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    train: CLASS_NAMES.flatMap((_, c) => rng.shuffle(byClass(trainLabels, c)).slice(0, 3000)).sort((a, b) => a - b),
    test: Array.from({ length: testLabels.length }, (_, i) => i),
  },
};
// The union of the rows of both sets, extracted once per backbone.
const trainRows = [...new Set([...sets['c5-9'].train, ...sets.all10.train])].sort((a, b) => a - b);
const testRows = Array.from({ length: testLabels.length }, (_, i) => i);
async function entries(split: 'train' | 'test', rows: number[]): Promise<ImageEntry[]> {
  const labels = split === 'train' ? trainLabels : testLabels;
  const outList: ImageEntry[] = [];
  for (let s = 0; s < rows.length; s += 512) {
    const part = await Promise.all(rows.slice(s, s + 512).map(async (i) => ({ path: await png(split, i), file: `${split}/${i}`, label: labels[i], className: CLASS_NAMES[labels[i]] })));
    outList.push(...part);
  }
  return outList;
}
const trainEntries = await entries('train', trainRows);
const testEntries = await entries('test', testRows);
log(`${trainEntries.length} training and ${testEntries.length} test images`);

function save(backbone: string, feats: { train: Float32Array; test: Float32Array }, d: number): void {
  const rowOf = { train: new Map(trainRows.map((r, i) => [r, i])), test: new Map(testRows.map((r, i) => [r, i])) };
  for (const [name, set] of Object.entries(sets)) {
    for (const split of ['train', 'test'] as const) {
      const rows = set[split];
      const X = new Float32Array(rows.length * d);
      rows.forEach((r, i) => {
        const j = rowOf[split].get(r)!;
        X.set(feats[split].subarray(j * d, (j + 1) * d), i * d);
      });
      const labels = rows.map((r) => set.classes.indexOf((split === 'train' ? trainLabels : testLabels)[r]));
      const prefix = path.join(out, `${backbone}-${name}-${split}`);
      writeFileSync(`${prefix}.npy`, encodeNpy(X, [rows.length, d]));
      writeFileSync(`${prefix}.json`, JSON.stringify({ shape: [rows.length, d], classes: set.classes.map((c) => CLASS_NAMES[c]), labels, backbone, rows }));
      log(`wrote ${prefix} (${rows.length} x ${d})`);
    }
  }
}

// 1. smallcnn (the pretrained backbone of bench/fashion_mnist.ts), Flatten output.
const wanted = values.backbones!.split(',');
if (wanted.includes('smallcnn') && !existsSync(path.join(out, 'smallcnn-all10-test.npy'))) {
  const dir = path.join(fmWork, 'backbone');
  const meta = await readFinetunedMeta(dir);
  const model = await loadFinetunedLayersModel(dir, meta);
  const featureModel = tf.model({ inputs: model.inputs, outputs: model.getLayer('flatten').output as tf.SymbolicTensor });
  const d = (featureModel.outputs[0].shape as number[])[1];
  const size = 32;
  const per = size * size * 3;
  const run = async (list: ImageEntry[]): Promise<Float32Array> => {
    const outX = new Float32Array(list.length * d);
    for (let s = 0; s < list.length; s += 500) {
      const part = list.slice(s, s + 500);
      const pixels = new Float32Array(part.length * per);
      const decoded = await Promise.all(part.map((e) => decodeImage(e.path, { size, crop: 'squash' })));
      decoded.forEach((im, k) => pixels.set(preprocessPixels(im.pixels, 'tf'), k * per));
      const y = tf.tidy(() => featureModel.predict(tf.tensor4d(pixels, [part.length, size, size, 3])) as tf.Tensor);
      outX.set(y.dataSync() as Float32Array, s * d);
      y.dispose();
    }
    return outX;
  };
  log('smallcnn features');
  save('smallcnn', { train: await run(trainEntries), test: await run(testEntries) }, d);
  model.dispose();
}

// 2. MobileNet 0.25, ImageNet weights, global average pooling.
if (wanted.includes('mobilenet025') && !existsSync(path.join(out, 'mobilenet025-all10-test.npy'))) {
  const size = Number(values['mobilenet-size']);
  const run = async (list: ImageEntry[], what: string): Promise<{ X: Float32Array; d: number }> => {
    const dataset: Dataset = { root: path.join(fmWork, 'png'), classes: CLASS_NAMES, entries: list, ignored: [] };
    const r = await extractFeatures(dataset, { model: 'mobilenet', alpha: 0.25, weights: H5, inputSize: size, cache: true, onNotice: (m) => log(m) });
    if (r.meta.files.length !== list.length) throw new Error(`${what}: ${list.length - r.meta.files.length} images skipped`);
    log(`mobilenet 0.25 ${what}: ${list.length} images, ${r.stats.imagesPerSecond.toFixed(0)} images/s (${r.stats.engine})`);
    return { X: r.features, d: r.meta.shape[1] };
  };
  const tr = await run(trainEntries, 'train');
  const te = await run(testEntries, 'test');
  save('mobilenet025', { train: tr.X, test: te.X }, tr.d);
}
log('done');
