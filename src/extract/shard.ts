/**
 * Sharding one dataset over machines or processes, and merging the parts back.
 *
 * `--shard i/n` (1 <= i <= n) takes every n-th image of the dataset, starting with the i-th, in
 * the dataset's own (deterministic) order, so every shard gets a similar class mix and the same
 * amount of work. Each shard is an ordinary extraction of that subset: it fills the feature cache
 * and writes its own `<prefix>.npy/.json`, whose JSON carries a `shard` record (index, count,
 * dataset size and digest, and the dataset position of each row and skipped file).
 *
 * Merging: shards that share a cache (one machine, or one cache file) already merged it: a full
 * run afterwards finds every image in the cache. Parts from other machines merge with
 * `mergeShards` (`ftk bottleneck merge`), which puts their rows back in dataset order, exactly as a
 * single run orders them, and can add them to the local cache.
 *
 * Works with any scheduler: a Kubernetes indexed Job (`--shard $((JOB_COMPLETION_INDEX+1))/N`),
 * a Slurm array (`--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT` with `--array=1-N`),
 * GNU parallel (`parallel ftk bottleneck extract data --shard {}/4 --out part{} ::: 1 2 3 4`).
 */
import { createHash } from 'node:crypto';
import { FeaturesError, OptionsError } from '../errors.js';
import type { FeaturesMeta, SkippedFile } from '../formats/features.js';
import { findDuplicates } from '../data/hash.js';
import type { ImageEntry } from '../data/dataset.js';
import { cacheDbPath } from '../runtime/paths.js';
import { FeatureCache } from './cache.js';
import { featurePaths, readFeatures } from './features_file.js';
import { parseShard, type ShardSpec } from './shard_spec.js';

export { parseShard, type ShardSpec };


/** What a shard's `<prefix>.json` records in its `shard` field. */
export interface ShardRecord extends ShardSpec {
  /** Images in the whole dataset (all shards). */
  datasetSize: number;
  /** sha256 of the dataset's file list (order and labels): shards of different listings do not merge. */
  datasetDigest: string;
  /** Dataset position (0-based) of each row of this part. */
  positions: number[];
  /** Dataset position of each skipped file of this part (parallel to the skipped files after the dataset's ignored ones). */
  skippedPositions: number[];
}

/** Features metadata of a shard part: the ordinary metadata plus the `shard` record. */
export type ShardedFeaturesMeta = FeaturesMeta & { shard?: ShardRecord };

/** Dataset positions of the shard's images. */
export function shardPositions(size: number, shard: ShardSpec): number[] {
  const out: number[] = [];
  for (let p = shard.index - 1; p < size; p += shard.count) out.push(p);
  return out;
}

/** Digest of a dataset listing (files and labels, in order). */
export function datasetDigest(entries: readonly ImageEntry[]): string {
  const h = createHash('sha256');
  for (const e of entries) h.update(`${e.label}\t${e.file}\n`);
  return h.digest('hex');
}

export interface ShardPart {
  features: Float32Array;
  meta: ShardedFeaturesMeta;
  /** Where it came from, for messages. */
  source: string;
}

/**
 * Puts shard parts back together, rows in dataset order: the same features and metadata as one
 * run over the whole dataset (`createdAt` aside). Every shard 1..n must be given once, all of one
 * model (fingerprint) and one dataset listing (digest).
 *
 * @throws FeaturesError naming the part that is missing, repeated or from another model/dataset.
 */
export function mergeShards(parts: readonly ShardPart[]): { features: Float32Array; meta: FeaturesMeta } {
  if (parts.length === 0) throw new FeaturesError('No shard parts to merge.', { suggestion: 'Pass the <prefix> of every shard part.' });
  const missingRecord = parts.find((p) => !p.meta.shard);
  if (missingRecord) {
    throw new FeaturesError(`${missingRecord.source} is not a shard part (its JSON has no "shard" record).`, {
      code: 'SHARD_NOT_A_PART',
      suggestion: 'Pass the outputs of `ftk bottleneck extract --shard i/n`.',
    });
  }
  const first = parts[0].meta;
  const count = first.shard!.count;
  const seen = new Map<number, string>();
  for (const p of parts) {
    const s = p.meta.shard!;
    const differs =
      p.meta.model.fingerprint !== first.model.fingerprint
        ? `model fingerprint ${p.meta.model.fingerprint} (first part: ${first.model.fingerprint})`
        : s.count !== count
          ? `${s.count} shards (first part: ${count})`
          : s.datasetDigest !== first.shard!.datasetDigest
            ? 'another dataset listing (files added, removed or renamed between the shard runs)'
            : p.meta.shape[1] !== first.shape[1]
              ? `feature size ${p.meta.shape[1]} (first part: ${first.shape[1]})`
              : undefined;
    if (differs) {
      throw new FeaturesError(`${p.source} does not belong with ${parts[0].source}: it has ${differs}.`, {
        code: 'SHARD_MISMATCH',
        suggestion: 'Merge the parts of one run: same dataset, same model options, same --shard i/n count.',
      });
    }
    if (seen.has(s.index)) {
      throw new FeaturesError(`Shard ${s.index}/${count} is given twice (${seen.get(s.index)} and ${p.source}).`, { code: 'SHARD_DUPLICATE' });
    }
    seen.set(s.index, p.source);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !seen.has(i));
  if (missing.length) {
    throw new FeaturesError(`Shard(s) ${missing.map((i) => `${i}/${count}`).join(', ')} missing: ${parts.length} of ${count} parts given.`, {
      code: 'SHARD_MISSING',
      suggestion: 'Run the missing shards (their images are cached if they ran partly), then merge all parts.',
    });
  }

  const dim = first.shape[1];
  const size = first.shard!.datasetSize;
  const rowAt = new Array<{ part: ShardPart; row: number } | undefined>(size);
  const skipAt = new Array<SkippedFile | undefined>(size);
  let rows = 0;
  for (const part of parts) {
    const s = part.meta.shard!;
    s.positions.forEach((pos, row) => {
      rowAt[pos] = { part, row };
      rows++;
    });
    const own = part.meta.skipped.slice(part.meta.skipped.length - s.skippedPositions.length);
    s.skippedPositions.forEach((pos, k) => {
      skipAt[pos] = own[k];
    });
  }
  const features = new Float32Array(rows * dim);
  const files: string[] = [];
  const labels: number[] = [];
  const hashes: string[] = [];
  const skipped: SkippedFile[] = first.skipped.slice(0, first.skipped.length - first.shard!.skippedPositions.length);
  for (let pos = 0; pos < size; pos++) {
    const at = rowAt[pos];
    if (at) {
      const m = at.part.meta;
      features.set(at.part.features.subarray(at.row * dim, (at.row + 1) * dim), files.length * dim);
      files.push(m.files[at.row]);
      labels.push(m.labels[at.row]);
      hashes.push(m.hashes[at.row]);
    }
    const sk = skipAt[pos];
    if (sk) skipped.push(sk);
  }
  const meta: FeaturesMeta = {
    formatVersion: first.formatVersion,
    files,
    labels,
    classes: first.classes,
    hashes,
    skipped,
    duplicates: findDuplicates(files.map((file, i) => ({ file, hash: hashes[i] }))),
    model: first.model,
    shape: [files.length, dim],
    datasetRoot: first.datasetRoot,
    createdAt: new Date().toISOString(),
  };
  // The device of the parts, when they all ran on the same one (parts from different machines: none).
  const device = JSON.stringify(first.device);
  if (first.device && parts.every((p) => JSON.stringify(p.meta.device) === device)) meta.device = first.device;
  return { features, meta };
}

export interface MergeShardFilesOptions {
  /**
   * Also store every row in the feature cache (true: `<FTK_HOME>/cache/features.sqlite`; a
   * string: that file; false: no). Default true, so later runs on any shard's images are cached.
   */
  cache?: boolean | string;
}

/**
 * Reads the `<prefix>.npy/.json` parts written by `extract --shard i/n`, merges them
 * (`mergeShards`) and adds their rows to the feature cache.
 *
 * @example
 * const { features, meta } = await mergeShardFiles(['part1', 'part2']);
 * await writeFeatures('features', features, meta);
 */
export async function mergeShardFiles(prefixes: readonly string[], options: MergeShardFilesOptions = {}): Promise<{ features: Float32Array; meta: FeaturesMeta; cachedRows: number }> {
  const parts: ShardPart[] = [];
  for (const prefix of prefixes) {
    const { features, meta } = await readFeatures(prefix);
    parts.push({ features, meta, source: featurePaths(prefix).json });
  }
  const merged = mergeShards(parts);
  let cachedRows = 0;
  const cacheFile = options.cache === false ? undefined : typeof options.cache === 'string' ? options.cache : cacheDbPath();
  if (cacheFile) {
    const cache = new FeatureCache(cacheFile);
    try {
      const { meta, features } = merged;
      const dim = meta.shape[1];
      cache.registerModel(meta.model.fingerprint, meta.model);
      const batch = 256;
      for (let r = 0; r < meta.hashes.length; r += batch) {
        const rows = meta.hashes.slice(r, r + batch).map((imageHash, k) => ({ imageHash, values: features.subarray((r + k) * dim, (r + k + 1) * dim) }));
        cache.putMany(meta.model.fingerprint, rows);
        cachedRows += rows.length;
      }
    } finally {
      cache.close();
    }
  }
  return { ...merged, cachedRows };
}
