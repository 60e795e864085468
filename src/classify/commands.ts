/**
 * The SVM commands as typed library functions, one per CLI command (`ftk svm fit | cv | predict`).
 * They never print: progress, warnings and notices go through callbacks, results are returned.
 *
 * Defaults (all stated in options.ts): kernel 'rbf', C 1, gamma 'scale', scaler 'standardize',
 * classWeight null, probability false, grid false; folds 5, repeats 1, shuffle true, seed 0,
 * workers = all cores; grid log2C -5..15 step 2, log2Gamma 3..-15 step -2 (libsvm grid.py).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DatasetError, FeaturesError, OptionsError } from '../errors.js';
import type { BackboneInfo } from '../formats/features.js';
import { LINEAR_MODEL_FORMAT, type LinearModelJson } from '../formats/linear_model.js';
import { probabilitiesByName, type Prediction } from '../formats/prediction.js';
import type { SvmModelJson } from '../formats/svm_model.js';
import { loadFeatures, type LoadedFeatures } from './features_io.js';
import { linearFromJSON, linearModelFor, type LinearClassifier } from './linear.js';
import { LINEAR_SVC_CONSTRAINTS, checkSolver, type LinearSvcLoss, type SolverName } from './linear_options.js';
import { linearCrossValidate, linearGridSearch, type LinearKind } from './linear_search.js';
import { assertFitsHeap, maxPrecomputedSamples } from './libsvm.js';
import { nestedCrossValidate, type NestedCvOptions, type NestedCvResult } from './nested.js';
import {
  CV_CONSTRAINTS,
  CV_DEFAULTS,
  GRID_CONSTRAINTS,
  SVM_DEFAULTS,
  SVM_CONSTRAINTS,
  checkOptions,
  type CvOptions,
  type GridOptions,
  type SvmOptions,
} from './options.js';
import { crossValidate, gridSearch, type CrossValidationResult, type GridPoint, type GridSearchResult, type SearchProgress } from './search.js';
import { SvmClassifier } from './svm.js';
import { fitSvmTrust } from '../trust/fit.js';

/** Callbacks shared by the commands (none of them is required). */
export interface CommandCallbacks {
  /** Progress of cross-validation / grid search. */
  onProgress?: (event: SearchProgress) => void;
  /** Usable but weaker results. */
  onWarning?: (message: string) => void;
  /** Stage announcements, libsvm easy.py style ("Grid search: 110 points x 5 folds"). */
  onStage?: (message: string) => void;
}

/** Options that choose and tune the linear solvers (`solver: 'liblinear' | 'logistic'`, or 'auto' above the SVM's limit). */
export interface SolverChoice {
  /**
   * 'auto': the exact kernel SVM (libsvm) when its kernel fits libsvm-js' heap
   * (`maxPrecomputedSamples`), else, for the linear kernel, LinearSVC on all rows (said through
   * onStage); 'libsvm', 'liblinear' (LinearSVC) or 'logistic' (LogisticRegression) force one.
   * Default 'auto'. See SolverName in linear_options.ts.
   */
  solver?: SolverName;
  /** Linear solvers: most epochs / iterations. Default: LINEAR_SVC_DEFAULTS / LOGISTIC_DEFAULTS. */
  maxIter?: number;
  /** LinearSVC's loss. Default 'squared_hinge'. */
  loss?: LinearSvcLoss;
  /** LinearSVC: solve the dual or the primal; 'auto' = scikit-learn's rule (LinearSvcOptions.dual). Default 'auto'. */
  dual?: boolean | 'auto';
}

/** `ftk svm fit`: SVM options, grid options (used with `grid: true`), and where to write the model. */
export interface SvmFitOptions extends SvmOptions, GridOptions, CommandCallbacks, SolverChoice {
  /** Choose C (and gamma) by grid search with stratified k-fold, then refit on all data. Default false. */
  grid?: boolean;
  /** Write the model JSON here (atomically). Default: not written (use the returned `json`). */
  out?: string;
  /**
   * With `grid`: the grid search's results log (GridOptions.log), so `resume` can continue a
   * killed search. Default `<out>.grid.jsonl` when `out` is given, else none.
   */
  log?: string;
  /**
   * With `probability`: fit a temperature on the training images' out-of-fold probabilities and
   * save it in the model (`calibration`; src/trust/calibrate.ts). Default true (TRUST_DEFAULTS).
   */
  calibrate?: boolean;
  /** Fit an unknown detector on the training features and save it in the model (`unknown`; src/trust/ood.ts). Default true. */
  unknown?: boolean;
  /** Share of images like the training ones the unknown threshold may reject. Default 0.05 (UNKNOWN_DEFAULTS). */
  unknownRate?: number;
}

export interface SvmFitResult {
  /** The exact kernel SVM, or a linear model (solver 'liblinear' / 'logistic'). */
  model: SvmClassifier | LinearClassifier;
  json: SvmModelJson | LinearModelJson;
  /** The solver used (after 'auto' chose). */
  solver: 'libsvm' | LinearKind;
  /** Every grid point (with `grid: true`). */
  gridTable?: GridPoint[];
  grid?: GridSearchResult;
  /** Where the model was written (with `out`). */
  outPath?: string;
  nSamples: number;
  nFeatures: number;
  classNames: string[];
}

/** `ftk svm cv`: SVM options plus cross-validation options. */
export interface SvmCvOptions extends SvmOptions, CvOptions, CommandCallbacks, SolverChoice {}

export interface SvmCvResult extends Omit<CrossValidationResult, 'params'> {
  solver: 'libsvm' | LinearKind;
  params: CrossValidationResult['params'] | Record<string, unknown>;
  classNames: string[];
  nSamples: number;
  nFeatures: number;
}

/** A prediction of one feature row, in ftk's one prediction schema (src/formats/prediction.ts). */
export type SvmPrediction = Prediction & { row: number; label: string; labelIndex: number };

export interface SvmPredictResult {
  /** The model's classes (names; class numbers as strings for models fitted without names). */
  classes: string[];
  predictions: SvmPrediction[];
  /** Accuracy against the features' labels, when they name the same classes as the model. */
  accuracy?: number;
}
const CALLBACKS = ['onProgress', 'onWarning', 'onStage'];
const SOLVER_CONSTRAINTS = {
  solver: { allowed: "'auto', 'libsvm', 'liblinear' or 'logistic'", ok: (v: unknown) => ['auto', 'libsvm', 'liblinear', 'logistic'].includes(v as string) },
  maxIter: LINEAR_SVC_CONSTRAINTS.maxIter,
  loss: LINEAR_SVC_CONSTRAINTS.loss,
  dual: LINEAR_SVC_CONSTRAINTS.dual,
};
const LINEAR_KEYS = ['C', 'classWeight', 'scaler', 'seed', 'tol', 'maxIter', 'loss', 'dual'];

/**
 * Which solver runs, for `nTrain` training rows: see SolverChoice.solver. Refuses combinations that
 * mean nothing (gamma or an RBF kernel with a linear solver...) and, above libsvm-js' limit with the
 * RBF kernel, names the switch: `--kernel linear`.
 */
function chooseSolver(nTrain: number, options: SvmOptions & SolverChoice, source: string, onStage?: (m: string) => void): 'libsvm' | LinearKind {
  const solver = checkSolver(options.solver);
  const cacheSize = options.cacheSize ?? SVM_DEFAULTS.cacheSize;
  const kernel = options.kernel ?? SVM_DEFAULTS.kernel;
  const limit = maxPrecomputedSamples(cacheSize);
  let chosen: 'libsvm' | LinearKind;
  if (solver === 'auto') {
    if (nTrain <= limit) chosen = 'libsvm';
    else if (kernel === 'linear') {
      chosen = 'liblinear';
      onStage?.(
        `${nTrain} training samples: above the ${limit} that libsvm-js' 2 GiB heap holds for the exact kernel, so ftk uses LinearSVC ` +
          `(squared hinge, one-vs-rest) on all ${nTrain} rows (--solver libsvm to refuse instead)`,
      );
    } else {
      assertFitsHeap(nTrain, cacheSize, source);
      chosen = 'libsvm';
    }
  } else chosen = solver;
  if (chosen === 'libsvm') {
    const linearOnly = (['maxIter', 'loss', 'dual'] as const).filter((k) => options[k] !== undefined);
    if (linearOnly.length) {
      throw new OptionsError(`${linearOnly.join(', ')} only apply to the linear solvers. Received them with the libsvm solver.`, {
        code: 'OPTIONS_CONFLICT',
        suggestion: 'Add --solver liblinear (or logistic), or drop them.',
      });
    }
    assertFitsHeap(nTrain, cacheSize, source);
    return chosen;
  }
  const bad: string[] = [];
  if (options.kernel === 'rbf') bad.push('kernel=rbf');
  if (options.gamma !== undefined) bad.push(`gamma=${String(options.gamma)}`);
  if (options.cacheSize !== undefined) bad.push('cacheSize');
  if (options.shrinking !== undefined) bad.push('shrinking');
  if (options.probability && chosen === 'liblinear') bad.push('probability');
  if (options.loss !== undefined && chosen === 'logistic') bad.push('loss');
  if (options.dual !== undefined && chosen === 'logistic') bad.push('dual');
  if (bad.length) {
    throw new OptionsError(`The ${chosen} solver is a linear model: ${bad.join(', ')} do${bad.length > 1 ? '' : 'es'} not apply to it.`, {
      code: 'OPTIONS_CONFLICT',
      suggestion: options.probability && chosen === 'liblinear' ? 'For probabilities use --solver logistic.' : 'Drop them, or use --solver libsvm on fewer samples.',
    });
  }
  return chosen;
}

function split<T extends object>(options: T, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (options as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

const SVM_KEYS = Object.keys(SVM_CONSTRAINTS);
const npyFile = (prefix: string): string => `${prefix.replace(/\.(npy|json)$/, '')}.npy`;
const CV_KEYS = Object.keys(CV_CONSTRAINTS);
const GRID_KEYS = Object.keys(GRID_CONSTRAINTS);

function backboneOf(f: LoadedFeatures): BackboneInfo | undefined {
  return f.meta.model && typeof f.meta.model === 'object' ? f.meta.model : undefined;
}

async function writeJsonAtomic(file: string, value: unknown): Promise<string> {
  const abs = path.resolve(file);
  await fsp.mkdir(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, JSON.stringify(value) + '\n');
  await fsp.rename(tmp, abs);
  return abs;
}

/** Writes a model JSON (atomically, via a temporary file). Returns the absolute path. */
export function saveSvmModel(file: string, json: SvmModelJson | LinearModelJson): Promise<string> {
  return writeJsonAtomic(file, json);
}

/**
 * Fits an SVM on a features file; with `grid: true`, grid-searches C (and gamma) first and refits
 * on all samples with the best point. The model carries the class names and the backbone info.
 */
export async function svmFit(featuresPrefix: string, options: SvmFitOptions = {}): Promise<SvmFitResult> {
  const bool = { allowed: 'true or false', ok: (v: unknown) => typeof v === 'boolean' };
  checkOptions(
    'svm fit',
    options,
    {
      ...SVM_CONSTRAINTS,
      ...GRID_CONSTRAINTS,
      ...SOLVER_CONSTRAINTS,
      grid: bool,
      out: { allowed: 'a file path', ok: (v) => typeof v === 'string' && v.length > 0 },
      calibrate: bool,
      unknown: bool,
      unknownRate: { allowed: 'a number strictly between 0 and 1 (0.05 = 5%)', ok: (v) => typeof v === 'number' && v > 0 && v < 1 },
    },
    CALLBACKS,
  );
  if (options.unknown === false && options.unknownRate !== undefined) {
    throw new OptionsError('unknownRate has no effect with unknown: false.', { code: 'OPTIONS_CONFLICT', suggestion: 'Drop --unknown-rate, or drop --no-unknown.' });
  }
  const grid = options.grid ?? false;
  if (!grid) {
    // workers also drive the linear solvers' fit (checked once the solver is known).
    const gridOnly = GRID_KEYS.filter((k) => k !== 'seed' && k !== 'workers' && (options as Record<string, unknown>)[k] !== undefined);
    if (gridOnly.length > 0) {
      throw new OptionsError(`Option${gridOnly.length > 1 ? 's' : ''} ${gridOnly.join(', ')} only apply with grid: true.`, {
        code: 'OPTIONS_CONFLICT',
        suggestion: 'Add --grid, or drop them.',
      });
    }
  }
  const f = await loadFeatures(featuresPrefix);
  // The final fit uses every sample: refuse (or switch) now, not after a grid search of minutes.
  const solver = chooseSolver(f.n, options, npyFile(featuresPrefix), options.onStage);
  if (solver !== 'libsvm') return linearFit(f, solver, options);
  if (!grid && options.workers !== undefined) options.onWarning?.('workers has no effect on a single libsvm fit (it sets the threads of --grid and of the linear solvers).');
  const classNames = f.meta.classes;
  const X = { data: f.X, rows: f.n, cols: f.d };
  const svmOpts = split(options, SVM_KEYS) as SvmOptions;
  let gridResult: GridSearchResult | undefined;
  let fitOpts: SvmOptions = svmOpts;
  if (grid) {
    const gridOpts = split(options, GRID_KEYS) as GridOptions;
    if (gridOpts.log === undefined && options.out) gridOpts.log = `${path.resolve(options.out)}.grid.jsonl`;
    options.onStage?.(`Grid search on ${f.n} samples x ${f.d} features (${classNames.length} classes)`);
    gridResult = await gridSearch(X, f.labels, svmOpts, { ...gridOpts, onProgress: options.onProgress, onWarning: options.onWarning });
    if (gridResult.resumedTasks) options.onStage?.(`Reused ${gridResult.resumedTasks} finished (fold, gamma) results from ${gridOpts.log}`);
    const b = gridResult.best;
    fitOpts = { ...svmOpts, C: b.C, ...(b.gamma !== null ? { gamma: b.gamma } : {}) };
    options.onStage?.(
      `Best: C=${b.C}${b.gamma !== null ? ` gamma=${b.gamma}` : ''}, ${gridResult.folds}-fold accuracy ${(100 * b.meanAccuracy).toFixed(2)}%`,
    );
  }
  options.onStage?.(`Fitting on all ${f.n} samples`);
  const model = await new SvmClassifier(fitOpts).fit(X, f.labels, { onWarning: options.onWarning });
  const wantCalibration = Boolean(model.params_!.probability) && options.calibrate !== false;
  if (wantCalibration || options.unknown !== false) {
    options.onStage?.(
      [wantCalibration ? 'calibrating the probabilities on out-of-fold predictions' : '', options.unknown !== false ? 'fitting the unknown detector' : ''].filter(Boolean).join(' and ').replace(/^./, (c) => c.toUpperCase()),
    );
    const trust = await fitSvmTrust(X, f.labels, fitOpts, {
      calibrate: wantCalibration,
      unknown: options.unknown !== false,
      seed: model.params_!.seed,
      onWarning: options.onWarning,
      unknownOptions: { rate: options.unknownRate },
    });
    model.calibration = trust.calibration;
    model.unknown = trust.unknown;
    const c = trust.calibration;
    if (c) options.onStage?.(`Calibration: ${c.method === 'none' ? 'none needed' : `temperature ${c.temperature.toFixed(3)}`}, out-of-fold ECE ${c.before.ece.toFixed(4)} -> ${c.after.ece.toFixed(4)} (${c.before.samples} images, 15 bins)`);
    const u = trust.unknown;
    if (u) options.onStage?.(`Unknown detector: ${u.method}${u.k ? ` (k=${u.k})` : ''}, threshold ${u.threshold.toFixed(4)} rejects ${(100 * u.rate).toFixed(1)}% of images like the training ones (${u.thresholdFrom} scores)`);
  }
  return finishFit(model, 'libsvm', f, classNames, gridResult, options);
}

/**
 * The end of every `svmFit`: class names, backbone and grid record on the fitted model, the model
 * written atomically when `out` is given, and the result.
 */
async function finishFit(
  model: SvmClassifier | LinearClassifier,
  solver: SvmFitResult['solver'],
  f: LoadedFeatures,
  classNames: readonly string[],
  gridResult: GridSearchResult | undefined,
  options: SvmFitOptions,
): Promise<SvmFitResult> {
  model.classNames = model.classes_!.map((c) => classNames[c] ?? String(c));
  model.backbone = backboneOf(f);
  if (gridResult) {
    model.gridSearch = { bestC: gridResult.best.C, bestGamma: gridResult.best.gamma, bestScore: gridResult.best.meanAccuracy, folds: gridResult.folds, seed: gridResult.seed };
  }
  const json = model.toJSON();
  const outPath = options.out ? await writeJsonAtomic(options.out, json) : undefined;
  if (outPath) options.onStage?.(`Model written to ${outPath}`);
  return {
    model,
    json,
    solver,
    ...(gridResult ? { grid: gridResult, gridTable: gridResult.table } : {}),
    ...(outPath ? { outPath } : {}),
    nSamples: f.n,
    nFeatures: f.d,
    classNames: model.classNames,
  };
}

async function linearFit(f: LoadedFeatures, solver: LinearKind, options: SvmFitOptions): Promise<SvmFitResult> {
  if (options.log !== undefined || options.resume) {
    throw new OptionsError('The grid log and resume belong to the libsvm grid search; the linear solvers search C in one pass.', { code: 'OPTIONS_CONFLICT', suggestion: 'Drop --grid-log / --resume.' });
  }
  const classNames = f.meta.classes;
  const X = { data: f.X, rows: f.n, cols: f.d };
  const linOpts = split(options, LINEAR_KEYS) as Record<string, unknown>;
  const workers = options.workers;
  let gridResult: GridSearchResult | undefined;
  if (options.grid) {
    const { C: _c, ...fixed } = linOpts;
    options.onStage?.(`Grid search of C (${solver}) on ${f.n} samples x ${f.d} features (${classNames.length} classes)`);
    gridResult = await linearGridSearch(solver, X, f.labels, fixed, {
      ...(split(options, ['folds', 'repeats', 'shuffle', 'seed', 'workers', 'log2C']) as object),
      onProgress: options.onProgress,
      onWarning: options.onWarning,
    });
    linOpts.C = gridResult.best.C;
    options.onStage?.(`Best: C=${gridResult.best.C}, ${gridResult.folds}-fold accuracy ${(100 * gridResult.best.meanAccuracy).toFixed(2)}%`);
  }
  options.onStage?.(`Fitting ${solver === 'logistic' ? 'LogisticRegression (multinomial, L-BFGS)' : 'LinearSVC'} on all ${f.n} samples`);
  const model = linearModelFor(solver, { ...linOpts, ...(workers !== undefined ? { workers } : {}) });
  await model.fit(X, f.labels, { onWarning: options.onWarning });
  return finishFit(model, solver, f, classNames, gridResult, options);
}

/** Stratified k-fold cross-validation of one SVM configuration on a features file. */
export async function svmCrossValidate(featuresPrefix: string, options: SvmCvOptions = {}): Promise<SvmCvResult> {
  checkOptions('svm cv', options, { ...SVM_CONSTRAINTS, ...CV_CONSTRAINTS, ...SOLVER_CONSTRAINTS }, CALLBACKS);
  const f = await loadFeatures(featuresPrefix);
  const svmOpts = split(options, SVM_KEYS) as SvmOptions;
  const cvOpts = split(options, CV_KEYS) as CvOptions;
  // The largest training fold holds n - floor(n / k) samples.
  const folds = cvOpts.folds ?? CV_DEFAULTS.folds;
  const solver = chooseSolver(f.n - Math.floor(f.n / folds), options, npyFile(featuresPrefix), options.onStage);
  options.onStage?.(`Cross-validating on ${f.n} samples x ${f.d} features (${f.meta.classes.length} classes)`);
  if (solver !== 'libsvm') {
    const r = await linearCrossValidate(solver, { data: f.X, rows: f.n, cols: f.d }, f.labels, split(options, LINEAR_KEYS), {
      ...cvOpts,
      onProgress: options.onProgress,
      onWarning: options.onWarning,
    });
    const { model: _m, ...rest } = r;
    return { ...rest, solver, params: { ...r.params }, classNames: r.classes.map((c) => f.meta.classes[c] ?? String(c)), nSamples: f.n, nFeatures: f.d };
  }
  const r = await crossValidate({ data: f.X, rows: f.n, cols: f.d }, f.labels, svmOpts, {
    ...cvOpts,
    onProgress: options.onProgress,
    onWarning: options.onWarning,
  });
  return { ...r, solver, classNames: r.classes.map((c) => f.meta.classes[c] ?? String(c)), nSamples: f.n, nFeatures: f.d };
}

/** `ftk svm cv --grid`: options of the nested cross-validation (outer `folds`, inner `innerFolds`, the grid). */
export interface SvmNestedCvOptions extends SvmOptions, NestedCvOptions, CommandCallbacks, SolverChoice {}

export interface SvmNestedCvResult extends NestedCvResult {
  classNames: string[];
  nSamples: number;
  nFeatures: number;
}

/**
 * Nested cross-validation of the grid-searched classifier on a features file (scikit-learn's
 * `cross_val_score(GridSearchCV(...))`): see nested.ts.
 */
export async function svmNestedCrossValidate(featuresPrefix: string, options: SvmNestedCvOptions = {}): Promise<SvmNestedCvResult> {
  const { innerFolds, ...rest } = options;
  checkOptions('svm cv --grid', rest, { ...SVM_CONSTRAINTS, ...GRID_CONSTRAINTS, ...SOLVER_CONSTRAINTS }, CALLBACKS);
  if (options.C !== undefined || options.gamma !== undefined) {
    throw new OptionsError('The nested grid search chooses C (and gamma) on each outer training fold; do not pass them.', { code: 'OPTIONS_CONFLICT', suggestion: 'Drop --C / --gamma, or set the grid with --log2c / --log2gamma.' });
  }
  const f = await loadFeatures(featuresPrefix);
  const outer = options.folds ?? CV_DEFAULTS.folds;
  const solver = chooseSolver(f.n - Math.floor(f.n / outer), options, npyFile(featuresPrefix), options.onStage);
  const grid = split(options, ['folds', 'shuffle', 'seed', 'workers', 'log2C', 'log2Gamma']) as NestedCvOptions;
  const modelOpts = solver === 'libsvm' ? split(options, SVM_KEYS) : split(options, LINEAR_KEYS);
  options.onStage?.(`Nested cross-validation (${solver}): ${outer} outer folds, ${innerFolds ?? 'default'} inner folds, on ${f.n} samples x ${f.d} features`);
  const r = await nestedCrossValidate({ data: f.X, rows: f.n, cols: f.d }, f.labels, solver, modelOpts, {
    ...grid,
    ...(innerFolds !== undefined ? { innerFolds } : {}),
    onProgress: options.onProgress,
    onWarning: options.onWarning,
  });
  return { ...r, classNames: r.classes.map((c) => f.meta.classes[c] ?? String(c)), nSamples: f.n, nFeatures: f.d };
}

function checkBackbone(trained: BackboneInfo | undefined, features: BackboneInfo | undefined, modelPath: string, featuresSource: string): void {
  if (!trained || !features) return;
  // TTA is named when either side has it: it is the one difference the other fields would not show.
  const tta = trained.tta === 'flip' || features.tta === 'flip';
  const describe = (b: BackboneInfo) => `${b.layer}, ${b.inputSize}px${tta ? `, tta ${b.tta ?? 'none'}` : ''}, fingerprint ${b.fingerprint.slice(0, 12)}`;
  if (trained.fingerprint !== features.fingerprint || trained.name !== features.name) {
    throw new FeaturesError(
      `${featuresSource} was extracted with ${features.name} (${describe(features)}) but ${modelPath} was trained on ${trained.name} (${describe(trained)}).`,
      {
        code: 'SVM_BACKBONE_MISMATCH',
        suggestion: 'Extract the features with the same backbone, weights, layer, pooling, input size and --tta as the training features.',
      },
    );
  }
}

/** A saved SVM or linear model, by its `format` field. */
export async function loadSvmOrLinearModel(modelPath: string): Promise<SvmClassifier | LinearClassifier> {
  let text: string | undefined;
  try {
    text = await fsp.readFile(modelPath, 'utf8');
  } catch {
    // SvmClassifier.load reports a missing file.
  }
  if (text !== undefined && text.includes(`"${LINEAR_MODEL_FORMAT}"`)) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return SvmClassifier.load(modelPath);
    }
    if ((json as { format?: unknown })?.format === LINEAR_MODEL_FORMAT) return linearFromJSON(json, modelPath);
  }
  return SvmClassifier.load(modelPath);
}

/** Whether the model gives class probabilities. */
export function hasProbabilities(model: SvmClassifier | LinearClassifier): boolean {
  return model instanceof SvmClassifier ? Boolean(model.probA_) : model.hasProbabilities;
}

/** The model's class names (class numbers as strings when it was fitted without names). */
function classNamesOf(model: SvmClassifier | LinearClassifier): string[] {
  return model.classNames ? [...model.classNames] : model.classes_!.map(String);
}

function predictRows(model: SvmClassifier | LinearClassifier, X: Float32Array, n: number, d: number, files?: string[]): SvmPrediction[] {
  const M = { data: X, rows: n, cols: d };
  const labels = model.predict(M);
  const proba = hasProbabilities(model) ? model.predictProba(M) : undefined;
  const names = classNamesOf(model);
  return labels.map((label, i) => {
    const labelIndex = model.classes_!.indexOf(label);
    return {
      row: i,
      ...(files?.[i] !== undefined ? { file: files[i] } : {}),
      label: names[labelIndex],
      labelIndex,
      ...(proba ? { probabilities: probabilitiesByName(names, proba[i]) } : {}),
    };
  });
}

/** Predicts every row of a features file with a saved model; refuses another backbone or dimension. */
export async function svmPredict(modelPath: string, featuresPrefix: string): Promise<SvmPredictResult> {
  const model = await loadSvmOrLinearModel(modelPath);
  try {
    const f = await loadFeatures(featuresPrefix, { requireLabels: false });
    checkBackbone(model.backbone, backboneOf(f), modelPath, featuresPrefix);
    if (f.d !== model.nFeaturesIn_) {
      throw new FeaturesError(`${featuresPrefix} has ${f.d} features per sample but ${modelPath} expects ${model.nFeaturesIn_}.`, {
        code: 'SVM_FEATURE_COUNT',
        suggestion: 'Use features from the same backbone and layer as the training features.',
      });
    }
    const predictions = predictRows(model, f.X, f.n, f.d, f.meta.files);
    let accuracy: number | undefined;
    const names = model.classNames;
    if (names && Array.isArray(f.meta.labels) && f.meta.labels.length === f.n && Array.isArray(f.meta.classes)) {
      // Compare by class name, so a features file with the same classes in another order still scores.
      let ok = 0;
      let counted = 0;
      predictions.forEach((p, i) => {
        const truth = f.meta.classes[f.meta.labels[i]];
        if (truth !== undefined && names.includes(truth)) {
          counted++;
          if (p.label === truth) ok++;
        }
      });
      if (counted === f.n) accuracy = ok / counted;
    }
    return { classes: classNamesOf(model), predictions, ...(accuracy !== undefined ? { accuracy } : {}) };
  } finally {
    model.dispose();
  }
}

/**
 * Hook for `ftk svm predict model.json <images>` (wired by the CLI): `extract` turns image paths
 * into features with the model's backbone settings (`backbone`: name, weights, layer, pooling,
 * preprocessing, input size, crop). ftk checks the fingerprint and the dimension of what comes back.
 */
export type ImageFeatureExtractor = (
  backbone: BackboneInfo,
  inputs: string[],
) => Promise<{ X: Float32Array; n: number; d: number; files: string[]; backbone: BackboneInfo }>;

export async function svmPredictImages(modelPath: string, inputs: string[], extract: ImageFeatureExtractor): Promise<SvmPredictResult> {
  const model = await loadSvmOrLinearModel(modelPath);
  try {
    if (!model.backbone) {
      throw new DatasetError(`${modelPath} does not record which backbone produced its training features, so images cannot be predicted.`, {
        code: 'SVM_NO_BACKBONE',
        suggestion: 'Extract features from the images with `ftk bottleneck extract` and pass the features prefix instead.',
      });
    }
    const f = await extract(model.backbone, inputs);
    checkBackbone(model.backbone, f.backbone, modelPath, 'the extracted images');
    if (f.d !== model.nFeaturesIn_) {
      throw new FeaturesError(`The images gave ${f.d} features per sample but ${modelPath} expects ${model.nFeaturesIn_}.`, {
        code: 'SVM_FEATURE_COUNT',
        suggestion: 'The backbone settings differ from training: check layer and pooling.',
      });
    }
    return { classes: classNamesOf(model), predictions: predictRows(model, f.X, f.n, f.d, f.files) };
  } finally {
    model.dispose();
  }
}
