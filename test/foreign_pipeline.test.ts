/**
 * `--model tfjs:<folder>` (a hand-written TF.js graph model and a zoo model saved as a TF.js layers
 * folder) against TF.js layers models computing the same function (within 1e-4), and the whole
 * path of a foreign backbone: SVM on `onnx:` features, `predict` re-extracting with the recorded
 * backbone and preprocessing, `ftk auto` taking the SVM path and saying why, its bundle.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { auto } from '../src/auto/auto.js';
import { svmFit } from '../src/classify/commands.js';
import { decodeImage } from '../src/data/decode.js';
import { finetune } from '../src/finetune/finetune.js';
import { extractFeatures, type ExtractOptions } from '../src/extract/extract.js';
import { writeFeatures } from '../src/extract/features_file.js';
import { resolveBackbone } from '../src/models/backbone.js';
import { MobileNet } from '../src/models/mobilenet.js';
import { preprocessPixels } from '../src/models/preprocess.js';
import { describeTfjsModel } from '../src/models/tfjs_backbone.js';
import { predict } from '../src/predict/predict.js';
import { selectBackend } from '../src/runtime/backend.js';
import { exportOnnx } from '../src/runtime/onnx_export.js';
import { saveLayersModel, seedWeights, withNchwInput, writeTinyGraphModel, relDiff } from './helpers/foreign_models.js';
import { writeTree } from './helpers/images.js';
import { tempHome } from './helpers/home.js';

await selectBackend({ backend: 'wasm' });
// Exported ONNX graphs, downloaded weights and the feature cache stay in the temp dir.
const tmp = await tempHome('ftk-foreign-');

const RTOL = 1e-4;
const DATA = path.join(tmp, 'colours');
const GRAPH = path.join(tmp, 'graph');
const LAYERS = path.join(tmp, 'layers');
const ONNX = path.join(tmp, 'mobilenet_nchw.onnx');
let reference: tf.LayersModel;

before(async () => {
  // Two classes told apart by colour, with noise: 10 images each.
  const files: Record<string, Buffer> = {};
  for (const [cls, rgb] of [['red', [200, 40, 40]], ['blue', [40, 40, 200]]] as const) {
    for (let i = 0; i < 10; i++) {
      const px = Buffer.alloc(40 * 48 * 3);
      for (let j = 0; j < px.length; j++) px[j] = Math.max(0, Math.min(255, rgb[j % 3] + (((j * 7919 + i * 104729) % 61) - 30)));
      files[`${cls}/${i}.png`] = await sharp(px, { raw: { width: 48, height: 40, channels: 3 } }).png().toBuffer();
    }
  }
  await writeTree(DATA, files);
  reference = (await writeTinyGraphModel(GRAPH, 32, 5)).reference;
  const mobilenet = MobileNet({ includeTop: false, weights: null, alpha: 0.25, inputShape: [64, 64, 3] });
  seedWeights(mobilenet, 11);
  await saveLayersModel(mobilenet, LAYERS);
  await fsp.writeFile(ONNX, withNchwInput(exportOnnx(mobilenet).bytes, 64));
  mobilenet.dispose();
});

const run = (options: ExtractOptions) => extractFeatures(DATA, { cache: false, decodeWorkers: 0, ...options });

/** The reference model's pooled output at `layer` on the dataset's images, decoded as ftk decodes them. */
async function expectedGraphFeatures(files: string[], layer: string, pooling: 'avg' | 'max'): Promise<Float32Array> {
  const sub = tf.model({ inputs: reference.inputs, outputs: reference.getLayer(layer).output as tf.SymbolicTensor });
  const rows: number[] = [];
  for (const f of files) {
    const px = preprocessPixels((await decodeImage(path.join(DATA, f), { size: 32, crop: 'squash' })).pixels, 'tf');
    const y = tf.tidy(() => {
      const out = sub.predict(tf.tensor4d(px, [1, 32, 32, 3])) as tf.Tensor;
      return pooling === 'avg' ? out.mean([1, 2]) : out.max([1, 2]);
    });
    rows.push(...(y.dataSync() as Float32Array));
    y.dispose();
  }
  return Float32Array.from(rows);
}

test('tfjs: graph model: output and an intermediate node equal the equivalent layers model within 1e-4', async (t) => {
  const out = await run({ model: `tfjs:${GRAPH}`, preprocess: 'tf' });
  assert.deepEqual(out.meta.shape, [20, 12]);
  assert.equal(out.stats.runtime, 'tfjs');
  assert.equal(out.meta.model.external?.format, 'tfjs-graph');
  const diff = relDiff(out.features, await expectedGraphFeatures(out.meta.files, 'pw', 'avg'));
  t.diagnostic(`graph output: max relative difference ${diff.toExponential(2)}`);
  assert.ok(diff <= RTOL);
  const mid = await run({ model: `tfjs:${path.join(GRAPH, 'model.json')}`, layer: 'conv1/Relu', pooling: 'max', preprocess: 'tf' });
  assert.deepEqual(mid.meta.shape, [20, 8]);
  assert.ok(relDiff(mid.features, await expectedGraphFeatures(mid.meta.files, 'conv1', 'max')) <= RTOL);
});

test('tfjs: graph model errors and listing: unknown node with nearest names, --runtime onnx refused, nodes with shapes', async () => {
  await assert.rejects(resolveBackbone({ model: `tfjs:${GRAPH}`, layer: 'dw/relu6', preprocess: 'tf' }), (err: any) => {
    assert.equal(err.code, 'LAYER_UNKNOWN');
    assert.match(err.suggestion, /Nearest names: dw\/Relu6/);
    return true;
  });
  await assert.rejects(resolveBackbone({ model: `tfjs:${GRAPH}` }), { code: 'PREPROCESS_REQUIRED' });
  await assert.rejects(run({ model: `tfjs:${GRAPH}`, preprocess: 'tf', runtime: 'onnx' }), { code: 'RUNTIME_UNAVAILABLE' });
  await assert.rejects(resolveBackbone({ model: `tfjs:${path.join(tmp, 'nothing')}`, preprocess: 'tf' }), { code: 'TFJS_NOT_FOUND' });
  const listing = await describeTfjsModel(GRAPH);
  assert.equal(listing.format, 'graph-model');
  assert.deepEqual(
    listing.tensors.filter((t) => ['conv1/Relu', 'dw/Relu6', 'Identity'].includes(t.name)).map((t) => [t.name, t.shape, t.features, t.isOutput]),
    [
      ['conv1/Relu', [1, 16, 16, 8], 8, false],
      ['dw/Relu6', [1, 16, 16, 8], 8, false],
      ['Identity', [1, 16, 16, 12], 12, true],
    ],
  );
});

test('tfjs: layers model (a zoo model saved by TF.js) gives the zoo model\'s features, on ONNX Runtime and on TF.js', async (t) => {
  const zoo = await run({ model: 'mobilenet', alpha: 0.25, weights: path.join(LAYERS, 'model.json'), inputSize: 64, runtime: 'tfjs' });
  for (const runtime of ['onnx', 'tfjs'] as const) {
    const out = await run({ model: `tfjs:${LAYERS}`, preprocess: 'tf', runtime });
    assert.equal(out.meta.model.external?.format, 'tfjs-layers');
    assert.equal(out.stats.runtime, runtime);
    const diff = relDiff(out.features, zoo.features);
    t.diagnostic(`tfjs: layers on ${runtime}: max relative difference ${diff.toExponential(2)}`);
    assert.ok(diff <= RTOL, runtime);
  }
});

test('tfjs: layers model fine-tunes (head on its last layer, first 80% frozen) and predicts; onnx: and graph models are refused', async () => {
  const out = path.join(tmp, 'finetuned');
  const notices: string[] = [];
  const r = await finetune(DATA, { out, model: `tfjs:${LAYERS}`, preprocess: 'tf', headEpochs: 2, epochs: 1, batchSize: 8, views: 1, augment: 'none', cache: false, onNotice: (m) => notices.push(m) });
  assert.equal(r.meta.architecture, `tfjs:${LAYERS}`);
  assert.equal(r.meta.preprocessing.mode, 'tf');
  assert.equal(r.meta.preprocessing.inputSize, 64);
  assert.match(r.meta.freeze.description, /^the first \d+ of \d+ layers \(0\.8\)/);
  assert.equal(r.meta.backbone?.external?.format, 'tfjs-layers');
  assert.deepEqual([...new Set(r.meta.history.map((e) => e.phase))], ['head', 'finetune']);
  assert.ok(notices.some((m) => /^Fine-tuning tfjs:.*frozen the first/.test(m)), notices.join('\n'));
  const predicted = await predict(out, [path.join(DATA, 'red', '1.png')]);
  assert.ok('label' in predicted.predictions[0] && ['red', 'blue'].includes(predicted.predictions[0].label ?? ''));
  await assert.rejects(finetune(DATA, { out: path.join(tmp, 'x'), model: `onnx:${ONNX}`, preprocess: 'tf' }), (err: any) => /ONNX model cannot be fine-tuned/.test(err.message) && /svm/.test(err.suggestion));
  await assert.rejects(finetune(DATA, { out: path.join(tmp, 'y'), model: `tfjs:${GRAPH}`, preprocess: 'tf' }), { code: 'BACKBONE_NOT_LAYERS' });
  await assert.rejects(finetune(DATA, { out: path.join(tmp, 'z'), model: 'mobilenet', preprocess: 'tf' }), { code: 'FINETUNE_BAD_OPTION' });
});

test('SVM on onnx: features predicts images through the recorded backbone and preprocessing; ftk auto takes the SVM path and says why', { timeout: 300_000 }, async () => {
  const options = { model: `onnx:${ONNX}`, preprocess: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, cache: path.join(tmp, 'cache.sqlite') };
  const extracted = await extractFeatures(DATA, { ...options, decodeWorkers: 0 });
  const prefix = path.join(tmp, 'feats');
  await writeFeatures(prefix, extracted.features, extracted.meta);
  const modelFile = path.join(tmp, 'svm.json');
  await svmFit(prefix, { kernel: 'linear', C: 1, out: modelFile });
  const saved = JSON.parse(readFileSync(modelFile, 'utf8'));
  assert.deepEqual(saved.backbone.preprocessing, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], scale: 1 / 255, channels: 'rgb' });
  assert.equal(saved.backbone.weights, ONNX);
  const images = [path.join(DATA, 'red', '3.png'), path.join(DATA, 'blue', '4.png')];
  const predicted = await predict(modelFile, images);
  assert.deepEqual(predicted.predictions.map((p) => ('label' in p ? p.label : p.error)), ['red', 'blue']);
  assert.match(predicted.model.description, /mobilenet_nchw\.onnx \(onnx\)/);

  const env = { ...process.env, FTK_HOME: path.join(tmp, 'home'), FTK_DEV: '1' };
  const cli = spawnSync(process.execPath, [path.resolve('bin/ftk.js'), 'predict', modelFile, ...images, '--json'], { env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout).predictions.map((p: { label: string }) => p.label), ['red', 'blue']);

  const stages: string[] = [];
  const out = path.join(tmp, 'run');
  const r = await auto(DATA, { out, model: `onnx:${ONNX}`, preprocess: 'tf', folds: 2, budget: 10, curveFractions: [0.25, 0.5, 1], candidates: 'quick', cache: options.cache, onStage: (m) => stages.push(m) });
  assert.equal(r.run.decision.chosen, 'svm');
  assert.deepEqual(r.run.paths!.map((p) => p.path), ['svm']);
  assert.ok(stages.some((s) => /Only the feature path can run: .*ONNX Runtime for Node has no training/.test(s)), stages.join('\n'));
  assert.ok(r.run.decision.reasons.some((s) => /ONNX model and ONNX Runtime for Node has no training/.test(s)));
  assert.equal(r.run.backbone?.preprocessing, 'tf');
  // The bundle serves its SVM with the recorded backbone: the same probabilities as the inner model file.
  const fromBundle = await predict(r.bundle, images);
  const inner = await predict(path.join(r.bundle, 'svm.json'), images);
  assert.ok(fromBundle.predictions.every((p) => 'label' in p && ['red', 'blue'].includes(p.label ?? '')));
  assert.deepEqual(fromBundle.predictions, inner.predictions);
  const html = readFileSync(r.report.html, 'utf8');
  assert.match(html, /preprocessing tf/);
});
