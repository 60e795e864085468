/**
 * Numbers the report shows that are computed from the run record rather than stored in it:
 * class imbalance, macro-F1 intervals (from per-fold macro-F1 or the out-of-fold predictions),
 * the most confidently wrong images, images/s per stage, the candidates' mean scores. Pure
 * functions of the record.
 */
import { mean, meanInterval95 } from '../classify/metrics.js';
import type { CandidateReport, PathName, PathResult, RunReport } from '../formats/run_report.js';
import { foldMacroF1 } from './build.js';

export interface WrongPrediction {
  file: string;
  /** True class index. */
  label: number;
  predicted: number;
  fold: number;
  /** Probability given to the predicted class (null when the path gives no probabilities). */
  confidence: number | null;
  /** Probability given to the true class. */
  trueProbability: number | null;
}

export interface ConfidentlyWrong {
  /** The path whose mistakes are shown (the chosen path when it recorded predictions). */
  path: PathName;
  /** How the list is ordered. */
  order: 'confidence' | 'file';
  /** Misclassified images of that path in all. */
  totalWrong: number;
  /** Out-of-fold predictions of that path in all. */
  totalPredictions: number;
  items: WrongPrediction[];
}

export interface StageThroughput {
  name: string;
  ms: number;
  images?: number;
  imagesPerSecond: number | null;
  path?: PathName;
}

/** One candidate of the nested selection, summed up over the outer folds. */
export interface CandidateSummary {
  id: string;
  path: PathName;
  label: string;
  config: Record<string, string | number | boolean>;
  /** Mean of its inner scores over the outer folds where it was evaluated (null: nowhere). */
  meanInnerScore: number | null;
  /** Outer folds where it was evaluated inside the training fold. */
  innerFolds: number;
  /** Outer folds of the run (entries of `innerScores`). */
  folds: number;
  /** Outer folds whose selection picked it. */
  picked: number;
  /** Mean outer accuracy over the folds where it was picked (null: never picked, or not recorded). */
  meanOuterAccuracy: number | null;
  /** Outer folds behind `meanOuterAccuracy`. */
  outerFolds: number;
  ms: number;
  /** Why it was pruned and which cap it hit, joined ('' when neither). */
  note: string;
}

export interface DerivedReport {
  totalImages: number;
  /** Largest class count / smallest (null when a class is empty). */
  imbalance: number | null;
  /**
   * Macro-F1 per path: `value` is the mean of the per-fold values with their 95% interval when
   * those are known (as accuracy is the mean over folds), else the pooled macro-F1 without one.
   */
  macroF1: Partial<Record<PathName, { value: number | null; ci95: [number, number] | null; pooled: number | null; folds: number[] | null }>>;
  /** The path with the highest mean accuracy, if any ran. */
  bestPath: PathName | null;
  confidentlyWrong: ConfidentlyWrong | null;
  throughput: StageThroughput[];
  /**
   * The candidates of the nested selection (empty when the record has none): grouped by path in
   * the order the paths first appear, then most often picked first, then best mean inner score.
   */
  candidates: CandidateSummary[];
}

export interface DeriveOptions {
  /** Most confidently wrong images to list. Default 12. */
  maxWrong?: number;
}

const MAX_WRONG_DEFAULT = 12;

function macroF1Of(p: PathResult, k: number) {
  const folds = p.foldMacroF1 ?? (p.predictions && p.predictions.length > 0 ? foldMacroF1(p.predictions, k) : null);
  const pooled = p.macroF1 ?? null;
  if (folds && folds.length >= 2) return { value: mean(folds), ci95: meanInterval95(folds), pooled, folds };
  return { value: pooled ?? (folds && folds.length ? folds[0] : null), ci95: null, pooled, folds };
}

function confidentlyWrong(run: RunReport, max: number): ConfidentlyWrong | null {
  const paths = run.paths ?? [];
  const withPreds = paths.filter((p) => p.predictions && p.predictions.length > 0);
  const src = withPreds.find((p) => p.path === run.decision.chosen) ?? withPreds[0];
  if (!src) return null;
  const preds = src.predictions!;
  const wrong = preds.filter((p) => p.label !== p.predicted);
  const hasProb = wrong.length > 0 && wrong.every((p) => p.probabilities && p.probabilities.length > p.predicted);
  const items: WrongPrediction[] = wrong.map((p) => ({
    file: p.file,
    label: p.label,
    predicted: p.predicted,
    fold: p.fold,
    confidence: hasProb ? p.probabilities![p.predicted] : null,
    trueProbability: hasProb ? (p.probabilities![p.label] ?? null) : null,
  }));
  items.sort((a, b) => (hasProb ? b.confidence! - a.confidence! : 0) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { path: src.path, order: hasProb ? 'confidence' : 'file', totalWrong: wrong.length, totalPredictions: preds.length, items: items.slice(0, max) };
}

function present(xs: readonly (number | null)[] | undefined): number[] {
  return (xs ?? []).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
}

function candidateSummaries(candidates: readonly CandidateReport[]): CandidateSummary[] {
  const pathOrder = [...new Set(candidates.map((c) => c.path))];
  const out = candidates.map((c): CandidateSummary => {
    const inner = present(c.innerScores);
    const outer = present(c.outerAccuracies);
    return {
      id: c.id,
      path: c.path,
      label: c.label,
      config: { ...c.config },
      meanInnerScore: inner.length ? mean(inner) : null,
      innerFolds: inner.length,
      folds: c.innerScores.length,
      picked: c.picked,
      meanOuterAccuracy: outer.length ? mean(outer) : null,
      outerFolds: outer.length,
      ms: c.ms,
      note: [c.pruned && `pruned: ${c.pruned}`, c.capHit].filter(Boolean).join('; '),
    };
  });
  return out.sort((a, b) => pathOrder.indexOf(a.path) - pathOrder.indexOf(b.path) || b.picked - a.picked || (b.meanInnerScore ?? -1) - (a.meanInnerScore ?? -1));
}

export function deriveReport(run: RunReport, options: DeriveOptions = {}): DerivedReport {
  const max = options.maxWrong ?? MAX_WRONG_DEFAULT;
  const counts = run.dataset.counts;
  const k = run.dataset.classes.length;
  const minCount = counts.length ? Math.min(...counts) : 0;
  const macro: DerivedReport['macroF1'] = {};
  for (const p of run.paths ?? []) macro[p.path] = macroF1Of(p, k);
  const ran = (run.paths ?? []).filter((p) => Number.isFinite(p.meanAccuracy));
  const bestPath = ran.length ? ran.reduce((a, b) => (b.meanAccuracy > a.meanAccuracy ? b : a)).path : null;
  return {
    totalImages: counts.reduce((a, b) => a + b, 0),
    imbalance: minCount > 0 ? Math.max(...counts) / minCount : null,
    macroF1: macro,
    bestPath,
    confidentlyWrong: confidentlyWrong(run, max),
    throughput: (run.timings?.stages ?? []).map((s) => ({
      name: s.name,
      ms: s.ms,
      ...(s.images !== undefined ? { images: s.images } : {}),
      ...(s.path ? { path: s.path } : {}),
      imagesPerSecond: s.images && s.ms > 0 ? (s.images * 1000) / s.ms : null,
    })),
    candidates: candidateSummaries(run.candidates ?? []),
  };
}
