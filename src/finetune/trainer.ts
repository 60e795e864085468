/**
 * The training loop: stages (phase 1 'head', phase 2 'finetune', or 'scratch'; per fold in
 * cross-validation, then a refit), epochs, optimizer steps in micro-batches, validation, early
 * stopping with best-weights restore (Keras `EarlyStopping(monitor='val_loss',
 * restore_best_weights=True)`), and a checkpoint after every epoch.
 *
 * Everything random in an epoch (shuffle, view choice, augmentation, dropout) comes from Rngs
 * seeded by (seed, stage, epoch), so a run resumed from a checkpoint continues exactly as the
 * uninterrupted run would have.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { Rng } from '../data/random.js';
import { FtkError } from '../errors.js';
import type { NamedArray } from './checkpoint.js';
import type { FeedSource } from './data.js';
import { INFERENCE, type RunPolicy } from './graph.js';
import type { FinetuneModel } from './model.js';
import type { EpochRecord, FinetuneProgress } from './options.js';
import type { ReplicaPool } from './parallel.js';

export interface Stage {
  label: string;
  phase: 'head' | 'finetune' | 'scratch';
  /** Fold index (cross-validation). */
  fold?: number;
  /** The refit on all images after cross-validation (epochs from the folds). */
  refit: boolean;
  lr: number;
  /** Largest number of epochs (for a refit: filled in from the folds' best epochs). */
  maxEpochs: number;
  train: Int32Array;
  /** Empty: no validation, no early stopping. */
  val: Int32Array;
  /** Restore the initial weights (pretrained base, fresh head) before the stage. */
  resetBefore: boolean;
}

export interface FoldResult {
  fold: number;
  accuracy: number;
  loss: number;
  bestEpochs: { head: number; finetune: number; scratch: number };
}

/** Everything the loop needs to continue after a restart (stored in the checkpoint). */
export interface LoopState {
  stage: number;
  epochsDone: number;
  bestValLoss: number | null;
  bestValAccuracy: number | null;
  bestEpoch: number;
  wait: number;
  /** Whether `best` weights are held for the current stage. */
  hasBest: boolean;
  history: EpochRecord[];
  folds: FoldResult[];
  /** Best epochs of the current fold's finished stages. */
  currentFoldBest: { head: number; finetune: number; scratch: number };
  trainSeconds: number;
  trainImages: number;
}

export function initialLoopState(): LoopState {
  return {
    stage: 0,
    epochsDone: 0,
    bestValLoss: null,
    bestValAccuracy: null,
    bestEpoch: 0,
    wait: 0,
    hasBest: false,
    history: [],
    folds: [],
    currentFoldBest: { head: 0, finetune: 0, scratch: 0 },
    trainSeconds: 0,
    trainImages: 0,
  };
}

/** Weights of some layers, by layer name. */
export type WeightSnapshot = Map<string, { shape: number[]; values: Float32Array }[]>;

export async function snapshotWeights(layers: readonly tf.layers.Layer[]): Promise<WeightSnapshot> {
  const snap: WeightSnapshot = new Map();
  for (const layer of layers) {
    if (layer.weights.length === 0) continue;
    // Asynchronous reads: a GPU backend (webgpu in Node) cannot read its buffers synchronously.
    const weights = layer.getWeights();
    snap.set(layer.name, await Promise.all(weights.map(async (w) => ({ shape: [...w.shape], values: Float32Array.from((await w.data()) as Float32Array) }))));
  }
  return snap;
}

export function restoreWeights(layers: readonly tf.layers.Layer[], snap: WeightSnapshot): void {
  for (const layer of layers) {
    const saved = snap.get(layer.name);
    if (!saved) continue;
    const tensors = saved.map((w) => tf.tensor(w.values, w.shape));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}

export interface TrainerContext {
  fm: FinetuneModel;
  labels: Int32Array;
  classes: number;
  /** Layers whose weights may change in some stage (checkpointed). */
  mutable: readonly tf.layers.Layer[];
  /** Weights of `mutable` before any training. */
  initial: WeightSnapshot;
  seed: number;
  patience: number;
  batchSize: number;
  trainableFor(stage: Stage): tf.layers.Layer[];
  sourcesFor(stage: Stage): { train: FeedSource; val: FeedSource };
  /** Images per micro-batch (forward + backward) and per inference batch. */
  microBatch(stage: Stage): number;
  evalBatch(stage: Stage): number;
  /** Called before each epoch (fills the bank of views it uses). */
  beforeEpoch(stage: Stage, epoch: number): Promise<void>;
  /** Saves a checkpoint: the loop state, optimizer state (mid-stage) and best weights. */
  checkpoint(state: LoopState, optimizer: tf.Optimizer | undefined, best: WeightSnapshot | undefined): Promise<void>;
  onProgress?: (p: FinetuneProgress) => void;
  onEpoch?: (r: EpochRecord) => void;
  /** Data-parallel replicas (workers > 1, parallel.ts); without: every step runs in this thread. */
  replicas?: ReplicaPool;
}

/** Optimizer state from a checkpoint, for the stage it was saved in. */
export interface RestoredOptimizer {
  stage: number;
  weights: { name: string; tensor: tf.Tensor }[];
  /** Adam's running beta1^t and beta2^t (checkpoints written before they were saved lack them). */
  accBeta?: [number, number];
}

/** The private running products of tfjs' AdamOptimizer. */
interface AdamAccumulators {
  accBeta1?: tf.Variable;
  accBeta2?: tf.Variable;
}

/**
 * Adam's bias-correction state: beta1^t and beta2^t as tfjs accumulates them (one float32
 * multiplication per step). tfjs' `setWeights` recomputes them with `pow(beta, t)`, which differs
 * in the last bits, so a resumed run would drift from an uninterrupted one by float rounding;
 * checkpoints save these two numbers and a resume puts them back, so it continues bit for bit.
 */
export async function adamAccBeta(optimizer: tf.Optimizer): Promise<[number, number] | undefined> {
  const { accBeta1, accBeta2 } = optimizer as unknown as AdamAccumulators;
  if (!accBeta1 || !accBeta2) return undefined;
  return [(await accBeta1.data())[0], (await accBeta2.data())[0]];
}

function restoreAdamAccBeta(optimizer: tf.Optimizer, values: [number, number]): void {
  const { accBeta1, accBeta2 } = optimizer as unknown as AdamAccumulators;
  if (!accBeta1 || !accBeta2) return;
  tf.tidy(() => {
    accBeta1.assign(tf.scalar(values[0]));
    accBeta2.assign(tf.scalar(values[1]));
  });
}

/** An independent stream per (seed, stage, epoch, purpose): shuffling, views/augmentation, dropout. */
function epochRng(seed: number, stage: number, epoch: number, purpose: 'shuffle' | 'views' | 'dropout'): Rng {
  return new Rng(createHash('sha256').update(`ftk-epoch/${seed}/${stage}/${epoch}/${purpose}`).digest().readUInt32LE(0));
}

/** Keras' categorical cross-entropy on probabilities: clip to [1e-7, 1 - 1e-7], mean over the batch. */
function crossEntropy(probs: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(probs, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar;
}

function oneHotOf(labels: Int32Array, indices: readonly number[], classes: number): tf.Tensor2D {
  return tf.oneHot(tf.tensor1d(indices.map((i) => labels[i]), 'int32'), classes) as tf.Tensor2D;
}

/** Loss and accuracy of the current model on `indices` (inference: BN statistics, no dropout). */
export async function evaluate(ctx: TrainerContext, source: FeedSource, indices: Int32Array, batch: number): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0;
  let correct = 0;
  const idx = Array.from(indices);
  for (let s = 0; s < idx.length; s += batch) {
    const part = idx.slice(s, s + batch);
    const feeds = await source.feeds(part);
    const [loss, hits] = tf.tidy(() => {
      const [p] = ctx.fm.graph.run(feeds, [ctx.fm.probabilities], INFERENCE);
      const y = oneHotOf(ctx.labels, part, ctx.classes);
      return [crossEntropy(p, y).mul(part.length), tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(y, -1)), 'float32'))];
    });
    lossSum += (await loss.data())[0];
    correct += (await hits.data())[0];
    tf.dispose([loss, hits, ...feeds.values()]);
  }
  return { loss: lossSum / idx.length, accuracy: correct / idx.length };
}

/** Class probabilities of the current model on `indices` (inference), one row per image, for calibration. */
export async function predictProbabilities(fm: FinetuneModel, source: FeedSource, indices: Int32Array, batch: number): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  const idx = Array.from(indices);
  for (let s = 0; s < idx.length; s += batch) {
    const part = idx.slice(s, s + batch);
    const feeds = await source.feeds(part);
    const p = tf.tidy(() => fm.graph.run(feeds, [fm.probabilities], INFERENCE)[0]);
    const values = (await p.data()) as Float32Array;
    const k = values.length / part.length;
    for (let j = 0; j < part.length; j++) out.push(values.slice(j * k, (j + 1) * k));
    tf.dispose([p, ...feeds.values()]);
  }
  return out;
}

function setTrainable(ctx: TrainerContext, trainable: ReadonlySet<tf.layers.Layer>): void {
  for (const layer of ctx.fm.model.layers) layer.trainable = trainable.has(layer);
}

/** Runs the stages from `state` to the end. */
export async function runStages(ctx: TrainerContext, stages: Stage[], state: LoopState, restoredOptimizer?: RestoredOptimizer, restoredBest?: WeightSnapshot): Promise<void> {
  while (state.stage < stages.length) {
    const stageIndex = state.stage;
    const stage = stages[stageIndex];
    if (stage.refit && stage.maxEpochs === 0 && state.folds.length) {
      const mean = state.folds.reduce((n, f) => n + f.bestEpochs[stage.phase], 0) / state.folds.length;
      stage.maxEpochs = Math.max(1, Math.round(mean));
    }
    if (stage.maxEpochs === 0) {
      finishStage(ctx, stage, state, undefined, stages);
      continue;
    }
    if (state.epochsDone === 0 && stage.resetBefore) restoreWeights(ctx.mutable, ctx.initial);
    const trainableLayers = ctx.trainableFor(stage);
    const trainable = new Set(trainableLayers);
    setTrainable(ctx, trainable);
    const vars = trainableLayers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable));
    const optimizer = tf.train.adam(stage.lr);
    if (restoredOptimizer && restoredOptimizer.stage === stageIndex && state.epochsDone > 0) {
      await optimizer.setWeights(restoredOptimizer.weights);
      if (restoredOptimizer.accBeta) restoreAdamAccBeta(optimizer, restoredOptimizer.accBeta);
    }
    let best: WeightSnapshot | undefined = state.hasBest ? restoredBest : undefined;
    const { train, val } = ctx.sourcesFor(stage);
    const micro = ctx.microBatch(stage);
    const evalBatch = ctx.evalBatch(stage);
    const scratchBn = stage.phase === 'scratch';
    await ctx.replicas?.beginStage({ mutable: ctx.mutable, trainable: trainableLayers, training: scratchBn ? trainableLayers : [], start: train.start, micro, classes: ctx.classes });
    for (let epoch = state.epochsDone; epoch < stage.maxEpochs; epoch++) {
      await ctx.beforeEpoch(stage, epoch);
      const started = performance.now();
      const order = epochRng(ctx.seed, stageIndex, epoch, 'shuffle').shuffle(Array.from(stage.train));
      // Separate streams, so that micro-batching does not change which view or mask a sample gets.
      const rng = epochRng(ctx.seed, stageIndex, epoch, 'views');
      // Frozen BatchNormalization stays in inference mode; only a from-scratch run trains BN.
      const policy: RunPolicy = { training: (layer) => scratchBn && trainable.has(layer), dropoutRng: epochRng(ctx.seed, stageIndex, epoch, 'dropout') };
      let lossSum = 0;
      let correct = 0;
      let stepSeconds = 0;
      const batches = Math.ceil(order.length / ctx.batchSize);
      for (let b = 0; b < batches; b++) {
        const batch = order.slice(b * ctx.batchSize, (b + 1) * ctx.batchSize);
        const t0 = performance.now();
        const accumulated: Record<string, tf.Tensor> = {};
        if (ctx.replicas) {
          // The batch's feeds and dropout masks drawn here, in the same order as below; the
          // gradient computed by the replicas, shard by shard (parallel.ts).
          const feeds = await train.feeds(batch, rng);
          const step = await ctx.replicas.step(feeds, train.start, Int32Array.from(batch, (i) => ctx.labels[i]), policy.dropoutRng);
          tf.dispose([...feeds.values()]);
          Object.assign(accumulated, step.grads);
          lossSum += step.lossSum;
          correct += step.hits;
        }
        for (let s = 0; s < batch.length && !ctx.replicas; s += micro) {
          const part = batch.slice(s, s + micro);
          const feeds = await train.feeds(part, rng);
          const y = oneHotOf(ctx.labels, part, ctx.classes);
          let hits: tf.Scalar | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const [p] = ctx.fm.graph.run(feeds, [ctx.fm.probabilities], policy);
            hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(y, -1)), 'float32')) as tf.Scalar);
            return crossEntropy(p, y);
          }, vars);
          const weight = part.length / batch.length;
          for (const [name, g] of Object.entries(grads)) {
            const scaled = weight === 1 ? g : tf.mul(g, weight);
            if (scaled !== g) g.dispose();
            const prev = accumulated[name];
            accumulated[name] = prev ? tf.add(prev, scaled) : scaled;
            if (prev) {
              prev.dispose();
              scaled.dispose();
            }
          }
          lossSum += (await value.data())[0] * part.length;
          correct += (await hits!.data())[0];
          tf.dispose([value, hits!, y, ...feeds.values()]);
        }
        (optimizer as unknown as { applyGradients(g: Record<string, tf.Tensor>): void }).applyGradients(accumulated);
        tf.dispose(Object.values(accumulated));
        ctx.replicas?.publish();
        stepSeconds += (performance.now() - t0) / 1000;
        const seen = Math.min((b + 1) * ctx.batchSize, order.length);
        ctx.onProgress?.({ phase: 'train', stage: stage.label, epoch: epoch + 1, epochs: stage.maxEpochs, done: b + 1, total: batches, imagesPerSecond: seen / stepSeconds, loss: lossSum / seen });
      }
      state.trainSeconds += stepSeconds;
      state.trainImages += order.length;
      const record: EpochRecord = {
        stage: stage.label,
        phase: stage.phase,
        fold: stage.fold,
        epoch: epoch + 1,
        lr: stage.lr,
        loss: lossSum / order.length,
        accuracy: correct / order.length,
        seconds: 0,
        imagesPerSecond: order.length / stepSeconds,
      };
      let stop = false;
      if (stage.val.length) {
        ctx.onProgress?.({ phase: 'validate', stage: stage.label, epoch: epoch + 1, epochs: stage.maxEpochs, done: 0, total: stage.val.length, imagesPerSecond: 0 });
        const v = await evaluate(ctx, val, stage.val, evalBatch);
        record.valLoss = v.loss;
        record.valAccuracy = v.accuracy;
        if (state.bestValLoss === null || v.loss < state.bestValLoss) {
          state.bestValLoss = v.loss;
          state.bestValAccuracy = v.accuracy;
          state.bestEpoch = epoch + 1;
          state.wait = 0;
          best = await snapshotWeights(ctx.mutable);
          state.hasBest = true;
        } else if (++state.wait >= ctx.patience) {
          stop = true;
        }
      }
      record.seconds = (performance.now() - started) / 1000;
      state.history.push(record);
      state.epochsDone = epoch + 1;
      ctx.onEpoch?.(record);
      const finished = stop || epoch + 1 === stage.maxEpochs;
      if (finished) finishStage(ctx, stage, state, best, stages);
      await ctx.checkpoint(state, finished ? undefined : optimizer, finished ? undefined : best);
      if (finished) break;
    }
    optimizer.dispose();
  }
}

function finishStage(ctx: TrainerContext, stage: Stage, state: LoopState, best: WeightSnapshot | undefined, stages: Stage[]): void {
  if (best) restoreWeights(ctx.mutable, best);
  const bestEpoch = stage.val.length ? state.bestEpoch : stage.maxEpochs;
  state.currentFoldBest[stage.phase] = bestEpoch;
  const next = stages[state.stage + 1];
  if (stage.fold !== undefined && (!next || next.fold !== stage.fold)) {
    state.folds.push({ fold: stage.fold, accuracy: state.bestValAccuracy ?? NaN, loss: state.bestValLoss ?? NaN, bestEpochs: { ...state.currentFoldBest } });
  }
  if (!next || next.fold !== stage.fold || next.refit !== stage.refit) state.currentFoldBest = { head: 0, finetune: 0, scratch: 0 };
  state.stage += 1;
  state.epochsDone = 0;
  // The metrics of the final stage stay readable in the history; reset tracking for the next.
  if (next) {
    state.bestValLoss = null;
    state.bestValAccuracy = null;
    state.bestEpoch = 0;
  }
  state.wait = 0;
  state.hasBest = false;
}

/** Puts a checkpoint's `w/<layer>/<i>` arrays back into the layers (the inverse of `snapshotWeights` as checkpoints store it). */
export function restoreWeightsFromArrays(layers: readonly tf.layers.Layer[], arrays: Map<string, NamedArray>): void {
  for (const layer of layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((_, i) => arrays.get(`w/${layer.name}/${i}`));
    if (values.some((v) => !v)) {
      throw new FtkError(`The checkpoint has no weights for layer ${layer.name}.`, {
        code: 'CHECKPOINT_CORRUPT',
        suggestion: 'It was written by another model or ftk version: run again with --overwrite to start over.',
      });
    }
    const tensors = values.map((v) => tf.tensor(v!.values, v!.shape));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}
