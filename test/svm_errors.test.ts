/** Bad input to the SVM commands: each a clear ftk error (message names the file, suggestion says how to fix). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatasetError, FeaturesError, FtkError, NotFittedError, OptionsError } from '../src/errors.js';
import { encodeNpy } from '../src/formats/npy.js';
import { Rng } from '../src/data/random.js';
import { svmCrossValidate, svmFit, svmPredict } from '../src/classify/commands.js';
import { loadFeatures } from '../src/classify/features_io.js';
import { assertFitsHeap, maxPrecomputedSamples } from '../src/classify/libsvm.js';
import { SvmClassifier } from '../src/classify/svm.js';
import { SvmModelError } from '../src/formats/svm_model.js';

function writePair(dir: string, name: string, X: Float32Array, shape: [number, number], meta: Record<string, unknown>): string {
  const prefix = path.join(dir, name);
  writeFileSync(`${prefix}.npy`, encodeNpy(X, shape));
  writeFileSync(`${prefix}.json`, JSON.stringify(meta));
  return prefix;
}

function dataset(n: number, d: number, labels: number[], seed = 1): Float32Array {
  const rng = new Rng(seed);
  const X = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) X[i * d + j] = rng.normal() + (j === 0 ? 3 * labels[i] : 0);
  return X;
}

function meta(n: number, d: number, labels: number[], classes = ['cat', 'dog']): Record<string, unknown> {
  return { formatVersion: 1, files: labels.map((_, i) => `img${i}.jpg`), labels, classes, shape: [n, d] };
}

/** An FtkError of the class, whose message matches and which carries a suggestion. */
function clear(cls: new (...a: never[]) => FtkError, pattern: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(e.suggestion && e.suggestion.length > 10, `has a suggestion: ${e.message}`);
    return true;
  };
}

test('bad feature files: .json/.npy disagree, NaN/Inf rows, labels out of range, single class, missing file', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftk-svm-err-'));
  try {
    const labels = Array.from({ length: 20 }, (_, i) => i % 2);
    const X = dataset(20, 4, labels);
    const rows = writePair(dir, 'rows', X, [20, 4], { ...meta(20, 4, labels), shape: [21, 4], files: [...meta(21, 4, [...labels, 0]).files as string[]] });
    await assert.rejects(loadFeatures(rows), clear(FeaturesError, /rows\.npy and .*rows\.json disagree: the \.npy is \(20, 4\) but the \.json says shape \[21, 4\]/));
    const dims = writePair(dir, 'dims', X, [20, 4], { ...meta(20, 4, labels), shape: [20, 5] });
    await assert.rejects(svmFit(dims), clear(FeaturesError, /disagree: the \.npy is \(20, 4\) but the \.json says shape \[20, 5\]/));
    const nanX = X.slice();
    nanX[7 * 4 + 2] = Number.NaN;
    nanX[11 * 4] = Number.POSITIVE_INFINITY;
    const nan = writePair(dir, 'nan', nanX, [20, 4], meta(20, 4, labels));
    await assert.rejects(svmFit(nan), clear(FeaturesError, /nan\.npy: NaN or Infinity in rows 7 \(img7\.jpg\), 11 \(img11\.jpg\)/));
    const bad = writePair(dir, 'badlabel', X, [20, 4], meta(20, 4, labels.map((v, i) => (i === 5 ? 2 : v))));
    await assert.rejects(svmFit(bad), clear(FeaturesError, /label 2 of img5\.jpg is out of range: there are 2 classes/));
    const one = writePair(dir, 'one', X, [20, 4], meta(20, 4, labels.map(() => 1)));
    await assert.rejects(svmCrossValidate(one), clear(FeaturesError, /all 20 samples are of one class \(dog\)/));
    await assert.rejects(svmFit(path.join(dir, 'absent')), clear(FeaturesError, /absent\.npy cannot be read/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a class with fewer samples than folds, unknown and conflicting options', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftk-svm-err-'));
  try {
    const labels = [...Array.from({ length: 17 }, () => 0), 1, 1, 1];
    const prefix = writePair(dir, 'small', dataset(20, 4, labels), [20, 4], meta(20, 4, labels));
    await assert.rejects(svmCrossValidate(prefix, { folds: 5 }), clear(DatasetError, /Class 1 has 3 samples, fewer than the 5 folds/));
    await assert.rejects(svmFit(prefix, { grid: true, folds: 5 }), clear(DatasetError, /fewer than the 5 folds.*/));
    const cv = await svmCrossValidate(prefix, { folds: 3, workers: 1 });
    assert.equal(cv.foldAccuracies.length, 3, 'with --folds 3 it runs');
    await assert.rejects(svmFit(prefix, { colour: 'red' } as never), clear(OptionsError, /Unknown svm fit option 'colour'\. Allowed: kernel, C, gamma/));
    await assert.rejects(svmCrossValidate(prefix, { kernel: 'poly' } as never), (e: unknown) => e instanceof OptionsError && /kernel must be one of 'linear', 'rbf'\. Received kernel="poly"/.test(e.message));
    await assert.rejects(svmFit(prefix, { C: -1 }), (e: unknown) => e instanceof OptionsError && /C must be a positive number\. Received C=-1/.test(e.message));
    await assert.rejects(svmFit(prefix, { folds: 3 }), clear(OptionsError, /folds only apply with grid: true/));
    await assert.rejects(svmCrossValidate(prefix, { shuffle: false, seed: 3 }), clear(OptionsError, /seed has no effect without shuffling/));
    await assert.rejects(svmFit(prefix, { kernel: 'linear', gamma: 0.1 }), clear(OptionsError, /gamma has no effect with the linear kernel/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('estimator misuse: predict before fit, wrong dimension, no probability, bad model file, backbone mismatch', async () => {
  const clf = new SvmClassifier();
  assert.throws(() => clf.predict([[1, 2]]), clear(NotFittedError, /not fitted yet/));
  await assert.rejects(new SvmClassifier().fit([[1, 2], [3, 4]], [1, 1]), clear(DatasetError, /at least 2 classes; y has only the label 1/));
  await assert.rejects(new SvmClassifier().fit([[1, 2], [3, 4]], [0, 1, 1]), (e: unknown) => e instanceof DatasetError && /X has 2 samples, but y has 3/.test(e.message));
  await assert.rejects(new SvmClassifier().fit([[1, Number.NaN], [3, 4]], [0, 1]), clear(DatasetError, /row 0 contains NaN/));
  await new SvmClassifier({ kernel: 'linear', scaler: 'none' }).fit([[0, 0], [0, 1], [4, 4], [4, 5]], [0, 0, 1, 1]).then((m) => {
    assert.throws(() => m.predict([[1, 2, 3]]), clear(DatasetError, /X has 3 features, but this SVM was fitted on 2/));
    assert.throws(() => m.predictProba([[1, 2]]), clear(NotFittedError, /probability: true/));
    assert.deepEqual(m.predict([[0, 0.5], [4, 4.5]]), [0, 1]);
    m.dispose();
  });
  assert.throws(() => SvmClassifier.fromJSON({ format: 'libsvm' }, 'x.json'), clear(SvmModelError, /x\.json is not a valid ftk SVM model: format is "libsvm"/));

  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftk-svm-err-'));
  try {
    const labels = Array.from({ length: 30 }, (_, i) => i % 2);
    const bb = (fingerprint: string) => ({ name: 'mobilenet', alpha: 0.25, weightsSha256: 'x', weights: 'imagenet', layer: 'global_average_pooling2d', pooling: 'avg', preprocessing: 'tf', inputSize: 224, crop: 'squash', fingerprint });
    const train = writePair(dir, 'train', dataset(30, 4, labels), [30, 4], { ...meta(30, 4, labels), model: bb('aaaaaaaaaaaaaaaa') });
    const other = writePair(dir, 'other', dataset(30, 4, labels, 2), [30, 4], { ...meta(30, 4, labels), model: bb('bbbbbbbbbbbbbbbb') });
    const wide = writePair(dir, 'wide', dataset(30, 5, labels, 2), [30, 5], meta(30, 5, labels));
    const out = path.join(dir, 'model.json');
    await svmFit(train, { out });
    await assert.rejects(svmPredict(out, other), clear(FeaturesError, /extracted with mobilenet .*fingerprint bbbbbbbbbbbb.* but .*model\.json was trained on mobilenet .*fingerprint aaaaaaaaaaaa/));
    await assert.rejects(svmPredict(out, wide), clear(FeaturesError, /has 5 features per sample but .*model\.json expects 4/));
    writeFileSync(path.join(dir, 'broken.json'), '{"format": "ftk-svm-model"');
    await assert.rejects(svmPredict(path.join(dir, 'broken.json'), train), clear(SvmModelError, /not valid JSON/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('memory limit: refused with a suggestion before libsvm-js hits its 2 GiB heap', () => {
  const max = maxPrecomputedSamples(100);
  assert.ok(max > 9000 && max < 12000, `about 10,000 samples fit (${max})`);
  assert.doesNotThrow(() => assertFitsHeap(max, 100));
  assert.throws(() => assertFitsHeap(max + 1, 100), clear(DatasetError, /needs about 1\.\d\d GiB in libsvm-js's WebAssembly heap, which stops at 2 GiB/));
  assert.throws(() => assertFitsHeap(20000, 100), (e: unknown) => e instanceof DatasetError && /fine-tune/.test((e as DatasetError).suggestion ?? ''));
});

test('too many samples for the SVM: svm fit, svm cv and SvmClassifier.fit refuse up front, naming the file, with a suggestion', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftk-svm-err-'));
  try {
    const max = maxPrecomputedSamples(100);
    // Every training fold of a 5-fold grid search fits (0.8 n <= max), the final fit on all n does not:
    // without the up-front check the grid would run for minutes and then fail.
    const n = max + 1;
    const labels = Array.from({ length: n }, (_, i) => i % 2);
    const prefix = writePair(dir, 'big', dataset(n, 4, labels), [n, 4], meta(n, 4, labels));
    const started = performance.now();
    await assert.rejects(
      svmFit(prefix, { grid: true, workers: 1 }),
      clear(DatasetError, new RegExp(`big\\.npy: An SVM on ${n} training samples needs about .* GiB .* at most ${max} training samples fit`)),
    );
    assert.ok(performance.now() - started < 5000, `refused before the grid search (${(performance.now() - started).toFixed(0)} ms)`);
    // cv: the largest training fold is n - floor(n / k).
    const cvN = Math.ceil((max + 1) / 0.8) + 10;
    const cvLabels = Array.from({ length: cvN }, (_, i) => i % 2);
    const cvPrefix = writePair(dir, 'bigcv', dataset(cvN, 4, cvLabels), [cvN, 4], meta(cvN, 4, cvLabels));
    await assert.rejects(svmCrossValidate(`${cvPrefix}.npy`, { workers: 1 }), clear(DatasetError, /bigcv\.npy: An SVM on \d+ training samples/));
    const fitStarted = performance.now();
    await assert.rejects(new SvmClassifier().fit({ data: dataset(n, 4, labels), rows: n, cols: 4 }, labels), (e: unknown) => e instanceof DatasetError && e.code === 'SVM_HEAP_LIMIT' && /fine-tun/.test(e.suggestion ?? ''));
    assert.ok(performance.now() - fitStarted < 2000, 'SvmClassifier.fit refuses before the Gram matrix');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
