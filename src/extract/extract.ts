/**
 * Bottleneck-feature extraction: dataset [-> shard] -> content hashes -> cache lookup -> decode
 * (worker threads, ahead of inference) -> backbone (ONNX Runtime, or TF.js) -> cache -> [N, D]
 * matrix in dataset order.
 *
 * Pipeline: decode workers (sharp + ftk's resize, `decodeWorkers` threads) keep up to two
 * batches of images ready while the engine runs; on ONNX Runtime the engine is two sessions on
 * their own threads (onnx_session_pool.ts) running two batches side by side while the main thread
 * fills the next, so the cores one session leaves idle between its operators go to the other, or
 * to decoding. Memory is bounded by that window of decoded images and the batches in flight,
 * whatever the dataset size; the only O(N) buffer is the [N, D] result itself (written in place,
 * no per-row arrays). Each computed batch is committed to the cache as it returns, so an
 * interrupted run resumes where it stopped.
 *
 * Runtime: ONNX Runtime when the model exports (cached graph, see runtime_choice.ts), else TF.js;
 * the choice is reported once through `onNotice`.
 *
 * Test-time augmentation (`tta: 'flip'`, src/models/tta.ts): each decoded image goes into two
 * adjacent rows of the batch, as decoded and mirrored along its width, and the two output rows are
 * averaged before the cache. Done here, on the main thread, rather than in the decode workers or
 * the graph: one mirrored copy of a decoded image (0.3 ms at 224 px, measured on a loaded 2-core
 * machine, against about 8 ms of CPU per cats-dogs photo for decode + MobileNet 0.25; the main
 * thread mostly waits while ONNX Runtime's sessions run) keeps the decode ring, the workers and
 * every engine (ONNX Runtime, TF.js, `onnx:` and `tfjs:` models) unchanged, and both views share
 * one decode. Mirroring the features instead is not an option: a convolution of the mirror is
 * not the mirror of the convolution, so the network must see both views.
 */
import os from 'node:os';
import path from 'node:path';
import { findDataset, type Dataset, type ImageEntry } from '../data/dataset.js';
import { DecodePool } from '../data/decode_pool.js';
import { findDuplicates, sha256Files } from '../data/hash.js';
import { OptionsError } from '../errors.js';
import { FEATURES_FORMAT_VERSION, type SkippedFile } from '../formats/features.js';
import { resolveBackbone, type BackboneOptions } from '../models/backbone.js';
import { averageViews, mirrorInto, ttaViews } from '../models/tta.js';
import { selectBackend, type BackendName } from '../runtime/backend.js';
import type { FeatureEngine } from '../runtime/engine.js';
import { isPipelinedEngine } from '../runtime/onnx_session_pool.js';
import { chooseDevice, type DeviceChoice, type DeviceName } from '../runtime/device.js';
import type { DeviceRecord } from '../formats/device.js';
import { cacheDbPath } from '../runtime/paths.js';
import { FeatureCache } from './cache.js';
import { SharedWork } from './claims.js';
import { openEngine, RUNTIME_NAMES, type RuntimeName } from './runtime_choice.js';
import { datasetDigest, parseShard, shardPositions, type ShardedFeaturesMeta, type ShardSpec } from './shard.js';

export interface ExtractOptions extends BackboneOptions {
  /**
   * Images per inference batch (with `tta: 'flip'` the engine runs twice as many rows: each image
   * and its mirror in the same batch). Default 32 on the CPU for both runtimes (measured on 2 cores: ONNX
   * Runtime gives the same images/s, within 5 %, at 8, 16 and 32 on MobileNetV2; larger batches
   * only hold more decoded images in memory); 64 on a GPU (one session: a larger batch keeps the
   * device busy while the next batch is decoded; `bench/gpu/run.ts` measures 32-256).
   */
  batchSize?: number;
  /**
   * Where the model runs: 'auto' (CUDA, else a hardware WebGPU adapter, else the CPU; said once
   * through `onNotice`), 'cpu', 'gpu' (CUDA or WebGPU, an error if none), 'webgpu', 'cuda'
   * (src/runtime/device.ts), or a `DeviceChoice` already made. Default 'auto'.
   */
  device?: DeviceName | DeviceChoice;
  /** tfjs backend (TF.js runtime, and building a model to export). Default 'auto'. */
  backend?: BackendName | 'auto';
  /** 'auto': ONNX Runtime when the model exports and onnxruntime-node loads, else TF.js; or force one. Default 'auto'. */
  runtime?: RuntimeName | 'auto';
  /** Inference threads (ONNX Runtime: split over its sessions, see onnx_session_pool.ts). Default `os.availableParallelism()`. */
  threads?: number;
  /** Decode worker threads; 0 decodes on the main thread. Default: `threads`. */
  decodeWorkers?: number;
  /** Only this part of the dataset: 'i/n' or `{ index, count }`, 1 <= i <= n (see shard.ts). Default: all. */
  shard?: string | ShardSpec;
  /** Use the feature cache (true: `<FTK_HOME>/cache/features.sqlite`; a string: that file; false: none). Default true. */
  cache?: boolean | string;
  /** Largest image (in pixels) decoded; larger ones are skipped as decompression bombs. Default: decodeImage's (89,478,485). */
  maxInputPixels?: number;
  /** Files hashed at once. Default 16. */
  hashConcurrency?: number;
  onProgress?: (progress: ExtractProgress) => void;
  /** Called once per skipped file, as soon as it is found (the dataset listing's ignored files first). */
  onSkip?: (skipped: SkippedFile) => void;
  /** One-off notices (runtime chosen, duplicates found). */
  onNotice?: (message: string) => void;
}

export interface ExtractProgress {
  phase: 'hash' | 'extract';
  /** Images handled in this phase so far. */
  done: number;
  total: number;
  /** Images served from the cache. */
  cached: number;
  /** Images run through the model in this run. */
  computed: number;
  skipped: number;
  /** Throughput of the phase, images per second. */
  imagesPerSecond: number;
  /** Seconds left in the phase, estimated. */
  etaSeconds: number;
}

export interface ExtractStats {
  images: number;
  cached: number;
  computed: number;
  skipped: number;
  seconds: number;
  /**
   * Pipeline throughput over the computed images (decode + inference), images/s: from the first
   * image decoded to the last feature out, after the fixed start-up (model loading, decode-worker
   * warm-up), which `seconds` includes.
   */
  imagesPerSecond: number;
  /** tfjs backend selected (used by the TF.js runtime and to build models for export). */
  backend: string;
  /** 'onnx', 'tfjs', or 'none' when every image came from the cache. */
  runtime: RuntimeName | 'none';
  engine: string;
  batchSize: number;
  threads: number;
  decodeWorkers: number;
  /** The shard this run covered, if any. */
  shard?: ShardSpec;
  /** The device (with the ONNX Runtime providers read back when ONNX Runtime ran). */
  device: DeviceRecord;
}

export interface ExtractResult {
  /** Row-major [N, D] float32. */
  features: Float32Array;
  /** With a shard, also the `shard` record (see shard.ts). */
  meta: ShardedFeaturesMeta;
  stats: ExtractStats;
}

/** Resolved pipeline options: the one place their defaults live. */
function resolvePipelineOptions(options: ExtractOptions, provider: DeviceChoice['provider']) {
  const batchSize = options.batchSize ?? (provider === 'cpu' ? 32 : 64);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new OptionsError(`batchSize must be a positive integer. Received ${batchSize}.`);
  }
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new OptionsError(`threads must be a positive integer. Received ${threads}.`, { code: 'OPTIONS_THREADS' });
  }
  const decodeWorkers = options.decodeWorkers ?? threads;
  if (!Number.isInteger(decodeWorkers) || decodeWorkers < 0) {
    throw new OptionsError(`decodeWorkers must be an integer >= 0. Received ${decodeWorkers}.`, { code: 'OPTIONS_WORKERS' });
  }
  const runtime = options.runtime ?? 'auto';
  if (runtime !== 'auto' && !RUNTIME_NAMES.includes(runtime)) {
    throw new OptionsError(`runtime must be one of [auto, ${RUNTIME_NAMES.join(', ')}]. Received "${runtime as string}".`, { code: 'RUNTIME_UNKNOWN' });
  }
  const shard = options.shard === undefined ? undefined : parseShard(options.shard);
  return { batchSize, threads, decodeWorkers, runtime, shard };
}

/**
 * Bottleneck features of every image of a dataset (or of one shard of it), from the cache where
 * possible. Bad files are skipped and listed, never fatal.
 *
 * Cost: one sha256 per file; then per image not in the cache one decode (worker threads) and one
 * forward pass. A fully cached run never builds or loads the model.
 *
 * @example
 * const { features, meta, stats } = await extractFeatures('photos/', { model: 'mobilenet', alpha: 0.25, weights: 'w.h5' });
 */
export async function extractFeatures(source: string | Dataset, options: ExtractOptions): Promise<ExtractResult> {
  const started = performance.now();
  const device = await chooseDevice(options.device, { onNotice: options.onNotice });
  const { batchSize, threads, decodeWorkers, runtime, shard } = resolvePipelineOptions(options, device.provider);
  const dataset = typeof source === 'string' ? await findDataset(source) : source;
  // The tfjs backend is needed to resolve the default layer; its choice is announced only if TF.js runs the model.
  const backend = await selectBackend({ backend: options.backend ?? 'auto' });
  const resolved = await resolveBackbone(options);
  const { info } = resolved;
  let engine: FeatureEngine | undefined;
  let engineRuntime: RuntimeName | undefined;
  const getEngine = async (): Promise<FeatureEngine> => {
    if (!engine) {
      const opened = await openEngine(resolved, { runtime, threads, backend: options.backend, device, weightsDir: options.weightsDir, onNotice: options.onNotice });
      engine = opened.engine;
      engineRuntime = opened.runtime;
    }
    return engine;
  };
  const cacheFile = options.cache === false ? undefined : typeof options.cache === 'string' ? options.cache : cacheDbPath();
  const cache = cacheFile ? new FeatureCache(cacheFile) : undefined;
  let pool: DecodePool | undefined;

  const positions = shard ? shardPositions(dataset.entries.length, shard) : undefined;
  const entries: ImageEntry[] = positions ? positions.map((p) => dataset.entries[p]) : dataset.entries;
  const n = entries.length;
  const skipped: SkippedFile[] = [];
  const skipIndex: number[] = [];
  const skip = (i: number, reason: string) => {
    const s = { file: entries[i].file, reason };
    skipped.push(s);
    skipIndex.push(i);
    options.onSkip?.(s);
  };
  const skippedCount = () => skipped.length + dataset.ignored.length;
  // Files the dataset listing set aside (hidden, other extensions, broken links) are skipped too.
  for (const s of dataset.ignored) options.onSkip?.(s);
  const report = (p: Omit<ExtractProgress, 'imagesPerSecond' | 'etaSeconds'>, since: number) => {
    if (!options.onProgress) return;
    const seconds = (performance.now() - since) / 1000;
    const rate = seconds > 0 ? p.done / seconds : 0;
    options.onProgress({ ...p, imagesPerSecond: rate, etaSeconds: rate > 0 ? (p.total - p.done) / rate : Infinity });
  };

  try {
    // Decode workers start now, while files are hashed and the engine loads (a dataset that turns
    // out to be cached closes them unused).
    if (n >= 2 * batchSize && decodeWorkers > 0) {
      pool = new DecodePool({ workers: decodeWorkers, size: info.inputSize, crop: info.crop, preprocessing: info.preprocessing, maxInputPixels: options.maxInputPixels });
    }
    cache?.registerModel(info.fingerprint, info);
    let dim = cache?.dimension(info.fingerprint) ?? (await getEngine()).outputDim;

    // 1. Content hashes (bounded concurrency).
    const hashStart = performance.now();
    const hashResults = await sha256Files(
      entries.map((e) => e.path),
      {
        concurrency: options.hashConcurrency ?? 16,
        onHashed: (hashed) => {
          if (hashed % 64 === 0 || hashed === n) report({ phase: 'hash', done: hashed, total: n, cached: 0, computed: 0, skipped: skippedCount() }, hashStart);
        },
      },
    );
    const hashes: (string | undefined)[] = hashResults.map((h, i) => {
      if (typeof h === 'string') return h;
      skip(i, h.error);
      return undefined;
    });

    // 2. Cache lookup, straight into the result matrix (grown if the dimension is learnt later).
    let features = new Float32Array(n * dim);
    const have = new Uint8Array(n);
    const misses: number[] = [];
    let cachedCount = 0;
    for (let i = 0; i < n; i++) {
      const h = hashes[i];
      if (h === undefined) continue;
      const hit = cache?.get(info.fingerprint, h);
      if (hit && hit.length === dim) {
        features.set(hit, i * dim);
        have[i] = 1;
        cachedCount++;
      } else {
        misses.push(i);
      }
    }

    // 3. Decode on worker threads ahead of inference; commit each batch to the cache. The rate
    // reported is the pipeline's: its clock starts once the decode workers have warmed up, as it
    // does after the model has loaded (both are fixed start-up costs, overlapped with hashing).
    if (misses.length && pool) await pool.ready();
    const extractStart = performance.now();
    let computed = 0;
    let done = 0;
    if (misses.length) {
      const eng = await getEngine();
      if (eng.outputDim !== dim) {
        // The cache knew no row of this model, or another dimension: the engine decides.
        dim = eng.outputDim;
        features = new Float32Array(n * dim);
        have.fill(0);
        cachedCount = 0;
        misses.length = 0;
        for (let i = 0; i < n; i++) if (hashes[i] !== undefined) misses.push(i);
      }
      const { inputSize, crop, preprocessing } = info;
      const pixelsPerImage = inputSize * inputSize * 3;
      // Rows per image: 2 with flip TTA (image k in rows 2k, 2k + 1), else 1.
      const views = ttaViews(info.tta);
      const slotFloats = views * pixelsPerImage;
      let batchBuffer = new Float32Array(batchSize * slotFloats);
      let batchIndex = new Int32Array(batchSize);
      // A pipelined engine (ONNX Runtime sessions on their own threads) runs up to `parallel`
      // batches while the next one fills; their buffers are lent to it and come back.
      const pipelined = isPipelinedEngine(eng) ? eng : undefined;
      const spareBuffers: ArrayBuffer[] = [];
      const running: Promise<void>[] = [];
      let engineFailure: unknown;
      // The last images go in small batches, so the sessions finish together instead of one
      // running a whole batch alone at the end (seconds of an idle core for a large model): from
      // the point where what is left is less than a batch per session plus the one queued.
      const tailFrom = pipelined && pipelined.parallel > 1 ? (pipelined.parallel + 1) * batchSize : 0;
      const tailBatch = Math.max(1, Math.ceil(batchSize / 8));
      // Under two batches: starting threads costs more than it saves; decode on this thread.
      if (misses.length < 2 * batchSize || !pool) {
        await pool?.close();
        pool = new DecodePool({ workers: misses.length < 2 * batchSize ? 0 : decodeWorkers, size: inputSize, crop, preprocessing, maxInputPixels: options.maxInputPixels });
      }
      // Images are claimed in the cache before they are decoded, so processes sharing the cache share the work (claims.ts).
      const window = 2 * batchSize;
      const work = new SharedWork(cache, info.fingerprint, hashes, misses, batchSize, window + batchSize);
      let k = 0;
      const commit = (rows: Float32Array, index: Int32Array, count: number) => {
        const out = views === 2 ? averageViews(rows, count, dim) : rows;
        const fresh = [];
        for (let j = 0; j < count; j++) {
          const i = index[j];
          const values = out.subarray(j * dim, (j + 1) * dim);
          features.set(values, i * dim);
          have[i] = 1;
          fresh.push({ imageHash: hashes[i]!, values });
        }
        cache?.putMany(info.fingerprint, fresh);
        work.release(Array.from(index.subarray(0, count)));
        computed += count;
      };
      /** Runs the batch being filled; `drain`: also waits for every batch still running (committed when it returns). */
      const flush = async (drain = true) => {
        if (k > 0) {
          const count = k;
          k = 0;
          if (pipelined) {
            const index = batchIndex;
            running.push(
              pipelined.submit(batchBuffer.buffer as ArrayBuffer, count * views, inputSize, inputSize).then(
                ({ features: out, buffer }) => {
                  spareBuffers.push(buffer);
                  commit(out, index, count);
                },
                (err: unknown) => {
                  engineFailure ??= err;
                },
              ),
            );
            const spare = spareBuffers.pop();
            batchBuffer = spare ? new Float32Array(spare) : new Float32Array(batchSize * slotFloats);
            batchIndex = new Int32Array(batchSize);
          } else {
            commit(await eng.run(batchBuffer, count * views, inputSize, inputSize), batchIndex, count);
          }
        }
        while (running.length > (drain ? 0 : (pipelined?.parallel ?? 0))) await running.shift();
        if (engineFailure) throw engineFailure;
      };
      try {
        while (work.remaining > 0) {
          const { cached, run } = work.next();
          for (const i of cached) {
            const hit = cache?.get(info.fingerprint, hashes[i]!);
            if (hit && hit.length === dim) {
              features.set(hit, i * dim);
              have[i] = 1;
              cachedCount++;
              done++;
            } else {
              work.reopen(i);
            }
          }
          if (!run) {
            // What is left is being computed by another process (or is a copy of an image of our
            // batch): commit ours, wait for theirs.
            const committed = k > 0;
            await flush();
            if (cached.length === 0 && !committed) await new Promise((resolve) => setTimeout(resolve, 100));
            continue;
          }
          const tasks = run.order.map((i) => ({ file: entries[i].path, name: entries[i].file }));
          let t = 0;
          for await (const decoded of pool.map(tasks, window)) {
            const i = run.order[t++];
            work.take(i);
            done++;
            if (decoded.pixels) {
              batchBuffer.set(decoded.pixels, k * slotFloats);
              if (views === 2) mirrorInto(decoded.pixels, inputSize, batchBuffer, k * slotFloats + pixelsPerImage);
              batchIndex[k++] = i;
              if (k === batchSize || (k >= tailBatch && work.remaining < tailFrom)) {
                await flush(false);
                report({ phase: 'extract', done, total: misses.length, cached: cachedCount, computed, skipped: skippedCount() }, extractStart);
              }
            } else {
              skip(i, decoded.reason!);
              work.failed(i);
            }
            if (t % batchSize === 0) work.extend(t);
            if (t >= run.end) break;
          }
        }
        await flush();
      } finally {
        await Promise.all(running.splice(0)); // settled (never rejects): nothing commits after the cache closes
        work.releaseAll();
      }
      report({ phase: 'extract', done, total: misses.length, cached: cachedCount, computed, skipped: skippedCount() }, extractStart);
    }
    const extractSeconds = (performance.now() - extractStart) / 1000;

    // 4. Assemble in dataset order: compact the rows in place over the skipped ones.
    const kept: number[] = [];
    for (let i = 0; i < n; i++) if (have[i]) kept.push(i);
    kept.forEach((i, r) => {
      if (i !== r) features.copyWithin(r * dim, i * dim, (i + 1) * dim);
    });
    const result = kept.length === n ? features : features.subarray(0, kept.length * dim);
    const keptEntries = kept.map((i) => entries[i]);
    const keptHashes = kept.map((i) => hashes[i]!);
    const duplicates = findDuplicates(keptEntries.map((e, r) => ({ file: e.file, hash: keptHashes[r] })));
    if (duplicates.length) {
      options.onNotice?.(
        `${duplicates.length} group(s) of identical files found (e.g. ${duplicates[0].join(' = ')}): they leak between folds; remove the copies.`,
      );
    }
    // Skipped files in dataset order (hashing finds them in a timing-dependent order), after the dataset's ignored ones.
    const order = skipIndex.map((i, k) => k).sort((a, b) => skipIndex[a] - skipIndex[b]);
    const meta: ShardedFeaturesMeta = {
      formatVersion: FEATURES_FORMAT_VERSION,
      files: keptEntries.map((e) => e.file),
      labels: keptEntries.map((e) => e.label),
      classes: dataset.classes,
      hashes: keptHashes,
      skipped: [...dataset.ignored, ...order.map((k) => skipped[k])],
      duplicates,
      model: info,
      shape: [kept.length, dim],
      datasetRoot: path.resolve(dataset.root),
      createdAt: new Date().toISOString(),
      device: { ...device.record, ...(engine?.providers ? { onnxProviders: [...engine.providers] } : {}) },
    };
    if (shard && positions) {
      meta.shard = {
        ...shard,
        datasetSize: dataset.entries.length,
        datasetDigest: datasetDigest(dataset.entries),
        positions: kept.map((i) => positions[i]),
        skippedPositions: order.map((k) => positions[skipIndex[k]]),
      };
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      features: result,
      meta,
      stats: {
        images: kept.length,
        cached: cachedCount,
        computed,
        skipped: skippedCount(),
        seconds,
        imagesPerSecond: computed > 0 ? computed / extractSeconds : 0,
        backend: backend.name,
        runtime: engineRuntime ?? 'none',
        engine: engine?.name ?? 'none (all cached)',
        batchSize,
        threads,
        decodeWorkers,
        ...(shard ? { shard } : {}),
        device: meta.device!,
      },
    };
  } finally {
    cache?.close();
    await pool?.close();
    engine?.dispose();
  }
}

/** Default decode concurrency hint for callers that tune sharp's pool. */
export const DEFAULT_THREADS = os.availableParallelism();
