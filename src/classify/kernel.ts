/**
 * Kernel values from dot products: every kernel ftk supports is a function of the Gram matrix,
 * so one Gram matrix per dataset (per training fold when the scaler is fitted per fold) serves
 * every gamma and every C.
 *
 * - linear: K(a, b) = a.b
 * - rbf: K(a, b) = exp(-gamma ||a - b||^2), ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b (clamped at 0)
 */
export type KernelName = 'linear' | 'rbf';
export const KERNELS: readonly KernelName[] = ['linear', 'rbf'];

export interface KernelSpec {
  kernel: KernelName;
  /** RBF width (ignored for linear). */
  gamma: number;
}

/** K(a, b) from a dot product and the two squared norms. */
export function kernelValue(spec: KernelSpec, dot: number, normA: number, normB: number): number {
  if (spec.kernel === 'linear') return dot;
  const d2 = normA + normB - 2 * dot;
  return Math.exp(-spec.gamma * (d2 > 0 ? d2 : 0));
}

/**
 * Fills `out[c]` = K(row a, column cols[c]) for a row of a dot-product matrix `dots` (row-major,
 * `ld` columns): out has cols.length entries.
 */
export function kernelRow(
  spec: KernelSpec,
  dots: Float32Array,
  ld: number,
  a: number,
  normA: number,
  cols: ArrayLike<number>,
  normsB: Float64Array,
  out: Float64Array,
): void {
  const base = a * ld;
  if (spec.kernel === 'linear') {
    for (let c = 0; c < cols.length; c++) out[c] = dots[base + cols[c]];
    return;
  }
  const g = spec.gamma;
  for (let c = 0; c < cols.length; c++) {
    const j = cols[c];
    const d2 = normA + normsB[j] - 2 * dots[base + j];
    out[c] = Math.exp(-g * (d2 > 0 ? d2 : 0));
  }
}
