/**
 * Backbone features for the Fashion-MNIST measurements of issue 18, from the smallcnn that
 * bench/fashion_mnist.ts pretrains on classes 0-4 (its Flatten output, 256 numbers, 32x32 input,
 * 'tf' preprocessing): run `npx tsx bench/fashion_mnist.ts --sizes 200 --repeats 1 --methods svm`
 * first (it writes the PNGs and the backbone under bench/.work/fashion-mnist).
 *
 * Writes (bench/.work/trust/, loadable with loadFeatures):
 *   fashion-pool          the 30,000 training images of classes 5-9 (labels 0-4 = classes 5-9)
 *   fashion-pool-1000     200 per class of them (seeded), the known set of the OOD measurement
 *   fashion-test          the 5,000 test images of classes 5-9
 *   fashion-source-smallcnn  1,000 test images of classes 0-4 (near unknowns)
 *   catsdogs-smallcnn     the 2,000 cats-dogs photos through the same backbone (far unknowns)
 *
 *   npx tsx bench/trust/fashion_features.ts
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { encodeNpy } from '../../src/formats/npy.js';
import { decodeImage } from '../../src/data/decode.js';
import { Rng } from '../../src/data/random.js';
import { loadFinetunedLayersModel, readFinetunedMeta } from '../../src/finetune/format.js';
import { preprocessPixels } from '../../src/models/preprocess.js';
import { selectBackend } from '../../src/runtime/backend.js';
import { readIdx } from '../../src/data/idx.js';
import { writeFileSync } from 'node:fs';

const work = path.resolve('bench/.work/fashion-mnist');
const out = path.resolve('bench/.work/trust');
mkdirSync(out, { recursive: true });
await selectBackend({ backend: 'wasm' });
const meta = await readFinetunedMeta(path.join(work, 'backbone'));
const model = await loadFinetunedLayersModel(path.join(work, 'backbone'), meta);
const featureModel = tf.model({ inputs: model.inputs, outputs: model.getLayer('flatten').output as tf.SymbolicTensor });
const size = meta.preprocessing.inputSize;

async function features(files: string[]): Promise<Float32Array> {
  const per = size * size * 3;
  const parts: Float32Array[] = [];
  for (let s = 0; s < files.length; s += 500) {
    const batch = files.slice(s, s + 500);
    const pixels = new Float32Array(batch.length * per);
    const decoded = await Promise.all(batch.map((f) => decodeImage(f, { size, crop: 'squash' })));
    decoded.forEach((d, k) => pixels.set(preprocessPixels(d.pixels, 'tf'), k * per));
    const y = tf.tidy(() => featureModel.predict(tf.tensor4d(pixels, [batch.length, size, size, 3])) as tf.Tensor);
    parts.push(y.dataSync() as Float32Array);
    y.dispose();
  }
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

async function write(name: string, files: string[], labels: number[], classes: string[]): Promise<void> {
  const X = await features(files);
  const d = X.length / files.length;
  writeFileSync(path.join(out, `${name}.npy`), encodeNpy(X, [files.length, d]));
  const m = { formatVersion: 1, files, labels, classes, hashes: [], skipped: [], duplicates: [], shape: [files.length, d], datasetRoot: work, createdAt: new Date().toISOString(), model: { name: 'smallcnn (bench/fashion_mnist.ts backbone)', layer: 'flatten' } };
  writeFileSync(path.join(out, `${name}.json`), JSON.stringify(m));
  console.log(`${name}: ${files.length} x ${d}`);
}

const TARGET = [5, 6, 7, 8, 9];
const names = ['sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
const trainY = (await readIdx('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz')).data as Uint8Array;
const testY = (await readIdx('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz')).data as Uint8Array;
const pngs = (split: string, Y: Uint8Array, keep: number[]) =>
  Array.from({ length: Y.length }, (_, i) => i)
    .filter((i) => keep.includes(Y[i]))
    .map((i) => ({ file: path.join(work, 'png', split, `${String(i).padStart(5, '0')}.png`), label: keep.indexOf(Y[i]) }));
const pool = pngs('train', trainY, TARGET);
await write('fashion-pool', pool.map((p) => p.file), pool.map((p) => p.label), names);
const rng = new Rng(0);
const sub: typeof pool = [];
for (let c = 0; c < 5; c++) sub.push(...rng.shuffle(pool.filter((p) => p.label === c)).slice(0, 200));
await write('fashion-pool-1000', sub.map((p) => p.file), sub.map((p) => p.label), names);
const test = pngs('test', testY, TARGET);
await write('fashion-test', test.map((p) => p.file), test.map((p) => p.label), names);
const source = pngs('test-source', testY, [0, 1, 2, 3, 4]).filter((_, i) => i % 5 === 0);
await write('fashion-source-smallcnn', source.map((p) => p.file), source.map((p) => p.label), ['t-shirt', 'trouser', 'pullover', 'dress', 'coat']);
const cd = path.resolve('../shared/datasets/cats-dogs');
const cdFiles = ['cats', 'dogs'].flatMap((c, k) => readdirSync(path.join(cd, c)).sort().map((f) => ({ file: path.join(cd, c, f), label: k })));
await write('catsdogs-smallcnn', cdFiles.map((p) => p.file), cdFiles.map((p) => p.label), ['cats', 'dogs']);
model.dispose();
