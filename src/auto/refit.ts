/**
 * The final refit of `ftk auto`: a path's pick trained on every image, written as a bundle folder
 * (src/auto/bundle.ts) that `ftk predict` serves.
 *
 * - Feature path: the candidate search runs again on all rows (`selectFeatures`, the same rungs as
 *   in each fold); each member is fitted with Platt probabilities, then calibrated and given an
 *   unknown detector on out-of-fold data (src/trust).
 * - Fine-tuning: the candidate with the best mean inner score over the folds, trained on every
 *   image without a hold-out for the mean of the epochs its folds chose (as `ftk finetune --folds`
 *   refits), with the median of their softmax temperatures.
 * - Ensemble: both of the above in one bundle; predict averages their probabilities.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import type { BackboneInfo } from '../formats/features.js';
import type { CandidateReport, PathName } from '../formats/run_report.js';
import { scoreHistogram, type CalibrationJson, type TrustRunReport } from '../formats/trust.js';
import { fitSvmTrust } from '../trust/fit.js';
import { SvmClassifier } from '../classify/svm.js';
import type { FinetuneOptions } from '../finetune/options.js';
import { AUTO_BUNDLE_FORMAT, AUTO_BUNDLE_FORMAT_VERSION, type AutoBundleMeta, type BundleMember } from '../predict/bundle.js';
import type { FeatureCandidate, FinetuneCandidate } from './candidates.js';
import { fitFeatureMember, memberSvmOptions, selectFeatures, type CandidateFeatures, type FeatureSelection } from './feature_path.js';
import { carryCalibration } from './finetune_path.js';
import { finetuneOnRows, takeRows } from './folds.js';

export interface FeatureRefit {
  members: BundleMember[];
  selection: FeatureSelection;
  trust?: TrustRunReport;
}

/** Refits the feature path on all rows into `dir` (svm.json, svm-2.json). */
export async function refitFeaturePath(
  dir: string,
  candidates: readonly FeatureCandidate[],
  features: ReadonlyMap<string, CandidateFeatures>,
  backbones: ReadonlyMap<string, BackboneInfo>,
  labels: readonly number[],
  classes: string[],
  o: { seed: number; innerFolds: number; calibrate: boolean; onWarning?: (m: string) => void; onStage?: (m: string) => void },
): Promise<FeatureRefit> {
  const rows = Int32Array.from({ length: labels.length }, (_, i) => i);
  const selection = await selectFeatures(candidates, features, labels, classes.length, rows, { seed: o.seed, innerFolds: o.innerFolds });
  const members: BundleMember[] = [];
  let trust: TrustRunReport | undefined;
  for (const [i, m] of selection.members.entries()) {
    const F = features.get(m.candidate.id)!;
    const clf = await fitFeatureMember(m, F, rows, labels, o.calibrate);
    if (clf instanceof SvmClassifier) {
      const X = takeRows(F.X, F.d, rows);
      const t = await fitSvmTrust(X, labels, memberSvmOptions(m), { calibrate: o.calibrate, seed: o.seed, onWarning: o.onWarning });
      clf.calibration = t.calibration;
      clf.unknown = t.unknown;
      if (i === 0) {
        trust = {
          ...(t.calibration ? { calibration: [{ path: 'svm' as const, calibration: t.calibration }] } : {}),
          ...(t.unknown && t.oofUnknownScores
            ? { unknown: { path: 'svm' as const, method: t.unknown.method, threshold: t.unknown.threshold, rate: t.unknown.rate, ...scoreHistogram(t.oofUnknownScores) } }
            : {}),
        };
      }
    }
    clf.classNames = classes;
    clf.backbone = backbones.get(m.candidate.id);
    const file = i === 0 ? 'svm.json' : `svm-${i + 1}.json`;
    await writeAtomic(path.join(dir, file), JSON.stringify(clf.toJSON()) + '\n');
    if (clf instanceof SvmClassifier) clf.dispose();
    members.push({
      path: 'svm',
      classifier: file,
      config: { candidate: m.candidate.id, inputSize: m.candidate.inputSize, crop: m.candidate.crop, tta: m.candidate.tta, classifier: m.solver === 'logistic' ? 'logistic' : 'rbf', scaler: m.solver === 'logistic' ? 'standardize' : m.candidate.scaler, log2C: m.log2C, log2Gamma: m.log2Gamma },
    });
  }
  return { members, selection, trust };
}

/** The fine-tuning candidate to refit: best mean inner score over the folds where it ran. */
export function finetuneRefitChoice(reports: readonly CandidateReport[], candidates: readonly FinetuneCandidate[]): FinetuneCandidate {
  const meanInner = (r: CandidateReport) => {
    const s = r.innerScores.filter((v): v is number => v !== null);
    return s.length ? s.reduce((a, b) => a + b, 0) / s.length : -1;
  };
  const ranked = candidates
    .map((c) => ({ c, r: reports.find((r) => r.id === c.id) }))
    .filter((x) => x.r && x.r.innerScores.some((v) => v !== null))
    .sort((a, b) => meanInner(b.r!) - meanInner(a.r!) || candidates.indexOf(a.c) - candidates.indexOf(b.c));
  return (ranked[0] ?? { c: candidates[0] }).c;
}

/** Refits fine-tuning on all rows into `<dir>/model` for the mean chosen epochs. */
export async function refitFinetunePath(
  dir: string,
  dataset: Dataset,
  files: readonly string[],
  candidate: FinetuneCandidate,
  epochs: { head: number[]; finetune: number[] },
  calibrations: CalibrationJson[],
  base: Omit<FinetuneOptions, 'out'>,
  onProgress?: FinetuneOptions['onProgress'],
): Promise<{ members: BundleMember[]; trust?: TrustRunReport; epochs: { head: number; finetune: number } }> {
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const head = Math.max(1, Math.round(mean(epochs.head)));
  const ft = Math.max(0, Math.round(mean(epochs.finetune)));
  const out = path.join(dir, 'model');
  const { result } = await finetuneOnRows(dataset, files, Int32Array.from({ length: files.length }, (_, i) => i), {
    ...base,
    inputSize: candidate.inputSize,
    crop: candidate.crop,
    freeze: candidate.freeze,
    views: candidate.views,
    dropout: candidate.dropout,
    val: 0,
    headEpochs: head,
    epochs: ft,
    out,
    overwrite: true,
    onProgress,
  });
  // The median fold's temperature: the refit has no hold-out to fit one on.
  const sorted = [...calibrations].sort((a, b) => (a.temperature ?? 1) - (b.temperature ?? 1));
  const calibration = sorted[Math.floor(sorted.length / 2)];
  await carryCalibration(out, calibration);
  // The refit's unknown detector (finetune() fits it on the trained network's features) is drawn like the SVM's.
  const u = result.meta.unknown;
  const unknown = u && result.oofUnknownScores ? { path: 'finetune' as const, method: u.method, threshold: u.threshold, rate: u.rate, ...scoreHistogram(result.oofUnknownScores) } : undefined;
  const trust: TrustRunReport | undefined = calibration || unknown ? { ...(calibration ? { calibration: [{ path: 'finetune' as const, calibration }] } : {}), ...(unknown ? { unknown } : {}) } : undefined;
  return {
    members: [{ path: 'finetune', classifier: 'model', config: { candidate: candidate.id, inputSize: candidate.inputSize, crop: candidate.crop, freeze: String(candidate.freeze), views: candidate.views, dropout: candidate.dropout, headEpochs: head, epochs: ft } }],
    trust,
    epochs: { head, finetune: ft },
  };
}

export async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, text);
  await fsp.rename(tmp, file);
}

/** Writes `<dir>/ftk.json` for these members. */
export async function writeBundleMeta(dir: string, chosen: PathName, members: BundleMember[], classes: string[], backbone: BackboneInfo, reasons: string[]): Promise<void> {
  const meta: AutoBundleMeta = {
    format: AUTO_BUNDLE_FORMAT,
    formatVersion: AUTO_BUNDLE_FORMAT_VERSION,
    chosen,
    classifier: members[0].classifier,
    members,
    classes,
    backbone,
    reasons,
    createdAt: new Date().toISOString(),
  };
  await writeAtomic(path.join(dir, 'ftk.json'), JSON.stringify(meta, null, 1) + '\n');
}
