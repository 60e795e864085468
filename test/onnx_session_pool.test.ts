/**
 * OnnxSessionPool, extraction's engine: ONNX Runtime sessions on worker threads running several
 * batches at once, with batch buffers lent and handed back. Checked against `OnnxEngine` (one
 * session on the calling thread) on the same exported graph.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { MODELS } from '../src/models/registry.js';
import { selectBackend } from '../src/runtime/backend.js';
import { OnnxEngine } from '../src/runtime/onnx_engine.js';
import { exportOnnx } from '../src/runtime/onnx_export.js';
import { isPipelinedEngine, OnnxSessionPool } from '../src/runtime/onnx_session_pool.js';
import { seedWeights } from './helpers/foreign_models.js';

await selectBackend({ backend: 'wasm' });

const SIZE = 32;
const PIXELS = SIZE * SIZE * 3;
const model = MODELS.mobilenet.build({ includeTop: false, alpha: 0.25, inputShape: [SIZE, SIZE, 3], pooling: 'avg' });
seedWeights(model, 3);
const { bytes } = exportOnnx(model);

function batchOf(count: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count * PIXELS }, () => rng.next() * 2 - 1);
}

test('session pool: same features as one OnnxEngine session, for batches submitted faster than it runs them; buffers come back intact', async () => {
  const reference = await OnnxEngine.create(bytes, { threads: 1 });
  const pool = await OnnxSessionPool.create(bytes, { threads: 2 });
  try {
    assert.ok(isPipelinedEngine(pool));
    assert.equal(pool.parallel, 2);
    assert.equal(pool.outputDim, 256);
    assert.match(pool.name, /^onnxruntime-node \S+ cpu, 2 threads \(2 sessions x 1 thread\)$/);
    const batches = [5, 1, 8, 3, 8, 2].map((count, i) => ({ count, pixels: batchOf(count, 10 + i) }));
    const expected = await Promise.all(batches.map((b) => reference.run(b.pixels, b.count, SIZE, SIZE)));
    // Six at once on two sessions: four wait in the queue.
    const results = await Promise.all(batches.map((b) => pool.submit(b.pixels.slice().buffer, b.count, SIZE, SIZE)));
    results.forEach((r, i) => {
      assert.equal(r.features.length, batches[i].count * 256, `batch ${i} rows`);
      let maxDiff = 0;
      for (let j = 0; j < r.features.length; j++) maxDiff = Math.max(maxDiff, Math.abs(r.features[j] - expected[i][j]));
      assert.ok(maxDiff <= 1e-5, `batch ${i}: max diff ${maxDiff}`);
      assert.deepEqual(new Float32Array(r.buffer), batches[i].pixels, `batch ${i}: the lent buffer comes back with its pixels`);
    });
    // `run` (FeatureEngine) leaves the caller's array alone.
    const kept = batches[2].pixels.slice();
    const viaRun = await pool.run(batches[2].pixels, 8, SIZE, SIZE);
    assert.deepEqual(batches[2].pixels, kept);
    assert.deepEqual(viaRun, results[2].features);
  } finally {
    await pool.release();
    await reference.release();
  }
});

test('session pool: threads split over the sessions; bad options and a graph ORT rejects are clear errors; released pools refuse work', async () => {
  const three = await OnnxSessionPool.create(bytes, { threads: 3 });
  assert.equal(three.parallel, 2);
  assert.match(three.name, /cpu, 3 threads \(2 sessions x 2\+ threads\)$/);
  await three.release();
  const one = await OnnxSessionPool.create(bytes, { threads: 1 });
  assert.equal(one.parallel, 1);
  assert.match(one.name, /cpu, 1 thread$/);
  await one.release();
  await assert.rejects(one.submit((batchOf(1, 1).buffer as ArrayBuffer), 1, SIZE, SIZE), (e: Error & { code?: string }) => e.code === 'ENGINE_DISPOSED');
  await assert.rejects(OnnxSessionPool.create(bytes, { threads: 0 }), (e: Error & { code?: string }) => e.code === 'OPTIONS_THREADS');
  await assert.rejects(OnnxSessionPool.create(bytes, { threads: 2, sessions: 3 }), (e: Error & { code?: string }) => e.code === 'OPTIONS_THREADS' && /from 1 to threads \(2\)/.test(e.message));
  await assert.rejects(
    OnnxSessionPool.create(new Uint8Array([1, 2, 3, 4]), { threads: 2 }),
    (e: Error & { code?: string }) => e.code === 'ONNX_SESSION' && /ONNX Runtime rejected the graph/.test(e.message),
  );
  const pool = await OnnxSessionPool.create(bytes, { threads: 2 });
  const wrong = pool.submit((batchOf(2, 2).buffer as ArrayBuffer), 2, SIZE + 1, SIZE); // not the graph's input size
  await assert.rejects(wrong, (e: Error) => e.message.length > 0);
  const after = await pool.submit((batchOf(2, 3).buffer as ArrayBuffer), 2, SIZE, SIZE); // the session still works
  assert.equal(after.features.length, 2 * 256);
  await pool.release();
});
