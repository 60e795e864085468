/**
 * Acceptance 1 of issue 18, fine-tuned path: ECE (15 bins) of the fine-tuned softmax before and after
 * the temperature `finetune()` fits on its own 20% validation split, on images neither training nor
 * the temperature saw. Two sets (`--dataset`):
 *
 * - fashion-mnist (default): Fashion-MNIST 5-9 at 200 images per class, measured on the 5,000 test
 *   images, 3 seeds. Same protocol as bench/fashion_mnist.ts's 'finetune' method (smallcnn backbone
 *   pretrained on classes 0-4, new head, phase 1 the head, phase 2 every layer at lr/10, early
 *   stopping on a 20% stratified split of the 1,000 images).
 *   Needs bench/.work/fashion-mnist (npx tsx bench/fashion_mnist.ts --sizes 200 --repeats 1 --methods svm).
 * - cats-dogs: the 2,000 photos of ../shared/datasets/cats-dogs in 5 stratified outer folds (seed 0,
 *   as bench/trust/calibration.ts's SVM rows); per fold `finetuneOnRows` on the 4 training folds
 *   (MobileNet 0.25 from ../shared/models/mobilenet_2_5_224_tf_no_top.h5, 224 px, every other option
 *   at finetune()'s default, `workers: 'auto'`), then the held-out fold scored by the saved model;
 *   ECE per fold and of the 5 held-out folds pooled (each image calibrated by its own fold's model).
 *   Each finished fold is kept in bench/.work/trust/finetune-catsdogs/<run>/fold<f>.json and skipped
 *   by the next run (`--fresh` redoes them); the record is written once all 5 folds are done.
 *
 * In both, the saved model scores the images raw (softmax) and calibrated (`applyCalibration` with
 * the `calibration` of its ftk.json).
 *
 *   npx tsx bench/trust/finetune_calibration.ts [--seeds 3]
 *   npx tsx bench/trust/finetune_calibration.ts --dataset cats-dogs [--fresh]
 *   npx tsx bench/trust/finetune_calibration.ts --dataset cats-dogs --limit 40 --epochs 1 --size 64   # smoke run, not recorded
 * Raw records: bench/trust/results/calibration.jsonl.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { finetuneOnRows } from '../../src/auto/folds.js';
import { findDataset, type Dataset, type ImageEntry } from '../../src/data/dataset.js';
import { decodeImage } from '../../src/data/decode.js';
import { Rng } from '../../src/data/random.js';
import { readIdx } from '../../src/data/idx.js';
import { foldSplit, stratifiedKFold } from '../../src/data/split.js';
import { loadFinetunedLayersModel, readFinetunedMeta } from '../../src/finetune/format.js';
import type { CalibrationJson } from '../../src/formats/trust.js';
import { preprocessPixels } from '../../src/models/preprocess.js';
import { selectBackend } from '../../src/runtime/backend.js';
import { applyCalibration, reliability } from '../../src/trust/calibrate.js';
import { eceFields, record, round } from './common.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'fashion-mnist' },
    seeds: { type: 'string', default: '3' },
    // cats-dogs smoke runs (any of these: nothing is recorded)
    limit: { type: 'string' },
    epochs: { type: 'string' },
    size: { type: 'string' },
    fresh: { type: 'boolean', default: false },
  },
});
const DATASETS = ['fashion-mnist', 'cats-dogs'];
if (!DATASETS.includes(values.dataset!)) throw new Error(`--dataset must be one of [${DATASETS.join(', ')}]. Received --dataset ${values.dataset}.`);
const positive = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer. Received --${name} ${v}.`);
  return n;
};
await selectBackend({ backend: 'wasm' });

/**
 * The saved model's raw softmax of each image (rows in `images` order), and its calibration (absent
 * when the validation split had fewer than 20 images: only in smoke runs).
 */
async function softmaxOf(dir: string, images: readonly ImageEntry[]): Promise<{ probs: Float32Array[]; calibration?: CalibrationJson; classes: string[] }> {
  const meta = await readFinetunedMeta(dir);
  const model = await loadFinetunedLayersModel(dir, meta);
  const size = meta.preprocessing.inputSize;
  const per = size * size * 3;
  const k = meta.classes.length;
  const probs: Float32Array[] = [];
  try {
    for (let s = 0; s < images.length; s += 100) {
      const part = images.slice(s, s + 100);
      const px = new Float32Array(part.length * per);
      const decoded = await Promise.all(part.map((e) => decodeImage(e.path, { size, crop: meta.preprocessing.crop })));
      decoded.forEach((d, j) => px.set(preprocessPixels(d.pixels, meta.preprocessing.mode), j * per));
      const y = tf.tidy(() => model.predict(tf.tensor4d(px, [part.length, size, size, 3])) as tf.Tensor);
      const v = y.dataSync() as Float32Array;
      y.dispose();
      for (let j = 0; j < part.length; j++) probs.push(v.slice(j * k, (j + 1) * k));
    }
  } finally {
    model.dispose();
  }
  return { probs, calibration: meta.calibration, classes: meta.classes };
}

const accuracyOf = (probs: readonly ArrayLike<number>[], labels: readonly number[]) =>
  probs.filter((p, i) => {
    let top = 0;
    for (let c = 1; c < p.length; c++) if (p[c] > p[top]) top = c;
    return top === labels[i];
  }).length / labels.length;

async function fashion(): Promise<void> {
  const work = path.resolve('bench/.work/fashion-mnist');
  const TARGET = [5, 6, 7, 8, 9];
  const names = ['sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
  const trainY = (await readIdx('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz')).data as Uint8Array;
  const testY = (await readIdx('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz')).data as Uint8Array;
  const entries = (split: string, Y: Uint8Array) =>
    Array.from({ length: Y.length }, (_, i) => i)
      .filter((i) => TARGET.includes(Y[i]))
      .map((i) => ({ path: path.join(work, 'png', split, `${String(i).padStart(5, '0')}.png`), file: `${split}/${String(i).padStart(5, '0')}.png`, label: TARGET.indexOf(Y[i]), className: names[TARGET.indexOf(Y[i])] }));
  const pool: Dataset = { root: path.join(work, 'png'), classes: names, ignored: [], entries: entries('train', trainY) };
  const test = entries('test', testY);
  const files = pool.entries.map((e) => e.file);

  for (let seed = 0; seed < Number(values.seeds); seed++) {
    const rng = new Rng(1000 + seed);
    const rows: number[] = [];
    for (let c = 0; c < 5; c++) rows.push(...rng.shuffle(pool.entries.map((e, i) => (e.label === c ? i : -1)).filter((i) => i >= 0)).slice(0, 200));
    rows.sort((a, b) => a - b);
    const out = path.resolve('bench/.work/trust/finetune', `seed${seed}`);
    const t0 = performance.now();
    // bench/fashion_mnist.ts's settings at 1,000 images: max(10, ceil(300 / 25 steps)) = 12 epochs per phase.
    await finetuneOnRows(pool, files, rows, { out, model: 'smallcnn', weights: path.join(work, 'backbone'), inputSize: 32, epochs: 12, headEpochs: 12, seed, cache: false, backend: 'wasm', overwrite: true, val: 0.2 });
    const seconds = (performance.now() - t0) / 1000;
    const { probs, calibration: cal } = await softmaxOf(out, test);
    if (!cal) throw new Error(`${out}/ftk.json has no calibration.`);
    const labels = test.map((e) => e.label);
    const before = reliability(probs, labels);
    const after = reliability(applyCalibration(cal, probs), labels);
    const acc = accuracyOf(probs, labels);
    console.log(`fashion finetune seed ${seed}: accuracy ${(100 * acc).toFixed(2)}%, T=${cal.temperature.toFixed(3)} (validation ECE ${cal.before.ece.toFixed(4)} -> ${cal.after.ece.toFixed(4)}), test ECE ${before.ece.toFixed(4)} -> ${after.ece.toFixed(4)}`);
    record('calibration', {
      set: `fashion-mnist 5-9 @200/class finetune (smallcnn), seed ${seed}`,
      protocol: 'finetune() on 1000 images (200/class, seeded), temperature fitted on its 20% validation split, ECE on the 5000 test images of classes 5-9',
      samples: labels.length,
      accuracy: round(acc),
      temperature: round(cal.temperature),
      validationEceBefore: round(cal.before.ece),
      validationEceAfter: round(cal.after.ece),
      ...eceFields(before, after),
      seconds: round(seconds, 1),
    });
  }
}

/** One finished cats-dogs fold as kept in bench/.work (the held-out rows' raw softmax included, for the pooled ECE). */
interface FoldDone {
  fold: number;
  date: string;
  loadavg: number[];
  trainImages: number;
  testRows: number[];
  probs: number[][];
  /** Identity (temperature 1) when finetune() fitted none: smoke runs with fewer than 20 validation images. */
  calibration: Pick<CalibrationJson, 'method' | 'temperature'> & Partial<CalibrationJson>;
  epochs: { head: number; finetune: number };
  workers: number;
  seconds: number;
}

async function catsDogs(): Promise<void> {
  const limit = positive('limit', values.limit);
  const epochs = positive('epochs', values.epochs);
  const size = positive('size', values.size);
  const smoke = limit !== undefined || epochs !== undefined || size !== undefined;
  const K = 5;
  const weights = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
  let dataset = await findDataset(path.resolve('../shared/datasets/cats-dogs'));
  if (limit !== undefined) {
    // The first ceil(limit / classes) images of each class, in dataset order.
    const per = Math.ceil(limit / dataset.classes.length);
    const seen = new Array<number>(dataset.classes.length).fill(0);
    dataset = { ...dataset, entries: dataset.entries.filter((e) => seen[e.label]++ < per) };
  }
  const files = dataset.entries.map((e) => e.file);
  const labels = dataset.entries.map((e) => e.label);
  const folds = stratifiedKFold(labels, K, { shuffle: true, seed: 0 });
  const work = path.resolve('bench/.work/trust/finetune-catsdogs', smoke ? `smoke-limit${limit ?? 'all'}-epochs${epochs ?? 'default'}-size${size ?? 224}` : 'full');
  mkdirSync(work, { recursive: true });
  // FTK_HOME of this run: nothing is downloaded (the weights are a file), but nothing lands in the user's home either.
  process.env.FTK_HOME = path.join(work, 'ftk-home');
  console.log(`cats-dogs: ${dataset.entries.length} images (${dataset.classes.join(', ')}), ${K} folds, work folder ${work}${smoke ? ' (smoke run: nothing is recorded)' : ''}`);

  // 1-minute load average every 30 s while this run trains and scores.
  const loads: number[] = [os.loadavg()[0]];
  const sampler = setInterval(() => loads.push(os.loadavg()[0]), 30_000);
  const t0 = performance.now();
  const done: FoldDone[] = [];
  try {
    for (let f = 0; f < K; f++) {
      const file = path.join(work, `fold${f}.json`);
      if (existsSync(file) && !values.fresh) {
        done.push(JSON.parse(readFileSync(file, 'utf8')));
        console.log(`  fold ${f}: done on ${done[f].date}, skipped (--fresh redoes it)`);
        continue;
      }
      const { train, test } = foldSplit(folds, f);
      const out = path.join(work, `model${f}`);
      const started = performance.now();
      const { result } = await finetuneOnRows(dataset, files, train, {
        out,
        model: 'mobilenet',
        alpha: 0.25,
        weights,
        ...(size ? { inputSize: size } : {}),
        ...(epochs ? { epochs, headEpochs: epochs } : {}),
        backend: 'wasm',
        workers: 'auto',
        cache: path.join(work, 'features.sqlite'),
        overwrite: true,
        onNotice: (m) => console.log(`    ${m}`),
      });
      const scored = await softmaxOf(out, Array.from(test, (r) => dataset.entries[r]));
      const { probs, classes } = scored;
      if (!scored.calibration && !smoke) throw new Error(`fold ${f}: ${out}/ftk.json has no calibration.`);
      const calibration = scored.calibration ?? { method: 'none' as const, temperature: 1 };
      if (classes.join('\n') !== dataset.classes.join('\n')) throw new Error(`fold ${f}: the model's classes [${classes.join(', ')}] are not the dataset's [${dataset.classes.join(', ')}].`);
      const history = result.meta.history;
      const fold: FoldDone = {
        fold: f,
        date: new Date().toISOString(),
        loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
        trainImages: train.length,
        testRows: Array.from(test),
        probs: probs.map((p) => Array.from(p)),
        calibration,
        epochs: { head: history.filter((h) => h.phase === 'head').length, finetune: history.filter((h) => h.phase === 'finetune').length },
        workers: result.stats.workers,
        seconds: round((performance.now() - started) / 1000, 1),
      };
      writeFileSync(file, JSON.stringify(fold) + '\n');
      done.push(fold);
      const y = fold.testRows.map((r) => labels[r]);
      console.log(`  fold ${f}: T=${calibration.temperature.toFixed(3)}, test ECE ${reliability(fold.probs, y).ece.toFixed(4)} -> ${reliability(applyCalibration(calibration, fold.probs), y).ece.toFixed(4)}, accuracy ${(100 * accuracyOf(fold.probs, y)).toFixed(2)}%, ${fold.seconds} s`);
    }
  } finally {
    clearInterval(sampler);
  }
  loads.push(os.loadavg()[0]);

  const allRaw: number[][] = [];
  const allCal: Float64Array[] = [];
  const allY: number[] = [];
  const perFold = done.map((d) => {
    const y = d.testRows.map((r) => labels[r]);
    const cal = applyCalibration(d.calibration, d.probs);
    const b = reliability(d.probs, y);
    const a = reliability(cal, y);
    allRaw.push(...d.probs);
    allCal.push(...cal);
    allY.push(...y);
    return {
      fold: d.fold,
      temperature: round(d.calibration.temperature),
      method: d.calibration.method,
      validationImages: d.calibration.before?.samples ?? 0,
      validationEceBefore: d.calibration.before ? round(d.calibration.before.ece) : null,
      validationEceAfter: d.calibration.after ? round(d.calibration.after.ece) : null,
      samples: y.length,
      accuracy: round(accuracyOf(d.probs, y)),
      eceBefore: round(b.ece),
      eceAfter: round(a.ece),
      nllBefore: round(b.nll),
      nllAfter: round(a.nll),
      epochs: d.epochs,
      workers: d.workers,
      seconds: d.seconds,
      date: d.date,
      loadavg: d.loadavg,
    };
  });
  const before = reliability(allRaw, allY);
  const after = reliability(allCal, allY);
  const acc = accuracyOf(allRaw, allY);
  console.log(`cats-dogs finetune, ${allY.length} held-out images: accuracy ${(100 * acc).toFixed(2)}%, ECE ${before.ece.toFixed(4)} -> ${after.ece.toFixed(4)}, NLL ${before.nll.toFixed(4)} -> ${after.nll.toFixed(4)}; temperatures ${perFold.map((p) => p.temperature.toFixed(3)).join(', ')}`);
  console.log(`  load average (1 min) during this run: ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)}, mean ${(loads.reduce((s, x) => s + x, 0) / loads.length).toFixed(2)} (${loads.length} samples)`);
  if (smoke) {
    console.log('smoke run: not recorded');
    return;
  }
  record('calibration', {
    set: 'cats-dogs finetune (mobilenet 0.25)',
    protocol: '5 outer folds (seed 0), finetune() on the training folds (224 px, default options), temperature fitted on its 20% validation split',
    samples: allY.length,
    accuracy: round(acc),
    ...eceFields(before, after),
    perFold,
    // This invocation only (folds done by an earlier one carry their own date and load average).
    loadDuring: { min: round(Math.min(...loads), 2), max: round(Math.max(...loads), 2), mean: round(loads.reduce((s, x) => s + x, 0) / loads.length, 2), samples: loads.length },
    seconds: round((performance.now() - t0) / 1000, 1),
  });
}

if (values.dataset === 'cats-dogs') await catsDogs();
else await fashion();
