/**
 * `--model onnx:<file>`: ONNX models of other frameworks as backbones. Fixtures are made here:
 * zoo models with seeded weights, exported by ftk's own exporter, some rewritten to PyTorch's NCHW
 * input (fixed, dynamic, batch fixed at 1). Acceptance: features from `onnx:` equal the zoo
 * model's (TF.js) within 1e-4 relative, for the graph output and for an intermediate tensor.
 * Plus: the adapted graph keeps unknown protobuf fields, the errors (unknown tensor with nearest
 * names, dynamic size without inputSize, bad input, old/new opset, no preprocessing), the
 * fingerprint keying the cache, custom preprocessing, and `ftk info` / `ftk bottleneck extract`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import protobuf from 'protobufjs/light.js';
import sharp from 'sharp';
import { extractFeatures, type ExtractOptions } from '../src/extract/extract.js';
import { readFeatures } from '../src/extract/features_file.js';
import { MobileNet } from '../src/models/mobilenet.js';
import { MobileNetV2 } from '../src/models/mobilenet_v2.js';
import { guessLayout, poolFeatures } from '../src/models/pool_features.js';
import { describePreprocess, preprocessPixels, resolvePreprocess } from '../src/models/preprocess.js';
import { resolveBackbone } from '../src/models/backbone.js';
import { describeOnnxModel } from '../src/models/onnx_backbone.js';
import { selectBackend } from '../src/runtime/backend.js';
import { adaptOnnxGraph, readOnnxSummary } from '../src/runtime/onnx_graph.js';
import { exportOnnx } from '../src/runtime/onnx_export.js';
import { decodeModel, encodeModel } from '../src/runtime/onnx_proto.js';
import { saveLayersModel, seedWeights, withNchwInput, relDiff } from './helpers/foreign_models.js';
import { noiseRgb, writeTree } from './helpers/images.js';
import { tempHome } from './helpers/home.js';
import { parseArgv } from './helpers/parse.js';

await selectBackend({ backend: 'wasm' });
// Exported ONNX graphs, downloaded weights and the feature cache stay in the temp dir.
const tmp = await tempHome('ftk-onnx-backbone-');

const SIZE = 96;
const RTOL = 1e-4;
const DATA = path.join(tmp, 'data');
const FIX = path.join(tmp, 'fixtures');

/** max |a - b| / max |b|: the acceptance measure. */
interface Fixture {
  /** TF.js layers folder with the seeded weights (the zoo run loads them by layer name). */
  weights: string;
  /** ftk export, NHWC input, unpooled output. */
  nhwc: string;
  /** The same graph behind an NCHW input `pixel_values`. */
  nchw: string;
  zoo: ExtractOptions;
}
const fixtures: Record<string, Fixture> = {};

async function makeFixture(name: string, model: tf.LayersModel, zoo: ExtractOptions): Promise<void> {
  seedWeights(model, 7);
  const dir = path.join(FIX, name);
  const weights = await saveLayersModel(model, path.join(dir, 'tfjs'));
  const onnx = exportOnnx(model).bytes;
  const nhwc = path.join(dir, 'nhwc.onnx');
  const nchw = path.join(dir, 'nchw.onnx');
  await fsp.writeFile(nhwc, onnx);
  await fsp.writeFile(nchw, withNchwInput(onnx, SIZE));
  model.dispose();
  fixtures[name] = { weights, nhwc, nchw, zoo: { ...zoo, weights, inputSize: SIZE } };
}

before(async () => {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 6; i++) {
    const [w, h] = [90 + 17 * i, 70 + 23 * i];
    files[`${i % 2 ? 'dogs' : 'cats'}/img${i}.png`] = await sharp(noiseRgb(w, h, 300 + i), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
  }
  await writeTree(DATA, files);
  await makeFixture('mobilenet', MobileNet({ includeTop: false, weights: null, alpha: 0.25, inputShape: [SIZE, SIZE, 3] }), { model: 'mobilenet', alpha: 0.25 });
  await makeFixture('mobilenet_v2', MobileNetV2({ includeTop: false, weights: null, alpha: 0.35, inputShape: [SIZE, SIZE, 3] }), { model: 'mobilenet_v2', alpha: 0.35 });
});

const run = (options: ExtractOptions) => extractFeatures(DATA, { cache: false, decodeWorkers: 0, ...options });

for (const name of ['mobilenet', 'mobilenet_v2']) {
  test(`${name}: onnx: features (NHWC and NCHW graphs, graph output) equal the zoo model's within 1e-4`, async (t) => {
    const f = fixtures[name];
    const zoo = await run({ ...f.zoo, runtime: 'tfjs' });
    for (const file of [f.nhwc, f.nchw]) {
      const onnx = await run({ model: `onnx:${file}`, preprocess: 'tf' });
      assert.deepEqual(onnx.meta.shape, zoo.meta.shape);
      assert.deepEqual(onnx.meta.files, zoo.meta.files);
      assert.equal(onnx.stats.runtime, 'onnx');
      const diff = relDiff(onnx.features, zoo.features);
      assert.ok(diff <= RTOL, `${path.basename(file)}: max relative difference ${diff}`);
      t.diagnostic(`${name} ${path.basename(file)}: max |onnx - zoo| / max |zoo| = ${diff.toExponential(2)}`);
      assert.equal(onnx.meta.model.name, 'onnx');
      assert.equal(onnx.meta.model.external?.inputLayout, file === f.nchw ? 'nchw' : 'nhwc');
    }
  });
}

test('an intermediate tensor (--layer) is pooled in its own layout (NCHW inside the graph) and equals the zoo layer, avg and max', async (t) => {
  const f = fixtures.mobilenet;
  for (const pooling of ['avg', 'max'] as const) {
    const zoo = await run({ ...f.zoo, layer: 'conv_pw_5_relu', pooling, runtime: 'tfjs' });
    const onnx = await run({ model: `onnx:${f.nchw}`, layer: 'conv_pw_5_relu', pooling, preprocess: 'tf' });
    assert.deepEqual(onnx.meta.shape, [6, 64]);
    const diff = relDiff(onnx.features, zoo.features);
    assert.ok(diff <= RTOL, `${pooling}: max relative difference ${diff}`);
    t.diagnostic(`conv_pw_5_relu ${pooling}: max |onnx - zoo| / max |zoo| = ${diff.toExponential(2)}`);
  }
});

test('a graph with the batch fixed at 1 runs in chunks, and a dynamic-size graph needs inputSize', async () => {
  const f = fixtures.mobilenet;
  const onnx = readFileBytes(f.nhwc);
  const fixed = path.join(FIX, 'batch1.onnx');
  const dynamic = path.join(FIX, 'dynamic.onnx');
  await fsp.writeFile(fixed, withNchwInput(await onnx, SIZE, { batch: 1 }));
  await fsp.writeFile(dynamic, withNchwInput(await onnx, SIZE, { dynamicSize: true }));
  const zoo = await run({ ...f.zoo, runtime: 'tfjs' });
  const one = await run({ model: `onnx:${fixed}`, preprocess: 'tf', batchSize: 4 });
  assert.equal(one.meta.model.external?.batch, 1);
  assert.ok(relDiff(one.features, zoo.features) <= RTOL);
  await assert.rejects(run({ model: `onnx:${dynamic}`, preprocess: 'tf' }), (err: any) => {
    assert.equal(err.code, 'ONNX_INPUT_SIZE_REQUIRED');
    assert.match(err.message, /dynamic input height and width/);
    assert.match(err.suggestion, /--input-size/);
    return true;
  });
  const sized = await run({ model: `onnx:${dynamic}`, preprocess: 'tf', inputSize: SIZE });
  assert.ok(relDiff(sized.features, zoo.features) <= RTOL);
  await assert.rejects(run({ model: `onnx:${fixed}`, preprocess: 'tf', inputSize: 128 }), { code: 'ONNX_INPUT_SIZE' });
});

const readFileBytes = (file: string) => fsp.readFile(file).then((b) => new Uint8Array(b));

test('a tensor name that does not exist is refused with the nearest names', async () => {
  await assert.rejects(resolveBackbone({ model: `onnx:${fixtures.mobilenet.nchw}`, layer: 'conv_pw_5_rleu', preprocess: 'tf' }), (err: any) => {
    assert.equal(err.code, 'LAYER_UNKNOWN');
    assert.match(err.message, /has no tensor "conv_pw_5_rleu"/);
    assert.match(err.suggestion, /Nearest names: conv_pw_5_relu/);
    assert.match(err.suggestion, /ftk info --model onnx:/);
    return true;
  });
});

test('preprocessing: required for a foreign file, read from ftk metadata, and part of the fingerprint', async () => {
  const f = fixtures.mobilenet;
  await assert.rejects(resolveBackbone({ model: `onnx:${f.nchw}` }), (err: any) => err.code === 'PREPROCESS_REQUIRED' && /--preprocess/.test(err.suggestion));
  const model = decodeModel(await readFileBytes(f.nhwc));
  model.metadataProps = [{ key: 'ftk.backbone', value: JSON.stringify({ preprocessing: 'tf' }) }];
  const tagged = path.join(FIX, 'tagged.onnx');
  await fsp.writeFile(tagged, encodeModel(model));
  assert.equal((await resolveBackbone({ model: `onnx:${tagged}` })).info.preprocessing, 'tf');
  const a = await resolveBackbone({ model: `onnx:${f.nchw}`, preprocess: 'tf' });
  const b = await resolveBackbone({ model: `onnx:${f.nchw}`, preprocess: 'torch' });
  const c = await resolveBackbone({ model: `onnx:${f.nchw}`, preprocess: 'tf', layer: 'conv_pw_5_relu' });
  const d = await resolveBackbone({ model: `onnx:${f.nhwc}`, preprocess: 'tf' });
  const fps = new Set([a, b, c, d].map((r) => r.info.fingerprint));
  assert.equal(fps.size, 4, 'preprocessing, tensor and file each change the fingerprint');
  assert.equal(a.info.weightsSha256.length, 64);
  await assert.rejects(resolveBackbone({ model: 'mobilenet', preprocess: 'torch' }), { code: 'PREPROCESS_ZOO' });
  await assert.rejects(resolveBackbone({ model: `onnx:${f.nchw}`, preprocess: 'tf', alpha: 0.5 }), { code: 'OPTIONS_EXTERNAL_MODEL' });
});

test('custom mean/std preprocessing: the pixels, the description, and features equal to the named mode it reproduces', async () => {
  const custom = resolvePreprocess({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  assert.deepEqual(custom, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], scale: 1 / 255, channels: 'rgb' });
  assert.equal(describePreprocess(custom), 'custom (x*1/255 - [0.5, 0.5, 0.5]) / [0.5, 0.5, 0.5], rgb');
  const px = Float32Array.from([0, 127.5, 255, 10, 20, 30]);
  assert.deepEqual(Array.from(preprocessPixels(Float32Array.from(px), custom)).map((v) => +v.toFixed(6)), Array.from(preprocessPixels(Float32Array.from(px), 'tf')).map((v) => +v.toFixed(6)));
  const bgr = resolvePreprocess({ mean: [103.939, 116.779, 123.68], scale: 1, channels: 'bgr' });
  const caffe = preprocessPixels(Float32Array.from(px), 'caffe');
  const mine = preprocessPixels(Float32Array.from(px), bgr);
  for (let i = 0; i < px.length; i++) assert.ok(Math.abs(caffe[i] - mine[i]) < 1e-4);
  assert.throws(() => resolvePreprocess({ std: [1, 0, 1] }), { code: 'PREPROCESS_BAD_VALUE' });
  assert.throws(() => resolvePreprocess('imagenet'), { code: 'PREPROCESS_UNKNOWN' });
  // ([-1, 1] written as mean/std) gives the 'tf' features within float rounding.
  const named = await run({ model: `onnx:${fixtures.mobilenet.nchw}`, preprocess: 'tf' });
  const spelled = await run({ model: `onnx:${fixtures.mobilenet.nchw}`, preprocess: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } });
  assert.ok(relDiff(spelled.features, named.features) <= RTOL);
  assert.notEqual(spelled.meta.model.fingerprint, named.meta.model.fingerprint);
});

test('the feature cache is keyed by the fingerprint: a second run computes nothing', async () => {
  const options = { model: `onnx:${fixtures.mobilenet.nchw}`, preprocess: 'torch', cache: path.join(tmp, 'cache.sqlite') } as const;
  const first = await extractFeatures(DATA, { ...options, decodeWorkers: 0 });
  assert.equal(first.stats.computed, 6);
  const second = await extractFeatures(DATA, { ...options, decodeWorkers: 0 });
  assert.equal(second.stats.computed, 0);
  assert.equal(second.stats.cached, 6);
  assert.deepEqual(second.features, first.features);
});

test('the adapted graph keeps fields ftk does not know, byte for byte, and drops the nodes after the bottleneck', async () => {
  const bytes = await readFileBytes(fixtures.mobilenet.nchw);
  // An unknown ModelProto field (98) and an unknown GraphProto field (99) added to the file.
  const unknownModelField = protobuf.Writer.create().uint32((98 << 3) | 2).bytes(new Uint8Array([9, 8, 7, 6, 5])).finish();
  const unknownGraphField = protobuf.Writer.create().uint32((99 << 3) | 2).bytes(new Uint8Array([1, 2, 3, 4, 5, 6])).finish();
  const parts: Uint8Array[] = [];
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    if (tag >>> 3 === 7) parts.push(protobuf.Writer.create().uint32(tag).bytes(Buffer.concat([r.bytes(), unknownGraphField])).finish());
    else {
      r.skipType(tag & 7);
      parts.push(bytes.subarray(start, r.pos));
    }
  }
  const withExtra = new Uint8Array(Buffer.concat([...parts, unknownModelField]));
  const summary = readOnnxSummary(withExtra);
  const adapted = adaptOnnxGraph(withExtra, summary, { inputName: 'pixel_values', inputLayout: 'nchw', batch: null, size: SIZE, outputs: ['conv_pw_2_relu'] });
  assert.ok(Buffer.from(adapted).includes(Buffer.from(unknownModelField)), 'unknown model field kept');
  assert.ok(Buffer.from(adapted).includes(Buffer.from(unknownGraphField)), 'unknown graph field kept');
  const after = readOnnxSummary(adapted);
  assert.deepEqual(after.inputs.map((i) => [i.name, i.dims]), [['ftk_input', ['batch', SIZE, SIZE, 3]]]);
  assert.deepEqual(after.outputs.map((o) => o.name), ['ftk_output']);
  assert.ok(after.nodes.length < summary.nodes.length / 2, `pruned: ${after.nodes.length} of ${summary.nodes.length} nodes`);
  assert.ok(!after.nodes.some((n) => n.outputs.includes('conv_pw_13_relu')));
  assert.equal(after.nodes.find((n) => n.name === 'ftk_nhwc_to_nchw')?.opType, 'Transpose');
});

test('bad files and graphs: not ONNX, several inputs, rank-2 input, opset 6, an opset ONNX Runtime does not run', async () => {
  const base = decodeModel(await readFileBytes(fixtures.mobilenet.nhwc));
  const write = async (name: string, edit: (m: typeof base) => void) => {
    const m = decodeModel(encodeModel(base));
    edit(m);
    const file = path.join(FIX, name);
    await fsp.writeFile(file, encodeModel(m));
    return file;
  };
  const notOnnx = path.join(FIX, 'not.onnx');
  await fsp.writeFile(notOnnx, 'this is not a protobuf at all, just text');
  await assert.rejects(resolveBackbone({ model: `onnx:${notOnnx}`, preprocess: 'tf' }), { code: 'ONNX_NOT_A_MODEL' });
  await assert.rejects(resolveBackbone({ model: `onnx:${path.join(FIX, 'missing.onnx')}`, preprocess: 'tf' }), { code: 'ONNX_NOT_FOUND' });
  const two = await write('two.onnx', (m) => m.graph.input.push({ ...m.graph.input[0], name: 'mask' }));
  await assert.rejects(resolveBackbone({ model: `onnx:${two}`, preprocess: 'tf' }), (err: any) => err.code === 'ONNX_INPUTS' && /2 inputs/.test(err.message));
  const flat = await write('flat.onnx', (m) => {
    m.graph.input[0].type.tensorType.shape.dim = [{ dimParam: 'batch' }, { dimValue: 1000 }];
  });
  await assert.rejects(resolveBackbone({ model: `onnx:${flat}`, preprocess: 'tf' }), (err: any) => err.code === 'ONNX_INPUT_SHAPE' && /\[batch, 1000\]/.test(err.message));
  const old = await write('old.onnx', (m) => (m.opsetImport = [{ domain: '', version: 6 }]));
  await assert.rejects(resolveBackbone({ model: `onnx:${old}`, preprocess: 'tf' }), (err: any) => err.code === 'ONNX_OPSET_UNSUPPORTED' && /opset_version=13/.test(err.suggestion));
  const future = await write('future.onnx', (m) => (m.opsetImport = [{ domain: '', version: 99 }]));
  await assert.rejects(run({ model: `onnx:${future}`, preprocess: 'tf' }), (err: any) => {
    assert.equal(err.code, 'ONNX_MODEL_UNSUPPORTED');
    assert.match(err.message, /cannot load .*future\.onnx: .*Opset 99/);
    assert.doesNotMatch(err.message, /onnxruntime_src/);
    assert.match(err.suggestion, /opset 99/);
    return true;
  });
  await assert.rejects(run({ model: `onnx:${fixtures.mobilenet.nhwc}`, preprocess: 'tf', runtime: 'tfjs' }), { code: 'RUNTIME_UNAVAILABLE' });
});

test('pooling in either layout gives the same rows; the layout is read from the shape', () => {
  const n = 2;
  const [c, h, w] = [3, 2, 2];
  const nchw = Float32Array.from({ length: n * c * h * w }, (_, i) => Math.sin(i));
  const nhwc = new Float32Array(nchw.length);
  for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) for (let s = 0; s < h * w; s++) nhwc[(b * h * w + s) * c + k] = nchw[(b * c + k) * h * w + s];
  for (const pooling of ['avg', 'max'] as const) {
    assert.deepEqual(poolFeatures(nchw, [n, c, h, w], pooling, 'nchw'), poolFeatures(nhwc, [n, h, w, c], pooling, 'nhwc'));
  }
  assert.deepEqual(guessLayout([1, 512, 7, 7], 'nhwc'), { layout: 'nchw', ambiguous: false });
  assert.deepEqual(guessLayout([1, 7, 7, 512], 'nchw'), { layout: 'nhwc', ambiguous: false });
  assert.deepEqual(guessLayout([1, 7, 7, 7], 'nchw'), { layout: 'nchw', ambiguous: true });
});

test('describeOnnxModel lists the tensors with measured shapes; the CLI prints them and suggests near names for a wrong --layer', async () => {
  const listing = await describeOnnxModel(fixtures.mobilenet.nchw);
  assert.equal(listing.input.layout, 'nchw');
  assert.equal(listing.input.size, SIZE);
  const pw5 = listing.tensors.find((t) => t.name === 'conv_pw_5_relu');
  assert.deepEqual(pw5 && { shape: pw5.shape, layout: pw5.layout, features: pw5.features }, { shape: [1, 64, 12, 12], layout: 'nchw', features: 64 });
  const out = listing.tensors.find((t) => t.name === 'output');
  assert.deepEqual(out && { shape: out.shape, isOutput: out.isOutput }, { shape: [1, 3, 3, 256], isOutput: true });

  const env = { ...process.env, FTK_HOME: path.join(tmp, 'home'), FTK_DEV: '1' };
  const ftk = (...args: string[]) => spawnSync(process.execPath, [path.resolve('bin/ftk.js'), ...args], { env, encoding: 'utf8', timeout: 120_000 });
  const info = ftk('info', '--model', `onnx:${fixtures.mobilenet.nchw}`);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /input pixel_values \[N, 3, 96, 96\] NCHW/);
  assert.match(info.stdout, /conv_pw_5_relu\s+Clip\s+\[1, 64, 12, 12\] NCHW\s+-> 64 \(avg-pooled\)/);
  const bad = ftk('bottleneck', 'extract', DATA, '--model', `onnx:${fixtures.mobilenet.nchw}`, '--layer', 'conv_pw5_relu', '--preprocess', 'tf', '--out', path.join(tmp, 'bad'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /has no tensor "conv_pw5_relu"/);
  assert.match(bad.stderr, /Nearest names: conv_pw_5_relu/);
  const good = ftk('bottleneck', 'extract', DATA, '--model', `onnx:${fixtures.mobilenet.nchw}`, '--layer', 'conv_pw_5_relu', '--preprocess', 'custom', '--mean', '0.5', '--std', '0.5', '--out', path.join(tmp, 'good'), '--no-cache', '--json');
  assert.equal(good.status, 0, good.stderr);
  const saved = await readFeatures(path.join(tmp, 'good'));
  assert.deepEqual(saved.meta.shape, [6, 64]);
  assert.deepEqual(saved.meta.model.preprocessing, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], scale: 1 / 255, channels: 'rgb' });
  assert.equal(saved.meta.model.layer, 'conv_pw_5_relu');
});

test('CLI flags: --preprocess custom with --mean/--std/--pixel-scale/--bgr become typed options; a named mode with them is refused', async () => {
  const { bottleneckCommand } = await import('../src/cli/commands/bottleneck.js');
  const parse = async (argv: string[]) => {
    let seen: ExtractOptions | undefined;
    const cmd = bottleneckCommand(async (ctx) => {
      seen = ctx.options;
      return 0;
    });
    await parseArgv(cmd, ['bottleneck', 'extract', 'data', '--out', 'f', ...argv]);
    return seen!;
  };
  const custom = await parse(['--model', 'onnx:m.onnx', '--preprocess', 'custom', '--mean', '123.675,116.28,103.53', '--std', '58.4', '--pixel-scale', '1', '--bgr']);
  assert.equal(custom.model, 'onnx:m.onnx');
  assert.deepEqual(custom.preprocess, { mean: [123.675, 116.28, 103.53], std: [58.4], scale: 1, channels: 'bgr' });
  assert.deepEqual(resolvePreprocess(custom.preprocess!), { mean: [123.675, 116.28, 103.53], std: [58.4, 58.4, 58.4], scale: 1, channels: 'bgr' });
  assert.equal((await parse(['--preprocess', 'torch'])).preprocess, 'torch');
  assert.equal((await parse([])).preprocess, undefined);
  assert.deepEqual((await parse(['--pixel-scale', '1/255'])).preprocess, { scale: 1 / 255 });
  await assert.rejects(parse(['--preprocess', 'torch', '--mean', '0.5']), { code: 'PREPROCESS_BAD_VALUE' });
  await assert.rejects(parse(['--mean', '1,2']), /--mean must be 3 comma-separated numbers/);
});
