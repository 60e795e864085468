/**
 * `SavedClassifier` for fine-tuned model folders (src/finetune/format.ts).
 *
 * A model that carries an unknown detector (`unknown` in ftk.json) is run as one graph with two
 * outputs, the softmax and the features its classifier reads (`featureTensor`), so the unknown
 * score costs no second forward pass. Models without one (written before ftk fitted it, or with
 * `unknown: false`) predict exactly as before.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { decodeImage, ImageDecodeError } from '../data/decode.js';
import { FtkError } from '../errors.js';
import { featureTensor, loadFinetunedLayersModel, readFinetunedMeta, FINETUNED_FORMAT, META_JSON, type FinetunedModelMeta } from '../finetune/format.js';
import { describePreprocess, preprocessPixels } from '../models/imagenet_utils.js';
import { applyCalibration } from '../trust/calibrate.js';
import { UnknownDetector } from '../trust/ood.js';
import type { ClassifierFormat, ImageScores, PredictImagesOptions, SavedClassifier } from './classifier.js';

/** One image through the network: calibrated probabilities and, when asked for, its features. */
export type ImageOutputs = { probabilities: Float32Array; features?: Float32Array } | { error: string };

export class FinetunedClassifier implements SavedClassifier {
  readonly format = FINETUNED_FORMAT;
  readonly classes: readonly string[];
  readonly description: string;
  /** The saved unknown detector, or undefined (a model without one). */
  readonly detector: UnknownDetector | undefined;
  /** The same network with the features as a second output; built when first needed. */
  private withFeatures: tf.LayersModel | undefined;

  private constructor(
    readonly source: string,
    readonly meta: FinetunedModelMeta,
    private readonly model: tf.LayersModel,
  ) {
    this.classes = meta.classes;
    const p = meta.preprocessing;
    const arch = `${meta.architecture}${meta.alpha !== undefined ? ` ${meta.alpha}` : ''}`;
    this.description = `${arch} ${meta.weights === 'none' ? 'trained from scratch' : 'fine-tuned'}, ${p.inputSize}x${p.inputSize} (${p.crop}, '${describePreprocess(p.mode)}' preprocessing), ${meta.classes.length} classes`;
    this.detector = meta.unknown ? UnknownDetector.fromJSON(meta.unknown, path.join(source, META_JSON)) : undefined;
  }

  static async load(dir: string): Promise<FinetunedClassifier> {
    const meta = await readFinetunedMeta(dir);
    const model = await loadFinetunedLayersModel(dir, meta);
    try {
      const c = new FinetunedClassifier(dir, meta, model);
      // Checked at load, not at the first image: a detector that cannot read this network is a broken folder.
      if (c.detector) c.featureModel();
      return c;
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  /** Width of the features (the classifier's input). */
  get nFeatures(): number {
    return this.featureModel().outputs[1].shape[1] as number;
  }

  /** [probabilities, features] in one graph; checks the features against the detector's. */
  private featureModel(): tf.LayersModel {
    if (this.withFeatures) return this.withFeatures;
    const features = featureTensor(this.model);
    const where = path.join(this.source, META_JSON);
    if (!features) {
      throw new FtkError(`${this.source}: the model's classifier layer does not read one flat feature vector, so ftk has no features for the unknown detector or for ranking.`, {
        code: 'MODEL_FOLDER_INVALID',
        suggestion: `Predict with --no-unknown, or delete the "unknown" field of ${where}.`,
      });
    }
    const u = this.meta.unknown;
    if (u && (u.layer !== features.sourceLayer.name || u.nFeatures !== features.shape[1])) {
      throw new FtkError(`${where}: the unknown detector reads ${u.nFeatures} features of layer ${u.layer}, but the model's classifier reads ${features.shape[1]} of layer ${features.sourceLayer.name}.`, {
        code: 'UNKNOWN_DETECTOR_INVALID',
        suggestion: 'Fine-tune again, or delete the "unknown" field to predict without unknown detection.',
      });
    }
    // A view of the same layers (no weights copied): disposing `model` frees them.
    this.withFeatures = tf.model({ inputs: this.model.inputs, outputs: [this.model.outputs[0], features] });
    return this.withFeatures;
  }

  /**
   * Calibrated probabilities of each image and, with `features: true`, the features its classifier
   * reads, from one forward pass per batch. An undecodable image gets `{ error }`.
   */
  async outputs(files: readonly string[], options: PredictImagesOptions & { features?: boolean } = {}): Promise<ImageOutputs[]> {
    const batchSize = options.batchSize ?? 32;
    const { inputSize, crop, mode } = this.meta.preprocessing;
    const perImage = inputSize * inputSize * 3;
    const net = options.features ? this.featureModel() : this.model;
    const out: ImageOutputs[] = new Array(files.length);
    const decode = (start: number) =>
      Promise.all(
        files.slice(start, start + batchSize).map((f) =>
          decodeImage(f, { size: inputSize, crop, maxInputPixels: options.maxInputPixels }).then(
            (d) => d.pixels,
            (err: unknown) => (err instanceof ImageDecodeError ? err : new ImageDecodeError(f, `decode failed: ${(err as Error).message}`)),
          ),
        ),
      );
    let pending = files.length ? decode(0) : undefined;
    for (let start = 0; start < files.length; start += batchSize) {
      const decoded = await pending!;
      pending = start + batchSize < files.length ? decode(start + batchSize) : undefined;
      const good = decoded.map((d, k) => ({ d, k })).filter((x): x is { d: Float32Array; k: number } => !(x.d instanceof Error));
      decoded.forEach((d, k) => {
        if (d instanceof ImageDecodeError) out[start + k] = { error: d.reason };
      });
      if (good.length) {
        const buffer = new Float32Array(good.length * perImage);
        good.forEach(({ d }, j) => buffer.set(d, j * perImage));
        preprocessPixels(buffer, mode);
        const result = tf.tidy(() => net.predict(tf.tensor4d(buffer, [good.length, inputSize, inputSize, 3])) as tf.Tensor | tf.Tensor[]);
        const [probs, feats] = Array.isArray(result) ? result : [result];
        const values = (await probs.data()) as Float32Array;
        const featureValues = feats ? ((await feats.data()) as Float32Array) : undefined;
        tf.dispose(result);
        const k = this.classes.length;
        const d = feats ? (feats.shape[1] as number) : 0;
        const cal = this.meta.calibration;
        good.forEach(({ k: idx }, j) => {
          const row = values.slice(j * k, (j + 1) * k);
          out[start + idx] = {
            probabilities: cal ? Float32Array.from(applyCalibration(cal, [row])[0]) : row,
            ...(featureValues ? { features: featureValues.slice(j * d, (j + 1) * d) } : {}),
          };
        });
      }
      options.onProgress?.(Math.min(start + batchSize, files.length), files.length);
    }
    return out;
  }

  async predictImages(files: readonly string[], options: PredictImagesOptions = {}): Promise<ImageScores[]> {
    const det = options.unknown !== false ? this.detector : undefined;
    const rows = await this.outputs(files, { ...options, features: det !== undefined });
    if (!det) return rows.map((r) => ('error' in r ? r : { probabilities: r.probabilities }));
    const threshold = det.threshold_!;
    return rows.map((r) => {
      if ('error' in r) return r;
      const unknownScore = det.score({ data: r.features!, rows: 1, cols: r.features!.length })[0];
      return { probabilities: r.probabilities, unknownScore, unknownThreshold: threshold };
    });
  }

  dispose(): void {
    // `withFeatures` shares the layers: one dispose frees the weights.
    this.model.dispose();
  }
}

export const finetunedFormat: ClassifierFormat = Object.freeze({
  format: FINETUNED_FORMAT,
  description: 'a fine-tuned model folder (model.json + weights.bin + ftk.json), written by `ftk finetune`',
  load: (source: string) => FinetunedClassifier.load(source),
});
