/**
 * Extraction throughput on this machine (not a test): end-to-end images/s (read + hash + decode +
 * resize + inference, cache off) on the cats-dogs photos, and inference-only images/s on
 * pre-decoded tensors, for MobileNet 0.25 (shared Keras weights) and MobileNetV2 1.0 (random
 * weights: speed does not depend on the values).
 *
 * `--runtime` picks the extraction runtime (auto = ONNX Runtime; tfjs = the wasm backend, as
 * before issue 4); the inference-only column always measures TF.js (bench/extract/vs_pytorch.ts
 * measures ONNX Runtime alone).
 *
 *   npx tsx bench/extract/throughput.ts [--images 400] [--backend wasm] [--batch-size 32] [--runtime auto|onnx|tfjs]
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findDataset } from '../../src/data/dataset.js';
import { extractFeatures } from '../../src/extract/extract.js';
import { loadBackbone } from '../../src/models/backbone.js';
import { selectBackend, type BackendName } from '../../src/runtime/backend.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '400' },
    backend: { type: 'string', default: 'wasm' },
    'batch-size': { type: 'string', default: '32' },
    runtime: { type: 'string', default: 'auto' },
  },
});
const DATA = path.resolve('../shared/datasets/cats-dogs');
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const count = Number(values.images);
const batchSize = Number(values['batch-size']);
const backend = await selectBackend({ backend: values.backend as BackendName });

const all = await findDataset(DATA);
// Same images for every model: an even spread over both classes.
const step = Math.max(1, Math.floor(all.entries.length / count));
const dataset = { ...all, entries: all.entries.filter((_, i) => i % step === 0).slice(0, count) };

const configs = [
  { label: 'MobileNet 0.25 (Keras ImageNet weights)', model: 'mobilenet', alpha: 0.25, weights: existsSync(H5) ? H5 : 'random' },
  { label: 'MobileNetV2 1.0 (random weights)', model: 'mobilenet_v2', alpha: 1.0, weights: 'random' },
];

const rows: string[] = [];
for (const c of configs) {
  const bb = await loadBackbone({ model: c.model, alpha: c.alpha, weights: c.weights });
  const x = tf.randomUniform([batchSize, 224, 224, 3], -1, 1);
  (bb.model.predict(x) as tf.Tensor).dispose(); // warm-up
  const reps = Math.max(2, Math.ceil(count / batchSize / 2));
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await (bb.model.predict(x) as tf.Tensor).data();
  const inferOnly = (reps * batchSize) / ((performance.now() - t0) / 1000);
  x.dispose();
  bb.model.dispose();
  const t1 = performance.now();
  const r = await extractFeatures(dataset, { model: c.model, alpha: c.alpha, weights: c.weights, cache: false, batchSize, backend: backend.name, runtime: values.runtime as 'auto' | 'onnx' | 'tfjs' });
  const wall = (performance.now() - t1) / 1000;
  rows.push(
    `| ${c.label} | ${r.stats.engine} | ${r.stats.images} | ${(r.stats.images / wall).toFixed(1)} | ${r.stats.imagesPerSecond.toFixed(1)} | ${inferOnly.toFixed(1)} (tfjs-${backend.name}) |`,
  );
}
console.log(`\nExtraction throughput, ${count} cats-dogs JPEGs, batch ${batchSize}, ${new Date().toISOString()}`);
console.log('| model | extraction engine | images | end-to-end img/s (wall, incl. model load) | decode+inference img/s | TF.js inference only img/s |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
