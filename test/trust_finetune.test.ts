/**
 * Fine-tuned path of the calibration: `finetune()` fits a temperature on its validation split and
 * saves it in ftk.json; `ftk predict` applies it. smallcnn from scratch on noisy colour images
 * (no weights needed).
 */
import assert from 'node:assert/strict';
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { finetune } from '../src/finetune/finetune.js';
import { predict, type ImagePrediction } from '../src/predict/predict.js';
import { selectBackend } from '../src/runtime/backend.js';
import { applyCalibration } from '../src/trust/calibrate.js';
import { tempDir } from './helpers/images.js';

await selectBackend({ backend: 'wasm' });
const { dir: tmp, cleanup } = await tempDir('ftk-trust-ft-');
after(cleanup);

let s = 3;
const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
const bases: Record<string, number[]> = { a: [170, 90, 80], b: [80, 90, 170] };
for (const c of Object.keys(bases)) {
  await fsp.mkdir(path.join(tmp, 'data', c), { recursive: true });
  for (let i = 0; i < 30; i++) {
    const data = Buffer.alloc(24 * 24 * 3);
    for (let p = 0; p < 24 * 24; p++) for (let k = 0; k < 3; k++) data[p * 3 + k] = Math.max(0, Math.min(255, bases[c][k] + (rnd() - 0.5) * 250));
    await sharp(data, { raw: { width: 24, height: 24, channels: 3 } }).png().toFile(path.join(tmp, 'data', c, `${i}.png`));
  }
}

test('finetune saves a temperature fitted on its validation split; predict applies it', async () => {
  const notices: string[] = [];
  const out = path.join(tmp, 'model');
  const r = await finetune(path.join(tmp, 'data'), { out, model: 'smallcnn', inputSize: 32, epochs: 3, batchSize: 8, val: 0.4, seed: 1, cache: false, onNotice: (m) => notices.push(m) });
  const cal = r.meta.calibration!;
  assert.ok(cal, 'a calibration with 24 validation images');
  assert.equal(cal.fittedOn, 'validation');
  assert.equal(cal.before.samples, 24);
  assert.ok(cal.after.nll <= cal.before.nll + 1e-12);
  assert.ok(notices.some((m) => /^Calibration on the 24 validation images/.test(m)), notices.join('\n'));
  const saved = JSON.parse(readFileSync(path.join(out, 'ftk.json'), 'utf8'));
  assert.deepEqual(saved.calibration, JSON.parse(JSON.stringify(cal)));
  // predict = the raw softmax (ftk.json without the field) through the saved temperature.
  const images = [path.join(tmp, 'data', 'a', '0.png'), path.join(tmp, 'data', 'b', '0.png')];
  const calibrated = (await predict(out, images)).predictions as ImagePrediction[];
  delete saved.calibration;
  await fsp.writeFile(path.join(out, 'ftk.json'), JSON.stringify(saved));
  const raw = (await predict(out, images)).predictions as ImagePrediction[];
  raw.forEach((p, i) => {
    const expected = applyCalibration(cal, [[p.probabilities.a, p.probabilities.b]])[0];
    assert.ok(Math.abs(calibrated[i].probabilities.a - expected[0]) < 1e-5);
    // The detector (test/trust_finetune_unknown.test.ts) scores every image; the images are training images here.
    assert.equal(typeof calibrated[i].unknownScore, 'number');
    assert.equal(calibrated[i].unknown, calibrated[i].unknownScore! > calibrated[i].unknownThreshold!);
  });
});
