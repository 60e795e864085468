/**
 * ONNX Runtime (onnxruntime-node, CPU execution provider) behind ftk's `FeatureEngine`
 * interface: the fast extraction runtime. The graph comes from `exportOnnx` (onnx_export.ts).
 *
 * Threads: ORT's intra-op pool computes each operator on `threads` threads (the calling thread
 * included); inter-op parallelism is off (a CNN is a chain). Idle pool threads do not spin
 * (`session.intra_op.allow_spinning = 0`): ORT's default busy-wait would take the cores the
 * decode workers need (measured on 2 cores: spinning costs the decode pipeline more than it saves
 * in wake-up latency).
 *
 * Note: onnxruntime-node's `run()` executes synchronously on the JS thread that calls it (after a
 * `setImmediate`); work that must go on meanwhile has to live on other threads (the decode pool).
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { RuntimeError } from '../errors.js';
import type { FeatureEngine } from './engine.js';

type OrtModule = typeof Ort;

export interface OnnxEngineOptions {
  /** Intra-op threads. Default `os.availableParallelism()`. */
  threads?: number;
  /** Let idle intra-op threads busy-wait. Default false (see the module notes). */
  spinning?: boolean;
  /** ORT graph optimizations. Default 'all' (constant folding, Conv+BN/activation fusion, NCHWc layouts). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

let ortModule: Promise<OrtModule> | undefined;

/**
 * Loads onnxruntime-node once. Rejects with a RuntimeError (code 'ONNX_RUNTIME_UNAVAILABLE')
 * when the package or its native binary cannot be loaded on this platform.
 */
export function loadOnnxRuntime(): Promise<OrtModule> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as unknown as { default?: OrtModule }).default?.InferenceSession ? (m as unknown as { default: OrtModule }).default : m),
    (err: Error) => {
      ortModule = undefined;
      throw new RuntimeError(`onnxruntime-node could not be loaded: ${err.message.split('\n')[0]}`, {
        code: 'ONNX_RUNTIME_UNAVAILABLE',
        suggestion: 'Reinstall it with `npm ci` (the CPU binary ships in the package for linux/macOS/windows x64 and arm64), or use --runtime tfjs.',
        cause: err,
      });
    },
  );
  return ortModule;
}

/** onnxruntime-node's version, or undefined when it is not installed. */
export function onnxRuntimeVersion(): string | undefined {
  try {
    return (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** Resolved engine options: the one place their defaults live. */
export function resolveOnnxEngineOptions(options: OnnxEngineOptions = {}): Required<OnnxEngineOptions> {
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RuntimeError(`threads must be a positive integer. Received ${threads}.`, { code: 'OPTIONS_THREADS' });
  }
  return { threads, spinning: options.spinning ?? false, graphOptimizationLevel: options.graphOptimizationLevel ?? 'all' };
}

/**
 * Runs an exported ONNX graph (one NHWC float32 input, one [N, ...] float32 output).
 *
 * @example
 * const engine = await OnnxEngine.create(exportOnnx(model).bytes, { threads: 2 });
 * const features = await engine.run(pixels, 8, 224, 224);
 * await engine.release();
 */
export class OnnxEngine implements FeatureEngine {
  readonly name: string;
  readonly outputDim: number;
  readonly threads: number;
  private readonly inputName: string;
  private readonly outputName: string;

  private constructor(
    private readonly ort: OrtModule,
    private session: Ort.InferenceSession | undefined,
    threads: number,
  ) {
    const s = session!;
    this.inputName = s.inputNames[0];
    this.outputName = s.outputNames[0];
    const meta = s.outputMetadata[0] as { isTensor: boolean; shape?: readonly (number | string)[] };
    const dims = (meta.shape ?? []).slice(1);
    this.outputDim = dims.every((d) => typeof d === 'number') ? (dims as number[]).reduce((a, b) => a * b, 1) : NaN;
    this.threads = threads;
    this.name = `onnxruntime-node ${onnxRuntimeVersion() ?? ''} cpu, ${threads} thread${threads === 1 ? '' : 's'}`.replace('  ', ' ');
  }

  /**
   * Opens a session on an ONNX file (path) or its bytes.
   * @throws RuntimeError 'ONNX_RUNTIME_UNAVAILABLE' or 'ONNX_SESSION' (a graph ORT rejects).
   */
  static async create(model: string | Uint8Array, options: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const o = resolveOnnxEngineOptions(options);
    const ort = await loadOnnxRuntime();
    const sessionOptions: Ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: o.graphOptimizationLevel,
      logSeverityLevel: 4,
      extra: { session: { intra_op: { allow_spinning: o.spinning ? '1' : '0' } } },
    };
    let session: Ort.InferenceSession;
    try {
      session = typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions);
    } catch (err) {
      throw new RuntimeError(`ONNX Runtime rejected the graph: ${(err as Error).message.split('\n')[0]}`, {
        code: 'ONNX_SESSION',
        suggestion: 'Delete the cached .onnx file to export it again, or use --runtime tfjs.',
        cause: err,
      });
    }
    return new OnnxEngine(ort, session, o.threads);
  }

  async run(batch: Float32Array, count: number, height: number, width: number): Promise<Float32Array> {
    if (!this.session) throw new RuntimeError('OnnxEngine.run after dispose().', { code: 'ENGINE_DISPOSED' });
    const input = new this.ort.Tensor('float32', batch.subarray(0, count * height * width * 3), [count, height, width, 3]);
    const out = await this.session.run({ [this.inputName]: input });
    const y = out[this.outputName];
    try {
      return y.data as Float32Array;
    } finally {
      input.dispose?.();
    }
  }

  /** Releases the native session (also what `dispose` does, without waiting). */
  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.release();
  }

  dispose(): void {
    void this.release();
  }
}
