/**
 * The saved-classifier formats `ftk predict` serves, and the dispatcher. A source is a folder
 * (its `ftk.json` says what it holds) or a JSON file (its own `format` field).
 *
 * | format tag | what | status |
 * |---|---|---|
 * | `ftk-finetuned` | fine-tuned model folder (`ftk finetune`) | served |
 * | `ftk-svm-model` | SVM over bottleneck features (`ftk svm fit`) | served (svm.ts) |
 * | `ftk-linear-model` | LinearSVC / LogisticRegression over bottleneck features (`ftk svm fit --solver ...`) | served (svm.ts) |
 * | `ftk-auto-bundle` | `ftk auto`'s winner refitted on all data | served (src/predict/bundle.ts) |
 * | `ftk-onnx-classifier` | a `.onnx` file written by `ftk export` | served (onnx_file.ts) |
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FtkError } from '../errors.js';
import type { ClassifierFormat, SavedClassifier } from './classifier.js';
import { autoBundleFormat } from './bundle.js';
import { finetunedFormat } from './finetuned.js';
import { ONNX_CLASSIFIER_TAG, onnxFileFormat } from './onnx_file.js';
import { linearFormat, svmFormat } from './svm.js';

export const CLASSIFIER_FORMATS: readonly ClassifierFormat[] = Object.freeze([
  finetunedFormat,
  svmFormat,
  linearFormat,
  autoBundleFormat((source) => loadClassifier(source)),
  onnxFileFormat,
]);

const META = 'ftk.json';

function notAModel(source: string, why: string): FtkError {
  return new FtkError(`${source} is not a saved ftk classifier: ${why}.`, {
    code: 'CLASSIFIER_UNKNOWN',
    suggestion: `Pass one of: ${CLASSIFIER_FORMATS.map((f) => f.description).join('; ')}.`,
  });
}

/** The `format` tag of a folder (its ftk.json) or a JSON file. */
export async function formatTag(source: string): Promise<string> {
  const stat = await fsp.stat(source).catch(() => undefined);
  if (!stat) throw new FtkError(`Model ${source} does not exist.`, { code: 'CLASSIFIER_NOT_FOUND', suggestion: 'Pass the --out folder of `ftk finetune` (or a saved model file).' });
  // ONNX files (`ftk export`) are protobuf, not JSON: their extension says what they are.
  if (stat.isFile() && path.extname(source).toLowerCase() === '.onnx') return ONNX_CLASSIFIER_TAG;
  const file = stat.isDirectory() ? path.join(source, META) : source;
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw notAModel(source, stat.isDirectory() ? `the folder has no ${META} (an unfinished training leaves only checkpoint.ftkc: resume it)` : 'unreadable file');
  }
  let json: { format?: unknown };
  try {
    json = JSON.parse(text);
  } catch {
    throw notAModel(source, `${path.basename(file)} is not JSON`);
  }
  if (typeof json.format !== 'string') throw notAModel(source, `${path.basename(file)} has no "format" field`);
  return json.format;
}

/** Loads any supported saved classifier. */
export async function loadClassifier(source: string, formats: readonly ClassifierFormat[] = CLASSIFIER_FORMATS): Promise<SavedClassifier> {
  const tag = await formatTag(source);
  const format = formats.find((f) => f.format === tag);
  if (!format) throw notAModel(source, `its format "${tag}" is not served by \`ftk predict\` (known: ${formats.map((f) => f.format).join(', ')})`);
  return format.load(source);
}
