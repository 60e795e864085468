/**
 * Fine-tuning throughput, ftk vs PyTorch CPU (issue 5, acceptance 4). Not a test.
 *
 * Same model (MobileNetV2 1.0, 224x224, random weights: speed does not depend on the values), same
 * frozen layers (the stem and blocks 0-14; blocks 15-16, Conv_1 and the head train), same images
 * (the first N cats and N dogs of ../shared/datasets/cats-dogs), batch 32, Adam, phase 2 only.
 *
 * ftk: `finetune()` on the wasm backend with frozen-prefix caching (a bank of `--views`
 * augmented views per image through the frozen layers once, then only the trainable suffix per
 * step), cold cache. Reported: the steady-state step throughput (training images/s through the
 * suffix) and the end-to-end throughput of the whole run (epochs x images / (frozen-layer pass +
 * training steps), decoding and augmentation included).
 * PyTorch: bench/finetune/torch_finetune.py with /usr/bin/python3 (Debian python3-torch), full
 * forward every step, images decoded before timing, with 1 and `--threads` threads; the ratio is
 * taken against the faster of the two.
 *
 *   npx tsx bench/finetune/throughput.ts [--images 256] [--epochs 5] [--views 4] [--threads 2] [--no-torch]
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findDataset } from '../../src/data/dataset.js';
import { finetune } from '../../src/finetune/finetune.js';
import { selectBackend } from '../../src/runtime/backend.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '256' },
    epochs: { type: 'string', default: '5' },
    views: { type: 'string', default: '4' },
    batch: { type: 'string', default: '32' },
    freeze: { type: 'string', default: '14' },
    threads: { type: 'string', default: '2' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const n = Number(values.images);
const epochs = Number(values.epochs);
const DATA = path.resolve('../shared/datasets/cats-dogs');
await selectBackend({ backend: 'wasm' });
const all = await findDataset(DATA);
const take = (label: number) => all.entries.filter((e) => e.label === label).slice(0, n / 2);
const dataset = { ...all, entries: [...take(0), ...take(1)] };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ftk-bench-tp-'));

const t0 = performance.now();
const r = await finetune(dataset, {
  out: path.join(tmp, 'model'),
  model: 'mobilenet_v2',
  weights: 'random',
  freeze: Number(values.freeze),
  headEpochs: 0,
  epochs,
  batchSize: Number(values.batch),
  views: Number(values.views),
  val: 0,
  cache: path.join(tmp, 'cache.sqlite'),
  onNotice: (m) => console.log(`  ${m}`),
  onEpoch: (e) => console.log(`  ftk epoch ${e.epoch}: ${e.imagesPerSecond.toFixed(1)} training images/s`),
});
const wall = (performance.now() - t0) / 1000;
const steady = r.stats.trainImagesPerSecond;
const trainSeconds = (epochs * n) / steady;
const endToEnd = (epochs * n) / (r.stats.prefixSeconds + trainSeconds);
const ftk = {
  runtime: `ftk ${r.stats.backend} (1 thread), prefix ${r.stats.prefixMode}, ${values.views} views`,
  images: n,
  epochs,
  microBatch: r.stats.microBatch,
  prefixSeconds: r.stats.prefixSeconds,
  prefixViewsPerSecond: r.stats.prefixComputed / r.stats.prefixSeconds,
  steadyTrainImagesPerSecond: steady,
  endToEndTrainImagesPerSecond: endToEnd,
  wallSeconds: wall,
};
console.log(JSON.stringify(ftk));
// PyTorch with 1 and `--threads` threads; the faster one is the reference (on a shared machine
// two OpenMP threads can lose to one).
let torch: { train_images_per_second: number; runtime: string } | undefined;
const torchRuns: { train_images_per_second: number; runtime: string }[] = [];
if (!values['no-torch']) {
  for (const threads of [...new Set(['1', values.threads!])]) {
    const py = spawnSync('/usr/bin/python3', [path.resolve('bench/finetune/torch_finetune.py'), '--images', String(n), '--epochs', String(Math.min(epochs, 3)), '--batch', values.batch!, '--freeze', values.freeze!, '--threads', threads, '--data', DATA], { encoding: 'utf8' });
    if (py.status === 0) torchRuns.push(JSON.parse(py.stdout.trim().split('\n').pop()!));
    else console.log(`PyTorch run failed (apt-get install -y python3-torch python3-torchvision): ${py.stderr.slice(-400)}`);
  }
  torch = torchRuns.sort((a, b) => b.train_images_per_second - a.train_images_per_second)[0];
}
const summary = {
  date: new Date().toISOString(),
  bench: 'finetune throughput MobileNetV2 224, freeze 14',
  ftk,
  torch,
  torchRuns,
  ratioSteady: torch ? steady / torch.train_images_per_second : undefined,
  ratioEndToEnd: torch ? endToEnd / torch.train_images_per_second : undefined,
  loadavg: os.loadavg(),
};
console.log(JSON.stringify(summary, null, 1));
appendFileSync(path.resolve('bench/finetune/results.jsonl'), JSON.stringify(summary) + '\n');
rmSync(tmp, { recursive: true, force: true });
