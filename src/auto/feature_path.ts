/**
 * The feature path of `ftk auto` on one outer fold, nested: every candidate (input size, crop, TTA,
 * classifier; src/auto/candidates.ts) is scored by cross-validation inside the training rows only,
 * the best is refitted on all the training rows and predicts the held-out rows.
 *
 * Search, cheapest first (successive halving in two rungs, on the same inner folds for every
 * candidate, so their scores are paired):
 *   rung 1  every candidate on a coarse C x gamma grid (24 points around gamma = 1/d, the
 *           'scale' value of standardized features);
 *   rung 2  the best quarter (at least 2) on libsvm's full grid (110 points);
 *   rung 3  the two best configurations together (mean of their probabilities), scored on the
 *           same inner folds, kept only when it beats the best single one.
 * A candidate's score is the plateau-smoothed accuracy of its grid (src/classify/plateau.ts): the
 * ranking and C/gamma do not hinge on one noisy grid cell. Above the exact RBF kernel's row limit the
 * classifier is logistic regression on every row (src/auto/folds.ts), C by grid.
 */
import { LogisticRegression } from '../classify/linear.js';
import { linearGridSearch } from '../classify/linear_search.js';
import { plateauCentre, type PlateauChoice } from '../classify/plateau.js';
import { gridSearch, type GridSearchResult } from '../classify/search.js';
import type { SvmOptions } from '../classify/options.js';
import { foldSplit, stratifiedKFold } from '../data/split.js';
import { SvmClassifier } from '../classify/svm.js';
import type { FeatureCandidate } from './candidates.js';
import { argmax, FEATURE_LINEAR_ABOVE, FEATURE_LINEAR_LOG2C, takeRows } from './folds.js';

/** A candidate's features: row-major [n, d], rows in the run's row order. */
export interface CandidateFeatures {
  X: Float32Array;
  d: number;
}

export interface FeatureScore {
  id: string;
  /** Inner (training-fold) score: plateau-smoothed grid accuracy. */
  score: number;
  rung: 1 | 2;
  ms: number;
}

export interface FeatureFoldResult {
  /** The first (or only) member's candidate. */
  picked: FeatureCandidate;
  members: FeatureMember[];
  /** Report id of the pick (a candidate's, or the pair's). */
  pickedId: string;
  pickedLabel: string;
  scores: FeatureScore[];
  /** Predicted class and class probabilities of each held-out row, in `test` order. */
  predicted: number[];
  probabilities: number[][];
  log2C: number;
  log2Gamma: number | null;
  plateau: PlateauChoice;
  solver: 'libsvm' | 'logistic';
  innerFolds: number;
}

/** log2 gamma of the coarse rung: 1/d ('scale' after standardization) and below it, odd exponents as libsvm's grid. */
export function coarseGamma(d: number): number[] {
  let g0 = Math.round(Math.log2(1 / d));
  if (g0 % 2 === 0) g0 += 1;
  return [g0 + 2, g0, g0 - 2, g0 - 4, g0 - 6].filter((g) => g <= 3 && g >= -15);
}
/** C of the coarse rung (libsvm's optimum on pooled features is rarely outside 2^-1..2^9). */
export const COARSE_LOG2C: readonly number[] = Object.freeze([-1, 1, 3, 5, 7, 9]);

async function search(
  candidate: FeatureCandidate,
  F: CandidateFeatures,
  train: ArrayLike<number>,
  y: number[],
  full: boolean,
  o: { seed: number; innerFolds: number },
): Promise<{ grid: GridSearchResult; solver: 'libsvm' | 'logistic' }> {
  const X = takeRows(F.X, F.d, train);
  if (candidate.classifier === 'linear' || train.length > FEATURE_LINEAR_ABOVE) {
    const grid = await linearGridSearch('logistic', X, y, {}, { folds: o.innerFolds, seed: o.seed, log2C: full ? FEATURE_LINEAR_LOG2C : FEATURE_LINEAR_LOG2C.filter((_, i) => i % 2 === 0) });
    return { grid, solver: 'logistic' };
  }
  const grid = await gridSearch(X, y, { kernel: 'rbf', scaler: candidate.scaler }, full ? { folds: o.innerFolds, seed: o.seed } : { folds: o.innerFolds, seed: o.seed, log2C: COARSE_LOG2C, log2Gamma: coarseGamma(F.d) });
  return { grid, solver: 'libsvm' };
}

/** One fitted member of the feature path's pick: a candidate and its grid point. */
export interface FeatureMember {
  candidate: FeatureCandidate;
  C: number;
  gamma: number | null;
  log2C: number;
  log2Gamma: number | null;
  solver: 'libsvm' | 'logistic';
  plateau: PlateauChoice;
}

export interface FeatureSelection {
  /** One member, or two whose probabilities are averaged (the pair rung). */
  members: FeatureMember[];
  /** Inner score of the selection. */
  score: number;
  scores: FeatureScore[];
  innerFolds: number;
  /** The first member's grid search (for the report's grid). */
  grid: GridSearchResult;
}

/** The pair's id in reports: the two members' ids. */
export function pairId(a: FeatureCandidate, b: FeatureCandidate): string {
  return `svm:pair(${a.id} + ${b.id})`;
}

/** Fits one member on rows `train`; `probability`: Platt-scaled probabilities (libsvm). */
export async function fitFeatureMember(m: FeatureMember, F: CandidateFeatures, train: ArrayLike<number>, y: readonly number[], probability: boolean): Promise<SvmClassifier | LogisticRegression> {
  const X = takeRows(F.X, F.d, train);
  if (m.solver === 'logistic') return new LogisticRegression({ C: m.C }).fit(X, y);
  return new SvmClassifier({ ...memberSvmOptions(m), probability }).fit(X, y);
}

/** The SVM of a libsvm member: its kernel, grid point and feature scaling (the refit's trust fits use it too). */
export function memberSvmOptions(m: FeatureMember): SvmOptions {
  return { kernel: 'rbf', C: m.C, gamma: m.gamma ?? 'scale', scaler: m.candidate.scaler };
}

/** Class probabilities of a fitted member (one-hot when it has none). */
export function memberProba(clf: SvmClassifier | LogisticRegression, F: CandidateFeatures, rows: ArrayLike<number>, numClasses: number): number[][] {
  const X = takeRows(F.X, F.d, rows);
  if (clf instanceof LogisticRegression || clf.probA_) return clf.predictProba(X).map((r) => Array.from(r));
  return Array.from(clf.predict(X), (p) => Array.from({ length: numClasses }, (_, c) => (c === p ? 1 : 0)));
}

/**
 * Chooses the feature path's model inside `train` only: rung 1 (coarse grid, every candidate), rung
 * 2 (full grid, the best quarter), rung 3 (the two best configurations' probabilities averaged,
 * scored on the same inner folds; kept only when it beats the best single candidate).
 */
export async function selectFeatures(
  candidates: readonly FeatureCandidate[],
  features: ReadonlyMap<string, CandidateFeatures>,
  labels: readonly number[],
  numClasses: number,
  train: ArrayLike<number>,
  o: { seed: number; innerFolds: number; pair?: boolean; onStage?: (m: string) => void },
): Promise<FeatureSelection> {
  const y = Array.from(train, (r) => labels[r]);
  const minTrain = Math.min(...Array.from({ length: numClasses }, (_, c) => y.filter((v) => v === c).length));
  const innerFolds = Math.max(2, Math.min(o.innerFolds, minTrain));
  const scores = new Map<string, FeatureScore & { grid: GridSearchResult; plateau: PlateauChoice; solver: 'libsvm' | 'logistic' }>();
  const run = async (c: FeatureCandidate, full: boolean): Promise<void> => {
    const t = performance.now();
    const { grid, solver } = await search(c, features.get(c.id)!, train, y, full, { seed: o.seed, innerFolds });
    const plateau = plateauCentre(grid);
    scores.set(c.id, { id: c.id, score: plateau.smoothedAccuracy, rung: full ? 2 : 1, ms: performance.now() - t, grid, plateau, solver });
  };
  const rank = (list: readonly FeatureCandidate[]) => [...list].sort((a, b) => scores.get(b.id)!.score - scores.get(a.id)!.score || candidates.indexOf(a) - candidates.indexOf(b));
  let finalists: FeatureCandidate[] = [...candidates];
  if (candidates.length > 2) {
    for (const c of candidates) await run(c, false);
    finalists = rank(candidates).slice(0, Math.max(2, Math.ceil(candidates.length / 4)));
  }
  for (const c of finalists) await run(c, true);
  const ranked = rank(finalists);
  const member = (c: FeatureCandidate): FeatureMember => {
    const s = scores.get(c.id)!;
    return { candidate: c, C: s.plateau.point.C, gamma: s.plateau.point.gamma, log2C: s.plateau.point.log2C, log2Gamma: s.plateau.point.log2Gamma, solver: s.solver, plateau: s.plateau };
  };
  const list = (): FeatureScore[] => [...scores.values()].map(({ id, score, rung, ms }) => ({ id, score, rung, ms }));
  const best = ranked[0];
  let selection: FeatureSelection = { members: [member(best)], score: scores.get(best.id)!.score, scores: list(), innerFolds, grid: scores.get(best.id)!.grid };
  // Rung 3: a pair of different feature configurations (sizes / crops / TTA / backbones see different
  // things; their errors are partly independent), each at its own grid point.
  const second = ranked.slice(1).find((c) => c.inputSize !== best.inputSize || c.crop !== best.crop || c.tta !== best.tta || c.backbone !== best.backbone);
  if ((o.pair ?? true) && second && minTrain >= 5) {
    const t = performance.now();
    const pair = [member(best), member(second)];
    const inner = stratifiedKFold(y, innerFolds, { shuffle: true, seed: o.seed });
    const rows = Int32Array.from(train);
    const accs: number[] = [];
    for (let f = 0; f < innerFolds; f++) {
      const split = foldSplit(inner, f);
      const tr = Array.from(split.train, (i) => rows[i]);
      const te = Array.from(split.test, (i) => rows[i]);
      const sum = te.map(() => new Array<number>(numClasses).fill(0));
      for (const m of pair) {
        const F = features.get(m.candidate.id)!;
        const clf = await fitFeatureMember(m, F, tr, Array.from(tr, (r) => labels[r]), true);
        memberProba(clf, F, te, numClasses).forEach((p, i) => p.forEach((v, c) => (sum[i][c] += v)));
        if (clf instanceof SvmClassifier) clf.dispose();
      }
      const ok = sum.filter((p, i) => argmax(p) === labels[te[i]]).length;
      accs.push(ok / te.length);
    }
    const score = accs.reduce((a, b) => a + b, 0) / accs.length;
    const id = pairId(best, second);
    scores.set(id, { id, score, rung: 2, ms: performance.now() - t, grid: scores.get(best.id)!.grid, plateau: scores.get(best.id)!.plateau, solver: 'libsvm' });
    if (score > selection.score + 1e-12) selection = { ...selection, members: pair, score, scores: list() };
    else selection.scores = list();
  }
  return selection;
}

/**
 * Nested selection and evaluation of the feature path on one outer fold: `selectFeatures` on the
 * training rows, the pick refitted on all of them, probabilities for the held-out rows.
 */
export async function featurePathFold(
  candidates: readonly FeatureCandidate[],
  features: ReadonlyMap<string, CandidateFeatures>,
  labels: readonly number[],
  numClasses: number,
  fold: { train: ArrayLike<number>; test: ArrayLike<number> },
  o: { seed: number; innerFolds: number; probability?: boolean; pair?: boolean; onStage?: (m: string) => void },
): Promise<FeatureFoldResult> {
  const sel = await selectFeatures(candidates, features, labels, numClasses, fold.train, o);
  const y = Array.from(fold.train, (r) => labels[r]);
  const minTrain = Math.min(...Array.from({ length: numClasses }, (_, c) => y.filter((v) => v === c).length));
  const probability = (o.probability ?? true) && minTrain >= 5;
  const sum = Array.from(fold.test, () => new Array<number>(numClasses).fill(0));
  for (const m of sel.members) {
    const F = features.get(m.candidate.id)!;
    const clf = await fitFeatureMember(m, F, fold.train, y, probability);
    memberProba(clf, F, fold.test, numClasses).forEach((p, i) => p.forEach((v, c) => (sum[i][c] += v / sel.members.length)));
    if (clf instanceof SvmClassifier) clf.dispose();
  }
  const first = sel.members[0];
  return {
    picked: first.candidate,
    members: sel.members,
    pickedId: sel.members.length > 1 ? pairId(sel.members[0].candidate, sel.members[1].candidate) : first.candidate.id,
    pickedLabel: sel.members.map((m) => m.candidate.label).join(' + '),
    scores: sel.scores,
    predicted: sum.map(argmax),
    probabilities: sum,
    log2C: first.log2C,
    log2Gamma: first.log2Gamma,
    plateau: first.plateau,
    solver: first.solver,
    innerFolds: sel.innerFolds,
  };
}
