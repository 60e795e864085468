import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { needSharedWeights, SHARED_H5 } from './helpers/requires.js';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { WeightsError } from '../src/errors.js';
import { MobileNet } from '../src/models/mobilenet.js';
import { loadWeights, readKerasH5 } from '../src/models/weights.js';
import { selectBackend } from '../src/runtime/backend.js';

const SHARED_SHA256 = 'dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ftk-weights-'));

await selectBackend({ backend: 'wasm' });

test('the shared Keras MobileNet 0.25 file loads by name into MobileNet(alpha=0.25, no top)', { skip: needSharedWeights() }, async () => {
  const model = MobileNet({ alpha: 0.25, includeTop: false, pooling: 'avg' });
  assert.equal(model.countParams(), 218_544);
  const sha = await loadWeights(model, SHARED_H5);
  assert.equal(sha, SHARED_SHA256);
  const file = await readKerasH5(SHARED_H5);
  const gamma = file.layers.get('conv_pw_13_bn')!.find((w) => w.name === 'gamma')!;
  const loaded = model.getLayer('conv_pw_13_bn').getWeights()[0].dataSync();
  assert.deepEqual(Array.from(loaded), Array.from(gamma.values));
  model.dispose();
});

test('a weight file of another width (alpha) names the first mismatching weight and its shapes', { skip: needSharedWeights() }, async () => {
  const model = MobileNet({ alpha: 0.5, includeTop: false });
  await assert.rejects(loadWeights(model, SHARED_H5), (err: WeightsError) => {
    assert.ok(err instanceof WeightsError);
    assert.equal(err.code, 'WEIGHTS_SHAPE');
    assert.match(err.message, /conv1\/kernel.*\[3, 3, 3, 8\].*\[3, 3, 3, 16\]/);
    return true;
  });
  model.dispose();
});

test('a no-top file loaded into a model with the top reports the missing layer', { skip: needSharedWeights() }, async () => {
  const model = MobileNet({ alpha: 0.25, includeTop: true, classes: 10 });
  await assert.rejects(loadWeights(model, SHARED_H5), (err: WeightsError) => err.code === 'WEIGHTS_MISSING_LAYER' && /conv_preds/.test(err.message));
  model.dispose();
});

test('truncated and non-HDF5 files are WeightsErrors, not crashes', { skip: needSharedWeights() }, async () => {
  const truncated = path.join(tmp, 'truncated.h5');
  writeFileSync(truncated, readFileSync(SHARED_H5).subarray(0, 300_000));
  const model = MobileNet({ alpha: 0.25, includeTop: false });
  await assert.rejects(loadWeights(model, truncated), (err: unknown) => err instanceof WeightsError && err.message.includes(truncated));
  const text = path.join(tmp, 'text.h5');
  writeFileSync(text, 'not hdf5 at all');
  await assert.rejects(loadWeights(model, text), (err: WeightsError) => err.code === 'WEIGHTS_NOT_HDF5');
  await assert.rejects(loadWeights(model, path.join(tmp, 'missing.h5')), (err: WeightsError) => err.code === 'WEIGHTS_NOT_FOUND');
  model.dispose();
});

test('TF.js layers model.json round trip, and a missing shard is named', async () => {
  const source = MobileNet({ alpha: 0.25, includeTop: false, inputShape: [64, 64, 3] });
  const dir = path.join(tmp, 'tfjs');
  await source.save(tf.io.withSaveHandler(async (artifacts) => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer));
    writeFileSync(
      path.join(dir, 'model.json'),
      JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] }),
    );
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const target = MobileNet({ alpha: 0.25, includeTop: false, inputShape: [64, 64, 3] });
  await loadWeights(target, path.join(dir, 'model.json'));
  const a = source.getLayer('conv_dw_5').getWeights()[0].dataSync();
  const b = target.getLayer('conv_dw_5').getWeights()[0].dataSync();
  assert.deepEqual(Array.from(b), Array.from(a));
  const { unlinkSync } = await import('node:fs');
  unlinkSync(path.join(dir, 'weights.bin'));
  await assert.rejects(loadWeights(target, dir), (err: WeightsError) => err.code === 'WEIGHTS_SHARD_MISSING' && err.message.includes('weights.bin'));
  source.dispose();
  target.dispose();
});

test('files with Keras 1 weight names (VGG: block1_conv1_W_1:0) load by position within the layer, shapes checked', async () => {
  const { assignWeights } = await import('../src/models/weights.js');
  const source = MobileNet({ alpha: 0.25, includeTop: false, inputShape: [32, 32, 3] });
  const layers = new Map(
    source.layers
      .filter((l) => l.weights.length > 0)
      .map((l) => [l.name, l.getWeights().map((t, i) => ({ name: `${l.name}_W_${i + 1}`, shape: [...t.shape], values: t.dataSync() as Float32Array }))]),
  );
  const target = MobileNet({ alpha: 0.25, includeTop: false, inputShape: [32, 32, 3] });
  assignWeights(target, { layers, sha256: 'x', format: 'keras-h5' }, 'vgg-style.h5');
  assert.deepEqual(Array.from(target.getLayer('conv_pw_3_bn').getWeights()[2].dataSync()), Array.from(source.getLayer('conv_pw_3_bn').getWeights()[2].dataSync()));
  const bad = new Map(layers);
  bad.set('conv1', [{ name: 'conv1_W_1', shape: [3, 3, 3, 9], values: new Float32Array(243) }]);
  assert.throws(() => assignWeights(target, { layers: bad, sha256: 'x', format: 'keras-h5' }, 'vgg-style.h5'), /conv1\/kernel.*\[3, 3, 3, 9\]/);
  source.dispose();
  target.dispose();
});

test('a file whose layer names differ (older Keras conversions) loads by layer order when the counts match, with a notice', async () => {
  const { assignWeights } = await import('../src/models/weights.js');
  const source = MobileNet({ alpha: 0.25, includeTop: false, inputShape: [32, 32, 3] });
  const layers = new Map(
    source.layers
      .filter((l) => l.weights.length > 0)
      .map((l, i) => [`mobl_${i}`, l.getWeights().map((t, k) => ({ name: `w${k}`, shape: [...t.shape], values: t.dataSync() as Float32Array }))]),
  );
  const target = MobileNet({ alpha: 0.25, includeTop: false, inputShape: [32, 32, 3] });
  const notices: string[] = [];
  assignWeights(target, { layers, sha256: 'x', format: 'keras-h5' }, 'old.h5', { onNotice: (m) => notices.push(m) });
  assert.equal(notices.length, 1);
  assert.deepEqual(Array.from(target.getLayer('conv_dw_13').getWeights()[0].dataSync()), Array.from(source.getLayer('conv_dw_13').getWeights()[0].dataSync()));
  layers.delete('mobl_0');
  assert.throws(() => assignWeights(target, { layers, sha256: 'x', format: 'keras-h5' }, 'old.h5'), (err: WeightsError) => err.code === 'WEIGHTS_EXTRA_LAYER');
  source.dispose();
  target.dispose();
});
