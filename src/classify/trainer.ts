/**
 * The training steps shared by `SvmClassifier.fit` and the cross-validation workers: write a
 * precomputed kernel into libsvm's heap from a Gram matrix, train, read the machines back, score
 * held-out rows from the same Gram matrix, and fit Platt's probabilities.
 */
import { OptionsError } from '../errors.js';
import { Rng } from '../data/random.js';
import { kernelRow, type KernelSpec } from './kernel.js';
import type { PrecomputedBlock, RawModel } from './libsvm.js';
import { machines, pairDecisions, sigmoidTrain, vote, type OvoMachines } from './ovo.js';
import type { ClassWeight } from './options.js';

/** Dot products of all samples (row-major, `ld` columns) and their squared norms. */
export interface GramData {
  dots: Float32Array;
  ld: number;
  norms: Float64Array;
}

export interface SolverParams {
  C: number;
  /** Weight per class code (multiplies C), or null. */
  weights: Float64Array | null;
  tol: number;
  cacheSize: number;
  shrinking: boolean;
}

/** Writes K(T_r, T_c) into the block for every position r, c. */
export function writeKernel(block: PrecomputedBlock, spec: KernelSpec, g: GramData, T: Int32Array): void {
  const row = new Float64Array(T.length);
  for (let r = 0; r < T.length; r++) {
    const a = T[r];
    kernelRow(spec, g.dots, g.ld, a, g.norms[a], T, g.norms, row);
    block.setRow(r, row);
  }
}

/** Class weights per class code, from the training counts. */
export function resolveClassWeights(classWeight: ClassWeight, classes: readonly number[], counts: readonly number[]): Float64Array | null {
  if (classWeight === null) return null;
  const k = classes.length;
  const out = new Float64Array(k).fill(1);
  if (classWeight === 'balanced') {
    const n = counts.reduce((a, b) => a + b, 0);
    for (let c = 0; c < k; c++) out[c] = counts[c] > 0 ? n / (k * counts[c]) : 1;
    return out;
  }
  for (const [key, w] of Object.entries(classWeight)) {
    const c = classes.indexOf(Number(key));
    if (c < 0) {
      throw new OptionsError(`classWeight names class ${key}, which is not among the labels [${classes.join(', ')}].`, {
        code: 'SVM_BAD_CLASS_WEIGHT',
        suggestion: 'Use the numeric labels of the training data as keys, or classWeight: "balanced".',
      });
    }
    out[c] = w;
  }
  return out;
}

function weightMap(weights: Float64Array | null, present?: Set<number>): Map<number, number> | undefined {
  if (!weights) return undefined;
  const m = new Map<number, number>();
  weights.forEach((w, c) => {
    if (!present || present.has(c)) m.set(c, w);
  });
  return m;
}

/**
 * Trains on block positions `pos` (sorted ascending = grouped by class) whose class codes are
 * `codes[T[pos]]`. Returns the raw machines with support vectors as block positions.
 */
export function trainPositions(
  block: PrecomputedBlock,
  pos: Int32Array,
  T: Int32Array,
  codes: Int32Array,
  p: SolverParams,
): RawModel {
  const labels = new Int32Array(pos.length);
  const present = new Set<number>();
  for (let i = 0; i < pos.length; i++) {
    labels[i] = codes[T[pos[i]]];
    present.add(labels[i]);
  }
  return block.train(pos, labels, {
    C: p.C,
    weights: weightMap(p.weights, present),
    tol: p.tol,
    cacheSize: p.cacheSize,
    shrinking: p.shrinking,
  });
}

/** Machines of a raw model plus the class code of each of its classes. */
export function toMachines(raw: RawModel): { m: OvoMachines; classCodes: Int32Array } {
  return { m: machines(raw.nSV, raw.coef, raw.rho), classCodes: raw.labels };
}

/**
 * Predicted class codes of `test` samples (indices into the Gram matrix) for a model whose support
 * vectors are the samples `svIndex`.
 */
export function predictFromGram(
  raw: RawModel,
  svIndex: Int32Array,
  spec: KernelSpec,
  g: GramData,
  test: Int32Array,
): Int32Array {
  const { m, classCodes } = toMachines(raw);
  const out = new Int32Array(test.length);
  if (m.k === 1) {
    out.fill(classCodes[0]);
    return out;
  }
  const kv = new Float64Array(m.l);
  const dec = new Float64Array((m.k * (m.k - 1)) / 2);
  const votes = new Int32Array(m.k);
  for (let t = 0; t < test.length; t++) {
    const a = test[t];
    kernelRow(spec, g.dots, g.ld, a, g.norms[a], svIndex, g.norms, kv);
    pairDecisions(m, kv, 0, dec);
    out[t] = classCodes[vote(m.k, dec, votes)];
  }
  return out;
}

/**
 * Platt scaling per class pair, as libsvm's `svm_binary_svc_probability` does it: a 5-fold
 * cross-validation of the pair's binary machine (same C and class weights), decision values of the
 * held-out rows, then `sigmoidTrain`. The permutation comes from ftk's seeded `Rng` (libsvm uses
 * C `rand()`), so the same seed gives the same probA/probB.
 *
 * `T` is sorted by class and the block holds K over T; `k` classes with codes 0..k-1 all present.
 */
export function plattPairs(
  block: PrecomputedBlock,
  T: Int32Array,
  codes: Int32Array,
  k: number,
  p: SolverParams,
  seed: number,
): { probA: Float64Array; probB: Float64Array } {
  const rng = new Rng(seed);
  const nPairs = (k * (k - 1)) / 2;
  const probA = new Float64Array(nPairs);
  const probB = new Float64Array(nPairs);
  const start = new Int32Array(k + 1);
  for (let r = 0; r < T.length; r++) start[codes[T[r]] + 1]++;
  for (let c = 0; c < k; c++) start[c + 1] += start[c];
  const nFold = 5;
  let pair = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const ni = start[i + 1] - start[i];
      const nj = start[j + 1] - start[j];
      const l = ni + nj;
      const sub = new Int32Array(l); // block positions: class i then class j
      for (let a = 0; a < ni; a++) sub[a] = start[i] + a;
      for (let a = 0; a < nj; a++) sub[ni + a] = start[j] + a;
      const perm = rng.shuffle(Int32Array.from({ length: l }, (_, a) => a));
      const dec = new Float64Array(l);
      for (let f = 0; f < nFold; f++) {
        const begin = Math.floor((f * l) / nFold);
        const end = Math.floor(((f + 1) * l) / nFold);
        const trainIdx: number[] = [];
        for (let a = 0; a < begin; a++) trainIdx.push(perm[a]);
        for (let a = end; a < l; a++) trainIdx.push(perm[a]);
        trainIdx.sort((x, y) => x - y);
        let pCount = 0;
        for (const a of trainIdx) if (a < ni) pCount++;
        const nCount = trainIdx.length - pCount;
        if (pCount === 0 || nCount === 0) {
          const v = pCount === 0 && nCount === 0 ? 0 : pCount > 0 ? 1 : -1;
          for (let a = begin; a < end; a++) dec[perm[a]] = v;
          continue;
        }
        const pos = Int32Array.from(trainIdx, (a) => sub[a]);
        const raw = trainPositions(block, pos, T, codes, p);
        const sign = raw.labels[0] === i ? 1 : -1;
        for (let a = begin; a < end; a++) {
          const r = sub[perm[a]];
          let s = 0;
          for (let v = 0; v < raw.svRows.length; v++) s += raw.coef[v] * block.get(r, raw.svRows[v]);
          dec[perm[a]] = sign * (s - raw.rho[0]);
        }
      }
      const positive = Array.from({ length: l }, (_, a) => a < ni);
      const { A, B } = sigmoidTrain(dec, positive);
      probA[pair] = A;
      probB[pair] = B;
      pair++;
    }
  }
  return { probA, probB };
}
