/**
 * `SavedClassifier` for ONNX files written by `ftk export` (src/export): the file takes decoded
 * uint8 RGB pixels of any size and computes resize, preprocessing, backbone and classifier
 * itself, so this only decodes each image (the same sharp decode as every other format) and runs
 * the file with onnxruntime-node, one image per run (images differ in size).
 *
 * A file exported from a model with an unknown detector has an `unknown_score` output and the
 * threshold in its `ftk.unknown` metadata: predictions then carry the unknown score and threshold,
 * as with the model itself (`unknown: false` skips them).
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
    /** The threshold of the `unknown_score` output, when the file has one. */
    readonly unknownThreshold: number | undefined,
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
    let threshold: number | undefined;
    if (metadata['ftk.unknown'] !== undefined) {
      let u: { threshold?: unknown } | undefined;
      try {
        u = JSON.parse(metadata['ftk.unknown']) as { threshold?: unknown };
      } catch {
        u = undefined;
      }
      if (!u || typeof u.threshold !== 'number' || !Number.isFinite(u.threshold) || !session.outputNames.includes('unknown_score')) {
        void session.release();
        throw notExport(file, 'its ftk.unknown metadata has no numeric threshold, or the graph has no unknown_score output');
      }
      threshold = u.threshold;
    }
    return new OnnxFileClassifier(file, classes as string[], `ONNX export (${path.basename(file)}): ${kind}, ${classes.length} classes`, metadata, session, ort, threshold);
  }

  /** Runs the file on decoded pixels: probabilities [k], the label index and (files that have it) the unknown score. */
  async run(image: RgbImage): Promise<{ probabilities: Float32Array; label: number; unknownScore?: number }> {
    if (!this.session) throw new FtkError('This classifier was disposed.', { code: 'DISPOSED' });
    const pixels = new this.ort.Tensor('uint8', image.data, [1, image.height, image.width, 3]);
    const out = await this.session.run({ pixels });
    const probabilities = Float32Array.from(out.probabilities.data as Float32Array);
    const label = Number((out.label.data as BigInt64Array)[0]);
    const unknownScore = out.unknown_score ? Number((out.unknown_score.data as Float32Array)[0]) : undefined;
    for (const t of Object.values(out)) t.dispose();
    return { probabilities, label, ...(unknownScore !== undefined ? { unknownScore } : {}) };
  }

  async predictImages(files: readonly string[], options: PredictImagesOptions = {}): Promise<ImageScores[]> {
    const out: ImageScores[] = [];
    const decode = (f: string) => decodeImageRgb(f, { maxInputPixels: options.maxInputPixels }).catch((err: unknown) => (err instanceof ImageDecodeError ? err : new ImageDecodeError(f, `decode failed: ${(err as Error).message}`)));
    let next = files.length ? decode(files[0]) : undefined;
    for (let i = 0; i < files.length; i++) {
      const image = await next!;
      next = i + 1 < files.length ? decode(files[i + 1]) : undefined;
      if (image instanceof ImageDecodeError) out.push({ error: image.reason });
      else {
        const r = await this.run(image);
        const scored = options.unknown !== false && this.unknownThreshold !== undefined && r.unknownScore !== undefined;
        out.push({ probabilities: r.probabilities, ...(scored ? { unknownScore: r.unknownScore, unknownThreshold: this.unknownThreshold } : {}) });
      }
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
