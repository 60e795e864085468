/**
 * `finetune()`: transfer learning by fine-tuning, the larger-data path of ftk.
 *
 * The practice, as Keras' transfer-learning guide and fastai do it:
 * 1. truncate the pretrained network's classifier and put a new head for the user's classes
 *    (global pooling -> dropout -> dense softmax);
 * 2. phase 1 ('head'): train the head with the whole base frozen, at `lr`;
 * 3. phase 2 ('finetune'): unfreeze the layers above `freeze` (the first layers, which hold
 *    universal edges and curves, stay frozen) and train them with the head at lr / 10;
 * 4. augment training images (flip, rotation, translation, zoom), early-stop each phase on the
 *    validation loss and keep the best weights; optionally cross-validate.
 * `weights: 'none'` (smallcnn's default) trains from scratch in one phase: the baseline. A smallcnn
 * can also start from a smallcnn model folder ftk wrote (transfer from your own pretraining).
 *
 * Fast on a CPU by design (tfjs' wasm backend runs one thread in Node):
 * - frozen-prefix caching: the frozen layers' output for every training image and each of a bank
 *   of `views` augmented views of it (and for every validation image) is computed once, stored in
 *   the feature cache, and only the trainable suffix runs forward and backward per step;
 * - frozen BatchNormalization runs in inference mode (tfjs would use batch statistics: see graph.ts);
 * - a batch that does not fit the memory budget runs as micro-batches whose gradients are summed
 *   (BN in inference mode makes that the same step);
 * - on wasm, the missing convolution gradient kernels are registered (src/runtime/wasm_gradients.ts);
 * - data-parallel steps on worker threads (`workers`, default one per core on wasm): each batch is
 *   split across replicas of the model, their gradients summed in a fixed order, one Adam update
 *   here (parallel.ts).
 *
 * Checkpoints: after every epoch, atomically (checkpoint.ts); `resume: true` continues a killed run.
 *
 * @example
 * const result = await finetune('photos/', { model: 'mobilenet', alpha: 0.25, weights: 'mobilenet_2_5_224_tf_no_top.h5', out: 'cats-model' });
 * result.meta.metrics.valAccuracy;   // best validation accuracy
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { augmentSpecString, isIdentityAugment } from '../data/augment.js';
import { findDataset, type Dataset } from '../data/dataset.js';
import { stratifiedKFold, stratifiedTrainTestSplit, foldSplit } from '../data/split.js';
import { DatasetError, FtkError, OptionsError } from '../errors.js';
import { FeatureCache } from '../extract/cache.js';
import type { BackendInfo } from '../runtime/backend.js';
import type { DeviceChoice } from '../runtime/device.js';
import { packageInfo } from '../runtime/package_info.js';
import { cacheDbPath } from '../runtime/paths.js';
import type { DeviceRecord } from '../formats/device.js';
import { chooseTrainingDevice } from './device.js';
import { checkpointPath, readCheckpoint, writeCheckpoint, type NamedArray } from './checkpoint.js';
import { BankSource, fillBanks, PixelCache, PixelSource, ViewBank, type FeedSource, type ImageSettings, type PrefixEngine, type PreparedImage, type ViewId } from './data.js';
import { featureTensor, FINETUNED_FORMAT, FINETUNED_FORMAT_VERSION, META_JSON, MODEL_JSON, saveFinetunedModel, WEIGHTS_BIN, type FinetunedModelMeta, type FinetunedUnknownJson } from './format.js';
import { INFERENCE, type LayerGraph } from './graph.js';
import { buildFinetuneModel, resolveFinetuneBackbone } from './model.js';
import { datasetKey, hashImages, prepareOut } from './setup.js';
import { FINETUNE_DEFAULTS, resolveFinetuneOptions, resolveWorkers, trainingConfig, type FinetuneOptions, type ResolvedFinetuneOptions } from './options.js';
import { ReplicaPool } from './parallel.js';
import { calibrate, CALIBRATE_DEFAULTS } from '../trust/calibrate.js';
import type { CalibrationJson } from '../formats/trust.js';
import { UnknownDetector } from '../trust/ood.js';
import { adamAccBeta, initialLoopState, predictProbabilities, restoreWeightsFromArrays, runStages, snapshotWeights, type LoopState, type RestoredOptimizer, type Stage, type WeightSnapshot } from './trainer.js';

export interface FinetuneStats {
  /** Wall time of the whole call. */
  seconds: number;
  /** Time spent computing the frozen prefix's outputs (decode + augment + inference). */
  prefixSeconds: number;
  /** (image, view) rows computed by the prefix in this run (the rest came from the cache). */
  prefixComputed: number;
  /** Training throughput: images through forward + backward of the trainable part per second. */
  trainImagesPerSecond: number;
  backend: string;
  /** Images per micro-batch in phase 2 (or scratch). */
  microBatch: number;
  /** 'bank' (frozen prefix cached), 'per-step' (prefix run every step) or 'none' (nothing frozen). */
  prefixMode: 'bank' | 'per-step' | 'none';
  /** What ran the once-per-view pass ('tfjs' or the ONNX Runtime engine's name). */
  prefixRuntime: string;
  /** The device, with the training backend and the ONNX Runtime providers of the frozen pass. */
  device: DeviceRecord;
  /** Epoch of the checkpoint the run resumed from (stage:epoch), if any. */
  resumedFrom?: string;
  /** Training worker threads (1: the main thread; see `FinetuneOptions.workers`). */
  workers: number;
  /**
   * The unknown detector's cost, apart from training's numbers above: wall time (the training
   * images' unaugmented frozen-layer rows, the forward pass, the detector's folds) and the rows
   * the prefix computed for it. Absent without a detector.
   */
  unknown?: { seconds: number; prefixComputed: number };
}

export interface FinetuneResult {
  out: string;
  files: { model: string; weights: string; meta: string };
  meta: FinetunedModelMeta;
  stats: FinetuneStats;
  /** Out-of-fold unknown scores of the training images behind the detector's threshold (with `meta.unknown`). */
  oofUnknownScores?: Float64Array;
}

interface CheckpointState {
  loop: LoopState;
  skipped: { file: string; reason: string }[];
  /** maxEpochs of every stage (refit stages get theirs from the folds). */
  refitEpochs: number[];
  /** Names of the optimizer's weights, in order (`opt/<i>` arrays). */
  optNames: string[];
  /** Adam's running beta1^t, beta2^t (trainer.ts `adamAccBeta`), so a resume continues bit for bit. */
  adamAccBeta?: [number, number];
  /** Training workers of the run (a resume with another count continues within float rounding, not bit for bit). */
  workers?: number;
}

function floatsOf(t: tf.SymbolicTensor): number {
  return t.shape.slice(1).reduce((a: number, b) => a * (b as number), 1);
}

/** Per-image floats: the sum (a gradient run keeps every activation) and the largest node (inference). */
function activationFloats(graph: LayerGraph, start: readonly tf.SymbolicTensor[], end: tf.SymbolicTensor): { sum: number; peak: number } {
  const plan = graph.plan(
    start.map((s) => s.id),
    [end],
  );
  let sum = start.reduce((n, s) => n + floatsOf(s), 0);
  let peak = sum;
  for (const node of plan) {
    const out = node.outputs.reduce((n, o) => n + floatsOf(o), 0);
    const inp = node.inputs.reduce((n, i) => n + floatsOf(i), 0);
    sum += out;
    peak = Math.max(peak, out + inp);
  }
  return { sum, peak };
}

async function checkpointArrays(mutable: readonly tf.layers.Layer[], best: WeightSnapshot | undefined, optimizerWeights: NamedArray[]): Promise<NamedArray[]> {
  const arrays: NamedArray[] = [];
  for (const [name, weights] of await snapshotWeights(mutable)) weights.forEach((w, i) => arrays.push({ name: `w/${name}/${i}`, shape: w.shape, values: w.values }));
  if (best) for (const [name, weights] of best) weights.forEach((w, i) => arrays.push({ name: `best/${name}/${i}`, shape: w.shape, values: w.values }));
  return [...arrays, ...optimizerWeights];
}

function snapshotFromArrays(arrays: Map<string, NamedArray>, prefix: string): WeightSnapshot {
  const snap: WeightSnapshot = new Map();
  for (const [name, a] of arrays) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    const layer = rest.slice(0, rest.lastIndexOf('/'));
    const index = Number(rest.slice(rest.lastIndexOf('/') + 1));
    const list = snap.get(layer) ?? [];
    list[index] = { shape: a.shape, values: a.values };
    snap.set(layer, list);
  }
  return snap;
}

/**
 * Fine-tunes a pretrained ConvNet (or trains one from scratch) on a dataset folder / manifest and
 * writes the model folder `options.out`. See the module notes and `FinetuneOptions` for defaults.
 *
 * Errors: OptionsError (bad option, `--freeze` naming a missing layer, a batch larger than the
 * training set), DatasetError (one class, a class without usable images), FtkError
 * CHECKPOINT_CORRUPT / CHECKPOINT_MISSING / RUN_UNFINISHED / MODEL_EXISTS; nothing in `out` is
 * deleted on an error.
 */
export async function finetune(source: string | Dataset, options: FinetuneOptions): Promise<FinetuneResult> {
  const started = performance.now();
  const r = resolveFinetuneOptions(options);
  const notice = options.onNotice ?? (() => undefined);
  await prepareOut(r);
  const { device, backend } = await chooseTrainingDevice(r.device, r.backend, notice);
  // Training threads load TF.js and the backend while the data and the model are prepared.
  const workers = resolveWorkers(r.workers, backend.name, r.batchSize);
  const replicas = workers > 1 ? ReplicaPool.start(workers, backend.name) : undefined;
  try {
    return await finetuneWith(source, options, { started, r, notice, backend, device, workers, replicas });
  } finally {
    await replicas?.release();
  }
}

/** The rest of `finetune()`, once the backend is chosen and the training threads are starting. */
async function finetuneWith(
  source: string | Dataset,
  options: FinetuneOptions,
  { started, r, notice, backend, device, workers, replicas }: { started: number; r: ResolvedFinetuneOptions; notice: (m: string) => void; backend: BackendInfo; device: DeviceChoice; workers: number; replicas: ReplicaPool | undefined },
): Promise<FinetuneResult> {
  // Dataset: classes, hashes.
  const dataset = typeof source === 'string' ? await findDataset(source) : source;
  if (dataset.classes.length < 2) {
    throw new DatasetError(`Fine-tuning needs at least 2 classes; ${dataset.root} has ${dataset.classes.length} (${dataset.classes.join(', ') || 'none'}).`, {
      code: 'DATASET_ONE_CLASS',
      suggestion: 'Add a folder per class (e.g. data/cats, data/dogs), or a manifest with at least two labels.',
    });
  }
  const skipped: { file: string; reason: string }[] = [];
  const skip = (file: string, reason: string) => {
    skipped.push({ file, reason });
    notice(`skipped ${file}: ${reason}`);
  };
  let resumed: Awaited<ReturnType<typeof readCheckpoint<CheckpointState>>> | undefined;
  if (r.resume) resumed = await readCheckpoint<CheckpointState>(checkpointPath(r.out));
  let images = await hashImages(dataset, skip);

  // Model.
  const resolved = await resolveFinetuneBackbone(r, notice);
  const fm = await buildFinetuneModel(r, dataset.classes.length, resolved, notice);
  const cacheFile = r.cache === false ? undefined : typeof r.cache === 'string' ? r.cache : cacheDbPath();
  const cache = cacheFile ? new FeatureCache(cacheFile) : undefined;
  try {
    return await run();
  } finally {
    cache?.close();
    fm.model.dispose();
  }

  async function run(): Promise<FinetuneResult> {
    const settings: ImageSettings = { inputSize: fm.inputSize, crop: fm.crop, preprocessing: fm.preprocessing, maxInputPixels: r.maxInputPixels };
    const frozenSet = new Set(fm.baseLayers.slice(0, fm.freeze.frozenLayers));
    const headOnly = fm.freeze.frozenLayers >= fm.freeze.totalLayers;
    const boundary = r.scratch || frozenSet.size === 0 ? [fm.input] : fm.graph.boundary(frozenSet);
    const augmentKey = augmentSpecString(r.augment);
    const producer = fm.backbone?.fingerprint ?? `smallcnn/${fm.weightsSha256}/${fm.inputSize}/${fm.crop}`;
    const pooledBank = !r.scratch && r.headEpochs > 0 ? new ViewBank('pooled', [fm.pooled], producer, augmentKey, r.seed) : undefined;
    const boundaryIsInput = boundary.length === 1 && boundary[0] === fm.input;

    // Decodability: images whose pooled 'none' row is cached decoded before; the rest are decoded
    // now (and kept in memory for the prefix pass, within the budget).
    const pixelBudget = r.memoryBudgetMB * 4 * 2 ** 20;
    if (resumed) {
      const known = new Set(resumed.header.state.skipped.map((s) => s.file));
      for (const s of resumed.header.state.skipped) if (!skipped.some((k) => k.file === s.file)) skipped.push(s);
      images = images.filter((img) => !known.has(img.file));
    }
    let pixels = new PixelCache(images, settings, pixelBudget);
    {
      const probe = pooledBank ? images.map((img, i) => (cache?.get(pooledBank.fingerprint('none'), img.hash) ? -1 : i)).filter((i) => i >= 0) : images.map((_, i) => i);
      const bad = new Set<number>();
      const t0 = performance.now();
      for (let s = 0; s < probe.length; s += 16) {
        const part = probe.slice(s, s + 16);
        const got = await pixels.getMany(part);
        got.forEach((px, k) => {
          if (px instanceof Error) {
            bad.add(part[k]);
            skip(images[part[k]].file, px.reason);
          }
        });
        options.onProgress?.({ phase: 'decode', stage: 'data', done: Math.min(s + 16, probe.length), total: probe.length, imagesPerSecond: Math.min(s + 16, probe.length) / ((performance.now() - t0) / 1000) });
      }
      if (bad.size) {
        const good = images.filter((_, i) => !bad.has(i));
        const kept = new PixelCache(good, settings, pixelBudget);
        images = good;
        pixels = kept; // decoded again on demand (indices changed)
      }
    }
    const labels = Int32Array.from(images.map((img) => img.label));
    const counts = dataset.classes.map((_, c) => labels.filter((l) => l === c).length);
    const empty = dataset.classes.filter((_, c) => counts[c] === 0);
    if (empty.length) {
      throw new DatasetError(`Class${empty.length > 1 ? 'es' : ''} ${empty.join(', ')} ha${empty.length > 1 ? 've' : 's'} no usable image.`, {
        code: 'DATASET_EMPTY_CLASS',
        suggestion: 'Add readable images to every class folder (see the skipped files above).',
      });
    }
    const key = datasetKey(images, dataset.classes);

    // Split.
    const all = Int32Array.from(images.map((_, i) => i));
    const units: { fold?: number; refit: boolean; train: Int32Array; val: Int32Array }[] = [];
    if (r.folds) {
      const folds = stratifiedKFold(labels, r.folds, { shuffle: true, seed: r.seed, onWarning: notice });
      for (let f = 0; f < r.folds; f++) {
        const { train, test } = foldSplit(folds, f);
        units.push({ fold: f, refit: false, train, val: test });
      }
      units.push({ refit: true, train: all, val: new Int32Array(0) });
    } else if (r.val > 0) {
      const { train, test } = stratifiedTrainTestSplit(labels, r.val, { seed: r.seed });
      units.push({ refit: false, train, val: test });
    } else {
      units.push({ refit: false, train: all, val: new Int32Array(0) });
    }
    const smallestTrain = Math.min(...units.map((u) => u.train.length));
    if (r.batchSize > smallestTrain) {
      throw new OptionsError(`The batch size ${r.batchSize} is larger than the ${smallestTrain} training images${r.folds ? ' of the smallest fold' : ''}.`, {
        code: 'BATCH_TOO_LARGE',
        suggestion: `Use --batch ${Math.max(1, 2 ** Math.floor(Math.log2(smallestTrain)))} or smaller, or add images.`,
      });
    }

    // Stages.
    const stages: Stage[] = [];
    const fold = (u: (typeof units)[number], name: string) => (u.refit ? `refit ${name}` : u.fold !== undefined ? `fold ${u.fold + 1}/${r.folds} ${name}` : name);
    for (const u of units) {
      const epochs = (n: number) => (u.refit ? 0 : n);
      if (r.scratch) {
        stages.push({ label: fold(u, 'scratch'), phase: 'scratch', fold: u.fold, refit: u.refit, lr: r.lr, maxEpochs: epochs(r.epochs), train: u.train, val: u.val, resetBefore: true });
        continue;
      }
      if (r.headEpochs > 0) stages.push({ label: fold(u, 'head'), phase: 'head', fold: u.fold, refit: u.refit, lr: r.lr, maxEpochs: epochs(r.headEpochs), train: u.train, val: u.val, resetBefore: true });
      if (!headOnly) {
        stages.push({ label: fold(u, 'finetune'), phase: 'finetune', fold: u.fold, refit: u.refit, lr: r.lr / FINETUNE_DEFAULTS.phase2LrDivisor, maxEpochs: epochs(r.epochs), train: u.train, val: u.val, resetBefore: r.headEpochs === 0 });
      }
    }
    if (stages.length === 0) throw new OptionsError('Nothing to train: headEpochs is 0 and freeze is "all".', { suggestion: 'Set --head-epochs >= 1 or unfreeze some layers.' });

    // Memory: micro-batches and inference batches from the activation sizes.
    const budget = r.memoryBudgetMB * 2 ** 20;
    const phase2Start = r.scratch ? [fm.input] : boundary;
    const trainAct = activationFloats(fm.graph, phase2Start, fm.probabilities);
    const microBatch = Math.max(1, Math.min(r.batchSize, Math.floor(budget / (trainAct.sum * 3 * 4))));
    const inferAct = activationFloats(fm.graph, [fm.input], fm.probabilities);
    const inferBatch = Math.max(1, Math.min(64, Math.floor(budget / (inferAct.peak * 2 * 4))));
    if (microBatch < r.batchSize) {
      notice(`batch ${r.batchSize} runs as micro-batches of ${microBatch} images (memory budget ${r.memoryBudgetMB} MB); their gradients are summed into one step.`);
    }

    // Banks: the frozen prefix's outputs per (image, view).
    const trainImagesAll = new Set(units.flatMap((u) => Array.from(u.train)));
    const valImagesAll = new Set(units.flatMap((u) => Array.from(u.val)));
    const viewsPerImage = isIdentityAugment(r.augment) ? 1 : r.views;
    const bankRows = trainImagesAll.size * viewsPerImage + valImagesAll.size;
    const boundaryFloats = boundary.reduce((n, b) => n + floatsOf(b), 0);
    let prefixMode: FinetuneStats['prefixMode'] = r.scratch || boundaryIsInput || headOnly ? 'none' : 'bank';
    if (prefixMode === 'bank' && (!r.prefixCache || bankRows * boundaryFloats * 4 > budget * 8)) {
      prefixMode = 'per-step';
      if (r.prefixCache) notice(`The frozen layers' outputs for ${bankRows} image views would take ${Math.round((bankRows * boundaryFloats * 4) / 2 ** 20)} MB (> ${r.memoryBudgetMB * 8} MB): running the frozen layers at every step instead.`);
    }
    const boundaryBank = prefixMode === 'bank' ? new ViewBank('boundary', boundary, producer, augmentKey, r.seed) : undefined;
    // The once-per-view pass on ONNX Runtime (all cores) when its first output is one tensor.
    const engineTarget = boundaryBank ? (boundary.length === 1 ? boundary[0] : undefined) : pooledBank?.outputs[0];
    let prefixRuntime = 'tfjs';
    let prefixProviders: string[] | undefined;
    const openEngine = async (): Promise<PrefixEngine | undefined> => {
      if (r.runtime === 'tfjs' || !engineTarget) {
        if (r.runtime === 'onnx') throw new OptionsError('--runtime onnx: the frozen layers end in several tensors (a cut inside a residual block); ONNX Runtime runs single-output graphs only.', { suggestion: 'Freeze at a block boundary (a block count), or use --runtime auto.' });
        return undefined;
      }
      try {
        const { exportOnnxAsync } = await import('../runtime/onnx_export.js');
        const { OnnxEngine } = await import('../runtime/onnx_engine.js');
        const sub = tf.model({ inputs: fm.model.inputs, outputs: engineTarget });
        const engine = await OnnxEngine.create((await exportOnnxAsync(sub)).bytes, { provider: device.provider });
        prefixRuntime = engine.name;
        prefixProviders = [...engine.providers];
        notice(`Frozen layers run on ${engine.name}.`);
        return { name: engine.name, output: engineTarget, run: (batch, count, size) => engine.run(batch, count, size, size), dispose: () => engine.dispose() };
      } catch (err) {
        if (r.runtime === 'onnx' || (err as { code?: string }).code === 'DEVICE_UNAVAILABLE') throw err;
        notice(`Frozen layers run on TF.js (ONNX Runtime not used: ${(err as Error).message.split('\n')[0]}).`);
        return undefined;
      }
    };
    /** What `fillBanks` needs to run the frozen prefix, progress reported under `stageLabel`. */
    const prefixFill = (stageLabel: string) => ({
      graph: fm.graph,
      input: fm.input,
      images,
      pixels,
      settings,
      augment: r.augment,
      seed: r.seed,
      cache,
      batchSize: inferBatch,
      engine: openEngine,
      onProgress: (done: number, total: number, ips: number) => options.onProgress?.({ phase: 'prefix', stage: stageLabel, done, total, imagesPerSecond: ips }),
    });
    const banks = [pooledBank, boundaryBank].filter((b): b is ViewBank => b !== undefined);
    let currentViews: ViewId[] = [];
    let prefixSeconds = 0;
    let prefixComputed = 0;
    const viewsFor = (epoch: number): ViewId[] => {
      if (viewsPerImage === 1 && isIdentityAugment(r.augment)) return ['none'];
      const generation = r.viewsRefresh > 0 ? Math.floor(epoch / r.viewsRefresh) : 0;
      return Array.from({ length: viewsPerImage }, (_, v) => generation * viewsPerImage + v);
    };
    const ensureBanks = async (stage: Stage, epoch: number) => {
      const needs = stage.phase === 'head' ? (pooledBank ? [pooledBank] : []) : boundaryBank ? [boundaryBank] : [];
      const views = viewsFor(epoch);
      const sameViews = views.length === currentViews.length && views.every((v, i) => v === currentViews[i]);
      if (needs.length === 0 || (sameViews && needs.every((b) => b.size > 0))) return;
      currentViews = views;
      const t0 = performance.now();
      // Fill every bank in one pass over the images (they share the prefix computation).
      const work = [
        ...[...trainImagesAll].map((image) => ({ image, views: [...views, ...(valImagesAll.has(image) ? (['none'] as ViewId[]) : [])] })),
        ...[...valImagesAll].filter((i) => !trainImagesAll.has(i)).map((image) => ({ image, views: ['none'] as ViewId[] })),
      ];
      for (const b of banks) b.retainViews([...views, 'none']);
      prefixComputed += await fillBanks(
        prefixFill(stage.label),
        banks,
        work,
      );
      prefixSeconds += (performance.now() - t0) / 1000;
      // The pixels are needed again only when something runs from the input at every step.
      if (prefixMode === 'bank' || headOnly) pixels.retainOnly([]);
    };

    const pixelCtx = { graph: fm.graph, input: fm.input, images, pixels, settings, augment: r.augment };
    const sources = new Map<string, { train: FeedSource; val: FeedSource }>();
    const sourcesFor = (stage: Stage) => {
      const kind = stage.phase === 'head' ? 'head' : 'body';
      let s = sources.get(kind);
      if (!s) {
        if (stage.phase === 'head') {
          const src = new BankSource(pooledBank!, () => currentViews);
          s = { train: src, val: src };
        } else if (boundaryBank) {
          const src = new BankSource(boundaryBank, () => currentViews);
          s = { train: src, val: src };
        } else {
          const src = new PixelSource(pixelCtx, phase2Start);
          s = { train: src, val: src };
        }
        sources.set(kind, s);
      }
      return s;
    };
    const mutable = r.scratch ? fm.model.layers : [...fm.baseLayers.slice(fm.freeze.frozenLayers), ...fm.headLayers];
    const initial = await snapshotWeights(mutable);
    const config = { ...trainingConfig(r), prefixMode };

    // Resume.
    let state = initialLoopState();
    let restoredOptimizer: RestoredOptimizer | undefined;
    let restoredBest: WeightSnapshot | undefined;
    let resumedFrom: string | undefined;
    if (resumed) {
      const diff = Object.keys({ ...config, ...resumed.header.config }).filter((k) => JSON.stringify((config as Record<string, unknown>)[k]) !== JSON.stringify(resumed!.header.config[k]));
      if (diff.length) {
        throw new OptionsError(`--resume: the options differ from the interrupted run's: ${diff.map((k) => `${k}=${JSON.stringify((config as Record<string, unknown>)[k])} (checkpoint: ${JSON.stringify(resumed!.header.config[k])})`).join(', ')}.`, {
          code: 'RESUME_OPTIONS_DIFFER',
          suggestion: 'Resume with the same options as the interrupted run, or pass --overwrite to start over.',
        });
      }
      if (resumed.header.datasetKey !== key) {
        throw new DatasetError(`--resume: the dataset changed since the checkpoint (files added, removed, edited or relabelled).`, {
          code: 'RESUME_DATASET_CHANGED',
          suggestion: 'Restore the dataset as it was, or pass --overwrite to start over on the new data.',
        });
      }
      state = resumed.header.state.loop;
      for (const [i, n] of resumed.header.state.refitEpochs.entries()) if (stages[i]) stages[i].maxEpochs = n;
      restoreWeightsFromArrays(mutable, resumed.arrays);
      const opt = [...resumed.arrays.entries()].filter(([n]) => n.startsWith('opt/')).sort((a, b) => Number(a[0].split('/')[1]) - Number(b[0].split('/')[1]));
      const optNames = resumed.header.state.optNames ?? [];
      if (opt.length) {
        restoredOptimizer = {
          stage: state.stage,
          weights: opt.map(([name, a]) => ({ name: optNames[Number(name.split('/')[1])] ?? name, tensor: tf.tensor(a.values, a.shape) })),
          accBeta: resumed.header.state.adamAccBeta,
        };
      }
      if (state.hasBest) restoredBest = snapshotFromArrays(resumed.arrays, 'best/');
      const s = stages[state.stage];
      resumedFrom = s ? `${s.label}, epoch ${state.epochsDone}` : 'the end';
      notice(`Resuming from the checkpoint: ${resumedFrom} done (${state.history.length} epochs in the history).`);
      const before = resumed.header.state.workers ?? 1;
      if (before !== workers) notice(`The interrupted run trained on ${before} worker${before > 1 ? 's' : ''}, this one on ${workers}: it continues within float rounding of the uninterrupted run, not bit for bit (pass --workers ${before} for that).`);
    }

    notice(
      r.scratch
        ? `Training ${r.model} from scratch: ${stages.length} stage(s), ${units[0].train.length} training / ${units[0].val.length} validation images.`
        : `Fine-tuning ${r.model}: frozen ${fm.freeze.description}; ${prefixMode === 'bank' ? `frozen layers run once per view (${viewsPerImage} view${viewsPerImage > 1 ? 's' : ''} per training image), cached` : prefixMode === 'per-step' ? 'frozen layers run at every step' : 'nothing frozen'}; ${units[0].train.length} training / ${units[0].val.length} validation images.`,
    );

    if (replicas) {
      notice(`Training on ${workers} worker threads${r.workers === 'auto' ? ` (one per core, --workers auto)` : ''}: each batch of ${r.batchSize} is split across them and their gradients summed (--workers 1 trains on the main thread).`);
      await replicas.load(fm);
    }
    await runStages(
      {
        fm,
        labels,
        classes: dataset.classes.length,
        mutable,
        initial,
        seed: r.seed,
        patience: r.patience,
        batchSize: r.batchSize,
        trainableFor: (stage) => (stage.phase === 'head' ? fm.headLayers : stage.phase === 'scratch' ? fm.model.layers : mutable as tf.layers.Layer[]),
        sourcesFor,
        microBatch: (stage) => (stage.phase === 'head' ? r.batchSize : microBatch),
        evalBatch: (stage) => (stage.phase === 'head' ? 256 : inferBatch),
        beforeEpoch: ensureBanks,
        checkpoint: async (loop, optimizer, best) => {
          const optArrays: NamedArray[] = [];
          const optNames: string[] = [];
          if (optimizer) {
            for (const [i, w] of (await optimizer.getWeights()).entries()) {
              optArrays.push({ name: `opt/${i}`, shape: [...w.tensor.shape], values: Float32Array.from(await w.tensor.data()) });
              optNames.push(w.name);
            }
          }
          await fsp.mkdir(r.out, { recursive: true });
          await writeCheckpoint(
            checkpointPath(r.out),
            {
              formatVersion: 1,
              config,
              datasetKey: key,
              state: { loop, skipped, refitEpochs: stages.map((s) => s.maxEpochs), optNames, adamAccBeta: optimizer ? await adamAccBeta(optimizer) : undefined, workers } satisfies CheckpointState,
              createdAt: new Date().toISOString(),
            },
            await checkpointArrays(mutable, best, optArrays),
          );
        },
        onProgress: options.onProgress,
        onEpoch: options.onEpoch,
        replicas,
      },
      stages,
      state,
      restoredOptimizer,
      restoredBest,
    );
    if (restoredOptimizer) tf.dispose(restoredOptimizer.weights.map((w) => w.tensor));

    /**
     * The unknown detector (src/trust/ood.ts) on the trained network's own features of the final
     * stage's training images: the input of its classifier (`featureTensor`), unaugmented, in
     * inference mode, with the final weights, so they are the features `ftk predict` computes for a
     * new image. The threshold comes from the detector's out-of-fold scores, as for an SVM. Memory:
     * the n x D features (D = 256 for MobileNet 0.25).
     */
    async function fitUnknownDetector(stage: Stage): Promise<{ json: FinetunedUnknownJson; oof?: Float64Array; prefixComputed: number } | undefined> {
      const features = featureTensor(fm.model);
      if (!features) {
        notice('No unknown detector: the classifier layer does not read one flat feature vector.');
        return undefined;
      }
      const idx = Array.from(stage.train);
      // A bank source serves each image's 'none' (unaugmented) row without a generator; training
      // images have only augmented rows so far, so their 'none' rows are added (cache first).
      const bank = stage.phase === 'head' ? pooledBank : stage.phase === 'finetune' ? boundaryBank : undefined;
      let computed = 0;
      if (bank) {
        computed = await fillBanks(
          prefixFill('unknown detector'),
          [bank],
          idx.map((image) => ({ image, views: ['none'] as ViewId[] })),
        );
        pixels.retainOnly([]);
      }
      const source = sourcesFor(stage).val;
      const d = features.shape[1] as number;
      const X = new Float32Array(idx.length * d);
      const batch = stage.phase === 'head' ? 256 : inferBatch;
      for (let s = 0; s < idx.length; s += batch) {
        const part = idx.slice(s, s + batch);
        const feeds = await source.feeds(part);
        const f = tf.tidy(() => fm.graph.run(feeds, [features], INFERENCE)[0]);
        X.set((await f.data()) as Float32Array, s * d);
        tf.dispose([f, ...feeds.values()]);
      }
      const det = new UnknownDetector({ seed: r.seed, ...(r.unknownRate !== undefined ? { rate: r.unknownRate } : {}) }).fit({ data: X, rows: idx.length, cols: d }, idx.map((i) => labels[i]));
      const json = { ...det.toJSON(), layer: features.sourceLayer.name };
      notice(
        `Unknown detector: ${json.method}${json.k ? ` (k=${json.k})` : ''} on the ${idx.length} training images' ${json.layer} features (${d} values), threshold ${json.threshold.toFixed(4)} rejects ${(100 * json.rate).toFixed(1)}% of images like them (${json.thresholdFrom} scores).`,
      );
      return { json, oof: det.oofScores_, prefixComputed: computed };
    }

    // Save.
    for (const layer of fm.model.layers) layer.trainable = true;
    const last = state.history[state.history.length - 1];
    const finalStage = stages[stages.length - 1];
    // Temperature scaling on the hold-out's probabilities (src/trust/calibrate.ts); none without a hold-out.
    let calibration: CalibrationJson | undefined;
    if (finalStage.val.length >= CALIBRATE_DEFAULTS.minSamples) {
      const probs = await predictProbabilities(fm, sourcesFor(finalStage).val, finalStage.val, 64);
      calibration = calibrate(probs, Array.from(finalStage.val, (i) => labels[i]), { fittedOn: 'validation' });
      notice(`Calibration on the ${finalStage.val.length} validation images: ${calibration.method === 'none' ? 'none needed' : `temperature ${calibration.temperature.toFixed(3)}`}, ECE ${calibration.before.ece.toFixed(4)} -> ${calibration.after.ece.toFixed(4)} (15 bins).`);
    }
    let unknown: FinetunedUnknownJson | undefined;
    let oofUnknownScores: Float64Array | undefined;
    let unknownStats: FinetuneStats['unknown'];
    if (r.unknown) {
      const t0 = performance.now();
      const fitted = await fitUnknownDetector(finalStage);
      unknown = fitted?.json;
      oofUnknownScores = fitted?.oof;
      if (fitted) unknownStats = { seconds: (performance.now() - t0) / 1000, prefixComputed: fitted.prefixComputed };
    }
    const cv = r.folds
      ? (() => {
          const accuracies = state.folds.map((f) => f.accuracy);
          const mean = accuracies.reduce((a, b) => a + b, 0) / accuracies.length;
          const std = Math.sqrt(accuracies.reduce((a, b) => a + (b - mean) ** 2, 0) / accuracies.length);
          return { folds: r.folds, accuracies, meanAccuracy: mean, stdAccuracy: std, bestEpochs: { head: state.folds.map((f) => f.bestEpochs.head), finetune: state.folds.map((f) => f.bestEpochs[r.scratch ? 'scratch' : 'finetune']) } };
        })()
      : undefined;
    const meta: FinetunedModelMeta = {
      format: FINETUNED_FORMAT,
      formatVersion: FINETUNED_FORMAT_VERSION,
      kind: 'finetuned',
      classes: dataset.classes,
      preprocessing: { mode: fm.preprocessing, inputSize: fm.inputSize, crop: fm.crop },
      architecture: r.model,
      alpha: r.alpha,
      backbone: fm.backbone,
      weights: r.weights,
      head: { pooling: r.model === 'smallcnn' ? 'flatten' : r.pooling, dropout: r.model === 'smallcnn' ? 0.5 : r.dropout },
      freeze: { spec: r.freeze, description: fm.freeze.description, frozenLayers: fm.freeze.frozenLayers, lastFrozen: fm.freeze.lastFrozen, totalLayers: fm.freeze.totalLayers },
      training: { ...config, augment: augmentKey, lrPhase2: r.scratch ? undefined : r.lr / FINETUNE_DEFAULTS.phase2LrDivisor, microBatch, backend: backend.name, workers },
      history: state.history,
      metrics: {
        valAccuracy: finalStage.val.length ? (state.bestValAccuracy ?? last?.valAccuracy) : undefined,
        valLoss: finalStage.val.length ? (state.bestValLoss ?? last?.valLoss) : undefined,
        cv,
        trainImages: finalStage.train.length,
        valImages: finalStage.val.length,
        trainImagesPerSecond: state.trainSeconds > 0 ? state.trainImages / state.trainSeconds : 0,
        seconds: (performance.now() - started) / 1000,
      },
      dataset: {
        root: path.resolve(dataset.root),
        images: images.length,
        classCounts: counts,
        skipped,
        valFiles: !r.folds && finalStage.val.length ? Array.from(finalStage.val, (i) => images[i].file) : undefined,
      },
      backend: backend.name,
      device: { ...device.record, trainingBackend: backend.name, ...(prefixProviders ? { onnxProviders: prefixProviders } : {}) },
      ftkVersion: packageInfo().version,
      createdAt: new Date().toISOString(),
      files: { model: MODEL_JSON, weights: WEIGHTS_BIN },
      ...(calibration ? { calibration } : {}),
      ...(unknown ? { unknown } : {}),
    };
    const files = await saveFinetunedModel(r.out, fm.model, meta);
    await fsp.rm(checkpointPath(r.out), { force: true });
    return {
      out: r.out,
      files,
      meta,
      stats: {
        seconds: meta.metrics.seconds,
        prefixSeconds,
        prefixComputed,
        trainImagesPerSecond: meta.metrics.trainImagesPerSecond,
        backend: backend.name,
        microBatch,
        prefixMode,
        prefixRuntime,
        device: meta.device!,
        resumedFrom,
        workers,
        ...(unknownStats ? { unknown: unknownStats } : {}),
      },
      ...(oofUnknownScores ? { oofUnknownScores } : {}),
    };
  }
}
