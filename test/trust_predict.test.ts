/**
 * The trust fields end to end on images: `svmFit` saves a calibration and an unknown detector,
 * `predict()` / `ftk predict --json` mark unknown images (schema with and without unknowns,
 * `--no-unknown`), and `suggest()` writes its CSV and contact sheet. Backbone: MobileNet 0.25 with
 * random weights (no download, no ../shared needed).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { svmFit } from '../src/classify/commands.js';
import { needSharedWeights, SHARED_H5 } from './helpers/requires.js';
import type { SvmModelJson } from '../src/formats/svm_model.js';
import { extractFeatures } from '../src/extract/extract.js';
import { writeFeatures } from '../src/extract/features_file.js';
import { predict, type ImagePrediction } from '../src/predict/predict.js';
import { suggest } from '../src/predict/suggest.js';
import { predictCommand, predictionsJson, type PredictContext } from '../src/cli/commands/predict.js';
import { suggestCommand, type SuggestContext } from '../src/cli/commands/suggest.js';
import { selectBackend } from '../src/runtime/backend.js';
import { tempHome } from './helpers/home.js';

await selectBackend({ backend: 'wasm' });
const tmp = await tempHome('ftk-trust-');

let s = 5;
const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
async function colourImage(file: string, base: number[], size = 40): Promise<void> {
  const data = Buffer.alloc(size * size * 3);
  for (let p = 0; p < size * size; p++) for (let k = 0; k < 3; k++) data[p * 3 + k] = Math.max(0, Math.min(255, base[k] + (rnd() - 0.5) * 120));
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await sharp(data, { raw: { width: size, height: size, channels: 3 } }).png().toFile(file);
}
const data = path.join(tmp, 'data');
for (let i = 0; i < 10; i++) {
  await colourImage(path.join(data, 'blue', `${i}.png`), [40, 60, 210]);
  await colourImage(path.join(data, 'red', `${i}.png`), [210, 50, 40]);
}
const fresh = path.join(tmp, 'fresh');
await colourImage(path.join(fresh, 'a-red.png'), [205, 55, 45]);
await colourImage(path.join(fresh, 'b-blue.png'), [45, 65, 205]);
await colourImage(path.join(fresh, 'c-purple.png'), [128, 55, 128]);
await fsp.writeFile(path.join(fresh, 'd-broken.png'), 'not an image');

// Real ImageNet weights when the shared file is here: random-weight MobileNet features barely vary
// between images, so an SVM on them is noise, and its Platt sigmoid can come out inverted (then the
// model keeps no probabilities, and suggest, which ranks by them, refuses it).
const weights = existsSync(SHARED_H5) ? SHARED_H5 : 'random';
const extractOptions = { model: 'mobilenet', alpha: 0.25, weights, inputSize: 64, cache: false, decodeWorkers: 0 } as const;
const extracted = await extractFeatures(data, extractOptions);
const prefix = path.join(tmp, 'features');
await writeFeatures(prefix, extracted.features, extracted.meta);
const MODEL = path.join(tmp, 'svm.json');
const stages: string[] = [];
const fitted = await svmFit(prefix, { kernel: 'linear', C: 1, probability: true, out: MODEL, onStage: (m) => stages.push(m) });

test('svm fit saves a calibration (out-of-fold, 15 bins) and an unknown detector (knn, 5% rate) as plain JSON fields', () => {
  const json = JSON.parse(readFileSync(MODEL, 'utf8'));
  assert.equal(json.calibration.fittedOn, 'out-of-fold');
  assert.equal(json.calibration.before.bins, 15);
  assert.equal(json.calibration.before.samples, 20);
  assert.ok(['temperature', 'none'].includes(json.calibration.method));
  assert.equal(json.unknown.format, 'ftk-unknown-detector');
  assert.equal(json.unknown.method, 'knn');
  assert.equal(json.unknown.rate, 0.05);
  assert.equal(json.unknown.thresholdFrom, 'out-of-fold');
  assert.ok(Number.isFinite(json.unknown.threshold));
  assert.ok(stages.some((m) => /^Calibration: /.test(m)) && stages.some((m) => /^Unknown detector: knn/.test(m)), stages.join('\n'));
  assert.deepEqual((fitted.json as SvmModelJson).unknown, json.unknown);
});

test('svm fit options: --no-unknown / --no-calibrate leave the fields out; a rate without the detector is a conflict', async () => {
  const plain = await svmFit(prefix, { kernel: 'linear', C: 1, probability: true, unknown: false, calibrate: false });
  assert.equal((plain.json as SvmModelJson).unknown, undefined);
  assert.equal((plain.json as SvmModelJson).calibration, undefined);
  const noProb = await svmFit(prefix, { kernel: 'linear', C: 1 });
  assert.equal((noProb.json as SvmModelJson).calibration, undefined, 'no probabilities, nothing to calibrate');
  assert.ok((noProb.json as SvmModelJson).unknown);
  await assert.rejects(svmFit(prefix, { unknown: false, unknownRate: 0.1 }), { code: 'OPTIONS_CONFLICT' });
  await assert.rejects(svmFit(prefix, { unknownRate: 1.5 }), (e: Error) => /unknownRate/.test(e.message));
});

test('predict: every prediction has unknown (boolean), unknownScore and unknownThreshold; an unknown one has label null', async () => {
  const r = await predict(MODEL, [fresh]);
  const ok = r.predictions.filter((p): p is ImagePrediction => !('error' in p));
  assert.equal(ok.length, 3);
  assert.equal(r.predictions.length, 4, 'the broken file is listed with its error');
  for (const p of ok) {
    assert.equal(typeof p.unknown, 'boolean');
    assert.equal(typeof p.unknownScore, 'number');
    assert.equal(typeof p.unknownThreshold, 'number');
    assert.equal(p.unknown, p.unknownScore! > p.unknownThreshold!);
    assert.equal(p.label === null, p.unknown);
  }
  // Move the saved threshold between the scores: the images above it become unknown.
  const scores = ok.map((p) => p.unknownScore!).sort((a, b) => a - b);
  const json = JSON.parse(readFileSync(MODEL, 'utf8'));
  json.unknown.threshold = (scores[1] + scores[2]) / 2;
  const moved = path.join(tmp, 'svm-moved.json');
  await fsp.writeFile(moved, JSON.stringify(json));
  const r2 = await predict(moved, [fresh]);
  const ok2 = r2.predictions.filter((p): p is ImagePrediction => !('error' in p));
  assert.deepEqual(ok2.map((p) => p.unknown).filter(Boolean).length, 1);
  const unknown = ok2.find((p) => p.unknown)!;
  assert.equal(unknown.label, null);
  assert.equal(unknown.unknownScore, scores[2]);
  assert.ok(ok2.filter((p) => !p.unknown).every((p) => typeof p.label === 'string'));
  // The --json document carries the same fields.
  const doc = predictionsJson(r2);
  const u = doc.predictions.find((d) => d.unknown === true)!;
  assert.deepEqual(Object.keys(u), ['file', 'label', 'labelIndex', 'unknown', 'unknownScore', 'unknownThreshold', 'probabilities']);
  assert.equal(u.label, null);
  assert.equal(u.labelIndex, null);
  assert.ok(doc.failed.length >= 1 && doc.failed.every((d) => Object.keys(d).join() === 'file,error'));
  // With the check off: no score, never unknown, always a label.
  const off = await predict(moved, [fresh], { unknown: false });
  for (const p of off.predictions.filter((q): q is ImagePrediction => !('error' in q))) {
    assert.equal(p.unknown, false);
    assert.equal(p.unknownScore, undefined);
    assert.equal(typeof p.label, 'string');
  }
  const offDoc = predictionsJson(off);
  assert.deepEqual(Object.keys(offDoc.predictions[0]), ['file', 'label', 'labelIndex', 'unknown', 'probabilities']);
});

test('ftk predict --no-unknown reaches the options; without it the check is on', async () => {
  const seen: PredictContext[] = [];
  const fake = async (ctx: PredictContext) => (seen.push(ctx), 0);
  await predictCommand(fake).parseAsync(['node', 'predict', MODEL, 'x.png', '--no-unknown']);
  await predictCommand(fake).parseAsync(['node', 'predict', MODEL, 'x.png']);
  assert.equal(seen[0].options.unknown, false);
  assert.equal(seen[1].options.unknown, undefined);
});

test('suggest: ranks the fresh images, writes CSV and contact sheet, seeded and without duplicates', { skip: needSharedWeights() }, async () => {
  const out = path.join(tmp, 'sugg');
  await fsp.copyFile(path.join(fresh, 'a-red.png'), path.join(fresh, 'e-copy-of-a.png'));
  const r = await suggest(MODEL, [fresh], { n: 10, out, includeUnknown: true });
  assert.equal(r.duplicates, 1);
  assert.equal(r.picks.length, 3);
  assert.equal(new Set(r.picks.map((p) => p.file)).size, 3);
  assert.deepEqual(r.picks.map((p) => p.rank), [1, 2, 3]);
  assert.ok(r.skipped.some((x) => /d-broken/.test(x.file)));
  const csv = readFileSync(r.files!.csv, 'utf8').trim().split('\n');
  assert.equal(csv[0], 'rank,file,predicted,confidence,uncertainty,novelty,score,unknown_score');
  assert.equal(csv.length, 4);
  const html = readFileSync(r.files!.html, 'utf8');
  assert.equal((html.match(/<img src="data:image\/jpeg;base64,/g) ?? []).length, 3);
  const again = await suggest(MODEL, [fresh], { n: 10, includeUnknown: true });
  assert.deepEqual(again.picks.map((p) => p.file), r.picks.map((p) => p.file));
  assert.match(r.expectation, /should currently get about/);
  await fsp.rm(path.join(fresh, 'e-copy-of-a.png'));
});

test('ftk suggest parses its flags into the typed context', async () => {
  const seen: SuggestContext[] = [];
  await suggestCommand(async (ctx) => (seen.push(ctx), 0)).parseAsync(['node', 'suggest', 'run', 'photos/', '--n', '25', '--seed', '3', '--diversity', '0.5', '--include-unknown', '--out', 'o', '--json']);
  assert.deepEqual(seen[0], { model: 'run', inputs: ['photos/'], json: true, options: { out: 'o', n: 25, seed: 3, diversity: 0.5, includeUnknown: true } });
  await suggestCommand(async (ctx) => (seen.push(ctx), 0)).parseAsync(['node', 'suggest', 'run', 'photos/']);
  assert.deepEqual(seen[1].options, { out: 'suggestions' }, 'defaults stay in the library (SUGGEST_DEFAULTS)');
});

test('suggest refuses a model without probabilities, naming the fix', async () => {
  const noProb = path.join(tmp, 'noprob.json');
  await svmFit(prefix, { kernel: 'linear', C: 1, out: noProb });
  await assert.rejects(suggest(noProb, [fresh]), (e: Error & { suggestion?: string }) => /probability/.test(e.message) && /--probability/.test(e.suggestion ?? ''));
});
