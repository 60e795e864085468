/**
 * Issue 17's benchmark (not a test): the three kinds of ftk classifier trained on the shared
 * cats-dogs photos, exported to ONNX, checked and timed.
 *
 * 1. train (once; kept in --work): 200 held-out test photos (every 10th of each class), the
 *    other 1,800 for training, MobileNet 0.25 with the shared Keras weights:
 *    - svm:       ftk bottleneck extract + ftk svm fit --grid --probability
 *    - finetuned: ftk finetune --head-epochs 3 --epochs 2 (--val 0.1)
 *    - auto:      ftk auto on 600 of the training photos (300 per class), --folds 3 --budget 10
 * 2. per model: ftk export --out (file size, export time); `predict()` with the model and with the
 *    .onnx on the 200 test photos (the .onnx through onnxruntime-node, fed the same sharp-decoded
 *    pixels): labels equal? largest probability difference;
 *    python3 bench/export/onnx_reference.py: onnx.checker + NumPy evaluation on 5 photos vs ORT;
 * 3. speed, --repeats times, interleaved: `ftk predict <model> <200 photos>` and
 *    `ftk predict classifier.onnx <200 photos>` as processes (fresh FTK_HOME each, so the SVM's
 *    feature cache never serves a photo: start-up and model load included, as a user runs it),
 *    and in-process: ONNX Runtime alone on the pre-decoded photos (one image per run).
 *    Medians reported, with the load average.
 *
 * 4. once: the graph's Resize (+ centre crop) against src/data/resize.ts on the 200 decoded photos
 *    (largest difference in grey levels), and the --web page of the first model in Debian's
 *    Chromium (puppeteer-core) on 20 of the photos against `ftk predict` (labels, largest
 *    probability difference).
 *
 * Records: bench/export/results.jsonl (one line per model per run, with date, loadavg, versions).
 *
 *   npx tsx bench/export/run.ts [--work /tmp/ftk-bench-export] [--repeats 3] [--models svm,finetuned,auto]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';
import { decodeImageRgb, type RgbImage } from '../../src/data/decode.js';
import { centerCropBox, resizeBilinear } from '../../src/data/resize.js';
import { ClassifierGraph, ElemType, valueInfo } from '../../src/export/graph.js';
import { addImageInput } from '../../src/export/image_input.js';
import { serveStatic } from '../../src/export/serve.js';
import { exportWebPage } from '../../src/export/web.js';
import { encodeModel, IR_VERSION } from '../../src/runtime/onnx_proto.js';
import { loadOnnxRuntime } from '../../src/runtime/onnx_engine.js';
import { exportClassifier } from '../../src/export/export.js';
import { predict, type ImagePrediction } from '../../src/predict/predict.js';
import { OnnxFileClassifier } from '../../src/predict/onnx_file.js';
import { onnxRuntimeVersion } from '../../src/runtime/onnx_engine.js';
import { packageInfo } from '../../src/runtime/package_info.js';
import { writeResultsSection } from '../results_md.js';

const { values } = parseArgs({
  options: {
    work: { type: 'string', default: path.join(os.tmpdir(), 'ftk-bench-export') },
    repeats: { type: 'string', default: '3' },
    models: { type: 'string', default: 'svm,finetuned,auto' },
    'train-only': { type: 'boolean', default: false },
    'skip-extras': { type: 'boolean', default: false },
  },
});
const WORK = path.resolve(values.work!);
const DATA = path.resolve('../shared/datasets/cats-dogs');
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const HOME = path.join(WORK, 'home');
const RECORDS = path.resolve('bench/export/results.jsonl');
process.env.FTK_HOME = HOME;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { stdout: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env: { ...process.env, FTK_DEV: '1', ...env }, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr.slice(-3000)}`);
  return { stdout: r.stdout, seconds: (performance.now() - t0) / 1000 };
}
const ftk = (args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [path.resolve('bin/ftk.js'), ...args], env);
const log = (m: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);

// 1. Data split (symlinks) and training.
const trainDir = path.join(WORK, 'train');
const autoDir = path.join(WORK, 'train600');
const testFiles: string[] = [];
for (const c of ['cats', 'dogs']) {
  const files = (await fsp.readdir(path.join(DATA, c))).filter((f) => f.endsWith('.jpg')).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  let kept = 0;
  for (const [i, f] of files.entries()) {
    if (i % 10 === 0) {
      testFiles.push(path.join(DATA, c, f));
      continue;
    }
    await fsp.mkdir(path.join(trainDir, c), { recursive: true });
    const link = path.join(trainDir, c, f);
    if (!existsSync(link)) await fsp.symlink(path.join(DATA, c, f), link);
    if (kept++ < 300) {
      await fsp.mkdir(path.join(autoDir, c), { recursive: true });
      const l2 = path.join(autoDir, c, f);
      if (!existsSync(l2)) await fsp.symlink(path.join(DATA, c, f), l2);
    }
  }
}
const backbone = ['--model', 'mobilenet', '--alpha', '0.25', '--weights', H5];
const models: Record<string, string> = {
  svm: path.join(WORK, 'svm.json'),
  finetuned: path.join(WORK, 'finetuned'),
  auto: path.join(WORK, 'auto', 'bundle'),
};
const wanted = values.models!.split(',');
if (wanted.includes('svm') && !existsSync(models.svm)) {
  log('training: svm');
  ftk(['bottleneck', 'extract', trainDir, ...backbone, '--out', path.join(WORK, 'feats'), '--json']);
  ftk(['svm', 'fit', path.join(WORK, 'feats'), '--grid', '--probability', '--out', models.svm, '--json']);
}
if (wanted.includes('finetuned') && !existsSync(path.join(models.finetuned, 'ftk.json'))) {
  log('training: finetuned');
  ftk(['finetune', trainDir, ...backbone, '--out', models.finetuned, '--head-epochs', '3', '--epochs', '2', '--val', '0.1', '--json']);
}
if (wanted.includes('auto') && !existsSync(path.join(models.auto, 'ftk.json'))) {
  log('training: auto');
  ftk(['auto', autoDir, ...backbone, '--out', path.join(WORK, 'auto'), '--folds', '3', '--budget', '10', '--epochs', '2', '--json']);
}
if (values['train-only']) process.exit(0);

// 2-3. Export, agreement, Python, speed.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const decoded: RgbImage[] = [];
for (const f of testFiles) decoded.push(await decodeImageRgb(f));
const repeats = Number(values.repeats);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const records: any[] = [];
for (const name of wanted) {
  const model = models[name];
  const onnx = path.join(WORK, `${name}.onnx`);
  log(`export: ${name}`);
  const t0 = performance.now();
  const exported = await exportClassifier(model, onnx);
  const exportSeconds = (performance.now() - t0) / 1000;

  const a = await predict(model, testFiles);
  const b = await predict(onnx, testFiles);
  let sameLabels = 0;
  let maxDiff = 0;
  let correct = 0;
  a.predictions.forEach((p, i) => {
    const q = b.predictions[i] as ImagePrediction;
    const pp = p as ImagePrediction;
    if (pp.label === q.label) sameLabels++;
    if (pp.label === path.basename(path.dirname(testFiles[i]))) correct++;
    for (const c of a.model.classes) maxDiff = Math.max(maxDiff, Math.abs(pp.probabilities[c] - q.probabilities[c]));
  });

  // Python: onnx.checker + NumPy evaluation on 5 photos vs ONNX Runtime.
  const clf = await OnnxFileClassifier.load(onnx);
  const specs: string[] = [];
  let pyMaxDiff = 0;
  let pyLabels = 0;
  const ortOut: { probabilities: Float32Array; label: number }[] = [];
  for (let i = 0; i < 5; i++) {
    const img = decoded[i * 40];
    const raw = path.join(WORK, `py-${i}.rgb`);
    await fsp.writeFile(raw, img.data);
    specs.push(`${raw}:${img.height}:${img.width}`);
    ortOut.push(await clf.run(img));
  }
  const py = JSON.parse(run('/usr/bin/python3', [path.resolve('bench/export/onnx_reference.py'), onnx, ...specs]).stdout) as { checker: string; onnxVersion: string; numpyVersion: string; results: { probabilities: number[]; label: number }[] };
  py.results.forEach((r, i) => {
    if (r.label === ortOut[i].label) pyLabels++;
    r.probabilities.forEach((p, k) => (pyMaxDiff = Math.max(pyMaxDiff, Math.abs(p - ortOut[i].probabilities[k]))));
  });

  // Speed.
  const ftkSeconds: number[] = [];
  const onnxSeconds: number[] = [];
  const ortOnlySeconds: number[] = [];
  for (let r = 0; r < repeats; r++) {
    log(`speed ${name} ${r + 1}/${repeats}`);
    const home = await fsp.mkdtemp(path.join(WORK, 'speed-home-'));
    // The backbone graph is exported once per FTK_HOME by ftk predict; copy it so both sides start warm on model files, cold on features.
    await fsp.cp(path.join(HOME, 'weights'), path.join(home, 'weights'), { recursive: true }).catch(() => undefined);
    ftkSeconds.push(ftk(['predict', model, ...testFiles, '--json'], { FTK_HOME: home }).seconds);
    onnxSeconds.push(ftk(['predict', onnx, ...testFiles, '--json'], { FTK_HOME: home }).seconds);
    const t = performance.now();
    for (const img of decoded) await clf.run(img);
    ortOnlySeconds.push((performance.now() - t) / 1000);
    await fsp.rm(home, { recursive: true, force: true });
  }
  clf.dispose();
  const n = testFiles.length;
  const record = {
    date: new Date().toISOString(),
    model: name,
    source: path.relative(WORK, model),
    description: exported.training.description,
    trainingAccuracy: exported.training.accuracy,
    accuracyHow: exported.training.accuracyHow,
    images: n,
    testAccuracy: correct / n,
    onnxBytes: exported.sizeBytes,
    opset: exported.opset,
    nodes: exported.nodeCount,
    exportSeconds,
    sameLabels,
    maxProbabilityDiff: maxDiff,
    python: { checker: py.checker, images: 5, sameLabels: pyLabels, maxProbabilityDiff: pyMaxDiff, onnx: py.onnxVersion, numpy: py.numpyVersion },
    speed: {
      repeats,
      ftkPredictSeconds: ftkSeconds,
      onnxPredictSeconds: onnxSeconds,
      ortOnlySeconds,
      ftkPredictImagesPerSecond: n / median(ftkSeconds),
      onnxPredictImagesPerSecond: n / median(onnxSeconds),
      ortOnlyImagesPerSecond: n / median(ortOnlySeconds),
    },
    loadavg: os.loadavg(),
    cpus: os.availableParallelism(),
    versions: { ftk: packageInfo().version, node: process.version, onnxruntimeNode: onnxRuntimeVersion() },
  };
  await fsp.appendFile(RECORDS, JSON.stringify(record) + '\n');
  records.push(record);
  log(`${name}: ${sameLabels}/${n} same labels, max diff ${maxDiff.toExponential(2)}, python ${pyLabels}/5 max diff ${pyMaxDiff.toExponential(2)}, ${(exported.sizeBytes / 1e6).toFixed(2)} MB; ftk predict ${record.speed.ftkPredictImagesPerSecond.toFixed(1)} img/s, onnx predict ${record.speed.onnxPredictImagesPerSecond.toFixed(1)} img/s, ORT alone ${record.speed.ortOnlyImagesPerSecond.toFixed(1)} img/s`);
}

if (!values['skip-extras']) {
  // 4a. Resize: ONNX graph vs src/data/resize.ts on the decoded test photos.
  const ort = await loadOnnxRuntime();
  const worst: Record<string, number> = {};
  let equal = 0;
  let total = 0;
  for (const crop of ['squash', 'center'] as const) {
    const g = new ClassifierGraph();
    const out = addImageInput(g, { inputSize: 224, crop, preprocessing: { mean: [0, 0, 0], std: [1, 1, 1], scale: 1, channels: 'rgb' } });
    g.op('Identity', [out], 'resized', {}, 'resized');
    const bytes = encodeModel({ irVersion: IR_VERSION, opsetImport: [{ domain: '', version: 13 }], graph: { name: 'resize', node: g.nodes, initializer: g.initializers, input: [valueInfo('pixels', ElemType.UINT8, ['n', 'h', 'w', 3])], output: [valueInfo('resized', ElemType.FLOAT, ['n', 224, 224, 3])] } });
    const session = await ort.InferenceSession.create(bytes);
    worst[crop] = 0;
    for (const img of decoded) {
      const ours = resizeBilinear({ data: img.data, height: img.height, width: img.width, channels: 3 }, 224, 224, { box: crop === 'center' ? centerCropBox(img.height, img.width, 224, 224) : undefined });
      const theirs = (await session.run({ pixels: new ort.Tensor('uint8', img.data, [1, img.height, img.width, 3]) })).resized.data as Float32Array;
      for (let i = 0; i < ours.length; i++) {
        const d = Math.abs(ours[i] - theirs[i]);
        if (d === 0) equal++;
        total++;
        if (d > worst[crop]) worst[crop] = d;
      }
    }
    await session.release();
  }
  const resizeRecord = { date: new Date().toISOString(), measure: 'resize', images: decoded.length, size: 224, maxGreyLevelDiff: worst, fractionBitIdentical: equal / total, loadavg: os.loadavg(), versions: { ftk: packageInfo().version, node: process.version, onnxruntimeNode: onnxRuntimeVersion() } };
  await fsp.appendFile(RECORDS, JSON.stringify(resizeRecord) + '\n');
  records.push(resizeRecord);
  log(`resize: largest difference ${JSON.stringify(worst)} grey levels, ${(100 * equal / total).toFixed(1)}% of values bit-identical`);

  // 4b. The web page in Chromium on 20 photos.
  const name = wanted[0];
  const web = path.join(WORK, 'web');
  await fsp.rm(web, { recursive: true, force: true });
  const page = await exportWebPage(models[name], web);
  const files = testFiles.filter((_, i) => i % 10 === 3);
  const expected = await predict(models[name], files);
  const server = await serveStatic(web, { port: 0 });
  const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${await fsp.mkdtemp(path.join(WORK, 'profile-'))}`] });
  try {
    const tab = await browser.newPage();
    await tab.goto(server.url, { waitUntil: 'load' });
    await tab.waitForFunction('window.ftkReady === true || window.ftkError !== undefined', { timeout: 300_000 });
    const t = performance.now();
    await ((await tab.$('#files')) as unknown as { uploadFile(...f: string[]): Promise<void> }).uploadFile(...files);
    await tab.waitForFunction(`window.ftkResults.length === ${files.length}`, { timeout: 600_000 });
    const seconds = (performance.now() - t) / 1000;
    const results = (await tab.evaluate('window.ftkResults')) as { label: string; probabilities: number[] }[];
    let same = 0;
    let maxDiff = 0;
    results.forEach((r, i) => {
      const want = expected.predictions[i] as ImagePrediction;
      if (r.label === want.label) same++;
      expected.model.classes.forEach((c, k) => (maxDiff = Math.max(maxDiff, Math.abs(r.probabilities[k] - want.probabilities[c]))));
    });
    const chromium = await browser.version();
    const record = { date: new Date().toISOString(), measure: 'web', model: name, images: files.length, sameLabels: same, maxProbabilityDiff: maxDiff, pageSeconds: seconds, pageFiles: page.files, loadavg: os.loadavg(), versions: { ftk: packageInfo().version, chromium, onnxruntimeWeb: page.ortWebVersion } };
    await fsp.appendFile(RECORDS, JSON.stringify(record) + '\n');
    records.push(record);
    log(`web page (${chromium}): ${same}/${files.length} same labels, largest probability difference ${maxDiff.toExponential(2)}, ${(files.length / seconds).toFixed(1)} img/s in the page`);
  } finally {
    await browser.close();
    await server.close();
  }
}

// bench/RESULTS.md section, from this run's records only.
{
  const kinds = records.filter((r) => r.model && !r.measure);
  const mb = (b: number) => (b / 1e6).toFixed(2);
  const f1 = (x: number) => x.toFixed(1);
  const lines = [
    '## Export: one ONNX file per classifier (`npx tsx bench/export/run.ts`)',
    '',
    `${new Date().toISOString().slice(0, 10)}, MobileNet 0.25 (shared Keras weights) on the shared cats-dogs photos: trained on 1,800 (auto: 600 of them), tested on the 200 others (every 10th photo). Exported with \`ftk export --out\`; \`ftk predict\` on the model and on the .onnx (onnxruntime-node ${onnxRuntimeVersion()}, the same sharp-decoded pixels). Speeds: median of ${repeats} runs of each command as a process (start-up and model load included, fresh FTK_HOME so no feature comes from the cache), interleaved; "ORT alone": the session run on the 200 pre-decoded photos, one per run. Load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(', ')} on ${os.availableParallelism()} cores shared with other jobs: compare within a row. Raw records: \`bench/export/results.jsonl\`.`,
    '',
    '| classifier | ONNX file | test accuracy | same labels as ftk predict | largest probability difference | Python: onnx.checker, NumPy vs ORT (5 photos) | ftk predict, img/s | ftk predict x.onnx, img/s | ORT alone, img/s |',
    '|---|---|---|---|---|---|---|---|---|',
    ...kinds.map((r) => `| ${r.model}: ${r.description} | ${mb(r.onnxBytes)} MB, ${r.nodes} nodes | ${(100 * r.testAccuracy).toFixed(1)}% | ${r.sameLabels}/${r.images} | ${r.maxProbabilityDiff.toExponential(1)} | ${r.python.checker}, ${r.python.sameLabels}/5 labels, ${r.python.maxProbabilityDiff.toExponential(1)} | ${f1(r.speed.ftkPredictImagesPerSecond)} | ${f1(r.speed.onnxPredictImagesPerSecond)} | ${f1(r.speed.ortOnlyImagesPerSecond)} |`),
  ];
  const resize = records.find((r) => r.measure === 'resize');
  if (resize) lines.push('', `Resize in the graph (ONNX \`Resize\`, linear, half_pixel) vs ftk's \`resizeBilinear\` on the 200 decoded test photos to 224x224: largest difference ${resize.maxGreyLevelDiff.squash.toExponential(1)} grey levels (squash), ${resize.maxGreyLevelDiff.center.toExponential(1)} (centre crop); ${(100 * resize.fractionBitIdentical).toFixed(1)}% of the values bit-identical.`);
  const web = records.find((r) => r.measure === 'web');
  if (web) lines.push('', `Web page (\`ftk export --web\`, ${web.model}) in ${web.versions.chromium} (puppeteer-core, headless), onnxruntime-web ${web.versions.onnxruntimeWeb}: ${web.images} photos through the page's file input, ${web.sameLabels}/${web.images} labels as \`ftk predict\`, largest probability difference ${web.maxProbabilityDiff.toExponential(1)} (the browser decodes the JPEGs itself), ${(web.images / web.pageSeconds).toFixed(1)} img/s in the page.`);
  writeResultsSection('export', lines.join('\n'));
}
