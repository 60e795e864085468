/**
 * `SavedClassifier` for SVM models (`ftk svm fit --out model.json`): images are turned into
 * bottleneck features with the backbone the model was trained on (name, weights, layer, pooling,
 * preprocessing, input size, crop: all recorded in the model), through the feature cache, then
 * classified in JS from the stored support vectors.
 */
import path from 'node:path';
import { SvmClassifier } from '../classify/svm.js';
import type { Dataset } from '../data/dataset.js';
import { DatasetError } from '../errors.js';
import { extractFeatures } from '../extract/extract.js';
import { SVM_MODEL_FORMAT } from '../formats/svm_model.js';
import { backboneLabel, backboneOptionsFrom } from '../models/backbone.js';
import { describePreprocess } from '../models/preprocess.js';
import { UnknownDetector } from '../trust/ood.js';
import type { ClassifierFormat, ImageScores, PredictImagesOptions, SavedClassifier } from './classifier.js';

export class SvmImageClassifier implements SavedClassifier {
  readonly format = SVM_MODEL_FORMAT;
  readonly classes: readonly string[];
  readonly description: string;

  private constructor(
    readonly source: string,
    private readonly model: SvmClassifier,
  ) {
    this.classes = model.classNames ?? model.classes_!.map(String);
    const b = model.backbone!;
    const p = model.toJSON().params as { kernel?: string };
    this.description = `${p.kernel ?? ''} SVM on ${backboneLabel(b)} ${b.layer} features (${b.pooling} pooling, ${b.inputSize}x${b.inputSize}${b.external ? `, '${describePreprocess(b.preprocessing)}' preprocessing` : ''}), ${this.classes.length} classes`;
  }

  static async load(file: string): Promise<SvmImageClassifier> {
    const model = await SvmClassifier.load(file);
    if (!model.backbone) {
      model.dispose();
      throw new DatasetError(`${file} does not record the backbone of its training features, so it cannot classify images.`, {
        code: 'SVM_NO_BACKBONE',
        suggestion: 'Extract features with `ftk bottleneck extract` and use `ftk svm predict <model> <features>`.',
      });
    }
    return new SvmImageClassifier(file, model);
  }

  async predictImages(files: readonly string[], options: PredictImagesOptions = {}): Promise<ImageScores[]> {
    const dataset: Dataset = {
      root: process.cwd(),
      classes: [],
      entries: files.map((f) => ({ path: path.resolve(f), file: path.resolve(f), label: -1, className: '' })),
      ignored: [],
    };
    const r = await extractFeatures(dataset, {
      ...backboneOptionsFrom(this.model.backbone!),
      batchSize: options.batchSize,
      maxInputPixels: options.maxInputPixels,
      onProgress: (p) => p.phase === 'extract' && options.onProgress?.(p.done, p.total),
    });
    const [n, d] = r.meta.shape;
    const X = { data: r.features, rows: n, cols: d };
    const k = this.classes.length;
    const rows: Float32Array[] = this.model.probA_
      ? this.model.predictProba(X).map((p) => Float32Array.from(p))
      : this.model.predict(X).map((label) => {
          const oneHot = new Float32Array(k);
          oneHot[this.model.classes_!.indexOf(label)] = 1;
          return oneHot;
        });
    let unknown: { scores: Float64Array; threshold: number } | undefined;
    if (this.model.unknown && options.unknown !== false && n > 0) {
      const det = UnknownDetector.fromJSON(this.model.unknown, this.source);
      unknown = { scores: det.score(X), threshold: det.threshold_! };
    }
    const byFile = new Map<string, ImageScores>(
      r.meta.files.map((f, i) => [f, { probabilities: rows[i], ...(unknown ? { unknownScore: unknown.scores[i], unknownThreshold: unknown.threshold } : {}) }]),
    );
    for (const s of r.meta.skipped) byFile.set(s.file, { error: s.reason });
    return dataset.entries.map((e) => byFile.get(e.file) ?? { error: 'not processed' });
  }

  dispose(): void {
    this.model.dispose();
  }
}

export const svmFormat: ClassifierFormat = {
  format: SVM_MODEL_FORMAT,
  description: 'an SVM model JSON (`ftk svm fit --out model.json`)',
  load: (source) => SvmImageClassifier.load(source),
};
