/**
 * The page of `ftk export --web` in a real browser: Debian's Chromium, driven by puppeteer-core,
 * serves the folder with `serveStatic` (ftk serve) on 127.0.0.1, gives 20 real photos to the
 * page's file input and reads the results the page shows. They must match `ftk predict` on the
 * same files: same labels, probabilities within 1e-2 (the browser decodes JPEG itself; the
 * largest difference is printed). A full-page screenshot is written to the temp dir and checked:
 * the right size, not blank, one result row per photo, no console error.
 *
 * Model: an RBF SVM with probabilities on the shared Keras MobileNet 0.25 features of 40 other
 * shared photos. Needs ../shared and Chromium (skipped without them; CI fails instead).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import puppeteer from 'puppeteer-core';
import sharp from 'sharp';
import { SvmClassifier } from '../src/classify/svm.js';
import { serveStatic } from '../src/export/serve.js';
import { exportWebPage } from '../src/export/web.js';
import { extractFeatures } from '../src/extract/extract.js';
import { predict, type ImagePrediction } from '../src/predict/predict.js';
import { selectBackend } from '../src/runtime/backend.js';
import { tempHome } from './helpers/home.js';
import { requireInput } from './helpers/requires.js';

const CHROMIUM = process.env.FTK_CHROMIUM ?? '/usr/bin/chromium';
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const PHOTOS = path.resolve('../shared/datasets/cats-dogs');
const skip =
  requireInput(`Chromium (${CHROMIUM}; apt-get install -y chromium)`, existsSync(CHROMIUM)) ||
  requireInput('../shared (MobileNet 0.25 weights and the cats-dogs photos)', existsSync(H5) && existsSync(PHOTOS));

test('the web page classifies 20 real photos as ftk predict does (labels equal, probabilities within 1e-2), screenshot checked', { skip, timeout: 600_000 }, async () => {
  await selectBackend({ backend: 'wasm' });
  const tmp = await tempHome('ftk-export-web-');
  // Training photos: 20 per class; test photos: 10 others per class.
  const train = path.join(tmp, 'train');
  const testFiles: string[] = [];
  for (const c of ['cats', 'dogs']) {
    await fsp.mkdir(path.join(train, c), { recursive: true });
    for (let i = 1; i <= 20; i++) await fsp.copyFile(path.join(PHOTOS, c, `${c.slice(0, 3)}.${i}.jpg`), path.join(train, c, `${i}.jpg`));
    for (let i = 500; i < 510; i++) testFiles.push(path.join(PHOTOS, c, `${c.slice(0, 3)}.${i}.jpg`));
  }
  const r = await extractFeatures(train, { model: 'mobilenet', alpha: 0.25, weights: H5 });
  const clf = await new SvmClassifier({ kernel: 'rbf', C: 1, probability: true }).fit({ data: r.features, rows: r.meta.shape[0], cols: r.meta.shape[1] }, r.meta.labels);
  clf.classNames = r.meta.classes;
  clf.backbone = r.meta.model;
  const model = path.join(tmp, 'svm.json');
  await fsp.writeFile(model, JSON.stringify(clf.toJSON()));
  clf.dispose();
  const web = path.join(tmp, 'web');
  const exported = await exportWebPage(model, web);
  assert.deepEqual(exported.files.map((f) => f.name), ['app.js', 'classifier.onnx', 'ftk-web.json', 'index.html', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm', 'ort.wasm.min.js']);
  const expected = await predict(model, testFiles);

  const server = await serveStatic(web, { port: 0 });
  const profile = path.join(tmp, 'profile');
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`],
  });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => (m.type() === 'error' || m.type() === 'warn') && problems.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
    page.on('requestfailed', (q) => problems.push(`request failed: ${q.url()}`));
    await page.setViewport({ width: 1000, height: 800 });
    await page.goto(server.url, { waitUntil: 'load' });
    await page.waitForFunction('window.ftkReady === true || window.ftkError !== undefined', { timeout: 120_000 });
    assert.equal(await page.evaluate('window.ftkError'), undefined);
    const facts = await page.evaluate(() => [document.getElementById('classes')!.textContent, document.getElementById('input-size')!.textContent]);
    assert.equal(facts[0], 'cats, dogs');
    assert.match(facts[1]!, /224×224/);
    const input = await page.$('#files');
    await (input as unknown as { uploadFile(...f: string[]): Promise<void> }).uploadFile(...testFiles);
    await page.waitForFunction(`window.ftkResults.length === ${testFiles.length}`, { timeout: 300_000 });
    const results = (await page.evaluate('window.ftkResults')) as { file: string; label?: string; probabilities?: number[]; error?: string }[];
    let worst = 0;
    results.forEach((res, i) => {
      const want = expected.predictions[i] as ImagePrediction;
      assert.equal(res.file, path.basename(testFiles[i]));
      assert.equal(res.error, undefined);
      assert.equal(res.label, want.label, `${res.file}: same label in the browser`);
      expected.model.classes.forEach((c, k) => (worst = Math.max(worst, Math.abs(res.probabilities![k] - want.probabilities[c]))));
    });
    assert.ok(worst <= 1e-2, `largest |p_browser - p_ftk| = ${worst}`);
    process.stderr.write(`web page: ${results.length} photos, same labels as ftk predict, largest probability difference ${worst.toExponential(2)}\n`);

    const shot = path.join(tmp, 'page.png');
    await page.screenshot({ path: shot, fullPage: true });
    const rows = await page.$$eval('#results .row', (els) => els.map((e) => [e.querySelector('.label')?.textContent, e.querySelectorAll('.bar').length]));
    assert.equal(rows.length, testFiles.length);
    rows.forEach(([label, bars], i) => {
      assert.equal(label, results[i].label);
      assert.equal(bars, 2);
    });
    const { data, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 1000);
    assert.ok(info.height > 20 * 100, `the screenshot holds every row (height ${info.height})`);
    const stats = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).stats();
    assert.ok(stats.channels.every((c) => c.stdev > 10), 'the screenshot is not blank');
    // The winning bars are green (#2a8a3a): present in the picture.
    let green = 0;
    for (let p = 0; p < data.length; p += 3) if (data[p] === 0x2a && data[p + 1] === 0x8a && data[p + 2] === 0x3a) green++;
    assert.ok(green > 20 * 100, `winning bars drawn (${green} green pixels)`);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
