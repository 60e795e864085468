/**
 * Bottleneck-feature extraction: dataset -> content hashes -> cache lookup -> decode (on sharp's
 * thread pool, one batch ahead of inference) -> backbone -> cache -> [N, D] matrix in dataset order.
 *
 * Memory is bounded by two batches of decoded images whatever the dataset size; each computed
 * batch is committed to the cache before the next, so an interrupted run resumes where it stopped.
 */
import os from 'node:os';
import path from 'node:path';
import { findDataset, type Dataset, type ImageEntry } from '../data/dataset.js';
import { decodeImage, ImageDecodeError } from '../data/decode.js';
import { findDuplicates, sha256File } from '../data/hash.js';
import { OptionsError } from '../errors.js';
import { FEATURES_FORMAT_VERSION, type FeaturesMeta, type SkippedFile } from '../formats/features.js';
import { buildBackbone, resolveBackbone, type BackboneOptions } from '../models/backbone.js';
import { preprocessPixels } from '../models/imagenet_utils.js';
import { selectBackend, type BackendName } from '../runtime/backend.js';
import { TfjsEngine, type FeatureEngine } from '../runtime/engine.js';
import { cacheDbPath } from '../runtime/paths.js';
import { FeatureCache } from './cache.js';

export interface ExtractOptions extends BackboneOptions {
  /** Images per inference batch. Default 32. */
  batchSize?: number;
  /** tfjs backend. Default 'auto'. */
  backend?: BackendName | 'auto';
  /** Use the feature cache (true: `<FTK_HOME>/cache/features.sqlite`; a string: that file; false: none). Default true. */
  cache?: boolean | string;
  /** Largest image (in pixels) decoded; larger ones are skipped as decompression bombs. Default: decodeImage's (89,478,485). */
  maxInputPixels?: number;
  /** Files hashed at once. Default 16. */
  hashConcurrency?: number;
  onProgress?: (progress: ExtractProgress) => void;
  /** Called once per skipped file, as soon as it is found. */
  onSkip?: (skipped: SkippedFile) => void;
  /** One-off notices (backend chosen, duplicates found). */
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
  /** Model throughput over the computed images (decode + inference), images/s. */
  imagesPerSecond: number;
  backend: string;
  engine: string;
}

export interface ExtractResult {
  /** Row-major [N, D] float32. */
  features: Float32Array;
  meta: FeaturesMeta;
  stats: ExtractStats;
}

interface Decoded {
  index: number;
  pixels?: Float32Array;
  reason?: string;
}

export async function extractFeatures(source: string | Dataset, options: ExtractOptions): Promise<ExtractResult> {
  const started = performance.now();
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new OptionsError(`batchSize must be a positive integer. Received ${batchSize}.`);
  }
  const dataset = typeof source === 'string' ? await findDataset(source) : source;
  const backend = await selectBackend({ backend: options.backend ?? 'auto', onNotice: options.onNotice });
  const resolved = await resolveBackbone(options);
  const { info } = resolved;
  // The model is built only when some image is not in the cache.
  let engine: FeatureEngine | undefined;
  const getEngine = async (): Promise<FeatureEngine> => {
    if (!engine) engine = new TfjsEngine((await buildBackbone(resolved, { onNotice: options.onNotice })).model);
    return engine;
  };
  const cacheFile = options.cache === false ? undefined : typeof options.cache === 'string' ? options.cache : cacheDbPath();
  const cache = cacheFile ? new FeatureCache(cacheFile) : undefined;
  cache?.registerModel(info.fingerprint, info);
  let dim = cache?.dimension(info.fingerprint) ?? (await getEngine()).outputDim;

  const skipped: SkippedFile[] = [...dataset.ignored];
  const skip = (file: string, reason: string) => {
    const s = { file, reason };
    skipped.push(s);
    options.onSkip?.(s);
  };
  const entries = dataset.entries;
  const n = entries.length;
  const report = (p: Omit<ExtractProgress, 'imagesPerSecond' | 'etaSeconds'>, since: number) => {
    if (!options.onProgress) return;
    const seconds = (performance.now() - since) / 1000;
    const rate = seconds > 0 ? p.done / seconds : 0;
    options.onProgress({ ...p, imagesPerSecond: rate, etaSeconds: rate > 0 ? (p.total - p.done) / rate : Infinity });
  };

  try {
    // 1. Content hashes (bounded concurrency).
    const hashes: (string | undefined)[] = new Array(n);
    const hashStart = performance.now();
    let hashed = 0;
    const concurrency = options.hashConcurrency ?? 16;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, n) }, async () => {
        while (next < n) {
          const i = next++;
          try {
            hashes[i] = await sha256File(entries[i].path);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            skip(entries[i].file, code === 'EACCES' ? 'unreadable file (permission denied)' : `unreadable file (${code ?? (err as Error).message})`);
          }
          hashed++;
          if (hashed % 64 === 0 || hashed === n) report({ phase: 'hash', done: hashed, total: n, cached: 0, computed: 0, skipped: skipped.length }, hashStart);
        }
      }),
    );

    // 2. Cache lookup.
    const rows: (Float32Array | undefined)[] = new Array(n);
    const misses: number[] = [];
    let cachedCount = 0;
    for (let i = 0; i < n; i++) {
      const h = hashes[i];
      if (h === undefined) continue;
      const hit = cache?.get(info.fingerprint, h);
      if (hit && hit.length === dim) {
        rows[i] = hit;
        cachedCount++;
      } else {
        misses.push(i);
      }
    }

    // 3. Decode one batch ahead of inference; commit each batch to the cache.
    const { inputSize, crop, preprocessing } = info;
    const pixelsPerImage = inputSize * inputSize * 3;
    const batchBuffer = new Float32Array(batchSize * pixelsPerImage);
    const decodeBatch = (indices: number[]): Promise<Decoded[]> =>
      Promise.all(
        indices.map(async (index): Promise<Decoded> => {
          try {
            const img = await decodeImage(entries[index].path, { size: inputSize, crop, maxInputPixels: options.maxInputPixels }, entries[index].file);
            return { index, pixels: img.pixels };
          } catch (err) {
            if (err instanceof ImageDecodeError) return { index, reason: err.reason };
            return { index, reason: `decode failed: ${(err as Error).message}` };
          }
        }),
      );
    const batches: number[][] = [];
    for (let i = 0; i < misses.length; i += batchSize) batches.push(misses.slice(i, i + batchSize));
    const extractStart = performance.now();
    let computed = 0;
    let done = 0;
    let pending = batches.length ? decodeBatch(batches[0]) : undefined;
    for (let b = 0; b < batches.length; b++) {
      const decoded = await pending!;
      pending = b + 1 < batches.length ? decodeBatch(batches[b + 1]) : undefined;
      const good = decoded.filter((d) => d.pixels);
      for (const d of decoded) if (!d.pixels) skip(entries[d.index].file, d.reason!);
      if (good.length) {
        good.forEach((d, k) => {
          batchBuffer.set(d.pixels!, k * pixelsPerImage);
        });
        preprocessPixels(batchBuffer.subarray(0, good.length * pixelsPerImage), preprocessing);
        const eng = await getEngine();
        dim = eng.outputDim;
        const out = await eng.run(batchBuffer, good.length, inputSize, inputSize);
        const fresh = good.map((d, k) => {
          const values = out.slice(k * dim, (k + 1) * dim);
          rows[d.index] = values;
          return { imageHash: hashes[d.index]!, values };
        });
        cache?.putMany(info.fingerprint, fresh);
        computed += good.length;
      }
      done += decoded.length;
      report({ phase: 'extract', done, total: misses.length, cached: cachedCount, computed, skipped: skipped.length }, extractStart);
    }
    const extractSeconds = (performance.now() - extractStart) / 1000;

    // 4. Assemble in dataset order.
    const kept = entries.map((_, i) => i).filter((i) => rows[i] !== undefined);
    const features = new Float32Array(kept.length * dim);
    kept.forEach((i, r) => features.set(rows[i]!, r * dim));
    const keptEntries: ImageEntry[] = kept.map((i) => entries[i]);
    const keptHashes = kept.map((i) => hashes[i]!);
    const duplicates = findDuplicates(keptEntries.map((e, r) => ({ file: e.file, hash: keptHashes[r] })));
    if (duplicates.length) {
      options.onNotice?.(
        `${duplicates.length} group(s) of identical files found (e.g. ${duplicates[0].join(' = ')}): they leak between folds; remove the copies.`,
      );
    }
    const meta: FeaturesMeta = {
      formatVersion: FEATURES_FORMAT_VERSION,
      files: keptEntries.map((e) => e.file),
      labels: keptEntries.map((e) => e.label),
      classes: dataset.classes,
      hashes: keptHashes,
      skipped,
      duplicates,
      model: info,
      shape: [kept.length, dim],
      datasetRoot: path.resolve(dataset.root),
      createdAt: new Date().toISOString(),
    };
    const seconds = (performance.now() - started) / 1000;
    return {
      features,
      meta,
      stats: {
        images: kept.length,
        cached: cachedCount,
        computed,
        skipped: skipped.length,
        seconds,
        imagesPerSecond: computed > 0 ? computed / extractSeconds : 0,
        backend: backend.name,
        engine: engine?.name ?? 'none (all cached)',
      },
    };
  } finally {
    cache?.close();
    engine?.dispose();
  }
}

/** Default decode concurrency hint for callers that tune sharp's pool. */
export const DEFAULT_THREADS = os.availableParallelism();
