/**
 * The units of work of the linear classifiers, run on a worker thread (linear_worker.ts) or inline:
 * one binary coordinate-descent problem over a path of C, one slice of the multinomial loss, or a
 * whole multinomial fit (one cross-validation fold). The feature matrix travels as a Float32Array
 * over a SharedArrayBuffer: every thread reads the same memory, nothing is copied.
 */
import { fitMultinomialPath, inlineEvaluator, type MultinomialProblem, type MultinomialSolution } from './linear_fit.js';
import { dcdBinary, multinomialLossChunk, type DcdProblem, type DcdSolution, type MultinomialPieces, type ScaledRows } from './linear_solvers.js';

/** One binary coordinate-descent problem, solved over a path of C values. */
export type DcdTask = DcdProblem & { kind: 'dcd'; Cs: number[] };

export interface ChunkTask {
  kind: 'chunk';
  S: ScaledRows;
  rows: Int32Array;
  codes: Int32Array;
  classWeights: Float64Array | null;
  k: number;
  V: Float64Array;
  Vm: Float64Array;
  b: Float64Array;
  start: number;
  end: number;
}

/** A whole multinomial fit (one cross-validation fold) over a path of C values. */
export type MultinomialTask = MultinomialProblem & { kind: 'multinomial'; Cs: number[] };

export type LinearTask = DcdTask | ChunkTask | MultinomialTask;
export type LinearTaskResult = DcdSolution[] | MultinomialPieces | MultinomialSolution[];

export async function runLinearTask(task: LinearTask): Promise<LinearTaskResult> {
  switch (task.kind) {
    case 'dcd':
      return dcdBinary(task, task.Cs);
    case 'chunk':
      return multinomialLossChunk(task, task.start, task.end);
    case 'multinomial':
      return fitMultinomialPath(task, task.Cs, inlineEvaluator(task));
  }
}
