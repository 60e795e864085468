/**
 * `compareMethods()` / `ftk bench`: the small-data table on your own data. Three ways to get a
 * classifier, on the SAME seeded stratified folds (src/data/split.ts, exact duplicates kept in one
 * fold), each scored on the held-out fold from real predictions:
 *
 * - `scratch`: a convnet trained from scratch with augmentation (default: the Keras blog's small
 *   convnet, src/finetune/smallcnn.ts);
 * - `svm`: bottleneck features of a pretrained backbone + an RBF SVM whose C and gamma are chosen
 *   by a grid search inside each training fold (nested; the same code as `ftk auto`);
 * - `finetune`: the pretrained backbone with a new head, fine-tuned (head, then the top layers at
 *   lr/10; the same code as `ftk auto`).
 *
 * Reported per method: per-fold accuracy, mean with a 95% interval (Student t over folds), wall
 * time, images/s; and paired per-fold differences between methods.
 *
 * Cost and resumability: the work runs fold-major (fold 1: every method, then fold 2, ...), so
 * when `runFolds` or the `budget` stops early, every method has run on exactly the same folds.
 * Each finished (method, fold) is appended to `<out>/folds.jsonl` at once; a rerun with the same
 * dataset, folds and seed skips what is there (per-method settings are part of the key, so a
 * changed setting reruns that method only).
 *
 * @example
 * const r = await compareMethods('photos/', { out: 'bench-run', model: 'mobilenet', alpha: 0.25, weights: 'mobilenet.h5', folds: 5 });
 * console.log(benchTableMarkdown(r));
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { argmaxScores, FEATURE_LINEAR_ABOVE, finetuneOnRows, keepDuplicatesTogether, runMessages, scoreModelOnRows, svmOnFold } from '../auto/folds.js';
import { mean, meanInterval95, std } from '../classify/metrics.js';
import { findDataset, type Dataset } from '../data/dataset.js';
import { findDuplicates, sha256Files } from '../data/hash.js';
import { foldSplit, stratifiedKFold } from '../data/split.js';
import { DatasetError, OptionsError } from '../errors.js';
import { extractFeatures } from '../extract/extract.js';
import { checkpointPath } from '../finetune/checkpoint.js';
import type { EpochRecord, FinetuneOptions } from '../finetune/options.js';
import type { BackboneInfo } from '../formats/features.js';
import type { PairedComparison } from '../formats/run_report.js';
import { pairedComparison } from '../report/build.js';
import { selectBackend, type BackendName } from '../runtime/backend.js';
import { chooseDevice, trainingBackendFor, type DeviceChoice, type DeviceName } from '../runtime/device.js';
import type { DeviceRecord } from '../formats/device.js';
import { packageInfo } from '../runtime/package_info.js';
import { BENCH_DEFAULTS, BENCH_METHODS, type BenchMethod } from './defaults.js';

export { BENCH_METHODS, type BenchMethod };

/** Fine-tuning / from-scratch settings passed to `finetune()` (everything but where and how it runs). */
export type TrainSettings = Omit<FinetuneOptions, 'out' | 'folds' | 'resume' | 'overwrite' | 'backend' | 'workers' | 'device' | 'cache' | 'onProgress' | 'onEpoch' | 'onNotice'>;

export interface CompareMethodsOptions {
  /** Run folder: folds.jsonl (one line per finished method x fold), config.json, fold models, bench.json. Required. */
  out: string;
  /** Methods, in the order they run within a fold. Default ['scratch', 'svm', 'finetune']. */
  methods?: BenchMethod[];
  /** Stratified folds. Default 5. */
  folds?: number;
  /** Run only the first `runFolds` of the `folds` folds (a budget-limited run says "3 of 5 folds"). Default: all. */
  runFolds?: number;
  /** Seed of the folds and of training. Default 0. */
  seed?: number;
  /** Pretrained backbone of `svm` and `finetune`. Default 'mobilenet_v2'. */
  model?: string;
  /** Width multiplier (MobileNets). Default: the model's (1.0). */
  alpha?: number;
  /** 'imagenet' or a Keras .h5 / TF.js model.json path. Default 'imagenet'. */
  weights?: string;
  /** Square input size of `svm` and `finetune`. Default: the model's. */
  inputSize?: number;
  /** 'squash' or 'center' before resizing, for `svm` and `finetune`. Default 'squash'. */
  crop?: 'squash' | 'center';
  /** Largest number of epochs per phase of `finetune` and of `scratch` (early stopping may end sooner). Default: finetune's (10). */
  epochs?: number;
  /** More `finetune` settings (freeze, views, dropout, lr, augment, headEpochs, ...); they win over the options above. */
  finetune?: TrainSettings;
  /** `scratch` settings. Default `{ model: 'smallcnn' }` (150x150, augmented, finetune's defaults). */
  scratch?: TrainSettings;
  /** Minutes: no new fold starts when the slowest fold so far would not fit in what is left (said in `cuts`). Default: no limit. */
  budget?: number;
  backend?: BackendName | 'auto';
  /** Training worker threads of `scratch` and `finetune` (`FinetuneOptions.workers`; not part of a method's settings key: results agree within float rounding). Default: finetune's ('auto'). */
  workers?: number | 'auto';
  /** Where models run (src/runtime/device.ts), chosen once for every method and fold. Default 'auto'. */
  device?: DeviceName | DeviceChoice;
  /** Feature cache of features and frozen-layer outputs (see extractFeatures). Default true (`<FTK_HOME>/cache`). */
  cache?: boolean | string;
  /** Forget earlier results in `out` and start over. Default false. */
  overwrite?: boolean;
  /** Stage announcements ("fold 2/5: finetune"). */
  onStage?: (message: string) => void;
  /** Usable but weaker results. */
  onWarning?: (message: string) => void;
  onProgress?: (p: { stage: string; done: number; total: number; imagesPerSecond?: number }) => void;
  /** Each finished (method, fold), as it is written. */
  onFold?: (record: BenchFoldRecord) => void;
  /** Each training epoch of `scratch` and `finetune`. */
  onEpoch?: (record: EpochRecord & { method: BenchMethod; benchFold: number }) => void;
}

/** One line of `<out>/folds.jsonl`: one method on one fold. */
export interface BenchFoldRecord {
  kind: 'fold';
  method: BenchMethod;
  /** 0-based fold index. */
  fold: number;
  /** Hash of the method's settings (a record is reused only with the same key). */
  key: string;
  accuracy: number;
  /** Held-out images predicted correctly / predicted (an undecodable image is not predicted). */
  correct: number;
  scored: number;
  testImages: number;
  trainImages: number;
  /** Wall time of training + predicting this fold (SVM: the grid search, refit and prediction). */
  seconds: number;
  /** Predicted class of each held-out image, in the fold's test order (-1: not predicted). */
  predicted: number[];
  /** Method details: chosen C / gamma, epochs run, training images/s, ... */
  details: Record<string, unknown>;
  date: string;
}

/** A cost paid once for every fold (the SVM's feature extraction), amortised over the folds. */
export interface BenchSharedRecord {
  kind: 'shared';
  method: BenchMethod;
  key: string;
  what: string;
  seconds: number;
  images: number;
  date: string;
}

export interface BenchMethodSummary {
  method: BenchMethod;
  /** What ran, for humans. */
  label: string;
  /** 0-based folds summarised (the same for every method). */
  folds: number[];
  foldAccuracies: number[];
  meanAccuracy: number;
  stdAccuracy: number;
  /** 95% interval of the mean fold accuracy (Student t). */
  ci95: [number, number];
  /** Wall time over the summarised folds, shared costs (feature extraction) included. */
  seconds: number;
  /** Wall time of the shared once-only part (feature extraction), included in `seconds`. */
  sharedSeconds: number;
  /** Images of the summarised folds (training + held-out, each fold counted) per second of `seconds`. */
  imagesPerSecond: number;
  /** Mean training throughput reported by fine-tuning (forward + backward images/s), when it trains. */
  trainImagesPerSecond?: number;
  settings: Record<string, unknown>;
  details: Record<string, unknown>[];
}

export interface CompareMethodsResult {
  format: 'ftk-bench';
  formatVersion: 1;
  date: string;
  ftkVersion: string;
  dataset: { root: string; classes: string[]; counts: number[]; images: number; duplicateGroups: number; unreadable: number };
  folds: { k: number; seed: number; planned: number[]; summarised: number[]; note?: string };
  methods: BenchMethodSummary[];
  /** Paired per-fold differences, every pair of methods in `methods` order (a - b). */
  comparisons: PairedComparison[];
  /** Folds or methods not run, and why. */
  cuts: string[];
  warnings: string[];
  machine: { cpu?: string; cores: number; memoryGiB: number; platform: string; node: string; backend: string; device: DeviceRecord; loadavg: number[] };
  /** Wall time of this call (a resumed run: the part it ran). */
  seconds: number;
  /** Where the per-fold records are. */
  records: string;
}

export { BENCH_DEFAULTS };

const RECORDS = 'folds.jsonl';
const CONFIG = 'config.json';

function keyOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

function checkOptions(o: CompareMethodsOptions): void {
  const need = (ok: boolean, message: string, suggestion?: string) => {
    if (!ok) throw new OptionsError(message, { code: 'BENCH_BAD_OPTION', suggestion });
  };
  need(typeof o.out === 'string' && o.out.length > 0, 'bench needs an output folder (out / --out).', 'Pass --out <dir>.');
  const methods = o.methods ?? BENCH_DEFAULTS.methods;
  need(methods.length > 0, 'methods is empty.', `Pass some of [${BENCH_METHODS.join(', ')}].`);
  for (const m of methods) need(BENCH_METHODS.includes(m), `Unknown method "${m}".`, `Must be one of [${BENCH_METHODS.join(', ')}].`);
  need(new Set(methods).size === methods.length, `A method is listed twice: [${methods.join(', ')}].`);
  const k = o.folds ?? BENCH_DEFAULTS.folds;
  need(Number.isInteger(k) && k >= 2, `folds must be an integer >= 2. Received folds=${k}.`, 'Use --folds 5.');
  if (o.runFolds !== undefined) need(Number.isInteger(o.runFolds) && o.runFolds >= 1 && o.runFolds <= k, `runFolds must be an integer in [1, ${k}]. Received runFolds=${o.runFolds}.`);
  if (o.budget !== undefined) need(o.budget > 0, `budget must be a positive number of minutes. Received budget=${o.budget}.`);
  if (o.epochs !== undefined) need(Number.isInteger(o.epochs) && o.epochs >= 1, `epochs must be an integer >= 1. Received epochs=${o.epochs}.`);
  need(Number.isInteger(o.seed ?? 0), `seed must be an integer. Received seed=${o.seed}.`);
}

async function readRecords(file: string): Promise<(BenchFoldRecord | BenchSharedRecord)[]> {
  if (!existsSync(file)) return [];
  const lines = (await fsp.readFile(file, 'utf8')).split('\n').filter((l) => l.trim());
  const out: (BenchFoldRecord | BenchSharedRecord)[] = [];
  for (const line of lines) {
    try {
      out.push(JSON.parse(line));
    } catch {
      // A line cut by a kill: that (method, fold) runs again.
    }
  }
  return out;
}

function describeBackbone(o: { model: string; alpha?: number }): string {
  return `${o.model}${o.alpha !== undefined ? ` ${o.alpha}` : ''}`;
}

/** Compares from-scratch training, bottleneck features + SVM and fine-tuning on the same folds. See the module notes. */
export async function compareMethods(source: string | Dataset, options: CompareMethodsOptions): Promise<CompareMethodsResult> {
  checkOptions(options);
  const started = performance.now();
  const elapsedMin = () => (performance.now() - started) / 60000;
  const { say, warn, warnings } = runMessages(options);
  const cuts: string[] = [];
  const methods = [...(options.methods ?? BENCH_DEFAULTS.methods)];
  const k = options.folds ?? BENCH_DEFAULTS.folds;
  const runFolds = options.runFolds ?? k;
  const seed = options.seed ?? BENCH_DEFAULTS.seed;
  const out = path.resolve(options.out);
  await fsp.mkdir(out, { recursive: true });
  const device = await chooseDevice(options.device, { onNotice: say });
  const backend = await selectBackend({ backend: device.provider === 'cpu' ? (options.backend ?? 'auto') : await trainingBackendFor(device), onNotice: say });

  // Dataset, readable files, duplicate groups, folds.
  const found = typeof source === 'string' ? await findDataset(source, { minPerClass: 2 }) : source;
  if (found.classes.length < 2) {
    throw new DatasetError(`${found.root} has ${found.classes.length} class(es): a comparison needs at least two.`, { code: 'DATASET_ONE_CLASS', suggestion: 'Add a folder per class.' });
  }
  const hashes = await sha256Files(found.entries.map((e) => e.path));
  const unreadable = found.entries.filter((_, i) => typeof hashes[i] !== 'string');
  for (const e of unreadable) warn(`skipped ${e.file}: ${(hashes[found.entries.indexOf(e)] as { error: string }).error}`);
  const dataset: Dataset = { ...found, entries: found.entries.filter((_, i) => typeof hashes[i] === 'string') };
  const readableHashes = hashes.filter((h): h is string => typeof h === 'string');
  const files = dataset.entries.map((e) => e.file);
  const labels = dataset.entries.map((e) => e.label);
  const n = files.length;
  const counts = dataset.classes.map((_, c) => labels.filter((l) => l === c).length);
  const folds = stratifiedKFold(labels, k, { shuffle: true, seed, onWarning: warn });
  const duplicates = findDuplicates(dataset.entries.map((e, i) => ({ file: e.file, hash: readableHashes[i] })));
  const moved = keepDuplicatesTogether(folds, duplicates, files);
  const foldNote = duplicates.length ? `${duplicates.length} groups of identical files kept in one fold (${moved} moved)` : undefined;

  // Resume: same dataset, folds and seed, or an error.
  const config = { datasetDigest: keyOf(dataset.entries.map((e, i) => [e.file, e.label, readableHashes[i]])), classes: dataset.classes, folds: k, seed };
  const configFile = path.join(out, CONFIG);
  const recordsFile = path.join(out, RECORDS);
  if (options.overwrite) await fsp.rm(recordsFile, { force: true });
  if (existsSync(configFile) && !options.overwrite) {
    const before = JSON.parse(await fsp.readFile(configFile, 'utf8'));
    if (JSON.stringify(before) !== JSON.stringify(config)) {
      throw new OptionsError(`${out} holds a benchmark of other data, folds or seed (${CONFIG} differs: ${Object.keys(config).filter((key) => JSON.stringify(before[key]) !== JSON.stringify((config as Record<string, unknown>)[key])).join(', ')}).`, {
        code: 'BENCH_OUT_DIFFERS',
        suggestion: 'Use another --out, or pass --overwrite to start over there.',
      });
    }
  }
  await fsp.writeFile(configFile, JSON.stringify(config, null, 1) + '\n');
  const records = await readRecords(recordsFile);
  const append = async (r: BenchFoldRecord | BenchSharedRecord) => {
    // The load average beside each record says how busy the machine was when its time was taken.
    await fsp.appendFile(recordsFile, JSON.stringify({ ...r, loadavg: os.loadavg() }) + '\n');
    records.push(r);
  };

  // What each method runs.
  const backbone = { model: options.model ?? BENCH_DEFAULTS.model, alpha: options.alpha, weights: options.weights ?? BENCH_DEFAULTS.weights, inputSize: options.inputSize, crop: options.crop };
  const epochs = options.epochs !== undefined ? { epochs: options.epochs, headEpochs: options.epochs } : {};
  const ftSettings: TrainSettings = { ...backbone, ...epochs, seed, ...options.finetune };
  const scratchSettings: TrainSettings = { model: BENCH_DEFAULTS.scratchModel, ...(options.epochs !== undefined ? { epochs: options.epochs } : {}), seed, ...options.scratch };
  if (scratchSettings.model !== 'smallcnn' && scratchSettings.weights === undefined) scratchSettings.weights = 'none';
  const svmSettings = { ...backbone, innerFolds: BENCH_DEFAULTS.innerFolds, seed };
  const settingsOf: Record<BenchMethod, Record<string, unknown>> = {
    scratch: scratchSettings as Record<string, unknown>,
    svm: svmSettings,
    finetune: ftSettings as Record<string, unknown>,
  };
  const keys = Object.fromEntries(BENCH_METHODS.map((m) => [m, keyOf({ method: m, settings: settingsOf[m] })])) as Record<BenchMethod, string>;
  const labelOf: Record<BenchMethod, string> = {
    scratch: `${scratchSettings.model}${scratchSettings.model === 'smallcnn' ? '' : ' (random init)'} trained from scratch, augmented${scratchSettings.inputSize ? `, ${scratchSettings.inputSize} px` : ''}`,
    // Above the exact kernel's row limit the feature path is logistic regression on every row (folds.ts): say which.
    svm:
      n - Math.floor(n / k) > FEATURE_LINEAR_ABOVE
        ? `multinomial logistic regression on ${describeBackbone(backbone)} bottleneck features, all rows (C by a ${BENCH_DEFAULTS.innerFolds}-fold grid search inside each training fold; above the RBF SVM's ${FEATURE_LINEAR_ABOVE}-row limit)`
        : `RBF SVM on ${describeBackbone(backbone)} bottleneck features (C, gamma by a ${BENCH_DEFAULTS.innerFolds}-fold grid search inside each training fold)`,
    finetune: `${describeBackbone(backbone)} fine-tuned (new head, then the unfrozen top at lr/10)`,
  };
  const findRecord = (m: BenchMethod, f: number) => records.find((r): r is BenchFoldRecord => r.kind === 'fold' && r.method === m && r.fold === f && r.key === keys[m]);

  // SVM features: extracted once for every fold (the time is amortised over the folds).
  let features: { X: Float32Array; d: number; rowOf: Map<string, number>; labels: number[]; backboneInfo: BackboneInfo } | undefined;
  const needsSvm = methods.includes('svm') && Array.from({ length: runFolds }, (_, f) => !findRecord('svm', f)).some(Boolean);
  if (needsSvm) {
    say(`Extracting ${describeBackbone(backbone)} features of ${n} images for the SVM (once, for every fold)`);
    const t = performance.now();
    const ex = await extractFeatures(dataset, {
      model: backbone.model,
      alpha: backbone.alpha,
      weights: backbone.weights,
      inputSize: backbone.inputSize,
      crop: backbone.crop,
      backend: options.backend,
      device,
      cache: options.cache,
      onSkip: (s) => warn(`skipped ${s.file}: ${s.reason}`),
      onProgress: (p) => options.onProgress?.({ stage: p.phase === 'hash' ? 'hashing' : 'features', done: p.done, total: p.total, imagesPerSecond: p.imagesPerSecond }),
    });
    const seconds = (performance.now() - t) / 1000;
    features = { X: ex.features, d: ex.meta.shape[1], rowOf: new Map(ex.meta.files.map((f, i) => [f, i])), labels: ex.meta.labels, backboneInfo: ex.meta.model };
    if (!records.some((r) => r.kind === 'shared' && r.method === 'svm' && r.key === keys.svm)) {
      await append({ kind: 'shared', method: 'svm', key: keys.svm, what: `feature extraction (${ex.stats.engine}${ex.stats.cached ? `, ${ex.stats.cached} of ${n} from the cache` : ''})`, seconds, images: n, date: new Date().toISOString() });
    }
  }

  const foldDir = (m: BenchMethod, f: number) => path.join(out, 'folds', `${m}-${f + 1}`);
  const runMethod = async (m: BenchMethod, f: number): Promise<BenchFoldRecord> => {
    const { train, test } = foldSplit(folds, f);
    const t = performance.now();
    let predicted: number[];
    let details: Record<string, unknown>;
    if (m === 'svm') {
      const fx = features!;
      const trainRows = Array.from(train, (r) => fx.rowOf.get(files[r])).filter((r): r is number => r !== undefined);
      const testRows = Array.from(test, (r) => fx.rowOf.get(files[r]));
      const scoredRows = testRows.filter((r): r is number => r !== undefined);
      await fsp.mkdir(path.dirname(foldDir(m, f)), { recursive: true });
      const r = await svmOnFold(fx.X, fx.d, fx.labels, dataset.classes.length, { train: trainRows, test: scoredRows }, {
        seed,
        innerFolds: BENCH_DEFAULTS.innerFolds,
        probability: false,
        save: { file: `${foldDir(m, f)}.json`, classNames: dataset.classes, backbone: fx.backboneInfo },
      });
      let next = 0;
      predicted = testRows.map((r0) => (r0 === undefined ? -1 : r.predicted[next++]));
      details = { log2C: r.best.log2C, log2Gamma: r.best.log2Gamma, innerAccuracy: r.best.meanAccuracy, innerFolds: r.innerFolds, model: `${foldDir(m, f)}.json` };
    } else {
      const settings = m === 'finetune' ? ftSettings : scratchSettings;
      const dir = foldDir(m, f);
      const resume = existsSync(checkpointPath(dir));
      if (resume) say(`  resuming the interrupted ${m} run of fold ${f + 1} from its checkpoint`);
      const { result } = await finetuneOnRows(dataset, files, train, {
        ...settings,
        out: dir,
        // A fold's model is scored, not delivered: no unknown detector (it would add a pass over the training images to the timings).
        unknown: false,
        backend: options.backend,
        ...(options.workers !== undefined ? { workers: options.workers } : {}),
        device,
        cache: options.cache,
        ...(resume ? { resume: true } : { overwrite: true }),
        onProgress: (p) => options.onProgress?.({ stage: `fold ${f + 1} ${m} ${p.stage} ${p.phase}`, done: p.done, total: p.total, imagesPerSecond: p.imagesPerSecond }),
        onNotice: (msg) => say(`  ${msg}`),
        onEpoch: (e) => options.onEpoch?.({ ...e, method: m, benchFold: f }),
      });
      predicted = argmaxScores(await scoreModelOnRows(dir, dataset, files, test));
      const stageEpochs: Record<string, number> = {};
      for (const h of result.meta.history) stageEpochs[h.phase] = (stageEpochs[h.phase] ?? 0) + 1;
      details = {
        epochs: stageEpochs,
        trainImagesPerSecond: result.stats.trainImagesPerSecond,
        prefixSeconds: result.stats.prefixSeconds,
        prefixMode: result.stats.prefixMode,
        prefixRuntime: result.stats.prefixRuntime,
        valAccuracy: result.meta.metrics.valAccuracy,
        inputSize: result.meta.preprocessing.inputSize,
        freeze: result.meta.freeze.description,
        model: dir,
      };
    }
    const scored = predicted.filter((p) => p >= 0).length;
    const correct = predicted.filter((p, i) => p === labels[test[i]]).length;
    if (scored < test.length) warn(`${m}, fold ${f + 1}: ${test.length - scored} held-out image(s) could not be decoded and are not counted`);
    return {
      kind: 'fold',
      method: m,
      fold: f,
      key: keys[m],
      accuracy: scored ? correct / scored : 0,
      correct,
      scored,
      testImages: test.length,
      trainImages: train.length,
      seconds: (performance.now() - t) / 1000,
      predicted,
      details,
      date: new Date().toISOString(),
    };
  };

  // Fold-major: every method on fold f before fold f + 1.
  const foldSeconds = (f: number) => methods.reduce((s, m) => s + (findRecord(m, f)?.seconds ?? 0), 0);
  for (let f = 0; f < runFolds; f++) {
    const todo = methods.filter((m) => !findRecord(m, f));
    if (todo.length === 0) continue;
    if (options.budget !== undefined) {
      const done = Array.from({ length: f }, (_, g) => g).filter((g) => methods.every((m) => findRecord(m, g)));
      const estimate = Math.max(0, ...done.map(foldSeconds)) / 60;
      const remaining = options.budget - elapsedMin();
      if (done.length > 0 && remaining < estimate) {
        cuts.push(`stopped after ${f} of ${runFolds} folds: a fold takes about ${estimate.toFixed(1)} min, ${remaining.toFixed(1)} min of the ${options.budget} min budget were left`);
        break;
      }
    }
    for (const m of todo) {
      say(`Fold ${f + 1}/${k}: ${m}`);
      const record = await runMethod(m, f);
      await append(record);
      options.onFold?.(record);
      say(`Fold ${f + 1}/${k}: ${m} ${(100 * record.accuracy).toFixed(2)}% in ${record.seconds.toFixed(0)} s`);
    }
  }
  if (runFolds < k) cuts.push(`${runFolds} of ${k} folds run (runFolds)`);

  // Summary over the folds every method finished.
  const summarised = Array.from({ length: k }, (_, f) => f).filter((f) => methods.every((m) => findRecord(m, f)));
  const extra = methods.flatMap((m) => Array.from({ length: k }, (_, f) => f).filter((f) => findRecord(m, f) && !summarised.includes(f)).map((f) => `${m} fold ${f + 1}`));
  if (extra.length) cuts.push(`not summarised (not every method ran the fold): ${extra.join(', ')}`);
  const summaries: BenchMethodSummary[] = methods.map((m) => {
    const recs = summarised.map((f) => findRecord(m, f)!);
    const shared = records.filter((r): r is BenchSharedRecord => r.kind === 'shared' && r.method === m && r.key === keys[m]);
    // Paid once whatever the number of folds: counted in full.
    const sharedSeconds = shared.reduce((s, r) => s + r.seconds, 0);
    const seconds = recs.reduce((s, r) => s + r.seconds, 0) + (recs.length ? sharedSeconds : 0);
    const images = recs.reduce((s, r) => s + r.trainImages + r.testImages, 0);
    const accs = recs.map((r) => r.accuracy);
    const tips = recs.map((r) => r.details.trainImagesPerSecond).filter((x): x is number => typeof x === 'number' && x > 0);
    return {
      method: m,
      label: labelOf[m],
      folds: summarised,
      foldAccuracies: accs,
      meanAccuracy: accs.length ? mean(accs) : Number.NaN,
      stdAccuracy: std(accs),
      ci95: accs.length ? meanInterval95(accs) : [Number.NaN, Number.NaN],
      seconds,
      sharedSeconds: recs.length ? sharedSeconds : 0,
      imagesPerSecond: seconds > 0 ? images / seconds : 0,
      ...(tips.length ? { trainImagesPerSecond: mean(tips) } : {}),
      settings: settingsOf[m],
      details: recs.map((r) => ({ fold: r.fold, ...r.details })),
    };
  });
  const comparisons: PairedComparison[] = [];
  if (summarised.length >= 2) {
    for (let i = 0; i < summaries.length; i++) {
      for (let j = i + 1; j < summaries.length; j++) {
        const asPath = (s: BenchMethodSummary) => ({ path: s.method, foldAccuracies: s.foldAccuracies }) as Parameters<typeof pairedComparison>[0];
        comparisons.push(pairedComparison(asPath(summaries[j]), asPath(summaries[i])));
      }
    }
  }
  const result: CompareMethodsResult = {
    format: 'ftk-bench',
    formatVersion: 1,
    date: new Date().toISOString(),
    ftkVersion: packageInfo().version,
    dataset: { root: dataset.root, classes: dataset.classes, counts, images: n, duplicateGroups: duplicates.length, unreadable: unreadable.length },
    folds: { k, seed, planned: Array.from({ length: runFolds }, (_, f) => f), summarised, ...(foldNote ? { note: foldNote } : {}) },
    methods: summaries,
    comparisons,
    cuts,
    warnings,
    machine: {
      cpu: os.cpus()[0]?.model,
      cores: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${process.platform}-${process.arch}`,
      node: process.version,
      backend: backend.name,
      device: device.record,
      loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    seconds: (performance.now() - started) / 1000,
    records: recordsFile,
  };
  await fsp.writeFile(path.join(out, 'bench.json'), JSON.stringify(result, null, 1) + '\n');
  return result;
}

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
const secs = (s: number) => (s >= 600 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`);

/** The result as a Markdown table (one row per method) plus the paired differences. */
export function benchTableMarkdown(r: CompareMethodsResult): string {
  const f = r.folds.summarised.length;
  const lines = [
    `| method | accuracy, mean of ${f} fold${f === 1 ? '' : 's'} (95% interval) | per fold | wall time (all folds) | per fold | images/s |`,
    '|---|---|---|---|---|---|',
    ...r.methods.map(
      (m) =>
        `| ${m.method}: ${m.label} | **${pct(m.meanAccuracy)}** (${pct(m.ci95[0])} to ${pct(m.ci95[1])}) | ${m.foldAccuracies.map(pct).join(', ')} | ${secs(m.seconds)}${m.sharedSeconds ? ` (incl. ${secs(m.sharedSeconds)} features, once)` : ''} | ${secs(f ? m.seconds / f : 0)} | ${m.imagesPerSecond.toFixed(1)} |`,
    ),
  ];
  if (r.comparisons.length) {
    lines.push('', '| paired difference | mean (points) | 95% interval | per fold |', '|---|---|---|---|');
    const pts = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;
    for (const c of r.comparisons) lines.push(`| ${c.a} - ${c.b} | ${pts(c.meanDifference)} | ${pts(c.ci95[0])} to ${pts(c.ci95[1])} | ${c.differences.map(pts).join(', ')} |`);
  }
  return lines.join('\n');
}
