/**
 * `suggestLabels`: which unlabelled images to label next, in order.
 *
 * Each pick maximises  (1 - w) x uncertainty + w x novelty  (ranked batch-mode active learning,
 * Cardoso, Sabourin, Rodrigues, Tavares & Domingues 2017):
 * - uncertainty = 1 - margin of the calibrated probabilities (top minus second): 1 when the model
 *   cannot choose between two classes, 0 when it is sure (Scheffer et al. 2001);
 * - novelty = distance (on L2-normalised features) to the nearest image already labelled or
 *   already picked, divided by the largest such distance among the candidates at the start: so the
 *   100 are spread over the feature space, and a near-copy of a picked image (novelty about 0)
 *   comes after every image that is as uncertain but new;
 * - w = 0.5 by default. Cardoso et al. use w = unlabelled / (unlabelled + labelled) (`diversity:
 *   'auto'`); in ftk's simulation (bench/trust/labelling.ts, 5 seeds) that weight is close to 1
 *   whenever the pool is much larger than the labelled set, and on Fashion-MNIST (6,000 unlabelled)
 *   it did worse than random picks, while w = 0.5 reached random's final accuracy with 55%
 *   (cats-dogs), 48% (flowers) and 43% (Fashion-MNIST) fewer labels; uncertainty alone (w = 0)
 *   with 60%, 58% and 37% fewer, but it picks near-copies of one uncertain region.
 * Identical feature rows (byte-identical files) are never picked twice. Ties are broken by a
 * seeded random order, so a seed gives one answer.
 *
 * Cost: O(n x picks x d) distance updates (n = candidates): 10,000 images x 100 picks x 256
 * features is about 0.3 s.
 *
 * ```ts
 * const s = suggestLabels(probabilities, { data, rows, cols }, { n: 100, seed: 0 });
 * s.order;          // row indices, best first
 * s.expectedErrors; // how many of them the model currently gets wrong, by its own calibrated probabilities
 * ```
 */
import { DatasetError, OptionsError } from '../errors.js';
import { Rng } from '../data/random.js';
import { toMatrix, type FeatureMatrix, type MatrixLike } from '../classify/matrix.js';
import { l2Normalize } from './ood.js';

/** Options of `suggestLabels` (defaults in `SUGGEST_DEFAULTS`). */
export interface SuggestOptions {
  /** How many images to suggest. Default 100 (capped at the number of candidates). */
  n?: number;
  /** Seed of the tie-breaking order. Default 0. */
  seed?: number;
  /**
   * Weight of novelty against uncertainty, 0..1, or 'auto' = unlabelled / (unlabelled + labelled)
   * (Cardoso et al. 2017). Default 0.5 (measured: see the file's header).
   */
  diversity?: number | 'auto';
  /** Features of the images already labelled (novelty is measured from them too). Default none. */
  labelled?: MatrixLike;
  /** Rows to leave out (e.g. images detected as unknown). Default none. */
  exclude?: ArrayLike<number>;
}

export const SUGGEST_DEFAULTS = Object.freeze({ n: 100, seed: 0, diversity: 0.5 as number | 'auto' });

export interface SuggestedImage {
  /** Row of the candidate matrices. */
  index: number;
  /** Rank, 1 = label first. */
  rank: number;
  /** 1 - (top - second probability). */
  uncertainty: number;
  /** Distance to the nearest labelled/picked image when picked, scaled (0..1). */
  novelty: number;
  /** The combined score it was picked with. */
  score: number;
  /** Most probable class (column index) and its probability. */
  predicted: number;
  confidence: number;
}

export interface SuggestResult {
  /** Picked rows, best first. */
  order: number[];
  picks: SuggestedImage[];
  /** Weight of novelty used. */
  diversity: number;
  /** Expected number of picks the model currently misclassifies: sum of (1 - confidence). */
  expectedErrors: number;
  /** Same over all candidates, per image, to compare: mean (1 - confidence). */
  meanErrorAll: number;
  /** Candidates considered (rows minus excluded minus duplicates). */
  candidates: number;
  /** Rows skipped because their features equal an earlier row's. */
  duplicates: number;
}

function margin(p: ArrayLike<number>): { top: number; conf: number; m: number } {
  let a = 0;
  for (let c = 1; c < p.length; c++) if (p[c] > p[a]) a = c;
  let second = -Infinity;
  for (let c = 0; c < p.length; c++) if (c !== a && p[c] > second) second = p[c];
  if (!Number.isFinite(second)) second = 0;
  return { top: a, conf: p[a], m: p[a] - second };
}

function sqDist(A: Float32Array, i: number, B: Float32Array, j: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) {
    const v = A[i * d + t] - B[j * d + t];
    s += v * v;
  }
  return s;
}

/**
 * Ranks unlabelled images for labelling. `probabilities[i]` are the calibrated class
 * probabilities of candidate i, `features` its backbone features (same rows).
 */
export function suggestLabels(probabilities: readonly ArrayLike<number>[], features: MatrixLike, options: SuggestOptions = {}): SuggestResult {
  const n = options.n ?? SUGGEST_DEFAULTS.n;
  const seed = options.seed ?? SUGGEST_DEFAULTS.seed;
  const div = options.diversity ?? SUGGEST_DEFAULTS.diversity;
  if (!Number.isInteger(n) || n < 1) throw new OptionsError(`suggestLabels n must be an integer >= 1. Received n=${n}.`, { code: 'OPTIONS_BAD_VALUE' });
  if (div !== 'auto' && !(typeof div === 'number' && div >= 0 && div <= 1)) {
    throw new OptionsError(`suggestLabels diversity must be 'auto' or a number in [0, 1]. Received diversity=${JSON.stringify(div)}.`, { code: 'OPTIONS_BAD_VALUE' });
  }
  const F = toMatrix(features, 'features');
  if (F.rows !== probabilities.length) {
    throw new DatasetError(`features have ${F.rows} rows, but probabilities have ${probabilities.length}.`, { code: 'SUGGEST_SHAPE', suggestion: 'Pass one probability row per feature row, in the same order.' });
  }
  const d = F.cols;
  const Z = l2Normalize(F);
  const L: FeatureMatrix | undefined = options.labelled ? toMatrix(options.labelled, 'labelled') : undefined;
  if (L && L.cols !== d) throw new DatasetError(`labelled features have ${L.cols} columns, candidates ${d}.`, { code: 'SUGGEST_SHAPE' });
  const LZ = L ? l2Normalize(L) : undefined;

  // Candidates: not excluded, not a copy of an earlier row.
  const excluded = new Set(Array.from(options.exclude ?? []));
  const seen = new Map<string, number>();
  const cand: number[] = [];
  let duplicates = 0;
  for (let i = 0; i < F.rows; i++) {
    if (excluded.has(i)) continue;
    const key = Buffer.from(F.data.buffer, F.data.byteOffset + i * d * 4, d * 4).toString('base64');
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.set(key, i);
    cand.push(i);
  }
  const m = cand.length;
  const stats = cand.map((i) => margin(probabilities[i]));
  const unc = Float64Array.from(stats, (s) => 1 - s.m);
  const w = div === 'auto' ? (L ? m / (m + L.rows) : 1 - 1 / Math.max(2, m)) : div;
  // Nearest labelled distance per candidate (Infinity without labelled images).
  const near = new Float64Array(m).fill(Infinity);
  if (LZ && L) {
    for (let c = 0; c < m; c++) for (let j = 0; j < L.rows; j++) near[c] = Math.min(near[c], sqDist(Z, cand[c], LZ, j, d));
  }
  const rng = new Rng(seed);
  const tie = rng.shuffle(Float64Array.from({ length: m }, (_, i) => i)); // a random rank per candidate
  const picked = new Uint8Array(m);
  const picks: SuggestedImage[] = [];
  const want = Math.min(n, m);
  let scale = 0;
  for (let c = 0; c < m; c++) if (Number.isFinite(near[c])) scale = Math.max(scale, Math.sqrt(near[c]));
  for (let r = 0; r < want; r++) {
    let best = -1;
    let bestScore = -Infinity;
    let bestNov = 0;
    for (let c = 0; c < m; c++) {
      if (picked[c]) continue;
      // Before anything is labelled or picked, every candidate is equally new.
      const nov = Number.isFinite(near[c]) ? (scale > 0 ? Math.sqrt(near[c]) / scale : 0) : 1;
      const s = (1 - w) * unc[c] + w * nov;
      if (s > bestScore || (s === bestScore && tie[c] < tie[best])) {
        best = c;
        bestScore = s;
        bestNov = nov;
      }
    }
    picked[best] = 1;
    const i = cand[best];
    picks.push({ index: i, rank: r + 1, uncertainty: unc[best], novelty: bestNov, score: bestScore, predicted: stats[best].top, confidence: stats[best].conf });
    for (let c = 0; c < m; c++) {
      if (picked[c]) continue;
      const dd = sqDist(Z, cand[c], Z, i, d);
      if (dd < near[c]) near[c] = dd;
    }
    if (scale === 0) for (let c = 0; c < m; c++) if (!picked[c] && Number.isFinite(near[c])) scale = Math.max(scale, Math.sqrt(near[c]));
  }
  return {
    order: picks.map((p) => p.index),
    picks,
    diversity: w,
    expectedErrors: picks.reduce((a, p) => a + (1 - p.confidence), 0),
    meanErrorAll: m ? stats.reduce((a, s) => a + (1 - s.conf), 0) / m : 0,
    candidates: m,
    duplicates,
  };
}
