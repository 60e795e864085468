/**
 * Where training batches come from.
 *
 * - `PixelCache`: decoded, resized images (float32 HWC 0..255), kept in memory up to a budget and
 *   decoded again beyond it.
 * - `ViewBank`: the frozen prefix's output for each (image, view), computed once by
 *   `fillBanks` and stored in the feature cache under fingerprints of ftk's own namespace
 *   ('ftk-finetune/1' + backbone fingerprint + outputs + view), so only the trainable suffix runs
 *   per step, and a second run or a resumed one does no prefix work at all.
 *   A view is 'none' (the image as is: validation) or a number v: the augmentation drawn from
 *   an Rng seeded by (seed, image sha256, v), so it is the same in every run.
 * - `BankSource` / `PixelSource`: turn a list of sample indices into feeds for the graph, either
 *   from a bank (one view per image drawn from the epoch's Rng) or from pixels (augmented on
 *   the fly, then, when layers are frozen, run through them in inference mode).
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { applyTransform, IDENTITY_TRANSFORM, sampleTransform, type ResolvedAugment } from '../data/augment.js';
import { decodeImage, ImageDecodeError } from '../data/decode.js';
import { Rng } from '../data/random.js';
import { DatasetError } from '../errors.js';
import type { FeatureCache } from '../extract/cache.js';
import { preprocessPixels } from '../models/imagenet_utils.js';
import type { PreprocessMode } from '../models/types.js';
import { INFERENCE, type LayerGraph } from './graph.js';

export type ViewId = number | 'none';

/** An image of the training set, with its content hash (the cache key). */
export interface PreparedImage {
  path: string;
  file: string;
  hash: string;
  label: number;
}

export interface ImageSettings {
  inputSize: number;
  crop: 'squash' | 'center';
  preprocessing: PreprocessMode;
  maxInputPixels?: number;
}

/** Seed of view `view` of the image with content hash `hash`. */
export function viewSeed(seed: number, hash: string, view: number): number {
  return createHash('sha256').update(`${seed}/${hash}/${view}`).digest().readUInt32LE(0);
}

/** Decoded images, kept in memory up to `budgetBytes`. */
export class PixelCache {
  private readonly kept = new Map<number, Float32Array>();
  private bytes = 0;

  constructor(
    private readonly images: readonly PreparedImage[],
    private readonly settings: ImageSettings,
    private readonly budgetBytes: number,
  ) {}

  /** Pixels of image `i`, or the decode failure. */
  async get(i: number): Promise<Float32Array> {
    const hit = this.kept.get(i);
    if (hit) return hit;
    const img = this.images[i];
    const { pixels } = await decodeImage(img.path, { size: this.settings.inputSize, crop: this.settings.crop, maxInputPixels: this.settings.maxInputPixels }, img.file);
    if (this.bytes + pixels.byteLength <= this.budgetBytes) {
      this.kept.set(i, pixels);
      this.bytes += pixels.byteLength;
    }
    return pixels;
  }

  /** Decodes many at once (sharp runs them on its thread pool); failures become ImageDecodeErrors in place. */
  getMany(indices: readonly number[]): Promise<(Float32Array | ImageDecodeError)[]> {
    return Promise.all(
      indices.map((i) =>
        this.get(i).catch((err) => (err instanceof ImageDecodeError ? err : new ImageDecodeError(this.images[i].file, `decode failed: ${(err as Error).message}`))),
      ),
    );
  }

  /** Keeps only these images in memory. */
  retainOnly(indices: Iterable<number>): void {
    const keep = new Set(indices);
    for (const [i, p] of this.kept) {
      if (!keep.has(i)) {
        this.kept.delete(i);
        this.bytes -= p.byteLength;
      }
    }
  }
}

/** Augmented (or not) and preprocessed copy of an image's pixels. */
export function viewPixels(pixels: Float32Array, size: number, view: ViewId, image: PreparedImage, augment: ResolvedAugment, seed: number, preprocessing: PreprocessMode, out?: Float32Array): Float32Array {
  const t = view === 'none' ? IDENTITY_TRANSFORM : sampleTransform(new Rng(viewSeed(seed, image.hash, view)), augment, size, size);
  const result = applyTransform(pixels, size, size, 3, t, augment.fillMode, out);
  return preprocessPixels(result, preprocessing);
}

/** Outputs of some graph tensors for each (image, view), flattened and concatenated per row. */
export class ViewBank {
  readonly rowLength: number;
  private readonly rows = new Map<string, Float32Array>();

  constructor(
    /** 'pooled' | 'boundary': part of the cache fingerprint. */
    readonly name: string,
    readonly outputs: readonly tf.SymbolicTensor[],
    /** Fingerprint of what produces the outputs (backbone fingerprint). */
    private readonly producer: string,
    private readonly augmentKey: string,
    private readonly seed: number,
  ) {
    this.rowLength = outputs.reduce((n, o) => n + o.shape.slice(1).reduce((a: number, b) => a * (b as number), 1), 0);
    // Layer names (Keras names, stable across builds), not tfjs' tensor names (numbered per process).
    this.outputNames = outputs.map((o) => `${o.sourceLayer.name}:${o.tensorIndex}`);
  }

  /** The outputs, as `<layer name>:<output index>`. */
  readonly outputNames: string[];

  /** Cache fingerprint of one view of this bank. */
  fingerprint(view: ViewId): string {
    const key = JSON.stringify(['ftk-finetune/1', this.producer, this.name, this.outputNames, view === 'none' ? 'none' : [this.augmentKey, this.seed, view]]);
    return createHash('sha256').update(key).digest('hex').slice(0, 32);
  }

  has(image: number, view: ViewId): boolean {
    return this.rows.has(`${image}|${view}`);
  }

  get(image: number, view: ViewId): Float32Array {
    const row = this.rows.get(`${image}|${view}`);
    if (!row) throw new Error(`ViewBank ${this.name}: no row for image ${image} view ${view}`);
    return row;
  }

  set(image: number, view: ViewId, row: Float32Array): void {
    this.rows.set(`${image}|${view}`, row);
  }

  /** Drops the rows of views not in `keep` (a new bank generation). */
  retainViews(keep: readonly ViewId[]): void {
    const allowed = new Set(keep.map(String));
    for (const key of this.rows.keys()) if (!allowed.has(key.slice(key.indexOf('|') + 1))) this.rows.delete(key);
  }

  get size(): number {
    return this.rows.size;
  }

  /** One tensor per output, [rows.length, ...shape], from the given rows. */
  toTensors(rows: readonly Float32Array[]): tf.Tensor[] {
    let offset = 0;
    return this.outputs.map((o) => {
      const shape = o.shape.slice(1) as number[];
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(rows.length * size);
      rows.forEach((row, k) => data.set(row.subarray(offset, offset + size), k * size));
      offset += size;
      return tf.tensor(data, [rows.length, ...shape]);
    });
  }
}

/**
 * A faster runtime for the first output of the frozen prefix (ONNX Runtime on all cores): runs
 * preprocessed NHWC batches to `output`'s values; the other bank outputs are computed from it by
 * TF.js.
 */
export interface PrefixEngine {
  readonly name: string;
  readonly output: tf.SymbolicTensor;
  run(batch: Float32Array, count: number, size: number): Promise<Float32Array>;
  dispose(): void;
}

export interface FillContext {
  graph: LayerGraph;
  input: tf.SymbolicTensor;
  images: readonly PreparedImage[];
  pixels: PixelCache;
  settings: ImageSettings;
  augment: ResolvedAugment;
  seed: number;
  cache?: FeatureCache;
  /** Images per prefix inference batch. */
  batchSize: number;
  /** Opened when there is work: the runtime for the prefix (undefined: TF.js runs it all). */
  engine?: () => Promise<PrefixEngine | undefined>;
  onProgress?: (done: number, total: number, imagesPerSecond: number) => void;
}

/**
 * Makes sure every bank has a row for each (image, view) in `work`: from memory, else from the
 * feature cache, else computed (one decode per image, one prefix pass per missing view, every
 * bank's outputs from the same pass) and stored in the cache batch by batch.
 * Returns how many rows were computed.
 */
export async function fillBanks(ctx: FillContext, banks: readonly ViewBank[], work: readonly { image: number; views: readonly ViewId[] }[]): Promise<number> {
  const todo: { image: number; view: ViewId }[] = [];
  for (const { image, views } of work) {
    for (const view of views) {
      let missing = false;
      for (const bank of banks) {
        if (bank.has(image, view)) continue;
        const hit = ctx.cache?.get(bank.fingerprint(view), ctx.images[image].hash);
        if (hit && hit.length === bank.rowLength) bank.set(image, view, hit);
        else missing = true;
      }
      if (missing) todo.push({ image, view });
    }
  }
  if (todo.length === 0) return 0;
  if (ctx.cache) for (const bank of banks) for (const view of new Set(todo.map((t) => t.view))) ctx.cache.registerModel(bank.fingerprint(view), { kind: 'ftk-finetune-prefix', bank: bank.name, outputs: bank.outputNames, view });
  const size = ctx.settings.inputSize;
  const perImage = size * size * 3;
  const outputs = banks.flatMap((b) => b.outputs);
  const started = performance.now();
  let done = 0;
  // Batches of (image, view) in image order: an image's views go through together.
  const batches: { image: number; view: ViewId }[][] = [];
  for (let i = 0; i < todo.length; i += ctx.batchSize) batches.push(todo.slice(i, i + ctx.batchSize));
  const decode = (batch: { image: number }[]) => ctx.pixels.getMany([...new Set(batch.map((t) => t.image))]);
  let pending = batches.length ? decode(batches[0]) : undefined;
  const buffer = new Float32Array(ctx.batchSize * perImage);
  const engine = ctx.engine ? await ctx.engine() : undefined;
  const fromEngine = engine ? outputs.filter((o) => o.id === engine.output.id) : [];
  const fromGraph = outputs.filter((o) => !fromEngine.includes(o));
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b];
    const decoded = await pending!;
    pending = b + 1 < batches.length ? decode(batches[b + 1]) : undefined;
    const uniq = [...new Set(batch.map((t) => t.image))];
    const pixelsOf = new Map(uniq.map((img, k) => [img, decoded[k]]));
    batch.forEach((t, k) => {
      const px = pixelsOf.get(t.image)!;
      if (px instanceof Error) throw new DatasetError(`${ctx.images[t.image].file} could not be decoded while computing the frozen layers' output: ${px.reason}.`, { code: 'IMAGE_DECODE', cause: px });
      viewPixels(px, size, t.view, ctx.images[t.image], ctx.augment, ctx.seed, ctx.settings.preprocessing, buffer.subarray(k * perImage, (k + 1) * perImage));
    });
    let engineOut: Float32Array | undefined;
    if (engine) engineOut = await engine.run(buffer, batch.length, size);
    const values = fromGraph.length
      ? tf.tidy(() => {
          const feed = engine
            ? tf.tensor(engineOut!, [batch.length, ...(engine.output.shape.slice(1) as number[])])
            : tf.tensor4d(buffer.subarray(0, batch.length * perImage), [batch.length, size, size, 3]);
          return ctx.graph.run(new Map([[engine ? engine.output.id : ctx.input.id, feed]]), fromGraph, INFERENCE);
        })
      : [];
    const graphData = await Promise.all(values.map(async (v) => (await v.data()) as Float32Array));
    tf.dispose(values);
    const data = outputs.map((o) => (fromEngine.includes(o) ? engineOut! : graphData[fromGraph.indexOf(o)]));
    let o = 0;
    for (const bank of banks) {
      const parts = data.slice(o, o + bank.outputs.length);
      o += bank.outputs.length;
      const sizes = bank.outputs.map((t) => t.shape.slice(1).reduce((a: number, c) => a * (c as number), 1));
      const fresh = batch.map((t, k) => {
        const row = new Float32Array(bank.rowLength);
        let at = 0;
        parts.forEach((p, j) => {
          row.set(p.subarray(k * sizes[j], (k + 1) * sizes[j]), at);
          at += sizes[j];
        });
        bank.set(t.image, t.view, row);
        return { view: t.view, imageHash: ctx.images[t.image].hash, values: row };
      });
      if (ctx.cache) {
        for (const view of new Set(fresh.map((f) => f.view))) ctx.cache.putMany(bank.fingerprint(view), fresh.filter((f) => f.view === view));
      }
    }
    done += batch.length;
    ctx.onProgress?.(done, todo.length, done / ((performance.now() - started) / 1000));
  }
  engine?.dispose();
  return todo.length;
}

/** Feeds for a list of samples: graph tensor id -> batch tensor. */
export interface FeedSource {
  /** The graph tensors the feeds are for (the run starts there). */
  readonly start: readonly tf.SymbolicTensor[];
  /** With `rng`: a training batch (augmented views drawn from it); without: validation (no augmentation). */
  feeds(indices: readonly number[], rng?: Rng): Promise<Map<number, tf.Tensor>>;
}

/** Feeds from a bank: a random one of `views()` per image for training, 'none' for validation. */
export class BankSource implements FeedSource {
  readonly start: readonly tf.SymbolicTensor[];

  constructor(
    private readonly bank: ViewBank,
    private readonly views: () => readonly ViewId[],
  ) {
    this.start = bank.outputs;
  }

  async feeds(indices: readonly number[], rng?: Rng): Promise<Map<number, tf.Tensor>> {
    const views = this.views();
    const rows = indices.map((i) => this.bank.get(i, rng ? views[views.length === 1 ? 0 : rng.int(views.length)] : 'none'));
    const tensors = this.bank.toTensors(rows);
    return new Map(this.start.map((s, k) => [s.id, tensors[k]]));
  }
}

/**
 * Feeds from pixels: each training image gets a fresh augmentation drawn from the batch's Rng;
 * when `start` is not the model input, the frozen layers between run in inference mode.
 */
export class PixelSource implements FeedSource {
  constructor(
    private readonly ctx: { graph: LayerGraph; input: tf.SymbolicTensor; images: readonly PreparedImage[]; pixels: PixelCache; settings: ImageSettings; augment: ResolvedAugment },
    readonly start: readonly tf.SymbolicTensor[],
  ) {}

  async feeds(indices: readonly number[], rng?: Rng): Promise<Map<number, tf.Tensor>> {
    const { settings, augment } = this.ctx;
    const size = settings.inputSize;
    const perImage = size * size * 3;
    const decoded = await this.ctx.pixels.getMany(indices);
    const buffer = new Float32Array(indices.length * perImage);
    decoded.forEach((px, k) => {
      if (px instanceof Error) throw new DatasetError(`${this.ctx.images[indices[k]].file} could not be decoded: ${px.reason}.`, { code: 'IMAGE_DECODE', cause: px });
      const t = rng ? sampleTransform(rng, augment, size, size) : IDENTITY_TRANSFORM;
      const out = buffer.subarray(k * perImage, (k + 1) * perImage);
      applyTransform(px, size, size, 3, t, augment.fillMode, out);
      preprocessPixels(out, settings.preprocessing);
    });
    const x = tf.tensor4d(buffer, [indices.length, size, size, 3]);
    if (this.start.length === 1 && this.start[0] === this.ctx.input) return new Map([[this.ctx.input.id, x]]);
    const values = tf.tidy(() => this.ctx.graph.run(new Map([[this.ctx.input.id, x]]), this.start, INFERENCE));
    x.dispose();
    return new Map(this.start.map((s, k) => [s.id, values[k]]));
  }
}

