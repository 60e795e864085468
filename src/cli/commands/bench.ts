/** `ftk bench`: flags -> CompareMethodsOptions -> compareMethods(); prints the table. */
import { Command, InvalidArgumentError } from 'commander';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { CompareMethodsOptions } from '../../bench/compare.js';
import { BENCH_DEFAULTS, BENCH_METHODS, type BenchMethod } from '../../bench/defaults.js';
import { FINETUNE_DEFAULTS, parseFreezeSpec } from '../../finetune/defaults.js';
import { addPreprocessFlags, preprocessFromFlags } from '../preprocess_flags.js';
import { BACKEND_NAMES } from '../../runtime/names.js';
import { makeOutput, parseChoice, parseFloatFlag, parseIntFlag, parseWorkersFlag } from '../io.js';
import { DEVICE_NAMES } from '../../formats/device.js';
import { DEVICE_HELP, deviceFromFlags } from '../device_flags.js';
import { ProgressBar, stagedJobCallbacks } from '../progress.js';

export interface BenchContext {
  dataset: string;
  json: boolean;
  options: CompareMethodsOptions;
}

function parseMethods(value: string): BenchMethod[] {
  const list = value.split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of list) {
    if (!(BENCH_METHODS as readonly string[]).includes(m)) throw new InvalidArgumentError(`--methods: unknown method "${m}"; must be some of [${BENCH_METHODS.join(', ')}].`);
  }
  if (list.length === 0) throw new InvalidArgumentError(`--methods needs at least one of [${BENCH_METHODS.join(', ')}].`);
  return list as BenchMethod[];
}

const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

export function benchContext(dataset: string, raw: Record<string, any>): BenchContext {
  const finetune = defined({
    freeze: raw.freeze !== undefined ? parseFreezeSpec(String(raw.freeze)) : undefined,
    views: raw.views,
    dropout: raw.dropout,
    headEpochs: raw.headEpochs,
    lr: raw.lr,
    batchSize: raw.batch,
    augment: raw.augment,
    patience: raw.patience,
    val: raw.val,
    layer: raw.layer,
    preprocess: preprocessFromFlags(raw),
    runtime: raw.runtime,
    memoryBudgetMB: raw.memory,
  });
  const scratch = defined({ model: raw.scratchModel, inputSize: raw.scratchInputSize, epochs: raw.scratchEpochs });
  const options: CompareMethodsOptions = defined({
    out: raw.out,
    methods: raw.methods,
    folds: raw.folds,
    runFolds: raw.runFolds,
    seed: raw.seed,
    model: raw.model,
    alpha: raw.alpha,
    weights: raw.weights,
    inputSize: raw.inputSize,
    crop: raw.crop,
    epochs: raw.epochs,
    budget: raw.budget,
    backend: raw.backend,
    workers: raw.workers,
    ...deviceFromFlags(raw),
    cache: raw.cache === false ? false : raw.cacheFile,
    overwrite: raw.overwrite ? true : undefined,
    finetune: Object.keys(finetune).length ? finetune : undefined,
    scratch: Object.keys(scratch).length ? scratch : undefined,
  });
  return { dataset, json: Boolean(raw.json), options };
}

export async function runBench(ctx: BenchContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const bar = new ProgressBar(process.stderr, !ctx.json && Boolean(process.stderr.isTTY));
  // Loaded here, not at start-up: `ftk --help` must not load TF.js, ONNX Runtime and sharp.
  const { benchTableMarkdown, compareMethods } = await import('../../bench/compare.js');
  const result = await compareMethods(ctx.dataset, {
    ...ctx.options,
    ...stagedJobCallbacks(out, bar, ctx.json),
  });
  bar.done();
  const table = benchTableMarkdown(result);
  const tableFile = path.join(path.resolve(ctx.options.out), 'table.md');
  await fsp.writeFile(tableFile, table + '\n');
  out.result(result, [
    table,
    ...(result.cuts.length ? ['', 'not run:', ...result.cuts.map((c) => `  - ${c}`)] : []),
    '',
    `per-fold records: ${result.records}`,
    `table: ${tableFile}`,
  ].join('\n'));
  return 0;
}

export function benchCommand(action: (ctx: BenchContext) => Promise<number> = runBench): Command {
  const cmd = new Command('bench')
    .description('The small-data table on your data: a convnet from scratch, bottleneck features + SVM, and fine-tuning, on the same stratified folds (accuracy with 95% intervals, wall time, images/s); resumable')
    .argument('<dataset>', 'dataset folder (one subfolder per class) or CSV manifest')
    .requiredOption('--out <dir>', 'run folder: folds.jsonl (resume), fold models, bench.json, table.md')
    .option('--methods <list>', `comma-separated, run in this order within each fold (default ${BENCH_DEFAULTS.methods.join(',')})`, parseMethods)
    .option('--folds <k>', `stratified folds (default ${BENCH_DEFAULTS.folds})`, parseIntFlag('--folds', 2))
    .option('--run-folds <m>', 'run only the first m folds (all methods on the same folds)', parseIntFlag('--run-folds', 1))
    .option('--seed <n>', `seed of the folds and of training (default ${BENCH_DEFAULTS.seed})`, parseIntFlag('--seed', 0))
    .option('--model <name>', `pretrained backbone of svm and finetune (default ${BENCH_DEFAULTS.model})`)
    .option('--alpha <alpha>', 'width multiplier (MobileNets)', parseFloatFlag('--alpha', 0.01, 4))
    .option('--weights <source>', `'imagenet' or a Keras .h5 / TF.js model.json path (default ${BENCH_DEFAULTS.weights})`)
    .option('--input-size <px>', 'input size of svm and finetune (default: the model\'s)', parseIntFlag('--input-size', 16))
    .option('--crop <mode>', 'squash (default) or center, for svm and finetune', parseChoice('--crop', ['squash', 'center'] as const))
    .option('--epochs <n>', 'largest number of epochs per phase (finetune and scratch; default finetune\'s, 10)', parseIntFlag('--epochs', 1))
    .option('--head-epochs <n>', 'finetune: largest number of head epochs', parseIntFlag('--head-epochs', 0))
    .option('--freeze <spec>', 'finetune: frozen layers (block count, layer name, fraction, all, none)')
    .option('--views <n>', 'finetune: augmented views per training image in the cached bank', parseIntFlag('--views', 1))
    .option('--dropout <rate>', 'finetune: dropout of the new head', parseFloatFlag('--dropout', 0, 0.99))
    .option('--lr <rate>', 'finetune: learning rate of the head (the top trains at lr/10)', parseFloatFlag('--lr', 1e-7, 0.99))
    .option('--batch <n>', `finetune: images per step (default ${FINETUNE_DEFAULTS.batchSize})`, parseIntFlag('--batch', 1))
    .option('--augment <spec>', `finetune: training augmentation, 'flip,rotate=F,translate=F,zoom=F[,fill=...]' or none (default ${FINETUNE_DEFAULTS.augment})`)
    .option('--patience <n>', `finetune: early stopping, epochs without a better validation loss (default ${FINETUNE_DEFAULTS.patience})`, parseIntFlag('--patience', 1))
    .option('--val <fraction>', `finetune: stratified validation fraction of each training fold (default ${FINETUNE_DEFAULTS.val})`, parseFloatFlag('--val', 0, 0.99))
    .option('--layer <name>', "finetune: tfjs: models: the layer the new head goes on (default: the model's last layer)")
    .option('--runtime <name>', "finetune: runtime of the frozen layers' pass: auto, onnx, tfjs (default auto)", parseChoice('--runtime', ['auto', 'onnx', 'tfjs'] as const))
    .option('--memory <MB>', `finetune: memory budget of one micro-batch (default ${FINETUNE_DEFAULTS.memoryBudgetMB})`, parseIntFlag('--memory', 16))
    .option('--scratch-model <name>', `scratch: architecture (default ${BENCH_DEFAULTS.scratchModel}; a zoo name trains it from random weights)`)
    .option('--scratch-input-size <px>', 'scratch: input size (default: the model\'s; smallcnn 150)', parseIntFlag('--scratch-input-size', 16))
    .option('--scratch-epochs <n>', 'scratch: largest number of epochs (default --epochs)', parseIntFlag('--scratch-epochs', 1))
    .option('--budget <minutes>', 'no new fold starts when the slowest fold so far would not fit (said in the output)', parseFloatFlag('--budget', 0.1))
    .option('--backend <name>', `tfjs backend: auto, ${BACKEND_NAMES.join(', ')}`, parseChoice('--backend', ['auto', ...BACKEND_NAMES] as const))
    .option('--device <name>', DEVICE_HELP, parseChoice('--device', DEVICE_NAMES))
    .option('--cache-file <path>', 'feature cache file (default <FTK_HOME>/cache/features.sqlite; a fresh file gives cold-cache timings)')
    .option('--no-cache', 'do not use the feature cache')
    .option('--overwrite', 'forget the results already in --out and start over')
    .option('--workers <n>', 'scratch and finetune: training threads (data-parallel steps); auto: one per core on wasm/cpu (default 1)', parseWorkersFlag('--workers'))
    .option('--json', 'print one JSON result on stdout (stages go to stderr)');
  return addPreprocessFlags(cmd).action(async (dataset: string, raw: Record<string, unknown>) => {
    process.exitCode = await action(benchContext(dataset, raw));
  });
}
