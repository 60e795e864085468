import type { DeviceChoice } from '../runtime/device.js';

/**
 * "A saved classifier that predicts from images": the one interface `ftk predict` serves, whatever
 * produced the classifier (a fine-tuned model folder today; an SVM model over bottleneck features
 * and an auto-mode bundle later).
 *
 * Adding a format = one `ClassifierFormat` entry in `CLASSIFIER_FORMATS` (formats.ts): the
 * `format` tag it answers to (read from the folder's `ftk.json` or the JSON file itself) and a
 * `load` that returns a `SavedClassifier`. Nothing else in `ftk predict` changes.
 */
export interface PredictImagesOptions {
  /** Images per inference batch. Default 32. */
  batchSize?: number;
  /** Largest image decoded, in pixels. Default decodeImage's (89,478,485). */
  maxInputPixels?: number;
  /** Called after each batch. */
  onProgress?: (done: number, total: number) => void;
  /** Where the backbone runs (SVM models: extraction's device). Default: the CPU. */
  device?: DeviceChoice;
  /** Compute the unknown score when the classifier carries a detector. Default true. */
  unknown?: boolean;
}

/**
 * Class probabilities of one image (calibrated when the classifier carries a calibration), its
 * unknown score and the threshold above which it is unknown (when the classifier carries an
 * unknown detector, src/trust/ood.ts), or why there are none.
 */
export type ImageScores = { probabilities: Float32Array; unknownScore?: number; unknownThreshold?: number } | { error: string };

export interface SavedClassifier {
  /** The format tag, e.g. 'ftk-finetuned'. */
  readonly format: string;
  /** Where it was loaded from. */
  readonly source: string;
  /** Class names; index = position in each probability vector. */
  readonly classes: readonly string[];
  /** One-line description for humans ('mobilenet 0.25 fine-tuned, 224x224, 2 classes'). */
  readonly description: string;
  /**
   * Class probabilities for each image file, in order. A file that cannot be decoded gets
   * `{ error }` (the others are still predicted).
   */
  predictImages(files: readonly string[], options?: PredictImagesOptions): Promise<ImageScores[]>;
  /** Frees tensors / WASM memory. */
  dispose(): void;
}

export interface ClassifierFormat {
  /** The `format` tag this entry loads (ftk.json's or the JSON file's `format` field). */
  format: string;
  /** What it is, for the error listing the known formats. */
  description: string;
  /** Loads from a folder or file whose tag is `format`. */
  load(source: string): Promise<SavedClassifier>;
}
