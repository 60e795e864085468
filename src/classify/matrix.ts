/** Input checking shared by the SVM code: matrices, labels and their agreement. */
import { DatasetError } from '../errors.js';

/** A dense row-major Float32 matrix. */
export interface FeatureMatrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/** A `FeatureMatrix`, or rows of numbers (`number[][]`). */
export type MatrixLike = FeatureMatrix | ArrayLike<ArrayLike<number>>;

function isFeatureMatrix(x: unknown): x is FeatureMatrix {
  return typeof x === 'object' && x !== null && (x as FeatureMatrix).data instanceof Float32Array && typeof (x as FeatureMatrix).rows === 'number';
}

/** Converts and checks: rectangular, at least one row, every value finite (NaN/Inf name the row). */
export function toMatrix(X: MatrixLike, what = 'X'): FeatureMatrix {
  let m: FeatureMatrix;
  if (isFeatureMatrix(X)) {
    if (!Number.isInteger(X.rows) || !Number.isInteger(X.cols) || X.rows * X.cols !== X.data.length) {
      throw new DatasetError(`${what} says ${X.rows}x${X.cols} but holds ${X.data.length} values.`, { code: 'SVM_BAD_SHAPE' });
    }
    m = X;
  } else {
    const rows = X.length;
    const cols = rows > 0 ? X[0].length : 0;
    const data = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      if (X[i].length !== cols) {
        throw new DatasetError(`${what} is not rectangular: row 0 has ${cols} values, row ${i} has ${X[i].length}.`, { code: 'SVM_BAD_SHAPE' });
      }
      for (let k = 0; k < cols; k++) data[i * cols + k] = X[i][k];
    }
    m = { data, rows, cols };
  }
  if (m.rows === 0 || m.cols === 0) {
    throw new DatasetError(`${what} is empty (${m.rows}x${m.cols}).`, { code: 'SVM_EMPTY', suggestion: 'Pass at least one sample with at least one feature.' });
  }
  const bad = firstNonFiniteRow(m);
  if (bad >= 0) {
    throw new DatasetError(`${what} row ${bad} contains NaN or Infinity.`, {
      code: 'SVM_NON_FINITE',
      suggestion: 'Remove or re-extract that sample; SVMs need finite features.',
    });
  }
  return m;
}

/** Index of the first row with a NaN or infinite value, or -1. */
export function firstNonFiniteRow(m: FeatureMatrix): number {
  const { data, cols } = m;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) return Math.floor(i / cols);
  }
  return -1;
}

/** Checks labels: one per row, finite numbers. Returns them as a Float64Array. */
export function toLabels(y: ArrayLike<number>, rows: number): Float64Array {
  if (y.length !== rows) {
    throw new DatasetError(`X has ${rows} samples, but y has ${y.length}.`, { code: 'SVM_LABEL_COUNT' });
  }
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = y[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new DatasetError(`Label ${i} is ${String(v)}; labels must be finite numbers.`, { code: 'SVM_BAD_LABEL' });
    }
    out[i] = v;
  }
  return out;
}

/** Sorted distinct labels and each sample's class index. */
export function encodeClasses(y: Float64Array): { classes: number[]; codes: Int32Array; counts: number[] } {
  const classes = [...new Set(y)].sort((a, b) => a - b);
  const index = new Map(classes.map((c, i) => [c, i]));
  const codes = new Int32Array(y.length);
  const counts = new Array<number>(classes.length).fill(0);
  for (let i = 0; i < y.length; i++) {
    const c = index.get(y[i])!;
    codes[i] = c;
    counts[c]++;
  }
  return { classes, codes, counts };
}

/** Sample indices sorted by class code, keeping the data order within a class. */
export function sortByClass(codes: Int32Array, rows?: ArrayLike<number>): Int32Array {
  const idx = rows ? Int32Array.from(rows) : Int32Array.from({ length: codes.length }, (_, i) => i);
  const order = Array.from(idx).sort((a, b) => codes[a] - codes[b] || a - b);
  return Int32Array.from(order);
}

/** Features and labels checked and encoded for training: at least two classes. */
export interface Problem {
  M: FeatureMatrix;
  classes: number[];
  codes: Int32Array;
  counts: number[];
}

export function prepareProblem(X: MatrixLike, y: ArrayLike<number>): Problem {
  const M = toMatrix(X);
  const labels = toLabels(y, M.rows);
  const { classes, codes, counts } = encodeClasses(labels);
  if (classes.length < 2) {
    throw new DatasetError(`A classifier needs at least 2 classes; y has only the label ${classes[0]}.`, {
      code: 'SVM_SINGLE_CLASS',
      suggestion: 'Add samples of another class (one folder per class).',
    });
  }
  return { M, classes, codes, counts };
}
