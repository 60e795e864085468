/**
 * The dataset doctor: what a user should know about a folder before trusting any score on it.
 * Class counts and imbalance, files that cannot be used, exact duplicates (same bytes) and
 * near-duplicates (bottleneck features almost identical), which leak between folds and inflate
 * cross-validated accuracy, and image sizes.
 */
import sharp from 'sharp';
import type { Dataset } from '../data/dataset.js';
import { GramEngine } from '../classify/gram.js';
import type { SkippedFile } from '../formats/features.js';

export interface DoctorOptions {
  /** Cosine similarity of L2-normalised features at or above which two images are near-duplicates. Default 0.985. */
  nearDuplicateCosine?: number;
  /** Images whose header is read for size statistics (evenly spread). Default 400. */
  sizeSample?: number;
}

export interface SizeStats {
  sampled: number;
  width: { min: number; median: number; max: number };
  height: { min: number; median: number; max: number };
  /** Fraction of sampled images whose aspect ratio is outside 0.9-1.1 (they are squashed when resized). */
  nonSquare: number;
}

export interface NearDuplicate {
  a: string;
  b: string;
  cosine: number;
  /** The two files are in different classes: a labelling problem, not only a leak. */
  crossClass: boolean;
}

export interface DoctorReport {
  classes: string[];
  counts: number[];
  total: number;
  /** Largest class count / smallest. */
  imbalance: number;
  skipped: SkippedFile[];
  duplicates: string[][];
  nearDuplicates: NearDuplicate[];
  sizes?: SizeStats;
  /** Findings with numbers and a fix, in order of importance. */
  warnings: string[];
}

const DEFAULTS = { nearDuplicateCosine: 0.985, sizeSample: 400 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}

/** Reads image headers (no decoding) of an even sample of the dataset. */
export async function imageSizes(dataset: Dataset, sample = DEFAULTS.sizeSample): Promise<SizeStats | undefined> {
  const n = dataset.entries.length;
  if (n === 0) return undefined;
  const step = Math.max(1, Math.floor(n / sample));
  const picked = dataset.entries.filter((_, i) => i % step === 0).slice(0, sample);
  const sizes = (
    await Promise.all(
      picked.map(async (e) => {
        try {
          const m = await sharp(e.path, { limitInputPixels: false }).metadata();
          const swap = (m.orientation ?? 1) >= 5;
          return m.width && m.height ? (swap ? [m.height, m.width] : [m.width, m.height]) : undefined;
        } catch {
          return undefined;
        }
      }),
    )
  ).filter((s): s is number[] => s !== undefined);
  if (!sizes.length) return undefined;
  const widths = sizes.map((s) => s[0]);
  const heights = sizes.map((s) => s[1]);
  return {
    sampled: sizes.length,
    width: { min: Math.min(...widths), median: median(widths), max: Math.max(...widths) },
    height: { min: Math.min(...heights), median: median(heights), max: Math.max(...heights) },
    nonSquare: sizes.filter(([w, h]) => w / h < 0.9 || w / h > 1.1).length / sizes.length,
  };
}

/** Pairs of rows whose L2-normalised features have cosine >= threshold (one Gram matrix, SIMD). */
export function nearDuplicates(
  features: Float32Array,
  n: number,
  d: number,
  files: readonly string[],
  labels: readonly number[],
  threshold = DEFAULTS.nearDuplicateCosine,
): NearDuplicate[] {
  const unit = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) norm += features[i * d + j] ** 2;
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < d; j++) unit[i * d + j] = features[i * d + j] * inv;
  }
  const out: NearDuplicate[] = [];
  const engine = new GramEngine();
  // Blocks of rows keep the Gram matrix small whatever n is.
  const block = 1024;
  for (let start = 0; start < n; start += block) {
    const rows = Math.min(block, n - start);
    const G = engine.cross(unit.subarray(start * d, (start + rows) * d), rows, unit, n, d);
    for (let r = 0; r < rows; r++) {
      const i = start + r;
      for (let j = i + 1; j < n; j++) {
        const c = G[r * n + j];
        if (c >= threshold) out.push({ a: files[i], b: files[j], cosine: c, crossClass: labels[i] !== labels[j] });
      }
    }
  }
  return out.sort((x, y) => y.cosine - x.cosine);
}

/** Examines a dataset (and its features, when given). */
export async function examineDataset(
  dataset: Dataset,
  extracted?: { features: Float32Array; n: number; d: number; files: readonly string[]; labels: readonly number[]; skipped: SkippedFile[]; duplicates: string[][] },
  options: DoctorOptions = {},
): Promise<DoctorReport> {
  const o = { ...DEFAULTS, ...options };
  const counts = dataset.classes.map(() => 0);
  const labels = extracted ? extracted.labels : dataset.entries.map((e) => e.label);
  for (const l of labels) counts[l]++;
  const total = labels.length;
  const imbalance = Math.max(...counts) / Math.max(1, Math.min(...counts));
  const skipped = extracted ? extracted.skipped : dataset.ignored;
  const duplicates = extracted?.duplicates ?? [];
  const near = extracted ? nearDuplicates(extracted.features, extracted.n, extracted.d, extracted.files, extracted.labels, o.nearDuplicateCosine) : [];
  const sizes = await imageSizes(dataset, o.sizeSample);
  const warnings: string[] = [];
  const smallest = Math.min(...counts);
  const smallestClass = dataset.classes[counts.indexOf(smallest)];
  if (smallest < 10) warnings.push(`Class "${smallestClass}" has only ${smallest} images: every estimate is very uncertain; add images (20+ per class).`);
  if (imbalance >= 3) {
    warnings.push(`Classes are imbalanced ${imbalance.toFixed(1)}:1 (largest / smallest): accuracy flatters the majority class; ftk reports macro-F1 and uses class_weight=balanced for the SVM.`);
  }
  const decodeFailures = skipped.filter((s) => !/hidden|system file|not in a class folder/.test(s.reason));
  if (decodeFailures.length) {
    warnings.push(`${decodeFailures.length} file(s) could not be used (e.g. ${decodeFailures[0].file}: ${decodeFailures[0].reason}); they are listed in the report.`);
  }
  if (duplicates.length) {
    const files = duplicates.reduce((a, g) => a + g.length, 0);
    warnings.push(`${duplicates.length} group(s) of identical files (${files} files, e.g. ${duplicates[0].join(' = ')}): copies leak between folds; delete them.`);
  }
  const cross = near.filter((p) => p.crossClass);
  if (near.length) {
    warnings.push(
      `${near.length} near-duplicate pair(s) by features (cosine >= ${o.nearDuplicateCosine}, e.g. ${near[0].a} ~ ${near[0].b})` +
        (cross.length ? `, ${cross.length} of them across classes (check their labels)` : '') +
        ': they may leak between folds.',
    );
  }
  if (sizes && (sizes.width.min < 64 || sizes.height.min < 64)) {
    warnings.push(`Some images are tiny (smallest ${sizes.width.min}x${sizes.height.min}): upscaling to the model's input blurs them.`);
  }
  if (sizes && sizes.nonSquare > 0.5) {
    warnings.push(`${Math.round(sizes.nonSquare * 100)}% of images are far from square: squashing them to the input size (Keras' default) distorts them; --crop center keeps proportions (ftk auto tries both, centre first).`);
  }
  return { classes: dataset.classes, counts, total, imbalance, skipped, duplicates, nearDuplicates: near, sizes, warnings };
}
