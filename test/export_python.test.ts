/**
 * Exported ONNX classifiers against the ONNX Python package (Debian's python3-onnx): every file
 * passes `onnx.checker.check_model(full_check=True)` and strict shape inference, and an evaluator
 * independent of ONNX Runtime (bench/export/onnx_reference.py: the ONNX operator spec in NumPy;
 * Debian 12's ONNX 1.12 has no `onnx.reference`) gives the probabilities and labels ONNX Runtime
 * gives, within 1e-4, on a few images. Skipped where python3 with onnx and numpy is missing (CI
 * installs them: .ci/run).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { SvmClassifier } from '../src/classify/svm.js';
import { decodeImageRgb } from '../src/data/decode.js';
import { exportClassifier } from '../src/export/export.js';
import { extractFeatures } from '../src/extract/extract.js';
import { finetune } from '../src/finetune/finetune.js';
import { OnnxFileClassifier } from '../src/predict/onnx_file.js';
import { selectBackend } from '../src/runtime/backend.js';
import { tempHome } from './helpers/home.js';
import { requireInput } from './helpers/requires.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.resolve('bench/export/onnx_reference.py');
const probe = spawnSync(PYTHON, ['-c', 'import onnx, numpy; print(onnx.__version__)'], { encoding: 'utf8' });
const skip = requireInput('python3 with onnx and numpy (apt-get install -y python3-onnx python3-numpy)', probe.status === 0);

await selectBackend({ backend: 'wasm' });
const tmp = await tempHome('ftk-export-py-');

let s = 3;
const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
async function photo(file: string, base: number[], w: number, h: number): Promise<void> {
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) for (let k = 0; k < 3; k++) data[i * 3 + k] = Math.max(0, Math.min(255, base[k] + 50 * Math.sin(i / (7 + k)) + (rnd() - 0.5) * 140));
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
}
const COLOURS = [
  [50, 70, 200],
  [60, 190, 70],
  [200, 60, 50],
];
const data = path.join(tmp, 'data');
for (const [c, name] of ['blue', 'green', 'red'].entries()) for (let i = 0; i < 6; i++) await photo(path.join(data, name, `${i}.png`), COLOURS[c], 30 + 7 * i, 50 - 3 * i);
const images: string[] = [];
for (let i = 0; i < 4; i++) {
  images.push(path.join(tmp, 'photos', `${i}.png`));
  await photo(images[i], COLOURS[i % 3], 41 + 17 * i, 77 - 9 * i);
}
const backbone = { model: 'mobilenet', alpha: 0.25, weights: 'random', inputSize: 64 } as const;

async function checkFile(onnx: string): Promise<void> {
  const specs: string[] = [];
  const clf = await OnnxFileClassifier.load(onnx);
  const expected: { probabilities: Float32Array; label: number }[] = [];
  for (const [i, f] of images.entries()) {
    const rgb = await decodeImageRgb(f);
    const raw = path.join(tmp, `${path.basename(onnx)}-${i}.rgb`);
    await fsp.writeFile(raw, rgb.data);
    specs.push(`${raw}:${rgb.height}:${rgb.width}`);
    expected.push(await clf.run(rgb));
  }
  clf.dispose();
  const r = spawnSync(PYTHON, [SCRIPT, onnx, ...specs], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { checker: string; opset: Record<string, number>; results: { probabilities: number[]; label: number }[] };
  assert.equal(doc.checker, 'ok');
  assert.deepEqual(doc.opset, { '': 13 });
  let worst = 0;
  doc.results.forEach((res, i) => {
    assert.equal(res.label, expected[i].label, `image ${i}: same label in Python`);
    res.probabilities.forEach((p, k) => (worst = Math.max(worst, Math.abs(p - expected[i].probabilities[k]))));
  });
  assert.ok(worst <= 1e-4, `largest |p_python - p_ort| = ${worst}`);
  process.stderr.write(`${path.basename(onnx)}: onnx.checker ok; NumPy reference vs onnxruntime-node: largest difference ${worst.toExponential(2)}\n`);
}

test('SVM exports (RBF + Platt, 3 classes with coupling; linear + vote): onnx.checker and a NumPy evaluation agree with ONNX Runtime', { skip }, async () => {
  const r = await extractFeatures(data, { ...backbone, cache: false });
  const X = { data: r.features, rows: r.meta.shape[0], cols: r.meta.shape[1] };
  for (const [name, opts] of [
    ['rbf3', { kernel: 'rbf', C: 3, probability: true }],
    ['linear3', { kernel: 'linear', C: 1, scaler: 'l2' }],
  ] as const) {
    const clf = await new SvmClassifier(opts).fit(X, r.meta.labels);
    clf.classNames = r.meta.classes;
    clf.backbone = r.meta.model;
    const file = path.join(tmp, `${name}.json`);
    await fsp.writeFile(file, JSON.stringify(clf.toJSON()));
    clf.dispose();
    await exportClassifier(file, path.join(tmp, `${name}.onnx`));
    await checkFile(path.join(tmp, `${name}.onnx`));
  }
});

test('fine-tuned export (centre crop): onnx.checker and a NumPy evaluation agree with ONNX Runtime', { skip }, async () => {
  const out = path.join(tmp, 'finetuned');
  await finetune(data, { out, ...backbone, crop: 'center', headEpochs: 1, epochs: 1, freeze: 'all', lr: 0.01, batchSize: 6, cache: false } as never);
  await exportClassifier(out, path.join(tmp, 'finetuned.onnx'));
  await checkFile(path.join(tmp, 'finetuned.onnx'));
});
