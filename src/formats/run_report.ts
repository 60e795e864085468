/**
 * The run record `<run dir>/run.json` (`RunReport`): everything one `ftk auto` run measured and
 * decided, as plain data. `ftk report <run dir>` renders it into `report.html`, `report.md` and
 * `report.json`. Only `dataset` and `decision` are required, so a partial run (stopped by
 * `--budget`, one path failed, no learning curve) still renders. See src/formats/README.md,
 * section "Run report".
 *
 * Conventions, for every field below:
 * - Accuracies, F1 scores, fractions and probabilities are in [0, 1] (never percentages).
 * - Class indices (`label`, `predicted`, confusion rows/columns, `perClass` order) index
 *   `dataset.classes`.
 * - Every 95% interval is `[low, high]` of the same quantity.
 * - Image paths (`file`) are relative to `dataset.root`, '/'-separated (absolute paths allowed).
 * - Durations are milliseconds.
 */
import type { DeviceRecord } from './device.js';
import { FtkError } from '../errors.js';
import type { BackboneInfo, SkippedFile } from './features.js';
import type { TrustRunReport } from './trust.js';

export const RUN_REPORT_FORMAT = 'ftk-run';
export const RUN_REPORT_FORMAT_VERSION = 1;

/**
 * The ways ftk can train a classifier, plus 'ensemble': the mean of the SVM's and the fine-tuned
 * model's calibrated probabilities, scored by `ftk auto` on the same outer folds as the paths.
 */
export type PathName = 'svm' | 'finetune' | 'scratch' | 'ensemble';
export const PATH_NAMES: readonly PathName[] = Object.freeze(['svm', 'finetune', 'scratch', 'ensemble'] as const);

export interface RunReport {
  format: typeof RUN_REPORT_FORMAT;
  formatVersion: number;
  /** ISO time the run started / the record was written. */
  createdAt?: string;
  /** ftk version that wrote the record. */
  ftkVersion?: string;
  /** The command line of the run, e.g. ['ftk', 'auto', 'data/', '--budget', '30']. */
  command?: string[];
  seed?: number | null;
  dataset: DatasetSummary;
  decision: Decision;
  /** The stratified folds every path was evaluated on. */
  folds?: FoldPlan;
  /** Cross-validated results of each path that ran, on the same folds. */
  paths?: PathResult[];
  /** Paired per-fold differences between paths (same folds). */
  comparisons?: PairedComparison[];
  learningCurves?: LearningCurves;
  /** The SVM's C x gamma grid. */
  grid?: GridReport;
  timings?: Timings;
  runtime?: RuntimeInfo;
  /** The pretrained backbone (features for the SVM, start point of fine-tuning). */
  backbone?: BackboneInfo;
  budget?: BudgetReport;
  /** The saved bundle (`ftk predict` input), when the run got that far. */
  bundle?: { path: string; sizeBytes?: number };
  /** Anything the run warned about (usable but weaker results), in order. */
  warnings?: string[];
  /** Calibration and unknown detection of the refitted winner (src/trust). */
  trust?: TrustRunReport;
  /**
   * Every configuration each path tried inside the training folds (nested selection), with how
   * often it was picked and how it did on the outer folds where it was.
   */
  candidates?: CandidateReport[];
}

/** One configuration of one path, as the nested selection saw it across the outer folds. */
export interface CandidateReport {
  /** Unique within the run, e.g. 'svm-rbf-C8-g0.008', 'finetune-freeze14-lr1e-4'. */
  id: string;
  path: PathName;
  /** Human description, e.g. 'RBF SVM, C = 2^3, gamma = 2^-7'. */
  label: string;
  /** The settings that make this candidate, by name. */
  config: Record<string, string | number | boolean>;
  /** Per outer fold: its score inside that fold's training rows (inner CV / validation); null = not evaluated there (pruned, budget). */
  innerScores: (number | null)[];
  /** Outer folds whose selection picked it. */
  picked: number;
  /** Per outer fold: its outer (held-out) accuracy where it was picked, else null. */
  outerAccuracies?: (number | null)[];
  /** Time spent on it over all folds. */
  ms: number;
  /** Why it was dropped early, e.g. 'stopped after 3 epochs: 12 points behind the best at the same epoch'. */
  pruned?: string;
  /** A limit it ran into, e.g. 'epoch cap 30 reached in folds 2, 4'. */
  capHit?: string;
}

export interface SizeStats {
  min: number;
  median: number;
  max: number;
  mean?: number;
}

export interface DatasetSummary {
  /** Absolute dataset root (folder or manifest folder). */
  root: string;
  /** Class names; index = label. */
  classes: string[];
  /** Usable images per class (same order as `classes`). */
  counts: number[];
  /** Files not used, with the reason (corrupt, unsupported, ...). */
  skipped: SkippedFile[];
  /** Groups of files with identical bytes (paths). */
  duplicates: string[][];
  /** Pairs of different files whose bottleneck features are nearly identical. */
  nearDuplicates?: NearDuplicate[];
  /** Cosine similarity above which a pair counts as a near-duplicate. */
  nearDuplicateThreshold?: number;
  /** What was done about duplicates, e.g. 'kept together in one fold'. */
  duplicateHandling?: string;
  /** Decoded image sizes (pixels), over the usable images. */
  imageSizes?: ImageSizeStats;
}

export interface NearDuplicate {
  files: [string, string];
  /** Cosine similarity of their bottleneck features. */
  cosine: number;
}

export interface ImageSizeStats {
  /** Images measured. */
  count: number;
  width: SizeStats;
  height: SizeStats;
  /** Most frequent sizes, most frequent first. */
  commonest?: { width: number; height: number; count: number }[];
}

export interface Decision {
  /** The path ftk chose (and refitted on all data). */
  chosen: PathName;
  /** Why, most important first: each a full sentence with its numbers. */
  reasons: string[];
  /** What the dataset alone suggested, before any training. */
  prior?: DecisionPrior;
  /** What the measurements said. */
  evidence?: DecisionEvidence;
  /** The decision rule in words (src/auto/decision.ts `DECISION_RULE`), as applied. */
  rule?: string;
  /** Contenders left out of the comparison (too few folds in common), each with why. */
  excluded?: { id: string; why: string }[];
}

export interface DecisionPrior {
  /** The path the prior favours. */
  favours: PathName;
  reasons: string[];
  /** The numbers the prior was computed from, by name (e.g. imagesPerClass, imagenetEntropy). */
  signals?: Record<string, number | string | boolean>;
}

export interface DecisionEvidence {
  /** Path with the highest mean accuracy on the shared folds (null: nothing measured). */
  best?: PathName | null;
  /** True when the margin over the runner-up is within the paired 95% interval. */
  withinNoise?: boolean;
  reasons: string[];
}

export interface FoldPlan {
  /** k of the stratified k-fold. */
  k: number;
  repeats?: number;
  seed?: number | null;
  /** E.g. 'stratified, duplicate groups kept in one fold'. */
  note?: string;
}

/** One out-of-fold prediction. */
export interface OofPrediction {
  /** Image path (relative to `dataset.root`). */
  file: string;
  /** True class index. */
  label: number;
  /** Predicted class index. */
  predicted: number;
  /** Fold (0-based) in which this image was held out. */
  fold: number;
  /** Probability of each class (length = number of classes), when the path gives them. */
  probabilities?: number[];
}

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface PathResult {
  path: PathName;
  /** Human description, e.g. 'RBF SVM on mobilenet 0.25 features'. */
  label?: string;
  /** Hyper-parameters used or chosen (C, gamma; epochs, learning rate, frozen layers, ...). */
  params?: Record<string, number | string | boolean | null>;
  /** Accuracy of each fold, fold order as in `folds` (repeat-major when repeated). */
  foldAccuracies: number[];
  meanAccuracy: number;
  stdAccuracy?: number;
  /** 95% interval of the mean fold accuracy. */
  ci95: [number, number];
  /** Macro-F1 of the pooled out-of-fold predictions. */
  macroF1?: number;
  /** Macro-F1 of each fold (gives macro-F1 an interval). */
  foldMacroF1?: number[];
  /** Per-class precision / recall / F1 of the pooled predictions, in class order. */
  perClass?: ClassMetrics[];
  /** confusion[true][predicted], pooled over the folds. */
  confusion?: number[][];
  /** Out-of-fold prediction of each image (first repeat). */
  predictions?: OofPrediction[];
  /** Wall time of this path's cross-validation. */
  elapsedMs?: number;
  /** Free-form notes, e.g. 'epochs cut from 20 to 8 by --budget'. */
  notes?: string[];
}

/** Paired per-fold differences `a - b` (same folds). */
export interface PairedComparison {
  a: PathName;
  b: PathName;
  /** accuracy(a) - accuracy(b), fold by fold. */
  differences: number[];
  meanDifference: number;
  /** 95% interval of the mean difference (Student t over the folds). */
  ci95: [number, number];
}

export interface LearningCurvePoint {
  /** Fraction of the training data used (0, 1]. */
  fraction: number;
  /** Training images at this fraction (per training fold). */
  trainSize: number;
  meanAccuracy: number;
  ci95?: [number, number];
  foldAccuracies?: number[];
}

export interface LearningCurve {
  path: PathName;
  /** Ascending by trainSize. */
  points: LearningCurvePoint[];
}

/** Where path `to` overtakes path `from`: below `trainSize` `from` is better, above it `to`. */
export interface Crossover {
  from: PathName;
  to: PathName;
  /** Estimated training size of the crossover; null when the curves do not cross (see `note`). */
  trainSize: number | null;
  /** True when the estimate lies outside the measured sizes. */
  extrapolated?: boolean;
  note?: string;
}

export interface LearningCurves {
  curves: LearningCurve[];
  crossovers?: Crossover[];
}

export interface GridPointReport {
  log2C: number;
  /** null for the linear kernel. */
  log2Gamma: number | null;
  meanAccuracy: number;
  stdAccuracy?: number;
}

export interface GridReport {
  kernel?: 'rbf' | 'linear';
  points: GridPointReport[];
  best?: GridPointReport;
  folds?: number;
  /** What the table scores, e.g. 'refit on all data, 5-fold' or 'mean over the outer folds'. */
  scope?: string;
}

export interface TimingStage {
  /** E.g. 'scan', 'features', 'svm cv', 'finetune cv', 'refit'. */
  name: string;
  ms: number;
  /** Images processed in the stage (gives images/s). */
  images?: number;
  path?: PathName;
}

export interface Timings {
  stages: TimingStage[];
  totalMs?: number;
}

export interface RuntimeInfo {
  /** ftk backend name, e.g. 'wasm', 'tensorflow'. */
  backend: string;
  backendReason?: string;
  /** Inference engine, e.g. 'tfjs' or 'onnxruntime-node'. */
  engine?: string;
  /** The device (`--device`): provider chosen, why, adapter, ONNX Runtime providers read back, training backend. */
  device?: DeviceRecord;
  threads?: number;
  versions?: Record<string, string>;
  node?: string;
  platform?: string;
  cpu?: string;
  cores?: number;
  memoryGiB?: number;
}

export interface BudgetReport {
  /** The --budget in minutes (null: none). */
  minutes: number | null;
  usedMinutes?: number;
  /** What the budget cut, one sentence each (e.g. 'folds 10 -> 5', 'fine-tuning epochs 20 -> 6'). */
  cuts: string[];
}

export class RunReportError extends FtkError {}

type Check = (cond: unknown, what: string) => void;

function isNum(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}
function isNumArray(a: unknown): a is number[] {
  return Array.isArray(a) && a.every(isNum);
}
function isStrArray(a: unknown): a is string[] {
  return Array.isArray(a) && a.every((s) => typeof s === 'string');
}
function isInterval(a: unknown): a is [number, number] {
  return isNumArray(a) && a.length === 2;
}
function isPath(p: unknown): p is PathName {
  return typeof p === 'string' && (PATH_NAMES as readonly string[]).includes(p);
}

function checkPath(r: PathResult, i: number, k: number, check: Check): void {
  const at = `paths[${i}]`;
  check(isPath(r.path), `${at}.path must be one of [${PATH_NAMES.join(', ')}]; received ${JSON.stringify(r.path)}`);
  check(isNumArray(r.foldAccuracies), `${at}.foldAccuracies must be a list of numbers`);
  check(isNum(r.meanAccuracy), `${at}.meanAccuracy must be a number`);
  check(isInterval(r.ci95), `${at}.ci95 must be [low, high]`);
  if (r.foldMacroF1 !== undefined) check(isNumArray(r.foldMacroF1), `${at}.foldMacroF1 must be a list of numbers`);
  if (r.confusion !== undefined) {
    check(
      Array.isArray(r.confusion) && r.confusion.length === k && r.confusion.every((row) => isNumArray(row) && row.length === k),
      `${at}.confusion must be ${k} x ${k} (one row and column per class)`,
    );
  }
  if (r.perClass !== undefined) {
    check(
      Array.isArray(r.perClass) && r.perClass.length === k && r.perClass.every((c) => c && isNum(c.precision) && isNum(c.recall) && isNum(c.f1) && isNum(c.support)),
      `${at}.perClass must hold ${k} entries of {precision, recall, f1, support}`,
    );
  }
  if (r.predictions !== undefined) {
    check(Array.isArray(r.predictions), `${at}.predictions must be a list`);
    r.predictions.forEach((p, j) => {
      const pa = `${at}.predictions[${j}]`;
      check(p && typeof p.file === 'string', `${pa}.file must be a string`);
      const okIndex = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < k;
      check(okIndex(p.label) && okIndex(p.predicted), `${pa}: label and predicted must be class indices in [0, ${k - 1}]`);
      check(Number.isInteger(p.fold) && p.fold >= 0, `${pa}.fold must be a fold index >= 0`);
      if (p.probabilities !== undefined) check(isNumArray(p.probabilities) && p.probabilities.length === k, `${pa}.probabilities must hold ${k} numbers`);
    });
  }
}

/**
 * Checks the structure of a parsed run record (required parts, shapes, class indices);
 * `source` names it in errors. Unknown fields are kept (forward compatible within a version).
 */
export function validateRunReport(obj: unknown, source = 'run.json'): RunReport {
  const check: Check = (cond, what) => {
    if (!cond) {
      throw new RunReportError(`${source} is not a valid ftk run record: ${what}.`, {
        code: 'RUN_REPORT_INVALID',
        suggestion: 'Pass the folder written by `ftk auto --out <dir>` (it holds run.json), or fix the field named above.',
      });
    }
  };
  check(obj !== null && typeof obj === 'object' && !Array.isArray(obj), 'not a JSON object');
  const r = obj as Partial<RunReport>;
  check(r.format === RUN_REPORT_FORMAT, `format is ${JSON.stringify(r.format)}, expected "${RUN_REPORT_FORMAT}"`);
  if (r.formatVersion !== RUN_REPORT_FORMAT_VERSION) {
    throw new RunReportError(`${source} has formatVersion ${String(r.formatVersion)}; this ftk reads version ${RUN_REPORT_FORMAT_VERSION}.`, {
      code: 'RUN_REPORT_VERSION',
      suggestion: isNum(r.formatVersion) && r.formatVersion > RUN_REPORT_FORMAT_VERSION ? 'Update ftk to read this record.' : 'Run `ftk auto` again to write a current record.',
    });
  }
  const d = r.dataset;
  check(d && typeof d === 'object', 'dataset is missing');
  check(typeof d!.root === 'string', 'dataset.root must be a string');
  check(isStrArray(d!.classes) && d!.classes.length >= 1, 'dataset.classes must list the class names');
  const k = d!.classes.length;
  check(isNumArray(d!.counts) && d!.counts.length === k, `dataset.counts must hold ${k} numbers (one per class)`);
  check(Array.isArray(d!.skipped) && d!.skipped.every((s) => s && typeof s.file === 'string' && typeof s.reason === 'string'), 'dataset.skipped must be a list of {file, reason}');
  check(Array.isArray(d!.duplicates) && d!.duplicates.every(isStrArray), 'dataset.duplicates must be a list of lists of paths');
  const dec = r.decision;
  check(dec && typeof dec === 'object', 'decision is missing');
  check(isPath(dec!.chosen), `decision.chosen must be one of [${PATH_NAMES.join(', ')}]; received ${JSON.stringify(dec!.chosen)}`);
  check(isStrArray(dec!.reasons), 'decision.reasons must be a list of strings');
  if (dec!.prior !== undefined) check(isPath(dec!.prior.favours) && isStrArray(dec!.prior.reasons), 'decision.prior must be {favours, reasons}');
  if (dec!.evidence !== undefined) check(isStrArray(dec!.evidence.reasons), 'decision.evidence.reasons must be a list of strings');
  if (dec!.rule !== undefined) check(typeof dec!.rule === 'string', 'decision.rule must be a string');
  if (dec!.excluded !== undefined) {
    check(Array.isArray(dec!.excluded) && dec!.excluded.every((e) => e && typeof e.id === 'string' && typeof e.why === 'string'), 'decision.excluded must be a list of {id, why}');
  }
  if (r.paths !== undefined) {
    check(Array.isArray(r.paths), 'paths must be a list');
    r.paths.forEach((p, i) => checkPath(p, i, k, check));
  }
  if (r.comparisons !== undefined) {
    check(Array.isArray(r.comparisons), 'comparisons must be a list');
    r.comparisons.forEach((c, i) =>
      check(isPath(c.a) && isPath(c.b) && isNumArray(c.differences) && isNum(c.meanDifference) && isInterval(c.ci95), `comparisons[${i}] must be {a, b, differences, meanDifference, ci95}`),
    );
  }
  if (r.learningCurves !== undefined) {
    const lc = r.learningCurves;
    check(lc && Array.isArray(lc.curves), 'learningCurves.curves must be a list');
    lc.curves.forEach((c, i) => {
      check(isPath(c.path) && Array.isArray(c.points), `learningCurves.curves[${i}] must be {path, points}`);
      c.points.forEach((p, j) =>
        check(isNum(p.fraction) && isNum(p.trainSize) && isNum(p.meanAccuracy) && (p.ci95 === undefined || isInterval(p.ci95)), `learningCurves.curves[${i}].points[${j}] must be {fraction, trainSize, meanAccuracy, ci95?}`),
      );
    });
    if (lc.crossovers !== undefined) {
      check(Array.isArray(lc.crossovers) && lc.crossovers.every((c) => isPath(c.from) && isPath(c.to) && (c.trainSize === null || isNum(c.trainSize))), 'learningCurves.crossovers must be a list of {from, to, trainSize}');
    }
  }
  if (r.grid !== undefined) {
    check(r.grid && Array.isArray(r.grid.points), 'grid.points must be a list');
    r.grid.points.forEach((p, i) => check(isNum(p.log2C) && (p.log2Gamma === null || isNum(p.log2Gamma)) && isNum(p.meanAccuracy), `grid.points[${i}] must be {log2C, log2Gamma, meanAccuracy}`));
  }
  if (r.timings !== undefined) {
    check(r.timings && Array.isArray(r.timings.stages) && r.timings.stages.every((s) => s && typeof s.name === 'string' && isNum(s.ms)), 'timings.stages must be a list of {name, ms}');
  }
  if (r.runtime !== undefined) check(r.runtime && typeof r.runtime.backend === 'string', 'runtime.backend must be a string');
  if (r.runtime?.device !== undefined) check(typeof r.runtime.device === 'object' && r.runtime.device !== null && typeof r.runtime.device.provider === 'string', 'runtime.device.provider must be a string');
  if (r.budget !== undefined) check(r.budget && isStrArray(r.budget.cuts), 'budget.cuts must be a list of strings');
  if (r.warnings !== undefined) check(isStrArray(r.warnings), 'warnings must be a list of strings');
  if (r.trust !== undefined) {
    const t = r.trust;
    check(t !== null && typeof t === 'object', 'trust must be an object');
    if (t.calibration !== undefined) check(Array.isArray(t.calibration) && t.calibration.every((c) => isPath(c.path) && c.calibration && typeof c.calibration === 'object'), 'trust.calibration must be a list of {path, calibration}');
    if (t.unknown !== undefined) check(isPath(t.unknown.path) && isNum(t.unknown.threshold) && Array.isArray(t.unknown.edges) && Array.isArray(t.unknown.counts), 'trust.unknown must be {path, threshold, edges, counts}');
  }
  if (r.candidates !== undefined) {
    check(Array.isArray(r.candidates), 'candidates must be a list');
    r.candidates.forEach((c, i) => checkCandidate(c, i, r.folds?.k, check));
  }
  return r as RunReport;
}

function checkCandidate(c: CandidateReport, i: number, k: number | undefined, check: Check): void {
  const at = `candidates[${i}]`;
  check(c !== null && typeof c === 'object', `${at} must be an object`);
  check(typeof c.id === 'string' && c.id.length > 0, `${at}.id must be a non-empty string`);
  check(isPath(c.path), `${at}.path must be one of [${PATH_NAMES.join(', ')}]; received ${JSON.stringify(c.path)}`);
  check(typeof c.label === 'string', `${at}.label must be a string`);
  check(
    c.config !== null && typeof c.config === 'object' && !Array.isArray(c.config) && Object.values(c.config).every((v) => typeof v === 'string' || typeof v === 'boolean' || isNum(v)),
    `${at}.config must be an object of strings, numbers and booleans`,
  );
  const scores = (a: unknown) => Array.isArray(a) && a.every((x) => x === null || isNum(x));
  check(scores(c.innerScores), `${at}.innerScores must be a list of numbers or null (one per outer fold)`);
  if (k !== undefined) check(c.innerScores.length === k, `${at}.innerScores must hold ${k} entries (one per outer fold); it has ${c.innerScores.length}`);
  check(Number.isInteger(c.picked) && c.picked >= 0 && c.picked <= c.innerScores.length, `${at}.picked must be a count of outer folds in [0, ${c.innerScores.length}]`);
  if (c.outerAccuracies !== undefined) {
    check(scores(c.outerAccuracies) && c.outerAccuracies.length === c.innerScores.length, `${at}.outerAccuracies must be a list of numbers or null, one per outer fold (${c.innerScores.length})`);
  }
  check(isNum(c.ms) && c.ms >= 0, `${at}.ms must be a number >= 0`);
  if (c.pruned !== undefined) check(typeof c.pruned === 'string', `${at}.pruned must be a string`);
  if (c.capHit !== undefined) check(typeof c.capHit === 'string', `${at}.capHit must be a string`);
}
