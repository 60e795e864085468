/**
 * `predict()`: class probabilities of image files with a saved classifier (`ftk predict`).
 * Inputs are files or folders (searched recursively, hidden entries skipped, images by the
 * extensions ftk decodes), in code-point order of their paths.
 *
 * @example
 * const { predictions } = await predict('cats-model', ['photos/']);
 * predictions[0]; // { file: 'photos/1.jpg', label: 'cats', labelIndex: 0, unknown: false, unknownScore: 0.41, unknownThreshold: 0.62, probabilities: { cats: 0.97, dogs: 0.03 }, top: [...] }
 *
 * Unknown images: a classifier that carries an unknown detector (SVM models, fine-tuned model
 * folders, bundles and ONNX exports of them fitted by this ftk: src/trust/ood.ts) scores every image; above the detector's threshold the image is
 * `unknown: true` with `label: null` and `labelIndex: null` (probabilities and `top` are still
 * given, for the record). `unknown: false` in the options turns the check off (`ftk predict --no-unknown`).
 */
import type { Dirent } from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { compareCodePoints, IMAGE_EXTENSIONS } from '../data/dataset.js';
import { FtkError, OptionsError } from '../errors.js';
import { selectBackend, type BackendName } from '../runtime/backend.js';
import type { FailedPrediction, Prediction } from '../formats/prediction.js';
import type { DeviceRecord } from '../formats/device.js';
import { chooseDevice, trainingBackendFor, type DeviceChoice, type DeviceName } from '../runtime/device.js';
import type { ClassifierFormat } from './classifier.js';
import { CLASSIFIER_FORMATS, loadClassifier } from './formats.js';

export interface PredictOptions {
  /** Labels kept in `top`, best first. Default 1. */
  topK?: number;
  /** Images per inference batch. Default 32. */
  batchSize?: number;
  /** tfjs backend. Default 'auto' (a GPU `device` sets it). */
  backend?: BackendName | 'auto';
  /**
   * Where the model runs (src/runtime/device.ts): SVM models' backbone on ONNX Runtime's provider,
   * fine-tuned models on the device's TF.js backend (WebGPU on a GPU). Default 'auto'.
   */
  device?: DeviceName | DeviceChoice;
  maxInputPixels?: number;
  /** Mark images unlike the training images as unknown (when the model carries a detector). Default true. */
  unknown?: boolean;
  /** Formats served (default: all of `CLASSIFIER_FORMATS`). */
  formats?: readonly ClassifierFormat[];
  onProgress?: (done: number, total: number) => void;
  onNotice?: (message: string) => void;
}

/** One image's prediction: ftk's one prediction schema (src/formats/prediction.ts) plus the top classes. */
export interface ImagePrediction extends Prediction {
  file: string;
  /** The most probable class; null when the image is unknown. */
  label: string | null;
  /** True when the unknown score is above the model's threshold (always false without a detector or with `unknown: false`). */
  unknown: boolean;
  /** Probability of every class. */
  probabilities: Record<string, number>;
  /** The `topK` most probable classes, best first. */
  top: { label: string; probability: number }[];
}

export type { FailedPrediction };

export interface PredictResult {
  model: { source: string; format: string; description: string; classes: string[] };
  predictions: (ImagePrediction | FailedPrediction)[];
  /** Inputs that were not images (listed with why). */
  ignored: { file: string; reason: string }[];
  seconds: number;
  /** The device it ran on. */
  device: DeviceRecord;
}

/**
 * Image files of the inputs: files as given, folders walked recursively (symlinked folders
 * followed, each real folder once, so a symlink loop is listed instead of walked again).
 */
export async function collectImageFiles(inputs: readonly string[]): Promise<{ files: string[]; ignored: { file: string; reason: string }[] }> {
  if (inputs.length === 0) throw new OptionsError('No image given.', { code: 'PREDICT_NO_INPUT', suggestion: 'Pass image files or folders after the model.' });
  const files: string[] = [];
  const ignored: { file: string; reason: string }[] = [];
  const visited = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      const real = await fsp.realpath(dir);
      if (visited.has(real)) {
        ignored.push({ file: dir, reason: 'folder already walked (a symlink loop, or given twice)' });
        return;
      }
      visited.add(real);
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      ignored.push({ file: dir, reason: `unreadable folder (${(err as NodeJS.ErrnoException).code})` });
      return;
    }
    entries.sort((a, b) => compareCodePoints(a.name, b.name));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.name.startsWith('.')) continue;
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) isDir = (await fsp.stat(p).catch(() => undefined))?.isDirectory() ?? false;
      if (isDir) await walk(p);
      else if (IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) files.push(p);
      else ignored.push({ file: p, reason: 'not an image file extension' });
    }
  };
  for (const input of inputs) {
    const stat = await fsp.stat(input).catch(() => undefined);
    if (!stat) throw new FtkError(`${input} does not exist.`, { code: 'PREDICT_INPUT_MISSING', suggestion: 'Check the path of the image or folder.' });
    if (stat.isDirectory()) await walk(input);
    else files.push(input); // a file named explicitly is tried whatever its extension
  }
  return { files, ignored };
}

/** Predicts every image of `inputs` with the classifier saved at `model`. */
export async function predict(model: string, inputs: readonly string[], options: PredictOptions = {}): Promise<PredictResult> {
  const started = performance.now();
  const topK = options.topK ?? 1;
  if (!Number.isInteger(topK) || topK < 1) throw new OptionsError(`topK must be an integer >= 1. Received ${topK}.`);
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new OptionsError(`batchSize must be an integer >= 1. Received ${batchSize}.`);
  const { files, ignored } = await collectImageFiles(inputs);
  const device = await chooseDevice(options.device, { onNotice: options.onNotice });
  const backend = device.provider === 'cpu' ? (options.backend ?? 'auto') : await trainingBackendFor(device);
  await selectBackend({ backend, onNotice: options.onNotice });
  const classifier = await loadClassifier(model, options.formats ?? CLASSIFIER_FORMATS);
  try {
    const checkUnknown = options.unknown ?? true;
    const scores = await classifier.predictImages(files, { batchSize, maxInputPixels: options.maxInputPixels, onProgress: options.onProgress, device, unknown: checkUnknown });
    const classes = [...classifier.classes];
    const predictions = files.map((file, i): ImagePrediction | FailedPrediction => {
      const s = scores[i];
      if ('error' in s) return { file, error: s.error };
      const probabilities: Record<string, number> = {};
      classes.forEach((c, k) => (probabilities[c] = s.probabilities[k]));
      const order = classes.map((_, k) => k).sort((a, b) => s.probabilities[b] - s.probabilities[a] || a - b);
      const top = order.slice(0, Math.min(topK, classes.length)).map((k) => ({ label: classes[k], probability: s.probabilities[k] }));
      const scored = checkUnknown && s.unknownScore !== undefined && s.unknownThreshold !== undefined;
      const unknown = scored && s.unknownScore! > s.unknownThreshold!;
      return {
        file,
        label: unknown ? null : top[0].label,
        labelIndex: unknown ? null : order[0],
        unknown,
        ...(scored ? { unknownScore: s.unknownScore, unknownThreshold: s.unknownThreshold } : {}),
        probabilities,
        top,
      };
    });
    return {
      model: { source: model, format: classifier.format, description: classifier.description, classes },
      predictions,
      ignored,
      seconds: (performance.now() - started) / 1000,
      device: device.record,
    };
  } finally {
    classifier.dispose();
  }
}
