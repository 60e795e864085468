/** `ftk predict`: a saved classifier + images or folders -> top-k labels (or JSON). */
import { Command } from 'commander';
import { predict, type PredictOptions, type PredictResult } from '../../index.js';
import { BACKEND_NAMES } from '../../runtime/backend.js';
import { makeOutput, parseChoice, parseIntFlag } from '../io.js';
import { ProgressBar } from '../progress.js';

export interface PredictContext {
  model: string;
  inputs: string[];
  json: boolean;
  options: PredictOptions;
}

export function predictContext(model: string, inputs: string[], raw: Record<string, any>): PredictContext {
  return { model, inputs, json: Boolean(raw.json), options: { topK: raw.topK, batchSize: raw.batchSize, backend: raw.backend, ...(raw.unknown === false ? { unknown: false } : {}) } };
}

/**
 * The `--json` document: `[{ file, label, unknown, unknownScore?, unknownThreshold?, probabilities: { class: p } }]`;
 * `label` is null when `unknown` is true; `unknownScore`/`unknownThreshold` only with a model that
 * carries an unknown detector (and without --no-unknown). Failures: `{ file, error }`.
 */
export function predictionsJson(result: PredictResult): unknown[] {
  return result.predictions.map((p) =>
    'error' in p
      ? { file: p.file, error: p.error }
      : {
          file: p.file,
          label: p.label,
          unknown: p.unknown,
          ...(p.unknownScore !== undefined ? { unknownScore: p.unknownScore, unknownThreshold: p.unknownThreshold } : {}),
          probabilities: p.probabilities,
        },
  );
}

export async function runPredict(ctx: PredictContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const bar = new ProgressBar(process.stderr, !ctx.json && Boolean(process.stderr.isTTY));
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
    .option('--no-unknown', 'never mark images as unknown (default: images unlike the training ones get label null, unknown true, with models that carry an unknown detector)')
    .option('--json', 'print a JSON array of { file, label, unknown, unknownScore, unknownThreshold, probabilities } on stdout')
    .action(async (model: string, inputs: string[], raw: Record<string, unknown>) => {
      process.exitCode = await action(predictContext(model, inputs, raw));
    });
}
