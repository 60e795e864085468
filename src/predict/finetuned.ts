/** `SavedClassifier` for fine-tuned model folders (src/finetune/format.ts). */
import * as tf from '@tensorflow/tfjs';
import { decodeImage, ImageDecodeError } from '../data/decode.js';
import { loadFinetunedLayersModel, readFinetunedMeta, FINETUNED_FORMAT, type FinetunedModelMeta } from '../finetune/format.js';
import { describePreprocess, preprocessPixels } from '../models/imagenet_utils.js';
import { applyCalibration } from '../trust/calibrate.js';
import type { ClassifierFormat, ImageScores, PredictImagesOptions, SavedClassifier } from './classifier.js';

export class FinetunedClassifier implements SavedClassifier {
  readonly format = FINETUNED_FORMAT;
  readonly classes: readonly string[];
  readonly description: string;

  private constructor(
    readonly source: string,
    readonly meta: FinetunedModelMeta,
    private readonly model: tf.LayersModel,
  ) {
    this.classes = meta.classes;
    const p = meta.preprocessing;
    const arch = `${meta.architecture}${meta.alpha !== undefined ? ` ${meta.alpha}` : ''}`;
    this.description = `${arch} ${meta.weights === 'none' ? 'trained from scratch' : 'fine-tuned'}, ${p.inputSize}x${p.inputSize} (${p.crop}, '${describePreprocess(p.mode)}' preprocessing), ${meta.classes.length} classes`;
  }

  static async load(dir: string): Promise<FinetunedClassifier> {
    const meta = await readFinetunedMeta(dir);
    const model = await loadFinetunedLayersModel(dir, meta);
    return new FinetunedClassifier(dir, meta, model);
  }

  async predictImages(files: readonly string[], options: PredictImagesOptions = {}): Promise<ImageScores[]> {
    const batchSize = options.batchSize ?? 32;
    const { inputSize, crop, mode } = this.meta.preprocessing;
    const perImage = inputSize * inputSize * 3;
    const out: ImageScores[] = new Array(files.length);
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
        const probs = tf.tidy(() => this.model.predict(tf.tensor4d(buffer, [good.length, inputSize, inputSize, 3])) as tf.Tensor);
        const values = (await probs.data()) as Float32Array;
        probs.dispose();
        const k = this.classes.length;
        const cal = this.meta.calibration;
        good.forEach(({ k: idx }, j) => {
          const row = values.slice(j * k, (j + 1) * k);
          out[start + idx] = { probabilities: cal ? Float32Array.from(applyCalibration(cal, [row])[0]) : row };
        });
      }
      options.onProgress?.(Math.min(start + batchSize, files.length), files.length);
    }
    return out;
  }

  dispose(): void {
    this.model.dispose();
  }
}

export const finetunedFormat: ClassifierFormat = Object.freeze({
  format: FINETUNED_FORMAT,
  description: 'a fine-tuned model folder (model.json + weights.bin + ftk.json), written by `ftk finetune`',
  load: (source: string) => FinetunedClassifier.load(source),
});
