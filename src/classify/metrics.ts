/** Classification metrics for cross-validation reports (scikit-learn's definitions). */

/** counts[t][p]: samples of true class t predicted as p (codes 0..k-1). */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, k: number): number[][] {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < yTrue.length; i++) m[yTrue[i]][yPred[i]]++;
  return m;
}

export interface ClassReport {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** Per-class precision, recall and F1 from a confusion matrix (0 where undefined, as zero_division=0). */
export function perClass(confusion: number[][]): ClassReport[] {
  const k = confusion.length;
  const out: ClassReport[] = [];
  for (let c = 0; c < k; c++) {
    const tp = confusion[c][c];
    let predicted = 0;
    let support = 0;
    for (let j = 0; j < k; j++) {
      predicted += confusion[j][c];
      support += confusion[c][j];
    }
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    out.push({ precision, recall, f1, support });
  }
  return out;
}

/** Unweighted mean of the per-class F1 scores (f1_score(average='macro')). */
export function macroF1(confusion: number[][]): number {
  const r = perClass(confusion);
  return r.reduce((a, b) => a + b.f1, 0) / r.length;
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n - 1). */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Two-sided 95% quantile of Student's t with `df` degrees of freedom. */
export function t975(df: number): number {
  if (df < 1) return Number.NaN;
  if (df <= 30) return T975[df - 1];
  if (df <= 40) return 2.042 + ((2.021 - 2.042) * (df - 30)) / 10;
  if (df <= 60) return 2.021 + ((2.0 - 2.021) * (df - 40)) / 20;
  if (df <= 120) return 2.0 + ((1.98 - 2.0) * (df - 60)) / 60;
  return 1.96;
}

/**
 * 95% interval of the mean fold accuracy: mean +- t(0.975, n-1) * sd / sqrt(n), clipped to [0, 1].
 * Folds share training data, so this is the usual approximation, a little optimistic (Bengio &
 * Grandvalet 2004); with repeated k-fold it is more so.
 */
export function meanInterval95(xs: readonly number[]): [number, number] {
  const m = mean(xs);
  if (xs.length < 2) return [m, m];
  const h = (t975(xs.length - 1) * std(xs)) / Math.sqrt(xs.length);
  return [Math.max(0, m - h), Math.min(1, m + h)];
}

/** What every cross-validation result reports from its per-fold accuracies and pooled confusion matrix. */
export function foldSummary(foldAccuracies: number[], confusion: number[][]) {
  return {
    foldAccuracies,
    meanAccuracy: mean(foldAccuracies),
    stdAccuracy: std(foldAccuracies),
    ci95: meanInterval95(foldAccuracies),
    macroF1: macroF1(confusion),
    perClass: perClass(confusion),
    confusion,
  };
}

/** Share of `predicted` equal to `labels` (same length). */
export function accuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  let ok = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) ok++;
  return ok / predicted.length;
}
