/**
 * Fine-tuning (src/finetune): the new head, frozen layers and BatchNormalization left exactly as
 * they were, learning rates per phase, the frozen-prefix cache, determinism, from-scratch
 * training, cross-validation, and the errors of bad input. Tiny 32x32 images of two colour
 * classes and the shared Keras MobileNet 0.25 weights (their convolutions work at any size).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { needSharedWeights, SHARED_H5 } from './helpers/requires.js';
import { after, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { finetune } from '../src/finetune/finetune.js';
import type { FinetuneOptions } from '../src/finetune/options.js';
import { checkpointPath } from '../src/finetune/checkpoint.js';
import { loadFinetunedLayersModel, readFinetunedMeta } from '../src/finetune/format.js';
import { buildFinetuneModel, resolveFinetuneBackbone } from '../src/finetune/model.js';
import { DEFAULT_FREEZE, resolveFinetuneOptions } from '../src/finetune/options.js';
import { resolveFreeze } from '../src/finetune/freeze.js';
import { MODEL_NAMES, MODELS } from '../src/models/registry.js';
import { selectBackend } from '../src/runtime/backend.js';
import { loadBackbone } from '../src/models/backbone.js';
import { tempDir } from './helpers/images.js';

const H5 = SHARED_H5;
/** The shared weights are needed here: a skip on a developer machine without them, a failure in CI. */
const noWeights = needSharedWeights();
/** Input size of the tests: 64 is the smallest at which MobileNet's features separate the colours. */
const SIZE = 64;
await selectBackend({ backend: 'wasm' });
const { dir: tmp, cleanup } = await tempDir('ftk-finetune-');
after(cleanup);

/** `perClass` noisy images per class: class a reddish, class b bluish (easy to separate). */
async function colourDataset(root: string, perClass = 12, size = 40, classes = ['a', 'b']): Promise<string> {
  let s = 7;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const bases: Record<string, number[]> = { a: [200, 60, 50], b: [50, 70, 200], c: [60, 190, 60] };
  for (const c of classes) {
    await fsp.mkdir(path.join(root, c), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const data = Buffer.alloc(size * size * 3);
      for (let p = 0; p < size * size; p++) for (let k = 0; k < 3; k++) data[p * 3 + k] = Math.max(0, Math.min(255, bases[c][k] + (rnd() - 0.5) * 180));
      await sharp(data, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path.join(root, c, `${i}.png`));
    }
  }
  return root;
}

const DATA = await colourDataset(path.join(tmp, 'colours'));
let runs = 0;
/** Small, fast settings; `out` and a private cache per call unless given. */
function opts(extra: Partial<FinetuneOptions> = {}): FinetuneOptions {
  runs++;
  return {
    out: path.join(tmp, `out${runs}`),
    model: 'mobilenet',
    alpha: 0.25,
    weights: H5,
    inputSize: SIZE,
    headEpochs: 1,
    epochs: 2,
    batchSize: 8,
    views: 2,
    cache: path.join(tmp, `cache${runs}.sqlite`),
    ...extra,
  };
}

/** Weights of a saved model folder, by layer name. */
async function savedWeights(dir: string): Promise<Map<string, Float32Array[]>> {
  const model = await loadFinetunedLayersModel(dir, await readFinetunedMeta(dir));
  const out = new Map(model.layers.map((l) => [l.name, l.getWeights().map((w) => Float32Array.from(w.dataSync() as Float32Array))]));
  model.dispose();
  return out;
}

test('head replacement: global pooling + dropout + dense softmax with one unit per class, on every zoo model', { skip: noWeights }, async () => {
  const r = resolveFinetuneOptions(opts());
  const fm = await buildFinetuneModel(r, 3, await resolveFinetuneBackbone(r));
  assert.deepEqual(fm.model.outputs[0].shape, [null, 3]);
  assert.deepEqual(fm.headLayers.map((l) => l.name), ['global_average_pooling2d', 'dropout', 'predictions']);
  assert.deepEqual(fm.model.getLayer('predictions').getWeights()[0].shape, [256, 3]);
  const p = tf.tidy(() => (fm.model.predict(tf.randomUniform([2, SIZE, SIZE, 3], -1, 1)) as tf.Tensor).arraySync() as number[][]);
  for (const row of p) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'softmax rows sum to 1');
  assert.equal(fm.freeze.lastFrozen, 'conv_pw_11_relu');
  fm.model.dispose();
  // Registry-driven: every architecture gets the head, and its default --freeze resolves.
  for (const name of MODEL_NAMES) {
    const size = Math.max(MODELS[name].minInputSize, 32);
    const rr = resolveFinetuneOptions({ out: tmp, model: name, weights: 'random', inputSize: size });
    const m = await buildFinetuneModel(rr, 5, await resolveFinetuneBackbone(rr));
    assert.deepEqual(m.model.outputs[0].shape, [null, 5], name);
    assert.equal(m.model.getLayer('predictions').countParams(), MODELS[name].featureSize(1.0) * 5 + 5, name);
    const plan = resolveFreeze(tf.model({ inputs: m.model.inputs, outputs: m.baseLayers[m.baseLayers.length - 1].output as tf.SymbolicTensor }), name, DEFAULT_FREEZE[name]);
    assert.ok(plan.frozenLayers > 0 && plan.frozenLayers < plan.totalLayers, `${name}: default freeze leaves layers to train (${plan.description})`);
    m.model.dispose();
  }
});

test('frozen layers and every BatchNormalization statistic are bit-identical after fine-tuning; lr of phase 2 is lr/10', { skip: noWeights }, async () => {
  const o = opts({ freeze: 11, lr: 2e-3 });
  const result = await finetune(DATA, o);
  const saved = await savedWeights(o.out);
  const pretrained = await loadBackbone({ model: 'mobilenet', alpha: 0.25, weights: H5, inputSize: SIZE, pooling: 'none' });
  const frozenCount = result.meta.freeze.frozenLayers;
  assert.equal(result.meta.freeze.lastFrozen, 'conv_pw_11_relu');
  let frozenChecked = 0;
  let bnChecked = 0;
  let trainedChanged = 0;
  pretrained.model.layers.forEach((layer, i) => {
    const before = layer.getWeights().map((w) => w.dataSync() as Float32Array);
    const after = saved.get(layer.name)!;
    if (before.length === 0) return;
    if (i < frozenCount) {
      before.forEach((b, k) => assert.deepEqual(after[k], b, `${layer.name} weight ${k} changed`));
      frozenChecked++;
    } else if (layer.getClassName() === 'BatchNormalization') {
      // Trainable in phase 2, but in inference mode: gamma/beta learn, moving mean/variance stay.
      assert.deepEqual(after[2], before[2], `${layer.name} moving_mean changed`);
      assert.deepEqual(after[3], before[3], `${layer.name} moving_variance changed`);
      bnChecked++;
    } else if (!before.every((b, k) => b.every((v, j) => v === after[k][j]))) {
      trainedChanged++;
    }
  });
  assert.equal(frozenChecked, 2 + 11 * 4, 'conv1 and conv1_bn, and 4 layers with weights in each of blocks 1-11');
  assert.equal(bnChecked, 4, 'BN of blocks 12 and 13');
  assert.equal(trainedChanged, 4, 'the 4 convolutions of blocks 12-13 were trained');
  pretrained.model.dispose();
  const phases = result.meta.history.map((h) => [h.phase, h.lr]);
  assert.deepEqual(phases, [['head', 2e-3], ['finetune', 2e-4], ['finetune', 2e-4]]);
  assert.equal(result.stats.prefixMode, 'bank');
  assert.equal(result.stats.prefixComputed, 19 * 2 + 5, '19 training images x 2 views + 5 validation images');
  assert.ok(result.meta.metrics.valAccuracy! >= 0.8, `colour classes are learnt: ${result.meta.metrics.valAccuracy}`);
  assert.ok(result.meta.history[0].valLoss! > result.meta.metrics.valLoss!, 'validation loss went down');
  assert.ok(!existsSync(checkpointPath(o.out)), 'the checkpoint is removed once the model is written');
});

test('with the whole base frozen, an epoch that runs the base at every step leaves its outputs on fixed inputs unchanged', { skip: noWeights }, async () => {
  const o = opts({ freeze: 'all', headEpochs: 2, prefixCache: false });
  const base = await loadBackbone({ model: 'mobilenet', alpha: 0.25, weights: H5, inputSize: SIZE, pooling: 'avg' });
  const x = tf.randomUniform([4, SIZE, SIZE, 3], -1, 1, 'float32', 3);
  const before = (base.model.predict(x) as tf.Tensor).dataSync();
  await finetune(DATA, o);
  const trained = await loadFinetunedLayersModel(o.out, await readFinetunedMeta(o.out));
  const pooled = tf.model({ inputs: trained.inputs, outputs: trained.getLayer('global_average_pooling2d').output as tf.SymbolicTensor });
  const afterTraining = (pooled.predict(x) as tf.Tensor).dataSync();
  assert.deepEqual(afterTraining, before);
  trained.dispose();
  base.model.dispose();
  x.dispose();
});

test('BatchNormalization layers trained through (freeze none) stay in inference mode; the tfjs default would move their statistics', { skip: noWeights }, async () => {
  const o = opts({ freeze: 'none', headEpochs: 0, epochs: 1 });
  const result = await finetune(DATA, o);
  assert.equal(result.stats.prefixMode, 'none');
  const saved = await savedWeights(o.out);
  const pretrained = await loadBackbone({ model: 'mobilenet', alpha: 0.25, weights: H5, inputSize: SIZE, pooling: 'none' });
  let bn = 0;
  for (const layer of pretrained.model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const w = layer.getWeights().map((t) => t.dataSync());
    assert.deepEqual(saved.get(layer.name)![2], w[2], `${layer.name} moving_mean`);
    assert.deepEqual(saved.get(layer.name)![3], w[3], `${layer.name} moving_variance`);
    bn++;
  }
  assert.equal(bn, 27);
  assert.notDeepEqual(saved.get('conv1')![0], pretrained.model.getLayer('conv1').getWeights()[0].dataSync(), 'the first convolution trained');
  // Control: tfjs' BatchNormalization with training=true updates its moving mean even when frozen.
  const layer = pretrained.model.getLayer('conv1_bn');
  layer.trainable = false;
  const mean = layer.getWeights()[2].dataSync().slice();
  tf.tidy(() => {
    layer.apply(tf.randomUniform([2, SIZE / 2, SIZE / 2, 8], 0, 5), { training: true });
  });
  assert.notDeepEqual(layer.getWeights()[2].dataSync(), mean);
  pretrained.model.dispose();
});

test('a second run reads the frozen layers from the cache and gives the same model (seeded)', { skip: noWeights }, async () => {
  const cache = path.join(tmp, 'shared-cache.sqlite');
  const a = await finetune(DATA, opts({ cache, freeze: 9 }));
  const b = await finetune(DATA, opts({ cache, freeze: 9 }));
  assert.ok(a.stats.prefixComputed > 0);
  assert.equal(b.stats.prefixComputed, 0, 'everything from the cache');
  assert.deepEqual(b.meta.history.map((h) => h.valLoss), a.meta.history.map((h) => h.valLoss));
  const wa = await savedWeights(a.out);
  const wb = await savedWeights(b.out);
  assert.deepEqual(wb.get('predictions'), wa.get('predictions'));
  assert.deepEqual(wb.get('conv_pw_13'), wa.get('conv_pw_13'));
});

test('views: each epoch draws one of the bank\'s views; --views-refresh draws a new bank every N epochs', { skip: noWeights }, async () => {
  const fixed = await finetune(DATA, opts({ freeze: 11, headEpochs: 1, epochs: 2 }));
  assert.equal(fixed.stats.prefixComputed, 19 * 2 + 5, 'one bank of 2 views per training image, one plain view per validation image');
  const refreshed = await finetune(DATA, opts({ freeze: 11, headEpochs: 1, epochs: 2, viewsRefresh: 1 }));
  // head epoch 1 and finetune epoch 1 use generation 0 (views 0, 1); finetune epoch 2 generation 1 (views 2, 3).
  assert.equal(refreshed.stats.prefixComputed, 19 * 2 * 2 + 5);
  const none = await finetune(DATA, opts({ freeze: 11, headEpochs: 1, epochs: 1, augment: 'none' }));
  assert.equal(none.stats.prefixComputed, 24, 'without augmentation every image has its one plain view');
});

test('micro-batches: a batch larger than the memory budget allows gives the same steps as one batch', { skip: noWeights }, async () => {
  const whole = await finetune(DATA, opts({ freeze: 'none', headEpochs: 0, epochs: 1, augment: 'none' }));
  const split = await finetune(DATA, opts({ freeze: 'none', headEpochs: 0, epochs: 1, augment: 'none', memoryBudgetMB: 1 }));
  assert.equal(whole.stats.microBatch, 8);
  assert.ok(split.stats.microBatch < 8, `micro-batch ${split.stats.microBatch}`);
  // The summed gradients equal the batch's up to float rounding; Adam turns rounding of
  // near-zero gradients into at most 2*lr per step, so losses match and weights stay within that.
  const [a, b] = [whole.meta.history[0], split.meta.history[0]];
  assert.ok(Math.abs(a.loss - b.loss) < 1e-4, `training loss ${a.loss} vs ${b.loss}`);
  assert.ok(Math.abs(a.valLoss! - b.valLoss!) < 1e-3, `validation loss ${a.valLoss} vs ${b.valLoss}`);
  const wa = (await savedWeights(whole.out)).get('conv_pw_13')![0];
  const wb = (await savedWeights(split.out)).get('conv_pw_13')![0];
  let worst = 0;
  wa.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - wb[i]))));
  assert.ok(worst <= 2 * 1e-4 * 3, `weights differ by ${worst}`);
});

test('from scratch: weights none trains every layer with BatchNormalization in training mode; smallcnn too', { skip: noWeights }, async () => {
  const r = await finetune(DATA, opts({ weights: 'none', epochs: 1 }));
  assert.deepEqual([...new Set(r.meta.history.map((h) => h.phase))], ['scratch']);
  assert.equal(r.meta.history[0].lr, 1e-3);
  const saved = await savedWeights(r.out);
  const mean = saved.get('conv1_bn')![2];
  assert.ok(mean.some((v) => v !== 0), 'moving mean moved from its initial zeros');
  const s = await finetune(DATA, opts({ model: 'smallcnn', alpha: undefined, weights: undefined, epochs: 2 }));
  assert.equal(s.meta.architecture, 'smallcnn');
  assert.equal(s.meta.weights, 'none');
  assert.equal(s.meta.history.length, 2);

  // A smallcnn trained by ftk as the pretrained base of another: its convolutions are loaded (kept
  // bit-identical with freeze 'all'), the head is new, and it trains in two phases; any input size.
  const t = await finetune(DATA, opts({ model: 'smallcnn', alpha: undefined, weights: s.out, inputSize: 48, freeze: 'all', headEpochs: 2, epochs: 1 }));
  assert.deepEqual([...new Set(t.meta.history.map((h) => h.phase))], ['head']);
  assert.equal(t.meta.preprocessing.inputSize, 48);
  const [from, to] = [await savedWeights(s.out), await savedWeights(t.out)];
  for (const layer of ['conv2d', 'conv2d_1', 'conv2d_2']) assert.deepEqual(to.get(layer), from.get(layer), `${layer} loaded and frozen`);
  assert.notDeepEqual(to.get('dense'), from.get('dense'), 'the head is new');
  const u = await finetune(DATA, opts({ model: 'smallcnn', alpha: undefined, weights: s.out, headEpochs: 1, epochs: 1 }));
  assert.deepEqual(u.meta.history.map((h) => [h.phase, h.lr]), [['head', 1e-3], ['finetune', 1e-4]]);
  await assert.rejects(finetune(DATA, opts({ model: 'smallcnn', alpha: undefined, weights: r.out })), /a smallcnn starts from a smallcnn model folder; this one holds a mobilenet/);
});

test('cross-validation: k folds, then a refit on every image for the folds mean best epochs', { skip: noWeights }, async () => {
  const r = await finetune(DATA, opts({ folds: 2, headEpochs: 4, freeze: 'all', lr: 0.01 }));
  const cv = r.meta.metrics.cv!;
  assert.equal(cv.folds, 2);
  assert.equal(cv.accuracies.length, 2);
  assert.ok(cv.meanAccuracy >= 0.8, `mean accuracy ${cv.meanAccuracy}`);
  const refit = r.meta.history.filter((h) => h.stage.startsWith('refit'));
  assert.equal(refit.length, Math.max(1, Math.round((cv.bestEpochs.head[0] + cv.bestEpochs.head[1]) / 2)));
  assert.equal(r.meta.metrics.trainImages, 24);
  assert.equal(r.meta.metrics.valAccuracy, undefined);
});

test('bad input: one class, a missing --freeze layer, a batch larger than the training set: clear errors', { skip: noWeights }, async () => {
  const one = await colourDataset(path.join(tmp, 'one-class'), 4, 40, ['a']);
  await assert.rejects(finetune(one, opts()), (e: Error & { code?: string; suggestion?: string }) => e.code === 'DATASET_ONE_CLASS' && /at least 2 classes/.test(e.message) && /folder per class/.test(e.suggestion!));
  await assert.rejects(finetune(DATA, opts({ freeze: 'conv_pw_11_relux' })), (e: Error & { code?: string; suggestion?: string }) => e.code === 'FREEZE_LAYER_UNKNOWN' && /no layer "conv_pw_11_relux"/.test(e.message) && /conv_pw_11_relu/.test(e.suggestion!));
  await assert.rejects(finetune(DATA, opts({ batchSize: 64 })), (e: Error & { code?: string }) => e.code === 'BATCH_TOO_LARGE' && /batch size 64 is larger than the 19 training images/.test(e.message));
  await assert.rejects(finetune(DATA, opts({ freeze: 14 })), /mobilenet has blocks 0 \(stem\) to 13\. Received 14/);
  await assert.rejects(finetune(DATA, opts({ val: 0.2, folds: 3 })), /--val and --folds are exclusive/);
  await assert.rejects(finetune(DATA, opts({ model: 'smallcnn', weights: H5 })), /smallcnn has no published weights/);
});

test('nothing lost: a corrupt checkpoint is an error and stays as it was; an unfinished run or a model is not overwritten silently', { skip: noWeights }, async () => {
  const o = opts();
  await fsp.mkdir(o.out, { recursive: true });
  const bytes = Buffer.concat([Buffer.from('FTKCKPT1'), Buffer.alloc(100, 7)]);
  await fsp.writeFile(checkpointPath(o.out), bytes);
  await assert.rejects(finetune(DATA, { ...o, resume: true }), (e: Error & { code?: string }) => e.code === 'CHECKPOINT_CORRUPT' && /checksum mismatch/.test(e.message));
  assert.deepEqual(await fsp.readFile(checkpointPath(o.out)), bytes);
  await assert.rejects(finetune(DATA, o), (e: Error & { code?: string }) => e.code === 'RUN_UNFINISHED');
  assert.deepEqual(await fsp.readFile(checkpointPath(o.out)), bytes);
  assert.ok(!existsSync(path.join(o.out, 'ftk.json')));
  await assert.rejects(finetune(DATA, { ...opts(), out: path.join(tmp, 'nowhere'), resume: true }), (e: Error & { code?: string }) => e.code === 'CHECKPOINT_MISSING');
  const done = await finetune(DATA, { ...o, overwrite: true, epochs: 1 });
  await assert.rejects(finetune(DATA, { ...o, epochs: 1 }), (e: Error & { code?: string }) => e.code === 'MODEL_EXISTS');
  assert.ok(existsSync(done.files.meta));
});
