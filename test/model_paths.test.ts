/**
 * Model and bundle files name their parts by paths relative to themselves: a crafted file whose
 * paths point elsewhere (`../secret`, `/etc/passwd`) is refused before anything is read, so it
 * cannot make ftk load other files on the disk as weights; and content libvips would render though
 * ftk does not read it (gzip-compressed SVG) is refused before libvips sees it (SECURITY.md).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { autoBundleFormat } from '../src/predict/bundle.js';
import { FtkError, WeightsError } from '../src/errors.js';
import { loadFinetunedLayersModel, type FinetunedModelMeta } from '../src/finetune/format.js';
import { readTfjsLayersWeights, weightsSha256 } from '../src/models/weights.js';
import { resolveInside } from '../src/runtime/safe_path.js';
import { tempDir } from './helpers/images.js';

const { dir: tmp, cleanup } = await tempDir('ftk-model-paths-');
after(cleanup);

test('resolveInside keeps relative paths inside the folder and refuses the rest', () => {
  assert.equal(resolveInside('/m', 'w.bin'), path.resolve('/m/w.bin'));
  assert.equal(resolveInside('/m', 'shards/w.bin'), path.resolve('/m/shards/w.bin'));
  assert.equal(resolveInside('/m', 'shards/../w.bin'), path.resolve('/m/w.bin'));
  for (const bad of ['../w.bin', 'a/../../w.bin', '/etc/passwd', 'C:\\x\\w.bin', '', '.']) assert.equal(resolveInside('/m', bad), undefined, bad);
});

test('a TF.js model.json whose weight shard lies outside its folder is refused, naming the file and the shard', async () => {
  const dir = path.join(tmp, 'tfjs');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(tmp, 'secret.bin'), Buffer.alloc(16));
  const modelJson = path.join(dir, 'model.json');
  await writeFile(modelJson, JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../secret.bin'], weights: [{ name: 'dense/kernel', shape: [2, 2], dtype: 'float32' }] }] }));
  const refused = (e: unknown) => e instanceof WeightsError && e.code === 'WEIGHTS_SHARD_OUTSIDE' && e.message.includes('../secret.bin') && e.message.includes(modelJson);
  await assert.rejects(readTfjsLayersWeights(modelJson), refused);
  await assert.rejects(weightsSha256(modelJson), refused);
});

test('a fine-tuned model folder or an auto bundle naming files outside itself is refused', async () => {
  const dir = path.join(tmp, 'finetuned');
  await mkdir(dir, { recursive: true });
  const meta = { classes: ['a', 'b'], files: { model: '../../model.json', weights: 'weights.bin' } } as unknown as FinetunedModelMeta;
  await assert.rejects(loadFinetunedLayersModel(dir, meta), (e: unknown) => e instanceof FtkError && /outside the folder/.test(e.message));
  await writeFile(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['/etc/passwd'], weights: [] }] }));
  await assert.rejects(loadFinetunedLayersModel(dir, { ...meta, files: { model: 'model.json', weights: 'weights.bin' } }), (e: unknown) => e instanceof FtkError && /'\/etc\/passwd', outside the folder/.test(e.message));

  const bundle = path.join(tmp, 'bundle');
  await mkdir(bundle, { recursive: true });
  await writeFile(path.join(bundle, 'ftk.json'), JSON.stringify({ classifier: '../elsewhere/svm.json' }));
  let loaded = false;
  const format = autoBundleFormat(async () => {
    loaded = true;
    throw new Error('not reached');
  });
  await assert.rejects(format.load(bundle), (e: unknown) => e instanceof FtkError && e.code === 'BUNDLE_INVALID');
  assert.equal(loaded, false, 'nothing outside the bundle was loaded');
});

test('a gzip-compressed SVG (.svgz, under any name) is refused before libvips would render it', async () => {
  const { gzipSync } = await import('node:zlib');
  const { decodeImage, ImageDecodeError } = await import('../src/data/decode.js');
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>');
  const file = path.join(tmp, 'photo.jpg');
  await writeFile(file, gzipSync(svg));
  await assert.rejects(decodeImage(file, { size: 8 }), (e: unknown) => e instanceof ImageDecodeError && e.reason === 'unsupported format (gzip-compressed, e.g. SVGZ)');
  await assert.rejects(decodeImage(gzipSync(svg), { size: 8 }), (e: unknown) => e instanceof ImageDecodeError && /SVGZ/.test(e.reason));
});
