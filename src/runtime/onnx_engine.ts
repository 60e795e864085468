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
 * `setImmediate`); work that must go on meanwhile has to live on other threads. Extraction runs
 * its sessions on worker threads for that reason (onnx_session_pool.ts, one `OnnxEngine` each).
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { RuntimeError } from '../errors.js';
import type { ProviderName } from '../formats/device.js';
import type { FeatureEngine } from './engine.js';

type OrtModule = typeof Ort;

export interface OnnxEngineOptions {
  /** Intra-op threads. Default `os.availableParallelism()`. */
  threads?: number;
  /** Let idle intra-op threads busy-wait. Default false (see the module notes). */
  spinning?: boolean;
  /** ORT graph optimizations. Default 'all' (constant folding, Conv+BN/activation fusion, NCHWc layouts). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Execution provider: 'cpu', 'webgpu' or 'cuda' (chosen by src/runtime/device.ts). Default 'cpu'.
   * A GPU session is first opened with ORT's CPU fallback disabled, so that its success proves
   * every operator runs on the GPU; a graph with an operator the GPU provider lacks is opened
   * again with the fallback, and `providers` says so.
   */
  provider?: ProviderName;
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
  const provider = options.provider ?? 'cpu';
  if (!['cpu', 'webgpu', 'cuda'].includes(provider)) {
    throw new RuntimeError(`provider must be one of [cpu, webgpu, cuda]. Received "${provider as string}".`, { code: 'DEVICE_UNKNOWN' });
  }
  return { threads, spinning: options.spinning ?? false, graphOptimizationLevel: options.graphOptimizationLevel ?? 'all', provider };
}

/**
 * Runs an ONNX graph with one NHWC float32 input and a float32 [N, ...] first output: ftk's
 * exported graphs, and foreign graphs adapted by `adaptOnnxGraph` (onnx_graph.ts).
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
  /**
   * The execution providers the session runs on, read back at creation: ['cpu'], ['webgpu'] /
   * ['cuda'] (every operator on the GPU: the session opened with the CPU fallback disabled), or
   * ['webgpu', 'cpu'] (some operators on the CPU).
   */
  readonly providers: ProviderName[];
  /** Batch size the graph fixes (e.g. 1 for exports without a dynamic batch axis), else undefined. */
  readonly fixedBatch?: number;
  private readonly inputName: string;
  private readonly outputName: string;

  private constructor(
    private readonly ort: OrtModule,
    private session: Ort.InferenceSession | undefined,
    threads: number,
    providers: ProviderName[],
  ) {
    const s = session!;
    this.inputName = s.inputNames[0];
    this.outputName = s.outputNames[0];
    const meta = s.outputMetadata[0] as { isTensor: boolean; shape?: readonly (number | string)[] };
    const dims = (meta.shape ?? []).slice(1);
    this.outputDim = dims.every((d) => typeof d === 'number') ? (dims as number[]).reduce((a, b) => a * b, 1) : NaN;
    const inputMeta = s.inputMetadata[0] as { isTensor: boolean; shape?: readonly (number | string)[] };
    const batch = inputMeta.shape?.[0];
    if (typeof batch === 'number' && batch > 0) this.fixedBatch = batch;
    this.threads = threads;
    this.providers = providers;
    const where = providers[0] === 'cpu' ? 'cpu' : providers.length > 1 ? `${providers[0]} (some operators on cpu)` : providers[0];
    this.name = `onnxruntime-node ${onnxRuntimeVersion() ?? ''} ${where}, ${threads} thread${threads === 1 ? '' : 's'}`.replace('  ', ' ');
  }

  /**
   * Opens a session on an ONNX file (path) or its bytes.
   * @throws RuntimeError 'ONNX_RUNTIME_UNAVAILABLE' or 'ONNX_SESSION' (a graph ORT rejects).
   */
  static async create(model: string | Uint8Array, options: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const o = resolveOnnxEngineOptions(options);
    const ort = await loadOnnxRuntime();
    const sessionOptions = (strict: boolean): Ort.InferenceSession.SessionOptions => ({
      executionProviders: [o.provider === 'cuda' ? { name: 'cuda', deviceId: 0 } : o.provider],
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: o.graphOptimizationLevel,
      logSeverityLevel: 4,
      extra: { session: { intra_op: { allow_spinning: o.spinning ? '1' : '0' }, ...(strict ? { disable_cpu_ep_fallback: '1' } : {}) } },
    });
    const open = (strict: boolean) => (typeof model === 'string' ? ort.InferenceSession.create(model, sessionOptions(strict)) : ort.InferenceSession.create(model, sessionOptions(strict)));
    const fail = (err: unknown): never => {
      if (o.provider !== 'cpu') {
        throw new RuntimeError(`ONNX Runtime could not open a ${o.provider} session: ${(err as Error).message.split('\n')[0]}`, {
          code: 'DEVICE_UNAVAILABLE',
          suggestion: o.provider === 'cuda' ? 'Check CUDA 12 and cuDNN 9 (see "GPU" in the README), or use --device cpu.' : 'Check the GPU driver with `ftk info` (see "GPU" in the README), or use --device cpu.',
          cause: err,
        });
      }
      throw new RuntimeError(`ONNX Runtime rejected the graph: ${(err as Error).message.split('\n')[0]}`, {
        code: 'ONNX_SESSION',
        suggestion: 'Delete the cached .onnx file to export it again, or use --runtime tfjs.',
        cause: err,
      });
    };
    let session: Ort.InferenceSession;
    let providers: ProviderName[] = [o.provider];
    try {
      session = await open(o.provider !== 'cpu');
    } catch (err) {
      // Only a graph that needs the CPU for some operators is retried with the fallback.
      if (o.provider === 'cpu' || !/fallback/i.test((err as Error).message)) return fail(err);
      try {
        session = await open(false);
        providers = [o.provider, 'cpu'];
      } catch (err2) {
        return fail(err2);
      }
    }
    return new OnnxEngine(ort, session, o.threads, providers);
  }

  async run(batch: Float32Array, count: number, height: number, width: number): Promise<Float32Array> {
    return (await this.runRaw(batch, count, height, width)).data;
  }

  /**
   * Like `run`, with the output's shape. A graph with a fixed batch size runs in chunks of it (the
   * last one padded with zeros, its padding rows dropped).
   */
  async runRaw(batch: Float32Array, count: number, height: number, width: number): Promise<{ data: Float32Array; dims: number[] }> {
    const perImage = height * width * 3;
    const step = this.fixedBatch ?? count;
    if (step >= count && (this.fixedBatch === undefined || this.fixedBatch === count)) return this.runOnce(batch.subarray(0, count * perImage), count, height, width);
    const parts: Float32Array[] = [];
    let dims: number[] = [];
    for (let start = 0; start < count; start += step) {
      const n = Math.min(step, count - start);
      let chunk = batch.subarray(start * perImage, (start + n) * perImage);
      if (n < step) {
        const padded = new Float32Array(step * perImage);
        padded.set(chunk);
        chunk = padded;
      }
      const r = await this.runOnce(chunk, step, height, width);
      const rowSize = r.data.length / step;
      parts.push(r.data.subarray(0, n * rowSize));
      dims = r.dims;
    }
    const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      data.set(p, offset);
      offset += p.length;
    }
    return { data, dims: [count, ...dims.slice(1)] };
  }

  /** Every output of the graph for one batch (no chunking, any element type): for inspecting graphs. */
  async runAllOutputs(batch: Float32Array, count: number, height: number, width: number): Promise<Record<string, { type: string; dims: number[]; data: unknown }>> {
    if (!this.session) throw new RuntimeError('OnnxEngine.run after dispose().', { code: 'ENGINE_DISPOSED' });
    const input = new this.ort.Tensor('float32', batch.subarray(0, count * height * width * 3), [count, height, width, 3]);
    try {
      const out = await this.session.run({ [this.inputName]: input });
      return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { type: t.type, dims: t.dims.map(Number), data: t.data }]));
    } finally {
      input.dispose?.();
    }
  }

  private async runOnce(pixels: Float32Array, count: number, height: number, width: number): Promise<{ data: Float32Array; dims: number[] }> {
    if (!this.session) throw new RuntimeError('OnnxEngine.run after dispose().', { code: 'ENGINE_DISPOSED' });
    const input = new this.ort.Tensor('float32', pixels, [count, height, width, 3]);
    try {
      const out = await this.session.run({ [this.inputName]: input });
      const y = out[this.outputName];
      if (y.type !== 'float32') {
        throw new RuntimeError(`The model's output ${this.outputName} is ${y.type}, not float32.`, { code: 'ONNX_OUTPUT_TYPE', suggestion: 'Choose a float tensor with --layer (`ftk info --model onnx:<file>` lists them).' });
      }
      return { data: y.data as Float32Array, dims: y.dims.map(Number) };
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
