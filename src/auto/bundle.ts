/**
 * The auto-mode bundle: one folder `ftk predict` takes, holding the winner refitted on all data.
 *
 *   bundle/ftk.json   AutoBundleMeta (format 'ftk-auto-bundle')
 *   bundle/svm.json   the SVM model (chosen = 'svm'), or
 *   bundle/model/     the fine-tuned model folder (chosen = 'finetune' | 'scratch')
 */
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { FtkError } from '../errors.js';
import type { BackboneInfo } from '../formats/features.js';
import type { PathName } from '../formats/run_report.js';
import type { ClassifierFormat, SavedClassifier } from '../predict/classifier.js';
import { resolveInside } from '../runtime/safe_path.js';

export const AUTO_BUNDLE_FORMAT = 'ftk-auto-bundle';
export const AUTO_BUNDLE_FORMAT_VERSION = 1;

export interface AutoBundleMeta {
  format: typeof AUTO_BUNDLE_FORMAT;
  formatVersion: number;
  chosen: PathName;
  /** The inner classifier, relative to the bundle folder. */
  classifier: string;
  classes: string[];
  /** Backbone whose features (SVM) or weights (fine-tuning) the classifier stands on. */
  backbone: BackboneInfo;
  /** The decision and its evidence, in sentences. */
  reasons: string[];
  createdAt: string;
}

/** `ftk predict <bundle>`: the inner classifier, described as the bundle's choice. */
export function autoBundleFormat(load: (source: string) => Promise<SavedClassifier>): ClassifierFormat {
  return {
    format: AUTO_BUNDLE_FORMAT,
    description: 'an `ftk auto` bundle folder',
    async load(source: string): Promise<SavedClassifier> {
      const meta = JSON.parse(await fsp.readFile(path.join(source, 'ftk.json'), 'utf8')) as AutoBundleMeta;
      const classifier = resolveInside(source, meta.classifier);
      if (classifier === undefined) {
        throw new FtkError(`${path.join(source, 'ftk.json')} names the classifier '${String(meta.classifier)}', outside the bundle folder.`, {
          code: 'BUNDLE_INVALID',
          suggestion: 'Use the bundle folder as `ftk auto` wrote it (the classifier lies inside it).',
        });
      }
      const inner = await load(classifier);
      return {
        format: AUTO_BUNDLE_FORMAT,
        source,
        classes: inner.classes,
        description: `ftk auto bundle (chose ${meta.chosen}): ${inner.description}`,
        predictImages: (files, options) => inner.predictImages(files, options),
        dispose: () => inner.dispose(),
      };
    },
  };
}
