/**
 * Image decoding ahead of inference on worker threads.
 *
 * Each worker runs `decodeForModel` (sharp decode on libuv's pool + ftk's bilinear resize in JS),
 * so the JS-heavy resize of several images runs in parallel and never waits for
 * the inference engine, whose `run()` holds the main thread (onnxruntime-node runs synchronously
 * there). Results come back in task order, with the pixel buffers transferred, not copied.
 *
 * Bounded: at most `window` images are in flight or decoded-but-not-consumed at once, whatever
 * the number of tasks, so memory is flat in dataset size (window * size² * 3 * 4 bytes).
 * With `workers: 0` the same happens on the calling thread (sharp still decodes on libuv's pool).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import 'sharp'; // loaded by the main thread first, as sharp requires when workers use it
import { RuntimeError } from '../errors.js';
import { decodeForModel, type DecodeTaskOptions, type DecodeTaskResult } from './decode_task.js';

export interface DecodePoolOptions extends DecodeTaskOptions {
  /** Worker threads; 0 decodes on the calling thread. Default `os.availableParallelism()`. */
  workers?: number;
}

export interface DecodeTask {
  /** Absolute path. */
  file: string;
  /** What skip reasons call it (dataset-relative path). */
  name: string;
}

/** The worker file next to this module (.ts under tsx, .js when compiled). */
function spawnWorker(options: DecodeTaskOptions): Worker {
  const isTs = import.meta.url.endsWith('.ts');
  const target = new URL(`./decode_worker${isTs ? '.ts' : '.js'}`, import.meta.url);
  if (!isTs) return new Worker(target, { workerData: options });
  // Under tsx the worker needs tsx's loader registered before it imports TypeScript.
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target.href)}); });`;
  return new Worker(code, { eval: true, workerData: options });
}

interface PoolWorker {
  worker: Worker;
  outstanding: number;
}

export class DecodePool {
  readonly workers: number;
  private readonly pool: PoolWorker[] = [];
  private readonly options: DecodeTaskOptions;
  private failure: Error | undefined;
  private onEvent: (() => void) | undefined;
  private readonly results = new Map<number, DecodeTaskResult>();
  private closed = false;
  /** Task ids are unique across `map` calls; results below `firstLive` belong to an abandoned map. */
  private nextId = 0;
  private firstLive = 0;
  private peak = 0;

  constructor(options: DecodePoolOptions) {
    const workers = options.workers ?? os.availableParallelism();
    if (!Number.isInteger(workers) || workers < 0) {
      throw new RuntimeError(`decode workers must be an integer >= 0. Received ${workers}.`, { code: 'OPTIONS_WORKERS' });
    }
    this.workers = workers;
    this.options = { size: options.size, crop: options.crop, maxInputPixels: options.maxInputPixels };
    for (let w = 0; w < workers; w++) {
      const worker = spawnWorker(this.options);
      const entry: PoolWorker = { worker, outstanding: 0 };
      worker.on('message', (msg: { id?: number; pixels?: Float32Array; reason?: string; ready?: boolean }) => {
        if (msg.ready || msg.id === undefined) return;
        entry.outstanding--;
        if (msg.id < this.firstLive) return;
        this.results.set(msg.id, msg.pixels ? { pixels: msg.pixels } : { reason: msg.reason });
        this.onEvent?.();
      });
      worker.on('error', (err) => this.fail(new RuntimeError(`Decode worker failed: ${err.message}`, { code: 'DECODE_WORKER', cause: err })));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new RuntimeError(`Decode worker exited with code ${code}.`, { code: 'DECODE_WORKER' }));
      });
      this.pool.push(entry);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.onEvent?.();
  }

  /**
   * Decodes `tasks`, yielding results in task order. At most `window` (>= 1) images are in flight
   * or waiting to be consumed. One `map` at a time per pool.
   */
  async *map(tasks: readonly DecodeTask[], window: number): AsyncGenerator<DecodeTaskResult, void, undefined> {
    if (this.closed) throw new RuntimeError('DecodePool.map after close().', { code: 'DECODE_POOL_CLOSED' });
    const limit = Math.max(1, Math.floor(window));
    const base = this.nextId;
    this.nextId += tasks.length;
    this.firstLive = base;
    let sent = 0;
    const pump = () => {
      while (sent < tasks.length && sent - consumed < limit) {
        const i = sent++;
        const id = base + i;
        this.peak = Math.max(this.peak, sent - consumed);
        if (this.workers === 0) {
          void decodeForModel(tasks[i].file, tasks[i].name, this.options).then((r) => {
            if (id < this.firstLive) return;
            this.results.set(id, r);
            this.onEvent?.();
          });
          continue;
        }
        let best = this.pool[0];
        for (const p of this.pool) if (p.outstanding < best.outstanding) best = p;
        best.outstanding++;
        best.worker.postMessage({ id, file: tasks[i].file, name: tasks[i].name });
      }
    };
    let consumed = 0;
    try {
      while (consumed < tasks.length) {
        pump();
        while (!this.results.has(base + consumed)) {
          if (this.failure) throw this.failure;
          await new Promise<void>((resolve) => {
            this.onEvent = resolve;
          });
          this.onEvent = undefined;
        }
        const result = this.results.get(base + consumed)!;
        this.results.delete(base + consumed);
        consumed++;
        pump();
        yield result;
      }
    } finally {
      // Abandoned early: let outstanding tasks finish, drop their results.
      this.onEvent = undefined;
      this.firstLive = this.nextId;
      this.results.clear();
    }
  }

  /** Most images ever in flight or decoded-but-not-consumed at once (never above the window). */
  get peakInFlight(): number {
    return this.peak;
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.pool.map((p) => p.worker.terminate()));
    this.results.clear();
  }
}
