/**
 * Image decoding ahead of inference on worker threads.
 *
 * Each worker runs `decodeForModel` (sharp decode on libuv's pool + ftk's bilinear resize and the
 * model's preprocessing in JS), so the per-pixel work of several images runs in parallel and
 * never waits for the inference engine, which holds the main thread while it runs.
 *
 * Zero-copy: workers write pixels straight into slots of one SharedArrayBuffer ring (window + 1
 * slots), so no image allocates, transfers or garbage-collects a buffer. Measured on the cats-dogs
 * photos with MobileNet 0.25 on 2 cores, moving preprocessing and the buffers off the main thread
 * cut the extraction pipeline's overhead over its decode + inference CPU from 10-19% to ~3%
 * (bench/extract/vs_pytorch.ts).
 *
 * Bounded: at most `window` images are in flight or decoded-but-not-consumed at once, whatever
 * the number of tasks, so memory is flat in dataset size ((window + 1) * size² * 3 * 4 bytes).
 * With `workers: 0` the same happens on the calling thread (sharp still decodes on libuv's pool).
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import 'sharp'; // loaded by the main thread first, as sharp requires when workers use it
import { RuntimeError } from '../errors.js';
import { firstMessage, spawnModuleWorker } from '../runtime/module_worker.js';
import { decodeForModel, type DecodeTaskOptions, type DecodeTaskResult } from './decode_task.js';

export interface DecodePoolOptions extends DecodeTaskOptions {
  /** Worker threads; 0 decodes on the calling thread. Default `os.availableParallelism()`. */
  workers?: number;
}

type PoolResult = { slot: number } | { reason?: string } | { pixels: Float32Array };

export interface DecodeTask {
  /** Absolute path. */
  file: string;
  /** What skip reasons call it (dataset-relative path). */
  name: string;
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
  private readonly results = new Map<number, PoolResult>();
  private ring: SharedArrayBuffer | undefined;
  private readonly slotFloats: number;
  private closed = false;
  /** Task ids are unique across `map` calls; results below `firstLive` belong to an abandoned map. */
  private nextId = 0;
  private firstLive = 0;
  private peak = 0;
  private readonly started: Promise<void>;

  constructor(options: DecodePoolOptions) {
    const workers = options.workers ?? os.availableParallelism();
    if (!Number.isInteger(workers) || workers < 0) {
      throw new RuntimeError(`decode workers must be an integer >= 0. Received ${workers}.`, { code: 'OPTIONS_WORKERS' });
    }
    this.workers = workers;
    this.options = { size: options.size, crop: options.crop, maxInputPixels: options.maxInputPixels, preprocessing: options.preprocessing };
    this.slotFloats = options.size * options.size * 3;
    const started: Promise<unknown>[] = [];
    for (let w = 0; w < workers; w++) {
      const worker = spawnModuleWorker(import.meta.url, 'decode_worker', { ...this.options, syncRead: true });
      const entry: PoolWorker = { worker, outstanding: 0 };
      started.push(firstMessage(worker));
      worker.on('message', (msg: { id?: number; slot?: number; reason?: string; ready?: boolean }) => {
        if (msg.ready || msg.id === undefined) return;
        entry.outstanding--;
        if (msg.id < this.firstLive) return;
        this.results.set(msg.id, msg.slot !== undefined ? { slot: msg.slot } : { reason: msg.reason });
        this.onEvent?.();
      });
      worker.on('error', (err) => this.fail(new RuntimeError(`Decode worker failed: ${err.message}`, { code: 'DECODE_WORKER', cause: err })));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new RuntimeError(`Decode worker exited with code ${code}.`, { code: 'DECODE_WORKER' }));
      });
      this.pool.push(entry);
    }
    this.started = Promise.all(started).then(() => undefined);
  }

  /**
   * Resolves when every worker has started and warmed up (its first decode done), so a caller
   * timing the pipeline can start its clock after the pool's fixed start-up cost, as it would after
   * loading the model. Tasks sent earlier simply queue; a worker that died resolves it too (the
   * failure surfaces from `map`).
   */
  ready(): Promise<void> {
    return this.started;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.onEvent?.();
  }

  /**
   * A ring with `slots` slots that no in-flight task writes to: the current one if big enough and
   * idle (an abandoned map's tasks may still be writing into it otherwise), else a new one.
   */
  private ringFor(slots: number): SharedArrayBuffer {
    const bytes = slots * this.slotFloats * 4;
    const idle = this.pool.every((p) => p.outstanding === 0);
    if (!this.ring || this.ring.byteLength < bytes || !idle) {
      this.ring = new SharedArrayBuffer(bytes);
      for (const p of this.pool) p.worker.postMessage({ ring: this.ring });
    }
    return this.ring;
  }

  /**
   * Decodes `tasks`, yielding results in task order. At most `window` (>= 1) images are in flight
   * or waiting to be consumed. One `map` at a time per pool. A yielded `pixels` array is a view
   * into the pool's buffers, valid until the next result is requested: copy what you keep.
   */
  async *map(tasks: readonly DecodeTask[], window: number): AsyncGenerator<DecodeTaskResult, void, undefined> {
    if (this.closed) throw new RuntimeError('DecodePool.map after close().', { code: 'DECODE_POOL_CLOSED' });
    const limit = Math.max(1, Math.floor(window));
    const base = this.nextId;
    this.nextId += tasks.length;
    this.firstLive = base;
    let sent = 0;
    // limit + 1 slots: pump() refills right after `consumed++`, while the result just taken is
    // still being read, and the slot it reuses is then never that one.
    const slots = limit + 1;
    const ring = this.workers > 0 ? this.ringFor(slots) : undefined;
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
        best.worker.postMessage({ id, file: tasks[i].file, name: tasks[i].name, slot: id % slots });
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
        const stored = this.results.get(base + consumed)!;
        this.results.delete(base + consumed);
        consumed++;
        pump();
        yield 'slot' in stored ? { pixels: new Float32Array(ring!, stored.slot * this.slotFloats * 4, this.slotFloats) } : stored;
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
    this.ring = undefined;
  }
}
