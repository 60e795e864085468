/**
 * Options of `finetune()` / `ftk finetune`, their defaults (each in exactly one place:
 * `FINETUNE_DEFAULTS`) and the validation table checked before anything runs.
 */
import os from 'node:os';
import path from 'node:path';
import { parseAugmentSpec, resolveAugment, type AugmentOptions, type ResolvedAugment } from '../data/augment.js';
import { OptionsError } from '../errors.js';
import { parseModelSource } from '../models/backbone.js';
import type { CustomPreprocessOptions } from '../models/preprocess.js';
import { getModelSpec } from '../models/registry.js';
import type { BackendName } from '../runtime/backend.js';
import { DEFAULT_FREEZE, DEFAULT_FREEZE_EXTERNAL, FINETUNE_DEFAULTS, type FreezeSpec } from './defaults.js';
import type { DeviceChoice, DeviceName } from '../runtime/device.js';

export interface FinetuneProgress {
  /** 'decode' | 'prefix' (frozen layers run once per view) | 'train' | 'validate'. */
  phase: 'decode' | 'prefix' | 'train' | 'validate';
  /** Stage label, e.g. 'head', 'finetune', 'scratch', 'fold 2/5 head', 'refit finetune'. */
  stage: string;
  /** 1-based epoch within the stage (train/validate). */
  epoch?: number;
  epochs?: number;
  done: number;
  total: number;
  /** Images per second in this phase. */
  imagesPerSecond: number;
  /** Mean training loss so far in the epoch. */
  loss?: number;
}

/** One row of the training history (one epoch of one stage). */
export interface EpochRecord {
  stage: string;
  /** 'head' (phase 1), 'finetune' (phase 2) or 'scratch'. */
  phase: 'head' | 'finetune' | 'scratch';
  /** Fold index in cross-validation; undefined for a hold-out or the final refit. */
  fold?: number;
  /** 1-based. */
  epoch: number;
  lr: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  /** Wall time of the epoch (training + validation), seconds. */
  seconds: number;
  /** Training images per second (forward + backward of the trainable part). */
  imagesPerSecond: number;
}

export interface FinetuneOptions {
  /** Where the model folder goes (model.json, weights.bin, ftk.json, checkpoint.ftkc). Required. */
  out: string;
  /**
   * A zoo architecture (mobilenet, mobilenet_v2, vgg16, vgg19, resnet50, inception_v3), 'smallcnn',
   * or a TF.js layers model `tfjs:<folder>` (its own weights; cut at `layer`). ONNX models and TF.js
   * graph models cannot be trained. Default 'mobilenet_v2'.
   */
  model?: string;
  /** `tfjs:` models: the layer the new head goes on. Default: the model's last layer. */
  layer?: string;
  /** `tfjs:` models: their input normalisation (see BackboneOptions.preprocess). Required unless recorded. */
  preprocess?: string | CustomPreprocessOptions;
  /** Width multiplier of the MobileNets. Default 1.0. */
  alpha?: number;
  /**
   * 'imagenet' (Keras' file, downloaded once), a Keras .h5 / TF.js model.json path, or 'none' to
   * train the same architecture from scratch (seeded Glorot init, scratch learning rate, one phase).
   * 'random' fine-tunes a seeded random base as if it were pretrained (two phases; for tests and
   * speed benchmarks). Default 'imagenet'; 'none' for smallcnn, which has no published weights but
   * can start from a smallcnn trained by ftk: pass that model folder (its convolutions are kept, the
   * head is new, and it is fine-tuned like any pretrained base).
   */
  weights?: string;
  /** Square input size. Default: the model's (224; 299 InceptionV3; 150 smallcnn). */
  inputSize?: number;
  /** 'squash' (Keras' default) or 'center' crop before resizing. Default 'squash'. */
  crop?: 'squash' | 'center';
  /**
   * Layers frozen in phase 2: a layer name, a block count, a fraction in (0, 1), 'all' (head only)
   * or 'none' (see freeze.ts). Default: `DEFAULT_FREEZE[model]` (MobileNet: 11, the stem and
   * blocks 1-11, so blocks 12-13 train; others: the last two blocks train); `tfjs:` models
   * `DEFAULT_FREEZE_EXTERNAL` (the first 80% of the layers).
   */
  freeze?: FreezeSpec;
  /**
   * Learning rate (Adam) of phase 1 (the head, base frozen) and of from-scratch training. Phase 2
   * (fine-tuning the unfrozen layers) uses lr / 10, the practice's "about 10x smaller". Default 1e-3.
   */
  lr?: number;
  /** Largest number of epochs of phase 2 and of from-scratch training (early stopping may end sooner). Default 10. */
  epochs?: number;
  /** Largest number of epochs of phase 1 (the head). Default 10. */
  headEpochs?: number;
  /** Images per optimizer step. Default 32. Split into micro-batches when it would not fit the backend's memory (same gradient). */
  batchSize?: number;
  /**
   * Augmentation of training images: a spec ('flip,rotate=0.05,translate=0.1,zoom=0.1', 'none')
   * or options (src/data/augment.ts). Default 'flip,rotate=0.05,translate=0.1,zoom=0.1'.
   */
  augment?: string | AugmentOptions;
  /**
   * Augmented views per training image in the bank whose frozen-layer outputs are computed once
   * and cached (each epoch draws one view per image). Default 4 (1 without augmentation).
   */
  views?: number;
  /** Draw a new bank of views every this many epochs (0: one bank for the whole run). Default 0. */
  viewsRefresh?: number;
  /** Validation fraction of a stratified hold-out split (0: none, no early stopping). Default 0.2. Exclusive with `folds`. */
  val?: number;
  /** Stratified k-fold cross-validation, then a refit on all images with the mean best epochs. Default: none. */
  folds?: number;
  /** Seed of the split, head init, shuffles, augmentation and dropout. Default 0. */
  seed?: number;
  /** Early stopping: epochs without a lower validation loss before a stage stops (best weights restored). Default 3. */
  patience?: number;
  /** Dropout rate of the head. Default 0.2 (Keras' transfer-learning guide). */
  dropout?: number;
  /** Global pooling of the head. Default 'avg'. */
  pooling?: 'avg' | 'max';
  /** tfjs backend (training always runs on TF.js). Default 'auto'; a GPU `device` sets it (an explicit other backend is an error). */
  backend?: BackendName | 'auto';
  /**
   * Where it runs (src/runtime/device.ts): on a GPU the trainable layers train on TF.js' WebGPU
   * backend (CUDA: tfjs-node-gpu when installed, else WebGPU) and the frozen layers' pass runs on
   * ONNX Runtime's provider for it; 'auto' picks CUDA, else a hardware WebGPU adapter, else the
   * CPU (said once). A `DeviceChoice` already made is used as is. Default 'auto'.
   */
  device?: DeviceName | DeviceChoice;
  /**
   * Runtime of the frozen layers' once-per-view pass: 'onnx' (ONNX Runtime, all cores; an error if
   * the prefix does not export), 'tfjs', or 'auto' (ONNX when the prefix ends in one tensor and
   * exports, else TF.js, said once). Default 'auto'.
   */
  runtime?: 'auto' | 'onnx' | 'tfjs';
  /** Feature cache for the frozen prefix's outputs (true: `<FTK_HOME>/cache/features.sqlite`, a path, or false). Default true. */
  cache?: boolean | string;
  /**
   * Run the frozen prefix once per view and train from its stored output (true), or run it (in
   * inference mode) at every step (false). Default true; a bank larger than `memoryBudgetMB * 8`
   * falls back to per-step, said once.
   */
  prefixCache?: boolean;
  /** Continue from `<out>/checkpoint.ftkc` (same dataset and options). Default false. */
  resume?: boolean;
  /** Replace a finished model or an unfinished run in `out`. Default false. */
  overwrite?: boolean;
  /** Memory (MB) the activations of one micro-batch may use; sets the micro-batch size. Default 512. */
  memoryBudgetMB?: number;
  /**
   * Worker threads that train data-parallel: each step's batch is split across them, their
   * gradients summed in a fixed order, one optimizer update (src/finetune/parallel.ts). A run is
   * deterministic for a given worker count; N workers follow the 1-worker run within float
   * rounding. 1 trains on the main thread. Each worker holds a copy of the model and its own
   * micro-batch memory (`memoryBudgetMB`). Default 'auto' (`resolveWorkers`): one per core on the
   * wasm and cpu backends (they compute on one thread in Node), at most `batchSize`; 1 on the
   * tensorflow backends (libtensorflow already uses every core). Measured on 2 idle cores: 1.78x
   * (MobileNetV2, `--freeze 14`) and 1.87x (smallcnn) the images/s of 1 worker (bench/RESULTS.md,
   * "workers").
   */
  workers?: number | 'auto';
  /** Largest image, in pixels, decoded (larger: skipped as decompression bombs). Default decodeImage's. */
  maxInputPixels?: number;
  /**
   * Fit an unknown detector on the trained network's features of the training images and save it
   * in ftk.json (`unknown`; src/trust/ood.ts), so `ftk predict` marks images unlike them. Cost: one
   * inference pass over the training images (their frozen layers from the cache) and the
   * detector's folds. Default true.
   */
  unknown?: boolean;
  /** Share of images like the training ones the unknown threshold may reject. Default 0.05 (UNKNOWN_DEFAULTS). */
  unknownRate?: number;
  onProgress?: (progress: FinetuneProgress) => void;
  /** Called after every epoch with its record. */
  onEpoch?: (record: EpochRecord) => void;
  /** Once-off notices: backend, batch size chosen, skipped files, stages. */
  onNotice?: (message: string) => void;
}

export { FINETUNE_DEFAULTS, DEFAULT_FREEZE, DEFAULT_FREEZE_EXTERNAL };

/**
 * The number of training workers for `workers` on a backend: 'auto' is one per core
 * (`availableParallelism()`) on wasm and cpu, which compute on one thread each, never more than
 * the images of a batch (a replica without images idles); 1 on tensorflow / tensorflow-gpu.
 */
export function resolveWorkers(workers: number | 'auto', backend: BackendName, batchSize: number, cores = os.availableParallelism()): number {
  if (workers !== 'auto') return workers;
  if (backend !== 'wasm' && backend !== 'cpu') return 1;
  return Math.max(1, Math.min(cores, batchSize));
}

export interface ResolvedFinetuneOptions {
  out: string;
  model: string;
  /** `tfjs:` models only. */
  layer?: string;
  preprocess?: string | CustomPreprocessOptions;
  /** True for weights 'none' (smallcnn's default). */
  scratch: boolean;
  alpha?: number;
  weights: string;
  inputSize?: number;
  crop: 'squash' | 'center';
  freeze: FreezeSpec;
  lr: number;
  epochs: number;
  headEpochs: number;
  batchSize: number;
  augment: ResolvedAugment;
  views: number;
  viewsRefresh: number;
  val: number;
  folds?: number;
  seed: number;
  patience: number;
  dropout: number;
  pooling: 'avg' | 'max';
  backend: BackendName | 'auto';
  device: DeviceName | DeviceChoice;
  runtime: 'auto' | 'onnx' | 'tfjs';
  cache: boolean | string;
  prefixCache: boolean;
  resume: boolean;
  overwrite: boolean;
  memoryBudgetMB: number;
  workers: number | 'auto';
  maxInputPixels?: number;
  unknown: boolean;
  /** Undefined: the detector's own default. */
  unknownRate?: number;
}

function need(ok: boolean, message: string, suggestion?: string): void {
  if (!ok) throw new OptionsError(message, { code: 'FINETUNE_BAD_OPTION', suggestion });
}

const isInt = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;

/** Applies defaults and checks every option and cross-option rule; throws OptionsError naming the option. */
export function resolveFinetuneOptions(options: FinetuneOptions): ResolvedFinetuneOptions {
  const d = FINETUNE_DEFAULTS;
  need(typeof options.out === 'string' && options.out.length > 0, 'finetune needs an output folder (out / --out).', 'Pass --out <dir>.');
  const source = parseModelSource(options.model ?? d.model);
  if (source.kind !== 'zoo') return resolveExternalFinetune(options, source);
  need(options.layer === undefined && options.preprocess === undefined, `--layer and --preprocess apply to tfjs: models; zoo models are cut before their top and use Keras' preprocessing. Received model=${source.name}.`, 'Drop --layer/--preprocess.');
  const model = source.name.toLowerCase();
  const isSmall = model === 'smallcnn';
  if (!isSmall) getModelSpec(model); // throws MODEL_UNKNOWN with the allowed names
  const weights = options.weights ?? (isSmall ? 'none' : d.weights);
  need(
    !(isSmall && (weights === 'imagenet' || weights === 'random' || /\.h5$/i.test(weights))),
    `smallcnn has no published weights: it trains from scratch (weights 'none'), or starts from a smallcnn model folder written by ftk. Received weights=${weights}.`,
    'Drop --weights, or pass the --out folder of an earlier `ftk finetune --model smallcnn` run.',
  );
  const scratch = weights === 'none';
  if (options.alpha !== undefined) need(!isSmall && Boolean(getModelSpec(model).alphas), `--alpha applies to MobileNet and MobileNetV2 only. Received alpha=${options.alpha} with model=${model}.`);
  return resolveCommon(options, {
    model: isSmall ? 'smallcnn' : getModelSpec(model).name,
    scratch,
    alpha: options.alpha,
    weights,
    freeze: scratch ? 'none' : (options.freeze ?? DEFAULT_FREEZE[isSmall ? 'smallcnn' : getModelSpec(model).name]),
  });
}

/** `tfjs:` layers models: their own weights, cut at `layer`, freeze by name or fraction. */
function resolveExternalFinetune(options: FinetuneOptions, source: { kind: 'onnx' | 'tfjs'; path: string }): ResolvedFinetuneOptions {
  need(
    source.kind === 'tfjs',
    `An ONNX model cannot be fine-tuned: ONNX Runtime for Node has no training. Received model=onnx:${source.path}.`,
    'Use it for bottleneck features (`ftk bottleneck extract --model onnx:...` then `ftk svm fit`, or `ftk auto`, which takes the SVM path), or fine-tune a TF.js layers model (tfjs:<folder>) or a zoo model.',
  );
  need(options.alpha === undefined, `--alpha applies to the zoo MobileNets. Received alpha=${options.alpha} with model=tfjs:${source.path}.`, 'Drop --alpha.');
  const weights = options.weights ?? FINETUNE_DEFAULTS.weights;
  need(weights === FINETUNE_DEFAULTS.weights, `--weights applies to zoo models; a tfjs: model brings its own weights. Received weights=${weights}.`, 'Drop --weights.');
  return resolveCommon(options, {
    model: `tfjs:${path.resolve(source.path)}`,
    scratch: false,
    weights,
    layer: options.layer,
    preprocess: options.preprocess,
    freeze: options.freeze ?? DEFAULT_FREEZE_EXTERNAL,
  });
}

/** Applies the defaults and checks shared by every model (the validation table). */
function resolveCommon(options: FinetuneOptions, model: Pick<ResolvedFinetuneOptions, 'model' | 'scratch' | 'alpha' | 'weights' | 'layer' | 'preprocess' | 'freeze'>): ResolvedFinetuneOptions {
  const d = FINETUNE_DEFAULTS;
  const scratch = model.scratch;
  const augment = typeof options.augment === 'string' ? parseAugmentSpec(options.augment) : options.augment ? resolveAugment(options.augment) : parseAugmentSpec(d.augment);
  const r: ResolvedFinetuneOptions = {
    out: options.out,
    ...model,
    inputSize: options.inputSize,
    crop: options.crop ?? d.crop,
    lr: options.lr ?? d.lr,
    epochs: options.epochs ?? d.epochs,
    headEpochs: options.headEpochs ?? d.headEpochs,
    batchSize: options.batchSize ?? d.batchSize,
    augment,
    views: options.views ?? (augment.flip === 'none' && !augment.rotate && !augment.translate && !augment.zoom ? 1 : d.views),
    viewsRefresh: options.viewsRefresh ?? d.viewsRefresh,
    val: options.folds !== undefined && options.val === undefined ? 0 : (options.val ?? d.val),
    folds: options.folds,
    seed: options.seed ?? d.seed,
    patience: options.patience ?? d.patience,
    dropout: options.dropout ?? d.dropout,
    pooling: options.pooling ?? d.pooling,
    backend: options.backend ?? d.backend,
    device: options.device ?? d.device,
    runtime: options.runtime ?? d.runtime,
    cache: options.cache ?? true,
    prefixCache: options.prefixCache ?? d.prefixCache,
    resume: options.resume ?? false,
    overwrite: options.overwrite ?? false,
    memoryBudgetMB: options.memoryBudgetMB ?? d.memoryBudgetMB,
    workers: options.workers ?? d.workers,
    maxInputPixels: options.maxInputPixels,
    unknown: options.unknown ?? true,
    unknownRate: options.unknownRate,
  };
  // The validation table.
  need(scratch || options.freeze === undefined || r.freeze !== undefined, 'freeze is required.');
  need(!(scratch && options.freeze !== undefined && options.freeze !== 'none'), `--freeze has no effect when training from scratch (weights=none / smallcnn): every layer trains. Received freeze=${String(options.freeze)}.`, 'Drop --freeze, or use pretrained weights.');
  need(typeof r.lr === 'number' && r.lr > 0 && r.lr < 1, `lr must be a number in (0, 1). Received lr=${r.lr}.`, 'Use e.g. --lr 0.001.');
  need(isInt(r.epochs, 1), `epochs must be an integer >= 1. Received epochs=${r.epochs}.`);
  need(isInt(r.headEpochs, 0), `headEpochs must be an integer >= 0. Received headEpochs=${r.headEpochs}.`);
  need(isInt(r.batchSize, 1), `batchSize must be an integer >= 1. Received batchSize=${r.batchSize}.`);
  need(isInt(r.views, 1) && r.views <= 64, `views must be an integer in [1, 64]. Received views=${r.views}.`);
  need(isInt(r.viewsRefresh, 0), `viewsRefresh must be an integer >= 0. Received viewsRefresh=${r.viewsRefresh}.`);
  need(typeof r.val === 'number' && r.val >= 0 && r.val < 1, `val must be a fraction in [0, 1). Received val=${r.val}.`, 'Use --val 0.2, or --val 0 to train on every image without early stopping.');
  if (r.folds !== undefined) {
    need(isInt(r.folds, 2), `folds must be an integer >= 2. Received folds=${r.folds}.`, 'Use --folds 5.');
    need(options.val === undefined || options.val === 0, `--val and --folds are exclusive. Received val=${options.val} and folds=${r.folds}.`, 'Pass one of them.');
  }
  need(Number.isInteger(r.seed), `seed must be an integer. Received seed=${r.seed}.`);
  need(isInt(r.patience, 1), `patience must be an integer >= 1. Received patience=${r.patience}.`);
  need(typeof r.dropout === 'number' && r.dropout >= 0 && r.dropout < 1, `dropout must be in [0, 1). Received dropout=${r.dropout}.`);
  need(r.pooling === 'avg' || r.pooling === 'max', `pooling must be one of [avg, max]. Received pooling=${r.pooling}.`);
  need(['auto', 'onnx', 'tfjs'].includes(r.runtime), `runtime must be one of [auto, onnx, tfjs]. Received runtime=${r.runtime}.`);
  need(r.crop === 'squash' || r.crop === 'center', `crop must be one of [squash, center]. Received crop=${r.crop}.`);
  need(typeof r.memoryBudgetMB === 'number' && r.memoryBudgetMB >= 1, `memoryBudgetMB must be >= 1. Received ${r.memoryBudgetMB}.`);
  need(r.workers === 'auto' || (isInt(r.workers, 1) && r.workers <= 256), `workers must be 'auto' or an integer in [1, 256]. Received workers=${String(r.workers)}.`, 'Use --workers auto (one per core), or --workers 1 to train on the main thread.');
  need(!(r.resume && r.overwrite), '--resume and --overwrite are exclusive: one continues the run in --out, the other replaces it.');
  need(typeof r.unknown === 'boolean', `unknown must be true or false. Received unknown=${String(r.unknown)}.`);
  if (r.unknownRate !== undefined) {
    need(typeof r.unknownRate === 'number' && r.unknownRate > 0 && r.unknownRate < 1, `unknownRate must be a number strictly between 0 and 1 (0.05 = 5%). Received unknownRate=${r.unknownRate}.`);
    need(r.unknown, 'unknownRate has no effect with unknown: false.', 'Drop --unknown-rate, or drop --no-unknown.');
  }
  if (r.inputSize !== undefined) need(isInt(r.inputSize, 16), `inputSize must be an integer >= 16. Received inputSize=${r.inputSize}.`);
  return r;
}

/** The options that change the result, as stored in checkpoints and ftk.json (resume must match them). */
export function trainingConfig(r: ResolvedFinetuneOptions): Record<string, unknown> {
  return {
    model: r.model,
    ...(r.layer !== undefined ? { layer: r.layer } : {}),
    ...(r.preprocess !== undefined ? { preprocess: r.preprocess } : {}),
    alpha: r.alpha ?? null,
    weights: r.weights,
    inputSize: r.inputSize ?? null,
    crop: r.crop,
    freeze: r.freeze,
    lr: r.lr,
    epochs: r.epochs,
    headEpochs: r.headEpochs,
    batchSize: r.batchSize,
    augment: r.augment,
    views: r.views,
    viewsRefresh: r.viewsRefresh,
    val: r.val,
    folds: r.folds ?? null,
    seed: r.seed,
    patience: r.patience,
    dropout: r.dropout,
    pooling: r.pooling,
  };
}
