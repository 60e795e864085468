import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/data/random.js';
import { encodeNpy } from '../src/formats/npy.js';
import { SvmClassifier } from '../src/classify/svm.js';

const child = fileURLToPath(new URL('./fixtures/svm/predict_child.ts', import.meta.url));

test('save/load round trip: >1000 support vectors in 1280 dims predict identically in a fresh process', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftk-svm-persist-'));
  try {
    const rng = new Rng(2024);
    const n = 1300;
    const d = 1280;
    const k = 4;
    // Weakly separated classes: almost every training sample becomes a support vector.
    const centers = Array.from({ length: k }, () => Float32Array.from({ length: d }, () => rng.normal() * 0.08));
    const make = (count: number) => {
      const X = new Float32Array(count * d);
      const y = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const c = i % k;
        y[i] = c;
        for (let j = 0; j < d; j++) X[i * d + j] = Math.max(0, centers[c][j] + rng.normal());
      }
      return { X, y };
    };
    const train = make(n);
    const test = make(200);
    const clf = await new SvmClassifier({ C: 1, probability: true, seed: 3 }).fit({ data: train.X, rows: n, cols: d }, train.y);
    const l = clf.support_!.length;
    assert.ok(l > 1000, `more than 1000 support vectors (got ${l})`);
    const Xt = { data: test.X, rows: 200, cols: d };
    const expected = {
      predict: clf.predict(Xt),
      decision: clf.decisionFunction(Xt, { shape: 'ovo' }).map((r) => Array.from(r)),
      proba: clf.predictProba(Xt).map((r) => Array.from(r)),
      nSupport: l,
    };
    const modelPath = path.join(dir, 'model.json');
    writeFileSync(modelPath, JSON.stringify(clf.toJSON()));
    clf.dispose();
    const mb = readFileSync(modelPath).length / 1e6;
    assert.ok(mb > 1, `the model file is over 1 MB (${mb.toFixed(1)} MB), the size where libsvm-js SVM.load breaks`);
    writeFileSync(path.join(dir, 'X.npy'), encodeNpy(test.X, [200, d]));
    const outPath = path.join(dir, 'out.json');
    execFileSync(process.execPath, ['--import', import.meta.resolve('tsx'), child, modelPath, path.join(dir, 'X.npy'), outPath], { stdio: 'pipe' });
    const got = JSON.parse(readFileSync(outPath, 'utf8')) as typeof expected;
    assert.equal(got.nSupport, l);
    const want = JSON.parse(JSON.stringify(expected)) as typeof expected; // as the child serialises them
    assert.deepEqual(got.predict, want.predict, "identical predictions");
    assert.deepEqual(got.decision, want.decision, 'bit-identical decision values');
    assert.deepEqual(got.proba, want.proba, 'bit-identical probabilities');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
