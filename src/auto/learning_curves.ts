/**
 * Learning curves of `ftk auto`: each path's pick of a fold (its candidate and settings, as the
 * contest chose them inside that fold) retrained on stratified subsets of the fold's training rows
 * and scored on its held-out rows. Both paths use the same folds and the same subsets
 * (src/auto/curves.ts `curveSubsets`), at least 3 sizes; the full size is the contest's own
 * result. Fine-tuning runs on as many folds as the budget allows (at least one), and the feature
 * path's curve is then restricted to those folds, so the two curves stay paired. The crossover
 * is read only between measured points (`crossoverInRange`).
 */
import path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { foldSplit } from '../data/split.js';
import type { FeaturesMeta } from '../formats/features.js';
import type { LearningCurve, LearningCurvePoint, LearningCurves } from '../formats/run_report.js';
import type { CandidateSpace } from './candidates.js';
import type { CandidateFeatureSet } from './candidate_features.js';
import type { ContestResult } from './contest.js';
import { crossoverInRange, curveSubsets } from './curves.js';
import { fitFeatureMember, memberProba } from './feature_path.js';
import type { FinetuneFoldContext } from './finetune_path.js';
import { argmax, argmaxScores, finetuneOnRows, scoreModelOnRows } from './folds.js';
import { SvmClassifier } from '../classify/svm.js';

export interface CurveInput {
  contest: ContestResult;
  featureSet: CandidateFeatureSet;
  space: CandidateSpace;
  dataset: Dataset;
  meta: FeaturesMeta;
  labels: readonly number[];
  numClasses: number;
  folds: Int32Array;
  k: number;
  curveFractions: number[];
  seed: number;
  runDir: string;
  ftBase: FinetuneFoldContext['base'];
  svmOnly: boolean;
  budgetMs: number;
  elapsedMs: () => number;
  /** Time kept for the final refit (the fold plan's estimate). */
  refitReserveMs: number;
  cuts: string[];
  say: (m: string) => void;
}

export async function measureCurves(c: CurveInput): Promise<LearningCurves> {
  const foldsRun = c.contest.foldsRun;
  if (!foldsRun.length) return { curves: [], crossovers: [] };
  const subsets = curveSubsets(c.folds, c.labels, c.curveFractions, c.seed, c.k);
  const svm = c.contest.contenders.find((x) => x.name === 'svm')!;
  const ft = c.contest.contenders.find((x) => x.name === 'finetune');
  // Fine-tuning's folds: as many as the budget allows after the final refit's reserve (the same
  // estimate the fold plan keeps); none when nothing is left, and the cut is said.
  let ftFolds: number[] = [];
  if (ft && !c.svmOnly) {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const partial = subsets.filter((s) => s.fraction < 1).reduce((a, s) => a + s.fraction, 0);
    const perFold = mean(ft.foldMs) * partial * 0.5;
    const left = c.budgetMs - c.elapsedMs() - c.refitReserveMs;
    const fit = Math.max(0, Math.min(foldsRun.length, Math.floor(left / Math.max(perFold, 1))));
    ftFolds = foldsRun.slice(0, fit);
    if (fit === 0) c.cuts.push(`fine-tuning learning curve skipped: about ${(perFold / 60000).toFixed(1)} min per fold needed, ${(Math.max(0, left) / 60000).toFixed(1)} min left before the refit`);
    else if (fit < foldsRun.length) c.cuts.push(`learning curves on ${fit} of ${foldsRun.length} folds for both paths (fine-tuning about ${(perFold / 60000).toFixed(1)} min per fold's curve)`);
  }
  // Both curves on the same folds; the feature path alone on every fold when fine-tuning's was cut.
  const withFt = Boolean(ft && !c.svmOnly && ftFolds.length);
  const curveFolds = withFt ? ftFolds : foldsRun;
  const svmPoints: LearningCurvePoint[] = [];
  const ftPoints: LearningCurvePoint[] = [];
  const foldAcc = (x: typeof svm, f: number) => {
    const rows = Array.from({ length: c.labels.length }, (_, i) => i).filter((i) => c.folds[i] === f);
    return rows.filter((r) => x.predicted[r] === c.labels[r]).length / rows.length;
  };
  for (const s of subsets) {
    const sAcc: number[] = [];
    const fAcc: number[] = [];
    for (const f of curveFolds) {
      const test = foldSplit(c.folds, f).test;
      const train = s.rows[f];
      if (s.fraction >= 1) {
        sAcc.push(foldAcc(svm, f));
        if (withFt) fAcc.push(foldAcc(ft!, f));
        continue;
      }
      c.say(`Learning curve: fold ${f + 1}, ${train.length} training images`);
      // Feature path: the fold's pick at its grid point(s), on the subset.
      const pick = c.contest.members[f];
      const sum = Array.from(test, () => new Array<number>(c.numClasses).fill(0));
      const y = Array.from(train, (r) => c.labels[r]);
      for (const m of pick) {
        const F = c.featureSet.byId.get(m.candidate.id)!;
        const clf = await fitFeatureMember(m, F, train, y, pick.length > 1);
        memberProba(clf, F, test, c.numClasses).forEach((p, i) => p.forEach((v, j) => (sum[i][j] += v)));
        if (clf instanceof SvmClassifier) clf.dispose();
      }
      sAcc.push(sum.filter((p, i) => argmax(p) === c.labels[test[i]]).length / test.length);
      if (withFt) {
        const ftPick = c.contest.picks.find((p) => p.fold === f)?.finetune;
        const cand = c.space.finetune.find((x) => x.id === ftPick?.id) ?? c.space.finetune[0];
        const dir = path.join(c.runDir, 'folds', `curve-${f + 1}-${train.length}`);
        await finetuneOnRows(c.dataset, c.meta.files, train, { ...c.ftBase, inputSize: cand.inputSize, crop: cand.crop, freeze: cand.freeze, views: cand.views, dropout: cand.dropout, out: dir, overwrite: true, unknown: false });
        const scores = await scoreModelOnRows(dir, c.dataset, c.meta.files, test);
        fAcc.push(argmaxScores(scores).filter((p, i) => p === c.labels[test[i]]).length / test.length);
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const size = Math.round(mean(curveFolds.map((f) => s.rows[f].length)));
    svmPoints.push({ fraction: s.fraction, trainSize: size, meanAccuracy: mean(sAcc), foldAccuracies: sAcc });
    if (fAcc.length) ftPoints.push({ fraction: s.fraction, trainSize: size, meanAccuracy: mean(fAcc), foldAccuracies: fAcc });
  }
  const curves: LearningCurve[] = [{ path: 'svm', points: svmPoints }];
  if (ftPoints.length) curves.push({ path: 'finetune', points: ftPoints });
  return { curves, crossovers: curves.length === 2 ? [crossoverInRange(curves[0], curves[1])] : [] };
}
