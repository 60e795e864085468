/** `ftk finetune`: flags -> typed FinetuneOptions -> finetune(). */
import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';
import type { EpochRecord, FinetuneOptions, FinetuneResult } from '../../index.js';
import { FINETUNE_DEFAULTS, parseFreezeSpec } from '../../finetune/defaults.js';
import { UNKNOWN_DEFAULTS } from '../../trust/ood.js';
import { BACKEND_NAMES } from '../../runtime/names.js';
import { DEVICE_NAMES } from '../../formats/device.js';
import { DEVICE_HELP, deviceFromFlags } from '../device_flags.js';
import { addPreprocessFlags, preprocessFromFlags } from '../preprocess_flags.js';
import { makeOutput, parseChoice, parseFloatFlag, parseIntFlag, parseWorkersFlag } from '../io.js';
import { ProgressBar } from '../progress.js';

export interface FinetuneContext {
  dataset: string;
  json: boolean;
  options: FinetuneOptions;
}

export function finetuneContext(dataset: string, raw: Record<string, any>): FinetuneContext {
  const preprocess = preprocessFromFlags(raw);
  return {
    dataset,
    json: Boolean(raw.json),
    options: {
      out: raw.out,
      model: raw.model,
      ...(raw.layer !== undefined ? { layer: raw.layer } : {}),
      ...(preprocess !== undefined ? { preprocess } : {}),
      alpha: raw.alpha,
      // smallcnn has no published weights: its default is 'none' (from scratch), as in the library.
      weights: raw.weights ?? (String(raw.model).toLowerCase() === 'smallcnn' ? 'none' : FINETUNE_DEFAULTS.weights),
      inputSize: raw.inputSize,
      crop: raw.crop,
      freeze: raw.freeze,
      lr: raw.lr,
      epochs: raw.epochs,
      headEpochs: raw.headEpochs,
      batchSize: raw.batch,
      augment: raw.augment,
      views: raw.views,
      viewsRefresh: raw.viewsRefresh,
      val: raw.val,
      folds: raw.folds,
      seed: raw.seed,
      patience: raw.patience,
      dropout: raw.dropout,
      backend: raw.backend,
      ...deviceFromFlags(raw),
      runtime: raw.runtime,
      cache: raw.cache === false ? false : (raw.cacheFile ?? true),
      prefixCache: raw.prefixCache,
      resume: Boolean(raw.resume),
      overwrite: Boolean(raw.overwrite),
      memoryBudgetMB: raw.memory,
      workers: raw.workers,
      // Absent unless given: the defaults stay in the library.
      ...(raw.unknown === false ? { unknown: false } : {}),
      ...(raw.unknownRate !== undefined ? { unknownRate: raw.unknownRate } : {}),
    },
  };
}

/** A path as the user would type it: relative below the working folder, absolute elsewhere. */
function shown(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel === '' ? '.' : rel.startsWith('..') ? path.resolve(p) : rel;
}

function epochLine(r: EpochRecord): string {
  const val = r.valLoss !== undefined ? `  val_loss ${r.valLoss.toFixed(4)}  val_acc ${(r.valAccuracy! * 100).toFixed(2)}%` : '';
  return `${r.stage.padEnd(9)} epoch ${String(r.epoch).padStart(2)}  loss ${r.loss.toFixed(4)}  acc ${(r.accuracy * 100).toFixed(2)}%${val}  ${r.imagesPerSecond.toFixed(1)} img/s  ${r.seconds.toFixed(1)} s`;
}

export async function runFinetune(ctx: FinetuneContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const bar = new ProgressBar(process.stderr, !ctx.json && Boolean(process.stderr.isTTY));
  // Loaded here, not at start-up: `ftk --help` must not load TF.js, ONNX Runtime and sharp.
  const { finetune } = await import('../../finetune/finetune.js');
  const result: FinetuneResult = await finetune(ctx.dataset, {
    ...ctx.options,
    onNotice: (m) => {
      bar.done();
      process.stderr.write(`${m}\n`);
    },
    onProgress: (p) =>
      bar.update({
        label: p.phase === 'train' ? `${p.stage} ${p.epoch}/${p.epochs}` : p.phase === 'prefix' ? 'frozen layers' : p.phase,
        done: p.done,
        total: p.total,
        imagesPerSecond: p.phase === 'validate' ? undefined : p.imagesPerSecond,
        extra: p.loss !== undefined ? `loss ${p.loss.toFixed(4)}` : undefined,
      }),
    onEpoch: (r) => {
      bar.done();
      out.info(epochLine(r));
    },
  });
  bar.done();
  const m = result.meta.metrics;
  const s = result.stats;
  const lines = [
    m.cv
      ? `cross-validation: ${(m.cv.meanAccuracy * 100).toFixed(2)}% +- ${(m.cv.stdAccuracy * 100).toFixed(2)}% over ${m.cv.folds} folds (${m.cv.accuracies.map((a) => (a * 100).toFixed(1)).join(', ')})`
      : m.valAccuracy !== undefined
        ? `best validation accuracy ${(m.valAccuracy * 100).toFixed(2)}% (loss ${m.valLoss!.toFixed(4)}) on ${m.valImages} images`
        : `trained on all ${m.trainImages} images (no validation)`,
    `${s.seconds.toFixed(1)} s on ${s.backend}: frozen layers ${s.prefixSeconds.toFixed(1)} s (${s.prefixComputed} image views computed, ${s.prefixMode}, ${s.prefixRuntime}), training ${s.trainImagesPerSecond.toFixed(1)} images/s${s.workers > 1 ? ` on ${s.workers} worker threads` : ''}`,
    `wrote ${shown(result.out)}/ (model.json, weights.bin, ftk.json); predict with: ftk predict ${shown(result.out)} <images or folders>`,
  ];
  out.result({ out: result.out, files: result.files, metrics: m, stats: s, classes: result.meta.classes, freeze: result.meta.freeze, history: result.meta.history }, lines.join('\n'));
  return 0;
}

function parseFreeze(value: string): string | number {
  const spec = parseFreezeSpec(value);
  if (typeof spec === 'number' && !Number.isInteger(spec) && !(spec > 0 && spec < 1)) {
    throw new InvalidArgumentError(`--freeze as a fraction must be in (0, 1); received "${value}".`);
  }
  return spec;
}

export function finetuneCommand(action: (ctx: FinetuneContext) => Promise<number> = runFinetune): Command {
  const d = FINETUNE_DEFAULTS;
  const cmd = new Command('finetune')
    .description('Fine-tune a pretrained ConvNet on a dataset: new head, frozen first layers, low learning rate, augmentation (or train from scratch with --weights none)')
    .argument('<dataset>', 'dataset folder (one subfolder per class) or CSV manifest (path,label)')
    .requiredOption('--out <dir>', 'model folder to write (model.json, weights.bin, ftk.json; checkpoint.ftkc while training)')
    .option('--model <name>', 'mobilenet, mobilenet_v2, vgg16, vgg19, resnet50, inception_v3, smallcnn (from scratch, or from a smallcnn folder given as --weights), or tfjs:<folder> (a TF.js layers model)', d.model)
    .option('--layer <name>', "tfjs: models: the layer the new head goes on (default: the model's last layer)")
    .option('--alpha <alpha>', 'width multiplier (MobileNets)', parseFloatFlag('--alpha', 0.01, 4))
    .option('--weights <source>', `'imagenet' (downloaded once), a Keras .h5 / TF.js model.json, 'none' (train from scratch) or 'random'; smallcnn: 'none' or a smallcnn model folder (default ${d.weights}; smallcnn: none)`)
    .option('--input-size <px>', "square input size (default: the model's)", parseIntFlag('--input-size', 16))
    .option('--crop <mode>', 'squash (Keras default) or center', parseChoice('--crop', ['squash', 'center'] as const), d.crop)
    .option('--freeze <spec>', 'frozen in phase 2: a layer name, a block count, a fraction in (0,1), all or none (default: the stem and all but the last two blocks)', parseFreeze)
    .option('--lr <rate>', `learning rate of the head (phase 1) and of from-scratch training; phase 2 uses lr/${d.phase2LrDivisor}`, parseFloatFlag('--lr', 1e-8, 1), d.lr)
    .option('--epochs <n>', 'most epochs of phase 2 (fine-tuning) or of from-scratch training', parseIntFlag('--epochs', 1), d.epochs)
    .option('--head-epochs <n>', 'most epochs of phase 1 (head only, base frozen); 0 skips it', parseIntFlag('--head-epochs', 0), d.headEpochs)
    .option('--batch <n>', 'images per step (split into micro-batches if the backend needs it)', parseIntFlag('--batch', 1), d.batchSize)
    .option('--augment <spec>', "training augmentation: 'flip,rotate=F,translate=F,zoom=F[,fill=reflect|nearest|constant]' or none", d.augment)
    .option('--views <k>', 'augmented views per training image whose frozen-layer outputs are cached', parseIntFlag('--views', 1), d.views)
    .option('--views-refresh <epochs>', 'draw a new bank of views every N epochs (0: never)', parseIntFlag('--views-refresh', 0), d.viewsRefresh)
    .option('--val <fraction>', `stratified validation fraction (0: none, no early stopping) (default: ${d.val}; none with --folds)`, parseFloatFlag('--val', 0, 0.99))
    .option('--folds <k>', 'stratified k-fold cross-validation, then a refit on all images', parseIntFlag('--folds', 2))
    .option('--seed <n>', 'seed of the split, head init, shuffles, augmentation, dropout', parseIntFlag('--seed', 0), d.seed)
    .option('--patience <n>', 'early stopping: epochs without a better validation loss', parseIntFlag('--patience', 1), d.patience)
    .option('--dropout <rate>', 'dropout rate of the head', parseFloatFlag('--dropout', 0, 0.99), d.dropout)
    .option('--backend <name>', `tfjs backend: auto, ${BACKEND_NAMES.join(', ')}`, parseChoice('--backend', ['auto', ...BACKEND_NAMES] as const), 'auto')
    .option('--device <name>', DEVICE_HELP, parseChoice('--device', DEVICE_NAMES))
    .option('--runtime <name>', "runtime of the frozen layers' once-per-view pass: auto (ONNX Runtime when it exports), onnx, tfjs", parseChoice('--runtime', ['auto', 'onnx', 'tfjs'] as const), d.runtime)
    .option('--no-cache', "do not read or write the frozen layers' outputs in the feature cache")
    .option('--cache-file <file>', 'feature cache database (default <FTK_HOME>/cache/features.sqlite)')
    .option('--no-prefix-cache', 'run the frozen layers at every step instead of once per view')
    .option('--memory <MB>', 'memory budget of one micro-batch', parseIntFlag('--memory', 16), d.memoryBudgetMB)
    .option('--workers <n>', 'training threads, each step\'s batch split across them (data-parallel); auto: one per core on wasm/cpu, 1 on tensorflow; 1: the main thread only', parseWorkersFlag('--workers'), d.workers)
    .option('--no-unknown', 'do not fit the unknown detector (default: fitted on the trained network\'s features, so `ftk predict` marks images unlike the training ones)')
    .option('--unknown-rate <r>', `share of images like the training ones the unknown threshold may reject (default ${UNKNOWN_DEFAULTS.rate})`, parseFloatFlag('--unknown-rate', Number.MIN_VALUE, 1))
    .option('--resume', 'continue the interrupted run in --out from its checkpoint (same options)')
    .option('--overwrite', 'replace the model or unfinished run in --out')
    .option('--json', 'print one JSON result on stdout, no progress');
  return addPreprocessFlags(cmd).action(async (dataset: string, raw: Record<string, unknown>) => {
    process.exitCode = await action(finetuneContext(dataset, raw));
  });
}

/** `ftk predict` serves the model folders `ftk finetune` writes; main.ts registers both from here. */
export { predictCommand } from './predict.js';
