/**
 * `ftk finetune` as a thin layer (argv -> typed context through a fake action), and the real
 * binary killed with SIGKILL mid-training then resumed: it continues from the checkpoint and ends
 * where the uninterrupted run ends.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { needSharedWeights, SHARED_H5 } from './helpers/requires.js';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { finetuneCommand, type FinetuneContext } from '../src/cli/commands/finetune.js';
import { checkpointPath, readCheckpoint } from '../src/finetune/checkpoint.js';
import { finetune } from '../src/finetune/finetune.js';
import { loadFinetunedLayersModel, readFinetunedMeta } from '../src/finetune/format.js';
import { selectBackend } from '../src/runtime/backend.js';
import { tempDir } from './helpers/images.js';
import { parseContext } from './helpers/parse.js';

const H5 = SHARED_H5;
/** The shared weights are needed here: a skip on a developer machine without them, a failure in CI. */
const noWeights = needSharedWeights();
await selectBackend({ backend: 'wasm' });
const { dir: tmp, cleanup } = await tempDir('ftk-finetune-cli-');
after(cleanup);
const env = { ...process.env, FTK_HOME: path.join(tmp, 'home'), FTK_DEV: '1' };

const parse = (argv: string[]) => parseContext<FinetuneContext>(finetuneCommand, ['finetune', ...argv]);

test('finetune flags parse into typed options with the documented defaults', async () => {
  const ctx = await parse(['data', '--out', 'm']);
  assert.equal(ctx.dataset, 'data');
  assert.equal(ctx.json, false);
  assert.deepEqual(
    { ...ctx.options },
    {
      out: 'm', model: 'mobilenet_v2', alpha: undefined, weights: 'imagenet', inputSize: undefined, crop: 'squash', freeze: undefined, lr: 0.001, epochs: 10, headEpochs: 10,
      batchSize: 32, augment: 'flip,rotate=0.05,translate=0.1,zoom=0.1', views: 4, viewsRefresh: 0, val: undefined, folds: undefined, seed: 0, patience: 3, dropout: 0.2,
      backend: 'auto', runtime: 'auto', cache: true, prefixCache: true, resume: false, overwrite: false, memoryBudgetMB: 512, workers: 'auto',
    },
  );
  const c = await parse(['d', '--out', 'o', '--model', 'mobilenet', '--alpha', '0.25', '--weights', 'none', '--freeze', '0.5', '--val', '0.25', '--no-cache', '--no-prefix-cache', '--resume', '--json', '--batch', '16']);
  assert.equal(c.options.freeze, 0.5);
  assert.equal(c.options.weights, 'none');
  assert.equal(c.options.val, 0.25);
  assert.equal(c.options.cache, false);
  assert.equal(c.options.prefixCache, false);
  assert.equal(c.options.resume, true);
  assert.equal(c.options.batchSize, 16);
  assert.equal(c.json, true);
  assert.equal((await parse(['d', '--out', 'o', '--freeze', '11'])).options.freeze, 11);
  assert.equal((await parse(['d', '--out', 'o', '--workers', '3'])).options.workers, 3);
  assert.equal((await parse(['d', '--out', 'o', '--workers', 'auto'])).options.workers, 'auto');
  assert.equal((await parse(['d', '--out', 'o', '--freeze', 'conv_pw_11_relu'])).options.freeze, 'conv_pw_11_relu');
  assert.equal((await parse(['d', '--out', 'o', '--freeze', 'all'])).options.freeze, 'all');
  assert.equal((await parse(['d', '--out', 'o', '--model', 'smallcnn'])).options.weights, 'none', 'smallcnn trains from scratch by default');
  assert.equal((await parse(['d', '--out', 'o', '--model', 'smallcnn', '--weights', 'pretrained-cnn'])).options.weights, 'pretrained-cnn');
});

test('invalid finetune flags are rejected with what is allowed', async () => {
  await assert.rejects(parse(['d']), /required option '--out <dir>'/);
  await assert.rejects(parse(['d', '--out', 'o', '--freeze', '1.5']), /--freeze as a fraction must be in \(0, 1\)/);
  await assert.rejects(parse(['d', '--out', 'o', '--batch', '0']), /--batch must be an integer >= 1/);
  await assert.rejects(parse(['d', '--out', 'o', '--workers', '0']), /--workers must be 'auto' or an integer >= 1; received "0"/);
  await assert.rejects(parse(['d', '--out', 'o', '--workers', 'many']), /--workers must be 'auto' or an integer >= 1; received "many"/);
  await assert.rejects(parse(['d', '--out', 'o', '--crop', 'fit']), /--crop must be one of \[squash, center\]/);
});

async function colourDataset(root: string): Promise<string> {
  let s = 5;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  for (const [c, base] of [['a', [200, 60, 50]], ['b', [50, 70, 200]]] as const) {
    await fsp.mkdir(path.join(root, c), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const data = Buffer.alloc(40 * 40 * 3);
      for (let p = 0; p < 1600; p++) for (let k = 0; k < 3; k++) data[p * 3 + k] = Math.max(0, Math.min(255, base[k] + (rnd() - 0.5) * 180));
      await sharp(data, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(path.join(root, c, `${i}.png`));
    }
  }
  return root;
}

test('ftk finetune killed with SIGKILL resumes from its checkpoint and ends where the uninterrupted run ends', { skip: noWeights }, async () => {
  const data = await colourDataset(path.join(tmp, 'data'));
  const flags = ['--model', 'mobilenet', '--alpha', '0.25', '--weights', H5, '--input-size', '64', '--freeze', '7', '--head-epochs', '2', '--epochs', '6', '--patience', '10', '--batch', '8', '--views', '2', '--backend', 'wasm'];
  const cache = path.join(tmp, 'cache.sqlite');
  // The uninterrupted run, in process.
  const reference = await finetune(data, { out: path.join(tmp, 'reference'), model: 'mobilenet', alpha: 0.25, weights: H5, inputSize: 64, freeze: 7, headEpochs: 2, epochs: 6, patience: 10, batchSize: 8, views: 2, cache });
  // The killed run: SIGKILL as soon as the first checkpoint of phase 2 is on disk.
  const out = path.join(tmp, 'killed');
  const child = spawn(process.execPath, [path.resolve('bin/ftk.js'), 'finetune', data, '--out', out, ...flags, '--cache-file', cache, '--json'], { env, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  let killedAt: number | undefined;
  for (let i = 0; i < 6000 && killedAt === undefined; i++) {
    await new Promise((r) => setTimeout(r, 20));
    if (existsSync(checkpointPath(out))) {
      try {
        const ckpt = await readCheckpoint<{ loop: { stage: number; epochsDone: number } }>(checkpointPath(out));
        if (ckpt.header.state.loop.stage === 1 && ckpt.header.state.loop.epochsDone >= 1) {
          child.kill('SIGKILL');
          killedAt = ckpt.header.state.loop.epochsDone;
        }
      } catch {
        // being renamed into place: try again
      }
    }
  }
  assert.equal(await exited, 'SIGKILL', 'the run was killed');
  assert.ok(killedAt !== undefined && killedAt < 6, `killed mid-phase-2 (after epoch ${killedAt})`);
  assert.ok(!existsSync(path.join(out, 'ftk.json')), 'no model was written by the killed run');
  const resumed = spawnSync(process.execPath, [path.resolve('bin/ftk.js'), 'finetune', data, '--out', out, ...flags, '--cache-file', cache, '--resume', '--json'], { env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /Resuming from the checkpoint: finetune, epoch \d+ done/);
  const result = JSON.parse(resumed.stdout);
  assert.match(result.stats.resumedFrom, /^finetune, epoch \d+$/);
  const meta = await readFinetunedMeta(out);
  assert.deepEqual(
    meta.history.map((h) => [h.stage, h.epoch]),
    reference.meta.history.map((h) => [h.stage, h.epoch]),
  );
  meta.history.forEach((h, i) => assert.equal(h.valLoss, reference.meta.history[i].valLoss, `epoch ${i}: ${h.valLoss} vs ${reference.meta.history[i].valLoss}`));
  const a = await loadFinetunedLayersModel(out, meta);
  const b = await loadFinetunedLayersModel(reference.out, reference.meta);
  let worst = 0;
  a.layers.forEach((layer, i) => layer.getWeights().forEach((w, k) => {
    const x = w.dataSync();
    const y = b.layers[i].getWeights()[k].dataSync();
    for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs(x[j] - y[j]));
  }));
  // Adam's bias-correction products are checkpointed too, so the resumed run continues bit for bit.
  assert.equal(worst, 0, `weights differ from the uninterrupted run by ${worst}`);
  a.dispose();
  b.dispose();
  assert.ok(!existsSync(checkpointPath(out)), 'checkpoint removed after the model is written');
});
