/**
 * `ftk bottleneck extract`: flags -> typed ExtractOptions -> extractFeatures + writeFeatures.
 * `ftk bottleneck merge`: shard parts -> mergeShardFiles + writeFeatures.
 */
import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';
import type { ExtractOptions, SkippedFile } from '../../index.js';
import { parseShard, type ShardSpec } from '../../extract/shard_spec.js';
import { FtkError } from '../../errors.js';
import { TTA_MODES } from '../../models/tta.js';
import { BACKEND_NAMES, RUNTIME_NAMES } from '../../runtime/names.js';
import { addDeviceFlag, deviceFromFlags } from '../device_flags.js';
import { makeOutput, parseChoice, parseFloatFlag, parseIntFlag } from '../io.js';
import { addPreprocessFlags, preprocessFromFlags } from '../preprocess_flags.js';
import { ProgressBar } from '../progress.js';

export interface ExtractContext {
  dataset: string;
  out: string;
  json: boolean;
  options: ExtractOptions;
}

/** `--shard i/n` as a commander argument parser. */
function parseShardFlag(value: string): ShardSpec {
  try {
    return parseShard(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof FtkError ? `${err.message}${err.suggestion ? ` ${err.suggestion}` : ''}` : String(err));
  }
}

export function extractContext(dataset: string, raw: Record<string, any>): ExtractContext {
  // Pipeline flags appear in the options only when given (their defaults live in extractFeatures).
  const pipeline: Partial<ExtractOptions> = {};
  if (raw.runtime !== undefined) pipeline.runtime = raw.runtime;
  if (raw.threads !== undefined) pipeline.threads = raw.threads;
  if (raw.decodeWorkers !== undefined) pipeline.decodeWorkers = raw.decodeWorkers;
  if (raw.shard !== undefined) pipeline.shard = raw.shard;
  const preprocess = preprocessFromFlags(raw);
  return {
    dataset,
    out: raw.out,
    json: Boolean(raw.json),
    options: {
      model: raw.model,
      alpha: raw.alpha,
      weights: raw.weights,
      seed: raw.seed,
      layer: raw.layer,
      pooling: raw.pooling,
      inputSize: raw.inputSize,
      crop: raw.crop,
      tta: raw.tta,
      ...(preprocess !== undefined ? { preprocess } : {}),
      batchSize: raw.batchSize,
      backend: raw.backend,
      cache: raw.cache === false ? false : (raw.cacheFile ?? true),
      maxInputPixels: raw.maxPixels,
      ...deviceFromFlags(raw),
      ...pipeline,
    },
  };
}

export async function runExtract(ctx: ExtractContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const bar = new ProgressBar(process.stderr, !ctx.json && Boolean(process.stderr.isTTY));
  // Every file not used is named on stderr as soon as it is known: the listing's ignored files
  // (hidden, other extensions, broken links) first, then each file that fails to decode.
  const printed = new Set<string>();
  const printSkip = (s: SkippedFile) => {
    const line = `skipped ${s.file}: ${s.reason}\n`;
    if (printed.has(line)) return;
    printed.add(line);
    bar.done();
    process.stderr.write(line);
  };
  // Loaded here, not at start-up: `ftk --help` must not load TF.js, ONNX Runtime and sharp.
  const { extractFeatures, findDataset, writeFeatures } = await import('../../index.js');
  const dataset = await findDataset(ctx.dataset);
  const result = await extractFeatures(dataset, {
    ...ctx.options,
    onNotice: (m) => process.stderr.write(`${m}\n`),
    onDownloadProgress: (p) =>
      bar.update({
        label: 'downloading weights',
        done: Math.round(p.bytes / 1e6),
        total: p.total ? Math.round(p.total / 1e6) : Math.round(p.bytes / 1e6),
        extra: `MB ${(p.bytesPerSecond / 1e6).toFixed(1)} MB/s`,
      }),
    onSkip: printSkip,
    onProgress: (p) =>
      bar.update({
        label: p.phase === 'hash' ? 'hashing   ' : 'extracting',
        done: p.done,
        total: p.total,
        imagesPerSecond: p.imagesPerSecond,
        etaSeconds: p.etaSeconds,
        extra: p.phase === 'extract' ? `(${p.cached} cached)` : undefined,
      }),
  });
  bar.done();
  const paths = await writeFeatures(ctx.out, result.features, result.meta);
  const s = result.stats;
  const shard = result.meta.shard;
  out.result(
    { ...paths, shape: result.meta.shape, classes: result.meta.classes, skipped: result.meta.skipped, duplicates: result.meta.duplicates, model: result.meta.model, stats: s },
    [
      `${s.images} images -> [${result.meta.shape.join(', ')}] features (${result.meta.classes.length} classes: ${result.meta.classes.join(', ')})` +
        (shard ? `, shard ${shard.index}/${shard.count} of ${shard.datasetSize} images` : ''),
      `computed ${s.computed}, from cache ${s.cached}, skipped ${s.skipped}; ${s.seconds.toFixed(1)} s` +
        (s.computed ? `, ${s.imagesPerSecond.toFixed(1)} images/s on ${s.engine}` : ''),
      `wrote ${path.relative(process.cwd(), paths.npy)} and ${path.relative(process.cwd(), paths.json)}`,
      ...(shard ? [`merge all ${shard.count} parts with: ftk bottleneck merge <part prefixes...> --out <prefix>`] : []),
    ].join('\n'),
  );
  return 0;
}

export interface MergeContext {
  parts: string[];
  out: string;
  json: boolean;
  /** Add the rows to the feature cache: true (default file), a file, or false. */
  cache: boolean | string;
}

export function mergeContext(parts: string[], raw: Record<string, any>): MergeContext {
  return { parts, out: raw.out, json: Boolean(raw.json), cache: raw.cache === false ? false : (raw.cacheFile ?? true) };
}

export async function runMerge(ctx: MergeContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const { mergeShardFiles } = await import('../../extract/shard.js');
  const { writeFeatures } = await import('../../extract/features_file.js');
  const merged = await mergeShardFiles(ctx.parts, { cache: ctx.cache });
  const paths = await writeFeatures(ctx.out, merged.features, merged.meta);
  out.result(
    { ...paths, shape: merged.meta.shape, parts: ctx.parts.length, skipped: merged.meta.skipped, duplicates: merged.meta.duplicates, model: merged.meta.model, cachedRows: merged.cachedRows },
    [
      `${ctx.parts.length} parts -> [${merged.meta.shape.join(', ')}] features in dataset order; ${merged.meta.skipped.length} skipped` +
        (merged.cachedRows ? `; ${merged.cachedRows} rows added to the feature cache` : ''),
      `wrote ${path.relative(process.cwd(), paths.npy)} and ${path.relative(process.cwd(), paths.json)}`,
    ].join('\n'),
  );
  return 0;
}

export function bottleneckCommand(
  action: (ctx: ExtractContext) => Promise<number> = runExtract,
  mergeAction: (ctx: MergeContext) => Promise<number> = runMerge,
): Command {
  const cmd = new Command('bottleneck').description('Bottleneck features of a pretrained ConvNet');
  const extract = cmd
    .command('extract')
    .description('Extract pooled features of every image of a dataset (folder per class, or CSV manifest path,label)')
    .argument('<dataset>', 'dataset folder or CSV manifest')
    .requiredOption('--out <prefix>', 'output prefix: writes <prefix>.npy and <prefix>.json')
    .option('--model <name>', 'architecture: mobilenet, mobilenet_v2, vgg16, vgg19, resnet50, inception_v3; or onnx:<file.onnx>, tfjs:<folder> (a model of another framework)', 'mobilenet_v2')
    .option('--alpha <alpha>', 'width multiplier (MobileNets)', parseFloatFlag('--alpha', 0.01, 4))
    .option('--weights <source>', "'imagenet' (downloaded once), 'random', or a Keras .h5 / TF.js model.json path", 'imagenet')
    .option('--seed <n>', "seed of --weights random", parseIntFlag('--seed', 0), 0)
    .option('--layer <name>', "layer whose output is the bottleneck (default: last layer before the top; onnx:/tfjs: the model's output, or any tensor/node name: see `ftk info --model onnx:<file>`)")
    .option('--pooling <mode>', 'global pooling of the bottleneck: avg, max, none', parseChoice('--pooling', ['avg', 'max', 'none'] as const), 'avg')
    .option('--input-size <px>', "square input size (default: the model's; required for onnx:/tfjs: models with dynamic H, W)", parseIntFlag('--input-size', 32))
    .option('--crop <mode>', 'squash (resize whole image, Keras default) or center (crop to square first)', parseChoice('--crop', ['squash', 'center'] as const), 'squash')
    .option(
      '--tta <mode>',
      "test-time augmentation: none, or flip (each image's features = mean of the image's and its horizontal mirror's; twice the inference; pooled features only). Recorded with the features: models fitted on them predict with it",
      parseChoice('--tta', TTA_MODES),
      'none',
    )
    .option('--batch-size <n>', 'images per inference batch (default: 32 on the CPU, 64 on a GPU)', parseIntFlag('--batch-size'))
    .option('--backend <name>', `tfjs backend: auto, ${BACKEND_NAMES.join(', ')}`, parseChoice('--backend', ['auto', ...BACKEND_NAMES] as const), 'auto')
    .option('--runtime <name>', `inference runtime: auto (ONNX Runtime when the model exports, else TF.js), ${RUNTIME_NAMES.join(', ')} (default: auto)`, parseChoice('--runtime', ['auto', ...RUNTIME_NAMES] as const))
    .option('--threads <n>', 'inference threads and decode workers (default: all cores)', parseIntFlag('--threads'))
    .option('--decode-workers <n>', 'decode worker threads, 0 = decode on the main thread (default: --threads)', parseIntFlag('--decode-workers', 0))
    .option('--shard <i/n>', 'only every n-th image starting with the i-th (1 <= i <= n); merge the parts with `ftk bottleneck merge`', parseShardFlag)
    .option('--no-cache', 'do not read or write the feature cache')
    .option('--cache-file <file>', 'feature cache database (default <FTK_HOME>/cache/features.sqlite)')
    .option('--max-pixels <n>', 'skip images larger than this many pixels (decompression bombs)', parseIntFlag('--max-pixels'))
    .option('--json', 'print one JSON result on stdout, no progress bar');
  addDeviceFlag(addPreprocessFlags(extract)).action(async (dataset: string, raw: Record<string, unknown>) => {
    process.exitCode = await action(extractContext(dataset, raw));
  });
  cmd
    .command('merge')
    .description('Merge the parts of `extract --shard i/n` runs into one feature file, rows in dataset order (equal to a single run); adds their rows to the feature cache')
    .argument('<parts...>', 'prefixes of the shard parts (<prefix>.npy + <prefix>.json), one per shard')
    .requiredOption('--out <prefix>', 'output prefix: writes <prefix>.npy and <prefix>.json')
    .option('--no-cache', 'do not add the rows to the feature cache')
    .option('--cache-file <file>', 'feature cache database (default <FTK_HOME>/cache/features.sqlite)')
    .option('--json', 'print one JSON result on stdout')
    .action(async (parts: string[], raw: Record<string, unknown>) => {
      process.exitCode = await mergeAction(mergeContext(parts, raw));
    });
  return cmd;
}
