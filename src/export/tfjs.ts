/**
 * `ftk export <model> --format tfjs --out <dir>`: a fine-tuned model (or an auto bundle that chose
 * fine-tuning) as a TF.js layers model that is complete on its own:
 *
 *   <dir>/model.json    the layers model, with `userDefinedMetadata.ftk` = the preprocessing
 *                       (`tf.loadLayersModel(...)` then `model.getUserDefinedMetadata()`)
 *   <dir>/weights.bin   its weights, unchanged
 *   <dir>/metadata.json the same facts for tools that do not open model.json: class labels,
 *                       input size, crop, resize rule, preprocessing formula
 *
 * SVM models have no TF.js form (their classifier is not a layers model): export them to ONNX.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { AUTO_BUNDLE_FORMAT, type AutoBundleMeta } from '../predict/bundle.js';
import { ExportError, FtkError } from '../errors.js';
import { FINETUNED_FORMAT, MODEL_JSON, readFinetunedMeta, type FinetunedModelMeta } from '../finetune/format.js';
import { describePreprocess } from '../models/preprocess.js';
import type { PreprocessMode } from '../models/types.js';
import { formatTag } from '../predict/formats.js';
import { packageInfo } from '../runtime/package_info.js';
import { resolveInside } from '../runtime/safe_path.js';
import { writeFileAtomic } from './export.js';

export interface TfjsExportResult {
  dir: string;
  files: string[];
  metadata: TfjsExportMetadata;
}

export interface TfjsExportMetadata {
  labels: string[];
  imageSize: number;
  crop: 'squash' | 'center';
  resize: string;
  preprocessing: PreprocessMode;
  /** The preprocessing as a formula on 0..255 RGB values, e.g. 'x / 127.5 - 1'. */
  preprocessingFormula: string;
  input: string;
  output: string;
  accuracy: number | null;
  ftkVersion: string;
  architecture: string;
}

function formula(mode: PreprocessMode): string {
  if (typeof mode === 'object') return `(${mode.channels === 'bgr' ? 'BGR' : 'RGB'} x * ${mode.scale} - [${mode.mean.join(', ')}]) / [${mode.std.join(', ')}]`;
  if (mode === 'tf') return 'x / 127.5 - 1';
  if (mode === 'torch') return '(x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]';
  return 'RGB -> BGR, then x - [103.939, 116.779, 123.68]';
}

async function finetunedFolder(source: string): Promise<string> {
  const tag = await formatTag(source);
  if (tag === FINETUNED_FORMAT) return source;
  if (tag === AUTO_BUNDLE_FORMAT) {
    const meta = JSON.parse(await fsp.readFile(path.join(source, 'ftk.json'), 'utf8')) as AutoBundleMeta;
    if (meta.chosen === 'svm') {
      throw new ExportError(`Cannot export ${source} as TF.js: the bundle holds an SVM, which is not a TF.js layers model.`, { code: 'EXPORT_TFJS_SVM', suggestion: 'Export it to ONNX instead: ftk export <bundle> --out classifier.onnx.' });
    }
    const inner = resolveInside(source, meta.classifier);
    if (!inner) throw new ExportError(`Cannot export ${source}: ftk.json names a classifier outside the bundle.`, { code: 'EXPORT_BAD_MODEL', suggestion: 'Use the bundle folder as `ftk auto` wrote it.' });
    return inner;
  }
  throw new ExportError(`Cannot export ${source} as TF.js: --format tfjs takes fine-tuned model folders (format "${tag}" is not one).`, { code: 'EXPORT_TFJS_SVM', suggestion: 'Export SVM models to ONNX: ftk export <model> --out classifier.onnx.' });
}

/** Writes the TF.js export of `source` into `dir` (each file atomically). */
export async function exportTfjs(source: string, dir: string): Promise<TfjsExportResult> {
  let folder: string;
  let meta: FinetunedModelMeta;
  try {
    folder = await finetunedFolder(source);
    meta = await readFinetunedMeta(folder);
  } catch (err) {
    if (err instanceof ExportError || !(err instanceof FtkError)) throw err;
    throw new ExportError(`Cannot export ${source}: ${err.message}`, { code: 'EXPORT_BAD_MODEL', suggestion: err.suggestion, cause: err });
  }
  const modelFile = resolveInside(folder, meta.files?.model ?? MODEL_JSON);
  let modelJson: Record<string, unknown> & { weightsManifest?: { paths: string[] }[] };
  try {
    modelJson = JSON.parse(await fsp.readFile(modelFile ?? '', 'utf8'));
  } catch (err) {
    throw new ExportError(`Cannot export ${source}: its model.json is missing or not JSON (${(err as Error).message}).`, { code: 'EXPORT_BAD_MODEL', suggestion: 'Pass a finished `ftk finetune` output folder.', cause: err });
  }
  const p = meta.preprocessing;
  const metadata: TfjsExportMetadata = {
    labels: meta.classes,
    imageSize: p.inputSize,
    crop: p.crop,
    resize: 'bilinear, half-pixel centres, no antialiasing (tf.image.resizeBilinear(x, [S, S], false, true))' + (p.crop === 'center' ? ', after cropping the largest centred square' : ', aspect ratio squashed'),
    preprocessing: p.mode,
    preprocessingFormula: `${formula(p.mode)} (${describePreprocess(p.mode)})`,
    input: `float32 [batch, ${p.inputSize}, ${p.inputSize}, 3], RGB, after resize and preprocessing`,
    output: `softmax probabilities [batch, ${meta.classes.length}] in the order of labels`,
    accuracy: meta.metrics?.valAccuracy ?? meta.metrics?.cv?.meanAccuracy ?? null,
    ftkVersion: packageInfo().version,
    architecture: `${meta.architecture}${meta.alpha !== undefined ? ` ${meta.alpha}` : ''}`,
  };
  const shards = (modelJson.weightsManifest ?? []).flatMap((g) => g.paths);
  const out = path.resolve(dir);
  await fsp.mkdir(out, { recursive: true });
  const files: string[] = [];
  for (const shard of shards) {
    const from = resolveInside(folder, shard);
    const to = resolveInside(out, shard);
    if (!from || !to) throw new ExportError(`Cannot export ${source}: model.json names the weight file '${shard}' outside its folder.`, { code: 'EXPORT_BAD_MODEL', suggestion: 'Pass a model folder written by `ftk finetune`.' });
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(from);
    } catch (err) {
      throw new ExportError(`Cannot export ${source}: weight file ${shard} is missing.`, { code: 'EXPORT_BAD_MODEL', suggestion: 'Pass a complete `ftk finetune` output folder.', cause: err });
    }
    await writeFileAtomic(to, bytes);
    files.push(to);
  }
  const modelOut = path.join(out, MODEL_JSON);
  await writeFileAtomic(modelOut, JSON.stringify({ ...modelJson, userDefinedMetadata: { ftk: metadata } }));
  const metaOut = path.join(out, 'metadata.json');
  await writeFileAtomic(metaOut, JSON.stringify(metadata, null, 1) + '\n');
  return { dir: out, files: [modelOut, ...files, metaOut], metadata };
}
