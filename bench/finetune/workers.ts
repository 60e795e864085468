/**
 * Data-parallel training on worker threads (issue 15, acceptance 1). Not a test.
 *
 * Training images/s of the trainable part, 1 worker (the main thread: the loop as before) vs
 * `--workers-list` worker threads, interleaved in ONE run (1, 2, 1, 2, ...) so that both see the
 * same machine load; `--repeats` rounds, medians reported, `os.loadavg()` recorded before and after
 * each run. Two workloads:
 * - `mobilenet_v2`: MobileNetV2 1.0 at 224, random weights (speed does not depend on the values),
 *   `--freeze 14`, batch 32, phase 2 only, frozen-prefix bank (filled once in the first run, then
 *   read from the run's feature cache), as bench/finetune/throughput.ts;
 * - `smallcnn`: the small convnet from scratch at 64 px, batch 32, augmented.
 * Images: the first N/2 cats and N/2 dogs of ../shared/datasets/cats-dogs. Validation 0 (no early
 * stopping: every run trains the same epochs). Per run: the median of the per-epoch training
 * images/s after the first epoch (the first decodes the images and warms the replicas up), and
 * the per-epoch training losses, compared with the 1-worker run of the same round.
 *
 * Load: the machine is shared. Before each round a calibration runs a fixed busy loop on 1 thread,
 * then on N threads at once: N x (1-thread time) / (N-thread time) is the parallel speed-up the
 * machine offers at that moment to ANY work (2.0 on an idle 2-core machine). It is recorded next to
 * the measured ratio, so that a ratio limited by other people's load shows as such. Each run also
 * records the process' CPU time (`process.cpuUsage()`, every thread) per training image, which
 * load does not inflate: if 2 workers spend no more CPU per image than 1, the work itself splits
 * without overhead and only the free cores limit the speed-up.
 *
 *   npx tsx bench/finetune/workers.ts [--images 256] [--epochs 3] [--repeats 3] [--workloads mobilenet_v2,smallcnn] [--workers-list 2]
 *
 * Appends one JSON line per run and one summary line per workload to bench/finetune/workers.jsonl.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { findDataset } from '../../src/data/dataset.js';
import { finetune } from '../../src/finetune/finetune.js';
import type { FinetuneOptions } from '../../src/finetune/options.js';
import { selectBackend } from '../../src/runtime/backend.js';
import { packageInfo } from '../../src/runtime/package_info.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '256' },
    epochs: { type: 'string', default: '3' },
    repeats: { type: 'string', default: '3' },
    workloads: { type: 'string', default: 'mobilenet_v2,smallcnn' },
    'workers-list': { type: 'string', default: '2' },
  },
});
const n = Number(values.images);
const epochs = Number(values.epochs);
const repeats = Number(values.repeats);
const counts = [1, ...values['workers-list']!.split(',').map(Number)];
const DATA = path.resolve('../shared/datasets/cats-dogs');
const OUT = path.resolve('bench/finetune/workers.jsonl');
const backend = await selectBackend({ backend: 'wasm' });
const all = await findDataset(DATA);
const take = (label: number) => all.entries.filter((e) => e.label === label).slice(0, n / 2);
const dataset = { ...all, entries: [...take(0), ...take(1)] };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ftk-bench-workers-'));
const versions = { ftk: packageInfo().version, tfjs: tf.version_core, node: process.version, ...backend.versions };

const WORKLOADS: Record<string, Omit<FinetuneOptions, 'out'>> = {
  mobilenet_v2: { model: 'mobilenet_v2', weights: 'random', freeze: 14, headEpochs: 0, views: 2 },
  smallcnn: { model: 'smallcnn', inputSize: 64 },
};

/** Wall ms of `threads` threads each running the same fixed busy loop. */
async function busyLoop(threads: number): Promise<number> {
  const code = `const { parentPort } = require('node:worker_threads'); let x = 0; for (let i = 0; i < 1e8; i++) x = (x + i * 1.000001) % 1e9; parentPort.postMessage(x);`;
  const t = performance.now();
  await Promise.all(Array.from({ length: threads }, () => new Promise((resolve) => new Worker(code, { eval: true }).once('message', resolve).once('error', resolve))));
  return performance.now() - t;
}

/** The parallel speed-up the machine offers right now: threads x t(1) / t(threads). */
async function calibrate(threads: number): Promise<number> {
  const one = await busyLoop(1);
  return (threads * one) / (await busyLoop(threads));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

for (const workload of values.workloads!.split(',')) {
  const base = WORKLOADS[workload];
  if (!base) throw new Error(`unknown workload ${workload}; one of ${Object.keys(WORKLOADS).join(', ')}`);
  const runs: { round: number; workers: number; imagesPerSecond: number; cpuMsPerImage: number; losses: number[]; loadBefore: number[]; loadAfter: number[] }[] = [];
  const available: Record<number, number[]> = {};
  for (let round = 0; round < repeats; round++) {
    for (const w of counts.slice(1)) {
      const c = await calibrate(w);
      (available[w] ??= []).push(c);
      appendFileSync(OUT, JSON.stringify({ date: new Date().toISOString(), kind: 'calibration', workload, round, threads: w, speedup: c, loadavg: os.loadavg() }) + '\n');
      console.log(`${workload} round ${round + 1}/${repeats}: the machine offers ${c.toFixed(2)}x on ${w} threads (busy loop), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    }
    for (const workers of counts) {
      const loadBefore = os.loadavg();
      const cpu0 = process.cpuUsage();
      const r = await finetune(dataset, {
        ...base,
        out: path.join(tmp, `${workload}-${round}-${workers}`),
        epochs,
        batchSize: 32,
        val: 0,
        seed: 0,
        workers,
        backend: 'wasm',
        cache: path.join(tmp, `${workload}-cache.sqlite`),
      });
      const cpu = process.cpuUsage(cpu0);
      const perEpoch = r.meta.history.map((h) => h.imagesPerSecond);
      const run = {
        round,
        workers,
        imagesPerSecond: median(perEpoch.slice(1)),
        // The whole call (set-up, workers' start, every epoch; the prefix pass too in the first round).
        cpuMsPerImage: (cpu.user + cpu.system) / 1000 / (epochs * n),
        losses: r.meta.history.map((h) => h.loss),
        loadBefore,
        loadAfter: os.loadavg(),
      };
      runs.push(run);
      const line = { date: new Date().toISOString(), kind: 'run', workload, images: n, epochs, batch: 32, ...run, perEpochImagesPerSecond: perEpoch, microBatch: r.stats.microBatch, prefixMode: r.stats.prefixMode, cpus: os.availableParallelism(), versions };
      appendFileSync(OUT, JSON.stringify(line) + '\n');
      console.log(`${workload} round ${round + 1}/${repeats} workers ${workers}: ${run.imagesPerSecond.toFixed(1)} training images/s (epochs ${perEpoch.map((v) => v.toFixed(1)).join(', ')}), load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
    }
  }
  // Ratios within each round (same load), then their median; losses vs the round's 1-worker run.
  const summary: Record<string, unknown> = { date: new Date().toISOString(), kind: 'summary', workload, images: n, epochs, repeats, cpus: os.availableParallelism(), loadavg: os.loadavg(), versions };
  for (const w of counts.slice(1)) {
    const ratios: number[] = [];
    let worstLossDiff = 0;
    for (let round = 0; round < repeats; round++) {
      const one = runs.find((r) => r.round === round && r.workers === 1)!;
      const many = runs.find((r) => r.round === round && r.workers === w)!;
      ratios.push(many.imagesPerSecond / one.imagesPerSecond);
      one.losses.forEach((l, i) => (worstLossDiff = Math.max(worstLossDiff, Math.abs(l - many.losses[i]))));
    }
    summary[`workers${w}`] = {
      medianImagesPerSecond: median(runs.filter((r) => r.workers === w).map((r) => r.imagesPerSecond)),
      medianImagesPerSecond1: median(runs.filter((r) => r.workers === 1).map((r) => r.imagesPerSecond)),
      medianCpuMsPerImage: median(runs.filter((r) => r.workers === w && r.round > 0).map((r) => r.cpuMsPerImage)),
      medianCpuMsPerImage1: median(runs.filter((r) => r.workers === 1 && r.round > 0).map((r) => r.cpuMsPerImage)),
      ratios,
      medianRatio: median(ratios),
      machineSpeedups: available[w],
      medianMachineSpeedup: median(available[w]),
      worstEpochLossDiff: worstLossDiff,
    };
  }
  appendFileSync(OUT, JSON.stringify(summary) + '\n');
  console.log(JSON.stringify(summary, null, 1));
}
rmSync(tmp, { recursive: true, force: true });
