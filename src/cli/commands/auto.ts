/** `ftk auto`: flags -> AutoOptions -> auto(); narrates stages like libsvm's easy.py. */
import { Command } from 'commander';
import type { AutoOptions } from '../../auto/auto.js';
import { AUTO_DEFAULTS } from '../../auto/defaults.js';
import { BACKEND_NAMES } from '../../runtime/names.js';
import { DEVICE_NAMES } from '../../formats/device.js';
import { DEVICE_HELP, deviceFromFlags } from '../device_flags.js';
import { makeOutput, parseChoice, parseFloatFlag, parseIntFlag, parseWorkersFlag } from '../io.js';
import { parseFreezeSpec } from '../../finetune/defaults.js';
import { addPreprocessFlags, preprocessFromFlags } from '../preprocess_flags.js';
import { ProgressBar, stagedJobCallbacks } from '../progress.js';

export interface AutoContext {
  dataset: string;
  json: boolean;
  options: AutoOptions;
}

export function autoContext(dataset: string, raw: Record<string, any>): AutoContext {
  const options: AutoOptions = {
    out: raw.out,
    model: raw.model,
    alpha: raw.alpha,
    weights: raw.weights,
    layer: raw.layer,
    inputSize: raw.inputSize,
    crop: raw.crop,
    tta: raw.tta,
    freeze: raw.freeze,
    views: raw.views,
    dropout: raw.dropout,
    candidates: raw.candidates,
    refitAll: raw.refitAll ? true : undefined,
    workers: raw.workers,
    preprocess: preprocessFromFlags(raw),
    budget: raw.budget,
    folds: raw.folds,
    seed: raw.seed,
    epochs: raw.epochs,
    svmOnly: raw.svmOnly ? true : undefined,
    backend: raw.backend,
    ...deviceFromFlags(raw),
    cache: raw.cache === false ? false : undefined,
  };
  return { dataset, json: Boolean(raw.json), options: Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as AutoOptions };
}

export async function runAuto(ctx: AutoContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const bar = new ProgressBar(process.stderr, !ctx.json && Boolean(process.stderr.isTTY));
  // Loaded here, not at start-up: `ftk --help` must not load TF.js, ONNX Runtime and sharp.
  const { auto } = await import('../../auto/auto.js');
  const result = await auto(ctx.dataset, {
    ...ctx.options,
    ...stagedJobCallbacks(out, bar, ctx.json),
  });
  bar.done();
  const r = result.run;
  out.result(
    { runDir: result.runDir, bundle: result.bundle, refits: result.paths, report: result.report, decision: r.decision, paths: r.paths?.map(({ predictions, ...p }) => p), comparisons: r.comparisons, budget: r.budget },
    [
      `decision: ${r.decision.chosen}`,
      ...r.decision.reasons.map((x) => `  - ${x}`),
      ...(r.budget?.cuts.length ? ['budget cuts:', ...r.budget.cuts.map((c) => `  - ${c}`)] : []),
      `bundle: ${result.bundle}  (ftk predict ${result.bundle} <images>)`,
      ...Object.entries(result.paths).map(([name, dir]) => `  ${name}: ${dir}`),
      `report: ${result.report.html}`,
    ].join('\n'),
  );
  return 0;
}

export function autoCommand(action: (ctx: AutoContext) => Promise<number> = runAuto): Command {
  const cmd = new Command('auto')
    .description('Choose between bottleneck features + SVM and fine-tuning by a cross-validated, paired comparison on your data; refit the winner; write a bundle and a report')
    .argument('<dataset>', 'dataset folder (one subfolder per class) or CSV manifest')
    .requiredOption('--out <dir>', 'run folder: bundle/, run.json, report.html')
    .option('--model <name>', `backbone: a zoo name, or onnx:<file.onnx> / tfjs:<folder> (these take the feature path only); several, comma-separated, are candidates of the feature path (default ${AUTO_DEFAULTS.model})`)
    .option('--alpha <alpha>', 'width multiplier (MobileNets)', parseFloatFlag('--alpha', 0.01, 4))
    .option('--weights <source>', `'imagenet' or a Keras .h5 / TF.js model.json path (default ${AUTO_DEFAULTS.weights})`)
    .option('--layer <name>', "bottleneck layer, or tensor/node of an onnx:/tfjs: model (default: the model's last / output)")
    .option('--input-size <px>', "square input size, fixed (default: searched: the model's and ~1.3x)", parseIntFlag('--input-size', 32))
    .option('--crop <mode>', 'squash or center, fixed (default: both tried, the doctor\'s preference first)', parseChoice('--crop', ['squash', 'center'] as const))
    .option('--tta <mode>', 'feature test-time augmentation none or flip, fixed (default: both tried)', parseChoice('--tta', ['none', 'flip'] as const))
    .option('--freeze <spec>', 'fine-tuning: frozen blocks (count, fraction, layer name), fixed (default: the last 2 and the last 4 blocks unfrozen, tried)', parseFreezeSpec)
    .option('--views <n>', 'fine-tuning: augmented views per image, fixed', parseIntFlag('--views', 1))
    .option('--dropout <rate>', 'fine-tuning: head dropout, fixed', parseFloatFlag('--dropout', 0, 0.95))
    .option('--candidates <level>', 'candidate space: quick (one per path), standard, thorough (default: standard)', parseChoice('--candidates', ['quick', 'standard', 'thorough'] as const))
    .option('--refit-all', 'also refit every contender (feature path, fine-tuning, ensemble) into <out>/paths/<name>')
    .option('--workers <n>', "fine-tuning's training threads: 'auto' (one per core) or a count (default: auto)", parseWorkersFlag('--workers'))
    .option('--budget <minutes>', `time budget; folds and learning-curve points that do not fit are cut, and said (default ${AUTO_DEFAULTS.budget})`, parseFloatFlag('--budget', 0.1))
    .option('--folds <k>', `stratified folds shared by both paths (default ${AUTO_DEFAULTS.folds})`, parseIntFlag('--folds', 2))
    .option('--seed <n>', `seed of folds, subsamples and training (default ${AUTO_DEFAULTS.seed})`, parseIntFlag('--seed', 0))
    .option('--epochs <n>', 'cap of fine-tuning epochs per phase (default: 20 for the head, 30 for the top; early stopping ends most runs first)', parseIntFlag('--epochs', 1))
    .option('--svm-only', 'do not fine-tune (SVM path only)')
    .option('--device <name>', DEVICE_HELP, parseChoice('--device', DEVICE_NAMES))
    .option('--backend <name>', `tfjs backend: auto, ${BACKEND_NAMES.join(', ')}`, parseChoice('--backend', ['auto', ...BACKEND_NAMES] as const))
    .option('--no-cache', 'do not use the feature cache')
    .option('--json', 'print one JSON result on stdout (stages go to stderr)');
  return addPreprocessFlags(cmd).action(async (dataset: string, raw: Record<string, unknown>) => {
    process.exitCode = await action(autoContext(dataset, raw));
  });
}
