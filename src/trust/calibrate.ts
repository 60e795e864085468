/**
 * Calibrated probabilities: the expected calibration error (ECE), reliability diagrams, and
 * temperature scaling fitted on probabilities the model produced for images it did not train on
 * (out-of-fold or a validation split).
 *
 * Which calibration for which path, and why:
 * - SVM: libsvm's own probability model already is Platt's sigmoid (Lin, Lin & Weng 2007) fitted on
 *   decision values from an internal 5-fold cross-validation, followed by pairwise coupling for
 *   more than 2 classes (src/classify/ovo.ts). A second sigmoid on top would fit the same curve
 *   again. What Platt cannot fix is the coupling step and the gap between the internal folds' and
 *   the final model's margins; one temperature on top, fitted on outer out-of-fold probabilities,
 *   corrects an over- or under-confident whole without moving any decision. ftk measures the ECE of
 *   both and keeps the temperature only when it lowers the NLL of the out-of-fold probabilities.
 * - Fine-tuned softmax: temperature scaling (Guo, Pleiss, Sun & Weinberger 2017, "On calibration of
 *   modern neural networks"): softmax(z / T) = softmax(log p / T), fitted on the validation split.
 *   One parameter cannot overfit a few hundred images and never changes the predicted class;
 *   Platt per class or isotonic regression need more data than ftk's users have.
 *
 * Porting note: ECE follows Guo et al. (and scikit-learn's `calibration_curve(strategy='uniform')`
 * for the bins): 15 equal-width bins of the top-class confidence, bin m = ((m-1)/15, m/15],
 * ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)|.
 *
 * ```ts
 * const cal = calibrate(oofProbabilities, oofLabels);     // CalibrationJson, plain JSON
 * const q = applyCalibration(cal, model.predictProba(X)); // calibrated rows
 * ```
 */
import { DatasetError, OptionsError } from '../errors.js';
import type { CalibrationJson, ReliabilityJson } from '../formats/trust.js';

/** Options of `calibrate`. */
export interface CalibrateOptions {
  /** 'temperature' (default) or 'none' (measure only). */
  method?: 'temperature' | 'none';
  /** Where the probabilities came from, recorded in the result. Default 'out-of-fold'. */
  fittedOn?: 'out-of-fold' | 'validation';
  /** Confidence bins of the ECE and the reliability diagram. Default 15 (`ECE_BINS`). */
  bins?: number;
  /** Fewer samples than this: no temperature is fitted ('none'). Default 20. */
  minSamples?: number;
}

export const ECE_BINS = 15;
export const CALIBRATE_DEFAULTS = Object.freeze({ method: 'temperature' as const, fittedOn: 'out-of-fold' as const, bins: ECE_BINS, minSamples: 20 });

/** Smallest probability taken into a logarithm. */
const P_FLOOR = 1e-12;
/** Temperatures searched: log T in [LOG_T_MIN, LOG_T_MAX]. */
const LOG_T_MIN = Math.log(0.05);
const LOG_T_MAX = Math.log(20);

type Rows = readonly ArrayLike<number>[];

function checkRows(probs: Rows, labels: ArrayLike<number>, what: string): number {
  if (probs.length !== labels.length) {
    throw new DatasetError(`${what}: probabilities have ${probs.length} rows, but labels have ${labels.length}.`, { code: 'CALIBRATION_SHAPE' });
  }
  if (probs.length === 0) throw new DatasetError(`${what}: no samples.`, { code: 'CALIBRATION_EMPTY', suggestion: 'Pass at least one probability row.' });
  const k = probs[0].length;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i].length !== k) throw new DatasetError(`${what}: row ${i} has ${probs[i].length} probabilities, row 0 has ${k}.`, { code: 'CALIBRATION_SHAPE' });
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= k) {
      throw new DatasetError(`${what}: label ${y} of row ${i} is not a column index 0..${k - 1}.`, {
        code: 'CALIBRATION_BAD_LABEL',
        suggestion: 'Labels are positions in the probability rows (the model\'s class order).',
      });
    }
  }
  return k;
}

/** ECE, the reliability diagram's bins and the NLL of probability rows against true class indices. */
export function reliability(probs: Rows, labels: ArrayLike<number>, bins = ECE_BINS): ReliabilityJson {
  if (!Number.isInteger(bins) || bins < 1) throw new OptionsError(`bins must be a positive integer. Received bins=${bins}.`, { code: 'OPTIONS_BAD_VALUE' });
  checkRows(probs, labels, 'reliability');
  const n = probs.length;
  const count = new Array<number>(bins).fill(0);
  const confSum = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  let nll = 0;
  for (let i = 0; i < n; i++) {
    const p = probs[i];
    let top = 0;
    for (let c = 1; c < p.length; c++) if (p[c] > p[top]) top = c;
    const conf = p[top];
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(conf * bins) - 1));
    count[b]++;
    confSum[b] += conf;
    if (top === labels[i]) hits[b]++;
    nll -= Math.log(Math.max(P_FLOOR, p[labels[i]]));
  }
  let ece = 0;
  const confidence: (number | null)[] = [];
  const accuracy: (number | null)[] = [];
  for (let b = 0; b < bins; b++) {
    if (count[b] === 0) {
      confidence.push(null);
      accuracy.push(null);
      continue;
    }
    const c = confSum[b] / count[b];
    const a = hits[b] / count[b];
    confidence.push(c);
    accuracy.push(a);
    ece += (count[b] / n) * Math.abs(a - c);
  }
  return { ece, bins, count, confidence, accuracy, nll: nll / n, samples: n };
}

/** The expected calibration error alone (15 bins by default). */
export function expectedCalibrationError(probs: Rows, labels: ArrayLike<number>, bins = ECE_BINS): number {
  return reliability(probs, labels, bins).ece;
}

/** q = softmax(log(p) / T) for one row, into `out`. */
function temperatureRow(p: ArrayLike<number>, T: number, out: Float64Array): Float64Array {
  let max = -Infinity;
  for (let c = 0; c < p.length; c++) {
    out[c] = Math.log(Math.max(P_FLOOR, p[c])) / T;
    if (out[c] > max) max = out[c];
  }
  let sum = 0;
  for (let c = 0; c < p.length; c++) {
    out[c] = Math.exp(out[c] - max);
    sum += out[c];
  }
  for (let c = 0; c < p.length; c++) out[c] /= sum;
  return out;
}

function meanNll(probs: Rows, labels: ArrayLike<number>, T: number): number {
  const k = probs[0].length;
  const q = new Float64Array(k);
  let nll = 0;
  for (let i = 0; i < probs.length; i++) {
    temperatureRow(probs[i], T, q);
    nll -= Math.log(Math.max(P_FLOOR, q[labels[i]]));
  }
  return nll / probs.length;
}

/**
 * The temperature minimising the NLL of `labels` under softmax(log p / T): golden-section search
 * on log T in [log 0.05, log 20] (the NLL is convex in 1/T, so unimodal in log T).
 */
export function fitTemperature(probs: Rows, labels: ArrayLike<number>): number {
  checkRows(probs, labels, 'fitTemperature');
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = LOG_T_MIN;
  let b = LOG_T_MAX;
  let x1 = b - phi * (b - a);
  let x2 = a + phi * (b - a);
  let f1 = meanNll(probs, labels, Math.exp(x1));
  let f2 = meanNll(probs, labels, Math.exp(x2));
  for (let it = 0; it < 60 && b - a > 1e-6; it++) {
    if (f1 <= f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - phi * (b - a);
      f1 = meanNll(probs, labels, Math.exp(x1));
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + phi * (b - a);
      f2 = meanNll(probs, labels, Math.exp(x2));
    }
  }
  return Math.exp((a + b) / 2);
}

/**
 * Fits a calibration map on probabilities of images the model did not train on, with their true
 * class indices (positions in the rows). The temperature is kept only when it lowers the NLL;
 * else (and below `minSamples`) the method is 'none'. `before`/`after` are measured on the same
 * rows, so `after` is optimistic: report ECE on data the map was not fitted on (cross-fit) when
 * it matters (bench/trust/calibration.ts does).
 */
export function calibrate(probs: Rows, labels: ArrayLike<number>, options: CalibrateOptions = {}): CalibrationJson {
  const method = options.method ?? CALIBRATE_DEFAULTS.method;
  if (method !== 'temperature' && method !== 'none') {
    throw new OptionsError(`calibration method must be 'temperature' or 'none'. Received method=${JSON.stringify(method)}.`, { code: 'OPTIONS_BAD_VALUE' });
  }
  const bins = options.bins ?? CALIBRATE_DEFAULTS.bins;
  const minSamples = options.minSamples ?? CALIBRATE_DEFAULTS.minSamples;
  const fittedOn = options.fittedOn ?? CALIBRATE_DEFAULTS.fittedOn;
  const before = reliability(probs, labels, bins);
  let temperature = 1;
  if (method === 'temperature' && probs.length >= minSamples) {
    const T = fitTemperature(probs, labels);
    if (meanNll(probs, labels, T) < before.nll - 1e-9) temperature = T;
  }
  const used = temperature === 1 ? 'none' : 'temperature';
  const after = used === 'none' ? before : reliability(applyCalibration({ method: used, temperature }, probs), labels, bins);
  return { method: used, temperature, fittedOn, before, after };
}

/** Calibrated probability rows (new arrays; the input is not changed). */
export function applyCalibration(cal: Pick<CalibrationJson, 'method' | 'temperature'> | undefined | null, probs: Rows): Float64Array[] {
  if (!cal || cal.method === 'none' || cal.temperature === 1) return probs.map((p) => Float64Array.from(p));
  return probs.map((p) => temperatureRow(p, cal.temperature, new Float64Array(p.length)));
}
