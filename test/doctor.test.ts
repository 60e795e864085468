import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { examineDataset, nearDuplicates } from '../src/auto/doctor.js';
import { findDataset } from '../src/data/dataset.js';
import { Rng } from '../src/data/random.js';
import { noiseRgb, tempDir, writeTree } from './helpers/images.js';

const { dir: tmp, cleanup } = await tempDir('ftk-doctor-');
after(cleanup);

test('near-duplicates: pairs at or above the cosine threshold, most similar first, cross-class pairs flagged', () => {
  const rng = new Rng(1);
  const n = 50;
  const d = 16;
  const X = new Float32Array(n * d).map(() => rng.next());
  // Row 7 is row 3 scaled (cosine 1), row 20 is row 3 plus a little noise, row 40 copies row 10.
  for (let j = 0; j < d; j++) {
    X[7 * d + j] = 2 * X[3 * d + j];
    X[20 * d + j] = X[3 * d + j] + 0.01 * rng.next();
    X[40 * d + j] = X[10 * d + j];
  }
  const files = Array.from({ length: n }, (_, i) => `f${i}`);
  const labels = files.map((_, i) => (i === 40 ? 1 : 0));
  const pairs = nearDuplicates(X, n, d, files, labels, 0.999);
  const names = pairs.map((p) => `${p.a}~${p.b}`).sort();
  assert.deepEqual(names, ['f10~f40', 'f3~f20', 'f3~f7', 'f7~f20']);
  assert.ok(pairs[0].cosine >= pairs[pairs.length - 1].cosine);
  assert.equal(pairs.find((p) => p.b === 'f40')!.crossClass, true);
  assert.equal(pairs.find((p) => p.b === 'f7')!.crossClass, false);
});

test('examineDataset: counts, imbalance and tiny-image warnings with numbers', async () => {
  const root = path.join(tmp, 'ds');
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 12; i++) files[`big/${i}.png`] = await sharp(noiseRgb(40, 30, i), { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer();
  for (let i = 0; i < 3; i++) files[`small/${i}.png`] = await sharp(noiseRgb(40, 30, 50 + i), { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer();
  await writeTree(root, files);
  const report = await examineDataset(await findDataset(root));
  assert.deepEqual(report.counts, [12, 3]);
  assert.equal(report.imbalance, 4);
  assert.equal(report.sizes!.width.median, 40);
  assert.equal(report.sizes!.nonSquare, 1);
  assert.ok(report.warnings.some((w) => /only 3 images/.test(w)));
  assert.ok(report.warnings.some((w) => /imbalanced 4\.0:1/.test(w)));
  assert.ok(report.warnings.some((w) => /tiny \(smallest 40x30\)/.test(w)));
});
