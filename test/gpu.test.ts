/**
 * Devices (src/runtime/device.ts) and the GPU paths, tested on Mesa's software Vulkan driver
 * (lavapipe), which serves WebGPU without a GPU (.ci/run installs it; XDG_RUNTIME_DIR is set here
 * when missing). Speed on lavapipe means nothing; correctness does:
 * - features on `webgpu` equal `cpu` within 1e-4 relative: the six zoo architectures (random
 *   weights, small inputs) and the shared Keras MobileNet 0.25 on 20 real photos;
 * - a fine-tuning run on `webgpu` (trainable suffix on TF.js WebGPU, frozen pass on ONNX Runtime
 *   WebGPU) matches the same run on the CPU: losses and weights;
 * - `--device cuda` without the CUDA provider fails naming the install command; `auto` picks the
 *   CPU here (software adapters are not chosen) and says why;
 * - the provider actually used is recorded in features.json, ftk.json, run.json and the report.
 * Without lavapipe the GPU tests skip on a developer machine and fail in CI (requireInput).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { extractFeatures } from '../src/extract/extract.js';
import { finetune } from '../src/finetune/finetune.js';
import { loadFinetunedLayersModel, readFinetunedMeta } from '../src/finetune/format.js';
import { MODEL_NAMES, MODELS } from '../src/models/registry.js';
import { selectBackend } from '../src/runtime/backend.js';
import { ALLOW_SOFTWARE_GPU_ENV, listDevices, noGpuDeviceNode, probeWebGpu, resetDeviceProbes, resolveDevice } from '../src/runtime/device.js';
import { registerWasmTrainingKernels } from '../src/runtime/wasm_gradients.js';
import type { Command } from 'commander';
import { autoCommand } from '../src/cli/commands/auto.js';
import { benchCommand } from '../src/cli/commands/bench.js';
import { bottleneckCommand } from '../src/cli/commands/bottleneck.js';
import { finetuneCommand } from '../src/cli/commands/finetune.js';
import { infoCommand } from '../src/cli/commands/info.js';
import { predictCommand } from '../src/cli/commands/predict.js';
import { svmCommand } from '../src/cli/commands/svm.js';
import { parseContext } from './helpers/parse.js';
import { tempHome } from './helpers/home.js';
import { requireInput } from './helpers/requires.js';

if (!process.env.XDG_RUNTIME_DIR) {
  // Dawn (Vulkan) wants a runtime dir; a private one for this process.
  const dir = path.join(os.tmpdir(), `ftk-xdg-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

const tmp = await tempHome('ftk-gpu-');
const probe = await probeWebGpu();
const gpuSkip = { skip: requireInput(`a WebGPU adapter (lavapipe: mesa-vulkan-drivers from bookworm-backports; probe said: ${probe.error ?? 'ok'})`, probe.adapter !== undefined) };
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const PHOTOS = path.resolve('../shared/datasets/cats-dogs');
const sharedSkip = { skip: requireInput('../shared (MobileNet 0.25 weights and the cats-dogs photos)', existsSync(H5) && existsSync(PHOTOS)) };

/** max |a - b| over max |b|: differences relative to the array's scale (ftk's "within 1e-4 relative", as test/helpers/foreign_models.ts). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d === 0 ? 0 : d / Math.max(m, 1e-12);
}

/** `perClass` colour images per class (a reddish, b bluish), `size` px. */
async function colourDataset(root: string, perClass: number, size: number): Promise<string> {
  const sharp = (await import('sharp')).default;
  let s = 11;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  const bases: Record<string, number[]> = { a: [200, 60, 50], b: [50, 70, 200] };
  for (const c of ['a', 'b']) {
    await fsp.mkdir(path.join(root, c), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const data = Buffer.alloc(size * size * 3);
      for (let p = 0; p < data.length; p++) data[p] = Math.max(0, Math.min(255, bases[c][p % 3] + (rnd() - 0.5) * 160));
      await sharp(data, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path.join(root, c, `${i}.png`));
    }
  }
  return root;
}

const COLOURS = await colourDataset(path.join(tmp, 'colours'), 6, 48);
/** Two images per class: lavapipe is slow, and the comparison is per value. */
const TINY = await colourDataset(path.join(tmp, 'tiny'), 2, 48);

test('--device cuda without the CUDA provider: an error naming the missing library and the install command', async () => {
  await assert.rejects(resolveDevice('cuda'), (err: Error & { code?: string; suggestion?: string }) => {
    assert.equal(err.code, 'DEVICE_UNAVAILABLE');
    assert.match(err.message, /libonnxruntime_providers_cuda/);
    assert.match(err.suggestion ?? '', /ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    assert.match(err.suggestion ?? '', /CUDA 12 and cuDNN 9/);
    return true;
  });
  // And through the library: extraction refuses before doing any work.
  await assert.rejects(extractFeatures(TINY, { model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: 32, cache: false, device: 'cuda' }), /--device cuda/);
});

test('--device auto here: the CPU, saying why (no CUDA provider; a software adapter is not chosen)', async () => {
  const saved = process.env[ALLOW_SOFTWARE_GPU_ENV];
  delete process.env[ALLOW_SOFTWARE_GPU_ENV];
  try {
    const notices: string[] = [];
    const choice = await resolveDevice('auto', { onNotice: (m) => notices.push(m) });
    assert.equal(choice.provider, 'cpu');
    assert.equal(notices.length, 1);
    assert.match(notices[0], /^Device: cpu \(auto: no GPU: .*CUDA provider/);
    // Either the probe found only a software adapter, or (Linux without a GPU device node) it was not needed.
    if (probe.adapter?.software) assert.match(notices[0], /software one \(slower than the CPU\)|no GPU device node/);
    assert.equal(choice.record.reason, notices[0].slice('Device: cpu (auto: '.length, -2));
  } finally {
    if (saved !== undefined) process.env[ALLOW_SOFTWARE_GPU_ENV] = saved;
  }
});

test('--device gpu with only a software adapter: an error pointing to --device webgpu', gpuSkip, async () => {
  if (!probe.adapter!.software) return; // a real GPU here: gpu would be chosen
  await assert.rejects(resolveDevice('gpu'), (err: Error & { code?: string; suggestion?: string }) => {
    assert.equal(err.code, 'DEVICE_UNAVAILABLE');
    assert.match(err.message, noGpuDeviceNode() ? /no GPU device node/ : /software one/);
    assert.match(err.suggestion ?? '', /--device webgpu/);
    return true;
  });
  // The env switch for tests lets auto take it.
  process.env[ALLOW_SOFTWARE_GPU_ENV] = '1';
  try {
    assert.equal((await resolveDevice('auto')).provider, 'webgpu');
    assert.equal((await resolveDevice('gpu')).provider, 'webgpu');
  } finally {
    delete process.env[ALLOW_SOFTWARE_GPU_ENV];
  }
});

test('listDevices (ftk info): the adapter with its software verdict, the CUDA provider, what auto uses', gpuSkip, async () => {
  const d = await listDevices();
  assert.equal(d.webgpu.adapter?.description, probe.adapter!.description);
  assert.equal(d.webgpu.onnxProvider, true);
  assert.equal(d.cuda.available, false);
  assert.equal(d.auto.provider, probe.adapter!.software ? 'cpu' : 'webgpu');
});

test('--device is parsed on every command that runs a model; a bad value is refused', async () => {
  type Ctx = { options?: { device?: unknown }; device?: unknown };
  const cases: [(action: (ctx: Ctx) => Promise<number>) => Command, string[]][] = [
    [(a) => bottleneckCommand(a as never), ['bottleneck', 'extract', 'd', '--out', 'o', '--device', 'webgpu']],
    [(a) => finetuneCommand(a as never), ['finetune', 'd', '--out', 'o', '--device', 'webgpu']],
    [(a) => predictCommand(a as never), ['predict', 'm', 'x.png', '--device', 'webgpu']],
    [(a) => svmCommand({ predict: a as never }), ['svm', 'predict', 'm.json', 'x.png', '--device', 'webgpu']],
    [(a) => autoCommand(a as never), ['auto', 'd', '--out', 'o', '--device', 'webgpu']],
    [(a) => benchCommand(a as never), ['bench', 'd', '--out', 'o', '--device', 'webgpu']],
    [(a) => infoCommand(a as never), ['info', '--device', 'webgpu']],
  ];
  for (const [build, argv] of cases) {
    const ctx = await parseContext<Ctx>(build, argv);
    assert.equal(ctx.options?.device ?? ctx.device, 'webgpu', argv.join(' '));
  }
  await assert.rejects(parseContext<Ctx>((a) => bottleneckCommand(a as never), ['bottleneck', 'extract', 'd', '--out', 'o', '--device', 'tpu']), /--device must be one of \[auto, cpu, gpu, webgpu, cuda\]/);
});

for (const name of MODEL_NAMES) {
  test(`${name} (random weights): features on webgpu equal cpu within 1e-4 relative, provider recorded`, gpuSkip, async (t) => {
    const inputSize = name === 'inception_v3' ? 75 : 32;
    const common = { model: name, alpha: MODELS[name].alphas ? 0.25 : undefined, weights: 'random', inputSize, cache: false as const, decodeWorkers: 0 };
    const cpu = await extractFeatures(TINY, { ...common, device: 'cpu' });
    const gpu = await extractFeatures(TINY, { ...common, device: 'webgpu' });
    assert.deepEqual(gpu.meta.shape, cpu.meta.shape);
    const err = relDiff(gpu.features, cpu.features);
    t.diagnostic(`relative difference ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `relative difference ${err}`);
    assert.deepEqual(cpu.meta.device?.onnxProviders, ['cpu']);
    assert.equal(gpu.meta.device?.provider, 'webgpu');
    assert.deepEqual(gpu.meta.device?.onnxProviders, ['webgpu']);
    assert.equal(gpu.stats.runtime, 'onnx');
  });
}

test('shared MobileNet 0.25 on 20 real photos: webgpu features equal cpu within 1e-4 relative; features.json says webgpu', { ...gpuSkip, ...(gpuSkip.skip ? {} : sharedSkip) }, async (t) => {
  const photos = path.join(tmp, 'photos');
  for (const c of ['cats', 'dogs']) {
    await fsp.mkdir(path.join(photos, c), { recursive: true });
    const files = (await fsp.readdir(path.join(PHOTOS, c))).sort().slice(0, 10);
    for (const f of files) await fsp.copyFile(path.join(PHOTOS, c, f), path.join(photos, c, f));
  }
  const common = { model: 'mobilenet', alpha: 0.25, weights: H5, cache: false as const };
  const cpu = await extractFeatures(photos, { ...common, device: 'cpu' });
  const gpu = await extractFeatures(photos, { ...common, device: 'webgpu' });
  assert.deepEqual(gpu.meta.shape, [20, 256]);
  assert.equal(cpu.stats.batchSize, 32, 'default batch on the CPU');
  assert.equal(gpu.stats.batchSize, 64, 'default batch on a GPU');
  const err = relDiff(gpu.features, cpu.features);
  t.diagnostic(`relative difference ${err.toExponential(2)}; first values cpu ${Array.from(cpu.features.slice(0, 3), (v) => v.toFixed(5))} webgpu ${Array.from(gpu.features.slice(0, 3), (v) => v.toFixed(5))}`);
  assert.ok(err < 1e-4, `relative difference ${err}`);
  const { writeFeatures } = await import('../src/extract/features_file.js');
  const { json } = await writeFeatures(path.join(tmp, 'photos-gpu'), gpu.features, gpu.meta);
  const written = JSON.parse(await fsp.readFile(json, 'utf8'));
  assert.equal(written.device.provider, 'webgpu');
  assert.deepEqual(written.device.onnxProviders, ['webgpu']);
  assert.equal(written.device.software, probe.adapter!.software);
});

test('the wasm training kernels ftk registers leave the webgpu backend alone: a conv + depthwise step has the cpu gradients', gpuSkip, async (t) => {
  await selectBackend({ backend: 'wasm' });
  registerWasmTrainingKernels();
  const grads = async (backend: 'cpu' | 'webgpu') => {
    await selectBackend({ backend });
    const out = tf.tidy(() => {
      let s = 3;
      const rnd = (n: number) => Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296) - 0.5);
      const x = tf.tensor4d(rnd(2 * 12 * 12 * 3), [2, 12, 12, 3]);
      const w1 = tf.tensor4d(rnd(3 * 3 * 3 * 8), [3, 3, 3, 8]);
      const w2 = tf.tensor4d(rnd(3 * 3 * 8 * 1), [3, 3, 8, 1]);
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(tf.relu(tf.conv2d(x, a as tf.Tensor4D, 2, 'same')), b as tf.Tensor4D, 1, 'same')));
      return tf.grads(f)([w1, w2]);
    });
    // Asynchronous reads: webgpu in Node cannot read a GPU buffer synchronously.
    const values = await Promise.all(out.map(async (g) => (await g.data()) as Float32Array));
    tf.dispose(out);
    return values;
  };
  const cpu = await grads('cpu');
  const gpu = await grads('webgpu');
  for (let i = 0; i < cpu.length; i++) {
    t.diagnostic(`gradient ${i}: relative difference ${relDiff(gpu[i], cpu[i]).toExponential(2)}`);
    assert.ok(relDiff(gpu[i], cpu[i]) < 1e-4, `gradient ${i}: ${relDiff(gpu[i], cpu[i])}`);
  }
  await selectBackend({ backend: 'wasm' });
});

/** Weights of a saved model folder, in layer order. */
async function savedWeights(dir: string): Promise<Float32Array[]> {
  const model = await loadFinetunedLayersModel(dir, await readFinetunedMeta(dir));
  const out = model.layers.flatMap((l) => l.getWeights().map((w) => Float32Array.from(w.dataSync() as Float32Array)));
  model.dispose();
  return out;
}

test('fine-tuning on webgpu (TF.js WebGPU + ONNX Runtime WebGPU) matches the cpu run (shared MobileNet 0.25, 32 px, 2 epochs of 3 steps): losses within 1e-3, weights within 1e-3 relative; ftk.json says where it ran', { ...gpuSkip, ...(gpuSkip.skip ? {} : sharedSkip) }, async (t) => {
  const common = {
    model: 'mobilenet',
    alpha: 0.25,
    weights: H5,
    inputSize: 32,
    freeze: 9,
    headEpochs: 1,
    epochs: 1,
    batchSize: 4,
    views: 1,
    augment: 'none',
    val: 0.25,
    seed: 3,
    cache: false,
  } as const;
  const cpu = await finetune(COLOURS, { ...common, out: path.join(tmp, 'ft-cpu'), device: 'cpu', backend: 'cpu' });
  const gpu = await finetune(COLOURS, { ...common, out: path.join(tmp, 'ft-gpu'), device: 'webgpu' });
  assert.equal(gpu.stats.backend, 'webgpu');
  assert.equal(cpu.meta.history.length, gpu.meta.history.length);
  await selectBackend({ backend: 'cpu' });
  t.diagnostic(`losses cpu ${cpu.meta.history.map((h) => `${h.loss.toFixed(6)}/${h.valLoss?.toFixed(6)}`).join(' ')} webgpu ${gpu.meta.history.map((h) => `${h.loss.toFixed(6)}/${h.valLoss?.toFixed(6)}`).join(' ')}`);
  for (let i = 0; i < cpu.meta.history.length; i++) {
    const a = cpu.meta.history[i];
    const b = gpu.meta.history[i];
    assert.ok(Math.abs(a.loss - b.loss) < 1e-3 * Math.max(1, Math.abs(a.loss)), `epoch ${i} loss ${a.loss} vs ${b.loss}`);
    if (a.valLoss !== undefined) assert.ok(Math.abs(a.valLoss - b.valLoss!) < 1e-3 * Math.max(1, Math.abs(a.valLoss)), `epoch ${i} valLoss ${a.valLoss} vs ${b.valLoss}`);
  }
  const wc = await savedWeights(cpu.out);
  const wg = await savedWeights(gpu.out);
  assert.equal(wc.length, wg.length);
  const diffs = wc.map((w, i) => relDiff(wg[i], w));
  const worst = Math.max(...diffs);
  if (process.env.FTK_GPU_DEBUG) t.diagnostic(diffs.map((d, i) => `${i}:${d.toExponential(1)}:${Math.max(...wc[i].map(Math.abs)).toExponential(1)}`).join(' '));
  t.diagnostic(`weights: largest relative difference over ${wc.length} arrays ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-3, `weights differ by ${worst}`);
  const meta = JSON.parse(await fsp.readFile(path.join(gpu.out, 'ftk.json'), 'utf8'));
  assert.equal(meta.device.provider, 'webgpu');
  assert.equal(meta.device.trainingBackend, 'webgpu');
  assert.deepEqual(meta.device.onnxProviders, ['webgpu']);
  assert.equal(cpu.meta.device?.trainingBackend, 'cpu');
  await selectBackend({ backend: 'wasm' });
});

test('from-scratch training (smallcnn, 32 px) on webgpu matches the cpu run: losses within 1e-3, weights within 1e-3 relative', gpuSkip, async (t) => {
  const common = { model: 'smallcnn', inputSize: 32, epochs: 2, batchSize: 4, views: 1, augment: 'none', val: 0.25, seed: 5, cache: false } as const;
  const cpu = await finetune(COLOURS, { ...common, out: path.join(tmp, 'scratch-cpu'), device: 'cpu', backend: 'cpu' });
  const gpu = await finetune(COLOURS, { ...common, out: path.join(tmp, 'scratch-gpu'), device: 'webgpu' });
  await selectBackend({ backend: 'cpu' });
  assert.equal(gpu.meta.device?.trainingBackend, 'webgpu');
  assert.equal(cpu.meta.history.length, gpu.meta.history.length);
  t.diagnostic(`losses cpu ${cpu.meta.history.map((h) => h.loss.toFixed(6)).join(' ')} webgpu ${gpu.meta.history.map((h) => h.loss.toFixed(6)).join(' ')}`);
  for (let i = 0; i < cpu.meta.history.length; i++) {
    assert.ok(Math.abs(cpu.meta.history[i].loss - gpu.meta.history[i].loss) < 1e-3 * Math.max(1, cpu.meta.history[i].loss), `epoch ${i}`);
  }
  const wc = await savedWeights(cpu.out);
  const wg = await savedWeights(gpu.out);
  const worst = Math.max(...wc.map((w, i) => relDiff(wg[i], w)));
  t.diagnostic(`weights: largest relative difference over ${wc.length} arrays ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-3, `weights differ by ${worst}`);
  await selectBackend({ backend: 'wasm' });
});

test('auto on webgpu (SVM path): run.json runtime.device and the report name the provider used', gpuSkip, async () => {
  const { auto } = await import('../src/auto/auto.js');
  const out = path.join(tmp, 'auto-gpu');
  const r = await auto(COLOURS, { out, model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: 32, folds: 2, svmOnly: true, curveFractions: [0.25, 0.5, 1], candidates: 'quick', cache: false, device: 'webgpu' });
  const run = JSON.parse(await fsp.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run.runtime.device.provider, 'webgpu');
  assert.deepEqual(run.runtime.device.onnxProviders, ['webgpu']);
  assert.match(run.runtime.engine, /webgpu/);
  const md = await fsp.readFile(r.report.markdown, 'utf8');
  assert.match(md, /\| device \| webgpu \(.*ONNX Runtime on webgpu/);
  const html = await fsp.readFile(r.report.html, 'utf8');
  assert.match(html, /<th scope="row">device<\/th><td>webgpu \(.*ONNX Runtime on webgpu/);
});

test('resetDeviceProbes forgets the probes (a new process would look again)', async () => {
  resetDeviceProbes();
  const again = await probeWebGpu();
  assert.equal(again.adapter?.description, probe.adapter?.description);
});
