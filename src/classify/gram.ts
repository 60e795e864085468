/**
 * Dot-product (Gram) matrices of Float32 rows, the expensive part of every kernel SVM, computed
 * by a tiny WebAssembly SIMD kernel that ftk assembles at run time (no build step, no tfjs
 * engine, no native addon).
 *
 * The kernel computes a panel of dot products `A[i..i+3] . B[j]` for all j, 4x2 at a time with
 * eight f32x4 accumulators (each lane sums d/4 products; the lanes are added at the end), and
 * writes float32 results. Rows are copied into the module's memory zero-padded to a multiple of 4
 * floats, and B is processed in slabs of about 256 KiB that stay in the L2 cache. Measured on the
 * 2-core test machine (1000x1280, symmetric half only): about 40-50 ms, against about 450-550 ms
 * for a 4x4 unrolled typed-array loop and 1.3 s for tfjs-backend-wasm `matMul` (single-threaded
 * in Node).
 * Where WebAssembly SIMD is missing, the same API runs the typed-array loop instead; `simd` says
 * which one is in use.
 */

const RA = 4; // rows of A per block
const RB = 2; // rows of B per block
const JB_BYTES = 256 * 1024; // B rows per cache block: about this many bytes

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => {
  const b = [...Buffer.from(s, 'utf8')];
  return [...uleb(b.length), ...b];
};

/**
 * The binary of a module importing `env.mem` and exporting
 * `panel(pa, pb, rowBytes, nb, pout, outStride)`: for RA rows of A starting at `pa` and `nb` rows
 * of B (a multiple of RB) starting at `pb` (rows `rowBytes` apart, a positive multiple of 16),
 * stores the float32 dot products at `pout + r*outStride + j*4`. Each dot product is summed in
 * four f32 lanes (lane l takes the products k = l mod 4), then `(l0 + l1) + (l2 + l3)` in f32.
 */
export function buildPanelKernel(): Uint8Array<ArrayBuffer> {
  const P_A = 0;
  const P_B = 1;
  const P_LEN = 2;
  const P_NB = 3;
  const P_OUT = 4;
  const P_STRIDE = 5;
  let next = 6;
  const K = next++; // byte offset within the rows
  const aRow: number[] = [P_A];
  for (let r = 1; r < RA; r++) aRow.push(next++);
  const bRow: number[] = [];
  for (let c = 0; c < RB; c++) bRow.push(next++);
  const outRow: number[] = [P_OUT];
  for (let r = 1; r < RA; r++) outRow.push(next++);
  const nI32 = next - 6;
  const vBase = next;
  const acc = (r: number, c: number): number => vBase + r * RB + c;
  const xv = (r: number): number => vBase + RA * RB + r;
  const yv = (c: number): number => vBase + RA * RB + RA + c;
  const nV128 = RA * RB + RA + RB;

  const code: number[] = [];
  const get = (i: number): void => void code.push(0x20, ...uleb(i));
  const set = (i: number): void => void code.push(0x21, ...uleb(i));
  const tee = (i: number): void => void code.push(0x22, ...uleb(i));
  const I32_CONST = 0x41;
  const I32_ADD = 0x6a;
  const I32_SUB = 0x6b;
  const I32_MUL = 0x6c;
  const I32_LT_U = 0x49;
  const V128_LOAD = [0xfd, 0x00, 4, 0];
  const V128_ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const F32X4_MUL = [0xfd, 0xe6, 0x01];
  const F32X4_ADD = [0xfd, 0xe4, 0x01];
  const LANE = (l: number): number[] => [0xfd, 0x1f, l];
  const F32_ADD = 0x92;
  const LOOP = [0x03, 0x40];
  const END = 0x0b;
  // Row pointers of A and of the output: base + r * stride.
  for (let r = 1; r < RA; r++) {
    get(P_A);
    get(P_LEN);
    code.push(I32_CONST, ...sleb(r), I32_MUL, I32_ADD);
    set(aRow[r]);
    get(P_OUT);
    get(P_STRIDE);
    code.push(I32_CONST, ...sleb(r), I32_MUL, I32_ADD);
    set(outRow[r]);
  }
  get(P_B);
  set(bRow[0]);
  code.push(...LOOP); // over blocks of RB rows of B
  for (let c = 1; c < RB; c++) {
    get(bRow[0]);
    get(P_LEN);
    code.push(I32_CONST, ...sleb(c), I32_MUL, I32_ADD);
    set(bRow[c]);
  }
  for (let r = 0; r < RA; r++) {
    for (let c = 0; c < RB; c++) {
      code.push(...V128_ZERO);
      set(acc(r, c));
    }
  }
  code.push(I32_CONST, 0);
  set(K);
  code.push(...LOOP); // over the row, 4 floats at a time
  for (let r = 0; r < RA; r++) {
    get(aRow[r]);
    get(K);
    code.push(I32_ADD, ...V128_LOAD);
    set(xv(r));
  }
  for (let c = 0; c < RB; c++) {
    get(bRow[c]);
    get(K);
    code.push(I32_ADD, ...V128_LOAD);
    set(yv(c));
  }
  for (let r = 0; r < RA; r++) {
    for (let c = 0; c < RB; c++) {
      get(acc(r, c));
      get(xv(r));
      get(yv(c));
      code.push(...F32X4_MUL, ...F32X4_ADD);
      set(acc(r, c));
    }
  }
  get(K);
  code.push(I32_CONST, 16, I32_ADD);
  tee(K);
  get(P_LEN);
  code.push(I32_LT_U, 0x0d, 0x00, END); // br_if back; end of the row loop
  for (let r = 0; r < RA; r++) {
    for (let c = 0; c < RB; c++) {
      get(outRow[r]);
      get(acc(r, c));
      code.push(...LANE(0));
      get(acc(r, c));
      code.push(...LANE(1), F32_ADD);
      get(acc(r, c));
      code.push(...LANE(2));
      get(acc(r, c));
      code.push(...LANE(3), F32_ADD, F32_ADD);
      code.push(0x38, 2, ...uleb(c * 4)); // f32.store
    }
  }
  for (let r = 0; r < RA; r++) {
    get(outRow[r]);
    code.push(I32_CONST, ...sleb(RB * 4), I32_ADD);
    set(outRow[r]);
  }
  get(bRow[0]);
  get(P_LEN);
  code.push(I32_CONST, ...sleb(RB), I32_MUL, I32_ADD);
  set(bRow[0]);
  get(P_NB);
  code.push(I32_CONST, ...sleb(RB), I32_SUB);
  tee(P_NB);
  code.push(0x0d, 0x00, END); // br_if back while rows of B remain; end of the block loop
  code.push(END);
  const body = [...vector([[...uleb(nI32), 0x7f], [...uleb(nV128), 0x7b]]), ...code];
  const i32 = [0x7f];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector([[0x60, ...vector([i32, i32, i32, i32, i32, i32]), 0x00]])),
    ...section(2, vector([[...name('env'), ...name('mem'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vector([[0x00]])),
    ...section(7, vector([[...name('panel'), 0x00, 0x00]])),
    ...section(10, vector([[...uleb(body.length), ...body]])),
  ]);
}

let compiled: WebAssembly.Module | null | undefined;

function simdModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = buildPanelKernel();
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

const PAGE = 65536;
/** Said once by callers when `simd` is false (ftk never falls back silently). */
export const SCALAR_FALLBACK_NOTICE =
  'WebAssembly SIMD is not available in this runtime: kernel matrices use the typed-array loop (about 10x slower).';

/** A rows x cols Float32 matrix, row-major. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/**
 * Dot products of Float32 rows. One engine per thread; reuse it (its memory is kept and grown).
 *
 * ```ts
 * const engine = new GramEngine();
 * const G = engine.gram(X, n, d);          // n x n, G[i*n+j] = X_i . X_j
 * const C = engine.cross(A, na, B, nb, d); // na x nb
 * ```
 */
export class GramEngine {
  /** True when the WebAssembly SIMD kernel is used; false for the typed-array fallback. */
  readonly simd: boolean;
  private memory: WebAssembly.Memory | null = null;
  private panel: ((pa: number, pb: number, len: number, nb: number, pout: number, stride: number) => void) | null = null;

  /** @param options.forceScalar use the typed-array loop even where SIMD works (for tests). */
  constructor(options: { forceScalar?: boolean } = {}) {
    const mod = options.forceScalar ? null : simdModule();
    this.simd = mod !== null;
    if (mod) {
      this.memory = new WebAssembly.Memory({ initial: 16 });
      const inst = new WebAssembly.Instance(mod, { env: { mem: this.memory } });
      this.panel = inst.exports.panel as (pa: number, pb: number, len: number, nb: number, pout: number, stride: number) => void;
    }
  }

  /**
   * Squared norm of every row, rounded exactly as this engine rounds the Gram diagonal (same lane
   * order, same float32 steps), so that ||a - a||^2 computes to exactly 0 and a test row equal to
   * a support vector gets K = 1, as in the training kernel.
   */
  selfDots(X: Float32Array, n: number, d: number): Float64Array {
    const out = new Float64Array(n);
    const f = Math.fround;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      if (this.simd) {
        const lanes = [0, 0, 0, 0];
        for (let k = 0; k < d; k++) {
          const x = X[o + k];
          lanes[k & 3] = f(lanes[k & 3] + f(x * x));
        }
        out[i] = f(f(lanes[0] + lanes[1]) + f(lanes[2] + lanes[3]));
      } else {
        let s = 0;
        for (let k = 0; k < d; k++) s += X[o + k] * X[o + k];
        out[i] = f(s);
      }
    }
    return out;
  }

  /** G = X X^T (n x n, symmetric, Float32). */
  gram(X: Float32Array, n: number, d: number): Float32Array {
    return this.compute(X, n, X, n, d, true);
  }

  /** C = A B^T (na x nb, Float32). */
  cross(A: Float32Array, na: number, B: Float32Array, nb: number, d: number): Float32Array {
    return this.compute(A, na, B, nb, d, false);
  }

  /** Drops the engine's memory. */
  dispose(): void {
    this.memory = null;
    this.panel = null;
  }

  private compute(A: Float32Array, na: number, B: Float32Array, nb: number, d: number, symmetric: boolean): Float32Array {
    if (A.length < na * d || B.length < nb * d) {
      throw new RangeError(`GramEngine: matrices too small for ${na}x${d} and ${nb}x${d}.`);
    }
    const out = new Float32Array(na * nb);
    if (na === 0 || nb === 0) return out;
    if (!this.panel || !this.memory) {
      scalarCross(A, na, B, nb, d, out, symmetric);
      return out;
    }
    const dPad = Math.max(4, Math.ceil(d / 4) * 4);
    const rowBytes = dPad * 4;
    const nbPad = Math.ceil(nb / RB) * RB;
    // A is streamed through memory in chunks of rows so big inputs never need one huge copy.
    const chunkRows = Math.max(RA, Math.min(Math.ceil(na / RA) * RA, Math.floor((64 << 20) / rowBytes / RA) * RA));
    const JB = Math.max(RB, Math.floor(JB_BYTES / rowBytes / RB) * RB);
    const outStride = nbPad * 4;
    const outBase = 0;
    const bBase = RA * outStride;
    const aBase = bBase + nbPad * rowBytes;
    const needed = aBase + chunkRows * rowBytes;
    const have = this.memory.buffer.byteLength;
    if (needed > have) this.memory.grow(Math.ceil((needed - have) / PAGE));
    const mem = new Float32Array(this.memory.buffer);
    mem.fill(0, bBase / 4, aBase / 4);
    for (let j = 0; j < nb; j++) mem.set(B.subarray(j * d, j * d + d), bBase / 4 + j * dPad);
    const panel = this.panel;
    for (let a0 = 0; a0 < na; a0 += chunkRows) {
      const rows = Math.min(chunkRows, na - a0);
      const rowsPad = Math.ceil(rows / RA) * RA;
      mem.fill(0, aBase / 4, aBase / 4 + rowsPad * dPad);
      for (let i = 0; i < rows; i++) mem.set(A.subarray((a0 + i) * d, (a0 + i) * d + d), aBase / 4 + i * dPad);
      // B is taken in blocks of JB rows that stay in the L2 cache while every A row passes.
      for (let j0 = 0; j0 < nbPad; j0 += JB) {
        const jEnd = Math.min(nbPad, j0 + JB);
        for (let i = 0; i < rowsPad; i += RA) {
          const gi = a0 + i;
          // Symmetric: columns up to the block's last row suffice (the rest is mirrored below).
          const limit = symmetric ? Math.min(jEnd, Math.ceil((gi + RA) / RB) * RB) : jEnd;
          if (limit <= j0) continue;
          panel(aBase + i * rowBytes, bBase + j0 * rowBytes, rowBytes, limit - j0, outBase, outStride);
          const used = Math.min(limit, nb) - j0;
          if (used <= 0) continue;
          for (let r = 0; r < RA && gi + r < na; r++) {
            out.set(mem.subarray(r * nbPad, r * nbPad + used), (gi + r) * nb + j0);
          }
        }
      }
    }
    if (symmetric) {
      // Mirror the lower triangle (the kernel computed j < i + RA; the strict upper part is copied).
      for (let i = 0; i < na; i++) for (let j = i + 1; j < nb; j++) out[i * nb + j] = out[j * nb + i];
    }
    return out;
  }
}

/** Typed-array fallback: 4x4 register-blocked dot products (about 10x slower than SIMD). */
function scalarCross(A: Float32Array, na: number, B: Float32Array, nb: number, d: number, out: Float32Array, symmetric: boolean): void {
  for (let i = 0; i < na; i += 4) {
    const jEnd = symmetric ? Math.min(nb, i + 4) : nb;
    for (let j = 0; j < jEnd; j += 4) {
      if (i + 4 <= na && j + 4 <= nb) {
        const a0 = i * d;
        const a1 = a0 + d;
        const a2 = a1 + d;
        const a3 = a2 + d;
        const b0 = j * d;
        const b1 = b0 + d;
        const b2 = b1 + d;
        const b3 = b2 + d;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        for (let k = 0; k < d; k++) {
          const x0 = A[a0 + k], x1 = A[a1 + k], x2 = A[a2 + k], x3 = A[a3 + k];
          const y0 = B[b0 + k], y1 = B[b1 + k], y2 = B[b2 + k], y3 = B[b3 + k];
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
          s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
          s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
        }
        let r = i * nb + j;
        out[r] = s00; out[r + 1] = s01; out[r + 2] = s02; out[r + 3] = s03; r += nb;
        out[r] = s10; out[r + 1] = s11; out[r + 2] = s12; out[r + 3] = s13; r += nb;
        out[r] = s20; out[r + 1] = s21; out[r + 2] = s22; out[r + 3] = s23; r += nb;
        out[r] = s30; out[r + 1] = s31; out[r + 2] = s32; out[r + 3] = s33;
      } else {
        for (let a = i; a < Math.min(i + 4, na); a++) {
          for (let b = j; b < Math.min(j + 4, nb); b++) {
            let s = 0;
            for (let k = 0; k < d; k++) s += A[a * d + k] * B[b * d + k];
            out[a * nb + b] = s;
          }
        }
      }
    }
  }
  if (symmetric) for (let i = 0; i < na; i++) for (let j = i + 1; j < nb; j++) out[i * nb + j] = out[j * nb + i];
}
