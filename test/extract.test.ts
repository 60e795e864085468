/**
 * End-to-end extraction: the real MobileNet 0.25 weights against the independent reference
 * (acceptance: within 1e-3), bad files skipped and listed, the cache (second run does no
 * inference, one added image costs one image), and a SIGKILL mid-run that resumes cleanly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { needSharedWeights } from './helpers/requires.js';
import { test } from 'node:test';
import sharp from 'sharp';
import { FeatureCache } from '../src/extract/cache.js';
import { extractFeatures } from '../src/extract/extract.js';
import { readFeatures, writeFeatures } from '../src/extract/features_file.js';
import { decodeNpy } from '../src/formats/npy.js';
import { selectBackend } from '../src/runtime/backend.js';
import { BAD_KINDS, BAD_REASONS, badImage, noiseRgb, writeTree } from './helpers/images.js';
import { loadMobileNetReference } from './reference/mobilenet_reference.js';
import { tempHome } from './helpers/home.js';

const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const noWeights = needSharedWeights();
const REAL = { model: 'mobilenet', alpha: 0.25, weights: H5, backend: 'wasm' as const };

await selectBackend({ backend: 'wasm' });
// Exported ONNX graphs, downloaded weights and the feature cache stay in the temp dir.
const tmp = await tempHome('ftk-extract-');

const raw = (w: number, h: number) => ({ raw: { width: w, height: h, channels: 3 as const } });

async function jpegDataset(root: string, perClass: number, seed = 1): Promise<void> {
  const files: Record<string, Buffer> = {};
  for (const cls of ['ants', 'bees']) {
    for (let i = 0; i < perClass; i++) {
      const w = 160 + ((i * 37) % 200);
      const h = 120 + ((i * 53) % 180);
      files[`${cls}/${cls}_${i}.jpg`] = await sharp(noiseRgb(w, h, seed * 1000 + i + (cls === 'bees' ? 500 : 0)), raw(w, h)).jpeg({ quality: 85 }).toBuffer();
    }
  }
  await writeTree(root, files);
}

test('features of 224x224 RGB PNGs equal the independent reference MobileNet within 1e-3', { skip: noWeights }, async (t) => {
  const root = path.join(tmp, 'png224');
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 4; i++) files[`${i % 2 ? 'b' : 'a'}/img${i}.png`] = await sharp(noiseRgb(224, 224, 40 + i), raw(224, 224)).png().toBuffer();
  await writeTree(root, files);
  const result = await extractFeatures(root, { ...REAL, cache: false, batchSize: 3 });
  assert.deepEqual(result.meta.shape, [4, 256]);
  const reference = await loadMobileNetReference(H5);
  let maxDiff = 0;
  for (let r = 0; r < 4; r++) {
    const pixels = Float32Array.from(await sharp(path.join(root, result.meta.files[r])).removeAlpha().raw().toBuffer());
    const expected = reference.features(pixels);
    for (let j = 0; j < 256; j++) maxDiff = Math.max(maxDiff, Math.abs(expected[j] - result.features[r * 256 + j]));
  }
  t.diagnostic(`max |ftk - reference| over 4 x 256 features: ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff < 1e-3, `max |ftk - reference| = ${maxDiff}`);
});

test('a folder mixing good and bad images gives features for every good one and lists every bad one with its reason', async () => {
  const root = path.join(tmp, 'mixed');
  const files: Record<string, Buffer | string> = {};
  for (let i = 0; i < 3; i++) {
    files[`cats/good${i}.jpg`] = await sharp(noiseRgb(90, 70, i), raw(90, 70)).jpeg().toBuffer();
    files[`dogs/good${i}.png`] = await sharp(noiseRgb(50, 80, 10 + i), raw(50, 80)).png().toBuffer();
  }
  files['dogs/png_named.jpg'] = await sharp(noiseRgb(40, 40, 99), raw(40, 40)).png().toBuffer();
  for (const kind of BAD_KINDS) files[`cats/bad_${kind}.jpg`] = await badImage(kind);
  files['cats/.DS_Store'] = 'junk';
  await writeTree(root, files);
  const skippedSeen: string[] = [];
  const result = await extractFeatures(root, {
    model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: 64, cache: false, batchSize: 4,
    onSkip: (s) => skippedSeen.push(s.file),
  });
  assert.equal(result.meta.files.length, 7);
  assert.ok(result.meta.files.includes('dogs/png_named.jpg'));
  assert.ok(result.features.every(Number.isFinite));
  for (const kind of BAD_KINDS) {
    const entry = result.meta.skipped.find((s) => s.file === `cats/bad_${kind}.jpg`);
    assert.ok(entry, `bad file ${kind} listed`);
    assert.equal(entry.reason, BAD_REASONS[kind]);
    assert.ok(skippedSeen.includes(entry.file), `${kind} reported through onSkip`);
  }
  assert.ok(result.meta.skipped.some((s) => s.file === 'cats/.DS_Store'));
});

test('cache: a second run does no inference and gives identical features; one added image costs one image', async () => {
  const root = path.join(tmp, 'cached');
  await jpegDataset(root, 10);
  const cacheFile = path.join(tmp, 'cache1.sqlite');
  const options = { model: 'mobilenet', alpha: 0.25, weights: 'random', seed: 3, inputSize: 96, cache: cacheFile, batchSize: 8 };
  const first = await extractFeatures(root, options);
  assert.equal(first.stats.computed, 20);
  const second = await extractFeatures(root, options);
  assert.equal(second.stats.computed, 0);
  assert.equal(second.stats.cached, 20);
  assert.equal(second.stats.engine, 'none (all cached)');
  assert.deepEqual(second.features, first.features);
  await writeTree(root, { 'bees/new.jpg': await sharp(noiseRgb(100, 100, 777), raw(100, 100)).jpeg().toBuffer() });
  const third = await extractFeatures(root, options);
  assert.equal(third.stats.computed, 1);
  assert.equal(third.stats.cached, 20);
  const other = await extractFeatures(root, { ...options, pooling: 'max' as const });
  assert.equal(other.stats.computed, 21, 'another pooling is another fingerprint');
  const prefix = path.join(tmp, 'out', 'feat');
  await writeFeatures(prefix, third.features, third.meta);
  const back = await readFeatures(prefix);
  assert.deepEqual(back.features, third.features);
  const npy = decodeNpy(await readFile(prefix + '.npy'));
  assert.deepEqual(npy.shape, [21, 256]);
  assert.equal(npy.dtype, '<f4');
});

test('SIGKILL during extraction, then a rerun: completes, equals a clean run, no corrupt cache row', { skip: noWeights, timeout: 180_000 }, async (t) => {
  const root = path.join(tmp, 'kill');
  await jpegDataset(root, 60, 7);
  const cacheFile = path.join(tmp, 'kill.sqlite');
  const bin = path.resolve('bin/ftk.js');
  const args = [bin, 'bottleneck', 'extract', root, '--model', 'mobilenet', '--alpha', '0.25', '--weights', H5, '--batch-size', '8', '--backend', 'wasm', '--cache-file', cacheFile, '--json'];
  const child = spawn(process.execPath, [...args, '--out', path.join(tmp, 'killed')], { env: { ...process.env, FTK_DEV: '1' }, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  // Kill as soon as some batches are committed, but not all.
  let rowsAtKill = 0;
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(cacheFile)) continue;
    try {
      const c = new FeatureCache(cacheFile);
      rowsAtKill = c.count();
      c.close();
    } catch {
      continue;
    }
    if (rowsAtKill >= 16) break;
  }
  child.kill('SIGKILL');
  await exited;
  assert.ok(rowsAtKill >= 16 && rowsAtKill < 120, `killed mid-run (rows at kill: ${rowsAtKill})`);
  const check = new FeatureCache(cacheFile);
  assert.equal(check.verify().corrupt, 0);
  const before = check.count();
  check.close();
  const resumed = await extractFeatures(root, { ...REAL, cache: cacheFile, batchSize: 8 });
  assert.equal(resumed.stats.cached, before);
  assert.equal(resumed.stats.computed, 120 - before);
  const clean = await extractFeatures(root, { ...REAL, cache: false, batchSize: 8 });
  let maxDiff = 0;
  for (let i = 0; i < clean.features.length; i++) maxDiff = Math.max(maxDiff, Math.abs(clean.features[i] - resumed.features[i]));
  t.diagnostic(`killed with ${rowsAtKill} of 120 rows cached; resumed computed ${resumed.stats.computed}; max |resumed - clean| ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff < 1e-5, `resumed vs clean max diff ${maxDiff}`);
  assert.deepEqual(resumed.meta.files, clean.meta.files);
});
