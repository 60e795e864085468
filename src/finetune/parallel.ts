/**
 * Data-parallel training steps on worker threads (`workers` > 1).
 *
 * tfjs' wasm backend computes on one thread in Node, so one training step uses one core. A
 * `ReplicaPool` runs N worker threads (replica_worker.ts), each with its own TF.js backend and a
 * replica of the model; per step:
 * 1. the main thread draws the batch's feeds (bank rows or pixels, from the epoch's Rng, exactly as
 *    the in-process loop does) and the batch's dropout masks (one draw per Dropout layer, rows in
 *    order: what the in-process loop draws, micro-batch by micro-batch, for a model with one
 *    Dropout layer, such as every ftk head and smallcnn);
 * 2. the batch is split into N contiguous shards (sizes differ by at most one image); worker k
 *    computes the gradient of the SUM of its shard's per-image losses (in micro-batches when the
 *    shard exceeds the memory budget) into slot k of a SharedArrayBuffer;
 * 3. the main thread sums the slots in worker order (float32, fixed order: a run is deterministic
 *    for a given worker count), divides by the batch size once, and applies ONE optimizer update to
 *    its own variables (the optimizer state, checkpoints and best-weights restore stay on the main
 *    thread, unchanged);
 * 4. the updated variables are written to a shared parameter buffer that every replica reads at
 *    the start of the next step.
 * The sum over shards equals the full batch's gradient up to float rounding (the order of the
 * additions differs), so N workers follow the 1-worker run within float tolerance, not bit for bit.
 * `workers: 1` does not use this module: it is the in-process loop, bit-identical to before.
 *
 * BatchNormalization layers that train (from-scratch runs only; fine-tuning keeps BN in inference
 * mode, see graph.ts) normalise each shard with the shard's own batch statistics, as Keras'
 * `MirroredStrategy` and PyTorch's `DataParallel` do (per-replica statistics, not synchronised).
 * Their moving mean and variance are updated on each replica and then averaged over the replicas,
 * weighted by shard size, into the main model after every step (DataParallel keeps replica 0's;
 * the average uses every image). For the mean this equals the 1-worker update; the variance misses
 * the between-shard part of the batch variance.
 *
 * Memory: every replica holds the model and its own micro-batch activations (`memoryBudgetMB`
 * each), plus (N + 1) copies of the trainable weights in shared memory.
 */
import * as tf from '@tensorflow/tfjs';
import type { Worker } from 'node:worker_threads';
import type { Rng } from '../data/random.js';
import { RuntimeError } from '../errors.js';
import type { BackendName } from '../runtime/backend.js';
import { firstMessage, spawnModuleWorker } from '../runtime/module_worker.js';
import { dropoutMask } from './graph.js';
import type { FinetuneModel } from './model.js';

/** A weight of a layer, by layer name and index in `layer.weights` (the same in every replica). */
export interface WeightRef {
  layer: string;
  index: number;
  size: number;
  shape: number[];
}

/** A graph tensor, by its layer's name, node and output index (tensor ids differ between threads). */
export interface TensorRef {
  layer: string;
  node: number;
  output: number;
}

/** Messages main -> replica (replica_worker.ts). */
export type ReplicaRequest =
  | { type: 'model'; topology: unknown; weights: { layer: string; values: Float32Array[] }[] }
  | {
      type: 'stage';
      /** Current values of the weights that may have changed since the replica was built. */
      weights: { layer: string; index: number; values: Float32Array }[];
      /** Layers with `trainable` true this stage. */
      trainable: string[];
      /** Layers called with training=true (BatchNormalization: batch statistics). */
      training: string[];
      vars: WeightRef[];
      /** Non-trainable weights a training layer updates (BN moving statistics). */
      state: WeightRef[];
      start: TensorRef[];
      micro: number;
      classes: number;
      /** vars then state, as the main thread last wrote them; Int32 control word first. */
      params: SharedArrayBuffer;
      /** Slot per replica: its gradients (vars), then its state. */
      slots: SharedArrayBuffer;
      slot: number;
    }
  | {
      type: 'step';
      step: number;
      labels: Int32Array;
      feeds: Float32Array[];
      /** Per Dropout layer (by name): this shard's rows of the batch mask. */
      masks: { layer: string; values: Float32Array }[];
    };

/** Messages replica -> main. */
export type ReplicaReply = { ready: true } | { fatal: ErrorInfo } | { step: number; lossSum: number; hits: number } | { step: number; error: ErrorInfo };

type ErrorInfo = { message: string; code?: string; suggestion?: string };

export interface ReplicaWorkerData {
  backend: BackendName;
}

/** Bytes before the float data of a parameter or slot buffer: an Int32 step counter (Atomics: orders the shared writes). */
const HEADER = 16;

const toError = (e: ErrorInfo) => new RuntimeError(`A training replica failed: ${e.message}`, { code: e.code ?? 'REPLICA_FAILED', suggestion: e.suggestion ?? 'Run with --workers 1 to train on the main thread.' });

function tensorRef(t: tf.SymbolicTensor): TensorRef {
  const { sourceLayer, nodeIndex, tensorIndex } = t as unknown as { sourceLayer: tf.layers.Layer; nodeIndex: number; tensorIndex: number };
  return { layer: sourceLayer.name, node: nodeIndex, output: tensorIndex };
}

/** Sizes of `n` contiguous shards of `total` rows (the first `total % n` one larger). */
export function shardSizes(total: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => Math.floor(total / n) + (k < total % n ? 1 : 0));
}

interface StageLayout {
  vars: { ref: WeightRef; variable: tf.LayerVariable }[];
  state: { ref: WeightRef; variable: tf.LayerVariable }[];
  varFloats: number;
  stateFloats: number;
  params: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  slotBytes: number;
  /** Dropout layers the run passes, in plan order, with floats per image and rate. */
  dropouts: { layer: string; perImage: number; rate: number }[];
}

export class ReplicaPool {
  private stage: StageLayout | undefined;
  private steps = 0;
  private failure: Error | undefined;
  private closed = false;
  private pending: { resolve: (r: { lossSum: number; hits: number }) => void; reject: (e: Error) => void; step: number }[] = [];

  private fm: FinetuneModel | undefined;
  private readonly ready: Promise<ErrorInfo | undefined>;

  private constructor(private readonly workers: Worker[]) {
    // A thread that fails before it is up: its error (always followed by its exit) names why.
    const errors = workers.map(() => '');
    workers.forEach((w, i) => w.on('error', (err) => (errors[i] = err.message)));
    this.ready = Promise.all(workers.map((w) => firstMessage<ReplicaReply>(w))).then((answers) =>
      answers.map((a, i) => ('message' in a ? ('fatal' in a.message ? a.message.fatal : undefined) : { message: errors[i] || `the thread exited with code ${a.exitCode}` })).find((f) => f !== undefined),
    );
    workers.forEach((w, k) => {
      w.on('message', (msg: ReplicaReply) => {
        const p = this.pending[k];
        if (!p || !('step' in msg) || msg.step !== p.step) return;
        delete this.pending[k];
        if ('error' in msg) p.reject(toError(msg.error));
        else p.resolve({ lossSum: msg.lossSum, hits: msg.hits });
      });
      w.on('error', (err) => this.fail(new RuntimeError(`A training replica thread failed: ${err.message}`, { code: 'REPLICA_FAILED', cause: err })));
      w.on('exit', (code) => {
        if (!this.closed) this.fail(new RuntimeError(`A training replica thread exited with code ${code}.`, { code: 'REPLICA_FAILED' }));
      });
    });
  }

  /** Replicas running. */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Starts `workers` replica threads on `backend` (the main thread's) without waiting: they load
   * TF.js and the backend while the caller prepares the data and the model; `load` gives them the
   * model. The caller must `release()` the pool on every path.
   */
  static start(workers: number, backend: BackendName): ReplicaPool {
    const data: ReplicaWorkerData = { backend };
    return new ReplicaPool(Array.from({ length: workers }, () => spawnModuleWorker(import.meta.url, 'replica_worker', data)));
  }

  /**
   * Waits for the threads, then builds the replicas of `fm.model` (topology and current weights).
   * @throws RuntimeError 'REPLICA_FAILED' when a thread cannot load its backend or build the model.
   */
  async load(fm: FinetuneModel): Promise<void> {
    const fatal = await this.ready;
    if (fatal) throw toError(fatal);
    this.check();
    this.fm = fm;
    const request: ReplicaRequest = {
      type: 'model',
      topology: fm.model.toJSON(null, false),
      weights: fm.model.layers.filter((l) => l.weights.length > 0).map((l) => ({ layer: l.name, values: l.getWeights().map((w) => w.dataSync() as Float32Array) })),
    };
    await Promise.all(this.workers.map((_, k) => this.send(k, request, -1)));
  }

  /**
   * Prepares a stage: replicas get the current weights of `mutable`, which layers train, and where
   * the run starts. Call after the main thread set its weights for the stage (reset, resume).
   */
  async beginStage(options: {
    mutable: readonly tf.layers.Layer[];
    trainable: readonly tf.layers.Layer[];
    /** Layers called with training=true. */
    training: readonly tf.layers.Layer[];
    start: readonly tf.SymbolicTensor[];
    micro: number;
    classes: number;
  }): Promise<void> {
    this.check();
    const fm = this.fm;
    if (!fm) throw new Error('ReplicaPool.beginStage before load');
    const refOf = (layer: tf.layers.Layer, variable: tf.LayerVariable): WeightRef => {
      const shape = [...variable.shape] as number[];
      return { layer: layer.name, index: layer.weights.indexOf(variable), size: shape.reduce((a, b) => a * b, 1), shape };
    };
    const vars = options.trainable.flatMap((l) => l.trainableWeights.map((variable) => ({ ref: refOf(l, variable), variable })));
    const state = options.training.flatMap((l) => l.weights.filter((w) => !w.trainable).map((variable) => ({ ref: refOf(l, variable), variable })));
    const varFloats = vars.reduce((n, v) => n + v.ref.size, 0);
    const stateFloats = state.reduce((n, v) => n + v.ref.size, 0);
    const slotBytes = HEADER + 4 * (varFloats + stateFloats);
    const plan = fm.graph.plan(
      options.start.map((s) => s.id),
      [fm.probabilities],
    );
    const dropouts = plan
      .filter((n) => n.layer.getClassName() === 'Dropout')
      .map((n) => ({ layer: n.layer.name, perImage: n.inputs[0].shape.slice(1).reduce((a: number, b) => a * (b as number), 1), rate: (n.layer.getConfig() as { rate: number }).rate }));
    this.stage = { vars, state, varFloats, stateFloats, params: new SharedArrayBuffer(slotBytes), slots: new SharedArrayBuffer(slotBytes * this.workers.length), slotBytes, dropouts };
    this.publish();
    const trainable = new Set(options.trainable);
    const request = (slot: number): ReplicaRequest => ({
      type: 'stage',
      weights: options.mutable.flatMap((l) => l.getWeights().map((w, index) => ({ layer: l.name, index, values: w.dataSync() as Float32Array }))),
      trainable: fm.model.layers.filter((l) => trainable.has(l)).map((l) => l.name),
      training: options.training.map((l) => l.name),
      vars: vars.map((v) => v.ref),
      state: state.map((v) => v.ref),
      start: options.start.map(tensorRef),
      micro: options.micro,
      classes: options.classes,
      params: this.stage!.params,
      slots: this.stage!.slots,
      slot,
    });
    await Promise.all(this.workers.map((_, k) => this.send(k, request(k), -1)));
  }

  /**
   * One data-parallel step on the batch whose feeds (all rows, graph tensor id -> tensor) and
   * labels are given: returns the batch-mean gradients by variable name (for the optimizer; the
   * caller disposes them), the summed loss and the hits. BN moving statistics are averaged into
   * the main model here.
   */
  async step(feeds: ReadonlyMap<number, tf.Tensor>, start: readonly tf.SymbolicTensor[], labels: Int32Array, dropoutRng: Rng | undefined): Promise<{ grads: Record<string, tf.Tensor>; lossSum: number; hits: number }> {
    this.check();
    const st = this.stage;
    if (!st) throw new Error('ReplicaPool.step before beginStage');
    const rows = labels.length;
    const sizes = shardSizes(rows, this.workers.length);
    const data = start.map((s) => feeds.get(s.id)!.dataSync() as Float32Array);
    const perImage = data.map((d) => d.length / rows);
    const masks = st.dropouts.map((d) => ({ ...d, values: d.rate > 0 && dropoutRng ? dropoutMask(rows * d.perImage, d.rate, dropoutRng) : undefined }));
    const step = ++this.steps;
    const jobs: Promise<{ lossSum: number; hits: number }>[] = [];
    let at = 0;
    for (let k = 0; k < sizes.length; k++) {
      const n = sizes[k];
      if (n === 0) continue;
      const feedsK = data.map((d, j) => d.slice(at * perImage[j], (at + n) * perImage[j]));
      const masksK = masks.filter((m) => m.values).map((m) => ({ layer: m.layer, values: m.values!.slice(at * m.perImage, (at + n) * m.perImage) }));
      const msg: ReplicaRequest = { type: 'step', step, labels: labels.slice(at, at + n), feeds: feedsK, masks: masksK };
      jobs.push(this.send(k, msg, step, [...feedsK.map((f) => f.buffer as ArrayBuffer), ...masksK.map((m) => m.values.buffer as ArrayBuffer)]));
      at += n;
    }
    const results = await Promise.all(jobs);
    // Sum the slots in worker order, then divide by the batch size once.
    const sum = new Float32Array(st.varFloats);
    const state = new Float32Array(st.stateFloats);
    for (let k = 0; k < sizes.length; k++) {
      if (sizes[k] === 0) continue;
      const control = new Int32Array(st.slots, k * st.slotBytes, 1);
      if (Atomics.load(control, 0) !== step) throw new RuntimeError(`A training replica did not write step ${step}.`, { code: 'REPLICA_FAILED' });
      const slot = new Float32Array(st.slots, k * st.slotBytes + HEADER, st.varFloats + st.stateFloats);
      for (let i = 0; i < st.varFloats; i++) sum[i] += slot[i];
      const w = sizes[k] / rows;
      for (let i = 0; i < st.stateFloats; i++) state[i] += w * slot[st.varFloats + i];
    }
    for (let i = 0; i < sum.length; i++) sum[i] /= rows;
    const grads: Record<string, tf.Tensor> = {};
    let o = 0;
    for (const v of st.vars) {
      grads[(v.variable.read() as tf.Variable).name] = tf.tensor(sum.subarray(o, o + v.ref.size), v.ref.shape);
      o += v.ref.size;
    }
    o = 0;
    for (const v of st.state) {
      const t = tf.tensor(state.subarray(o, o + v.ref.size), v.ref.shape);
      v.variable.write(t);
      t.dispose();
      o += v.ref.size;
    }
    return { grads, lossSum: results.reduce((a, r) => a + r.lossSum, 0), hits: results.reduce((a, r) => a + r.hits, 0) };
  }

  /** Writes the main thread's current variables (after the optimizer update) for the replicas' next step. */
  publish(): void {
    const st = this.stage;
    if (!st) return;
    const params = new Float32Array(st.params, HEADER, st.varFloats + st.stateFloats);
    let o = 0;
    for (const v of [...st.vars, ...st.state]) {
      params.set(v.variable.read().dataSync() as Float32Array, o);
      o += v.ref.size;
    }
    Atomics.add(new Int32Array(st.params, 0, 1), 0, 1);
  }

  private send(k: number, msg: ReplicaRequest, step: number, transfer: ArrayBuffer[] = []): Promise<{ lossSum: number; hits: number }> {
    return new Promise((resolve, reject) => {
      this.pending[k] = { resolve, reject, step };
      this.workers[k].postMessage(msg, transfer);
    });
  }

  private check(): void {
    if (this.closed) throw new RuntimeError('ReplicaPool used after release().', { code: 'REPLICA_RELEASED' });
    if (this.failure) throw this.failure;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.splice(0)) p?.reject(err);
  }

  /** Stops the replica threads. */
  async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new RuntimeError('ReplicaPool released.', { code: 'REPLICA_RELEASED' }));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
