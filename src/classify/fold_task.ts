/**
 * One unit of cross-validation work, run in a worker thread (or inline): for one training fold and
 * one gamma, write the fold's kernel into libsvm's heap once, train for every C, and predict the
 * held-out rows from the same Gram matrix.
 */
import { DatasetError, FtkError, OptionsError, RuntimeError } from '../errors.js';
import type { KernelName } from './kernel.js';
import type { Libsvm } from './libsvm.js';
import { predictFromGram, trainPositions, writeKernel, type GramData } from './trainer.js';

export interface FoldTask {
  taskId: number;
  /** Float32 n x n dot products of the fold-scaled data (shared memory). */
  gram: SharedArrayBuffer | ArrayBuffer;
  /** Float64 squared norms matching `gram`. */
  norms: SharedArrayBuffer | ArrayBuffer;
  n: number;
  /** Training indices sorted by class (stable). */
  T: Int32Array;
  /** Held-out indices. */
  test: Int32Array;
  /** Class code of every sample. */
  codes: Int32Array;
  kernel: KernelName;
  gamma: number;
  Cs: number[];
  /** Class weights per code (from this fold's training counts), or null. */
  weights: Float64Array | null;
  tol: number;
  cacheSize: number;
  shrinking: boolean;
}

export interface FoldTaskResult {
  taskId: number;
  /** Predicted class codes, Cs.length rows of test.length. */
  predictions: Int32Array;
  /** Support vectors per C. */
  nSV: number[];
  ms: number;
}

export function runFoldTask(lib: Libsvm, task: FoldTask): FoldTaskResult {
  const t0 = performance.now();
  const g: GramData = { dots: new Float32Array(task.gram), ld: task.n, norms: new Float64Array(task.norms) };
  const spec = { kernel: task.kernel, gamma: task.gamma };
  const m = task.T.length;
  const block = lib.createBlock(m, task.cacheSize);
  const predictions = new Int32Array(task.Cs.length * task.test.length);
  const nSV: number[] = [];
  try {
    writeKernel(block, spec, g, task.T);
    const all = Int32Array.from({ length: m }, (_, i) => i);
    task.Cs.forEach((C, ci) => {
      const raw = trainPositions(block, all, task.T, task.codes, {
        C,
        weights: task.weights,
        tol: task.tol,
        cacheSize: task.cacheSize,
        shrinking: task.shrinking,
      });
      const svIndex = Int32Array.from(raw.svRows, (r) => task.T[r]);
      predictions.set(predictFromGram(raw, svIndex, spec, g, task.test), ci * task.test.length);
      nSV.push(raw.svRows.length);
    });
  } finally {
    block.dispose();
  }
  return { taskId: task.taskId, predictions, nSV, ms: performance.now() - t0 };
}

/** An error as it crosses a thread boundary. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  suggestion?: string;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof FtkError) return { name: e.name, message: e.message, code: e.code, suggestion: e.suggestion };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

export function deserializeError(s: SerializedError): Error {
  const opts = { code: s.code, suggestion: s.suggestion };
  switch (s.name) {
    case 'DatasetError':
      return new DatasetError(s.message, opts);
    case 'OptionsError':
      return new OptionsError(s.message, opts);
    case 'RuntimeError':
      return new RuntimeError(s.message, opts);
    default:
      return s.code ? new FtkError(s.message, opts) : new Error(`${s.name}: ${s.message}`);
  }
}
