/** The CLI as a thin layer: argv -> typed context (through a fake action), exit codes, and real runs of bin/ftk.js. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { bottleneckCommand, type ExtractContext } from '../src/cli/commands/bottleneck.js';
import { noiseRgb, tempDir, writeTree } from './helpers/images.js';
import { parseContext } from './helpers/parse.js';

const { dir: tmp, cleanup } = await tempDir('ftk-cli-');
after(cleanup);
const env = { ...process.env, FTK_HOME: path.join(tmp, 'home'), FTK_DEV: '1' };

function ftk(...args: string[]) {
  return spawnSync(process.execPath, [path.resolve('bin/ftk.js'), ...args], { env, encoding: 'utf8', timeout: 120_000 });
}

const parseExtract = (argv: string[]) => parseContext<ExtractContext>((action) => bottleneckCommand(action), ['bottleneck', 'extract', ...argv]);

test('bottleneck extract flags parse into typed options with the documented defaults', async () => {
  const ctx = await parseExtract(['data', '--out', 'f']);
  assert.equal(ctx.dataset, 'data');
  assert.equal(ctx.out, 'f');
  assert.equal(ctx.json, false);
  assert.deepEqual(
    { ...ctx.options },
    { model: 'mobilenet_v2', alpha: undefined, weights: 'imagenet', seed: 0, layer: undefined, pooling: 'avg', inputSize: undefined, crop: 'squash', tta: 'none', batchSize: undefined /* extractFeatures' default: 32 on the CPU, 64 on a GPU */, backend: 'auto', cache: true, maxInputPixels: undefined },
  );
  const custom = await parseExtract(['d', '--out', 'o', '--model', 'mobilenet', '--alpha', '0.25', '--weights', 'w.h5', '--pooling', 'max', '--input-size', '160', '--crop', 'center', '--batch-size', '8', '--backend', 'wasm', '--no-cache', '--json']);
  assert.equal(custom.options.alpha, 0.25);
  assert.equal(custom.options.inputSize, 160);
  assert.equal(custom.options.cache, false);
  assert.equal(custom.options.pooling, 'max');
  assert.equal(custom.json, true);
  assert.equal((await parseExtract(['d', '--out', 'o', '--tta', 'flip'])).options.tta, 'flip');
});

test('invalid flag values are rejected with the allowed values', async () => {
  await assert.rejects(parseExtract(['d', '--out', 'o', '--pooling', 'mean']), /--pooling must be one of \[avg, max, none\]; received "mean"/);
  await assert.rejects(parseExtract(['d', '--out', 'o', '--tta', 'mirror']), /--tta must be one of \[none, flip\]; received "mirror"/);
  await assert.rejects(parseExtract(['d', '--out', 'o', '--batch-size', '0']), /--batch-size must be an integer >= 1/);
  await assert.rejects(parseExtract(['d']), /required option '--out <prefix>'/);
});

test('ftk info --json reports the backend, threads and cache locations', () => {
  const r = ftk('info', '--json', '--backend', 'wasm');
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.backend, 'wasm');
  assert.equal(info.threads, 1);
  assert.equal(info.featureCache, path.join(tmp, 'home', 'cache', 'features.sqlite'));
  assert.equal(info.models.length, 6);
});

test('ftk bottleneck extract --json: one JSON document on stdout, skipped files on stderr, exit 0', async () => {
  const root = path.join(tmp, 'ds');
  await writeTree(root, {
    'a/1.jpg': await sharp(noiseRgb(64, 48, 1), { raw: { width: 64, height: 48, channels: 3 } }).jpeg().toBuffer(),
    'b/2.png': await sharp(noiseRgb(40, 40, 2), { raw: { width: 40, height: 40, channels: 3 } }).png().toBuffer(),
    'b/broken.jpg': '<html>not found</html>',
  });
  const out = path.join(tmp, 'feat');
  const r = ftk('bottleneck', 'extract', root, '--model', 'mobilenet', '--alpha', '0.25', '--weights', 'random', '--input-size', '64', '--backend', 'wasm', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.deepEqual(result.shape, [2, 256]);
  assert.deepEqual(result.classes, ['a', 'b']);
  assert.deepEqual(result.skipped, [{ file: 'b/broken.jpg', reason: 'not an image (looks like HTML)' }]);
  assert.match(r.stderr, /skipped b\/broken\.jpg: not an image/);
  assert.equal(result.stats.computed, 2);
});

test('errors: a missing dataset exits 1 with the message and a fix; an unknown command points to --help', () => {
  const r = ftk('bottleneck', 'extract', path.join(tmp, 'nope'), '--out', path.join(tmp, 'x'), '--weights', 'random', '--backend', 'wasm');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /ftk: error: .*nope/);
  assert.match(r.stderr, /fix: /);
  const u = ftk('extract');
  assert.notEqual(u.status, 0);
  assert.match(u.stderr, /unknown command 'extract'/);
  assert.match(u.stderr, /--help/);
});
