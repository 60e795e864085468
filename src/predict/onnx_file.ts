/**
 * `SavedClassifier` for ONNX files written by `ftk export` (src/export): the file takes decoded
 * uint8 RGB pixels of any size and computes resize, preprocessing, backbone and classifier
 * itself, so this only decodes each image (the same sharp decode as every other format) and runs
 * the file with onnxruntime-node, one image per run (images differ in size).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { decodeImageRgb, ImageDecodeError, type RgbImage } from '../data/decode.js';
import { FtkError } from '../errors.js';
import { loadOnnxRuntime } from '../runtime/onnx_engine.js';
import { readOnnxSummary } from '../runtime/onnx_graph.js';
import type { ClassifierFormat, ImageScores, PredictImagesOptions, SavedClassifier } from './classifier.js';

/** The format tag `ftk predict` gives `.onnx` files (and the `ftk.format` metadata of exports). */
export const ONNX_CLASSIFIER_TAG = 'ftk-onnx-classifier';

function notExport(file: string, why: string): FtkError {
  return new FtkError(`${file} is not a classifier exported by ftk: ${why}.`, {
    code: 'ONNX_CLASSIFIER_INVALID',
    suggestion: 'Export one with `ftk export <model> --out classifier.onnx`; ONNX backbones go to `ftk bottleneck extract --model onnx:<file>`.',
  });
}

export class OnnxFileClassifier implements SavedClassifier {
  readonly format = ONNX_CLASSIFIER_TAG;

  private constructor(
    readonly source: string,
    readonly classes: readonly string[],
    readonly description: string,
    readonly metadata: Record<string, string>,
    private session: Ort.InferenceSession | undefined,
    private readonly ort: typeof Ort,
  ) {}

  static async load(file: string): Promise<OnnxFileClassifier> {
    const bytes = new Uint8Array(await fsp.readFile(file));
    let metadata: Record<string, string>;
    try {
      metadata = readOnnxSummary(bytes).metadata;
    } catch (err) {
      throw notExport(file, (err as Error).message.replace(/\.$/, ''));
    }
    if (metadata['ftk.format'] !== ONNX_CLASSIFIER_TAG) throw notExport(file, 'its metadata has no ftk.format = ftk-onnx-classifier');
    let classes: unknown;
    try {
      classes = JSON.parse(metadata['ftk.classes'] ?? '');
    } catch {
      classes = undefined;
    }
    if (!Array.isArray(classes) || classes.length < 2 || !classes.every((c) => typeof c === 'string')) throw notExport(file, 'its ftk.classes metadata is not a list of class names');
    const ort = await loadOnnxRuntime();
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', interOpNumThreads: 1 });
    let kind = metadata['ftk.kind'] ?? 'classifier';
    try {
      kind = (JSON.parse(metadata['ftk.training'] ?? '{}') as { description?: string }).description ?? kind;
    } catch {
      // the description is for humans only
    }
    return new OnnxFileClassifier(file, classes as string[], `ONNX export (${path.basename(file)}): ${kind}, ${classes.length} classes`, metadata, session, ort);
  }

  /** Runs the file on decoded pixels: probabilities [k] and the label index. */
  async run(image: RgbImage): Promise<{ probabilities: Float32Array; label: number }> {
    if (!this.session) throw new FtkError('This classifier was disposed.', { code: 'DISPOSED' });
    const pixels = new this.ort.Tensor('uint8', image.data, [1, image.height, image.width, 3]);
    const out = await this.session.run({ pixels });
    const probabilities = Float32Array.from(out.probabilities.data as Float32Array);
    const label = Number((out.label.data as BigInt64Array)[0]);
    for (const t of Object.values(out)) t.dispose();
    return { probabilities, label };
  }

  async predictImages(files: readonly string[], options: PredictImagesOptions = {}): Promise<ImageScores[]> {
    const out: ImageScores[] = [];
    const decode = (f: string) => decodeImageRgb(f, { maxInputPixels: options.maxInputPixels }).catch((err: unknown) => (err instanceof ImageDecodeError ? err : new ImageDecodeError(f, `decode failed: ${(err as Error).message}`)));
    let next = files.length ? decode(files[0]) : undefined;
    for (let i = 0; i < files.length; i++) {
      const image = await next!;
      next = i + 1 < files.length ? decode(files[i + 1]) : undefined;
      out.push(image instanceof ImageDecodeError ? { error: image.reason } : { probabilities: (await this.run(image)).probabilities });
      options.onProgress?.(i + 1, files.length);
    }
    return out;
  }

  dispose(): void {
    void this.session?.release();
    this.session = undefined;
  }
}

export const onnxFileFormat: ClassifierFormat = Object.freeze({
  format: ONNX_CLASSIFIER_TAG,
  description: 'an ONNX file written by `ftk export`',
  load: (source: string) => OnnxFileClassifier.load(source),
});
