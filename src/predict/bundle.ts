/**
 * The auto-mode bundle: one folder `ftk predict` takes, holding the winner refitted on all data.
 *
 *   bundle/ftk.json     AutoBundleMeta (format 'ftk-auto-bundle')
 *   bundle/svm.json     an SVM / linear model on backbone features (its backbone record says the
 *                       input size, crop and TTA it was fitted on; predict applies them)
 *   bundle/svm-2.json   the second member of a feature pair, if any
 *   bundle/model/       a fine-tuned model folder
 *
 * `members` (format version 2) lists the models whose class probabilities are averaged: one for a
 * single model, several for a feature pair or the SVM + fine-tuning ensemble. `classifier` is the
 * first member (what version-1 readers load).
 */
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { FtkError } from '../errors.js';
import type { BackboneInfo } from '../formats/features.js';
import type { PathName } from '../formats/run_report.js';
import type { ClassifierFormat, ImageScores, SavedClassifier } from './classifier.js';
import { resolveInside } from '../runtime/safe_path.js';

export const AUTO_BUNDLE_FORMAT = 'ftk-auto-bundle';
export const AUTO_BUNDLE_FORMAT_VERSION = 2;

export interface BundleMember {
  /** The path it comes from ('svm' for every feature-path model). */
  path: 'svm' | 'finetune' | 'scratch';
  /** Relative to the bundle folder. */
  classifier: string;
  /** Its configuration in words and numbers (input size, crop, TTA, C, gamma, epochs...). */
  config?: Record<string, string | number | boolean | null>;
}

export interface AutoBundleMeta {
  format: typeof AUTO_BUNDLE_FORMAT;
  formatVersion: number;
  chosen: PathName;
  /** The first member's classifier, relative to the bundle folder. */
  classifier: string;
  /** Models whose probabilities are averaged (version 2; absent: `classifier` alone). */
  members?: BundleMember[];
  classes: string[];
  /** Backbone whose features (SVM) or weights (fine-tuning) the first member stands on. */
  backbone: BackboneInfo;
  /** The decision and its evidence, in sentences. */
  reasons: string[];
  createdAt: string;
}

function inside(source: string, file: string): string {
  const p = resolveInside(source, file);
  if (p === undefined) {
    throw new FtkError(`${path.join(source, 'ftk.json')} names the classifier '${String(file)}', outside the bundle folder.`, {
      code: 'BUNDLE_INVALID',
      suggestion: 'Use the bundle folder as `ftk auto` wrote it (the classifier lies inside it).',
    });
  }
  return p;
}

/** The mean of the members' probabilities; the unknown score of the first member that has one. */
export function averageScores(perMember: readonly (readonly ImageScores[])[]): ImageScores[] {
  return perMember[0].map((_, i) => {
    const rows = perMember.map((m) => m[i]);
    const failed = rows.find((r) => 'error' in r);
    if (failed) return failed;
    const ok = rows as { probabilities: Float32Array; unknownScore?: number; unknownThreshold?: number }[];
    const p = new Float32Array(ok[0].probabilities.length);
    for (const r of ok) r.probabilities.forEach((v, c) => (p[c] += v / ok.length));
    const withUnknown = ok.find((r) => r.unknownScore !== undefined);
    return { probabilities: p, ...(withUnknown ? { unknownScore: withUnknown.unknownScore, unknownThreshold: withUnknown.unknownThreshold } : {}) };
  });
}

/** `ftk predict <bundle>`: the members, described as the bundle's choice. */
export function autoBundleFormat(load: (source: string) => Promise<SavedClassifier>): ClassifierFormat {
  return {
    format: AUTO_BUNDLE_FORMAT,
    description: 'an `ftk auto` bundle folder',
    async load(source: string): Promise<SavedClassifier> {
      const meta = JSON.parse(await fsp.readFile(path.join(source, 'ftk.json'), 'utf8')) as AutoBundleMeta;
      const files = meta.members?.length ? meta.members.map((m) => m.classifier) : [meta.classifier];
      const inner: SavedClassifier[] = [];
      try {
        for (const f of files) inner.push(await load(inside(source, f)));
      } catch (e) {
        inner.forEach((c) => c.dispose());
        throw e;
      }
      const names = inner[0].classes.join('\n');
      if (inner.some((c) => c.classes.join('\n') !== names)) {
        inner.forEach((c) => c.dispose());
        throw new FtkError(`The members of the bundle ${source} disagree on the classes.`, { code: 'BUNDLE_INVALID', suggestion: 'Run `ftk auto` again to write a consistent bundle.' });
      }
      return {
        format: AUTO_BUNDLE_FORMAT,
        source,
        classes: inner[0].classes,
        description:
          inner.length === 1
            ? `ftk auto bundle (chose ${meta.chosen}): ${inner[0].description}`
            : `ftk auto bundle (chose ${meta.chosen}): mean of the probabilities of ${inner.length} models: ${inner.map((c) => c.description).join('; ')}`,
        predictImages: async (imageFiles, options) => {
          if (inner.length === 1) return inner[0].predictImages(imageFiles, options);
          const all: ImageScores[][] = [];
          for (const c of inner) all.push(await c.predictImages(imageFiles, options));
          return averageScores(all);
        },
        dispose: () => inner.forEach((c) => c.dispose()),
      };
    },
  };
}
