/**
 * Learning curves of transfer learning on Fashion-MNIST: where does each method win on this machine?
 *
 * 1. A backbone pretrained by ftk: the small convnet (src/finetune/smallcnn.ts, 32x32 input) trained
 *    from scratch with `finetune()` on the 30,000 training images of classes 0-4 (T-shirt/top,
 *    trouser, pullover, dress, coat), saved as an ftk model folder.
 * 2. Transfer to classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) at n = 10, 50, 200, 1,000 and
 *    5,000 training images per class (seeded stratified subsets of the 6,000 per class; several
 *    repeats at small n), each evaluated on the fixed Fashion-MNIST test set of classes 5-9 (5,000
 *    images), by
 *    (a) svm: an RBF SVM (libsvm grid, 3-fold grid search on the subset) on the pretrained
 *        backbone's bottleneck features (its Flatten output, 256 numbers);
 *    (b) finetune: `finetune()` from the pretrained backbone (`model: 'smallcnn', weights: <folder>`):
 *        new head, phase 1 the head, phase 2 every layer at lr/10;
 *    (c) scratch: the same convnet from random weights (`finetune()` with `weights: 'none'`).
 *    Training settings are the same for all: augmentation flip, rotate 0.05, translate 0.1,
 *    zoom 0.1; Adam 1e-3; batch 32; early stopping (patience 3) on a 20% stratified split of the
 *    subset; at most max(10, ceil(300 / steps per epoch)) epochs per phase (capped at 100) so tiny
 *    subsets still get about 300 steps.
 * Writes the "fashion-mnist" section of bench/RESULTS.md.
 *
 *   npx tsx bench/fashion_mnist.ts [--sizes 10,50,200,1000,5000] [--repeats 5,5,3,1,1]
 *        [--pretrain-epochs 3] [--methods svm,finetune,scratch] [--work bench/.work/fashion-mnist]
 *        [--data /usr/share/datasets/fashion-mnist]
 *
 * The IDX files come from Debian's `dataset-fashion-mnist` (`dpkg -L dataset-fashion-mnist`).
 * Resumable: the images are written once as PNG files under <work>/png, the backbone once to
 * <work>/backbone, and every (n, repeat, method) result is appended to <work>/results.jsonl as it
 * finishes; a rerun skips what is there.
 *
 * Wall time of a run = training only (SVM: decoding and features of the subset, grid search,
 * refit; fine-tuning and scratch: the whole `finetune()` call); the evaluation on the 5,000 test
 * images is the same for every method and is not counted.
 */
import * as tf from '@tensorflow/tfjs';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { FEATURE_LINEAR_ABOVE, finetuneOnRows, fitFeatureClassifier, linearSwitchMessage } from '../src/auto/folds.js';
import { gridSearch } from '../src/classify/search.js';
import { SvmClassifier } from '../src/classify/svm.js';
import { mean, t975, std } from '../src/classify/metrics.js';
import type { Dataset, ImageEntry } from '../src/data/dataset.js';
import { decodeImage } from '../src/data/decode.js';
import { readIdx } from '../src/data/idx.js';
import { Rng } from '../src/data/random.js';
import { finetune } from '../src/finetune/finetune.js';
import { loadFinetunedLayersModel, readFinetunedMeta } from '../src/finetune/format.js';
import { preprocessPixels } from '../src/models/preprocess.js';
import { selectBackend } from '../src/runtime/backend.js';
import { LoadMonitor, machineLine, writeResultsSection } from './results_md.js';

const load = new LoadMonitor();

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,50,200,1000,5000' },
    repeats: { type: 'string', default: '5,5,3,1,1' },
    'pretrain-epochs': { type: 'string', default: '3' },
    methods: { type: 'string', default: 'svm,finetune,scratch' },
    'input-size': { type: 'string', default: '32' },
    work: { type: 'string', default: 'bench/.work/fashion-mnist' },
    data: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
  },
});
const CLASS_NAMES = ['t-shirt-top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
const SOURCE = [0, 1, 2, 3, 4];
const TARGET = [5, 6, 7, 8, 9];
const sizes = values.sizes!.split(',').map(Number);
const repeatList = values.repeats!.split(',').map(Number);
const methods = values.methods!.split(',') as Method[];
const inputSize = Number(values['input-size']);
const work = path.resolve(values.work!);
/** Every run gets at least this many epochs per phase (more when an epoch has few steps). */
const EPOCHS_FLOOR = 10;
const SVM_MAX_SAMPLES = FEATURE_LINEAR_ABOVE; // above this the exact kernel does not fit libsvm-js' heap: logistic regression on all rows
type Method = 'svm' | 'finetune' | 'scratch';

interface RunRecord {
  n: number;
  repeat: number;
  method: Method;
  accuracy: number;
  seconds: number;
  trainImages: number;
  details: Record<string, unknown>;
  date: string;
}

const t0 = performance.now();
const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s]`;
const log = (m: string) => console.log(`${stamp()} ${m}`);
const backend = await selectBackend({ backend: 'wasm' });
mkdirSync(work, { recursive: true });
const cache = path.join(work, 'cache.sqlite');

// 1. IDX -> PNG files (once).
const file = (name: string) => path.join(values.data!, name);
const [trainX, trainY, testX, testY] = await Promise.all(
  ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((f) => readIdx(file(f))),
);
log(`read ${trainX.shape.join('x')} training and ${testX.shape.join('x')} test images (IDX, ${values.data})`);
const [h, w] = trainX.shape.slice(1);
async function writePngs(split: string, X: Uint8Array, Y: Uint8Array, keep: number[]): Promise<ImageEntry[]> {
  const dir = path.join(work, 'png', split);
  mkdirSync(dir, { recursive: true });
  const rows = Array.from({ length: Y.length }, (_, i) => i).filter((i) => keep.includes(Y[i]));
  let next = 0;
  let written = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < rows.length) {
        const i = rows[next++];
        const p = path.join(dir, `${String(i).padStart(5, '0')}.png`);
        if (existsSync(p)) continue;
        await sharp(Buffer.from(X.subarray(i * h * w, (i + 1) * h * w)), { raw: { width: w, height: h, channels: 1 } }).png().toFile(p);
        written++;
      }
    }),
  );
  if (written) log(`wrote ${written} PNG files to ${dir}`);
  return rows.map((i) => ({ path: path.join(dir, `${String(i).padStart(5, '0')}.png`), file: `${split}/${String(i).padStart(5, '0')}.png`, label: Y[i], className: CLASS_NAMES[Y[i]] }));
}
const trainEntries = await writePngs('train', trainX.data as Uint8Array, trainY.data as Uint8Array, [...SOURCE, ...TARGET]);
const testEntries = await writePngs('test', testX.data as Uint8Array, testY.data as Uint8Array, TARGET);
/** A dataset over `entries` whose classes are `digits` (labels renumbered 0..k-1). */
function datasetOf(entries: ImageEntry[], digits: number[]): Dataset {
  const classes = digits.map((c) => `${c}-${CLASS_NAMES[c]}`);
  return { root: path.join(work, 'png'), classes, ignored: [], entries: entries.filter((e) => digits.includes(e.label)).map((e) => ({ ...e, label: digits.indexOf(e.label), className: classes[digits.indexOf(e.label)] })) };
}
const sourceSet = datasetOf(trainEntries, SOURCE);
const targetPool = datasetOf(trainEntries, TARGET);
const testSet = datasetOf(testEntries, TARGET);

/** Decoded, preprocessed ('tf') pixels of images, as finetune() and ftk predict see them. */
async function pixelsOf(entries: readonly ImageEntry[]): Promise<Float32Array> {
  const per = inputSize * inputSize * 3;
  const out = new Float32Array(entries.length * per);
  for (let s = 0; s < entries.length; s += 256) {
    const part = await Promise.all(entries.slice(s, s + 256).map((e) => decodeImage(e.path, { size: inputSize, crop: 'squash' })));
    part.forEach((d, k) => out.set(preprocessPixels(d.pixels, 'tf'), (s + k) * per));
  }
  return out;
}
function predictBatches(model: tf.LayersModel, pixels: Float32Array, count: number): Float32Array {
  const per = inputSize * inputSize * 3;
  const chunks: Float32Array[] = [];
  for (let s = 0; s < count; s += 500) {
    const m = Math.min(500, count - s);
    const y = tf.tidy(() => model.predict(tf.tensor4d(pixels.subarray(s * per, (s + m) * per), [m, inputSize, inputSize, 3])) as tf.Tensor);
    chunks.push(y.dataSync() as Float32Array);
    y.dispose();
  }
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const out = new Float32Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
function accuracyOf(probabilities: Float32Array, labels: readonly number[], k: number): number {
  let ok = 0;
  labels.forEach((y, i) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (probabilities[i * k + c] > probabilities[i * k + best]) best = c;
    if (best === y) ok++;
  });
  return ok / labels.length;
}
async function testAccuracyOfModel(dir: string, pixels: Float32Array, labels: readonly number[]): Promise<number> {
  const meta = await readFinetunedMeta(dir);
  const model = await loadFinetunedLayersModel(dir, meta);
  try {
    return accuracyOf(predictBatches(model, pixels, labels.length), labels, meta.classes.length);
  } finally {
    model.dispose();
  }
}

// 2. The backbone: smallcnn from scratch on classes 0-4 (once).
const backboneDir = path.join(work, 'backbone');
const pretrainEpochs = Number(values['pretrain-epochs']);
if (!existsSync(path.join(backboneDir, 'ftk.json'))) {
  log(`pretraining smallcnn (${inputSize} px) on ${sourceSet.entries.length} images of classes 0-4, at most ${pretrainEpochs} epochs`);
  await finetune(sourceSet, {
    out: backboneDir,
    model: 'smallcnn',
    inputSize,
    epochs: pretrainEpochs,
    val: 0.1,
    seed: 0,
    cache,
    backend: 'wasm',
    resume: existsSync(path.join(backboneDir, 'checkpoint.ftkc')),
    onEpoch: (e) => log(`  pretrain epoch ${e.epoch}: loss ${e.loss.toFixed(4)} acc ${e.accuracy.toFixed(4)} val_acc ${e.valAccuracy?.toFixed(4)} ${e.imagesPerSecond.toFixed(0)} img/s ${e.seconds.toFixed(0)} s`),
  });
}
const backboneMeta = await readFinetunedMeta(backboneDir);
const sourceTest = datasetOf(await writePngs('test-source', testX.data as Uint8Array, testY.data as Uint8Array, SOURCE), SOURCE);
const sourceTestAccuracy = await testAccuracyOfModel(backboneDir, await pixelsOf(sourceTest.entries), sourceTest.entries.map((e) => e.label));
log(`backbone: ${backboneMeta.history.length} epochs in ${backboneMeta.metrics.seconds.toFixed(0)} s; validation accuracy ${backboneMeta.metrics.valAccuracy?.toFixed(4)}, test accuracy on classes 0-4 ${sourceTestAccuracy.toFixed(4)}`);

// 3. The test set of classes 5-9, decoded once; its backbone features for the SVM.
const testLabels = testSet.entries.map((e) => e.label);
const testPixels = await pixelsOf(testSet.entries);
const backboneModel = await loadFinetunedLayersModel(backboneDir, backboneMeta);
const featureModel = tf.model({ inputs: backboneModel.inputs, outputs: backboneModel.getLayer('flatten').output as tf.SymbolicTensor });
const featureDim = (featureModel.outputs[0].shape as number[])[1];
const testFeatures = predictBatches(featureModel, testPixels, testLabels.length);

// 4. The curve.
const resultsFile = path.join(work, 'results.jsonl');
const done: RunRecord[] = existsSync(resultsFile)
  ? readFileSync(resultsFile, 'utf8').split('\n').filter((l) => l.trim()).flatMap((l) => {
      try {
        return [JSON.parse(l) as RunRecord];
      } catch {
        return [];
      }
    })
  : [];
/** n images per class of the pool, seeded by (n, repeat). */
function subsetRows(n: number, repeat: number): number[] {
  const rng = new Rng(1_000_003 * n + repeat);
  const rows: number[] = [];
  for (let c = 0; c < TARGET.length; c++) {
    const members = targetPool.entries.map((e, i) => (e.label === c ? i : -1)).filter((i) => i >= 0);
    rows.push(...rng.shuffle(members).slice(0, n));
  }
  return rows.sort((a, b) => a - b);
}
function epochsFor(trainRows: number): number {
  const val = Math.min(0.5, Math.max(0.2, (TARGET.length + 0.5) / trainRows));
  const steps = Math.ceil((trainRows - Math.ceil(trainRows * val)) / 32);
  return Math.min(100, Math.max(EPOCHS_FLOOR, Math.ceil(300 / steps)));
}
const poolFiles = targetPool.entries.map((e) => e.file);

async function runOne(n: number, repeat: number, method: Method): Promise<RunRecord | undefined> {
  const rows = subsetRows(n, repeat);
  const labels = rows.map((r) => targetPool.entries[r].label);
  const t = performance.now();
  const base = { date: new Date().toISOString(), n, repeat, method, trainImages: rows.length };
  if (method === 'svm') {
    const pixels = await pixelsOf(rows.map((r) => targetPool.entries[r]));
    const X = { data: predictBatches(featureModel, pixels, rows.length), rows: rows.length, cols: featureDim };
    if (rows.length > SVM_MAX_SAMPLES) {
      // Above the exact kernel's limit: ftk auto's feature path, logistic regression on all rows (C by 3-fold grid).
      log(`  ${linearSwitchMessage(rows.length)}`);
      const { model, grid } = await fitFeatureClassifier(X, labels, { folds: 3, seed: repeat, probability: false });
      const seconds = (performance.now() - t) / 1000;
      const pred = model.predict({ data: testFeatures, rows: testLabels.length, cols: featureDim });
      const accuracy = Array.from(pred).filter((p, i) => p === testLabels[i]).length / testLabels.length;
      return { ...base, accuracy, seconds, details: { classifier: 'logistic', log2C: grid.best.log2C, innerAccuracy: grid.best.meanAccuracy } };
    }
    const grid = await gridSearch(X, labels, { kernel: 'rbf' }, { folds: Math.min(3, n), seed: repeat });
    const clf = await new SvmClassifier({ kernel: 'rbf', C: grid.best.C, gamma: grid.best.gamma ?? 'scale' }).fit(X, labels);
    const seconds = (performance.now() - t) / 1000;
    const pred = clf.predict({ data: testFeatures, rows: testLabels.length, cols: featureDim });
    clf.dispose();
    const accuracy = Array.from(pred).filter((p, i) => p === testLabels[i]).length / testLabels.length;
    return { ...base, accuracy, seconds, details: { log2C: grid.best.log2C, log2Gamma: grid.best.log2Gamma, innerAccuracy: grid.best.meanAccuracy } };
  }
  const epochs = epochsFor(rows.length);
  const out = path.join(work, 'runs', `${method}-n${n}-r${repeat}`);
  const { result } = await finetuneOnRows(targetPool, poolFiles, rows, {
    out,
    model: 'smallcnn',
    weights: method === 'finetune' ? backboneDir : 'none',
    inputSize,
    epochs,
    headEpochs: epochs,
    seed: repeat,
    cache,
    backend: 'wasm',
    overwrite: true,
  });
  const seconds = (performance.now() - t) / 1000;
  const accuracy = await testAccuracyOfModel(out, testPixels, testLabels);
  const phases: Record<string, number> = {};
  for (const e of result.meta.history) phases[e.phase] = (phases[e.phase] ?? 0) + 1;
  return { ...base, accuracy, seconds, details: { maxEpochs: epochs, epochs: phases, trainImagesPerSecond: result.stats.trainImagesPerSecond, valAccuracy: result.meta.metrics.valAccuracy } };
}

for (const [i, n] of sizes.entries()) {
  for (let repeat = 0; repeat < (repeatList[i] ?? 1); repeat++) {
    for (const method of methods) {
      if (done.some((d) => d.n === n && d.repeat === repeat && d.method === method)) continue;
      log(`n=${n}/class, repeat ${repeat + 1}/${repeatList[i] ?? 1}: ${method}`);
      const r = await runOne(n, repeat, method);
      if (!r) {
        log(`  skipped: ${n * TARGET.length} training images, above the SVM's ${SVM_MAX_SAMPLES}`);
        continue;
      }
      appendFileSync(resultsFile, JSON.stringify({ ...r, loadavg: os.loadavg() }) + '\n');
      done.push(r);
      log(`  test accuracy ${(100 * r.accuracy).toFixed(2)}% in ${r.seconds.toFixed(0)} s`);
    }
  }
}
backboneModel.dispose(); // featureModel shares its layers

// 5. The section of RESULTS.md.
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const cell = (n: number, m: Method) => {
  const runs = done.filter((d) => d.n === n && d.method === m);
  if (!runs.length) return { text: 'not run', mean: Number.NaN, time: '' };
  const accs = runs.map((r) => r.accuracy);
  const mu = mean(accs);
  const interval = accs.length > 1 ? ` ± ${(100 * (t975(accs.length - 1) * std(accs)) / Math.sqrt(accs.length)).toFixed(1)}` : '';
  return { text: `${pct(mu)}${interval}`, mean: mu, time: `${mean(runs.map((r) => r.seconds)).toFixed(0)} s`, runs: runs.length };
};
const rows = sizes.map((n, i) => {
  const cells = methods.map((m) => cell(n, m));
  const ranked = methods.map((m, k) => ({ m, mu: cells[k].mean })).filter((x) => Number.isFinite(x.mu)).sort((a, b) => b.mu - a.mu);
  const winner = ranked.length ? ranked[0].m : '-';
  // Paired by repeat: the winner's margin over the runner-up, with a t interval when there are repeats.
  let margin = '';
  if (ranked.length > 1) {
    const [a, b] = [ranked[0].m, ranked[1].m];
    const diffs = Array.from({ length: repeatList[i] ?? 1 }, (_, r) => {
      const x = done.find((d) => d.n === n && d.repeat === r && d.method === a);
      const y = done.find((d) => d.n === n && d.repeat === r && d.method === b);
      return x && y ? x.accuracy - y.accuracy : Number.NaN;
    }).filter(Number.isFinite);
    const md = mean(diffs);
    const hw = diffs.length > 1 ? (t975(diffs.length - 1) * std(diffs)) / Math.sqrt(diffs.length) : Number.NaN;
    const signed = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;
    margin = `${signed(md)} over ${b}${Number.isFinite(hw) ? ` (95% interval ${signed(md - hw)} to ${signed(md + hw)}${md - hw <= 0 ? ': within noise' : ''})` : ' (one repeat: no interval)'}`;
  }
  return `| ${n} (${n * TARGET.length}) | ${repeatList[i] ?? 1} | ${cells.map((c) => `${c.text}${c.time ? ` / ${c.time}` : ''}`).join(' | ')} | **${winner}** ${margin} |`;
});
/** An ASCII plot of mean accuracy against log n. */
function asciiCurve(): string {
  const height = 12;
  const lo = Math.floor(10 * Math.min(...done.map((d) => d.accuracy))) / 10;
  const hi = 1;
  const marks: Record<Method, string> = { svm: 'S', finetune: 'F', scratch: 'o' };
  const colOf = (k: number) => 2 + k * 12;
  const grid = Array.from({ length: height + 1 }, () => new Array<string>(colOf(sizes.length - 1) + 4).fill(' '));
  sizes.forEach((n, k) => {
    for (const m of methods) {
      const c = cell(n, m);
      if (!Number.isFinite(c.mean)) continue;
      const y = Math.round(((c.mean - lo) / (hi - lo)) * height);
      const row = grid[height - y];
      const x = colOf(k) + methods.indexOf(m);
      row[x] = row[x] === ' ' ? marks[m] : '*';
    }
  });
  const lines = grid.map((r, i) => `${i % 3 === 0 ? pct(hi - (i / height) * (hi - lo)).padStart(6) : '      '} |${r.join('')}`);
  lines.push(`       +${'-'.repeat(colOf(sizes.length - 1) + 4)}`);
  lines.push(`        ${sizes.map((n) => `  ${String(n).padEnd(10)}`).join('')}`);
  lines.push(`        images per class (log scale); ${methods.map((m) => `${marks[m]} = ${m}`).join(', ')}`);
  return lines.join('\n');
}
/** Mean epochs actually run per phase, over the repeats. */
const epochRows = sizes.map((n) => {
  const parts = methods.filter((m) => m !== 'svm').map((m) => {
    const runs = done.filter((d) => d.n === n && d.method === m);
    if (!runs.length) return '-';
    const phases = [...new Set(runs.flatMap((r) => Object.keys((r.details.epochs ?? {}) as Record<string, number>)))];
    const text = phases.map((p) => `${p} ${mean(runs.map((r) => ((r.details.epochs as Record<string, number>)[p] ?? 0))).toFixed(1)}`).join(' + ');
    return `${text} (max ${runs[0].details.maxEpochs})`;
  });
  return `| ${n} | ${parts.join(' | ')} |`;
});
const cmd = ['npx tsx bench/fashion_mnist.ts', ...Object.entries(values).filter(([k]) => !['work', 'data'].includes(k)).map(([k, v]) => `--${k} ${v}`)].join(' ');
const totalRuns = done.length;
const totalSeconds = done.reduce((a, d) => a + d.seconds, 0);
const section = `## Fashion-MNIST: learning curves of transfer (SVM vs fine-tune vs scratch)

Backbone: the small convnet (src/finetune/smallcnn.ts, ${inputSize}x${inputSize} grey-as-RGB input) trained from scratch by \`finetune()\` on the ${sourceSet.entries.length} training images of classes 0-4 (T-shirt/top, trouser, pullover, dress, coat): ${backboneMeta.history.length} epochs (at most ${pretrainEpochs}), ${backboneMeta.metrics.seconds.toFixed(0)} s, test accuracy on classes 0-4 ${pct(sourceTestAccuracy)} (validation ${pct(backboneMeta.metrics.valAccuracy ?? Number.NaN)}). Transferred to classes 5-9 (sandal, shirt, sneaker, bag, ankle boot), trained on n images per class (seeded stratified subsets), scored on the fixed test set of classes 5-9 (${testLabels.length} images). Each cell: mean test accuracy (± half-width of the 95% interval over the repeats, where there are repeats) / mean wall time of training.

| n per class (images) | repeats | ${methods.join(' | ')} | best (paired margin, points) |
|---|---|${methods.map(() => '---|').join('')}---|
${rows.join('\n')}

\`\`\`
${asciiCurve()}
\`\`\`

Epochs actually run per phase (mean over the repeats; early stopping with patience 3):

| n per class | ${methods.filter((m) => m !== 'svm').join(' | ')} |
|---|${methods.filter((m) => m !== 'svm').map(() => '---|').join('')}
${epochRows.join('\n')}

- **svm**: the pretrained backbone's Flatten output (${featureDim} numbers), standardized, RBF SVM with C and gamma from libsvm's grid by a 3-fold search on the subset, refit on the subset. Above ${SVM_MAX_SAMPLES} training images (the exact kernel's limit in libsvm-js' 2 GiB heap), that is at 5,000 per class (25,000 images), the cell is ftk auto's feature path instead: multinomial logistic regression (L-BFGS) on all rows, C by a 3-fold grid (log2 C -13..3).
- **finetune**: \`finetune(subset, { model: 'smallcnn', weights: '<backbone folder>' })\`: the backbone's convolutions, a new head (Dense 64, dropout 0.5, softmax), phase 1 the head with the convolutions frozen (from cached pooled features of 4 augmented views per image), phase 2 every layer at lr/10.
- **scratch**: the same network and settings from random weights, one phase at lr 1e-3.
- All: augmentation flip, rotate 0.05, translate 0.1, zoom 0.1; Adam; batch 32; early stopping (patience 3, best weights kept) on a 20% stratified split of the subset (at least one image per class); at most max(${EPOCHS_FLOOR}, ceil(300 / steps per epoch)) epochs per phase, capped at 100, so a tiny subset may train for up to about 300 steps (early stopping usually ends it much sooner on its few validation images; the epochs actually run are in the table above; a run that reached its cap was still improving and is budget-limited). Wall time: training only (for the SVM: decoding, features of the subset, grid search and refit); scoring the 5,000 test images is the same for all and not counted. ${totalRuns} runs, ${(totalSeconds / 60).toFixed(0)} min of training in total.

Command (${new Date().toISOString().slice(0, 10)}): \`apt-get install -y dataset-fashion-mnist\` then \`${cmd}\` (resumable: results in \`${path.relative(process.cwd(), resultsFile)}\`).

Machine: ${machineLine(backend.name, load)}.
`;
writeResultsSection('fashion-mnist', section);
console.log(section);
