/**
 * `suggest()`: which unlabelled images to label next, for a saved SVM model, an `ftk auto` bundle
 * or run folder whose winner is the SVM (`ftk suggest`). The images' bottleneck features come from
 * the backbone the model was trained on (through the feature cache), the ranking from
 * `suggestLabels` (src/trust/suggest.ts): uncertainty of the calibrated probabilities combined
 * with novelty in feature space, measured from the training images too when the model's unknown
 * detector stores them (the default 'knn' detector does).
 *
 * Writes (with `out`): `<out>/suggestions.csv` (rank, file, predicted class, confidence,
 * uncertainty, novelty, score, unknown score) and `<out>/suggestions.html` (a self-contained contact
 * sheet of thumbnails in rank order), each atomically.
 *
 * Fine-tuned models are not served: their features change with training, and ftk does not yet
 * save a fine-tuned model's penultimate features of its training images.
 *
 * ```ts
 * const r = await suggest('run', ['unlabelled/'], { n: 100, out: 'to-label' });
 * r.picks[0]; // { file, rank: 1, predicted: 'cats', confidence: 0.52, ... }
 * ```
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { SvmClassifier } from '../classify/svm.js';
import type { Dataset } from '../data/dataset.js';
import { FtkError, OptionsError } from '../errors.js';
import { extractFeatures } from '../extract/extract.js';
import { SVM_MODEL_FORMAT } from '../formats/svm_model.js';
import { backboneOptionsFrom } from '../models/backbone.js';
import { escapeHtml } from '../report/format.js';
import { makeThumbnails } from '../report/thumbnails.js';
import { UnknownDetector } from '../trust/ood.js';
import { suggestLabels, SUGGEST_DEFAULTS, type SuggestOptions } from '../trust/suggest.js';
import { resolveInside } from '../runtime/safe_path.js';
import { formatTag } from './formats.js';
import { collectImageFiles } from './predict.js';

/** Options of `suggest` (the ranking's own options: `SuggestOptions`, defaults in SUGGEST_DEFAULTS). */
export interface SuggestImagesOptions extends Omit<SuggestOptions, 'labelled' | 'exclude'> {
  /** Folder for suggestions.csv and suggestions.html. Default: nothing written. */
  out?: string;
  /** Rank images the unknown detector rejects too. Default false (they are listed apart: they belong to none of the classes). */
  includeUnknown?: boolean;
  /** Images per inference batch. Default 32. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  onNotice?: (message: string) => void;
}

export interface SuggestedFile {
  rank: number;
  file: string;
  predicted: string;
  confidence: number;
  uncertainty: number;
  novelty: number;
  score: number;
  unknownScore: number | null;
}

export interface SuggestImagesResult {
  model: string;
  picks: SuggestedFile[];
  /** Images considered (decoded, not unknown, not duplicates). */
  candidates: number;
  /** Images the unknown detector rejected (not ranked unless includeUnknown). */
  unknown: string[];
  /** Undecodable images with the reason. */
  skipped: { file: string; reason: string }[];
  duplicates: number;
  /** Weight of novelty against uncertainty used. */
  diversity: number;
  /** Expected misclassified among the picks, by the calibrated probabilities; and per image over all candidates. */
  expectedErrors: number;
  meanErrorAll: number;
  /** One sentence: what labelling the picks should buy. */
  expectation: string;
  files?: { csv: string; html: string };
}

/** The SVM model file behind a model path: an SVM JSON, an auto bundle, or a run folder holding `bundle/`. */
export async function resolveSvmModelFile(source: string): Promise<string> {
  const stat = await fsp.stat(source).catch(() => undefined);
  if (stat?.isDirectory() && !(await fsp.stat(path.join(source, 'ftk.json')).catch(() => undefined)) && (await fsp.stat(path.join(source, 'bundle', 'ftk.json')).catch(() => undefined))) {
    return resolveSvmModelFile(path.join(source, 'bundle'));
  }
  const tag = await formatTag(source);
  if (tag === SVM_MODEL_FORMAT) return source;
  if (tag === 'ftk-auto-bundle') {
    const meta = JSON.parse(await fsp.readFile(path.join(source, 'ftk.json'), 'utf8')) as { chosen?: string; classifier?: string };
    const inner = meta.classifier ? resolveInside(source, meta.classifier) : undefined;
    if (meta.chosen === 'svm' && inner) return resolveSvmModelFile(inner);
    throw new FtkError(`${source} is an ftk auto bundle whose winner is ${meta.chosen}; \`ftk suggest\` ranks images with SVM models only.`, {
      code: 'SUGGEST_UNSUPPORTED_MODEL',
      suggestion: 'Fit an SVM on the same images (`ftk bottleneck extract` then `ftk svm fit --probability`) and pass that model.',
    });
  }
  throw new FtkError(`${source} is a ${tag} model; \`ftk suggest\` ranks images with SVM models (or auto bundles that chose the SVM) only.`, {
    code: 'SUGGEST_UNSUPPORTED_MODEL',
    suggestion: 'Pass the model.json of `ftk svm fit --probability`, or the run folder of `ftk auto`.',
  });
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, text);
  await fsp.rename(tmp, file);
}

/** Ranks the images of `inputs` (files or folders) for labelling with the model at `model`. */
export async function suggest(model: string, inputs: readonly string[], options: SuggestImagesOptions = {}): Promise<SuggestImagesResult> {
  const n = options.n ?? SUGGEST_DEFAULTS.n;
  if (!Number.isInteger(n) || n < 1) throw new OptionsError(`n must be an integer >= 1. Received n=${n}.`, { code: 'OPTIONS_BAD_VALUE' });
  const modelFile = await resolveSvmModelFile(model);
  const clf = await SvmClassifier.load(modelFile);
  try {
    if (!clf.backbone) {
      throw new FtkError(`${modelFile} does not record the backbone of its training features, so it cannot rank images.`, { code: 'SVM_NO_BACKBONE', suggestion: 'Fit the model on features from `ftk bottleneck extract`.' });
    }
    if (!clf.probA_) {
      throw new FtkError(`${modelFile} was fitted without probability estimates; ranking needs them (uncertainty = margin of the probabilities).`, {
        code: 'SUGGEST_NO_PROBABILITY',
        suggestion: 'Fit again with `ftk svm fit --probability`.',
      });
    }
    const { files, ignored } = await collectImageFiles(inputs);
    const dataset: Dataset = { root: process.cwd(), classes: [], entries: files.map((f) => ({ path: path.resolve(f), file: path.resolve(f), label: -1, className: '' })), ignored: [] };
    const r = await extractFeatures(dataset, {
      ...backboneOptionsFrom(clf.backbone),
      batchSize: options.batchSize,
      onProgress: (p) => p.phase === 'extract' && options.onProgress?.(p.done, p.total),
      onNotice: options.onNotice,
    });
    const [rows, d] = r.meta.shape;
    const X = { data: r.features, rows, cols: d };
    const skipped = [...ignored, ...r.meta.skipped.map((s) => ({ file: s.file, reason: s.reason }))];
    const names = clf.classNames ?? clf.classes_!.map(String);
    if (rows === 0) {
      return { model: modelFile, picks: [], candidates: 0, unknown: [], skipped, duplicates: 0, diversity: 0, expectedErrors: 0, meanErrorAll: 0, expectation: 'No decodable image to rank.' };
    }
    const probs = clf.predictProba(X);
    let unknownScores: Float64Array | undefined;
    let labelled;
    const exclude: number[] = [];
    if (clf.unknown) {
      const det = UnknownDetector.fromJSON(clf.unknown, modelFile);
      unknownScores = det.score(X);
      labelled = det.referenceFeatures();
      if (!options.includeUnknown) unknownScores.forEach((s, i) => s > det.threshold_! && exclude.push(i));
    }
    const s = suggestLabels(probs, X, { n, seed: options.seed, diversity: options.diversity, labelled, exclude });
    const picks: SuggestedFile[] = s.picks.map((p) => ({
      rank: p.rank,
      file: r.meta.files[p.index],
      predicted: names[p.predicted],
      confidence: p.confidence,
      uncertainty: p.uncertainty,
      novelty: p.novelty,
      score: p.score,
      unknownScore: unknownScores ? unknownScores[p.index] : null,
    }));
    const perPick = picks.length ? s.expectedErrors / picks.length : 0;
    const expectation =
      `Of these ${picks.length} images the model should currently get about ${s.expectedErrors.toFixed(1)} wrong ` +
      `(${(100 * perPick).toFixed(0)}% by its calibrated probabilities, against ${(100 * s.meanErrorAll).toFixed(0)}% for an image picked at random here), ` +
      `and they are spread over the feature space${labelled ? ' away from the training images' : ''}: labelling them corrects the model where it is least sure. ` +
      `How much accuracy that buys depends on the data: on cats-dogs and flowers ftk measured it against random picks (bench/RESULTS.md, "labelling order").`;
    const result: SuggestImagesResult = {
      model: modelFile,
      picks,
      candidates: s.candidates,
      unknown: exclude.map((i) => r.meta.files[i]),
      skipped,
      duplicates: s.duplicates,
      diversity: s.diversity,
      expectedErrors: s.expectedErrors,
      meanErrorAll: s.meanErrorAll,
      expectation,
    };
    if (options.out) {
      const dir = path.resolve(options.out);
      await fsp.mkdir(dir, { recursive: true });
      const csv = path.join(dir, 'suggestions.csv');
      const html = path.join(dir, 'suggestions.html');
      const header = ['rank', 'file', 'predicted', 'confidence', 'uncertainty', 'novelty', 'score', 'unknown_score'];
      const lines = picks.map((p) => [p.rank, p.file, p.predicted, p.confidence.toFixed(4), p.uncertainty.toFixed(4), p.novelty.toFixed(4), p.score.toFixed(4), p.unknownScore === null ? '' : p.unknownScore.toFixed(4)].map(csvCell).join(','));
      await writeAtomic(csv, [header.join(','), ...lines].join('\n') + '\n');
      const thumbs = await makeThumbnails(process.cwd(), picks.map((p) => p.file));
      const cards = picks
        .map((p, i) => {
          const t = thumbs[i];
          const img = 'dataUri' in t ? `<img src="${t.dataUri}" width="${t.width}" height="${t.height}" alt="${escapeHtml(path.basename(p.file))}">` : `<div class="missing">${escapeHtml(t.error)}</div>`;
          return `<figure>${img}<figcaption><b>#${p.rank}</b> ${escapeHtml(path.basename(p.file))}<br>${escapeHtml(p.predicted)} ${(100 * p.confidence).toFixed(0)}%</figcaption></figure>`;
        })
        .join('\n');
      const page = `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"><title>ftk suggest: ${picks.length} images to label next</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em}figure{display:inline-block;width:120px;margin:4px;vertical-align:top;text-align:center}figcaption{font-size:11px;word-break:break-all}.missing{width:96px;height:96px;background:#eee;font-size:10px}</style></head>
<body><h1>${picks.length} images to label next</h1><p>Model: ${escapeHtml(modelFile)}. ${escapeHtml(expectation)}</p>
<p>${s.candidates} candidates${exclude.length ? `, ${exclude.length} left out as unknown (unlike the training images)` : ''}${s.duplicates ? `, ${s.duplicates} exact duplicates skipped` : ''}. Order: rank 1 first; the caption gives the model's current guess and its calibrated confidence.</p>
${cards}
</body></html>
`;
      await writeAtomic(html, page);
      result.files = { csv, html };
    }
    return result;
  } finally {
    clf.dispose();
  }
}
