/**
 * Shared by the bench/trust scripts: feature loading, the SVM configuration each fold uses, and
 * the raw-record writer (one JSON line per measurement, with date, load average and versions).
 */
import type { ReliabilityJson } from '../../src/formats/trust.js';
import { appendFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadFeatures } from '../../src/classify/features_io.js';
import type { FeatureMatrix } from '../../src/classify/matrix.js';
import { gridSearch } from '../../src/classify/search.js';
import type { SvmOptions } from '../../src/classify/options.js';
import { packageInfo } from '../../src/runtime/package_info.js';

export interface Labelled {
  X: FeatureMatrix;
  y: number[];
  classes: string[];
  files: string[];
}

export async function loadLabelled(prefix: string): Promise<Labelled> {
  const f = await loadFeatures(prefix);
  return { X: { data: f.X, rows: f.n, cols: f.d }, y: Array.from(f.labels), classes: f.meta.classes, files: f.meta.files };
}

/** Unlabelled feature rows (labels ignored). */
export async function loadRows(prefix: string): Promise<FeatureMatrix> {
  const f = await loadFeatures(prefix, { requireLabels: false });
  return { data: f.X, rows: f.n, cols: f.d };
}

export function subset(X: FeatureMatrix, idx: ArrayLike<number>): FeatureMatrix {
  const d = X.cols;
  const data = new Float32Array(idx.length * d);
  for (let j = 0; j < idx.length; j++) data.set(X.data.subarray(idx[j] * d, idx[j] * d + d), j * d);
  return { data, rows: idx.length, cols: d };
}

/** The RBF SVM of a training set: C and gamma by a 3-fold grid search on it (a small grid around gamma='scale'). */
export async function chooseSvm(X: FeatureMatrix, y: number[], seed: number): Promise<SvmOptions> {
  const counts = new Map<number, number>();
  for (const v of y) counts.set(v, (counts.get(v) ?? 0) + 1);
  const folds = Math.max(2, Math.min(3, ...counts.values()));
  const g = await gridSearch(X, y, { kernel: 'rbf' }, { folds, seed, log2C: [-1, 1, 3, 5, 7], log2Gamma: [-5, -7, -9, -11], workers: 1 });
  return { kernel: 'rbf', C: g.best.C, gamma: g.best.gamma ?? 'scale' };
}

/** Appends one raw record (with date, load average, versions) to bench/trust/results/<name>.jsonl. */
export function record(name: string, value: Record<string, unknown>): void {
  const file = path.resolve('bench/trust/results', `${name}.jsonl`);
  mkdirSync(path.dirname(file), { recursive: true });
  const line = {
    date: new Date().toISOString(),
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
    ftk: packageInfo().version,
    cpus: os.availableParallelism(),
    ...value,
  };
  appendFileSync(file, JSON.stringify(line) + '\n');
}

export const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

/** The ECE and NLL of a calibration record, before and after, rounded, with both reliability tables. */
export function eceFields(before: ReliabilityJson, after: ReliabilityJson) {
  return { eceBefore: round(before.ece), eceAfter: round(after.ece), nllBefore: round(before.nll), nllAfter: round(after.nll), before, after };
}
