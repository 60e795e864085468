/**
 * `SavedClassifier` for SVM models (`ftk svm fit --out model.json`): images are turned into
 * bottleneck features with the backbone the model was trained on (name, weights, layer, pooling,
 * preprocessing, input size, crop, test-time augmentation: all recorded in the model, and
 * `backboneOptionsFrom` passes every one of them on), through the feature cache, then
 * classified in JS from the stored support vectors.
 */
import path from 'node:path';
import { hasProbabilities, loadSvmOrLinearModel } from '../classify/commands.js';
import type { LinearClassifier } from '../classify/linear.js';
import { SvmClassifier } from '../classify/svm.js';
import type { Dataset } from '../data/dataset.js';
import { DatasetError } from '../errors.js';
import { extractFeatures } from '../extract/extract.js';
import { LINEAR_MODEL_FORMAT } from '../formats/linear_model.js';
import { SVM_MODEL_FORMAT } from '../formats/svm_model.js';
import { backboneLabel, backboneOptionsFrom } from '../models/backbone.js';
import { describePreprocess } from '../models/preprocess.js';
import { UnknownDetector } from '../trust/ood.js';
import type { ClassifierFormat, ImageScores, PredictImagesOptions, SavedClassifier } from './classifier.js';

export class SvmImageClassifier implements SavedClassifier {
  readonly format: string;
  readonly classes: readonly string[];
  readonly description: string;

  private constructor(
    readonly source: string,
    private readonly model: SvmClassifier | LinearClassifier,
  ) {
    this.format = model instanceof SvmClassifier ? SVM_MODEL_FORMAT : LINEAR_MODEL_FORMAT;
    this.classes = model.classNames ?? model.classes_!.map(String);
    const b = model.backbone!;
    const what = model instanceof SvmClassifier ? `${(model.toJSON().params as { kernel?: string }).kernel ?? ''} SVM` : model.kind === 'logistic' ? 'logistic regression' : 'linear SVM (LinearSVC)';
    this.description = `${what} on ${backboneLabel(b)} ${b.layer} features (${b.pooling} pooling, ${b.inputSize}x${b.inputSize}${b.tta === 'flip' ? ', flip TTA' : ''}${b.external ? `, '${describePreprocess(b.preprocessing)}' preprocessing` : ''}), ${this.classes.length} classes`;
  }

  static async load(file: string): Promise<SvmImageClassifier> {
    const model = await loadSvmOrLinearModel(file);
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
      device: options.device ?? 'cpu',
      onProgress: (p) => p.phase === 'extract' && options.onProgress?.(p.done, p.total),
    });
    const [n, d] = r.meta.shape;
    const X = { data: r.features, rows: n, cols: d };
    const k = this.classes.length;
    const rows: Float32Array[] = hasProbabilities(this.model)
      ? this.model.predictProba(X).map((p) => Float32Array.from(p))
      : this.model.predict(X).map((label) => {
          const oneHot = new Float32Array(k);
          oneHot[this.model.classes_!.indexOf(label)] = 1;
          return oneHot;
        });
    let unknown: { scores: Float64Array; threshold: number } | undefined;
    // Only SVM models carry an unknown detector so far (the linear models do not).
    const detector = this.model instanceof SvmClassifier ? this.model.unknown : undefined;
    if (detector && options.unknown !== false && n > 0) {
      const det = UnknownDetector.fromJSON(detector, this.source);
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

export const linearFormat: ClassifierFormat = {
  format: LINEAR_MODEL_FORMAT,
  description: 'a linear model JSON (`ftk svm fit --solver liblinear|logistic --out model.json`)',
  load: (source) => SvmImageClassifier.load(source),
};
