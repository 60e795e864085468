/**
 * `ftk svm fit | cv | predict`: flags -> typed options -> src/classify's command functions.
 * Defaults are not repeated here: help texts read them from the library (SVM_DEFAULTS, CV_DEFAULTS).
 */
import { Command, InvalidArgumentError } from 'commander';
import { DEVICE_NAMES, type DeviceName } from '../../formats/device.js';
import { DEVICE_HELP, deviceFromFlags } from '../device_flags.js';
import { existsSync, statSync } from 'node:fs';
import type { SvmCvOptions, SvmCvResult, SvmFitOptions, SvmNestedCvOptions, SvmPredictResult } from '../../index.js';
import type { FailedPrediction, PredictionsDocument } from '../../formats/prediction.js';
import { CV_DEFAULTS, GRID_LOG2C_DEFAULT, GRID_LOG2GAMMA_DEFAULT, SVM_DEFAULTS } from '../../classify/options.js';
import { LINEAR_SVC_DEFAULTS, LOGISTIC_DEFAULTS } from '../../classify/linear_options.js';
import { NESTED_INNER_FOLDS_DEFAULT } from '../../classify/nested.js';
import { OptionsError } from '../../errors.js';
import { UNKNOWN_DEFAULTS } from '../../trust/ood.js';
import { makeOutput, parseChoice, parseFloatFlag, parseIntFlag } from '../io.js';
import { ProgressBar } from '../progress.js';

export interface SvmFitContext {
  features: string;
  json: boolean;
  options: SvmFitOptions;
}
export interface SvmCvContext {
  features: string;
  json: boolean;
  options: SvmCvOptions;
  /** With --grid: the nested cross-validation's options (then `options` is unused). */
  nested?: SvmNestedCvOptions;
}
export interface SvmPredictContext {
  model: string;
  inputs: string[];
  json: boolean;
  /** --device (images only). */
  device?: DeviceName;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

const rangeText = (values: readonly number[]) => `${values[0]},${values[values.length - 1]},${values.length > 1 ? values[1] - values[0] : 1}`;

/** `begin,end,step` (libsvm grid.py's -log2c / -log2g) as the list of exponents, end included. */
export function parseLog2Range(name: string) {
  return (value: string): number[] => {
    const parts = value.split(',').map((v) => Number(v.trim()));
    const [begin, end, step] = parts;
    const bad = (why: string) => new InvalidArgumentError(`${name} must be begin,end,step (e.g. -5,15,2): ${why}; received "${value}".`);
    if (parts.length !== 3 || !parts.every(Number.isFinite)) throw bad('three numbers');
    if (step === 0 || Math.sign(end - begin) * Math.sign(step) < 0) throw bad('a step that goes from begin towards end');
    const out: number[] = [];
    for (let i = 0; ; i++) {
      const v = begin + i * step;
      if (step > 0 ? v > end + 1e-9 : v < end - 1e-9) break;
      out.push(v);
      if (out.length > 1000) throw bad('at most 1000 values');
    }
    return out;
  };
}

function svmOptionsFrom(raw: Record<string, any>) {
  return {
    kernel: raw.kernel,
    C: raw.C,
    gamma: raw.gamma === undefined ? undefined : raw.gamma === 'scale' || raw.gamma === 'auto' ? raw.gamma : Number(raw.gamma),
    classWeight: raw.classWeight,
    scaler: raw.scaler,
    probability: raw.probability,
    seed: raw.seed,
    folds: raw.folds,
    repeats: raw.repeats,
    workers: raw.workers,
    solver: raw.solver,
    maxIter: raw.maxIter,
    loss: raw.loss,
    dual: raw.dual,
  };
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function svmFitContext(features: string, raw: Record<string, any>): SvmFitContext {
  const { repeats, ...rest } = svmOptionsFrom(raw);
  const options: SvmFitOptions = dropUndefined({
    ...rest,
    grid: raw.grid ? true : undefined,
    out: raw.out,
    log2C: raw.log2c,
    log2Gamma: raw.log2gamma,
    log: raw.gridLog,
    resume: raw.resume ? true : undefined,
    calibrate: raw.calibrate === false ? false : undefined,
    unknown: raw.unknown === false ? false : undefined,
    unknownRate: raw.unknownRate,
  });
  if (!raw.grid) delete options.folds;
  if (raw.grid && repeats !== undefined) options.repeats = repeats;
  return { features, json: Boolean(raw.json), options };
}

export function svmCvContext(features: string, raw: Record<string, any>): SvmCvContext {
  const options = dropUndefined(svmOptionsFrom(raw));
  if (!raw.grid) return { features, json: Boolean(raw.json), options };
  const { repeats, ...rest } = options;
  if (repeats !== undefined) {
    throw new OptionsError('--repeats does not apply to --grid: nested cross-validation uses one outer k-fold.', { code: 'OPTIONS_CONFLICT', suggestion: 'Drop --repeats, or drop --grid.' });
  }
  const nested: SvmNestedCvOptions = dropUndefined({ ...rest, innerFolds: raw.innerFolds, log2C: raw.log2c, log2Gamma: raw.log2gamma });
  return { features, json: Boolean(raw.json), options, nested };
}

function gridLine(p: { log2C: number; log2Gamma: number | null; meanAccuracy: number }, best: { log2C: number; log2Gamma: number | null; meanAccuracy: number }) {
  const g = (x: number | null) => (x === null ? '' : ` log2(gamma)=${x}`);
  return `[grid] log2(C)=${p.log2C}${g(p.log2Gamma)} ${pct(p.meanAccuracy)} (best log2(C)=${best.log2C}${g(best.log2Gamma)} ${pct(best.meanAccuracy)})`;
}

export async function runSvmFit(ctx: SvmFitContext): Promise<number> {
  const out = makeOutput(ctx.json);
  // Loaded here, not at start-up; feature files never load TF.js, ONNX Runtime or sharp.
  const { svmFit } = await import('../../classify/commands.js');
  const result = await svmFit(ctx.features, {
    ...ctx.options,
    onStage: (m) => out.info(m),
    onWarning: (m) => out.warn(m),
    onProgress: (e) => {
      if (e.point && e.best) out.info(gridLine(e.point, e.best));
    },
  });
  const m = result.model;
  const nSupport = 'nSupport_' in m ? m.nSupport_ : undefined;
  out.result(
    {
      out: result.outPath,
      solver: result.solver,
      nSamples: result.nSamples,
      nFeatures: result.nFeatures,
      classes: result.classNames,
      params: result.json.params,
      supportVectors: nSupport,
      ...('nIter_' in m ? { iterations: m.nIter_, converged: m.converged_ } : {}),
      grid: result.grid && { best: result.grid.best, folds: result.grid.folds, seed: result.grid.seed, table: result.gridTable, resumedTasks: result.grid.resumedTasks },
    },
    `${result.nSamples} samples, ${result.nFeatures} features, ${result.classNames.length} classes; ` +
      (nSupport ? `${nSupport.reduce((a, b) => a + b, 0)} support vectors` : `${result.solver} solver, ${'nIter_' in m ? m.nIter_ : '?'} iterations`) +
      (result.outPath ? `\nwrote ${result.outPath}` : '\n(no --out given: model not saved)'),
  );
  return 0;
}

function confusionText(r: SvmCvResult): string {
  const names = r.classNames;
  const w = Math.max(6, ...names.map((n) => n.length));
  const head = ' '.repeat(w) + ' | ' + names.map((n) => n.padStart(w)).join(' ');
  const rows = r.confusion.map((row, i) => names[i].padStart(w) + ' | ' + row.map((v) => String(v).padStart(w)).join(' '));
  return ['confusion (rows: true class, columns: predicted)', head, ...rows].join('\n');
}

export async function runSvmCv(ctx: SvmCvContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const bar = new ProgressBar(process.stderr, !ctx.json && Boolean(process.stderr.isTTY));
  const { svmCrossValidate, svmNestedCrossValidate } = await import('../../classify/commands.js');
  if (ctx.nested) {
    const r = await svmNestedCrossValidate(ctx.features, {
      ...ctx.nested,
      onStage: (m) => out.info(m),
      onWarning: (m) => out.warn(m),
      onProgress: (e) => bar.update({ label: 'outer folds', done: e.tasksDone, total: e.tasksTotal }),
    });
    bar.done();
    out.result(r, [
      ...r.folds.map((f) => `outer fold ${f.fold + 1}: C=${f.C}${f.gamma !== null ? ` gamma=${f.gamma}` : ''} (inner ${r.innerFolds}-fold ${pct(f.innerAccuracy)}) -> ${pct(f.accuracy)} on ${f.nTest} held-out samples`),
      `nested accuracy ${pct(r.meanAccuracy)} (95% interval ${pct(r.ci95[0])} - ${pct(r.ci95[1])}, std ${pct(r.stdAccuracy)})`,
    ].join('\n'));
    return 0;
  }
  const r = await svmCrossValidate(ctx.features, {
    ...ctx.options,
    onStage: (m) => out.info(m),
    onWarning: (m) => out.warn(m),
    onProgress: (e) => bar.update({ label: 'folds', done: e.tasksDone, total: e.tasksTotal }),
  });
  bar.done();
  const { predictions, ...summary } = r;
  out.result(
    { ...summary, predictions },
    [
      ...r.foldAccuracies.map((a, i) => `fold ${i + 1}: ${pct(a)}`),
      `accuracy ${pct(r.meanAccuracy)} (95% interval ${pct(r.ci95[0])} - ${pct(r.ci95[1])}, std ${pct(r.stdAccuracy)}), macro-F1 ${r.macroF1.toFixed(4)}`,
      confusionText(r),
    ].join('\n'),
  );
  return 0;
}

function isFeaturesPrefix(input: string): boolean {
  const base = input.replace(/\.(npy|json)$/, '');
  return existsSync(`${base}.npy`) && existsSync(`${base}.json`) && !(existsSync(input) && statSync(input).isDirectory());
}

export async function runSvmPredict(ctx: SvmPredictContext): Promise<number> {
  const out = makeOutput(ctx.json);
  let result: SvmPredictResult;
  const failed: FailedPrediction[] = [];
  const { svmPredict, svmPredictImages } = await import('../../classify/commands.js');
  if (ctx.inputs.length === 1 && isFeaturesPrefix(ctx.inputs[0])) {
    result = await svmPredict(ctx.model, ctx.inputs[0]);
  } else {
    const { backboneOptionsFrom, extractFeatures, findImages } = await import('../../index.js');
    result = await svmPredictImages(ctx.model, ctx.inputs, async (backbone, inputs) => {
      const images = await findImages(inputs);
      const r = await extractFeatures(images, {
        ...backboneOptionsFrom(backbone),
        ...(ctx.device ? { device: ctx.device } : {}),
        onSkip: (s) => {
          failed.push({ file: s.file, error: s.reason });
          process.stderr.write(`skipped ${s.file}: ${s.reason}\n`);
        },
      });
      return { X: r.features, n: r.meta.shape[0], d: r.meta.shape[1], files: r.meta.files, backbone: r.meta.model };
    });
  }
  const lines = result.predictions.map((p) => {
    const proba = p.probabilities ? ` ${p.probabilities[p.label].toFixed(3)}` : '';
    return `${p.file ?? p.row}\t${p.label}${proba}`;
  });
  if (result.accuracy !== undefined) lines.push(`accuracy against the features' labels: ${pct(result.accuracy)}`);
  const doc: PredictionsDocument = { classes: result.classes, predictions: result.predictions, failed, ...(result.accuracy !== undefined ? { accuracy: result.accuracy } : {}) };
  out.result(doc, lines.join('\n'));
  return 0;
}

function addSvmFlags(cmd: Command, withFolds: 'cv' | 'fit'): Command {
  cmd
    .option('--kernel <kernel>', `linear or rbf (default ${SVM_DEFAULTS.kernel})`, parseChoice('--kernel', ['linear', 'rbf'] as const))
    .option('--C <c>', `penalty C > 0 (default ${SVM_DEFAULTS.C})`, parseFloatFlag('--C', Number.MIN_VALUE))
    .option('--gamma <gamma>', `RBF width: a number, scale or auto (default ${SVM_DEFAULTS.gamma})`)
    .option('--class-weight <mode>', 'balanced: weight classes inversely to their size (default none)', parseChoice('--class-weight', ['balanced'] as const))
    .option(
      '--scaler <kind>',
      `standardize, l2, none, or sqrt-standardize (sign(x) sqrt(|x|), then standardize: power normalization; kernel SVM only), fitted on training data only (default ${SVM_DEFAULTS.scaler})`,
      parseChoice('--scaler', ['standardize', 'l2', 'none', 'sqrt-standardize'] as const),
    )
    .option('--probability', 'fit Platt-scaled class probabilities (libsvm -b 1)')
    .option('--seed <n>', `seed of folds and probability calibration (default ${CV_DEFAULTS.seed})`, parseIntFlag('--seed', 0))
    .option('--folds <k>', `stratified folds${withFolds === 'fit' ? ' of the grid search' : ''} (default ${CV_DEFAULTS.folds})`, parseIntFlag('--folds', 2))
    .option('--repeats <n>', `repeated k-fold (default ${CV_DEFAULTS.repeats})`, parseIntFlag('--repeats', 1))
    .option('--workers <n>', 'worker threads for the folds (default: all cores)', parseIntFlag('--workers', 1))
    .option(
      '--solver <name>',
      'auto: libsvm while the exact kernel fits its heap, above that (with --kernel linear) LinearSVC on all rows; libsvm; liblinear (LinearSVC); logistic (multinomial LogisticRegression, probabilities) (default auto)',
      parseChoice('--solver', ['auto', 'libsvm', 'liblinear', 'logistic'] as const),
    )
    .option('--max-iter <n>', `linear solvers: most epochs (liblinear, default ${LINEAR_SVC_DEFAULTS.maxIter}) or L-BFGS iterations (logistic, default ${LOGISTIC_DEFAULTS.maxIter})`, parseIntFlag('--max-iter', 1))
    .option('--loss <loss>', `liblinear: squared_hinge or hinge (default ${LINEAR_SVC_DEFAULTS.loss})`, parseChoice('--loss', ['squared_hinge', 'hinge'] as const))
    .option(
      '--dual <mode>',
      `liblinear: solve the dual (coordinate descent) or the primal (L-BFGS on ONNX Runtime's matrix products): true, false, or auto = the primal when samples >= features (scikit-learn's rule) (default ${String(LINEAR_SVC_DEFAULTS.dual)})`,
      (v: string) => {
        if (v === 'auto') return 'auto' as const;
        if (v === 'true') return true;
        if (v === 'false') return false;
        throw new InvalidArgumentError('expected true, false or auto');
      },
    )
    .option('--json', 'print one JSON result on stdout');
  return cmd;
}

export interface SvmActions {
  fit?: (ctx: SvmFitContext) => Promise<number>;
  cv?: (ctx: SvmCvContext) => Promise<number>;
  predict?: (ctx: SvmPredictContext) => Promise<number>;
}

export function svmCommand(actions: SvmActions = {}): Command {
  const fit = actions.fit ?? runSvmFit;
  const cv = actions.cv ?? runSvmCv;
  const predict = actions.predict ?? runSvmPredict;
  const cmd = new Command('svm').description('Support vector machines on bottleneck features (libsvm)');
  addSvmFlags(
    cmd
      .command('fit')
      .description('Fit an SVM on a features file; --grid searches C (and gamma) by stratified k-fold first (libsvm grid.py grid), then refits on all data')
      .argument('<features>', 'features prefix written by `ftk bottleneck extract` (<prefix>.npy + <prefix>.json)')
      .option('--grid', 'grid-search C (log2 -5..15 step 2) and gamma (log2 3..-15 step -2), ties toward smaller C then smaller gamma')
      .option('--log2c <begin,end,step>', `grid of log2(C), as libsvm grid.py (default ${rangeText(GRID_LOG2C_DEFAULT)})`, parseLog2Range('--log2c'))
      .option('--log2gamma <begin,end,step>', `grid of log2(gamma) (default ${rangeText(GRID_LOG2GAMMA_DEFAULT)})`, parseLog2Range('--log2gamma'))
      .option('--grid-log <file>', 'results log of the grid search, one line per finished (fold, gamma) (default: <out>.grid.jsonl)')
      .option('--resume', 'reuse the finished results of the grid log (same features and options) instead of starting over')
      .option('--out <model.json>', 'where to write the model')
      .option('--no-calibrate', 'with --probability: keep libsvm\'s Platt probabilities as they are (default: a temperature fitted on out-of-fold probabilities)')
      .option('--no-unknown', 'do not fit the unknown detector (default: fitted, so `ftk predict` marks images unlike the training ones)')
      .option('--unknown-rate <r>', `share of images like the training ones the unknown threshold may reject (default ${UNKNOWN_DEFAULTS.rate})`, parseFloatFlag('--unknown-rate', Number.MIN_VALUE, 1)),
    'fit',
  ).action(async (features: string, raw: Record<string, unknown>) => {
    process.exitCode = await fit(svmFitContext(features, raw));
  });
  addSvmFlags(
    cmd
      .command('cv')
      .description('Stratified k-fold cross-validation: per-fold and mean accuracy with a 95% interval, macro-F1, confusion matrix; with --grid the nested estimate of the grid-searched SVM')
      .argument('<features>', 'features prefix')
      .option('--grid', 'nested cross-validation: on each outer training fold a grid search (inner folds) chooses C (and gamma), the refit is scored on the outer fold')
      .option('--inner-folds <k>', `inner folds of --grid (default ${NESTED_INNER_FOLDS_DEFAULT})`, parseIntFlag('--inner-folds', 2))
      .option('--log2c <begin,end,step>', `grid of log2(C) for --grid (default ${rangeText(GRID_LOG2C_DEFAULT)})`, parseLog2Range('--log2c'))
      .option('--log2gamma <begin,end,step>', `grid of log2(gamma) for --grid (default ${rangeText(GRID_LOG2GAMMA_DEFAULT)})`, parseLog2Range('--log2gamma')),
    'cv',
  ).action(async (features: string, raw: Record<string, unknown>) => {
    process.exitCode = await cv(svmCvContext(features, raw));
  });
  cmd
    .command('predict')
    .description('Predict with a saved model: a features prefix, or image files/folders (extracted with the backbone the model was trained on)')
    .argument('<model>', 'model JSON written by `ftk svm fit --out`')
    .argument('<inputs...>', 'a features prefix, or image files and folders (searched recursively)')
    .option('--json', 'print one JSON result on stdout')
    .option('--device <name>', `images: ${DEVICE_HELP}`, parseChoice('--device', DEVICE_NAMES))
    .action(async (model: string, inputs: string[], raw: Record<string, unknown>) => {
      process.exitCode = await predict({ model, inputs, json: Boolean(raw.json), ...deviceFromFlags(raw) });
    });
  return cmd;
}
