/**
 * Does TF.js wasm compute scale over 2 threads on this machine right now, independently of ftk's
 * data-parallel code? The same 3x3 conv2d forward + backward loop (14x14x96, the size of
 * MobileNetV2's late blocks) on batch 32 in one worker thread, then on batch 16 in each of two
 * worker threads at once, then on batch 16 alone (is a half batch less efficient per image?).
 * Not a test. Appends one JSON line per round to bench/finetune/wasm_threads.jsonl.
 *
 *   npx tsx bench/finetune/wasm_threads.ts
 */
import { appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
const code = `
import('tsx/esm/api').then(async (m) => { m.register();
const tf = await import('@tensorflow/tfjs');
await import('@tensorflow/tfjs-backend-wasm');
await tf.setBackend('wasm'); await tf.ready();
const { registerWasmTrainingKernels } = await import(${JSON.stringify(new URL('../../src/runtime/wasm_gradients.ts', import.meta.url).href)});
registerWasmTrainingKernels();
const { parentPort, workerData } = await import('node:worker_threads');
const x = tf.randomNormal([workerData.batch, 14, 14, 96]);
const w = tf.variable(tf.randomNormal([3, 3, 96, 96]));
const step = () => tf.tidy(() => { const g = tf.variableGrads(() => tf.sum(tf.relu(tf.conv2d(tf.relu(tf.conv2d(x, w, 1, 'same')), w, 1, 'same'))), [w]); return g.grads; });
for (let i = 0; i < 3; i++) tf.dispose(step());
const t = performance.now();
for (let i = 0; i < workerData.iters; i++) { const g = step(); await g[w.name].data(); tf.dispose(g); }
parentPort.postMessage(performance.now() - t);
});`;
const run = (n: number, batch: number, iters: number) => { const t = performance.now(); return Promise.all(Array.from({ length: n }, () => new Promise<number>((res) => { const wk = new Worker(code, { eval: true, workerData: { batch, iters } }); wk.once('message', (m) => { res(m); void wk.terminate(); }); }))).then((ms) => ({ ms, wall: performance.now() - t })); };
for (let r = 0; r < 2; r++) {
  const one = await run(1, 32, 10);
  const two = await run(2, 16, 10);
  console.log(`1 thread batch 32: ${one.ms.map((m) => m.toFixed(0))} ms; 2 threads batch 16 each at once: ${two.ms.map((m) => m.toFixed(0))} ms; speed-up ${(one.ms[0] / Math.max(...two.ms)).toFixed(2)}x`);
  const half = await run(1, 16, 10);
  console.log(`  1 thread batch 16 alone: ${half.ms[0].toFixed(0)} ms (per-image cost at 16 vs 32: ${((half.ms[0] / 16) / (one.ms[0] / 32)).toFixed(2)}x)`);
  const record = { date: new Date().toISOString(), round: r, oneThreadBatch32Ms: one.ms[0], twoThreadsBatch16Ms: two.ms, oneThreadBatch16Ms: half.ms[0], speedup: one.ms[0] / Math.max(...two.ms), perImage16vs32: half.ms[0] / 16 / (one.ms[0] / 32), loadavg: os.loadavg(), cpus: os.availableParallelism(), node: process.version };
  appendFileSync(path.resolve('bench/finetune/wasm_threads.jsonl'), JSON.stringify(record) + '\n');
}
