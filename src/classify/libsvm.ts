/**
 * ftk's binding to libsvm-js (libsvm 3.22 compiled by Emscripten), used only for training, and only
 * in precomputed-kernel mode.
 *
 * What is known about libsvm-js 0.2.1 (measured; see src/classify/README.md):
 * - The main entry (`require('libsvm-js')`) loads the WebAssembly build, which is faster than the
 *   asm.js one (`libsvm-js/asm`); ftk loads the same wasm build directly
 *   (`libsvm-js/out/wasm/libsvm.js`) to reach its exported C functions and heap.
 * - Its `SVM` class copies every sample through `cwrap` one row at a time, keeps no way to read
 *   dual coefficients or intercepts exactly (`serializeModel` prints `rho` with `%g`, 6 digits),
 *   and `SVM.load()` corrupts predictions or crashes for models over about 1 MB. So ftk writes the
 *   problem straight into the WASM heap, calls `libsvm_train_problem`, and reads the trained
 *   `struct svm_model` (layout of libsvm 3.22 on wasm32, checked against `svm_get_nr_class`,
 *   `svm_get_nr_sv` and the labels) into its own JS model; prediction never goes through libsvm.
 * - Precomputed kernels (kernel type 4, undocumented in libsvm-js) work: row i of the problem is
 *   `[serial i+1, K(i,0), ..., K(i,m-1), end]`, and libsvm looks `K(a,b)` up as
 *   `x_a[serial_b].value`, so any subset of rows can be trained on without copying.
 * - The heap grows up to 2 GiB - 64 KiB and never shrinks; a failed growth aborts the module for
 *   good. ftk estimates each allocation first and refuses with a suggestion before the limit
 *   (`assertFitsHeap`), and frees every model, problem and block it allocates.
 * - libsvm prints through Emscripten's `print`/`printErr`: ftk routes both into `messages`
 *   (nothing is printed) and always passes `-q`.
 */
import { createRequire } from 'node:module';
import { DatasetError, OptionsError, RuntimeError } from '../errors.js';

interface EmscriptenModule {
  load(): Promise<void>;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  HEAP32: Int32Array;
  HEAPF64: Float64Array;
  cwrap(name: string, ret: string | null, args: string[]): (...args: unknown[]) => unknown;
  print?: (s: string) => void;
  printErr?: (s: string) => void;
}

/** Largest heap libsvm-js can grow to (Emscripten's LIMIT for this build). */
export const LIBSVM_HEAP_LIMIT = 2147483648 - 65536;
/** What ftk allows itself to plan for: the limit less room for the stack, static data and fragmentation. */
export const LIBSVM_HEAP_BUDGET = LIBSVM_HEAP_LIMIT - 96 * 1024 * 1024;
const NODE_BYTES = 16; // struct svm_node { int index; double value; } on wasm32

/** Bytes a precomputed problem of m rows needs, with libsvm's kernel cache. */
export function precomputedHeapBytes(m: number, cacheSizeMB: number): number {
  const block = m * (m + 2) * NODE_BYTES;
  const cache = Math.min(cacheSizeMB * 1024 * 1024, m * m * 4);
  const solver = m * 64 + 4096; // y, x pointers, alpha, gradients, sub-problems, model (order of magnitude)
  return block + cache + solver;
}

/** Largest number of training samples that fits the budget. */
export function maxPrecomputedSamples(cacheSizeMB: number): number {
  let lo = 1;
  let hi = 20000;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (precomputedHeapBytes(mid, cacheSizeMB) <= LIBSVM_HEAP_BUDGET) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Refuses, with a suggestion, a problem that would not fit libsvm-js's 2 GiB heap. Called before
 * any O(m^2) work (Gram matrix, kernel block), so a too-large dataset fails in milliseconds.
 * `source` (a file, for the message) is what the samples come from.
 */
export function assertFitsHeap(m: number, cacheSizeMB: number, source?: string): void {
  const bytes = precomputedHeapBytes(m, cacheSizeMB);
  if (bytes > LIBSVM_HEAP_BUDGET) {
    const gib = (b: number): string => (b / 1024 ** 3).toFixed(2);
    throw new DatasetError(
      `${source ? `${source}: ` : ''}An SVM on ${m} training samples needs about ${gib(bytes)} GiB in libsvm-js's WebAssembly heap, ` +
        `which stops at 2 GiB (ftk plans for at most ${gib(LIBSVM_HEAP_BUDGET)} GiB): at most ` +
        `${maxPrecomputedSamples(cacheSizeMB)} training samples fit.`,
      {
        code: 'SVM_HEAP_LIMIT',
        suggestion:
          'Use a linear model on all rows: --kernel linear (LinearSVC, chosen automatically above this limit) or ' +
          '--solver logistic (LogisticRegression, with probabilities); in the library LinearSVC / LogisticRegression. ' +
          'Or fine-tune the network instead.',
      },
    );
  }
}

/** What ftk reads out of a trained libsvm model. */
export interface RawModel {
  /** libsvm's class labels, in its internal order (ascending, since rows are passed sorted by label). */
  labels: Int32Array;
  /** Support vectors per class, in `labels` order. */
  nSV: Int32Array;
  /** For each support vector, its position in the `rows` passed to `train` (0-based). */
  svRows: Int32Array;
  /** Dual coefficients, (k-1) x l row-major, libsvm's `sv_coef`. */
  coef: Float64Array;
  /** Intercepts of the k(k-1)/2 pairwise machines (decision = sum - rho). */
  rho: Float64Array;
}

export interface TrainParams {
  /** Penalty C. */
  C: number;
  /** Weight multiplying C, per label; labels without an entry weigh 1. */
  weights?: ReadonlyMap<number, number>;
  /** Stopping tolerance (libsvm -e). */
  tol: number;
  /** Kernel cache in MB (libsvm -m). */
  cacheSize: number;
  /** Shrinking heuristics (libsvm -h). */
  shrinking: boolean;
}

const MAX_COMMAND = 255; // libsvm-js copies the command into char[256]

function formatNumber(x: number): string {
  const s = String(x);
  return s.length <= 12 ? s : String(Number(x.toPrecision(10)));
}

/** The libsvm command line for a precomputed-kernel C-SVC. */
export function buildCommand(params: TrainParams): string {
  let cmd = `-s 0 -t 4 -c ${String(params.C)} -e ${String(params.tol)} -m ${String(params.cacheSize)} -h ${params.shrinking ? 1 : 0} -b 0 -q 1`;
  if (params.weights) {
    for (const [label, w] of params.weights) {
      if (w !== 1) cmd += ` -w${label} ${formatNumber(w)}`;
    }
  }
  if (cmd.length > MAX_COMMAND) {
    throw new OptionsError(
      `Class weights for ${params.weights?.size ?? 0} classes do not fit libsvm-js's 255-character command line (${cmd.length} characters).`,
      { code: 'SVM_TOO_MANY_WEIGHTS', suggestion: 'Drop classWeight, or weight only the classes that need it.' },
    );
  }
  return cmd;
}

/** One libsvm-js WebAssembly instance (one per thread). */
export class Libsvm {
  /** What libsvm printed (it is never shown unless the caller chooses to). */
  readonly messages: string[] = [];
  private readonly trainProblem: (prob: number, cmd: string) => number;
  private readonly freeModel: (model: number) => void;
  private readonly nrClass: (model: number) => number;
  private readonly nrSv: (model: number) => number;
  private aborted: unknown = undefined;

  private constructor(private readonly mod: EmscriptenModule) {
    this.trainProblem = mod.cwrap('libsvm_train_problem', 'number', ['number', 'string']) as (p: number, c: string) => number;
    this.freeModel = mod.cwrap('svm_free_model', null, ['number']) as (m: number) => void;
    this.nrClass = mod.cwrap('svm_get_nr_class', 'number', ['number']) as (m: number) => number;
    this.nrSv = mod.cwrap('svm_get_nr_sv', 'number', ['number']) as (m: number) => number;
  }

  private static instance: Promise<Libsvm> | undefined;

  /** The thread's libsvm-js instance, loaded on first use. */
  static load(): Promise<Libsvm> {
    if (!Libsvm.instance) {
      Libsvm.instance = (async () => {
        const require = createRequire(import.meta.url);
        const mod = require('libsvm-js/out/wasm/libsvm.js') as EmscriptenModule;
        const messages: string[] = [];
        const capture = (s: string): void => {
          messages.push(String(s));
          if (messages.length > 200) messages.shift();
        };
        mod.print = capture;
        mod.printErr = capture;
        await mod.load();
        const lib = new Libsvm(mod);
        lib.messages.push(...messages);
        mod.print = (s) => lib.pushMessage(s);
        mod.printErr = (s) => lib.pushMessage(s);
        return lib;
      })();
    }
    return Libsvm.instance;
  }

  private pushMessage(s: string): void {
    this.messages.push(String(s));
    if (this.messages.length > 200) this.messages.shift();
  }

  private check(): void {
    if (this.aborted !== undefined) {
      throw new RuntimeError('libsvm-js aborted earlier in this thread and cannot be used again.', {
        code: 'LIBSVM_ABORTED',
        suggestion: 'Restart ftk; if it happens again, train on fewer samples.',
        cause: this.aborted,
      });
    }
  }

  private malloc(bytes: number): number {
    this.check();
    let ptr = 0;
    try {
      ptr = this.mod._malloc(bytes);
    } catch (e) {
      this.aborted = e;
      throw new RuntimeError(`libsvm-js could not allocate ${bytes} bytes.`, { code: 'LIBSVM_OOM', cause: e });
    }
    if (ptr === 0) throw new RuntimeError(`libsvm-js could not allocate ${bytes} bytes.`, { code: 'LIBSVM_OOM' });
    return ptr;
  }

  /** Allocates a precomputed-kernel problem of m rows (checked against the heap budget first). */
  createBlock(m: number, cacheSizeMB: number): PrecomputedBlock {
    assertFitsHeap(m, cacheSizeMB);
    const bytes = m * (m + 2) * NODE_BYTES;
    const base = this.malloc(bytes);
    const H32 = this.mod.HEAP32;
    const F64 = this.mod.HEAPF64;
    const w = m + 2;
    for (let r = 0; r < m; r++) {
      const row = base + r * w * NODE_BYTES;
      H32[row >> 2] = 0;
      F64[(row + 8) >> 3] = r + 1; // serial number
      for (let c = 1; c <= m; c++) H32[(row + c * NODE_BYTES) >> 2] = c;
      H32[(row + (m + 1) * NODE_BYTES) >> 2] = -1;
    }
    return new PrecomputedBlock(this, base, m);
  }

  /** @internal */
  heapF64(): Float64Array {
    return this.mod.HEAPF64;
  }

  /** @internal */
  free(ptr: number): void {
    if (ptr !== 0 && this.aborted === undefined) this.mod._free(ptr);
  }

  /** @internal Trains on `rows` of the block (positions; pass them sorted by label). */
  trainRows(block: PrecomputedBlock, rows: Int32Array, labels: Int32Array, params: TrainParams): RawModel {
    const l = rows.length;
    if (l === 0) throw new DatasetError('Cannot train an SVM on 0 samples.', { code: 'SVM_EMPTY' });
    const cmd = buildCommand(params);
    const prob = this.malloc(16);
    const xs = this.malloc(4 * l);
    const ys = this.malloc(8 * l);
    let model = 0;
    try {
      const H32 = this.mod.HEAP32;
      const F64 = this.mod.HEAPF64;
      for (let i = 0; i < l; i++) {
        H32[(xs >> 2) + i] = block.rowPointer(rows[i]);
        F64[(ys >> 3) + i] = labels[i];
      }
      H32[prob >> 2] = l;
      H32[(prob >> 2) + 1] = ys;
      H32[(prob >> 2) + 2] = xs;
      try {
        model = this.trainProblem(prob, cmd);
      } catch (e) {
        this.aborted = e;
        throw new RuntimeError(`libsvm-js failed while training on ${l} samples: ${String(e)}`, {
          code: 'LIBSVM_ABORTED',
          suggestion: 'Train on fewer samples; see the libsvm messages for details.',
          cause: e,
        });
      }
      return this.readModel(model, rows);
    } finally {
      if (model !== 0 && this.aborted === undefined) this.freeModel(model);
      this.free(ys);
      this.free(xs);
      this.free(prob);
    }
  }

  /**
   * Reads `struct svm_model` (libsvm 3.22, wasm32): param occupies bytes 0-95, then nr_class@96,
   * l@100, SV@104, sv_coef@108, rho@112, probA@116, probB@120, sv_indices@124, label@128, nSV@132.
   */
  private readModel(model: number, rows: Int32Array): RawModel {
    const H32 = this.mod.HEAP32;
    const F64 = this.mod.HEAPF64;
    const b = model >> 2;
    const k = H32[b + 24];
    const l = H32[b + 25];
    if (k !== this.nrClass(model) || l !== this.nrSv(model) || H32[b + 1] !== 4) {
      throw new RuntimeError('libsvm-js model layout is not the one ftk expects (libsvm 3.22, wasm32).', {
        code: 'LIBSVM_LAYOUT',
        suggestion: 'Use libsvm-js 0.2.1 as pinned in package.json.',
      });
    }
    const coefPP = H32[b + 27];
    const rhoP = H32[b + 28];
    const svIdxP = H32[b + 31];
    const labelP = H32[b + 32];
    const nSVP = H32[b + 33];
    const labels = Int32Array.from(H32.subarray(labelP >> 2, (labelP >> 2) + k));
    const nSV = Int32Array.from(H32.subarray(nSVP >> 2, (nSVP >> 2) + k));
    const svRows = new Int32Array(l);
    for (let i = 0; i < l; i++) svRows[i] = rows[H32[(svIdxP >> 2) + i] - 1];
    const coef = new Float64Array(Math.max(0, k - 1) * l);
    for (let j = 0; j < k - 1; j++) {
      const p = H32[(coefPP >> 2) + j];
      coef.set(F64.subarray(p >> 3, (p >> 3) + l), j * l);
    }
    const nPairs = (k * (k - 1)) / 2;
    const rho = Float64Array.from(F64.subarray(rhoP >> 3, (rhoP >> 3) + nPairs));
    let total = 0;
    for (let i = 0; i < k; i++) total += nSV[i];
    if (total !== l) {
      throw new RuntimeError('libsvm-js model is inconsistent (nSV does not add up to l).', { code: 'LIBSVM_LAYOUT' });
    }
    return { labels, nSV, svRows, coef, rho };
  }
}

/**
 * An m x m precomputed kernel held in the libsvm heap as m rows of m+2 `svm_node`s. Write the
 * kernel with `setRow`, train on any subset of rows with `train`, and always `dispose()`.
 */
export class PrecomputedBlock {
  private disposed = false;

  constructor(
    private readonly lib: Libsvm,
    private readonly base: number,
    /** Rows (and columns) of the kernel. */
    readonly m: number,
  ) {}

  /** @internal */
  rowPointer(r: number): number {
    if (r < 0 || r >= this.m) throw new RangeError(`row ${r} outside the block of ${this.m} rows`);
    return this.base + r * (this.m + 2) * NODE_BYTES;
  }

  /** Writes K(r, 0..m-1). */
  setRow(r: number, values: ArrayLike<number>): void {
    this.assertLive();
    const F64 = this.lib.heapF64();
    let o = ((this.rowPointer(r) + NODE_BYTES + 8) >> 3) >>> 0;
    const m = this.m;
    for (let c = 0; c < m; c++, o += 2) F64[o] = values[c];
  }

  /** Reads K(r, c) back (for tests and for decision values on training rows). */
  get(r: number, c: number): number {
    this.assertLive();
    return this.lib.heapF64()[(this.rowPointer(r) + (c + 1) * NODE_BYTES + 8) >> 3];
  }

  /**
   * Trains a C-SVC on the given rows (positions in the block). Pass rows sorted by label (stable):
   * libsvm then numbers classes in ascending label order, as scikit-learn's libsvm does.
   */
  train(rows: Int32Array, labels: Int32Array, params: TrainParams): RawModel {
    this.assertLive();
    return this.lib.trainRows(this, rows, labels, params);
  }

  dispose(): void {
    if (!this.disposed) {
      this.disposed = true;
      this.lib.free(this.base);
    }
  }

  private assertLive(): void {
    if (this.disposed) throw new RuntimeError('This precomputed kernel block was disposed.', { code: 'LIBSVM_DISPOSED' });
  }
}
