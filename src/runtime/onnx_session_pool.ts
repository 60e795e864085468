/**
 * Extraction's ONNX Runtime engine: `sessions` ORT sessions, each on its own worker thread with
 * its share of the threads, running different batches at once.
 *
 * Why not one session with all the threads on the main thread (what `OnnxEngine` is): a CNN's
 * operators are parallel inside, but between them, and in the ones ORT runs on one thread, a
 * multi-threaded session leaves cores idle, and the decode workers cannot fill those gaps once
 * they are a window ahead. Two sessions fill each other's gaps, no thread waits on another's
 * barrier when the decode threads take a core, and the main thread stays free to feed the decode
 * pool. Measured on 2 cores (bench/extract/vs_pytorch.ts, cats-dogs, medians of 5): extraction's
 * time per image over (decode CPU + inference CPU) / cores went from +8.4-10.3% to +5.0% for
 * MobileNetV2 and 5.8 to 5.6 ms per image end to end; memory: one more thread, session arena and
 * batch buffer (~220 MB more peak RSS with MobileNet 0.25).
 *
 * Batches travel as transferred ArrayBuffers (no copy): `submit` hands a buffer over and gets it
 * back with the features. `run` (the `FeatureEngine` interface) copies its input first.
 *
 * @example
 * const engine = await OnnxSessionPool.create('model.onnx', { threads: 2 });
 * const { features, buffer } = await engine.submit(pixels.buffer, 8, 224, 224);
 * await engine.release();
 */
import type { Worker } from 'node:worker_threads';
import { RuntimeError } from '../errors.js';
import type { ProviderName } from '../formats/device.js';
import type { FeatureEngine } from './engine.js';
import { firstMessage, spawnModuleWorker } from './module_worker.js';
import { resolveOnnxEngineOptions } from './onnx_engine.js';

export interface OnnxSessionPoolOptions {
  /** Threads in all, split over the sessions. Default `os.availableParallelism()`. */
  threads?: number;
  /** Sessions running at once. Default min(2, threads) on the CPU, 1 on a GPU (one session per GPU: a second would only queue behind the first on the device). */
  sessions?: number;
  /** Execution provider (see `OnnxEngineOptions.provider`). Default 'cpu'. */
  provider?: ProviderName;
}

/** An engine that can run several batches at once on buffers it borrows (extraction's pipeline uses it). */
export interface PipelinedEngine extends FeatureEngine {
  /** Batches it runs at once. */
  readonly parallel: number;
  /**
   * Runs `count` images (float32 NHWC, preprocessed) from the start of `buffer`, which is
   * transferred to a session thread (detached here) and handed back with the features.
   */
  submit(buffer: ArrayBuffer, count: number, height: number, width: number): Promise<{ features: Float32Array; buffer: ArrayBuffer }>;
  release(): Promise<void>;
}

export function isPipelinedEngine(engine: FeatureEngine): engine is PipelinedEngine {
  return typeof (engine as Partial<PipelinedEngine>).submit === 'function';
}

type ErrorInfo = { message: string; code?: string; suggestion?: string };
/** What a session thread says once it is up (onnx_session_worker.ts). */
type SessionReady = { outputDim: number; name: string; providers: ProviderName[] };
interface Job {
  buffer: ArrayBuffer;
  count: number;
  height: number;
  width: number;
  resolve: (r: { features: Float32Array; buffer: ArrayBuffer }) => void;
  reject: (err: Error) => void;
}
interface Session {
  worker: Worker;
  job: Job | undefined;
}

const toError = (e: ErrorInfo) => new RuntimeError(e.message, { code: e.code ?? 'ONNX_SESSION', suggestion: e.suggestion });

export class OnnxSessionPool implements PipelinedEngine {
  readonly name: string;
  readonly outputDim: number;
  readonly parallel: number;
  /** The execution providers the sessions run on, read back from them (see `OnnxEngine.providers`). */
  readonly providers: ProviderName[];
  private readonly queue: Job[] = [];
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly sessions: Session[],
    ready: SessionReady,
    threadsEach: number[],
  ) {
    this.outputDim = ready.outputDim;
    this.parallel = sessions.length;
    this.providers = ready.providers;
    const total = threadsEach.reduce((a, b) => a + b, 0);
    const shape = sessions.length > 1 ? ` (${sessions.length} sessions x ${threadsEach[0]}${threadsEach.every((t) => t === threadsEach[0]) ? '' : '+'} thread${threadsEach[0] === 1 ? '' : 's'})` : '';
    this.name = ready.name.replace(/\d+ threads?$/, `${total} thread${total === 1 ? '' : 's'}${shape}`);
    for (const s of sessions) {
      s.worker.on('message', (msg: { buffer: ArrayBuffer; features?: Float32Array; error?: ErrorInfo }) => {
        const job = s.job;
        if (!job) return;
        s.job = undefined;
        if (msg.error) job.reject(toError(msg.error));
        else job.resolve({ features: msg.features!, buffer: msg.buffer });
        this.dispatch();
      });
      s.worker.on('error', (err) => this.fail(new RuntimeError(`ONNX Runtime session thread failed: ${err.message}`, { code: 'ONNX_SESSION', cause: err })));
      s.worker.on('exit', (code) => {
        if (!this.closed) this.fail(new RuntimeError(`ONNX Runtime session thread exited with code ${code}.`, { code: 'ONNX_SESSION' }));
      });
    }
  }

  /**
   * Opens the sessions on an ONNX file (path) or its bytes.
   * @throws RuntimeError 'ONNX_RUNTIME_UNAVAILABLE' or 'ONNX_SESSION', as `OnnxEngine.create`.
   */
  static async create(model: string | Uint8Array, options: OnnxSessionPoolOptions = {}): Promise<OnnxSessionPool> {
    const { threads, provider } = resolveOnnxEngineOptions({ threads: options.threads, provider: options.provider });
    const count = options.sessions ?? (provider === 'cpu' ? Math.min(2, threads) : 1);
    if (!Number.isInteger(count) || count < 1 || count > threads) {
      throw new RuntimeError(`sessions must be an integer from 1 to threads (${threads}). Received ${count}.`, { code: 'OPTIONS_THREADS' });
    }
    const threadsEach = Array.from({ length: count }, (_, i) => Math.floor(threads / count) + (i < threads % count ? 1 : 0));
    const workers = threadsEach.map((t) => spawnModuleWorker(import.meta.url, 'onnx_session_worker', { model, threads: t, provider }));
    // A thread that fails before it is up: its error (always followed by its exit) names why. One
    // that exits after saying ready, while the others start, counts as failed too (the pool's own
    // listeners only exist from construction on).
    const errors = workers.map(() => '');
    const exits = workers.map((): number | undefined => undefined);
    workers.forEach((w, i) => w.on('error', (err) => (errors[i] = err.message)).on('exit', (code) => (exits[i] = code)));
    const answers = await Promise.all(workers.map((w) => firstMessage<{ ready?: SessionReady; fatal?: ErrorInfo }>(w)));
    const fatal = answers
      .map((a, i) => ('message' in a && a.message.fatal) || (exits[i] !== undefined ? { message: errors[i] || `ONNX Runtime session thread exited with code ${exits[i]}` } : undefined))
      .find((f) => f !== undefined);
    if (fatal) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw toError(fatal);
    }
    return new OnnxSessionPool(
      workers.map((worker) => ({ worker, job: undefined })),
      (answers[0] as { message: { ready: SessionReady } }).message.ready,
      threadsEach,
    );
  }

  submit(buffer: ArrayBuffer, count: number, height: number, width: number): Promise<{ features: Float32Array; buffer: ArrayBuffer }> {
    if (this.closed) return Promise.reject(new RuntimeError('OnnxSessionPool.submit after release().', { code: 'ENGINE_DISPOSED' }));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ buffer, count, height, width, resolve, reject });
      this.dispatch();
    });
  }

  async run(batch: Float32Array, count: number, height: number, width: number): Promise<Float32Array> {
    const copy = batch.slice(0, count * height * width * 3);
    return (await this.submit(copy.buffer, count, height, width)).features;
  }

  private dispatch(): void {
    for (const s of this.sessions) {
      if (s.job || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      s.job = job;
      s.worker.postMessage({ buffer: job.buffer, count: job.count, height: job.height, width: job.width }, [job.buffer]);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const s of this.sessions) {
      s.job?.reject(err);
      s.job = undefined;
    }
    for (const job of this.queue.splice(0)) job.reject(err);
  }

  /** Stops the session threads (pending batches are rejected). */
  async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new RuntimeError('OnnxSessionPool released.', { code: 'ENGINE_DISPOSED' }));
    await Promise.all(this.sessions.map((s) => s.worker.terminate()));
  }

  dispose(): void {
    void this.release();
  }
}
