/**
 * CPU vs each GPU device (issue 16, acceptance 5). Not a test. In one run:
 *
 * 1. Extraction inference, images/s: ftk's exported graphs of MobileNet 0.25, MobileNetV2 and
 *    ResNet50 (random weights: speed does not depend on the values) on ONNX Runtime, through the
 *    session pool extraction uses (CPU: two sessions on their own threads; GPU: one session), on
 *    random preprocessed batches of 32-256 images (decode excluded: it is the same CPU work on
 *    every device). One warm-up batch per point (shader compilation on a GPU), then `--reps`
 *    timed batches.
 * 2. Fine-tuning, training steps/s: `finetune()` (MobileNetV2, random weights, default freeze,
 *    phase 2 only, no augmentation) on synthetic images, on each device: the frozen pass on ONNX
 *    Runtime's provider, the trainable suffix on the device's TF.js backend (wasm on the CPU,
 *    WebGPU on a GPU). steps/s = training images/s / batch.
 *
 * Devices: cpu, webgpu when an adapter is found, cuda when ONNX Runtime's CUDA provider loads.
 * On a software adapter (lavapipe, SwiftShader) the run shrinks itself (96 px, batch 32, one
 * timed batch, 16 training images) and the table says that speed there means nothing: it only
 * shows that every path runs end to end.
 *
 * Writes bench/gpu/results.jsonl (one record per point: date, os.loadavg(), versions, device
 * record with the adapter) and bench/gpu/RESULTS.md (the table of this run).
 *
 *   XDG_RUNTIME_DIR=/tmp/xdg npx tsx bench/gpu/run.ts [--size 224] [--batches 32,64,128,256] [--reps 5]
 *     [--models mobilenet,mobilenet_v2,resnet50] [--train-images 256] [--train-batch 32] [--epochs 2] [--devices cpu,webgpu,cuda]
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { finetune } from '../../src/finetune/finetune.js';
import { loadBackbone } from '../../src/models/backbone.js';
import { selectBackend } from '../../src/runtime/backend.js';
import { probeCuda, probeWebGpu, resolveDevice, type DeviceChoice } from '../../src/runtime/device.js';
import { onnxRuntimeVersion } from '../../src/runtime/onnx_engine.js';
import { exportOnnx } from '../../src/runtime/onnx_export.js';
import { OnnxSessionPool } from '../../src/runtime/onnx_session_pool.js';
import { packageInfo } from '../../src/runtime/package_info.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    size: { type: 'string' },
    batches: { type: 'string' },
    reps: { type: 'string' },
    models: { type: 'string', default: 'mobilenet,mobilenet_v2,resnet50' },
    'train-images': { type: 'string' },
    'train-batch': { type: 'string' },
    epochs: { type: 'string', default: '2' },
    devices: { type: 'string' },
    out: { type: 'string', default: HERE },
  },
});

const webgpu = await probeWebGpu();
const cuda = await probeCuda();
const software = webgpu.adapter?.software === true && !cuda.available;
// A software adapter runs everything on the CPU, slowly: shrink the run (speed there means nothing).
const size = Number(values.size ?? (software ? 96 : 224));
const batches = (values.batches ?? (software ? '32' : '32,64,128,256')).split(',').map(Number);
const reps = Number(values.reps ?? (software ? 1 : 5));
const trainImages = Number(values['train-images'] ?? (software ? 16 : 256));
const trainBatch = Number(values['train-batch'] ?? (software ? 8 : 32));
const epochs = Number(values.epochs);
const models = values.models.split(',');
const wanted = values.devices?.split(',') ?? ['cpu', ...(webgpu.adapter ? ['webgpu'] : []), ...(cuda.available ? ['cuda'] : [])];
const devices: DeviceChoice[] = [];
for (const d of wanted) devices.push(await resolveDevice(d as 'cpu' | 'webgpu' | 'cuda'));

const resultsFile = path.join(values.out, 'results.jsonl');
mkdirSync(values.out, { recursive: true });
const runId = new Date().toISOString();
const common = {
  run: runId,
  loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  versions: { ftk: packageInfo().version, node: process.version, 'onnxruntime-node': onnxRuntimeVersion() ?? '?' },
  machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), platform: `${process.platform}-${process.arch}` },
  webgpuAdapter: webgpu.adapter ?? null,
  cuda: cuda.detail,
};
type Row = { kind: 'extract' | 'train'; model: string; device: string; batch: number; rate: number; unit: string; note?: string };
const rows: Row[] = [];
const record = (r: Row, extra: Record<string, unknown>) => {
  rows.push(r);
  appendFileSync(resultsFile, `${JSON.stringify({ ...common, date: new Date().toISOString(), loadavgNow: os.loadavg().map((x) => Math.round(x * 100) / 100), ...r, ...extra })}\n`);
  console.log(`${r.kind} ${r.model} ${r.device} batch ${r.batch}: ${r.rate.toFixed(2)} ${r.unit}`);
};

// 1. Extraction inference.
await selectBackend({ backend: 'cpu' });
let seed = 1;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296) * 2 - 1;
for (const model of models) {
  const { model: m } = await loadBackbone({ model, alpha: model === 'mobilenet' ? 0.25 : undefined, weights: 'random', inputSize: size } as never);
  const bytes = exportOnnx(m).bytes;
  m.dispose();
  for (const device of devices) {
    const pool = await OnnxSessionPool.create(bytes, { provider: device.provider });
    for (const batch of batches) {
      const per = size * size * 3;
      const make = () => {
        const a = new Float32Array(batch * per);
        for (let i = 0; i < a.length; i++) a[i] = rnd();
        return a.buffer;
      };
      const buffers = Array.from({ length: pool.parallel }, make);
      await pool.submit(buffers[0], batch, size, size).then((r) => (buffers[0] = r.buffer)); // warm-up
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        buffers.map(async (_, slot) => {
          while (next < reps) {
            next++;
            buffers[slot] = (await pool.submit(buffers[slot], batch, size, size)).buffer;
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      record({ kind: 'extract', model: model === 'mobilenet' ? 'mobilenet 0.25' : model, device: device.provider, batch, rate: (reps * batch) / seconds, unit: 'images/s' }, { size, reps, seconds, engine: pool.name, providers: pool.providers, deviceRecord: device.record });
    }
    await pool.release();
  }
}

// 2. Fine-tuning steps.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ftk-bench-gpu-'));
try {
  const data = path.join(tmp, 'data');
  for (const c of ['a', 'b']) {
    mkdirSync(path.join(data, c), { recursive: true });
    for (let i = 0; i < trainImages / 2; i++) {
      const px = Buffer.alloc(size * size * 3);
      for (let k = 0; k < px.length; k++) px[k] = (rnd() + 1) * 127;
      await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path.join(data, c, `${i}.png`));
    }
  }
  for (const device of devices) {
    const r = await finetune(data, {
      out: path.join(tmp, `model-${device.provider}`),
      model: 'mobilenet_v2',
      weights: 'random',
      inputSize: size,
      headEpochs: 0,
      epochs,
      batchSize: trainBatch,
      views: 1,
      augment: 'none',
      val: 0,
      cache: false,
      device,
      onNotice: (m) => console.log(`  ${m}`),
    });
    record(
      { kind: 'train', model: 'mobilenet_v2 fine-tune', device: device.provider, batch: trainBatch, rate: r.stats.trainImagesPerSecond / trainBatch, unit: 'steps/s' },
      { size, images: trainImages, epochs, trainImagesPerSecond: r.stats.trainImagesPerSecond, backend: r.stats.backend, prefixRuntime: r.stats.prefixRuntime, prefixSeconds: r.stats.prefixSeconds, microBatch: r.stats.microBatch, deviceRecord: r.stats.device },
    );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// The table of this run.
const cpuRate = (r: Row) => rows.find((x) => x.kind === r.kind && x.model === r.model && x.batch === r.batch && x.device === 'cpu')?.rate;
const lines = [
  '# GPU benchmark (bench/gpu/run.ts)',
  '',
  `Run ${runId}; load average at start ${common.loadavg.join(', ')} (${common.machine.cores} cores, ${common.machine.cpu ?? '?'}); ftk ${common.versions.ftk}, Node ${process.version}, onnxruntime-node ${common.versions['onnxruntime-node']}.`,
  `WebGPU adapter: ${webgpu.adapter ? `${webgpu.adapter.description} (${webgpu.adapter.software ? 'software' : 'hardware'})` : `none (${webgpu.error})`}. CUDA: ${cuda.available ? 'provider present' : cuda.detail}.`,
  '',
  ...(software
    ? [
        `**${webgpu.adapter!.description} is a software adapter: "webgpu" below ran on the CPU through Mesa's lavapipe. Its speed means nothing about a GPU; the run only shows that every path works end to end.** The run was shrunk to ${size} px, batch ${batches.join('/')}, ${reps} timed batch(es), ${trainImages} training images.`,
        '',
      ]
    : []),
  `Extraction: inference only (decode excluded), ${size}x${size}, random weights, ${reps} timed batches after one warm-up. Training: MobileNetV2 fine-tuning (default freeze, ${epochs} epochs of ${trainImages} images, batch ${trainBatch}), steps/s of the trainable suffix.`,
  '',
  '| what | model | device | batch | rate | vs cpu |',
  '|---|---|---|---:|---:|---:|',
  ...rows.map((r) => {
    const base = cpuRate(r);
    return `| ${r.kind} | ${r.model} | ${r.device} | ${r.batch} | ${r.rate.toFixed(2)} ${r.unit} | ${base ? `${(r.rate / base).toFixed(2)}x` : ''} |`;
  }),
  '',
  `Raw records: bench/gpu/results.jsonl (run ${runId}).`,
  '',
];
writeFileSync(path.join(values.out, 'RESULTS.md'), lines.join('\n'));
console.log(lines.join('\n'));
