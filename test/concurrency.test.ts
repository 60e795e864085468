/**
 * Two `ftk bottleneck extract` processes on the same dataset and the same FTK_HOME (one feature
 * cache, one ONNX graph folder), started at the same moment: both finish, both write what a single
 * run writes, the cache is clean, and the work is shared through the cache's claims
 * (src/extract/claims.ts) instead of done twice.
 *
 * The bound: computed(A) + computed(B) = N. An image is claimed before it is decoded and a live
 * claim keeps the other process off it, so no image is run through the model twice; the only
 * exceptions are a claimant that dies after computing a batch and before committing it, or a
 * claim older than CLAIM_TTL_MS (10 minutes), neither of which happens here. (Without claims
 * each process computed all N.) The second test kills one of the two mid-run: the survivor takes
 * over the dead process' claims and still finishes with every image.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { FeatureCache } from '../src/extract/cache.js';
import { extractFeatures } from '../src/extract/extract.js';
import { catsDogsSubset, noSharedData, runFtk, SHARED_H5, sleep, startFtk, type FtkRun } from './helpers/cli.js';
import { noiseRgb, tempDir, writeTree } from './helpers/images.js';

const { dir: tmp, cleanup } = await tempDir('ftk-concurrency-');
after(cleanup);
const N = 120;
const data = noSharedData ? '' : await catsDogsSubset(path.join(tmp, 'data'), N / 2);
const extractArgs = (out: string) => ['bottleneck', 'extract', data, '--model', 'mobilenet', '--alpha', '0.25', '--weights', SHARED_H5, '--runtime', 'onnx', '--batch-size', '16', '--json', '--out', out];
const stats = (stdout: string): { computed: number; cached: number; images: number } => JSON.parse(stdout).stats;
let singleRun: Promise<FtkRun> | undefined;
/** One uninterrupted extraction, no cache: what every run must write. */
const single = (): Promise<FtkRun> => (singleRun ??= runFtk([...extractArgs(path.join(tmp, 'single')), '--no-cache'], { FTK_HOME: path.join(tmp, 'home-single') }));

test('two extractions of one dataset into one cache at once: both finish, equal a single run, computed(A) + computed(B) = N', { skip: noSharedData, timeout: 240_000 }, async (t) => {
  const clean = await single();
  // A cold FTK_HOME: both also export the ONNX graph at the same time.
  const env = { FTK_HOME: path.join(tmp, 'home') };
  const a = startFtk(extractArgs(path.join(tmp, 'a')), env);
  const b = startFtk(extractArgs(path.join(tmp, 'b')), env);
  const [ra, rb] = await Promise.all([a.done, b.done]);
  assert.equal(ra.code, 0, ra.stderr);
  assert.equal(rb.code, 0, rb.stderr);
  const [sa, sb] = [stats(ra.stdout), stats(rb.stdout)];
  t.diagnostic(`N = ${N}: A computed ${sa.computed} (cache ${sa.cached}) in ${(ra.ms / 1000).toFixed(1)} s, B computed ${sb.computed} (cache ${sb.cached}) in ${(rb.ms / 1000).toFixed(1)} s; total computed ${sa.computed + sb.computed}; single run ${(clean.ms / 1000).toFixed(1)} s`);
  assert.equal(sa.images, N);
  assert.equal(sb.images, N);
  assert.equal(sa.computed + sa.cached, N);
  assert.equal(sb.computed + sb.cached, N);
  assert.equal(sa.computed + sb.computed, N, 'no image computed by both');
  const reference = await readFile(path.join(tmp, 'single.npy'));
  assert.ok((await readFile(path.join(tmp, 'a.npy'))).equals(reference), 'A wrote what a single run writes');
  assert.ok((await readFile(path.join(tmp, 'b.npy'))).equals(reference), 'B wrote what a single run writes');
  const cache = new FeatureCache(path.join(tmp, 'home', 'cache', 'features.sqlite'));
  try {
    assert.deepEqual(cache.verify(), { rows: N, corrupt: 0 });
  } finally {
    cache.close();
  }
});

test('one of two concurrent extractions killed mid-run: the other takes over its claims and finishes with every image', { skip: noSharedData, timeout: 240_000 }, async (t) => {
  await single();
  const env = { FTK_HOME: path.join(tmp, 'home-kill') };
  // The graph exported first, so both start extracting at once.
  await runFtk([...extractArgs(path.join(tmp, 'warm')), '--no-cache', '--shard', '1/60'], env);
  const cacheFile = path.join(tmp, 'home-kill', 'cache', 'features.sqlite');
  const a = startFtk(extractArgs(path.join(tmp, 'ka')), env);
  const b = startFtk(extractArgs(path.join(tmp, 'kb')), env);
  // Kill A once a few batches are in the cache (A then holds claims ahead of its decoder).
  let rows = 0;
  for (let i = 0; i < 1200 && rows < 32; i++) {
    await sleep(25);
    try {
      const c = new FeatureCache(cacheFile);
      rows = c.count();
      c.close();
    } catch {
      // not created yet
    }
  }
  a.child.kill('SIGKILL');
  const [ra, rb] = await Promise.all([a.done, b.done]);
  assert.equal(ra.signal, 'SIGKILL', `A was killed mid-run (it exited ${ra.code})`);
  assert.equal(rb.code, 0, rb.stderr);
  const sb = stats(rb.stdout);
  t.diagnostic(`A killed with ${rows} rows in the cache; B computed ${sb.computed}, read ${sb.cached} from the cache, in ${(rb.ms / 1000).toFixed(1)} s`);
  assert.equal(sb.images, N);
  assert.equal(sb.computed + sb.cached, N);
  assert.ok(rb.ms < 120_000, 'B did not wait for the dead process\' claims to expire');
  const reference = await readFile(path.join(tmp, 'single.npy'));
  assert.ok((await readFile(path.join(tmp, 'kb.npy'))).equals(reference), 'B wrote what a single run writes');
  const cache = new FeatureCache(cacheFile);
  try {
    assert.deepEqual(cache.verify(), { rows: N, corrupt: 0 });
  } finally {
    cache.close();
  }
});

test('identical files are computed once with the cache on (copies read back from it), each with its own row', async () => {
  const root = path.join(tmp, 'copies');
  const files: Record<string, Buffer> = {};
  const unique: Buffer[] = [];
  for (let u = 0; u < 5; u++) unique.push(await sharp(noiseRgb(60, 50, 300 + u), { raw: { width: 60, height: 50, channels: 3 } }).jpeg().toBuffer());
  // 5 distinct images, 40 files: copies spread over both classes and far apart in dataset order.
  for (let f = 0; f < 40; f++) files[`${f % 2 ? 'b' : 'a'}/img${String(f).padStart(2, '0')}.jpg`] = unique[(f * 3) % 5];
  await writeTree(root, files);
  const options = { model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: 64, batchSize: 4, decodeWorkers: 0 } as const;
  const cached = await extractFeatures(root, { ...options, cache: path.join(tmp, 'copies.sqlite') });
  const uncached = await extractFeatures(root, { ...options, cache: false });
  assert.equal(cached.stats.computed, 5, 'one computation per distinct content');
  assert.equal(cached.stats.cached, 35);
  assert.equal(uncached.stats.computed, 40, 'without a cache every file is computed');
  assert.deepEqual(cached.meta.files, uncached.meta.files);
  assert.deepEqual(cached.features, uncached.features);
  assert.equal(cached.meta.duplicates.length, 5, 'and the copies are still reported');
});
