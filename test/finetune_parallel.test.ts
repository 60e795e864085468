/**
 * Data-parallel training on worker threads (src/finetune/parallel.ts): N workers follow the
 * 1-worker run (the main thread, the loop as before) within float rounding, a run is
 * deterministic for a given worker count, BatchNormalization's moving statistics are averaged over
 * the replicas, and a killed 2-worker run resumes exactly. Tiny 32-40 px colour images.
 *
 * Tolerance: the gradient of a batch is the sum of the shards' sums instead of one sum; float32
 * rounding of the order of additions (about 1e-7 relative) is all that differs. Adam normalises
 * steps, so a rounding difference in a near-zero gradient can move a weight by up to lr per step;
 * over a few steps the epoch losses stay within 1e-4 (measured: within 4e-6, see
 * bench/finetune/workers.jsonl for the 224 px runs).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { finetune, type FinetuneResult } from '../src/finetune/finetune.js';
import { checkpointPath } from '../src/finetune/checkpoint.js';
import { loadFinetunedLayersModel, readFinetunedMeta } from '../src/finetune/format.js';
import { FINETUNE_DEFAULTS, resolveFinetuneOptions, resolveWorkers, type FinetuneOptions } from '../src/finetune/options.js';
import { shardSizes } from '../src/finetune/parallel.js';
import { selectBackend } from '../src/runtime/backend.js';
import { tempDir } from './helpers/images.js';
import { requireInput } from './helpers/requires.js';

const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const LOSS_TOLERANCE = 1e-4;
await selectBackend({ backend: 'wasm' });
const { dir: tmp, cleanup } = await tempDir('ftk-parallel-');
after(cleanup);

/** 12 noisy images per class: class a reddish, class b bluish. */
async function colourDataset(root: string): Promise<string> {
  let s = 11;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const bases: Record<string, number[]> = { a: [200, 60, 50], b: [50, 70, 200] };
  for (const c of ['a', 'b']) {
    await fsp.mkdir(path.join(root, c), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const data = Buffer.alloc(40 * 40 * 3);
      for (let p = 0; p < 1600; p++) for (let k = 0; k < 3; k++) data[p * 3 + k] = Math.max(0, Math.min(255, bases[c][k] + (rnd() - 0.5) * 180));
      await sharp(data, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(path.join(root, c, `${i}.png`));
    }
  }
  return root;
}

const DATA = await colourDataset(path.join(tmp, 'colours'));
let runs = 0;
function opts(extra: Partial<FinetuneOptions>): FinetuneOptions {
  runs++;
  return { out: path.join(tmp, `out${runs}`), cache: path.join(tmp, `cache${runs}.sqlite`), batchSize: 8, seed: 3, ...extra };
}

/** Largest |a - b| over the epochs' training and validation losses; the histories have the same epochs. */
function worstLossDiff(a: FinetuneResult, b: FinetuneResult): number {
  assert.deepEqual(
    a.meta.history.map((h) => `${h.stage}/${h.epoch}`),
    b.meta.history.map((h) => `${h.stage}/${h.epoch}`),
  );
  let worst = 0;
  a.meta.history.forEach((h, i) => {
    const g = b.meta.history[i];
    worst = Math.max(worst, Math.abs(h.loss - g.loss), Math.abs((h.valLoss ?? 0) - (g.valLoss ?? 0)));
  });
  return worst;
}

async function layerWeights(dir: string, layer: string): Promise<Float32Array[]> {
  const model = await loadFinetunedLayersModel(dir, await readFinetunedMeta(dir));
  const out = model.getLayer(layer).getWeights().map((w) => Float32Array.from(w.dataSync() as Float32Array));
  model.dispose();
  return out;
}

test('shards: contiguous, sizes differ by at most one, the first ones larger', () => {
  assert.deepEqual(shardSizes(32, 2), [16, 16]);
  assert.deepEqual(shardSizes(7, 3), [3, 2, 2]);
  assert.deepEqual(shardSizes(1, 2), [1, 0]);
});

test("workers: 'auto' is one per core on wasm and cpu, never more than the batch; 1 on tensorflow; validated", () => {
  // One per core by default, since 2 workers were measured 1.78x / 1.87x faster on 2 idle cores (README, bench/RESULTS.md).
  assert.equal(FINETUNE_DEFAULTS.workers, 'auto');
  assert.equal(resolveWorkers('auto', 'wasm', 32, 2), 2);
  assert.equal(resolveWorkers('auto', 'cpu', 32, 16), 16);
  assert.equal(resolveWorkers('auto', 'wasm', 4, 16), 4);
  assert.equal(resolveWorkers('auto', 'tensorflow', 32, 16), 1);
  assert.equal(resolveWorkers(3, 'tensorflow', 32, 16), 3);
  assert.throws(() => resolveFinetuneOptions({ out: tmp, workers: 0 }), /workers must be 'auto' or an integer in \[1, 256\]\. Received workers=0/);
  assert.throws(() => resolveFinetuneOptions({ out: tmp, workers: 1.5 }), /Received workers=1.5/);
});

test('from scratch (smallcnn, dropout 0.5): 2 and 3 workers follow the 1-worker run; a worker count is deterministic', async () => {
  const base = { model: 'smallcnn', inputSize: 32, epochs: 3, patience: 10 } as const;
  const one = await finetune(DATA, opts({ ...base, workers: 1 }));
  const two = await finetune(DATA, opts({ ...base, workers: 2 }));
  const again = await finetune(DATA, opts({ ...base, workers: 2 }));
  const three = await finetune(DATA, opts({ ...base, workers: 3 }));
  assert.equal(one.stats.workers, 1);
  assert.equal(two.stats.workers, 2);
  assert.equal(two.meta.training.workers, 2);
  assert.ok(worstLossDiff(one, two) < LOSS_TOLERANCE, `2 workers: losses within ${worstLossDiff(one, two)}`);
  assert.ok(worstLossDiff(one, three) < LOSS_TOLERANCE, `3 workers: losses within ${worstLossDiff(one, three)}`);
  assert.equal(worstLossDiff(two, again), 0, 'the same worker count gives the same losses, bit for bit');
  assert.equal(one.meta.metrics.valAccuracy, two.meta.metrics.valAccuracy);
  const [w1, w2] = [await layerWeights(one.out, 'conv2d'), await layerWeights(two.out, 'conv2d')];
  let worst = 0;
  for (let i = 0; i < w1[0].length; i++) worst = Math.max(worst, Math.abs(w1[0][i] - w2[0][i]));
  // 3 epochs x 3 steps of Adam at lr 1e-3: rounding can move a weight by at most ~lr per step.
  assert.ok(worst < 9e-3, `conv2d kernels within ${worst}`);
});

test('fine-tuning (head, then the top at lr/10; MobileNet 0.25 weights): 2 workers follow the 1-worker run', { skip: requireInput('../shared/models/mobilenet_2_5_224_tf_no_top.h5', existsSync(H5)) }, async () => {
  const base = { model: 'mobilenet', alpha: 0.25, weights: H5, inputSize: 64, freeze: 11, headEpochs: 2, epochs: 2, views: 2 } as const;
  const one = await finetune(DATA, opts({ ...base, workers: 1 }));
  const two = await finetune(DATA, opts({ ...base, workers: 2 }));
  assert.ok(worstLossDiff(one, two) < LOSS_TOLERANCE, `losses within ${worstLossDiff(one, two)}`);
  assert.equal(one.meta.metrics.valAccuracy, two.meta.metrics.valAccuracy);
  // Frozen layers and their (inference-mode) BatchNormalization are untouched by either.
  assert.deepEqual(await layerWeights(two.out, 'conv_pw_11_bn'), await layerWeights(one.out, 'conv_pw_11_bn'));
});

test('BatchNormalization from scratch: per-shard batch statistics; moving means averaged over the shards equal the 1-worker update', async () => {
  // One step (batch = the 19 training images): both runs update the moving statistics from the
  // same weights and images; 2 workers see shards of 10 and 9.
  const base = { model: 'mobilenet', alpha: 0.25, weights: 'none', inputSize: 32, epochs: 1, batchSize: 19, augment: 'none' } as const;
  const one = await finetune(DATA, opts({ ...base, workers: 1 }));
  const two = await finetune(DATA, opts({ ...base, workers: 2 }));
  const [m1, v1] = (await layerWeights(one.out, 'conv1_bn')).slice(2);
  const [m2, v2] = (await layerWeights(two.out, 'conv1_bn')).slice(2);
  let meanDiff = 0;
  let moved = 0;
  for (let c = 0; c < m1.length; c++) {
    meanDiff = Math.max(meanDiff, Math.abs(m1[c] - m2[c]) / (Math.abs(m1[c]) + 1e-3));
    moved = Math.max(moved, Math.abs(m1[c]));
  }
  assert.ok(moved > 0, 'the moving means moved');
  assert.ok(meanDiff < 1e-4, `moving means within ${meanDiff} (relative)`);
  // The variance of the shards misses the spread between the shard means: close, not equal.
  let varDiff = 0;
  for (let c = 0; c < v1.length; c++) varDiff = Math.max(varDiff, Math.abs(v1[c] - v2[c]) / v1[c]);
  assert.ok(varDiff < 0.05, `moving variances within ${varDiff} (relative)`);
  assert.ok(varDiff > 0, 'per-shard statistics: the moving variances differ from the whole batch\'s');
});

test('a 2-worker run stopped after an epoch resumes from its checkpoint to the same result as an uninterrupted 2-worker run', async () => {
  const base = { model: 'smallcnn', inputSize: 32, epochs: 3, patience: 10, workers: 2 } as const;
  const whole = await finetune(DATA, opts(base));
  const o = opts(base);
  await assert.rejects(
    finetune(DATA, {
      ...o,
      onEpoch: (r) => {
        if (r.epoch === 2) throw new Error('stopped');
      },
    }),
    /stopped/,
  );
  assert.ok(existsSync(checkpointPath(o.out)), 'the checkpoint of epoch 1 is there');
  const resumed = await finetune(DATA, { ...o, resume: true });
  assert.equal(resumed.stats.resumedFrom, 'scratch, epoch 1');
  assert.equal(worstLossDiff(whole, resumed), 0, 'the same losses, bit for bit');
  assert.deepEqual(await layerWeights(resumed.out, 'conv2d'), await layerWeights(whole.out, 'conv2d'));
});
