/** Seeded augmentation (src/data/augment.ts): spec parsing, exact geometry of each transform, fill modes, seeding. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyTransform,
  augmentSpecString,
  IDENTITY_TRANSFORM,
  NO_AUGMENT,
  parseAugmentSpec,
  resolveAugment,
  sampleTransform,
  type ImageTransform,
} from '../src/data/augment.js';
import { Rng } from '../src/data/random.js';

/** A 4x5 single-channel image whose value at (x, y) is 10*y + x. */
const H = 4;
const W = 5;
const img = Float32Array.from({ length: H * W }, (_, i) => 10 * Math.floor(i / W) + (i % W));
const at = (a: Float32Array, x: number, y: number) => a[y * W + x];
const t = (over: Partial<ImageTransform>): ImageTransform => ({ ...IDENTITY_TRANSFORM, ...over });

test('parseAugmentSpec reads the CLI spelling and round-trips through augmentSpecString', () => {
  const a = parseAugmentSpec('flip,rotate=0.1,translate=0.1,zoom=0.2');
  assert.deepEqual(a, { flip: 'horizontal', rotate: 0.1, translate: 0.1, zoom: 0.2, fillMode: 'reflect' });
  assert.deepEqual(parseAugmentSpec(augmentSpecString(a)), a);
  assert.deepEqual(parseAugmentSpec('flip=both, zoom, fill=nearest'), { flip: 'horizontal_and_vertical', rotate: 0, translate: 0, zoom: 0.1, fillMode: 'nearest' });
  assert.equal(parseAugmentSpec('none'), NO_AUGMENT);
  assert.equal(augmentSpecString(NO_AUGMENT), 'none');
});

test('bad augmentation specs name what is allowed', () => {
  assert.throws(() => parseAugmentSpec('flip,blur=2'), /Unknown augmentation "blur".*\n?/);
  assert.throws(() => parseAugmentSpec('flip,blur=2'), (e: Error & { suggestion?: string }) => /flip, rotate=F, translate=F, zoom=F/.test(e.suggestion ?? ''));
  assert.throws(() => parseAugmentSpec('rotate=abc'), /augment rotate needs a number/);
  assert.throws(() => parseAugmentSpec('zoom=1.5'), /zoom must be a number in \[0, 0.99\]. Received zoom=1.5/);
  assert.throws(() => parseAugmentSpec('flip=diagonal'), /flip must be one of \[horizontal, vertical, both\]/);
  assert.throws(() => resolveAugment({ fillMode: 'wrap' as never }), /fillMode must be one of \[reflect, nearest, constant\]/);
});

test('the identity copies; a horizontal flip mirrors columns exactly; a vertical flip mirrors rows', () => {
  assert.deepEqual(applyTransform(img, H, W, 1, IDENTITY_TRANSFORM), img);
  const h = applyTransform(img, H, W, 1, t({ flipHorizontal: true }));
  const v = applyTransform(img, H, W, 1, t({ flipVertical: true }));
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      assert.equal(at(h, x, y), at(img, W - 1 - x, y));
      assert.equal(at(v, x, y), at(img, x, H - 1 - y));
    }
  }
});

test('a half turn equals both flips; an integer translation shifts, filled as Keras fill modes', () => {
  const half = applyTransform(img, H, W, 1, t({ angle: Math.PI }));
  const both = applyTransform(img, H, W, 1, t({ flipHorizontal: true, flipVertical: true }));
  half.forEach((v, i) => assert.ok(Math.abs(v - both[i]) < 1e-9, `pixel ${i}: ${v} vs ${both[i]}`));
  // Shift right by 2 columns: out(x) = in(x - 2).
  const constant = applyTransform(img, H, W, 1, t({ shiftX: 2 }), 'constant');
  const nearest = applyTransform(img, H, W, 1, t({ shiftX: 2 }), 'nearest');
  const reflect = applyTransform(img, H, W, 1, t({ shiftX: 2 }), 'reflect');
  for (let y = 0; y < H; y++) {
    for (let x = 2; x < W; x++) {
      assert.equal(at(constant, x, y), at(img, x - 2, y));
      assert.equal(at(reflect, x, y), at(img, x - 2, y));
    }
    assert.deepEqual([at(constant, 0, y), at(constant, 1, y)], [0, 0]);
    assert.deepEqual([at(nearest, 0, y), at(nearest, 1, y)], [at(img, 0, y), at(img, 0, y)]);
    // TF's reflect ("d c b a | a b c d"): column -1 reads column 0, column -2 reads column 1.
    assert.deepEqual([at(reflect, 0, y), at(reflect, 1, y)], [at(img, 1, y), at(img, 0, y)]);
  }
});

test('a quarter turn of a square image is a transpose and a flip; zoom 0.5 samples the centre at half spacing', () => {
  const n = 4;
  const sq = Float32Array.from({ length: n * n }, (_, i) => i);
  const q = applyTransform(sq, n, n, 1, t({ angle: Math.PI / 2 }));
  const rotated = (x: number, y: number) => q[y * n + x];
  // out(x, y) = in(c + R(θ)(p - c)): θ = 90° maps (x, y) -> (c - (y - c), c + (x - c)).
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) assert.ok(Math.abs(rotated(x, y) - sq[x * n + (n - 1 - y)]) < 1e-9);
  const zoomed = applyTransform(sq, n, n, 1, t({ zoom: 0.5 }));
  // Centre 1.5: output x = 0 samples 1.5 + (0 - 1.5) * 0.5 = 0.75 (bilinear between 0 and 1).
  assert.ok(Math.abs(zoomed[0] - (0.25 * sq[0] + 0.75 * sq[1]) * 0.25 - (0.25 * sq[4] + 0.75 * sq[5]) * 0.75) < 1e-5);
});

test('channels move together', () => {
  const rgb = new Float32Array(H * W * 3);
  for (let i = 0; i < H * W; i++) rgb.set([img[i], img[i] + 100, img[i] + 200], i * 3);
  const out = applyTransform(rgb, H, W, 3, t({ flipHorizontal: true, shiftY: 1 }), 'nearest');
  const grey = applyTransform(img, H, W, 1, t({ flipHorizontal: true, shiftY: 1 }), 'nearest');
  for (let i = 0; i < H * W; i++) assert.deepEqual([...out.subarray(i * 3, i * 3 + 3)], [grey[i], grey[i] + 100, grey[i] + 200]);
});

test('sampleTransform is seeded and stays within the ranges (Keras factors)', () => {
  const a = parseAugmentSpec('flip,rotate=0.1,translate=0.2,zoom=0.3');
  assert.deepEqual(sampleTransform(new Rng(5), a, 100, 50), sampleTransform(new Rng(5), a, 100, 50));
  assert.notDeepEqual(sampleTransform(new Rng(5), a, 100, 50), sampleTransform(new Rng(6), a, 100, 50));
  const rng = new Rng(1);
  let flips = 0;
  for (let i = 0; i < 2000; i++) {
    const s = sampleTransform(rng, a, 100, 50);
    assert.ok(Math.abs(s.angle) <= 0.1 * 2 * Math.PI);
    assert.ok(Math.abs(s.shiftY) <= 20 && Math.abs(s.shiftX) <= 10);
    assert.ok(s.zoom >= 0.7 && s.zoom <= 1.3);
    assert.equal(s.flipVertical, false);
    if (s.flipHorizontal) flips++;
  }
  assert.ok(flips > 900 && flips < 1100, `about half flipped: ${flips}`);
  // Enabling one option does not change another's draws.
  const onlyZoom = sampleTransform(new Rng(9), parseAugmentSpec('zoom=0.3'), 100, 50);
  assert.equal(onlyZoom.zoom, sampleTransform(new Rng(9), a, 100, 50).zoom);
});
