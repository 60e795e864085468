/**
 * `suggest()`: which unlabelled images to label next, for a saved SVM model, a fine-tuned model
 * folder, or an `ftk auto` bundle or run folder (`ftk suggest`). The ranking is `suggestLabels`
 * (src/trust/suggest.ts): uncertainty of the calibrated probabilities combined with novelty in
 * feature space, measured from the training images too when the model's unknown detector stores
 * them (the default 'knn' detector does).
 *
 * Which features: an SVM's are its backbone's bottleneck features (extracted through the feature
 * cache, as `ftk predict` does); a fine-tuned model's are its own, the input of its classifier
 * (src/finetune/format.ts `featureTensor`), computed in the same forward pass as its probabilities.
 * Its detector was fitted on the same features of its training images with the final weights, so
 * the "distance to the labelled images" is measured in the space the model classifies in. A
 * fine-tuned model saved before ftk fitted detectors still ranks: nothing is left out as unknown
 * and novelty is measured between the picks only (said once).
 *
 * Writes (with `out`): `<out>/suggestions.csv` (rank, file, predicted class, confidence,
 * uncertainty, novelty, score, unknown score) and `<out>/suggestions.html` (a self-contained contact
 * sheet of thumbnails in rank order), each atomically.
 *
 * ```ts
 * const r = await suggest('run', ['unlabelled/'], { n: 100, out: 'to-label' });
 * r.picks[0]; // { file, rank: 1, predicted: 'cats', confidence: 0.52, ... }
 * ```
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { SvmClassifier } from '../classify/svm.js';
import type { FeatureMatrix } from '../classify/matrix.js';
import type { Dataset } from '../data/dataset.js';
import { sha256File } from '../data/hash.js';
import { FtkError, OptionsError } from '../errors.js';
import { extractFeatures } from '../extract/extract.js';
import { FINETUNED_FORMAT } from '../finetune/format.js';
import { SVM_MODEL_FORMAT } from '../formats/svm_model.js';
import { backboneOptionsFrom } from '../models/backbone.js';
import { escapeHtml } from '../report/format.js';
import { makeThumbnails } from '../report/thumbnails.js';
import { UnknownDetector } from '../trust/ood.js';
import { suggestLabels, SUGGEST_DEFAULTS, type SuggestOptions } from '../trust/suggest.js';
import { resolveInside } from '../runtime/safe_path.js';
import { FinetunedClassifier } from './finetuned.js';
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

/** The model `suggest` ranks with: an SVM model file or a fine-tuned model folder, and a note when a bundle was narrowed to it. */
export interface SuggestModel {
  kind: 'svm' | 'finetuned';
  path: string;
  note?: string;
}

/**
 * The model behind a model path: an SVM JSON, a fine-tuned model folder, an auto bundle (its first
 * member), or a run folder holding `bundle/`.
 */
export async function resolveSuggestModel(source: string): Promise<SuggestModel> {
  const stat = await fsp.stat(source).catch(() => undefined);
  if (stat?.isDirectory() && !(await fsp.stat(path.join(source, 'ftk.json')).catch(() => undefined)) && (await fsp.stat(path.join(source, 'bundle', 'ftk.json')).catch(() => undefined))) {
    return resolveSuggestModel(path.join(source, 'bundle'));
  }
  const tag = await formatTag(source);
  if (tag === SVM_MODEL_FORMAT) return { kind: 'svm', path: source };
  if (tag === FINETUNED_FORMAT) return { kind: 'finetuned', path: source };
  if (tag === 'ftk-auto-bundle') {
    const meta = JSON.parse(await fsp.readFile(path.join(source, 'ftk.json'), 'utf8')) as { chosen?: string; classifier?: string; members?: unknown[] };
    const inner = meta.classifier ? resolveInside(source, meta.classifier) : undefined;
    if (inner) {
      const innerTag = await formatTag(inner).catch(() => undefined);
      if (innerTag === SVM_MODEL_FORMAT || innerTag === FINETUNED_FORMAT) {
        const kind = innerTag === SVM_MODEL_FORMAT ? 'svm' : 'finetuned';
        // An ensemble bundle averages several models; one model's probabilities and features rank the images.
        const note = (meta.members?.length ?? 1) > 1 ? `${source} averages ${meta.members!.length} models; the ranking uses its first member, ${meta.classifier}.` : undefined;
        return { kind, path: inner, ...(note ? { note } : {}) };
      }
    }
    throw new FtkError(`${source} is an ftk auto bundle whose classifier (${String(meta.classifier)}) is neither an SVM model nor a fine-tuned model folder.`, {
      code: 'SUGGEST_UNSUPPORTED_MODEL',
      suggestion: 'Pass the bundle folder as `ftk auto` wrote it, or the model inside it.',
    });
  }
  throw new FtkError(`${source} is a ${tag} model; \`ftk suggest\` ranks images with SVM models, fine-tuned model folders and auto bundles.`, {
    code: 'SUGGEST_UNSUPPORTED_MODEL',
    suggestion: 'Pass the model.json of `ftk svm fit --probability`, the --out folder of `ftk finetune`, or the run folder of `ftk auto`.',
  });
}

/** The SVM model file behind a model path (see `resolveSuggestModel`); a fine-tuned model is refused. */
export async function resolveSvmModelFile(source: string): Promise<string> {
  const m = await resolveSuggestModel(source);
  if (m.kind !== 'svm') {
    throw new FtkError(`${source} holds a fine-tuned model, not an SVM model.`, { code: 'SUGGEST_UNSUPPORTED_MODEL', suggestion: 'Use resolveSuggestModel, which serves both.' });
  }
  return m.path;
}

/** What the ranking needs from a model: per decoded image its calibrated probabilities and features. */
interface ModelRows {
  modelFile: string;
  names: string[];
  /** Decoded images, in feature-row order. */
  files: string[];
  probs: ArrayLike<number>[];
  X: FeatureMatrix;
  skipped: { file: string; reason: string }[];
  detector?: UnknownDetector;
}

async function svmRows(modelFile: string, files: string[], options: SuggestImagesOptions): Promise<ModelRows> {
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
    const dataset: Dataset = { root: process.cwd(), classes: [], entries: files.map((f) => ({ path: path.resolve(f), file: path.resolve(f), label: -1, className: '' })), ignored: [] };
    const r = await extractFeatures(dataset, {
      ...backboneOptionsFrom(clf.backbone),
      batchSize: options.batchSize,
      onProgress: (p) => p.phase === 'extract' && options.onProgress?.(p.done, p.total),
      onNotice: options.onNotice,
    });
    const [rows, d] = r.meta.shape;
    const X = { data: r.features, rows, cols: d };
    return {
      modelFile,
      names: clf.classNames ?? clf.classes_!.map(String),
      files: r.meta.files,
      probs: rows ? clf.predictProba(X) : [],
      X,
      skipped: r.meta.skipped.map((s) => ({ file: s.file, reason: s.reason })),
      detector: clf.unknown ? UnknownDetector.fromJSON(clf.unknown, modelFile) : undefined,
    };
  } finally {
    clf.dispose();
  }
}

async function finetunedRows(dir: string, files: string[], options: SuggestImagesOptions): Promise<ModelRows> {
  const clf = await FinetunedClassifier.load(dir);
  try {
    if (!clf.detector) options.onNotice?.(`${dir} carries no unknown detector (fine-tuned before ftk fitted one, or with --no-unknown): no image is left out as unknown, and novelty is measured between the picks only.`);
    if (!clf.meta.calibration) options.onNotice?.(`${dir} carries no calibration (trained without a validation split): uncertainty comes from its raw softmax.`);
    // Byte-identical files run once and share one feature row, so the ranking sees them as duplicates
    // (two forward passes of one image in different batches may differ in the last bits).
    const hashes = await Promise.all(files.map((f) => sha256File(f).catch(() => undefined)));
    const firstOf = new Map<string, number>();
    const unique: number[] = [];
    const rowOf = files.map((_, i) => {
      const h = hashes[i];
      const seen = h === undefined ? undefined : firstOf.get(h);
      if (seen !== undefined) return seen;
      if (h !== undefined) firstOf.set(h, unique.length);
      unique.push(i);
      return unique.length - 1;
    });
    const outs = await clf.outputs(
      unique.map((i) => files[i]),
      { batchSize: options.batchSize, features: true, onProgress: options.onProgress },
    );
    const d = clf.nFeatures;
    const kept: number[] = [];
    const skipped: { file: string; reason: string }[] = [];
    files.forEach((f, i) => {
      const o = outs[rowOf[i]];
      if ('error' in o) skipped.push({ file: f, reason: o.error });
      else kept.push(i);
    });
    const data = new Float32Array(kept.length * d);
    const probs: Float32Array[] = [];
    kept.forEach((i, r) => {
      const o = outs[rowOf[i]] as { probabilities: Float32Array; features: Float32Array };
      data.set(o.features, r * d);
      probs.push(o.probabilities);
    });
    return { modelFile: dir, names: [...clf.classes], files: kept.map((i) => files[i]), probs, X: { data, rows: kept.length, cols: d }, skipped, detector: clf.detector };
  } finally {
    clf.dispose();
  }
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
  const resolved = await resolveSuggestModel(model);
  if (resolved.note) options.onNotice?.(resolved.note);
  const { files, ignored } = await collectImageFiles(inputs);
  const rowsOf = resolved.kind === 'svm' ? svmRows : finetunedRows;
  const { modelFile, names, files: rowFiles, probs, X, skipped: notDecoded, detector } = await rowsOf(resolved.path, files, options);
  const skipped = [...ignored, ...notDecoded];
  const rows = X.rows;
  if (rows === 0) {
    return { model: modelFile, picks: [], candidates: 0, unknown: [], skipped, duplicates: 0, diversity: 0, expectedErrors: 0, meanErrorAll: 0, expectation: 'No decodable image to rank.' };
  }
  let unknownScores: Float64Array | undefined;
  let labelled;
  const exclude: number[] = [];
  if (detector) {
    unknownScores = detector.score(X);
    labelled = detector.referenceFeatures();
    if (!options.includeUnknown) unknownScores.forEach((s, i) => s > detector.threshold_! && exclude.push(i));
  }
  const s = suggestLabels(probs, X, { n, seed: options.seed, diversity: options.diversity, labelled, exclude });
  const picks: SuggestedFile[] = s.picks.map((p) => ({
    rank: p.rank,
    file: rowFiles[p.index],
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
    `How much accuracy that buys depends on the data: on cats-dogs and flowers ftk measured it against random picks with SVM models (bench/RESULTS.md, "labelling order").`;
  const result: SuggestImagesResult = {
    model: modelFile,
    picks,
    candidates: s.candidates,
    unknown: exclude.map((i) => rowFiles[i]),
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
}
