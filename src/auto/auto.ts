/**
 * `ftk auto`: choose between bottleneck features + SVM and fine-tuning by measurement, on the
 * user's own data, then refit the winner and save one bundle plus a report.
 *
 * 1. Doctor: counts, imbalance, unusable files, exact and near duplicates, image sizes.
 * 2. Prior (recommend.ts): dataset size and a domain probe (early vs late layer separability).
 * 3. Evidence: both paths on the same stratified folds (exact duplicates kept in one fold): the SVM
 *    with a grid search inside each training fold (nested), fine-tuning trained on each training
 *    fold (its own early-stopping split taken from the training fold) and scored on the held-out
 *    fold; paired per-fold differences with a 95% interval; learning curves.
 * 4. Decision: the better path, or the cheaper one (the SVM) when the difference is within noise.
 * 5. Refit of the winner on all images -> `<out>/bundle` (served by `ftk predict`), `<out>/run.json`
 *    and the report (report.html / .md / .json).
 *
 * `budget` (minutes) is honoured by measuring the first fine-tuning fold and cutting folds and
 * learning-curve points that would not fit; every cut is said in the report.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { svmCrossValidate } from '../classify/commands.js';
import { SvmClassifier } from '../classify/svm.js';
import { fitSvmTrust } from '../trust/fit.js';
import { readFinetunedMeta } from '../finetune/format.js';
import { scoreHistogram, type TrustRunReport } from '../formats/trust.js';
import type { SvmOptions } from '../classify/options.js';
import { findDataset } from '../data/dataset.js';
import { Rng } from '../data/random.js';
import { foldSplit, stratifiedKFold } from '../data/split.js';
import { DatasetError, OptionsError } from '../errors.js';
import { extractFeatures } from '../extract/extract.js';
import { writeFeatures } from '../extract/features_file.js';
import type { BackboneInfo } from '../formats/features.js';
import type { LearningCurve, LearningCurvePoint, PathName, PathResult, RunReport, TimingStage } from '../formats/run_report.js';
import { backboneLabel, isExternalModel } from '../models/backbone.js';
import { describeOnnxModel } from '../models/onnx_backbone.js';
import type { CustomPreprocessOptions } from '../models/preprocess.js';
import { getModelSpec } from '../models/registry.js';
import { describeTfjsModel } from '../models/tfjs_backbone.js';
import { estimateCrossover, gridFromSearch, pairedComparison, pathResultFromPredictions } from '../report/build.js';
import { writeReport } from '../report/report.js';
import { selectBackend, type BackendName } from '../runtime/backend.js';
import { chooseDevice, trainingBackendFor, type DeviceChoice, type DeviceName } from '../runtime/device.js';
import { packageInfo } from '../runtime/package_info.js';
import { AUTO_BUNDLE_FORMAT, AUTO_BUNDLE_FORMAT_VERSION, type AutoBundleMeta } from './bundle.js';
import { AUTO_DEFAULTS } from './defaults.js';
import { examineDataset } from './doctor.js';
import { argmaxScores, datasetSubset, FEATURE_LINEAR_ABOVE, finetuneOnRows, fitFeatureClassifier, keepDuplicatesTogether, linearSwitchMessage, runMessages, scoreModelOnRows, svmOnFold, takeRows } from './folds.js';
import { recommend, type DomainProbe } from './recommend.js';

export interface AutoOptions {
  /** Run folder: run.json, report.*, bundle/, features, per-fold models. Required. */
  out: string;
  /**
   * Backbone architecture. Default 'mobilenet_v2'. Models of other frameworks (`onnx:<file>`,
   * `tfjs:<folder>` graph models) cannot be trained here: auto then takes the SVM path and says why.
   */
  model?: string;
  /** Width multiplier (MobileNets). Default 1.0. */
  alpha?: number;
  /** 'imagenet' or a Keras .h5 / TF.js model.json path. Default 'imagenet'. */
  weights?: string;
  /** Square input size of both paths. Default: the model's. */
  inputSize?: number;
  /** Bottleneck layer (zoo) or tensor/node (`onnx:`/`tfjs:` models). Default: the model's last / output. */
  layer?: string;
  /** `onnx:`/`tfjs:` models: their input normalisation (see BackboneOptions.preprocess). */
  preprocess?: string | CustomPreprocessOptions;
  /** Time budget in minutes for the whole run. Default 30. */
  budget?: number;
  /** Stratified folds shared by both paths. Default 5. */
  folds?: number;
  /** Seed of folds, subsamples, fine-tuning. Default 0. */
  seed?: number;
  /** Training-set fractions of the learning curves. Default [0.1, 0.25, 0.5, 1]. */
  curveFractions?: number[];
  /** Largest number of fine-tuning epochs per phase (the budget may cut it). Default: finetune's. */
  epochs?: number;
  /** Skip fine-tuning (SVM only). Default false. */
  svmOnly?: boolean;
  backend?: BackendName | 'auto';
  /** Where models run (src/runtime/device.ts), chosen once for every stage. Default 'auto'. */
  device?: DeviceName | DeviceChoice;
  /** Feature cache (see extractFeatures). Default true. */
  cache?: boolean | string;
  /** Stage announcements ("Extracting features", "Fine-tuning fold 2/5"), libsvm easy.py style. */
  onStage?: (message: string) => void;
  /** Usable but weaker results. */
  onWarning?: (message: string) => void;
  /** Fine-grained progress (stage, done, total). */
  onProgress?: (p: { stage: string; done: number; total: number; imagesPerSecond?: number }) => void;
}

export interface AutoResult {
  runDir: string;
  run: RunReport;
  bundle: string;
  report: { html: string; markdown: string; json: string };
}

export { AUTO_DEFAULTS };

/** Images of the domain probe (a stratified subsample). */
const PROBE_IMAGES = 400;

/** A stratified subsample of `rows` (fraction of each class, at least 2 per class), seeded. */
function stratifiedSubsample(rows: ArrayLike<number>, labels: readonly number[], fraction: number, seed: number): Int32Array {
  if (fraction >= 1) return Int32Array.from(rows);
  const byClass = new Map<number, number[]>();
  for (const r of Array.from(rows)) {
    const list = byClass.get(labels[r]) ?? [];
    list.push(r);
    byClass.set(labels[r], list);
  }
  const rng = new Rng(seed);
  const out: number[] = [];
  for (const list of byClass.values()) {
    rng.shuffle(list);
    out.push(...list.slice(0, Math.max(2, Math.round(list.length * fraction))));
  }
  return Int32Array.from(out.sort((a, b) => a - b));
}

/** For `onnx:`/`tfjs:` backbones: the 4-D tensor at about 40% of the graph's 4-D tensors. */
async function earlyExternalTensor(info: BackboneInfo): Promise<string | undefined> {
  const listing = info.external?.format === 'onnx' ? await describeOnnxModel(info.weights, { inputSize: info.inputSize }) : await describeTfjsModel(info.weights, { inputSize: info.inputSize });
  const maps = listing.tensors.filter((t) => t.shape.length === 4 && t.shape[1] > 1 && t.shape[2] > 1);
  return maps[Math.floor(maps.length * 0.4)]?.name;
}

/** Why a backbone cannot be fine-tuned here, or undefined when it can. */
function cannotTrainReason(info: BackboneInfo): string | undefined {
  if (info.external?.format === 'onnx') return 'the backbone is an ONNX model and ONNX Runtime for Node has no training, so fine-tuning cannot run';
  if (info.external?.format === 'tfjs-graph') return 'the backbone is a TF.js graph model (inference only), so fine-tuning cannot run';
  return undefined;
}

/** The layer at about 40% of the network's depth: "early" features for the domain probe. */
function earlyLayerName(model: string, alpha: number | undefined): string {
  const spec = getModelSpec(model);
  const size = Math.max(spec.minInputSize, 96);
  const m = spec.build({ includeTop: false, alpha, inputShape: [size, size, 3] });
  const candidates = m.layers.filter((l) => {
    const shape = l.outputShape as number[];
    return shape.length === 4 && /relu|activation|add|out|pool|mixed/i.test(l.name) && !/pad/.test(l.name);
  });
  const name = candidates[Math.floor(candidates.length * 0.4)]?.name ?? m.layers[Math.floor(m.layers.length * 0.4)].name;
  m.dispose();
  return name;
}

export async function auto(source: string, options: AutoOptions): Promise<AutoResult> {
  if (!options.out) throw new OptionsError('auto needs an output folder (out).', { suggestion: 'Pass --out <dir>.' });
  const o = {
    ...AUTO_DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as typeof AUTO_DEFAULTS & AutoOptions;
  if (!(o.budget > 0)) throw new OptionsError(`budget must be a positive number of minutes. Received ${o.budget}.`);
  if (!Number.isInteger(o.folds) || o.folds < 2) throw new OptionsError(`folds must be an integer >= 2. Received ${o.folds}.`);
  const started = performance.now();
  const elapsedMin = () => (performance.now() - started) / 60000;
  const stages: TimingStage[] = [];
  const timed = async <T>(name: string, fn: () => Promise<T>, extra: Partial<TimingStage> = {}): Promise<T> => {
    const t = performance.now();
    const r = await fn();
    stages.push({ name, ms: performance.now() - t, ...extra });
    return r;
  };
  const { say, warn, warnings } = runMessages(options);
  const cuts: string[] = [];
  const runDir = path.resolve(o.out);
  await fsp.mkdir(runDir, { recursive: true });

  // 1. Data, features, doctor.
  const dataset = await timed('scan', () => findDataset(source, { minPerClass: 2 }));
  if (dataset.classes.length < 2) {
    throw new DatasetError(`${source} has one class (${dataset.classes[0]}): a classifier needs at least two.`, {
      code: 'DATASET_ONE_CLASS',
      suggestion: 'Add a folder per class.',
    });
  }
  const device = await chooseDevice(o.device, { onNotice: say });
  const backend = await selectBackend({ backend: device.provider === 'cpu' ? (o.backend ?? 'auto') : await trainingBackendFor(device), onNotice: say });
  const external = isExternalModel(o.model);
  const backboneOptions = {
    model: o.model,
    alpha: o.alpha,
    weights: o.weights,
    inputSize: o.inputSize,
    layer: o.layer,
    preprocess: o.preprocess,
  };
  say(`Extracting ${o.model} features of ${dataset.entries.length} images (cached: a rerun is free)`);
  const extracted = await timed(
    'features',
    () =>
      extractFeatures(dataset, {
        ...backboneOptions,
        backend: o.backend,
        device,
        cache: o.cache,
        onSkip: (s) => warn(`skipped ${s.file}: ${s.reason}`),
        onProgress: (p) => options.onProgress?.({ stage: p.phase === 'hash' ? 'hashing' : 'features', done: p.done, total: p.total, imagesPerSecond: p.imagesPerSecond }),
      }),
    { images: dataset.entries.length },
  );
  const { features: X, meta } = extracted;
  const untrainable = cannotTrainReason(meta.model);
  if (untrainable && !o.svmOnly) say(`Only the SVM path can run: ${untrainable}.`);
  const svmOnly = o.svmOnly || untrainable !== undefined;
  const [n, d] = meta.shape;
  const labels = meta.labels;
  await writeFeatures(path.join(runDir, 'features'), X, meta);
  const doctor = await timed('doctor', () =>
    examineDataset(dataset, { features: X, n, d, files: meta.files, labels, skipped: meta.skipped, duplicates: meta.duplicates }),
  );
  for (const w of doctor.warnings) warn(w);
  const counts = dataset.classes.map((_, c) => labels.filter((l) => l === c).length);
  const smallest = Math.min(...counts);
  const k = Math.min(o.folds, smallest);
  if (k < o.folds) cuts.push(`folds ${o.folds} -> ${k}: the smallest class has ${smallest} images`);
  if (k < 2) {
    throw new DatasetError(`A class has ${smallest} usable image(s): cross-validation needs at least 2 per class.`, {
      code: 'DATASET_CLASS_TOO_SMALL',
      suggestion: 'Add images to the smallest class.',
    });
  }

  // 2. Prior: size + domain probe (early vs late features, linear SVM, on a subsample).
  const probeRows = stratifiedSubsample(
    Int32Array.from({ length: n }, (_, i) => i),
    labels,
    Math.min(1, PROBE_IMAGES / n),
    o.seed,
  );
  let probe: DomainProbe | undefined;
  if (Math.min(...dataset.classes.map((_, c) => Array.from(probeRows).filter((r) => labels[r] === c).length)) >= 3) {
    say('Domain probe: linear separability of early vs late features');
    probe = await timed('domain probe', async () => {
      const early = external ? await earlyExternalTensor(meta.model) : earlyLayerName(o.model, o.alpha);
      if (early === undefined) return undefined;
      const probeSet = datasetSubset(dataset, probeRows, meta.files);
      const earlyFeat = await extractFeatures(probeSet, { ...backboneOptions, layer: early, backend: o.backend, device, cache: o.cache });
      const lateMeta = { ...meta, files: Array.from(probeRows, (r) => meta.files[r]), labels: Array.from(probeRows, (r) => labels[r]) };
      const probeDir = path.join(runDir, 'probe');
      const lateX = takeRows(X, d, probeRows).data;
      await writeFeatures(path.join(probeDir, 'late'), lateX, { ...lateMeta, shape: [probeRows.length, d], hashes: Array.from(probeRows, (r) => meta.hashes[r]), duplicates: [] });
      await writeFeatures(path.join(probeDir, 'early'), earlyFeat.features, earlyFeat.meta);
      const kp = Math.min(3, smallest);
      const lin = { kernel: 'linear' as const, C: 0.01, folds: kp, seed: o.seed };
      const [e, l] = [await svmCrossValidate(path.join(probeDir, 'early'), lin), await svmCrossValidate(path.join(probeDir, 'late'), lin)];
      return { earlyAccuracy: e.meanAccuracy, lateAccuracy: l.meanAccuracy, earlyLayer: early, lateLayer: meta.model.layer, images: probeRows.length };
    });
  }
  const prior = recommend({ counts, probe, canTrain: !svmOnly, cannotTrainReason: o.svmOnly ? 'fine-tuning was turned off (--svm-only)' : untrainable });
  for (const r of prior.reasons) say(`prior: ${r}`);

  // 3. Shared folds.
  const folds = stratifiedKFold(labels, k, { shuffle: true, seed: o.seed });
  const moved = keepDuplicatesTogether(folds, meta.duplicates, meta.files);
  const foldNote = meta.duplicates.length ? `exact duplicates kept in one fold (${moved} moved)` : undefined;
  const info = { files: meta.files, labels, folds };

  // 3a. SVM: grid search inside each training fold, scored on the held-out fold.
  say(`SVM: grid search inside each of ${k} training folds (nested), RBF, libsvm grid`);
  const svmPredicted = new Array<number>(n);
  const svmProba: number[][] = new Array(n);
  const svmFoldParams: string[] = [];
  const svmStart = performance.now();
  const innerFolds = Math.min(3, Math.max(2, smallest - 1));
  let linearSaid = false;
  const sayLinear = (rows: number) => {
    if (rows <= FEATURE_LINEAR_ABOVE || linearSaid) return;
    linearSaid = true;
    say(linearSwitchMessage(rows));
    svmFoldParams.push(linearSwitchMessage(rows));
  };
  for (let f = 0; f < k; f++) {
    const fold = foldSplit(folds, f);
    sayLinear(fold.train.length);
    const r = await svmOnFold(X, d, labels, dataset.classes.length, fold, { seed: o.seed, innerFolds });
    fold.test.forEach((row, i) => {
      svmPredicted[row] = r.predicted[i];
      svmProba[row] = r.probabilities[i];
    });
    svmFoldParams.push(`fold ${f + 1}: C=2^${r.best.log2C}${r.best.log2Gamma !== null ? `, gamma=2^${r.best.log2Gamma}` : ` (${r.solver})`}`);
    options.onProgress?.({ stage: 'svm folds', done: f + 1, total: k });
  }
  const svmMs = performance.now() - svmStart;
  stages.push({ name: 'svm cv (nested grid)', ms: svmMs, images: n, path: 'svm' });
  const svmResult = pathResultFromPredictions('svm', svmPredicted, dataset.classes.length, { ...info, probabilities: svmProba }, {
    label: linearSaid
      ? `logistic regression on ${backboneLabel(meta.model)} features, all rows (C by inner ${innerFolds}-fold grid; above the RBF SVM's ${FEATURE_LINEAR_ABOVE}-row limit)`
      : `RBF SVM on ${backboneLabel(meta.model)} features (C, gamma by inner ${innerFolds}-fold grid)`,
    elapsedMs: svmMs,
    notes: svmFoldParams,
  });
  say(`SVM: ${(100 * svmResult.meanAccuracy).toFixed(2)}% (95% interval ${(100 * svmResult.ci95[0]).toFixed(1)}-${(100 * svmResult.ci95[1]).toFixed(1)})`);

  // 3b. Fine-tuning on the same folds, within the budget.
  const paths: PathResult[] = [svmResult];
  let ftResult: PathResult | undefined;
  const ftFoldsDone: number[] = [];
  let ftFoldMinutes = 0;
  const ftPredicted = new Array<number>(n).fill(-1);
  const ftProba: number[][] = new Array(n);
  const ftBase = {
    model: o.model,
    alpha: o.alpha,
    weights: o.weights,
    // The head goes on the chosen layer of a tfjs: model; zoo models are cut before their top.
    ...(external ? { layer: o.layer, preprocess: o.preprocess } : {}),
    inputSize: o.inputSize,
    seed: o.seed,
    backend: o.backend,
    device,
    cache: o.cache,
    overwrite: true,
    ...(o.epochs ? { epochs: o.epochs, headEpochs: o.epochs } : {}),
  };
  const runFinetune = (train: ArrayLike<number>, out: string, stage: string) =>
    finetuneOnRows(dataset, meta.files, train, {
      ...ftBase,
      out,
      onProgress: (p) => options.onProgress?.({ stage: `${stage} ${p.stage} ${p.phase}`, done: p.done, total: p.total, imagesPerSecond: p.imagesPerSecond }),
    });
  const scoreFold = (modelDir: string, test: ArrayLike<number>) => scoreModelOnRows(modelDir, dataset, meta.files, test);
  if (!svmOnly) {
    const ftStart = performance.now();
    for (let f = 0; f < k; f++) {
      const remaining = o.budget - elapsedMin();
      // Leave room for the refit (about one fold's time on all data).
      if (f > 0 && remaining < ftFoldMinutes * (1 + 1.3)) {
        cuts.push(`fine-tuning cross-validation stopped after ${f} of ${k} folds (each took ${ftFoldMinutes.toFixed(1)} min; ${remaining.toFixed(1)} min of the ${o.budget} min budget left)`);
        break;
      }
      say(`Fine-tuning fold ${f + 1}/${k}`);
      const { train, test } = foldSplit(folds, f);
      const { minutes } = await runFinetune(train, path.join(runDir, 'folds', `finetune-${f + 1}`), `fine-tune fold ${f + 1}/${k}`);
      ftFoldMinutes = Math.max(ftFoldMinutes, minutes);
      const scores = await scoreFold(path.join(runDir, 'folds', `finetune-${f + 1}`), test);
      test.forEach((r, i) => {
        const s = scores[i];
        if ('probabilities' in s) {
          ftProba[r] = Array.from(s.probabilities);
          ftPredicted[r] = ftProba[r].indexOf(Math.max(...ftProba[r]));
        }
      });
      ftFoldsDone.push(f);
    }
    const ftMs = performance.now() - ftStart;
    if (ftFoldsDone.length >= 2) {
      const rows = Array.from({ length: n }, (_, i) => i).filter((i) => ftFoldsDone.includes(folds[i]) && ftPredicted[i] >= 0);
      const remap = new Map(ftFoldsDone.map((f, i) => [f, i]));
      ftResult = pathResultFromPredictions(
        'finetune',
        rows.map((r) => ftPredicted[r]),
        dataset.classes.length,
        { files: rows.map((r) => meta.files[r]), labels: rows.map((r) => labels[r]), folds: rows.map((r) => remap.get(folds[r])!), probabilities: rows.map((r) => ftProba[r]) },
        { label: `${o.model}${o.alpha !== undefined ? ` ${o.alpha}` : ''} fine-tuned (head, then top layers at lr/10)`, elapsedMs: ftMs },
      );
      paths.push(ftResult);
      stages.push({ name: 'finetune cv', ms: ftMs, images: rows.length, path: 'finetune' });
      say(`Fine-tuning: ${(100 * ftResult.meanAccuracy).toFixed(2)}% on ${ftFoldsDone.length} folds`);
    } else {
      cuts.push('fine-tuning: fewer than 2 folds fit in the budget, so it was not compared');
    }
  }

  // 4. Paired comparison on the folds both paths ran; decision.
  const comparisons = [];
  const evidenceReasons: string[] = [];
  let chosen: PathName = 'svm';
  let best: PathName | null = 'svm';
  let withinNoise = false;
  if (ftResult) {
    const svmSameFolds: PathResult = { ...svmResult, foldAccuracies: ftFoldsDone.map((f) => svmResult.foldAccuracies[f]) };
    const cmp = pairedComparison(ftResult, svmSameFolds);
    comparisons.push(cmp);
    const [lo, hi] = cmp.ci95;
    const pts = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(2)}`;
    const diffText = `fine-tuning - SVM = ${pts(cmp.meanDifference)} points (95% interval ${pts(lo)} to ${pts(hi)}) over ${cmp.differences.length} paired folds`;
    best = cmp.meanDifference > 0 ? 'finetune' : 'svm';
    if (lo > 0) {
      chosen = 'finetune';
      evidenceReasons.push(`Fine-tuning wins: ${diffText}.`);
    } else if (hi < 0) {
      chosen = 'svm';
      evidenceReasons.push(`The SVM wins: ${diffText}.`);
    } else {
      withinNoise = true;
      chosen = 'svm';
      evidenceReasons.push(`No significant difference: ${diffText}; the cheaper path (SVM: seconds to train, one feature pass to predict) is chosen.`);
    }
  } else {
    evidenceReasons.push(
      o.svmOnly ? 'Only the SVM path was run (--svm-only).' : untrainable ? `Only the SVM path was run: ${untrainable}.` : 'Fine-tuning could not be compared within the budget; the SVM is chosen.',
    );
  }
  for (const r of evidenceReasons) say(`evidence: ${r}`);

  // Learning curves (SVM on every fold; fine-tuning where the budget allows).
  const curveFractions = [...new Set([...o.curveFractions].filter((x) => x > 0 && x <= 1))].sort((a, b) => a - b);
  const curves: LearningCurve[] = [];
  const curvePoints = async (pathName: PathName, score: (f: number, train: Int32Array, test: Int32Array) => Promise<number>, foldList: number[]) => {
    const points: LearningCurvePoint[] = [];
    for (const fraction of curveFractions) {
      const accs: number[] = [];
      let size = 0;
      for (const f of foldList) {
        const { train, test } = foldSplit(folds, f);
        const sub = stratifiedSubsample(train, labels, fraction, o.seed + f);
        size = sub.length;
        accs.push(fraction === 1 && pathName === 'svm' ? svmResult.foldAccuracies[f] : await score(f, sub, test));
      }
      const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
      points.push({ fraction, trainSize: size, meanAccuracy: mean, foldAccuracies: accs });
    }
    return points;
  };
  say('Learning curves');
  const svmCurve = await timed('learning curve (svm)', () =>
    curvePoints(
      'svm',
      async (f, allTrain, test) => {
        sayLinear(allTrain.length);
        const r = await svmOnFold(X, d, labels, dataset.classes.length, { train: allTrain, test }, { seed: o.seed, innerFolds: 3, probability: false });
        return r.predicted.filter((p, i) => p === labels[test[i]]).length / test.length;
      },
      Array.from({ length: k }, (_, f) => f),
    ),
  );
  curves.push({ path: 'svm', points: svmCurve });
  if (ftResult) {
    const partial = curveFractions.filter((x) => x < 1);
    const estimate = ftFoldMinutes * partial.reduce((a, b) => a + b, 0);
    const remaining = o.budget - elapsedMin() - ftFoldMinutes * 1.3;
    if (estimate <= remaining) {
      const ftCurve = await timed('learning curve (finetune)', async () => {
        const points = await curvePoints(
          'finetune',
          async (f, train, test) => {
            const dir = path.join(runDir, 'folds', `curve-${f + 1}-${train.length}`);
            await runFinetune(train, dir, `curve fold ${f + 1} (${train.length} images)`);
            const scores = await scoreFold(dir, test);
            return argmaxScores(scores).filter((p, i) => p === labels[test[i]]).length / test.length;
          },
          [ftFoldsDone[0]],
        );
        return points.map((p) => (p.fraction === 1 ? { ...p, meanAccuracy: ftResult!.foldAccuracies[0], foldAccuracies: [ftResult!.foldAccuracies[0]] } : p));
      });
      curves.push({ path: 'finetune', points: ftCurve });
      // Compare the SVM on the same single fold.
      cuts.push(`fine-tuning learning curve measured on fold ${ftFoldsDone[0] + 1} only (budget)`);
    } else {
      cuts.push(`fine-tuning learning curve skipped: about ${estimate.toFixed(1)} min needed, ${Math.max(0, remaining).toFixed(1)} min left`);
    }
  }
  const crossovers = curves.length === 2 ? [estimateCrossover(curves[0], curves[1])] : [];

  // 5. Refit the winner on all images; bundle.
  const bundleDir = path.join(runDir, 'bundle');
  await fsp.rm(bundleDir, { recursive: true, force: true });
  await fsp.mkdir(bundleDir, { recursive: true });
  let classifierPath: string;
  let gridReport;
  let trustReport: TrustRunReport | undefined;
  say(`Refitting the ${chosen === 'svm' ? 'SVM' : 'fine-tuned model'} on all ${n} images`);
  if (chosen === 'svm') {
    await timed('refit svm', async () => {
      sayLinear(n);
      const Xall = { data: X, rows: n, cols: d };
      const { model: clf, grid, solver } = await fitFeatureClassifier(Xall, labels, { folds: k, seed: o.seed, probability: smallest >= 5 });
      gridReport = gridFromSearch(grid, `refit on all ${n} images, ${k}-fold${solver === 'logistic' ? ', logistic regression' : ''}`);
      if (clf instanceof SvmClassifier) {
        // Calibration and unknown detector (src/trust), carried by the bundle's svm.json. (The
        // logistic model above the exact SVM's row limit carries neither yet.)
        const svmOpts: SvmOptions = { kernel: 'rbf', C: grid.best.C, gamma: grid.best.gamma ?? 'scale' };
        const trust = await fitSvmTrust(Xall, labels, svmOpts, { calibrate: smallest >= 5, seed: o.seed, onWarning: warn });
        clf.calibration = trust.calibration;
        clf.unknown = trust.unknown;
        trustReport = {
          ...(trust.calibration ? { calibration: [{ path: 'svm' as const, calibration: trust.calibration }] } : {}),
          ...(trust.unknown && trust.oofUnknownScores
            ? { unknown: { path: 'svm' as const, method: trust.unknown.method, threshold: trust.unknown.threshold, rate: trust.unknown.rate, ...scoreHistogram(trust.oofUnknownScores) } }
            : {}),
        };
      }
      clf.classNames = dataset.classes;
      clf.backbone = meta.model;
      await fsp.writeFile(path.join(bundleDir, 'svm.json'), JSON.stringify(clf.toJSON()) + '\n');
      clf.dispose();
    });
    classifierPath = 'svm.json';
  } else {
    await timed('refit finetune', () => runFinetune(Int32Array.from({ length: n }, (_, i) => i), path.join(bundleDir, 'model'), 'refit'));
    classifierPath = 'model';
    const refitMeta = await readFinetunedMeta(path.join(bundleDir, 'model')).catch(() => undefined);
    if (refitMeta?.calibration) trustReport = { calibration: [{ path: chosen, calibration: refitMeta.calibration }] };
  }
  const reasons = [...evidenceReasons, ...prior.reasons.map((r) => `Prior: ${r}`)];
  const bundleMeta: AutoBundleMeta = {
    format: AUTO_BUNDLE_FORMAT,
    formatVersion: AUTO_BUNDLE_FORMAT_VERSION,
    chosen,
    classifier: classifierPath,
    classes: dataset.classes,
    backbone: meta.model,
    reasons,
    createdAt: new Date().toISOString(),
  };
  await fsp.writeFile(path.join(bundleDir, 'ftk.json'), JSON.stringify(bundleMeta, null, 1) + '\n');

  const run: RunReport = {
    format: 'ftk-run',
    formatVersion: 1,
    createdAt: new Date().toISOString(),
    ftkVersion: packageInfo().version,
    seed: o.seed,
    dataset: {
      root: meta.datasetRoot,
      classes: dataset.classes,
      counts,
      skipped: meta.skipped,
      duplicates: meta.duplicates,
      nearDuplicates: doctor.nearDuplicates.map((p) => ({ files: [p.a, p.b], cosine: p.cosine })),
      nearDuplicateThreshold: 0.985,
      duplicateHandling: meta.duplicates.length ? 'exact duplicates kept in one fold' : undefined,
      imageSizes: doctor.sizes
        ? { count: doctor.sizes.sampled, width: doctor.sizes.width, height: doctor.sizes.height }
        : undefined,
    },
    decision: {
      chosen,
      reasons,
      prior: {
        favours: prior.path,
        reasons: prior.reasons,
        signals: {
          images: n,
          smallestClass: smallest,
          domain: prior.domain,
          ...(probe ? { probeEarlyAccuracy: probe.earlyAccuracy, probeLateAccuracy: probe.lateAccuracy } : {}),
        },
      },
      evidence: { best, withinNoise, reasons: evidenceReasons },
    },
    folds: { k, seed: o.seed, ...(foldNote ? { note: foldNote } : {}) },
    paths,
    comparisons,
    learningCurves: { curves, crossovers },
    grid: gridReport,
    ...(trustReport ? { trust: trustReport } : {}),
    timings: { stages, totalMs: performance.now() - started },
    runtime: {
      backend: backend.name,
      backendReason: backend.reason,
      engine: extracted.stats.engine,
      device: { ...extracted.stats.device, ...(o.svmOnly ? {} : { trainingBackend: backend.name }) },
      threads: backend.threads,
      versions: backend.versions,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpu: os.cpus()[0]?.model,
      cores: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    },
    backbone: meta.model,
    budget: { minutes: o.budget, usedMinutes: elapsedMin(), cuts },
    bundle: { path: bundleDir },
    warnings,
  };
  await fsp.writeFile(path.join(runDir, 'run.json'), JSON.stringify(run, null, 1) + '\n');
  say('Writing the report');
  const report = await writeReport(runDir, { });
  say(`Decision: ${chosen}. Bundle: ${bundleDir}; report: ${report.html}`);
  return { runDir, run, bundle: bundleDir, report: { html: report.html, markdown: report.markdown, json: report.json } };
}
