/**
 * A small pool of worker threads for the linear classifiers: `run(task)` resolves with the task's
 * result, tasks queue for the first free thread. With size 1 tasks run inline (no thread). The
 * feature matrix must sit in shared memory (`sharedMatrix`) so threads read it without a copy.
 */
import { Worker } from 'node:worker_threads';
import { RuntimeError } from '../errors.js';
import { deserializeError, type SerializedError } from './fold_task.js';
import { runLinearTask, type LinearTask, type LinearTaskResult } from './linear_task.js';

/** The worker file next to this module (.ts under tsx, .js when compiled). */
function spawnWorker(): Worker {
  const isTs = import.meta.url.endsWith('.ts');
  const target = new URL(`./linear_worker${isTs ? '.ts' : '.js'}`, import.meta.url);
  if (!isTs) return new Worker(target);
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target.href)}); });`;
  return new Worker(code, { eval: true });
}

/** `data` itself when it already lives in a SharedArrayBuffer, else a shared copy (costs n x d x 4 bytes). */
export function sharedMatrix(data: Float32Array): Float32Array {
  if (data.buffer instanceof SharedArrayBuffer) return data;
  const sab = new SharedArrayBuffer(data.byteLength);
  const out = new Float32Array(sab);
  out.set(data);
  return out;
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

interface Pending {
  task: LinearTask;
  resolve: (r: LinearTaskResult) => void;
  reject: (e: Error) => void;
}

export class LinearPool {
  private slots: Slot[] = [];
  private queue: Pending[] = [];
  private inflight = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(readonly size: number) {}

  run<T extends LinearTaskResult>(task: LinearTask): Promise<T> {
    if (this.size <= 1) return runLinearTask(task) as Promise<T>;
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ task, resolve: resolve as (r: LinearTaskResult) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      slot.busy = true;
      this.inflight.set(id, job);
      (slot as Slot & { id?: number }).id = id;
      slot.worker.postMessage({ id, task: job.task });
    }
  }

  private spawn(): Slot {
    const slot: Slot & { id?: number } = { worker: spawnWorker(), busy: false };
    slot.worker.on('message', (msg: { id: number; result?: LinearTaskResult; error?: SerializedError }) => {
      const job = this.inflight.get(msg.id);
      this.inflight.delete(msg.id);
      slot.busy = false;
      if (job) {
        if (msg.error) job.reject(deserializeError(msg.error));
        else job.resolve(msg.result!);
      }
      this.pump();
    });
    const fail = (e: Error): void => {
      const job = slot.id !== undefined ? this.inflight.get(slot.id) : undefined;
      if (job && slot.id !== undefined) {
        this.inflight.delete(slot.id);
        job.reject(e);
      }
      this.slots = this.slots.filter((s) => s !== slot);
    };
    slot.worker.on('error', (e) => fail(new RuntimeError(`Linear classifier worker thread failed: ${e.message}`, { code: 'LINEAR_WORKER', cause: e })));
    slot.worker.on('exit', (code) => {
      if (code !== 0 && !this.closed) fail(new RuntimeError(`Linear classifier worker thread exited with code ${code}.`, { code: 'LINEAR_WORKER' }));
    });
    this.slots.push(slot);
    return slot;
  }

  /** Stops every thread (queued tasks are rejected). */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue) job.reject(new RuntimeError('Linear classifier pool closed.', { code: 'LINEAR_WORKER' }));
    this.queue = [];
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots = [];
  }
}
