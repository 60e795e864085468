/**
 * The fast extraction pipeline: decode workers give decodeImage's exact pixels in order within a
 * bounded window; ONNX Runtime and TF.js give the same features (1e-4 relative, random and real
 * weights); the runtime choice is announced, falls back with a message and is cached by
 * fingerprint; `--shard i/n` parts merge into exactly a single run (library and CLI), and shards
 * sharing a cache leave nothing to compute.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { needSharedData } from './helpers/requires.js';
import { after, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { bottleneckCommand, type ExtractContext, type MergeContext } from '../src/cli/commands/bottleneck.js';
import { findDataset } from '../src/data/dataset.js';
import { decodeImage } from '../src/data/decode.js';
import { DecodePool } from '../src/data/decode_pool.js';
import { preprocessPixels } from '../src/models/preprocess.js';
import { extractFeatures } from '../src/extract/extract.js';
import { readFeatures, writeFeatures } from '../src/extract/features_file.js';
import { openEngine } from '../src/extract/runtime_choice.js';
import { mergeShardFiles, mergeShards, parseShard, shardPositions, type ShardPart } from '../src/extract/shard.js';
import { backboneFingerprint, type ResolvedBackbone } from '../src/models/backbone.js';
import type { ModelSpec } from '../src/models/types.js';
import { selectBackend } from '../src/runtime/backend.js';
import { OnnxExportError } from '../src/runtime/onnx_export.js';
import { onnxGraphPath } from '../src/runtime/onnx_store.js';
import { BAD_KINDS, BAD_REASONS, badImage, noiseRgb, tempDir, writeTree } from './helpers/images.js';
import { parseArgv } from './helpers/parse.js';

await selectBackend({ backend: 'wasm' });
const { dir: tmp, cleanup } = await tempDir('ftk-pipeline-');
after(cleanup);
const weightsDir = path.join(tmp, 'weights');

const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const DATA = path.resolve('../shared/datasets/cats-dogs');
const noShared = needSharedData();

const raw = (w: number, h: number) => ({ raw: { width: w, height: h, channels: 3 as const } });

/** A two-class JPEG/PNG dataset of varied sizes, plus every kind of bad file when `bad`. */
async function makeDataset(root: string, perClass: number, bad = false): Promise<void> {
  const files: Record<string, Buffer | string> = {};
  for (const cls of ['ants', 'bees']) {
    for (let i = 0; i < perClass; i++) {
      const w = 60 + ((i * 37) % 120);
      const h = 50 + ((i * 53) % 110);
      const img = sharp(noiseRgb(w, h, i + (cls === 'bees' ? 500 : 0)), raw(w, h));
      files[`${cls}/${cls}_${String(i).padStart(3, '0')}.${i % 3 ? 'jpg' : 'png'}`] = await (i % 3 ? img.jpeg({ quality: 85 }) : img.png()).toBuffer();
    }
  }
  if (bad) for (const kind of BAD_KINDS) files[`${kind === 'bomb' ? 'ants' : 'bees'}/bad_${kind}.jpg`] = await badImage(kind);
  await writeTree(root, files);
}

const datasetRoot = path.join(tmp, 'ds');
await makeDataset(datasetRoot, 21, true);
const MODEL = { model: 'mobilenet', alpha: 0.25, weights: 'random', seed: 5, inputSize: 64, weightsDir, backend: 'wasm' as const };

function maxRelative(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

test('decode pool: exactly decodeImage pixels, in task order, on workers and inline; bad files get decodeImage reasons', async () => {
  const ds = await findDataset(datasetRoot);
  const tasks = ds.entries.map((e) => ({ file: e.path, name: e.file }));
  for (const crop of ['squash', 'center'] as const) {
    const expected = await Promise.all(
      tasks.map(async (t) => {
        try {
          const img = await decodeImage(t.file, { size: 48, crop }, t.name);
          return { pixels: img.pixels };
        } catch (err) {
          return { reason: (err as { reason: string }).reason };
        }
      }),
    );
    for (const workers of [2, 0]) {
      const pool = new DecodePool({ workers, size: 48, crop });
      try {
        let k = 0;
        for await (const r of pool.map(tasks, 5)) {
          assert.deepEqual(r, expected[k], `${tasks[k].name} (${crop}, workers=${workers})`);
          k++;
        }
        assert.equal(k, tasks.length);
      } finally {
        await pool.close();
      }
    }
  }
  const reasons = Object.fromEntries(BAD_KINDS.map((kind) => [kind, BAD_REASONS[kind]]));
  const pool = new DecodePool({ workers: 1, size: 32 });
  try {
    const badTasks = BAD_KINDS.map((kind) => ({ file: path.join(datasetRoot, kind === 'bomb' ? 'ants' : 'bees', `bad_${kind}.jpg`), name: kind }));
    let k = 0;
    for await (const r of pool.map(badTasks, 3)) {
      assert.equal(r.reason, reasons[BAD_KINDS[k]], BAD_KINDS[k]);
      k++;
    }
  } finally {
    await pool.close();
  }
});

test('decode pool: at most `window` images in flight whatever the number of tasks (memory flat), and it does decode ahead', async () => {
  const ds = await findDataset(datasetRoot);
  const tasks = ds.entries.filter((e) => !e.file.includes('bad_')).slice(0, 30).map((e) => ({ file: e.path, name: e.file }));
  const pool = new DecodePool({ workers: 2, size: 32 });
  try {
    let n = 0;
    for await (const r of pool.map(tasks, 4)) {
      assert.ok(r.pixels);
      n++;
      await new Promise((resolve) => setTimeout(resolve, 15)); // a slow consumer: the engine
    }
    assert.equal(n, 30);
    assert.equal(pool.peakInFlight, 4);
  } finally {
    await pool.close();
  }
});

test('decode pool: ready() resolves once the workers have warmed up (inline pool at once); tasks sent before it queue and decode exactly', async () => {
  const ds = await findDataset(datasetRoot);
  const tasks = ds.entries.filter((e) => !e.file.includes('bad_')).slice(0, 6).map((e) => ({ file: e.path, name: e.file }));
  const expected = await Promise.all(tasks.map(async (t) => preprocessPixels((await decodeImage(t.file, { size: 36 }, t.name)).pixels, 'tf')));
  const inline = new DecodePool({ workers: 0, size: 36 });
  await inline.ready();
  await inline.close();
  const pool = new DecodePool({ workers: 2, size: 36, preprocessing: 'tf' });
  try {
    const early = pool.map(tasks, 6)[Symbol.asyncIterator]();
    const first = early.next(); // sent before the workers are ready
    await pool.ready();
    const got = [Float32Array.from((await first).value!.pixels!)];
    for (let r = await early.next(); !r.done; r = await early.next()) got.push(Float32Array.from(r.value.pixels!));
    assert.equal(got.length, tasks.length);
    got.forEach((pixels, k) => assert.deepEqual(pixels, expected[k], tasks[k].name));
  } finally {
    await pool.close();
  }
  const dead = new DecodePool({ workers: 1, size: 36 });
  await dead.close(); // a worker gone before it said ready still lets ready() resolve
  await dead.ready();
});

test('decode pool: preprocessing runs in the workers; a yielded view is never overwritten while the consumer holds it', async () => {
  const ds = await findDataset(datasetRoot);
  const tasks = ds.entries.filter((e) => !e.file.includes('bad_')).slice(0, 24).map((e) => ({ file: e.path, name: e.file }));
  const expected = await Promise.all(tasks.map(async (t) => preprocessPixels((await decodeImage(t.file, { size: 40 }, t.name)).pixels, 'caffe')));
  for (const workers of [2, 0]) {
    const pool = new DecodePool({ workers, size: 40, preprocessing: 'caffe' });
    try {
      let k = 0;
      for await (const r of pool.map(tasks, 3)) {
        const held = Float32Array.from(r.pixels!);
        assert.deepEqual(held, expected[k], `${tasks[k].name} (workers=${workers})`);
        await new Promise((resolve) => setTimeout(resolve, 10)); // workers decode the next ones meanwhile
        assert.deepEqual(r.pixels, held, `${tasks[k].name} changed while held (workers=${workers})`);
        k++;
      }
      assert.equal(k, tasks.length);
    } finally {
      await pool.close();
    }
  }
});

test('ONNX Runtime and TF.js runtimes give the same features within 1e-4 normwise (max |Δ| / max |ref|); the runtime is announced once', async () => {
  const notices: Record<string, string[]> = { onnx: [], tfjs: [] };
  const onnx = await extractFeatures(datasetRoot, { ...MODEL, cache: false, runtime: 'onnx', batchSize: 8, onNotice: (m) => notices.onnx.push(m) });
  const tfjs = await extractFeatures(datasetRoot, { ...MODEL, cache: false, runtime: 'tfjs', batchSize: 8, onNotice: (m) => notices.tfjs.push(m) });
  assert.equal(onnx.stats.runtime, 'onnx');
  assert.equal(tfjs.stats.runtime, 'tfjs');
  assert.match(onnx.stats.engine, /^onnxruntime-node \d+\.\d+\.\d+ cpu, \d+ threads?( \(\d+ sessions x \d+\+? threads?\))?$/);
  assert.equal(notices.onnx.filter((m) => m.startsWith('Runtime: onnxruntime-node')).length, 1);
  assert.deepEqual(notices.tfjs.filter((m) => m.startsWith('Runtime:')), ['Runtime: TF.js wasm backend (requested with --runtime tfjs).']);
  assert.deepEqual(onnx.meta.files, tfjs.meta.files);
  assert.equal(onnx.meta.files.length, 42);
  const rel = maxRelative(onnx.features, tfjs.features);
  assert.ok(rel <= 1e-4, `relative difference ${rel}`);
  // The default runtime is ONNX Runtime, and threads reach it.
  const auto = await extractFeatures(datasetRoot, { ...MODEL, cache: false, threads: 1, decodeWorkers: 1 });
  assert.equal(auto.stats.runtime, 'onnx');
  assert.match(auto.stats.engine, /1 thread$/);
  assert.deepEqual(auto.features, onnx.features, 'bit-identical whatever the thread count and batch size');
});

test('shared Keras MobileNet weights, real photos, whole pipeline: ONNX Runtime equals TF.js within 1e-4 normwise (max |Δ| / max |ref|)', { skip: noShared }, async () => {
  const all = await findDataset(DATA);
  const dataset = { ...all, entries: all.entries.filter((_, i) => i % 125 === 0) };
  const options = { model: 'mobilenet', alpha: 0.25, weights: H5, weightsDir, cache: false as const, batchSize: 8 };
  const onnx = await extractFeatures(dataset, { ...options, runtime: 'onnx' });
  const tfjs = await extractFeatures(dataset, { ...options, runtime: 'tfjs' });
  assert.equal(onnx.meta.files.length, 16);
  assert.equal(onnx.meta.model.fingerprint, tfjs.meta.model.fingerprint, 'one fingerprint: the cache does not care which runtime computed a row');
  const rel = maxRelative(onnx.features, tfjs.features);
  assert.ok(rel <= 1e-4, `relative difference ${rel}`);
});

test('the exported graph is cached next to the weights by fingerprint; reused without rebuilding; a damaged file is exported again', async () => {
  const dir = path.join(tmp, 'graph-cache');
  const root = path.join(tmp, 'small');
  await makeDataset(root, 3);
  const notices: string[] = [];
  const options = { ...MODEL, weightsDir: dir, cache: false as const, onNotice: (m: string) => notices.push(m) };
  const first = await extractFeatures(root, options);
  const file = onnxGraphPath(first.meta.model.fingerprint, dir);
  assert.ok(notices.some((m) => m.includes(file)), 'the notice names the graph file');
  const before = await stat(file);
  const second = await extractFeatures(root, options);
  assert.equal((await stat(file)).mtimeMs, before.mtimeMs, 'not exported again');
  assert.deepEqual(second.features, first.features);
  await writeFile(file, 'not a protobuf');
  notices.length = 0;
  const third = await extractFeatures(root, options);
  assert.ok(notices.some((m) => /could not be loaded; exporting it again/.test(m)), notices.join('\n'));
  assert.deepEqual(third.features, first.features);
  assert.ok((await stat(file)).size > 1000);
});

/** A resolved backbone whose model has a layer ONNX export does not support. */
function unsupportedBackbone(): ResolvedBackbone {
  const build = () => {
    const input = tf.input({ shape: [16, 16, 3] });
    let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'c1' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.upSampling2d({ size: [2, 2], name: 'up' }).apply(x) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: x });
  };
  const spec = { name: 'mobilenet', displayName: 'Custom', build, preprocessing: 'tf', defaultInputSize: 16, minInputSize: 16, featureSize: () => 4, imagenetWeights: () => undefined } as unknown as ModelSpec;
  const partial = { name: 'custom', weightsSha256: 'random:0', layer: 'up', pooling: 'avg' as const, preprocessing: 'tf' as const, inputSize: 16, crop: 'squash' as const };
  return { spec, info: { ...partial, weights: 'random', fingerprint: backboneFingerprint(partial) } };
}

test('a model ONNX export cannot translate: auto falls back to TF.js saying which layer; --runtime onnx is an error', async () => {
  const notices: string[] = [];
  const opened = await openEngine(unsupportedBackbone(), { runtime: 'auto', weightsDir: path.join(tmp, 'unsupported'), onNotice: (m) => notices.push(m) });
  try {
    assert.equal(opened.runtime, 'tfjs');
    assert.equal(opened.engine.outputDim, 4);
    assert.equal(notices.length, 1);
    assert.match(notices[0], /^Runtime: TF\.js wasm backend \(the model has layers ONNX export does not support: up \(UpSampling2D: no ONNX translation\); TF\.js is slower\)\.$/);
  } finally {
    opened.engine.dispose();
  }
  await assert.rejects(openEngine(unsupportedBackbone(), { runtime: 'onnx', weightsDir: path.join(tmp, 'unsupported') }), OnnxExportError);
});

test('--shard: parts 1/2 and 2/2 merged equal a single run exactly (features bit for bit, metadata), bad files included', async () => {
  const single = await extractFeatures(datasetRoot, { ...MODEL, cache: false, batchSize: 8 });
  const parts: ShardPart[] = [];
  for (const index of [2, 1]) {
    const part = await extractFeatures(datasetRoot, { ...MODEL, cache: false, batchSize: 5, shard: `${index}/2` });
    assert.deepEqual(part.stats.shard, { index, count: 2 });
    assert.equal(part.meta.shard!.datasetSize, 42 + BAD_KINDS.length);
    assert.ok(part.meta.files.length < single.meta.files.length);
    parts.push({ features: part.features, meta: part.meta, source: `part${index}` });
  }
  const merged = mergeShards(parts);
  assert.deepEqual(Buffer.from(merged.features.buffer, merged.features.byteOffset, merged.features.byteLength), Buffer.from(single.features.buffer, single.features.byteOffset, single.features.byteLength));
  const { createdAt: _a, ...mergedMeta } = merged.meta;
  const { createdAt: _b, ...singleMeta } = single.meta;
  assert.deepEqual(mergedMeta, singleMeta);
  assert.equal(single.meta.skipped.length, BAD_KINDS.length);

  assert.throws(() => mergeShards([parts[0]]), /Shard\(s\) 1\/2 missing/);
  assert.throws(() => mergeShards([parts[0], parts[0]]), /given twice/);
  const other = { ...parts[1], meta: { ...parts[1].meta, model: { ...parts[1].meta.model, fingerprint: 'x' } }, source: 'other' };
  assert.throws(() => mergeShards([parts[0], other]), /other does not belong with part2: it has model fingerprint x/);
  assert.throws(() => mergeShards([{ ...parts[0], meta: { ...parts[0].meta, shard: undefined } }]), /is not a shard part/);
});

test('shards sharing one cache: a full run afterwards is all cache hits and equals a cold run', async () => {
  const cacheFile = path.join(tmp, 'shared-cache.sqlite');
  const a = extractFeatures(datasetRoot, { ...MODEL, cache: cacheFile, shard: '1/2' });
  const b = extractFeatures(datasetRoot, { ...MODEL, cache: cacheFile, shard: '2/2' });
  const [pa, pb] = await Promise.all([a, b]);
  assert.equal(pa.stats.computed + pb.stats.computed, 42);
  const full = await extractFeatures(datasetRoot, { ...MODEL, cache: cacheFile });
  assert.equal(full.stats.computed, 0);
  assert.equal(full.stats.cached, 42);
  const cold = await extractFeatures(datasetRoot, { ...MODEL, cache: false });
  assert.deepEqual(full.features, cold.features);
});

test('parseShard: i/n with 1 <= i <= n, positions stride the dataset', () => {
  assert.deepEqual(parseShard('3/4'), { index: 3, count: 4 });
  assert.deepEqual(parseShard({ index: 1, count: 1 }), { index: 1, count: 1 });
  assert.throws(() => parseShard('0/4'), (e: Error & { suggestion?: string }) => /1 <= i <= n/.test(e.message) && /index\+1/.test(e.suggestion ?? ''));
  assert.throws(() => parseShard('5/4'), /Received 5\/4/);
  assert.throws(() => parseShard('1-4'), /must look like i\/n/);
  assert.deepEqual(shardPositions(7, { index: 2, count: 3 }), [1, 4]);
  assert.deepEqual([1, 2, 3].flatMap((i) => shardPositions(7, { index: i, count: 3 })).sort(), [0, 1, 2, 3, 4, 5, 6]);
});

async function parse(argv: string[]): Promise<{ extract?: ExtractContext; merge?: MergeContext }> {
  const seen: { extract?: ExtractContext; merge?: MergeContext } = {};
  const cmd = bottleneckCommand(
    async (ctx) => {
      seen.extract = ctx;
      return 0;
    },
    async (ctx) => {
      seen.merge = ctx;
      return 0;
    },
  );
  await parseArgv(cmd, ['bottleneck', ...argv]);
  return seen;
}

test('CLI flags: --runtime, --threads, --decode-workers, --shard parse into options (absent: library defaults); merge parses', async () => {
  const plain = await parse(['extract', 'd', '--out', 'o']);
  for (const key of ['runtime', 'threads', 'decodeWorkers', 'shard']) assert.ok(!(key in plain.extract!.options), `${key} left to the library default`);
  const set = await parse(['extract', 'd', '--out', 'o', '--runtime', 'tfjs', '--threads', '3', '--decode-workers', '0', '--shard', '2/5']);
  assert.equal(set.extract!.options.runtime, 'tfjs');
  assert.equal(set.extract!.options.threads, 3);
  assert.equal(set.extract!.options.decodeWorkers, 0);
  assert.deepEqual(set.extract!.options.shard, { index: 2, count: 5 });
  await assert.rejects(parse(['extract', 'd', '--out', 'o', '--runtime', 'torch']), /--runtime must be one of \[auto, onnx, tfjs\]/);
  await assert.rejects(parse(['extract', 'd', '--out', 'o', '--shard', '3/2']), /1 <= i <= n/);
  const merge = await parse(['merge', 'p1', 'p2', '--out', 'all', '--no-cache']);
  assert.deepEqual(merge.merge, { parts: ['p1', 'p2'], out: 'all', json: false, cache: false });
});

test('CLI end to end: two `extract --shard` runs and `merge` write the same .npy bytes as one run, and fill the cache', { timeout: 180_000 }, async () => {
  const env = { ...process.env, FTK_HOME: path.join(tmp, 'cli-home'), FTK_DEV: '1' };
  const ftk = (...args: string[]) => spawnSync(process.execPath, [path.resolve('bin/ftk.js'), ...args], { env, encoding: 'utf8', timeout: 120_000 });
  const common = ['--model', 'mobilenet', '--alpha', '0.25', '--weights', 'random', '--seed', '5', '--input-size', '64', '--no-cache', '--json'];
  for (const i of [1, 2]) {
    const r = ftk('bottleneck', 'extract', datasetRoot, ...common, '--shard', `${i}/2`, '--out', path.join(tmp, `cli-part${i}`));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Runtime: onnxruntime-node/);
  }
  const cacheFile = path.join(tmp, 'cli-merged.sqlite');
  const m = ftk('bottleneck', 'merge', path.join(tmp, 'cli-part1'), path.join(tmp, 'cli-part2'), '--out', path.join(tmp, 'cli-merged'), '--cache-file', cacheFile, '--json');
  assert.equal(m.status, 0, m.stderr);
  assert.equal(JSON.parse(m.stdout).cachedRows, 42);
  const single = await extractFeatures(datasetRoot, { ...MODEL, cache: false });
  await writeFeatures(path.join(tmp, 'lib-single'), single.features, single.meta);
  assert.deepEqual(await readFile(path.join(tmp, 'cli-merged.npy')), await readFile(path.join(tmp, 'lib-single.npy')));
  const cached = await extractFeatures(datasetRoot, { ...MODEL, cache: cacheFile });
  assert.equal(cached.stats.computed, 0, 'the merge filled the cache');
  const back = await readFeatures(path.join(tmp, 'cli-merged'));
  assert.deepEqual(back.meta.files, single.meta.files);
  await assert.rejects(mergeShardFiles([path.join(tmp, 'cli-part1')], { cache: false }), /Shard\(s\) 2\/2 missing/);
});
