/**
 * Acceptance 1 of issue 18, fine-tuned path: ECE (15 bins) of the fine-tuned softmax before and after
 * temperature scaling on Fashion-MNIST 5-9 at 200 images per class, measured on the 5,000 test images.
 *
 * Same protocol as bench/fashion_mnist.ts's 'finetune' method (smallcnn backbone pretrained on
 * classes 0-4, new head, phase 1 the head, phase 2 every layer at lr/10, early stopping on a 20%
 * stratified split of the 1,000 images): `finetune()` fits the temperature on that split and saves
 * it in ftk.json; here the saved model scores the test images raw (softmax) and calibrated.
 *
 *   npx tsx bench/trust/finetune_calibration.ts [--seeds 3]
 * Needs bench/.work/fashion-mnist (npx tsx bench/fashion_mnist.ts --sizes 200 --repeats 1 --methods svm).
 * Raw records: bench/trust/results/calibration.jsonl.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { finetuneOnRows } from '../../src/auto/folds.js';
import type { Dataset } from '../../src/data/dataset.js';
import { decodeImage } from '../../src/data/decode.js';
import { Rng } from '../../src/data/random.js';
import { readIdx } from '../../src/data/idx.js';
import { loadFinetunedLayersModel, readFinetunedMeta } from '../../src/finetune/format.js';
import { preprocessPixels } from '../../src/models/preprocess.js';
import { selectBackend } from '../../src/runtime/backend.js';
import { applyCalibration, reliability } from '../../src/trust/calibrate.js';
import { record, round } from './common.js';

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '3' } } });
const work = path.resolve('bench/.work/fashion-mnist');
await selectBackend({ backend: 'wasm' });
const TARGET = [5, 6, 7, 8, 9];
const names = ['sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
const trainY = (await readIdx('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz')).data as Uint8Array;
const testY = (await readIdx('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz')).data as Uint8Array;
const entries = (split: string, Y: Uint8Array) =>
  Array.from({ length: Y.length }, (_, i) => i)
    .filter((i) => TARGET.includes(Y[i]))
    .map((i) => ({ path: path.join(work, 'png', split, `${String(i).padStart(5, '0')}.png`), file: `${split}/${String(i).padStart(5, '0')}.png`, label: TARGET.indexOf(Y[i]), className: names[TARGET.indexOf(Y[i])] }));
const pool: Dataset = { root: path.join(work, 'png'), classes: names, ignored: [], entries: entries('train', trainY) };
const test = entries('test', testY);
const files = pool.entries.map((e) => e.file);

async function testProbabilities(dir: string): Promise<Float32Array[]> {
  const meta = await readFinetunedMeta(dir);
  const model = await loadFinetunedLayersModel(dir, meta);
  const size = meta.preprocessing.inputSize;
  const per = size * size * 3;
  const probs: Float32Array[] = [];
  for (let s = 0; s < test.length; s += 500) {
    const part = test.slice(s, s + 500);
    const px = new Float32Array(part.length * per);
    const decoded = await Promise.all(part.map((e) => decodeImage(e.path, { size, crop: meta.preprocessing.crop })));
    decoded.forEach((d, k) => px.set(preprocessPixels(d.pixels, meta.preprocessing.mode), k * per));
    const y = tf.tidy(() => model.predict(tf.tensor4d(px, [part.length, size, size, 3])) as tf.Tensor);
    const v = y.dataSync() as Float32Array;
    y.dispose();
    for (let j = 0; j < part.length; j++) probs.push(v.slice(j * 5, (j + 1) * 5));
  }
  model.dispose();
  return probs;
}

for (let seed = 0; seed < Number(values.seeds); seed++) {
  const rng = new Rng(1000 + seed);
  const rows: number[] = [];
  for (let c = 0; c < 5; c++) rows.push(...rng.shuffle(pool.entries.map((e, i) => (e.label === c ? i : -1)).filter((i) => i >= 0)).slice(0, 200));
  rows.sort((a, b) => a - b);
  const out = path.resolve('bench/.work/trust/finetune', `seed${seed}`);
  const t0 = performance.now();
  // bench/fashion_mnist.ts's settings at 1,000 images: max(10, ceil(300 / 25 steps)) = 12 epochs per phase.
  const { result } = await finetuneOnRows(pool, files, rows, { out, model: 'smallcnn', weights: path.join(work, 'backbone'), inputSize: 32, epochs: 12, headEpochs: 12, seed, cache: false, backend: 'wasm', overwrite: true, val: 0.2 });
  const seconds = (performance.now() - t0) / 1000;
  const probs = await testProbabilities(out);
  const cal = result.meta.calibration!;
  const labels = test.map((e) => e.label);
  const before = reliability(probs, labels);
  const after = reliability(applyCalibration(cal, probs), labels);
  const acc = probs.filter((p, i) => p.indexOf(Math.max(...p)) === labels[i]).length / labels.length;
  console.log(`fashion finetune seed ${seed}: accuracy ${(100 * acc).toFixed(2)}%, T=${cal.temperature.toFixed(3)} (validation ECE ${cal.before.ece.toFixed(4)} -> ${cal.after.ece.toFixed(4)}), test ECE ${before.ece.toFixed(4)} -> ${after.ece.toFixed(4)}`);
  record('calibration', {
    set: `fashion-mnist 5-9 @200/class finetune (smallcnn), seed ${seed}`,
    protocol: 'finetune() on 1000 images (200/class, seeded), temperature fitted on its 20% validation split, ECE on the 5000 test images of classes 5-9',
    samples: labels.length,
    accuracy: round(acc),
    temperature: round(cal.temperature),
    validationEceBefore: round(cal.before.ece),
    validationEceAfter: round(cal.after.ece),
    eceBefore: round(before.ece),
    eceAfter: round(after.ece),
    nllBefore: round(before.nll),
    nllAfter: round(after.nll),
    before,
    after,
    seconds: round(seconds, 1),
  });
}
