/**
 * The 5-fold cats-dogs fine-tuning of the small-data table (bench/cats_dogs_table.ts, the
 * "finetune" row of bench/RESULTS.md: MobileNet 0.25, 288 px centre crop, `--freeze 11`, 8 views,
 * dropout 0.5, at most 15 epochs) alone, with a chosen number of training workers, cold (a fresh
 * run folder and feature cache): its wall time before (workers 1, the table's 33.2 min of
 * 2026-11-28) and after data-parallel training (issue 15, acceptance 1).
 *
 *   npx tsx bench/finetune/five_fold.ts [--workers 2] [--folds 5] [--run-folds 5] [--out bench/.work/five-fold]
 *
 * Appends one JSON line to bench/finetune/five_fold.jsonl: date, commit, workers, wall time,
 * per-fold accuracy and seconds, the 1-minute load average sampled every 15 s, versions.
 */
import { execSync } from 'node:child_process';
import { appendFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compareMethods } from '../../src/bench/compare.js';
import { selectBackend } from '../../src/runtime/backend.js';
import { LoadMonitor } from '../results_md.js';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    folds: { type: 'string', default: '5' },
    'run-folds': { type: 'string' },
    epochs: { type: 'string', default: '15' },
    out: { type: 'string', default: 'bench/.work/five-fold' },
  },
});
const out = path.resolve(values.out!, `workers-${values.workers}`);
rmSync(out, { recursive: true, force: true });
const backend = await selectBackend({ backend: 'wasm' });
const load = new LoadMonitor(15_000);
const loadStart = os.loadavg();
const t0 = performance.now();
const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s]`;
const result = await compareMethods(path.resolve('../shared/datasets/cats-dogs'), {
  out,
  methods: ['finetune'],
  folds: Number(values.folds),
  runFolds: values['run-folds'] ? Number(values['run-folds']) : undefined,
  seed: 0,
  model: 'mobilenet',
  alpha: 0.25,
  weights: path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5'),
  inputSize: 288,
  crop: 'center',
  finetune: { freeze: 11, epochs: Number(values.epochs), views: 8, dropout: 0.5 },
  backend: 'wasm',
  workers: Number(values.workers),
  cache: path.join(out, 'cache.sqlite'),
  onStage: (m) => console.log(`${stamp()} ${m}`),
  onEpoch: (e) => console.log(`${stamp()}   fold ${e.benchFold + 1} ${e.stage} epoch ${e.epoch}: val_acc ${e.valAccuracy?.toFixed(4)} ${e.imagesPerSecond.toFixed(1)} img/s`),
});
const ft = result.methods.find((m) => m.method === 'finetune')!;
const record = {
  date: new Date().toISOString(),
  commit: execSync('git rev-parse --short HEAD').toString().trim(),
  bench: 'cats-dogs 5-fold fine-tuning (the small-data table settings)',
  workers: Number(values.workers),
  folds: result.folds.summarised,
  wallSeconds: (performance.now() - t0) / 1000,
  methodSeconds: ft.seconds,
  meanAccuracy: ft.meanAccuracy,
  ci95: ft.ci95,
  foldAccuracies: ft.foldAccuracies,
  trainImagesPerSecond: ft.trainImagesPerSecond,
  details: ft.details,
  loadavg: { start: loadStart, end: os.loadavg(), sampled1min: load.range() },
  cores: os.availableParallelism(),
  versions: { node: process.version, ftk: result.ftkVersion, backend: backend.name },
};
appendFileSync(path.resolve('bench/finetune/five_fold.jsonl'), JSON.stringify(record) + '\n');
console.log(JSON.stringify(record));
