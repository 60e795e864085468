/** `ftk suggest <run dir | model> <unlabelled...> --n 100`: which images to label next (CSV + HTML contact sheet). */
import { Command } from 'commander';
import type { SuggestImagesOptions, SuggestImagesResult } from '../../predict/suggest.js';
import { SUGGEST_DEFAULTS } from '../../trust/suggest.js';
import { makeOutput, parseFloatFlag, parseIntFlag } from '../io.js';
import { ProgressBar } from '../progress.js';

export interface SuggestContext {
  model: string;
  inputs: string[];
  json: boolean;
  options: SuggestImagesOptions;
}

export function suggestContext(model: string, inputs: string[], raw: Record<string, any>): SuggestContext {
  const options: SuggestImagesOptions = { out: raw.out ?? 'suggestions' };
  if (raw.n !== undefined) options.n = raw.n;
  if (raw.seed !== undefined) options.seed = raw.seed;
  if (raw.diversity !== undefined) options.diversity = raw.diversity;
  if (raw.includeUnknown) options.includeUnknown = true;
  if (raw.batchSize !== undefined) options.batchSize = raw.batchSize;
  return { model, inputs, json: Boolean(raw.json), options };
}

export async function runSuggest(ctx: SuggestContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const bar = new ProgressBar(process.stderr, !ctx.json && Boolean(process.stderr.isTTY));
  // Heavy modules (backbones, ONNX Runtime) load only when the command runs.
  const { suggest } = await import('../../index.js');
  const r: SuggestImagesResult = await suggest(ctx.model, ctx.inputs, {
    ...ctx.options,
    onNotice: (m) => process.stderr.write(`${m}\n`),
    onProgress: (done, total) => bar.update({ label: 'features', done, total }),
  });
  bar.done();
  for (const s of r.skipped) out.warn(`skipped ${s.file}: ${s.reason}`);
  const text = [
    `${r.picks.length} of ${r.candidates} images to label next${r.unknown.length ? ` (${r.unknown.length} left out as unknown)` : ''}${r.duplicates ? `, ${r.duplicates} exact duplicates skipped` : ''}:`,
    ...r.picks.slice(0, 10).map((p) => `  ${String(p.rank).padStart(3)}  ${p.file}  (${p.predicted} ${(100 * p.confidence).toFixed(0)}%)`),
    ...(r.picks.length > 10 ? [`  ... ${r.picks.length - 10} more in the CSV`] : []),
    r.expectation,
    ...(r.files ? [`wrote ${r.files.csv}`, `wrote ${r.files.html}`] : []),
  ].join('\n');
  out.result(r, text);
  return 0;
}

export function suggestCommand(action: (ctx: SuggestContext) => Promise<number> = runSuggest): Command {
  return new Command('suggest')
    .description('Rank unlabelled images by how much labelling them should help (uncertainty + diversity); writes a CSV and an HTML contact sheet')
    .argument('<model>', 'an SVM model (`ftk svm fit --probability`), a fine-tuned model folder (`ftk finetune --out`), or an `ftk auto` run folder or bundle')
    .argument('<inputs...>', 'unlabelled image files or folders (searched recursively)')
    .option('--n <n>', `how many images to suggest (default ${SUGGEST_DEFAULTS.n})`, parseIntFlag('--n', 1))
    .option('--seed <n>', `seed of the tie-breaking order (default ${SUGGEST_DEFAULTS.seed})`, parseIntFlag('--seed', 0))
    .option('--diversity <w>', `weight of novelty against uncertainty, 0..1 (default ${SUGGEST_DEFAULTS.diversity}; 0 = uncertainty only)`, parseFloatFlag('--diversity', 0, 1))
    .option('--include-unknown', 'rank images the unknown detector rejects too (default: left out and listed)')
    .option('--batch-size <n>', 'images per inference batch', parseIntFlag('--batch-size', 1))
    .option('--out <dir>', 'folder for suggestions.csv and suggestions.html (default ./suggestions)')
    .option('--json', 'print the result as one JSON document on stdout')
    .action(async (model: string, inputs: string[], raw: Record<string, unknown>) => {
      process.exitCode = await action(suggestContext(model, inputs, raw));
    });
}
