/**
 * The fine-tuning path of `ftk auto` on one outer fold, nested like the SVM's search-then-refit:
 *
 *   1. every candidate (unfrozen depth, crop, views, dropout; src/auto/candidates.ts) trains on an
 *      inner split of the training rows (stratified, 20%: early stopping, never trained on), with
 *      epoch caps high enough to be rarely reached; its inner score is the validation accuracy at
 *      its best epoch, and its best epochs per phase are read from its history;
 *   2. the best candidate trains again on ALL the training rows, without a hold-out, for the
 *      epochs its inner run chose (the SVM refits on the whole training fold after its grid
 *      search; fine-tuning gets the same data);
 *   3. that model predicts the held-out rows. Its softmax temperature is the one the inner run
 *      fitted on its validation split (the refit has no hold-out to fit one on).
 *
 * A stage that stopped at its cap (best epoch = last allowed) is reported: the cap, not the data,
 * decided its length.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import type { FinetuneOptions } from '../finetune/options.js';
import type { FinetunedModelMeta } from '../finetune/format.js';
import { readFinetunedMeta } from '../finetune/format.js';
import type { CalibrationJson } from '../formats/trust.js';
import type { FinetuneCandidate } from './candidates.js';
import { argmaxScores, finetuneOnRows, scoreModelOnRows } from './folds.js';

/** Epoch caps of auto's fine-tuning: early stopping (patience 3) ends nearly every run first. */
export const AUTO_EPOCH_CAPS = Object.freeze({ headEpochs: 20, epochs: 30 });

export interface InnerRun {
  id: string;
  /** Validation accuracy at the best epoch of the last stage (inside the training fold). */
  score: number;
  bestEpochs: { head: number; finetune: number };
  /** Stages whose best epoch was their cap. */
  capHit: string[];
  ms: number;
}

export interface FinetuneFoldResult {
  picked: FinetuneCandidate;
  inner: InnerRun[];
  predicted: number[];
  probabilities: number[][];
  /** Time of the refit on all training rows + prediction. */
  refitMs: number;
  /** The refitted model folder. */
  modelDir: string;
  /** Time spent computing frozen-prefix outputs in this fold (mostly a cold cache: later folds reuse it). */
  prefixMs: number;
  /** The temperature scaling carried from the inner run (absent without one). */
  calibration?: CalibrationJson;
}

/** Best epoch (lowest validation loss, first on ties) and epochs run, per phase of a hold-out run. */
export function bestEpochsOf(meta: Pick<FinetunedModelMeta, 'history'>, caps: { head: number; finetune: number }): { head: number; finetune: number; capHit: string[] } {
  const out = { head: 0, finetune: 0, capHit: [] as string[] };
  for (const phase of ['head', 'finetune'] as const) {
    const rows = meta.history.filter((r) => r.phase === phase && r.fold === undefined);
    if (!rows.length) continue;
    let best = rows[0];
    for (const r of rows) if ((r.valLoss ?? Infinity) < (best.valLoss ?? Infinity)) best = r;
    out[phase] = best.epoch;
    if (best.epoch >= caps[phase]) out.capHit.push(`${phase} ${caps[phase]}`);
  }
  return out;
}

export interface FinetuneFoldContext {
  dataset: Dataset;
  files: readonly string[];
  labels: readonly number[];
  /** Options shared by every run (model, weights, seed, backend, device, cache, workers...). */
  base: Omit<FinetuneOptions, 'out'>;
  /** Folder for this fold's runs. */
  dir: string;
  onStage?: (m: string) => void;
  onProgress?: FinetuneOptions['onProgress'];
  /** Called before each candidate's inner run: false skips it (the budget). */
  mayRun?: (candidate: FinetuneCandidate, index: number) => boolean;
}

function candidateOptions(c: FinetuneCandidate): Partial<FinetuneOptions> {
  return { inputSize: c.inputSize, crop: c.crop, freeze: c.freeze, views: c.views, dropout: c.dropout };
}

export async function finetunePathFold(
  candidates: readonly FinetuneCandidate[],
  fold: { train: ArrayLike<number>; test: ArrayLike<number> },
  ctx: FinetuneFoldContext,
): Promise<FinetuneFoldResult> {
  const caps = { head: ctx.base.headEpochs ?? AUTO_EPOCH_CAPS.headEpochs, finetune: ctx.base.epochs ?? AUTO_EPOCH_CAPS.epochs };
  const inner: InnerRun[] = [];
  const metas = new Map<string, FinetunedModelMeta>();
  let prefixMs = 0;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i];
    if (i > 0 && ctx.mayRun && !ctx.mayRun(c, i)) continue;
    const t = performance.now();
    const out = path.join(ctx.dir, `inner-${i + 1}`);
    ctx.onStage?.(`  fine-tuning candidate ${i + 1}/${candidates.length} on the inner split: ${c.label}`);
    const { result } = await finetuneOnRows(ctx.dataset, ctx.files, fold.train, {
      ...ctx.base,
      ...candidateOptions(c),
      headEpochs: caps.head,
      epochs: caps.finetune,
      out,
      overwrite: true,
      // Models scored inside a fold are evidence, not deliverables: no unknown detector (its pass over the training images would be wasted).
      unknown: false,
      onProgress: ctx.onProgress,
    });
    prefixMs += result.stats.prefixSeconds * 1000;
    const best = bestEpochsOf(result.meta, caps);
    metas.set(c.id, result.meta);
    inner.push({ id: c.id, score: result.meta.metrics.valAccuracy ?? 0, bestEpochs: { head: best.head, finetune: best.finetune }, capHit: best.capHit, ms: performance.now() - t });
  }
  // Ties keep the earlier (cheaper) candidate.
  const top = inner.reduce((a, b) => (b.score > a.score + 1e-12 ? b : a));
  const picked = candidates.find((c) => c.id === top.id)!;
  const t = performance.now();
  const modelDir = path.join(ctx.dir, 'refit');
  ctx.onStage?.(`  fine-tuning refit on all ${fold.train.length} training images: head ${top.bestEpochs.head} + top ${top.bestEpochs.finetune} epochs`);
  const refit = await finetuneOnRows(ctx.dataset, ctx.files, fold.train, {
    ...ctx.base,
    ...candidateOptions(picked),
    val: 0,
    headEpochs: Math.max(1, top.bestEpochs.head),
    epochs: top.bestEpochs.finetune,
    out: modelDir,
    overwrite: true,
    unknown: false,
    onProgress: ctx.onProgress,
  });
  prefixMs += refit.result.stats.prefixSeconds * 1000;
  const calibration = metas.get(picked.id)!.calibration;
  await carryCalibration(modelDir, calibration);
  const scores = await scoreModelOnRows(modelDir, ctx.dataset, ctx.files, fold.test);
  const k = ctx.dataset.classes.length;
  const predicted = argmaxScores(scores);
  const probabilities = scores.map((s, i) => ('probabilities' in s ? Array.from(s.probabilities) : Array.from({ length: k }, (_, c) => (c === predicted[i] ? 1 : 0))));
  return { picked, inner, predicted, probabilities, refitMs: performance.now() - t, modelDir, prefixMs, calibration };
}

/** Writes the inner run's temperature into the refitted model's ftk.json (atomically). */
export async function carryCalibration(modelDir: string, calibration: CalibrationJson | undefined): Promise<void> {
  if (!calibration) return;
  const meta = await readFinetunedMeta(modelDir);
  const file = path.join(modelDir, 'ftk.json');
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, JSON.stringify({ ...meta, calibration: { ...calibration, fittedOn: 'validation' as const } }, null, 1) + '\n');
  await fsp.rename(tmp, file);
}
