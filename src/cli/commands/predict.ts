/** `ftk predict`: a saved classifier + images or folders -> top-k labels (or JSON). */
import { Command } from 'commander';
import type { FailedPrediction, Prediction, PredictionsDocument } from '../../formats/prediction.js';
import type { PredictOptions, PredictResult } from '../../index.js';
import { BACKEND_NAMES } from '../../runtime/names.js';
import { DEVICE_NAMES } from '../../formats/device.js';
import { DEVICE_HELP, deviceFromFlags } from '../device_flags.js';
import { makeOutput, parseChoice, parseIntFlag } from '../io.js';
import { ProgressBar } from '../progress.js';

export interface PredictContext {
  model: string;
  inputs: string[];
  json: boolean;
  options: PredictOptions;
}

export function predictContext(model: string, inputs: string[], raw: Record<string, any>): PredictContext {
  return { model, inputs, json: Boolean(raw.json), options: { topK: raw.topK, batchSize: raw.batchSize, backend: raw.backend, ...deviceFromFlags(raw), ...(raw.unknown === false ? { unknown: false } : {}) } };
}

/**
 * The `--json` document: ftk's one prediction schema (src/formats/prediction.ts). `unknown` is
 * always there; `label` and `labelIndex` are null when it is true; `unknownScore` and
 * `unknownThreshold` only with a model that carries an unknown detector (and without --no-unknown).
 */
export function predictionsJson(result: PredictResult): PredictionsDocument {
  const predictions: Prediction[] = [];
  const failed: FailedPrediction[] = [];
  for (const p of result.predictions) {
    if ('error' in p) failed.push({ file: p.file, error: p.error });
    else
      predictions.push({
        file: p.file,
        label: p.label,
        labelIndex: p.labelIndex,
        unknown: p.unknown,
        ...(p.unknownScore !== undefined ? { unknownScore: p.unknownScore, unknownThreshold: p.unknownThreshold } : {}),
        probabilities: p.probabilities,
      });
  }
  return { classes: result.model.classes, predictions, failed };
}

export async function runPredict(ctx: PredictContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const bar = new ProgressBar(process.stderr, !ctx.json && Boolean(process.stderr.isTTY));
  // Loaded here, not at start-up: `ftk --help` must not load TF.js, ONNX Runtime and sharp.
  const { predict } = await import('../../predict/predict.js');
  const result = await predict(ctx.model, ctx.inputs, {
    ...ctx.options,
    onNotice: (m) => process.stderr.write(`${m}\n`),
    onProgress: (done, total) => bar.update({ label: 'predicting', done, total }),
  });
  bar.done();
  const failed = result.predictions.filter((p) => 'error' in p);
  for (const f of failed) process.stderr.write(`skipped ${f.file}: ${(f as { error: string }).error}\n`);
  const lines = result.predictions
    .filter((p): p is Extract<typeof p, { top: unknown }> => !('error' in p))
    .map((p) => `${p.file}\t${p.unknown ? `unknown (score ${p.unknownScore!.toFixed(4)} > ${p.unknownThreshold!.toFixed(4)})\t` : ''}${p.top.map((t) => `${t.label} ${t.probability.toFixed(4)}`).join('\t')}`);
  out.result(predictionsJson(result), lines.join('\n'));
  return result.predictions.length > 0 && failed.length === result.predictions.length ? 1 : 0;
}

export function predictCommand(action: (ctx: PredictContext) => Promise<number> = runPredict): Command {
  return new Command('predict')
    .description('Predict the class of images with a saved classifier (fine-tuned model folder, SVM model, auto bundle)')
    .argument('<model>', 'a saved classifier: the --out of ftk finetune, ftk svm fit or ftk auto')
    .argument('<inputs...>', 'image files or folders (searched recursively)')
    .option('--top-k <k>', 'labels printed per image, best first', parseIntFlag('--top-k', 1), 1)
    .option('--batch-size <n>', 'images per inference batch', parseIntFlag('--batch-size', 1), 32)
    .option('--backend <name>', `tfjs backend: auto, ${BACKEND_NAMES.join(', ')}`, parseChoice('--backend', ['auto', ...BACKEND_NAMES] as const), 'auto')
    .option('--device <name>', DEVICE_HELP, parseChoice('--device', DEVICE_NAMES))
    .option('--no-unknown', 'never mark images as unknown (default: images unlike the training ones get label null, unknown true, with models that carry an unknown detector)')
    .option('--json', 'print { classes, predictions: [{ file, label, labelIndex, unknown, unknownScore?, unknownThreshold?, probabilities }], failed: [{ file, error }] } on stdout')
    .action(async (model: string, inputs: string[], raw: Record<string, unknown>) => {
      process.exitCode = await action(predictContext(model, inputs, raw));
    });
}
