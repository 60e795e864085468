/**
 * The wasm training kernels (src/runtime/wasm_gradients.ts) against the cpu backend's: gradients
 * through Conv2D, DepthwiseConv2D and Dense layers agree within 1e-4, for the strides, paddings
 * and channel multipliers the zoo uses and a few it does not.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/runtime/backend.js';
import { registerWasmTrainingKernels, WASM_ACCELERATED_KERNELS, WASM_MISSING_GRADIENT_KERNELS } from '../src/runtime/wasm_gradients.js';
import { MobileNet } from '../src/models/mobilenet.js';
import { randomizeWeights } from '../src/models/random_weights.js';

await selectBackend({ backend: 'wasm' });
registerWasmTrainingKernels();
after(async () => {
  await selectBackend({ backend: 'wasm' });
});

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

/** Runs `f` on a backend and returns the data of its tensors. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await selectBackend({ backend });
  const ts = f();
  const out = await Promise.all(ts.map(async (t) => Float32Array.from((await t.data()) as Float32Array)));
  tf.dispose(ts);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

type ConvCase = { kind: 'conv' | 'depthwise'; x: [number, number, number, number]; filter: [number, number, number, number]; strides: number; pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]] };

const CASES: ConvCase[] = [
  { kind: 'conv', x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'valid' },
  { kind: 'conv', x: [2, 8, 8, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { kind: 'conv', x: [2, 10, 10, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'valid' },
  { kind: 'conv', x: [2, 7, 7, 5], filter: [1, 1, 5, 6], strides: 1, pad: 'same' },
  { kind: 'conv', x: [1, 10, 10, 2], filter: [5, 5, 2, 3], strides: 3, pad: 'same' },
  { kind: 'conv', x: [3, 7, 7, 3], filter: [2, 2, 3, 4], strides: 1, pad: 'valid' },
  { kind: 'conv', x: [1, 10, 10, 2], filter: [3, 3, 2, 3], strides: 1, pad: [[0, 0], [1, 0], [0, 2], [0, 0]] },
  { kind: 'depthwise', x: [2, 9, 9, 3], filter: [3, 3, 3, 1], strides: 2, pad: 'valid' },
  { kind: 'depthwise', x: [2, 8, 8, 3], filter: [3, 3, 3, 1], strides: 2, pad: 'same' },
  { kind: 'depthwise', x: [2, 10, 10, 3], filter: [3, 3, 3, 2], strides: 2, pad: 'valid' },
  { kind: 'depthwise', x: [2, 7, 7, 4], filter: [3, 3, 4, 2], strides: 1, pad: 'same' },
  { kind: 'depthwise', x: [1, 11, 11, 2], filter: [5, 5, 2, 3], strides: 3, pad: 'same' },
];

test('the three missing kernels are registered for wasm, idempotently', () => {
  for (const k of [...WASM_MISSING_GRADIENT_KERNELS, ...WASM_ACCELERATED_KERNELS]) assert.ok(tf.getKernel(k, 'wasm'), `${k} registered`);
  assert.deepEqual(registerWasmTrainingKernels(), { added: [], accelerated: [] });
});

for (const c of CASES) {
  const name = `${c.kind} x=[${c.x}] filter=[${c.filter}] stride ${c.strides} pad ${JSON.stringify(c.pad)}`;
  test(`wasm gradients match cpu within 1e-4: ${name}`, async () => {
    const x = values(c.x.reduce((a, b) => a * b, 1), 1);
    const w = values(c.filter.reduce((a, b) => a * b, 1), 2);
    const grads = () => {
      const X = tf.tensor(x, c.x) as tf.Tensor4D;
      const W = tf.tensor(w, c.filter) as tf.Tensor4D;
      const f = (a: tf.Tensor, b: tf.Tensor) => {
        const y = c.kind === 'conv' ? tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad) : tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad);
        // A loss that weights every output differently, so that any misplaced value shows.
        return tf.sum(tf.mul(y, tf.sin(tf.reshape(tf.range(0, y.size), y.shape))));
      };
      const g = tf.grads(f)([X, W]);
      tf.dispose([X, W]);
      return g;
    };
    const [cpuDx, cpuDw] = await on('cpu', grads);
    const [wasmDx, wasmDw] = await on('wasm', grads);
    assert.ok(maxAbsDiff(cpuDx, wasmDx) <= 1e-4, `dx differs by ${maxAbsDiff(cpuDx, wasmDx)}`);
    assert.ok(maxAbsDiff(cpuDw, wasmDw) <= 1e-4, `dfilter differs by ${maxAbsDiff(cpuDw, wasmDw)}`);
    assert.ok(Math.max(...cpuDw.map(Math.abs)) > 0.1, 'the gradient is not trivially zero');
  });
}

test('accelerated kernels (matMul with transposes, broadcast tile, 1x1 conv input gradient) match cpu within 1e-4', async () => {
  const a = values(6 * 5, 3);
  const b = values(6 * 4, 4);
  const run = () => {
    const A = tf.tensor2d(a, [6, 5]);
    const B = tf.tensor2d(b, [6, 4]);
    const out = [
      tf.matMul(A, B, true, false),
      tf.matMul(B, A.reshape([5, 6]), true, true),
      tf.matMul(tf.reshape(A, [2, 3, 5]), tf.reshape(tf.tensor(values(2 * 4 * 5, 5)), [2, 4, 5]), false, true),
      tf.tile(tf.tensor4d(values(3, 6), [1, 1, 1, 3]), [2, 4, 4, 1]),
      tf.conv2dTranspose(tf.tensor4d(values(2 * 4 * 4 * 6, 7), [2, 4, 4, 6]), tf.tensor4d(values(5 * 6, 8), [1, 1, 5, 6]), [2, 4, 4, 5], 1, 'same'),
      tf.tile(tf.tensor2d(values(6, 9), [2, 3]), [2, 3]), // not a broadcast: the original kernel
    ];
    tf.dispose([A, B]);
    return out;
  };
  const cpu = await on('cpu', run);
  const wasm = await on('wasm', run);
  cpu.forEach((c, i) => assert.ok(maxAbsDiff(c, wasm[i]) <= 1e-4, `output ${i} differs by ${maxAbsDiff(c, wasm[i])}`));
});

test('a MobileNet 0.25 training step: every weight gradient on wasm matches cpu within 1e-4', async () => {
  const build = () => {
    const m = MobileNet({ includeTop: false, alpha: 0.25, inputShape: [32, 32, 3], pooling: 'avg' });
    randomizeWeights(m, 3);
    return m;
  };
  const x = values(2 * 32 * 32 * 3, 11);
  const gradsOf = () => {
    const model = build();
    const X = tf.tensor4d(x, [2, 32, 32, 3]);
    // BatchNormalization in inference mode, as fine-tuning runs the base.
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(X, { training: false }) as tf.Tensor)) as tf.Scalar, model.trainableWeights.map((w) => w.read() as tf.Variable));
    const order = model.trainableWeights.map((w) => grads[(w.read() as tf.Variable).name]);
    X.dispose();
    model.dispose();
    return order;
  };
  const cpu = await on('cpu', gradsOf);
  const wasm = await on('wasm', gradsOf);
  assert.equal(cpu.length, wasm.length);
  assert.ok(cpu.length >= 27 * 2, 'conv, depthwise and BN weights all have gradients');
  let worst = 0;
  cpu.forEach((c, i) => (worst = Math.max(worst, maxAbsDiff(c, wasm[i]))));
  assert.ok(worst <= 1e-4, `largest gradient difference ${worst}`);
});
