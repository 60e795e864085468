/**
 * Self-checks of the independent MobileNet v1 reference (test/reference/mobilenet_reference.ts):
 * the numbers it produces are recomputed here by hand, position by position, straight from the
 * HDF5 weights, so that the reference can then be trusted to judge ftk's tf.layers MobileNet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { needSharedWeights } from './helpers/requires.js';
import { loadMobileNetReference, type MobileNetReference, type RefActivation } from './reference/mobilenet_reference.js';

const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const skip = needSharedWeights();

/** Seeded RGB image in 0..255 (integers, like decoded JPEG pixels). */
function randomImage(seed: number, h = 224, w = 224): Float32Array {
  const px = new Float32Array(h * w * 3);
  let s = seed >>> 0;
  for (let i = 0; i < px.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    px[i] = s >>> 24;
  }
  return px;
}

let cached: MobileNetReference | undefined;
async function reference(): Promise<MobileNetReference> {
  cached ??= await loadMobileNetReference(H5);
  return cached;
}

const at = (a: RefActivation, y: number, x: number, c: number): number => a.data[(y * a.width + x) * a.channels + c];

function weight(ref: MobileNetReference, name: string): { shape: number[]; data: Float64Array } {
  const t = ref.weights.get(name);
  assert.ok(t, `weight ${name} present`);
  return t;
}

/** conv1 at one output position, padding only at the bottom/right (TF 'same' for even sizes). */
function handConv1(ref: MobileNetReference, pre: RefActivation, oy: number, ox: number, co: number): number {
  const k = weight(ref, 'conv1/kernel:0'); // [3, 3, 3, C]
  const cout = k.shape[3];
  let sum = 0;
  for (let ky = 0; ky < 3; ky++) {
    for (let kx = 0; kx < 3; kx++) {
      const iy = 2 * oy + ky;
      const ix = 2 * ox + kx;
      if (iy >= pre.height || ix >= pre.width) continue; // the zero row/column at the bottom/right
      for (let ci = 0; ci < 3; ci++) sum += at(pre, iy, ix, ci) * k.data[((ky * 3 + kx) * 3 + ci) * cout + co];
    }
  }
  return sum;
}

function handBn(ref: MobileNetReference, layer: string, c: number, x: number): number {
  const g = weight(ref, `${layer}/gamma:0`).data[c];
  const b = weight(ref, `${layer}/beta:0`).data[c];
  const m = weight(ref, `${layer}/moving_mean:0`).data[c];
  const v = weight(ref, `${layer}/moving_variance:0`).data[c];
  return (g * (x - m)) / Math.sqrt(v + 1e-3) + b;
}

test('reference reads the shared Keras file: 218,544 parameters, 256 features', { skip }, async () => {
  const ref = await reference();
  assert.equal(ref.parameterCount, 218_544);
  assert.equal(ref.featureSize, 256);
  assert.deepEqual(weight(ref, 'conv1/kernel:0').shape, [3, 3, 3, 8]);
  assert.deepEqual(weight(ref, 'conv_dw_13/depthwise_kernel:0').shape, [3, 3, 256, 1]);
});

test('features: 256 finite values in [0, 6], deterministic, under 2 s per image', { skip }, async () => {
  const ref = await reference();
  const img = randomImage(1);
  const t0 = performance.now();
  const a = ref.features(img);
  const elapsed = performance.now() - t0;
  const b = ref.features(img);
  assert.equal(a.length, 256);
  for (const v of a) assert.ok(Number.isFinite(v) && v >= 0 && v <= 6, `feature ${v} in [0, 6]`);
  assert.deepEqual(Array.from(a), Array.from(b));
  assert.ok(elapsed < 2000, `forward pass took ${elapsed.toFixed(0)} ms`);
  // Not degenerate: a different image gives different features, and some features are non-zero.
  const c = ref.features(randomImage(2));
  assert.ok(a.some((v, i) => Math.abs(v - c[i]) > 1e-6));
  assert.ok(a.filter((v) => v > 0).length > 10);
});

test('features are the global average of conv_pw_13_relu (7x7x256 for 224 input)', { skip }, async () => {
  const ref = await reference();
  const img = randomImage(3);
  const last = ref.layerOutput(img, 'conv_pw_13_relu');
  assert.deepEqual([last.height, last.width, last.channels], [7, 7, 256]);
  const f = ref.features(img);
  for (let c = 0; c < 256; c++) {
    let s = 0;
    for (let p = 0; p < 49; p++) s += last.data[p * 256 + c];
    assert.ok(Math.abs(s / 49 - f[c]) < 1e-12);
  }
});

test("preprocessing is Keras 'tf' mode: x / 127.5 - 1", { skip }, async () => {
  const ref = await reference();
  const img = randomImage(4);
  const pre = ref.layerOutput(img, 'input');
  for (const i of [0, 1, 2, 1000, img.length - 1]) assert.ok(Math.abs(pre.data[i] - (img[i] / 127.5 - 1)) < 1e-12);
  const black = ref.layerOutput(new Float32Array(224 * 224 * 3), 'input');
  assert.equal(black.data[0], -1);
  const white = ref.layerOutput(new Float32Array(224 * 224 * 3).fill(255), 'input');
  assert.equal(white.data[0], 1);
});

test('conv1 + conv1_bn + ReLU6 recomputed by hand at corners and inside (pad bottom/right only)', { skip }, async () => {
  const ref = await reference();
  const img = randomImage(5);
  const pre = ref.layerOutput(img, 'input');
  const conv = ref.layerOutput(img, 'conv1');
  const relu = ref.layerOutput(img, 'conv1_relu');
  assert.deepEqual([conv.height, conv.width, conv.channels], [112, 112, 8]);
  for (const [oy, ox] of [[0, 0], [0, 111], [111, 0], [111, 111], [37, 64]]) {
    for (let co = 0; co < 8; co++) {
      const expected = handConv1(ref, pre, oy, ox, co);
      assert.ok(Math.abs(at(conv, oy, ox, co) - expected) < 1e-9, `conv1[${oy},${ox},${co}]`);
      const act = Math.min(Math.max(handBn(ref, 'conv1_bn', co, expected), 0), 6);
      assert.ok(Math.abs(at(relu, oy, ox, co) - act) < 1e-9, `conv1_relu[${oy},${ox},${co}]`);
    }
  }
});

test('constant image: conv1 is spatially constant away from the bottom/right border, which sees the zero pad', { skip }, async () => {
  const ref = await reference();
  const value = 200;
  const img = new Float32Array(224 * 224 * 3).fill(value);
  const conv = ref.layerOutput(img, 'conv1');
  const k = weight(ref, 'conv1/kernel:0');
  const x = value / 127.5 - 1;
  for (let co = 0; co < 8; co++) {
    let full = 0;
    let corner = 0; // output (111, 111): only ky, kx in {0, 1} land on the image
    for (let ky = 0; ky < 3; ky++) {
      for (let kx = 0; kx < 3; kx++) {
        for (let ci = 0; ci < 3; ci++) {
          const w = k.data[((ky * 3 + kx) * 3 + ci) * 8 + co];
          full += w * x;
          if (ky < 2 && kx < 2) corner += w * x;
        }
      }
    }
    // Top and left edges see no padding at all with TF 'same' on an even size.
    for (let oy = 0; oy < 111; oy++) {
      for (let ox = 0; ox < 111; ox++) assert.ok(Math.abs(at(conv, oy, ox, co) - full) < 1e-9, `conv1[${oy},${ox},${co}]`);
    }
    assert.ok(Math.abs(at(conv, 111, 111, co) - corner) < 1e-9);
  }
  // One block deeper the border differs again, but any two positions far from it see the same
  // inputs in the same order, so they are bitwise equal.
  const pw1 = ref.layerOutput(img, 'conv_pw_1_relu');
  for (let c = 0; c < pw1.channels; c++) assert.equal(at(pw1, 20, 30, c), at(pw1, 50, 60, c));
});

test('depthwise: stride 1 pads all sides, stride 2 pads only bottom/right (conv_pad_2)', { skip }, async () => {
  const ref = await reference();
  const img = randomImage(6);

  // Block 1, stride 1, 'same' on 112x112.
  const in1 = ref.layerOutput(img, 'conv1_relu');
  const dw1 = ref.layerOutput(img, 'conv_dw_1');
  const k1 = weight(ref, 'conv_dw_1/depthwise_kernel:0'); // [3, 3, 8, 1]
  assert.deepEqual([dw1.height, dw1.width, dw1.channels], [112, 112, 8]);
  for (const [oy, ox] of [[0, 0], [111, 111], [5, 77]]) {
    for (let c = 0; c < 8; c++) {
      let s = 0;
      for (let ky = 0; ky < 3; ky++) {
        for (let kx = 0; kx < 3; kx++) {
          const iy = oy - 1 + ky;
          const ix = ox - 1 + kx;
          if (iy < 0 || ix < 0 || iy >= 112 || ix >= 112) continue;
          s += at(in1, iy, ix, c) * k1.data[(ky * 3 + kx) * 8 + c];
        }
      }
      assert.ok(Math.abs(at(dw1, oy, ox, c) - s) < 1e-9, `conv_dw_1[${oy},${ox},${c}]`);
    }
  }

  // Block 2, stride 2: ZeroPadding2D(((0, 1), (0, 1))) to 113x113, then 'valid' -> 56x56.
  const in2 = ref.layerOutput(img, 'conv_pw_1_relu');
  const pad2 = ref.layerOutput(img, 'conv_pad_2');
  assert.deepEqual([pad2.height, pad2.width], [113, 113]);
  for (let c = 0; c < pad2.channels; c++) {
    assert.equal(at(pad2, 112, 40, c), 0);
    assert.equal(at(pad2, 40, 112, c), 0);
    assert.equal(at(pad2, 0, 0, c), at(in2, 0, 0, c));
  }
  const dw2 = ref.layerOutput(img, 'conv_dw_2');
  const k2 = weight(ref, 'conv_dw_2/depthwise_kernel:0');
  const c2 = in2.channels;
  assert.deepEqual([dw2.height, dw2.width, dw2.channels], [56, 56, c2]);
  for (const [oy, ox] of [[0, 0], [55, 55], [13, 40]]) {
    for (let c = 0; c < c2; c++) {
      let s = 0;
      for (let ky = 0; ky < 3; ky++) {
        for (let kx = 0; kx < 3; kx++) s += at(pad2, 2 * oy + ky, 2 * ox + kx, c) * k2.data[(ky * 3 + kx) * c2 + c];
      }
      assert.ok(Math.abs(at(dw2, oy, ox, c) - s) < 1e-9, `conv_dw_2[${oy},${ox},${c}]`);
    }
  }
});

test('pointwise conv_pw_13 + BN + ReLU6 recomputed by hand', { skip }, async () => {
  const ref = await reference();
  const img = randomImage(7);
  const dwRelu = ref.layerOutput(img, 'conv_dw_13_relu');
  const out = ref.layerOutput(img, 'conv_pw_13_relu');
  const k = weight(ref, 'conv_pw_13/kernel:0'); // [1, 1, 256, 256]
  for (const [y, x] of [[0, 0], [6, 6], [3, 2]]) {
    for (const co of [0, 17, 255]) {
      let s = 0;
      for (let ci = 0; ci < 256; ci++) s += at(dwRelu, y, x, ci) * k.data[ci * 256 + co];
      const expected = Math.min(Math.max(handBn(ref, 'conv_pw_13_bn', co, s), 0), 6);
      assert.ok(Math.abs(at(out, y, x, co) - expected) < 1e-9, `conv_pw_13_relu[${y},${x},${co}]`);
    }
  }
});

test('layer shapes follow Keras strides (blocks 2, 4, 6, 12) for 224 input', { skip }, async () => {
  const ref = await reference();
  const img = randomImage(8);
  const sizes: Record<string, number> = {
    conv_pw_1_relu: 112, conv_pw_2_relu: 56, conv_pw_3_relu: 56, conv_pw_4_relu: 28, conv_pw_5_relu: 28,
    conv_pw_6_relu: 14, conv_pw_11_relu: 14, conv_pw_12_relu: 7, conv_pw_13_relu: 7,
  };
  for (const [name, size] of Object.entries(sizes)) {
    const a = ref.layerOutput(img, name);
    assert.deepEqual([a.height, a.width], [size, size], name);
  }
  assert.throws(() => ref.layerOutput(img, 'no_such_layer'), /no layer named/);
  assert.throws(() => ref.features(new Float32Array(10)), /received 10/);
});
