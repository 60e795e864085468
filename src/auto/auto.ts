/**
 * `ftk auto`: a folder in, the right method and a trained model out, with the evidence.
 *
 * 1. Doctor: counts, imbalance, unusable files, exact and near duplicates, image sizes.
 * 2. Prior (recommend.ts): dataset size and a domain probe (early vs late layer separability).
 * 3. Candidates (candidates.ts): per path a small space (input size, crop, flip TTA, classifier;
 *    unfrozen depth, crop, views, dropout), cheapest first; every feature configuration extracted
 *    once and cached (candidate_features.ts).
 * 4. Contest (contest.ts) on shared stratified outer folds (exact duplicates kept in one fold):
 *    in each fold both paths choose among their candidates inside the training rows only
 *    (feature_path.ts: successive halving over grid searches; finetune_path.ts: epochs on an inner
 *    split, then a refit on the whole training fold), and predict the held-out rows; the ensemble
 *    (mean of the two picks' calibrated probabilities) is scored on the same rows. The budget cuts
 *    folds for both paths or for neither (budget.ts).
 * 5. Decision (decision.ts, `DECISION_RULE`): the best mean over the folds every contender
 *    completed; the cheapest contender within the paired 95% interval of it is chosen.
 * 6. Learning curves (curves.ts): both paths on the same folds and the same training sizes.
 * 7. Refit of the chosen contender on all images (refit.ts) -> `<out>/bundle` (served by
 *    `ftk predict`); with `refitAll`, every contender's refit in `<out>/paths/<name>`;
 *    `<out>/run.json` and the report (report.html / .md / .json).
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findDataset } from '../data/dataset.js';
import { stratifiedKFold } from '../data/split.js';
import { DatasetError, OptionsError } from '../errors.js';
import { writeFeatures } from '../extract/features_file.js';
import type { FreezeSpec } from '../finetune/defaults.js';
import type { BackboneInfo } from '../formats/features.js';
import type { PathName, PathResult, RunReport, TimingStage } from '../formats/run_report.js';
import type { TrustRunReport } from '../formats/trust.js';
import { isExternalModel, resolveBackbone } from '../models/backbone.js';
import type { CustomPreprocessOptions } from '../models/preprocess.js';
import { getModelSpec } from '../models/registry.js';
import { gridFromSearch, pathResultFromPredictions } from '../report/build.js';
import { writeReport } from '../report/report.js';
import { selectBackend, type BackendName } from '../runtime/backend.js';
import { chooseDevice, trainingBackendFor, type DeviceChoice, type DeviceName } from '../runtime/device.js';
import { packageInfo } from '../runtime/package_info.js';
import { candidateSpace, type BackboneChoice, type CandidateLevel, type Crop, type Tta } from './candidates.js';
import { extractCandidateFeatures, featureConfigKey } from './candidate_features.js';
import { runContest, type ContenderName } from './contest.js';
import { checkCurveFractions } from './curves.js';
import { decide, DECISION_RULE, type Contender } from './decision.js';
import { AUTO_DEFAULTS } from './defaults.js';
import { examineDataset, imageSizes } from './doctor.js';
import { AUTO_EPOCH_CAPS } from './finetune_path.js';
import { FEATURE_LINEAR_ABOVE, keepDuplicatesTogether, linearSwitchMessage, runMessages } from './folds.js';
import { measureCurves } from './learning_curves.js';
import { domainProbe } from './probe.js';
import { recommend } from './recommend.js';
import { finetuneRefitChoice, refitFeaturePath, refitFinetunePath, writeBundleMeta } from './refit.js';

export interface AutoOptions {
  /** Run folder: run.json, report.*, bundle/, features, per-fold models. Required. */
  out: string;
  /**
   * Backbone architecture, or several separated by commas (`mobilenet,onnx:b.onnx`): each is a
   * candidate of the feature path; fine-tuning starts from the first trainable one. Models of other
   * frameworks (`onnx:<file>`, `tfjs:<folder>` graph models) cannot be trained here. Default 'mobilenet_v2'.
   */
  model?: string;
  /** Width multiplier (MobileNets). Default 1.0. */
  alpha?: number;
  /** 'imagenet' or a Keras .h5 / TF.js model.json path. Default 'imagenet'. */
  weights?: string;
  /** Square input size, fixed for every candidate. Default: searched (the model's, and ~1.3x). */
  inputSize?: number;
  /** 'squash' or 'center', fixed. Default: searched (the doctor's preference first). */
  crop?: Crop;
  /** Feature TTA 'none' or 'flip', fixed. Default: searched. */
  tta?: Tta;
  /** Fine-tuning's frozen blocks (see FinetuneOptions.freeze), fixed. Default: searched (last 2 vs last 4 blocks unfrozen). */
  freeze?: FreezeSpec;
  /** Fine-tuning's augmented views per image, fixed. Default: searched ('thorough') or finetune's. */
  views?: number;
  /** Fine-tuning's head dropout, fixed. Default: searched ('thorough') or finetune's. */
  dropout?: number;
  /** Candidate space: 'quick' (one per path), 'standard', 'thorough' (candidates.ts). Default 'standard'. */
  candidates?: CandidateLevel;
  /** Also refit every contender (not only the chosen one) into `<out>/paths/<name>`. Default false. */
  refitAll?: boolean;
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
  /** Training-set fractions of the learning curves (at least 3 sizes with 1). Default [0.1, 0.25, 0.5, 1]. */
  curveFractions?: number[];
  /** Cap of fine-tuning epochs per phase (early stopping ends most runs first). Default 20 (head) / 30. */
  epochs?: number;
  /** Skip fine-tuning (features only). Default false. */
  svmOnly?: boolean;
  backend?: BackendName | 'auto';
  /** Where models run (src/runtime/device.ts), chosen once for every stage. Default 'auto'. */
  device?: DeviceName | DeviceChoice;
  /** Training worker threads of fine-tuning (FinetuneOptions.workers). Default 'auto' (one per core). */
  workers?: number | 'auto';
  /** Feature cache (see extractFeatures). Default true. */
  cache?: boolean | string;
  /** Stage announcements ("Extracting features", "Fold 2/5"), libsvm easy.py style. */
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
  /** Every contender's refit (with `refitAll`): name -> bundle folder. */
  paths: Record<string, string>;
  report: { html: string; markdown: string; json: string };
}

export { AUTO_DEFAULTS };

/** Why a backbone cannot be fine-tuned here, or undefined when it can. */
function cannotTrainReason(info: BackboneInfo): string | undefined {
  if (info.external?.format === 'onnx') return 'the backbone is an ONNX model and ONNX Runtime for Node has no training, so fine-tuning cannot run';
  if (info.external?.format === 'tfjs-graph') return 'the backbone is a TF.js graph model (inference only), so fine-tuning cannot run';
  return undefined;
}

/** The backbones of `--model a,b` with their sizes (zoo: the registry's; others: --input-size). */
async function backboneChoices(o: AutoOptions & typeof AUTO_DEFAULTS): Promise<BackboneChoice[]> {
  const models = String(o.model)
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const out: BackboneChoice[] = [];
  for (const model of models) {
    if (isExternalModel(model)) {
      // A model of another framework: its own input size when it declares one (else --input-size,
      // which resolveBackbone asks for), the only size tried.
      const size = o.inputSize ?? (await resolveBackbone({ model, layer: o.layer, preprocess: o.preprocess })).info.inputSize;
      out.push({ model, weights: undefined, layer: o.layer, preprocess: o.preprocess, defaultSize: size, minSize: size, trainable: model.startsWith('tfjs:') && !cannotTrainExternal(model) });
      continue;
    }
    const spec = getModelSpec(model);
    out.push({ model, alpha: o.alpha, weights: o.weights, layer: o.layer, defaultSize: spec.defaultInputSize, minSize: spec.minInputSize, trainable: true });
  }
  return out;
}

/** tfjs: folders may hold a graph model (inference only); decided when its features are read. */
function cannotTrainExternal(model: string): boolean {
  return model.startsWith('onnx:');
}

/**
 * Estimated time of the final refit from a fold's costs: the feature search on all rows (about 1.5
 * folds') and one fine-tuning run on all rows (a fold holds two inner runs and a refit: half of it
 * is a generous estimate of one run on 1.25x the rows).
 */
function refitMs(svmFoldMs: number, finetuneFoldMs: number): number {
  return svmFoldMs * 1.5 + finetuneFoldMs * 0.5;
}

export async function auto(source: string, options: AutoOptions): Promise<AutoResult> {
  if (!options.out) throw new OptionsError('auto needs an output folder (out).', { suggestion: 'Pass --out <dir>.' });
  const o = {
    ...AUTO_DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as typeof AUTO_DEFAULTS & AutoOptions;
  if (!(o.budget > 0)) throw new OptionsError(`budget must be a positive number of minutes. Received ${o.budget}.`);
  if (!Number.isInteger(o.folds) || o.folds < 2) throw new OptionsError(`folds must be an integer >= 2. Received ${o.folds}.`);
  const curveFractions = checkCurveFractions(o.curveFractions);
  const started = performance.now();
  const elapsedMs = () => performance.now() - started;
  const elapsedMin = () => elapsedMs() / 60000;
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

  // 1. Data, candidates, features, doctor.
  const dataset = await timed('scan', () => findDataset(source, { minPerClass: 2 }));
  if (dataset.classes.length < 2) {
    throw new DatasetError(`${source} has one class (${dataset.classes[0]}): a classifier needs at least two.`, {
      code: 'DATASET_ONE_CLASS',
      suggestion: 'Add a folder per class.',
    });
  }
  const device = await chooseDevice(o.device, { onNotice: say });
  const backend = await selectBackend({ backend: device.provider === 'cpu' ? (o.backend ?? 'auto') : await trainingBackendFor(device), onNotice: say });
  const backbones = await backboneChoices(o);
  const sizes = await imageSizes(dataset);
  const space = candidateSpace({
    level: o.candidates ?? 'standard',
    backbones,
    nonSquare: sizes?.nonSquare,
    // Training folds of (k-1)/k of the images: above the exact kernel's rows the classifier is linear.
    kernelSvm: Math.ceil((dataset.entries.length * (o.folds - 1)) / o.folds) <= FEATURE_LINEAR_ABOVE,
    fixed: { inputSize: o.inputSize, crop: o.crop, tta: o.tta, freeze: o.freeze, views: o.views, dropout: o.dropout },
  });
  say(`Candidates (${o.candidates ?? 'standard'}): ${space.features.length} for the feature path, ${space.finetune.length} for fine-tuning`);
  const featureSet = await timed(
    'features',
    () =>
      extractCandidateFeatures(dataset, space.features, backbones, {
        backend: o.backend,
        device,
        cache: o.cache,
        onStage: say,
        onWarning: warn,
        onSkip: (s) => warn(`skipped ${s.file}: ${s.reason}`),
        onProgress: (p) => options.onProgress?.({ stage: p.phase === 'hash' ? 'hashing' : 'features', done: p.done, total: p.total, imagesPerSecond: p.imagesPerSecond }),
      }),
    { images: dataset.entries.length },
  );
  const { features: X, meta } = featureSet.base;
  const firstTrainable = backbones.find((b) => b.trainable);
  // Why fine-tuning cannot run: no trainable backbone, or the only one turned out to be a TF.js
  // graph model (known once its features were read).
  const untrainable = !firstTrainable
    ? (cannotTrainReason(meta.model) ?? 'no backbone can be trained here')
    : backbones.length === 1
      ? cannotTrainReason(meta.model)
      : undefined;
  if (untrainable && !o.svmOnly) say(`Only the feature path can run: ${untrainable}.`);
  const svmOnly = o.svmOnly || untrainable !== undefined || space.finetune.length === 0;
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

  // 2. Prior: size + domain probe.
  const probe = await timed('domain probe', () => domainProbe({ dataset, X, meta, n, d, labels, smallest, runDir, o, device, say }));
  const prior = recommend({ counts, probe, canTrain: !svmOnly, cannotTrainReason: o.svmOnly ? 'fine-tuning was turned off (--svm-only)' : untrainable });
  for (const r of prior.reasons) say(`prior: ${r}`);

  // 3. Shared folds and the contest.
  const folds = stratifiedKFold(labels, k, { shuffle: true, seed: o.seed });
  const moved = keepDuplicatesTogether(folds, meta.duplicates, meta.files);
  const foldNote = meta.duplicates.length ? `exact duplicates kept in one fold (${moved} moved)` : undefined;
  const innerFolds = Math.min(3, Math.max(2, smallest - 1));
  const ftBase = {
    model: firstTrainable?.model ?? o.model,
    alpha: firstTrainable?.alpha,
    weights: firstTrainable?.weights,
    ...(firstTrainable && isExternalModel(firstTrainable.model) ? { layer: o.layer, preprocess: o.preprocess } : {}),
    seed: o.seed,
    backend: o.backend,
    device,
    cache: o.cache,
    workers: o.workers ?? ('auto' as const),
    ...(o.epochs ? { epochs: o.epochs, headEpochs: o.epochs } : { epochs: AUTO_EPOCH_CAPS.epochs, headEpochs: AUTO_EPOCH_CAPS.headEpochs }),
  };
  const ftProgress = (p: { stage: string; phase: string; done: number; total: number; imagesPerSecond?: number }) =>
    options.onProgress?.({ stage: `fine-tune ${p.stage} ${p.phase}`, done: p.done, total: p.total, imagesPerSecond: p.imagesPerSecond });
  if (n > FEATURE_LINEAR_ABOVE) say(linearSwitchMessage(n));
  const contest = await timed('contest', () =>
    runContest({
      dataset,
      files: meta.files,
      labels,
      numClasses: dataset.classes.length,
      folds,
      k,
      seed: o.seed,
      runDir,
      budgetMs: o.budget * 60000,
      elapsedMs,
      refitEstimateMs: (f) => refitMs(f.svm, f.finetune),
      features: { candidates: space.features, byId: featureSet.byId },
      ...(svmOnly ? {} : { finetune: { candidates: space.finetune, base: ftBase, onProgress: ftProgress } }),
      innerFolds,
      onStage: say,
    }),
  );
  cuts.push(...contest.cuts);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const refitEstimate = (c: typeof contest) => refitMs(mean(c.contenders[0].foldMs), mean(c.contenders.find((x) => x.name === 'finetune')?.foldMs ?? []));
  const contenderLabel: Record<ContenderName, string> = {
    svm: 'feature path (backbone features + SVM; candidate chosen inside each training fold)',
    finetune: 'fine-tuning (candidate and epochs chosen inside each training fold, then trained on all of it)',
    ensemble: 'ensemble (mean of the two picks\' calibrated probabilities)',
  };
  const paths: PathResult[] = [];
  for (const c of contest.contenders) {
    const rows = Array.from({ length: n }, (_, i) => i).filter((i) => c.folds.includes(folds[i]) && c.predicted[i] >= 0);
    if (c.folds.length === 0) continue;
    const remap = new Map(c.folds.map((f, i) => [f, i]));
    paths.push(
      pathResultFromPredictions(
        c.name,
        rows.map((r) => c.predicted[r]),
        dataset.classes.length,
        // Folds renumbered over the ones this contender completed (all of them: unchanged).
        { files: rows.map((r) => meta.files[r]), labels: rows.map((r) => labels[r]), folds: rows.map((r) => remap.get(folds[r])!), probabilities: rows.map((r) => c.probabilities[r]!) },
        { label: contenderLabel[c.name], elapsedMs: c.foldMs.reduce((a, b) => a + b, 0), notes: c.notes },
      ),
    );
    say(`${c.name}: ${(100 * paths[paths.length - 1].meanAccuracy).toFixed(2)}% over ${c.folds.length} folds`);
  }

  // 4. Decision by the written rule.
  const contenders: Contender<ContenderName>[] = contest.contenders
    .filter((c) => c.folds.length > 0)
    .map((c) => ({
      id: c.name,
      label: c.name === 'svm' ? 'the feature path' : c.name === 'finetune' ? 'fine-tuning' : 'the ensemble',
      // The path result's fold accuracies (its completed folds, ascending), null where it did not run.
      foldAccuracies: Array.from({ length: k }, (_, f) => (c.folds.includes(f) ? paths.find((p) => p.path === c.name)!.foldAccuracies[c.folds.indexOf(f)] : null)),
      costPerFoldMs: c.foldMs.reduce((a, b) => a + b, 0) / c.foldMs.length,
    }));
  const decision = decide(contenders);
  const chosen = decision.chosen as PathName;
  const evidenceReasons = [...decision.reasons, ...decision.excluded.map((e) => e.why)];
  if (svmOnly) evidenceReasons.push(o.svmOnly ? 'Only the feature path was run (--svm-only).' : `Only the feature path was run: ${untrainable ?? 'no fine-tuning candidate'}.`);
  for (const r of evidenceReasons) say(`evidence: ${r}`);
  const comparisons = decision.comparisons.map((c) => ({ a: c.a as PathName, b: c.b as PathName, differences: c.differences, meanDifference: c.meanDifference, ci95: c.ci95 }));

  // 5. Learning curves: both paths, same folds, same training sizes.
  const curves = await timed('learning curves', () =>
    measureCurves({
      contest, featureSet, space, dataset, meta, labels, folds, k, curveFractions, seed: o.seed, runDir, ftBase, svmOnly,
      budgetMs: o.budget * 60000, elapsedMs, refitReserveMs: refitEstimate(contest), cuts, say, numClasses: dataset.classes.length,
    }),
  );

  // 6. Refit: the chosen contender (and, with refitAll, every contender) on all images.
  const refitDirs: Record<string, string> = {};
  const backboneById = new Map<string, BackboneInfo>(space.features.map((c) => [c.id, featureSet.byConfig.get(featureConfigKey(c))!.meta.model]));
  let trustReport: TrustRunReport | undefined;
  let featureRefit: Awaited<ReturnType<typeof refitFeaturePath>> | undefined;
  let ftRefit: Awaited<ReturnType<typeof refitFinetunePath>> | undefined;
  const needFeature = chosen !== 'finetune' || o.refitAll;
  const needFt = !svmOnly && (chosen !== 'svm' || o.refitAll);
  const refitRoot = path.join(runDir, 'refit');
  await fsp.rm(refitRoot, { recursive: true, force: true });
  if (needFeature) {
    say(`Refitting the feature path on all ${n} images`);
    const dir = path.join(refitRoot, 'svm');
    await fsp.mkdir(dir, { recursive: true });
    featureRefit = await timed('refit feature path', () =>
      refitFeaturePath(dir, space.features, featureSet.byId, backboneById, labels, dataset.classes, { seed: o.seed, innerFolds, calibrate: smallest >= 5, onWarning: warn, onStage: say }),
    );
  }
  if (needFt) {
    const ftCandidate = finetuneRefitChoice(contest.candidates, space.finetune);
    const picked = contest.picks.filter((p) => p.finetune?.id === ftCandidate.id);
    const epochs = { head: picked.map((p) => p.finetune!.head), finetune: picked.map((p) => p.finetune!.finetune) };
    say(`Refitting fine-tuning on all ${n} images: ${ftCandidate.label}`);
    const dir = path.join(refitRoot, 'finetune');
    await fsp.mkdir(dir, { recursive: true });
    ftRefit = await timed('refit finetune', () => refitFinetunePath(dir, dataset, meta.files, ftCandidate, epochs, contest.calibrations, ftBase, ftProgress));
  }
  const reasons = [...evidenceReasons, ...prior.reasons.map((r) => `Prior: ${r}`)];
  const writeOne = async (name: ContenderName, dir: string): Promise<void> => {
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.mkdir(dir, { recursive: true });
    const members = [];
    if (name !== 'finetune') {
      for (const m of featureRefit!.members) await fsp.copyFile(path.join(refitRoot, 'svm', m.classifier), path.join(dir, m.classifier));
      members.push(...featureRefit!.members);
    }
    if (name !== 'svm') {
      await fsp.cp(path.join(refitRoot, 'finetune', 'model'), path.join(dir, 'model'), { recursive: true });
      members.push(...ftRefit!.members);
    }
    await writeBundleMeta(dir, name, members, dataset.classes, name === 'finetune' ? meta.model : backboneById.get(featureRefit!.members[0].config!.candidate as string)!, reasons);
  };
  const bundleDir = path.join(runDir, 'bundle');
  await writeOne(chosen as ContenderName, bundleDir);
  if (o.refitAll) {
    for (const c of contest.contenders) {
      if (c.folds.length === 0) continue;
      refitDirs[c.name] = path.join(runDir, 'paths', c.name);
      await writeOne(c.name, refitDirs[c.name]);
    }
  }
  trustReport = chosen === 'finetune' ? ftRefit?.trust : featureRefit?.trust;

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
      imageSizes: doctor.sizes ? { count: doctor.sizes.sampled, width: doctor.sizes.width, height: doctor.sizes.height } : undefined,
    },
    decision: {
      chosen,
      reasons,
      rule: DECISION_RULE,
      excluded: decision.excluded,
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
      evidence: { best: decision.best as PathName, withinNoise: decision.withinNoise, reasons: evidenceReasons },
    },
    folds: { k, seed: o.seed, ...(foldNote ? { note: foldNote } : {}) },
    paths,
    comparisons,
    candidates: contest.candidates,
    learningCurves: curves,
    ...(featureRefit ? { grid: gridFromSearch(featureRefit.selection.grid, `refit on all ${n} images, ${innerFolds}-fold (as inside each outer fold), ${featureRefit.selection.members[0].candidate.label}`) } : {}),
    ...(trustReport ? { trust: trustReport } : {}),
    timings: { stages, totalMs: performance.now() - started },
    runtime: {
      backend: backend.name,
      backendReason: backend.reason,
      engine: featureSet.base.stats.engine,
      device: { ...featureSet.base.stats.device, ...(svmOnly ? {} : { trainingBackend: backend.name }) },
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
  await fsp.writeFile(path.join(runDir, 'run.json.tmp'), JSON.stringify(run, null, 1) + '\n');
  await fsp.rename(path.join(runDir, 'run.json.tmp'), path.join(runDir, 'run.json'));
  say('Writing the report');
  const report = await writeReport(runDir, {});
  say(`Decision: ${chosen}. Bundle: ${bundleDir}; report: ${report.html}`);
  return { runDir, run, bundle: bundleDir, paths: refitDirs, report: { html: report.html, markdown: report.markdown, json: report.json } };
}
