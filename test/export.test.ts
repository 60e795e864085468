/**
 * `ftk export` to ONNX (src/export) against ftk's own predictions, for every kind of classifier:
 * SVM models (RBF + Platt probabilities, linear + one-vs-one vote with a centre crop and l2
 * scaler, three classes with pairwise coupling), a fine-tuned model folder, an auto bundle. The
 * exported file runs in onnxruntime-node (`predict()` on the .onnx, the same sharp-decoded pixels)
 * and must give the same labels and probabilities within 1e-4. Also: the graph's resize against
 * src/data/resize.ts, the metadata, `--format tfjs`, and the errors for a missing or changed
 * backbone, a corrupt model and an unsupported layer (no file left behind).
 *
 * Small and fast: random-weight MobileNet 0.25 at 64x64, synthetic photos of odd sizes. The
 * backbone-file errors use the shared Keras weights (skipped where ../shared is missing; CI fails).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { SvmClassifier } from '../src/classify/svm.js';
import { centerCropBox, resizeBilinear } from '../src/data/resize.js';
import { ExportError } from '../src/errors.js';
import { buildClassifierOnnx, exportClassifier } from '../src/export/export.js';
import { ClassifierGraph, ElemType, valueInfo } from '../src/export/graph.js';
import { addImageInput } from '../src/export/image_input.js';
import { exportTfjs } from '../src/export/tfjs.js';
import { extractFeatures } from '../src/extract/extract.js';
import { finetune } from '../src/finetune/finetune.js';
import { readFinetunedMeta, saveFinetunedModel } from '../src/finetune/format.js';
import { predict, type ImagePrediction } from '../src/predict/predict.js';
import { selectBackend } from '../src/runtime/backend.js';
import { loadOnnxRuntime } from '../src/runtime/onnx_engine.js';
import { encodeModel, IR_VERSION } from '../src/runtime/onnx_proto.js';
import { readOnnxSummary } from '../src/runtime/onnx_graph.js';
import { tempHome } from './helpers/home.js';
import { requireInput } from './helpers/requires.js';

await selectBackend({ backend: 'wasm' });
const tmp = await tempHome('ftk-export-');
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const noH5 = requireInput('../shared/models/mobilenet_2_5_224_tf_no_top.h5', existsSync(H5));

let s = 7;
const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
/** A noisy, smoothly shaded image of one colour family, odd sizes, PNG or JPEG. */
async function photo(file: string, base: number[], w: number, h: number): Promise<void> {
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < 3; k++) data[(y * w + x) * 3 + k] = Math.max(0, Math.min(255, base[k] + 60 * Math.sin((x + 3 * k) / 5) * Math.cos(y / 7) + (rnd() - 0.5) * 120));
    }
  }
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const img = sharp(data, { raw: { width: w, height: h, channels: 3 } });
  await (file.endsWith('.jpg') ? img.jpeg({ quality: 90 }) : img.png()).toFile(file);
}
const COLOURS: Record<string, number[]> = { blue: [50, 70, 200], green: [60, 190, 70], red: [200, 60, 50] };
const sizes = [
  [40, 40],
  [57, 33],
  [31, 66],
  [90, 71],
  [64, 64],
];
async function dataset(root: string, classes: string[], perClass: number): Promise<void> {
  for (const c of classes) for (let i = 0; i < perClass; i++) await photo(path.join(root, c, `${i}.${i % 2 ? 'jpg' : 'png'}`), COLOURS[c], sizes[i % 5][0], sizes[i % 5][1]);
}
const train2 = path.join(tmp, 'train2');
const train3 = path.join(tmp, 'train3');
const photos = path.join(tmp, 'photos');
await dataset(train2, ['blue', 'red'], 10);
await dataset(train3, ['blue', 'green', 'red'], 8);
for (let i = 0; i < 12; i++) await photo(path.join(photos, `${i}.${i % 3 ? 'jpg' : 'png'}`), COLOURS[['blue', 'green', 'red'][i % 3]], 20 + 13 * i, 90 - 5 * i);

const backbone = { model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: 64 } as const;

async function svmModel(root: string, file: string, opts: Record<string, unknown>, extract: Record<string, unknown> = {}): Promise<string> {
  const r = await extractFeatures(root, { ...backbone, cache: false, ...extract });
  const clf = await new SvmClassifier(opts).fit({ data: r.features, rows: r.meta.shape[0], cols: r.meta.shape[1] }, r.meta.labels);
  clf.classNames = r.meta.classes;
  clf.backbone = r.meta.model;
  await fsp.writeFile(file, JSON.stringify(clf.toJSON()));
  clf.dispose();
  return file;
}

/** Exports `model`, predicts the photos with both, returns the largest probability difference. */
async function compare(model: string, name: string): Promise<{ maxDiff: number; onnx: string }> {
  const onnx = path.join(tmp, `${name}.onnx`);
  await exportClassifier(model, onnx);
  const files = (await fsp.readdir(photos)).sort().map((f) => path.join(photos, f));
  const a = await predict(model, files);
  const b = await predict(onnx, files);
  assert.deepEqual(b.model.classes, a.model.classes);
  let maxDiff = 0;
  a.predictions.forEach((p, i) => {
    const q = b.predictions[i] as ImagePrediction;
    assert.ok(!('error' in p) && !('error' in q), `${p.file} predicted by both`);
    assert.equal(q.label, (p as ImagePrediction).label, `${p.file}: same label`);
    for (const c of a.model.classes) maxDiff = Math.max(maxDiff, Math.abs((p as ImagePrediction).probabilities[c] - q.probabilities[c]));
  });
  process.stderr.write(`${name}: ${files.length} images, same labels, largest probability difference ${maxDiff.toExponential(2)}\n`);
  return { maxDiff, onnx };
}

test('RBF SVM with Platt probabilities (standardize scaler): same labels, probabilities within 1e-4', async () => {
  const model = await svmModel(train2, path.join(tmp, 'rbf.json'), { kernel: 'rbf', C: 10, probability: true, scaler: 'standardize' });
  const { maxDiff, onnx } = await compare(model, 'rbf');
  assert.ok(maxDiff <= 1e-4, `max |p_onnx - p_ftk| = ${maxDiff}`);
  const summary = readOnnxSummary(new Uint8Array(await fsp.readFile(onnx)));
  assert.equal(summary.opsets[''], 13);
  assert.deepEqual(Object.keys(summary.opsets), ['']);
  assert.deepEqual(JSON.parse(summary.metadata['ftk.classes']), ['blue', 'red']);
  for (const key of ['ftk.version', 'ftk.backbone_fingerprint', 'ftk.training', 'ftk.input']) assert.ok(summary.metadata[key], key);
  assert.equal(JSON.parse(summary.metadata['ftk.input']).type, 'uint8');
  assert.deepEqual(summary.inputs.map((i) => [i.name, i.elemType, i.dims]), [['pixels', ElemType.UINT8, ['batch', 'height', 'width', 3]]]);
  assert.deepEqual(summary.outputs.map((o) => o.name), ['probabilities', 'label']);
});

test('linear SVM, l2 scaler, centre crop, no probabilities (one-vs-one vote): same one-hot results', async () => {
  const model = await svmModel(train2, path.join(tmp, 'linear.json'), { kernel: 'linear', C: 1, scaler: 'l2' }, { crop: 'center' });
  const { maxDiff } = await compare(model, 'linear');
  assert.equal(maxDiff, 0);
});

test('three classes: RBF SVM with pairwise coupling on power-normalized features (sqrt-standardize), probabilities within 1e-4', async () => {
  const model = await svmModel(train3, path.join(tmp, 'three.json'), { kernel: 'rbf', C: 3, probability: true, scaler: 'sqrt-standardize' });
  assert.equal(JSON.parse(await fsp.readFile(model, 'utf8')).scaler.kind, 'sqrt-standardize');
  const { maxDiff } = await compare(model, 'three');
  assert.ok(maxDiff <= 1e-4, `max |p_onnx - p_ftk| = ${maxDiff}`);
});

test('an SVM model with a temperature calibration (src/trust): the export applies it as predictProba does', async () => {
  const base = JSON.parse(await fsp.readFile(await svmModel(train3, path.join(tmp, 'three_t.json'), { kernel: 'rbf', C: 3, probability: true }), 'utf8'));
  const reliability = { ece: 0, bins: 15, count: [], confidence: [], accuracy: [], nll: 0 };
  // T = 0.5 sharpens the probabilities a lot: a graph that ignored it would differ by far more than 1e-4.
  base.calibration = { method: 'temperature', temperature: 0.5, fittedOn: 'out-of-fold', before: reliability, after: reliability };
  const model = path.join(tmp, 'three_t.json');
  await fsp.writeFile(model, JSON.stringify(base));
  const { maxDiff } = await compare(model, 'three_t');
  assert.ok(maxDiff <= 1e-4, `max |p_onnx - p_ftk| = ${maxDiff}`);
});

// Real weights where they exist: random MobileNet features barely vary, which would make the
// fine-tuned model's outputs nearly constant and the comparison weak.
const finetuned = path.join(tmp, 'finetuned');
await finetune(train2, { out: finetuned, ...backbone, weights: noH5 ? 'random' : H5, headEpochs: 3, epochs: 1, freeze: 'all', lr: 0.01, batchSize: 8, onNotice: (m: string) => m.startsWith('skipped') && process.stderr.write(m + '\n') } as never);

test('fine-tuned model folder: same labels, probabilities within 1e-4', async () => {
  const { maxDiff, onnx } = await compare(finetuned, 'finetuned');
  assert.ok(maxDiff <= 1e-4, `max |p_onnx - p_ftk| = ${maxDiff}`);
  const p = await predict(onnx, [photos]);
  const first = p.predictions.map((q) => (q as ImagePrediction).probabilities.blue);
  assert.ok(Math.max(...first) - Math.min(...first) > 0.01, `the outputs vary from photo to photo (${Math.min(...first)}..${Math.max(...first)})`);
});

test('auto bundle (SVM inside): same as the bundle, kind and reasons in the metadata', async () => {
  const bundle = path.join(tmp, 'run', 'bundle');
  await fsp.mkdir(bundle, { recursive: true });
  const svm = JSON.parse(await fsp.readFile(path.join(tmp, 'rbf.json'), 'utf8'));
  await fsp.writeFile(path.join(bundle, 'svm.json'), JSON.stringify(svm));
  const meta = { format: 'ftk-auto-bundle', formatVersion: 1, chosen: 'svm', classifier: 'svm.json', classes: svm.classNames, backbone: svm.backbone, reasons: ['The SVM is cheaper.'], createdAt: new Date().toISOString() };
  await fsp.writeFile(path.join(bundle, 'ftk.json'), JSON.stringify(meta));
  const { maxDiff, onnx } = await compare(bundle, 'bundle');
  assert.ok(maxDiff <= 1e-4);
  const training = JSON.parse(readOnnxSummary(new Uint8Array(await fsp.readFile(onnx))).metadata['ftk.training']);
  assert.equal(training.kind, 'auto-bundle (svm)');
  assert.deepEqual(training.reasons, ['The SVM is cheaper.']);
});

test('auto bundle that chose fine-tuning (model folder inside): same as the bundle', async () => {
  const bundle = path.join(tmp, 'run-ft', 'bundle');
  await fsp.mkdir(bundle, { recursive: true });
  await fsp.cp(finetuned, path.join(bundle, 'model'), { recursive: true });
  const inner = await readFinetunedMeta(finetuned);
  await fsp.writeFile(path.join(bundle, 'ftk.json'), JSON.stringify({ format: 'ftk-auto-bundle', formatVersion: 1, chosen: 'finetune', classifier: 'model', classes: inner.classes, backbone: inner.backbone, reasons: ['Fine-tuning is better.'], createdAt: new Date().toISOString() }));
  const { maxDiff, onnx } = await compare(bundle, 'bundle-ft');
  assert.ok(maxDiff <= 1e-4, `max |p_onnx - p_ftk| = ${maxDiff}`);
  assert.equal(JSON.parse(readOnnxSummary(new Uint8Array(await fsp.readFile(onnx))).metadata['ftk.training']).kind, 'auto-bundle (finetune)');
});

test("the graph's resize (ONNX Resize, linear, half_pixel) equals src/data/resize.ts within 1 grey level, crop included", async () => {
  const ort = await loadOnnxRuntime();
  let worst = 0;
  for (const crop of ['squash', 'center'] as const) {
    const g = new ClassifierGraph();
    const out = addImageInput(g, { inputSize: 24, crop, preprocessing: { mean: [0, 0, 0], std: [1, 1, 1], scale: 1, channels: 'rgb' } });
    g.op('Identity', [out], 'resized', {}, 'resized');
    const bytes = encodeModel({ irVersion: IR_VERSION, opsetImport: [{ domain: '', version: 13 }], graph: { name: 'resize', node: g.nodes, initializer: g.initializers, input: [valueInfo('pixels', ElemType.UINT8, ['n', 'h', 'w', 3])], output: [valueInfo('resized', ElemType.FLOAT, ['n', 24, 24, 3])] } });
    const session = await ort.InferenceSession.create(bytes);
    for (const [h, w] of [[24, 24], [100, 37], [37, 100], [13, 200], [480, 640], [7, 5]]) {
      const data = new Uint8Array(h * w * 3).map(() => Math.floor(rnd() * 256));
      const ours = resizeBilinear({ data, height: h, width: w, channels: 3 }, 24, 24, { box: crop === 'center' ? centerCropBox(h, w, 24, 24) : undefined });
      const r = await session.run({ pixels: new ort.Tensor('uint8', data, [1, h, w, 3]) });
      const theirs = r.resized.data as Float32Array;
      for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
    }
    await session.release();
  }
  assert.ok(worst <= 1, `largest difference ${worst} grey levels`);
  process.stderr.write(`resize: largest |ONNX Resize - resizeBilinear| = ${worst} grey levels\n`);
});

test('--format tfjs: model.json carries the preprocessing; it loads and predicts as the folder', async () => {
  const out = path.join(tmp, 'tfjs');
  const r = await exportTfjs(finetuned, out);
  const json = JSON.parse(await fsp.readFile(path.join(out, 'model.json'), 'utf8'));
  assert.deepEqual(json.userDefinedMetadata.ftk.labels, ['blue', 'red']);
  assert.equal(json.userDefinedMetadata.ftk.imageSize, 64);
  assert.equal(r.metadata.preprocessing, 'tf');
  const handler = tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: new Uint8Array(await fsp.readFile(path.join(out, 'weights.bin'))).buffer });
  const model = await tf.loadLayersModel(handler);
  const x = tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 3);
  const original = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: JSON.parse(await fsp.readFile(path.join(finetuned, 'model.json'), 'utf8')).modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: new Uint8Array(await fsp.readFile(path.join(finetuned, 'weights.bin'))).buffer }));
  assert.deepEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()), Array.from((original.predict(x) as tf.Tensor).dataSync()));
  await assert.rejects(exportTfjs(path.join(tmp, 'rbf.json'), path.join(tmp, 'tfjs-svm')), (e: unknown) => e instanceof ExportError && e.code === 'EXPORT_TFJS_SVM');
});

async function rejectsLeavingNothing(source: string, code: string, pattern: RegExp): Promise<void> {
  const out = path.join(tmp, 'bad', `${code}.onnx`);
  await assert.rejects(exportClassifier(source, out), (e: unknown) => {
    assert.ok(e instanceof ExportError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    assert.ok(e.suggestion);
    return true;
  });
  const left = await fsp.readdir(path.dirname(out)).catch(() => []);
  assert.deepEqual(left.filter((f) => f.startsWith(code)), [], 'no file, no temporary file');
}

test('bad input: a corrupt model, a model that is not a classifier', async () => {
  const corrupt = path.join(tmp, 'corrupt.json');
  const text = await fsp.readFile(path.join(tmp, 'rbf.json'), 'utf8');
  await fsp.writeFile(corrupt, text.slice(0, text.length / 2));
  await rejectsLeavingNothing(corrupt, 'EXPORT_NOT_A_MODEL', /corrupt\.json.*not JSON/);
  const edited = path.join(tmp, 'edited.json');
  await fsp.writeFile(edited, JSON.stringify({ ...JSON.parse(text), rho: [] }));
  await rejectsLeavingNothing(edited, 'EXPORT_BAD_MODEL', /edited\.json.*rho/);
});

test('bad input: a fine-tuned model with a layer ONNX cannot express names the layer', async () => {
  const dir = path.join(tmp, 'unsupported');
  const meta = await readFinetunedMeta(finetuned);
  const input = tf.input({ shape: [64, 64, 3] });
  const up = tf.layers.upSampling2d({ size: [2, 2], name: 'my_upsampling' }).apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(up) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: 2, activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor;
  await saveFinetunedModel(dir, tf.model({ inputs: input, outputs: dense }), meta);
  await rejectsLeavingNothing(dir, 'EXPORT_UNSUPPORTED_LAYER', /my_upsampling \(UpSampling2D/);
});

test('bad input: the backbone weight file missing or changed since training', { skip: noH5 }, async () => {
  const weights = path.join(tmp, 'weights-copy.h5');
  await fsp.copyFile(H5, weights);
  const model = await svmModel(train2, path.join(tmp, 'h5.json'), { kernel: 'rbf', C: 1 }, { weights, inputSize: 64 });
  await fsp.rm(path.join(process.env.FTK_HOME!, 'weights', 'onnx'), { recursive: true, force: true });
  const bytes = await fsp.readFile(weights);
  bytes[bytes.length - 100] ^= 0xff;
  await fsp.writeFile(weights, bytes);
  await rejectsLeavingNothing(model, 'EXPORT_BACKBONE_CHANGED', /weights-copy\.h5 changed since training/);
  await fsp.rm(weights);
  await rejectsLeavingNothing(model, 'EXPORT_BACKBONE_MISSING', /weights-copy\.h5/);
});

test('buildClassifierOnnx reports the opset (13), node count and classes', async () => {
  const a = await buildClassifierOnnx(path.join(tmp, 'rbf.json'));
  assert.equal(a.opset, 13);
  assert.ok(a.nodeCount > 50);
  assert.deepEqual(a.classes, ['blue', 'red']);
});

test('ftk export / ftk serve flags become typed contexts; a missing destination is refused', async () => {
  const { exportCommand, serveCommand } = await import('../src/cli/commands/export.js');
  const seen: unknown[] = [];
  const fake = async (ctx: unknown) => (seen.push(ctx), 0);
  await exportCommand(fake).parseAsync(['m.json', '--out', 'x.onnx', '--web', 'site', '--json'], { from: 'user' });
  await exportCommand(fake).parseAsync(['model', '--format', 'tfjs', '--out', 'tfjs'], { from: 'user' });
  await serveCommand(fake).parseAsync(['site', '--port', '0'], { from: 'user' });
  assert.deepEqual(seen, [
    { model: 'm.json', format: 'onnx', out: 'x.onnx', web: 'site', json: true },
    { model: 'model', format: 'tfjs', out: 'tfjs', web: undefined, json: false },
    { dir: 'site', port: 0, host: '127.0.0.1' },
  ]);
  await assert.rejects(exportCommand(fake).parseAsync(['m.json'], { from: 'user' }), /No destination given/);
  await assert.rejects(exportCommand(fake).parseAsync(['m', '--format', 'tfjs', '--web', 'w', '--out', 'o'], { from: 'user' }), /does not combine/);
  await assert.rejects(exportCommand(fake).parseAsync(['m', '--format', 'keras', '--out', 'o'], { from: 'user' }), /must be one of \[onnx, tfjs\]/);
});

test('end to end: the ftk binary exports an SVM model and `ftk predict x.onnx --json` prints what predict() gives', async () => {
  const { spawnSync } = await import('node:child_process');
  const bin = path.resolve('bin/ftk.js');
  const env = { ...process.env, FTK_DEV: '1' };
  const onnx = path.join(tmp, 'cli.onnx');
  const e = spawnSync(process.execPath, [bin, 'export', path.join(tmp, 'rbf.json'), '--out', onnx, '--json'], { env, encoding: 'utf8' });
  assert.equal(e.status, 0, e.stderr);
  const doc = JSON.parse(e.stdout);
  assert.equal(doc.onnx.opset, 13);
  assert.equal(doc.onnx.sizeBytes, (await fsp.stat(onnx)).size);
  const p = spawnSync(process.execPath, [bin, 'predict', onnx, photos, '--json'], { env, encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const viaCli = (JSON.parse(p.stdout) as { predictions: unknown[] }).predictions;
  const direct = await predict(onnx, [photos]);
  assert.deepEqual(viaCli, direct.predictions.map((q) => ({ file: q.file, label: (q as ImagePrediction).label, labelIndex: (q as ImagePrediction).labelIndex, unknown: (q as ImagePrediction).unknown, probabilities: (q as ImagePrediction).probabilities })));
  const bad = spawnSync(process.execPath, [bin, 'export', path.join(tmp, 'missing.json'), '--out', path.join(tmp, 'never.onnx')], { env, encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /ftk: error: Cannot export .*missing\.json/);
  assert.match(bad.stderr, /fix: /);
  assert.equal(existsSync(path.join(tmp, 'never.onnx')), false);
  const none = spawnSync(process.execPath, [bin, 'export', path.join(tmp, 'rbf.json')], { env, encoding: 'utf8' });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /No destination given[^]*fix: Say where to write/);
});

test('ftk predict refuses an ONNX file that ftk did not export, saying how to use it', async () => {
  const backboneGraph = path.join(tmp, 'plain.onnx');
  const { exportOnnx } = await import('../src/runtime/onnx_export.js');
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
  await fsp.writeFile(backboneGraph, exportOnnx(m).bytes);
  await assert.rejects(predict(backboneGraph, [photos]), /plain\.onnx is not a classifier exported by ftk[^]*ftk\.format/);
});
