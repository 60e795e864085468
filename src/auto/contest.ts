/**
 * The contest of `ftk auto` on the shared outer folds: fold by fold, the feature path
 * (src/auto/feature_path.ts) and the fine-tuning path (src/auto/finetune_path.ts) each choose among
 * their candidates inside the training rows and predict the held-out rows; the ensemble (the mean of
 * the two picks' calibrated probabilities) is scored on the same rows.
 *
 * Budget: after each fold, the number of folds is planned for both paths at once
 * (src/auto/budget.ts `planFolds`: folds are cut for both paths or for neither, from per-fold costs
 * that leave out one-time costs such as the cold frozen-prefix cache; the latest fold's cost
 * replaces the first fold's pessimistic estimate). Fine-tuning candidates past
 * the first (the path's default) run only while the fold's share of the budget allows; the
 * pruned ones are listed with the reason.
 */
import path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { foldSplit } from '../data/split.js';
import type { CandidateReport } from '../formats/run_report.js';
import { planFolds } from './budget.js';
import type { FeatureCandidate, FinetuneCandidate } from './candidates.js';
import { featurePathFold, type CandidateFeatures, type FeatureMember } from './feature_path.js';
import type { CalibrationJson } from '../formats/trust.js';
import { finetunePathFold, type FinetuneFoldContext } from './finetune_path.js';
import { argmax } from './folds.js';

export type ContenderName = 'svm' | 'finetune' | 'ensemble';

/** Out-of-fold results of one contender: rows of the folds it ran. */
export interface ContenderOof {
  name: ContenderName;
  /** Per dataset row: predicted class (-1: fold not run). */
  predicted: Int32Array;
  probabilities: (number[] | undefined)[];
  /** Outer folds it completed. */
  folds: number[];
  /** Training + prediction time per completed fold. */
  foldMs: number[];
  /** What each fold picked, in words. */
  notes: string[];
}

export interface ContestInput {
  dataset: Dataset;
  files: readonly string[];
  labels: readonly number[];
  numClasses: number;
  folds: Int32Array;
  k: number;
  seed: number;
  runDir: string;
  budgetMs: number;
  /** Time already spent when the contest starts. */
  elapsedMs: () => number;
  /** Estimated time of the final refit (both paths' picks on all rows). */
  refitEstimateMs: (foldMs: { svm: number; finetune: number }) => number;
  features: { candidates: readonly FeatureCandidate[]; byId: ReadonlyMap<string, CandidateFeatures> };
  finetune?: { candidates: readonly FinetuneCandidate[]; base: FinetuneFoldContext['base']; onProgress?: FinetuneFoldContext['onProgress'] };
  innerFolds: number;
  onStage?: (m: string) => void;
}

export interface ContestResult {
  contenders: ContenderOof[];
  candidates: CandidateReport[];
  /** Folds both paths ran. */
  foldsRun: number[];
  cuts: string[];
  /** Per fold: the feature path's pick and its grid point; the fine-tuning pick and epochs. */
  /** Per outer fold: the feature path's fitted members (their candidates and grid points). */
  members: FeatureMember[][];
  /** The fine-tuning picks' temperature scalings, one per fold that had one. */
  calibrations: CalibrationJson[];
  picks: { fold: number; svm?: { id: string; log2C: number; log2Gamma: number | null; flatPoints: number; totalPoints: number }; finetune?: { id: string; head: number; finetune: number } }[];
}

function emptyOof(name: ContenderName, n: number): ContenderOof {
  return { name, predicted: new Int32Array(n).fill(-1), probabilities: new Array(n), folds: [], foldMs: [], notes: [] };
}

export async function runContest(input: ContestInput): Promise<ContestResult> {
  const n = input.labels.length;
  const say = input.onStage ?? (() => undefined);
  const svm = emptyOof('svm', n);
  const ft = input.finetune && input.finetune.candidates.length ? emptyOof('finetune', n) : undefined;
  const ens = ft ? emptyOof('ensemble', n) : undefined;
  const reports = new Map<string, CandidateReport>();
  const report = (id: string, pathName: CandidateReport['path'], label: string, config: CandidateReport['config']): CandidateReport => {
    let r = reports.get(id);
    if (!r) reports.set(id, (r = { id, path: pathName, label, config, innerScores: new Array(input.k).fill(null), picked: 0, outerAccuracies: new Array(input.k).fill(null), ms: 0 }));
    return r;
  };
  for (const c of input.features.candidates) report(c.id, 'svm', c.label, { inputSize: c.inputSize, crop: c.crop, tta: c.tta, classifier: c.classifier, scaler: c.scaler, backbone: c.backbone });
  for (const c of input.finetune?.candidates ?? []) report(c.id, 'finetune', c.label, { inputSize: c.inputSize, crop: c.crop, freeze: String(c.freeze), views: c.views, dropout: c.dropout });
  const cuts: string[] = [];
  const picks: ContestResult['picks'] = [];
  const members: FeatureMember[][] = [];
  const calibrations: CalibrationJson[] = [];
  let planned = input.k;
  let ftFoldBudgetMs = Infinity;
  let lastCut: string | undefined;
  const accuracyOf = (rows: ArrayLike<number>, predicted: ArrayLike<number>) => Array.from(rows).filter((r, i) => predicted[i] === input.labels[r]).length / rows.length;

  for (let f = 0; f < planned; f++) {
    const fold = foldSplit(input.folds, f);
    const pick: ContestResult['picks'][number] = { fold: f };
    say(`Fold ${f + 1}/${planned}: feature path (${input.features.candidates.length} candidates, chosen inside the ${fold.train.length} training images)`);
    let t = performance.now();
    const s = await featurePathFold(input.features.candidates, input.features.byId, input.labels, input.numClasses, fold, { seed: input.seed, innerFolds: input.innerFolds, onStage: say });
    const svmMs = performance.now() - t;
    fold.test.forEach((row, i) => {
      svm.predicted[row] = s.predicted[i];
      svm.probabilities[row] = s.probabilities[i];
    });
    svm.folds.push(f);
    svm.foldMs.push(svmMs);
    members[f] = s.members;
    const svmAcc = accuracyOf(fold.test, s.predicted);
    for (const sc of s.scores) {
      const r = reports.get(sc.id);
      if (!r) continue;
      r.innerScores[f] = sc.score;
      r.ms += sc.ms;
      if (sc.rung === 1 && !s.scores.some((o) => o.id === sc.id && o.rung === 2)) r.pruned = 'rung 1 (coarse grid) in some folds';
    }
    for (const sc of s.scores) if (!reports.has(sc.id)) report(sc.id, 'svm', 'the two best feature configurations together (mean of their probabilities)', { pair: true });
    for (const sc of s.scores) {
      const r = reports.get(sc.id)!;
      if (r.config.pair) {
        r.innerScores[f] = sc.score;
        r.ms += sc.ms;
      }
    }
    const sr = reports.get(s.pickedId)!;
    sr.picked++;
    sr.outerAccuracies![f] = svmAcc;
    pick.svm = { id: s.pickedId, log2C: s.log2C, log2Gamma: s.log2Gamma, flatPoints: s.plateau.flatPoints, totalPoints: s.plateau.totalPoints };
    svm.notes.push(
      `fold ${f + 1}: ${s.pickedLabel}; C=2^${s.log2C}${s.log2Gamma !== null ? `, gamma=2^${s.log2Gamma}` : ''} (plateau centre; ${s.plateau.flatPoints} of ${s.plateau.totalPoints} grid points within ${(100 * s.plateau.flatWithin).toFixed(1)} points of the best${s.solver === 'logistic' ? '; logistic regression' : ''})`,
    );
    say(`  feature path: ${(100 * svmAcc).toFixed(1)}% with ${s.pickedLabel}`);

    if (ft && input.finetune) {
      t = performance.now();
      const ftStart = t;
      const r = await finetunePathFold(input.finetune.candidates, fold, {
        dataset: input.dataset,
        files: input.files,
        labels: input.labels,
        base: input.finetune.base,
        dir: path.join(input.runDir, 'folds', `fold-${f + 1}`),
        onStage: say,
        onProgress: input.finetune.onProgress,
        // Candidates past the default run while this fold stays within its share of the budget.
        mayRun: (c, i) => {
          const spent = performance.now() - ftStart;
          const perCandidate = spent / i;
          const ok = f === 0 ? input.elapsedMs() + perCandidate * 2 * input.k < input.budgetMs : spent + perCandidate < ftFoldBudgetMs;
          if (!ok) {
            const rep = reports.get(c.id)!;
            rep.pruned = `budget (fold ${f + 1}: about ${(perCandidate / 60000).toFixed(1)} min per candidate)`;
          }
          return ok;
        },
      });
      const ftMs = performance.now() - t;
      fold.test.forEach((row, i) => {
        ft.predicted[row] = r.predicted[i];
        ft.probabilities[row] = r.probabilities[i];
      });
      ft.folds.push(f);
      ft.foldMs.push(ftMs);
      const ftAcc = accuracyOf(fold.test, r.predicted);
      if (r.calibration) calibrations.push(r.calibration);
      for (const inner of r.inner) {
        const rep = reports.get(inner.id)!;
        rep.innerScores[f] = inner.score;
        rep.ms += inner.ms;
        if (inner.capHit.length) rep.capHit = `${rep.capHit ? `${rep.capHit}; ` : ''}fold ${f + 1}: best epoch = cap (${inner.capHit.join(', ')})`;
      }
      const top = r.inner.find((x) => x.id === r.picked.id)!;
      const fr = reports.get(r.picked.id)!;
      fr.picked++;
      fr.outerAccuracies![f] = ftAcc;
      fr.ms += r.refitMs;
      pick.finetune = { id: r.picked.id, head: top.bestEpochs.head, finetune: top.bestEpochs.finetune };
      ft.notes.push(`fold ${f + 1}: ${r.picked.label}; inner validation ${(100 * top.score).toFixed(1)}%, refit on all training images for head ${top.bestEpochs.head} + top ${top.bestEpochs.finetune} epochs`);
      say(`  fine-tuning: ${(100 * ftAcc).toFixed(1)}% with ${r.picked.label}`);
      // The ensemble: mean of the two picks' probabilities on the same rows.
      const ensPred: number[] = [];
      fold.test.forEach((row) => {
        const a = svm.probabilities[row]!;
        const b = ft.probabilities[row]!;
        const p = a.map((v, c) => (v + b[c]) / 2);
        ens!.probabilities[row] = p;
        ens!.predicted[row] = argmax(p);
        ensPred.push(ens!.predicted[row]);
      });
      ens!.folds.push(f);
      ens!.foldMs.push(svmMs + ftMs);
      say(`  ensemble: ${(100 * accuracyOf(fold.test, ensPred)).toFixed(1)}%`);
      // The plan is made after the first fold and remade after every later one: the first pays
      // one-time costs (the cold frozen-prefix cache; later folds recompute only their new images),
      // so its estimate is the pessimistic one, and each later fold's own time replaces it.
      const oneTimeMs = f === 0 ? r.prefixMs * Math.max(0, 1 - 1 / Math.max(1, input.k - 1)) : 0;
      const plan = planFolds({
        budgetMs: input.budgetMs,
        elapsedMs: input.elapsedMs(),
        k: input.k,
        foldsDone: f + 1,
        costs: [
          { path: 'svm', firstFoldMs: svmMs, oneTimeMs: 0 },
          { path: 'finetune', firstFoldMs: ftMs, oneTimeMs },
        ],
        refitMs: input.refitEstimateMs({ svm: svmMs, finetune: ftMs - oneTimeMs }),
      });
      planned = plan.folds;
      lastCut = plan.cut;
      if (f === 0) ftFoldBudgetMs = ftMs - oneTimeMs;
    }
    picks.push(pick);
  }
  if (lastCut) cuts.push(lastCut);
  const contenders = [svm, ...(ft ? [ft, ens!] : [])];
  return { contenders, candidates: [...reports.values()], foldsRun: svm.folds.filter((f) => !ft || ft.folds.includes(f)), cuts, picks, members, calibrations };
}
