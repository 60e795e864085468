/**
 * The features of every feature-path candidate, extracted once per (backbone, input size, crop,
 * TTA) and cached (a rerun, or a later candidate of the same configuration, costs nothing). The
 * matrices are aligned on one row order: the images every configuration could use, in the first
 * configuration's order (a file one configuration skipped is left out of all, and said).
 */
import type { Dataset } from '../data/dataset.js';
import { extractFeatures, type ExtractOptions, type ExtractResult } from '../extract/extract.js';
import type { BackboneChoice, FeatureCandidate } from './candidates.js';
import type { CandidateFeatures } from './feature_path.js';

export function featureConfigKey(c: Pick<FeatureCandidate, 'backbone' | 'inputSize' | 'crop' | 'tta'>): string {
  return `${c.backbone}@${c.inputSize}/${c.crop}/${c.tta}`;
}

export interface CandidateFeatureSet {
  /** Candidate id -> its matrix (aligned rows). */
  byId: Map<string, CandidateFeatures>;
  /** The first configuration's extraction, restricted to the aligned rows (files, labels, hashes...). */
  base: ExtractResult;
  /** Configuration key -> extraction record (backbone info, stats). */
  byConfig: Map<string, ExtractResult>;
  /** Seconds spent computing (not served from the cache), per configuration. */
  seconds: Map<string, number>;
}

function reorder(r: ExtractResult, files: readonly string[]): Float32Array {
  // Same rows in the same order (the usual case): no copy.
  if (r.meta.files.length === files.length && r.meta.files.every((f, i) => f === files[i])) return r.features;
  const d = r.meta.shape[1];
  const at = new Map(r.meta.files.map((f, i) => [f, i]));
  const out = new Float32Array(files.length * d);
  files.forEach((f, i) => out.set(r.features.subarray(at.get(f)! * d, (at.get(f)! + 1) * d), i * d));
  return out;
}

export async function extractCandidateFeatures(
  dataset: Dataset,
  candidates: readonly FeatureCandidate[],
  backbones: readonly BackboneChoice[],
  options: Omit<ExtractOptions, 'model' | 'alpha' | 'weights' | 'layer' | 'inputSize' | 'crop'> & { onStage?: (m: string) => void; onWarning?: (m: string) => void },
): Promise<CandidateFeatureSet> {
  const { onStage, onWarning, ...extract } = options;
  const byConfig = new Map<string, ExtractResult>();
  const seconds = new Map<string, number>();
  for (const c of candidates) {
    const key = featureConfigKey(c);
    if (byConfig.has(key)) continue;
    const b = backbones[c.backbone];
    onStage?.(`Features: ${b.model}${b.alpha !== undefined ? ` ${b.alpha}` : ''} at ${c.inputSize} px, ${c.crop}${c.tta === 'flip' ? ', flip TTA' : ''} (cached: a rerun is free)`);
    const t = performance.now();
    const r = await extractFeatures(dataset, {
      ...extract,
      model: b.model,
      alpha: b.alpha,
      weights: b.weights,
      layer: b.layer,
      preprocess: b.preprocess as ExtractOptions['preprocess'],
      inputSize: c.inputSize,
      crop: c.crop,
      tta: c.tta,
      // Skipped files are reported once, by the first configuration.
      ...(byConfig.size ? { onSkip: undefined } : {}),
    });
    byConfig.set(key, r);
    seconds.set(key, r.stats.computed > 0 ? (performance.now() - t) / 1000 : 0);
  }
  const first = byConfig.values().next().value as ExtractResult;
  const usable = new Set(first.meta.files);
  for (const r of byConfig.values()) {
    const have = new Set(r.meta.files);
    for (const f of usable) if (!have.has(f)) usable.delete(f);
  }
  const files = first.meta.files.filter((f) => usable.has(f));
  if (files.length < first.meta.files.length) {
    onWarning?.(`${first.meta.files.length - files.length} image(s) could be used by some feature configurations but not all: they are left out of the contest.`);
  }
  const keep = first.meta.files.map((f) => usable.has(f));
  const base: ExtractResult =
    files.length === first.meta.files.length
      ? first
      : {
          ...first,
          features: reorder(first, files),
          meta: {
            ...first.meta,
            files,
            labels: first.meta.labels.filter((_, i) => keep[i]),
            hashes: first.meta.hashes.filter((_, i) => keep[i]),
            shape: [files.length, first.meta.shape[1]],
          },
        };
  const byId = new Map<string, CandidateFeatures>();
  for (const c of candidates) {
    const r = byConfig.get(featureConfigKey(c))!;
    byId.set(c.id, { X: reorder(r, files), d: r.meta.shape[1] });
  }
  return { byId, base, byConfig, seconds };
}
