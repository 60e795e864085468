/**
 * Issue 8's benchmark (not a test): torchvision backbones through `--model onnx:`, exactly as a
 * user would bring them, checked against PyTorch's own forward pass and timed next to it.
 *
 * Per model (resnet18, mobilenet_v2; random weights with non-trivial BatchNorm statistics, seed 0):
 * 1. bench/onnx/torchvision_models.py exports it with torch.onnx.export (opset 13, dynamic batch);
 * 2. the pooled tensor (the input of the final Gemm, what `ftk info --model onnx:` shows before
 *    the classifier) is found in the graph;
 * 3. accuracy: `ftk bottleneck extract <N cats-dogs images> --model onnx:<file> --layer <pooled>
 *    --preprocess torch`, then PyTorch runs the same model on exactly the pixels ftk decoded
 *    (dumped to .npy: PIL and sharp decode/resize differently, which would swamp 1e-4), normalised
 *    by torchvision's Normalize; max |ftk - torch| and max |ftk - torch| / max |torch|;
 * 4. throughput, end to end on M image files: `ftk bottleneck extract` (decode workers + ONNX
 *    Runtime; --no-cache) vs PyTorch (PIL + torchvision transforms, DataLoader, no_grad, same
 *    thread count); and inference alone on a pre-decoded batch of 32 (ONNX Runtime vs torch).
 *
 *   npx tsx bench/onnx/torchvision.ts [--check-images 64] [--speed-images 400] [--threads 2]
 *       [--models resnet18,mobilenet_v2]
 *
 * Needs Debian's python3-torch + python3-torchvision (/usr/bin/python3).
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decodeImage } from '../../src/data/decode.js';
import { findDataset } from '../../src/data/dataset.js';
import { readFeatures } from '../../src/extract/features_file.js';
import { decodeNpy, encodeNpy } from '../../src/formats/npy.js';
import { resolveBackbone } from '../../src/models/backbone.js';
import { OnnxBackboneEngine } from '../../src/models/onnx_backbone.js';
import { preprocessPixels } from '../../src/models/preprocess.js';
import { readOnnxSummary } from '../../src/runtime/onnx_graph.js';

const { values } = parseArgs({
  options: {
    'check-images': { type: 'string', default: '64' },
    'speed-images': { type: 'string', default: '400' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    models: { type: 'string', default: 'resnet18,mobilenet_v2' },
  },
});
const DATA = path.resolve('../shared/datasets/cats-dogs');
const PY = '/usr/bin/python3';
const SCRIPT = path.resolve('bench/onnx/torchvision_models.py');
const threads = Number(values.threads);
const work = await mkdtemp(path.join(os.tmpdir(), 'ftk-bench-onnx-'));
const env = { ...process.env, FTK_HOME: path.join(work, 'home'), FTK_DEV: '1' };

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}
const python = (...args: string[]) => JSON.parse(sh(PY, [SCRIPT, ...args]).trim().split('\n').pop() || '{}');
const ftk = (...args: string[]) => sh(process.execPath, [path.resolve('bin/ftk.js'), ...args]);

/** A dataset folder of `count` cats-dogs images spread over the set (symlinks). */
async function subsetDataset(name: string, count: number): Promise<{ root: string; files: string[] }> {
  const all = await findDataset(DATA);
  const step = Math.max(1, Math.floor(all.entries.length / count));
  const picked = all.entries.filter((_, i) => i % step === 0).slice(0, count);
  const root = path.join(work, name);
  for (const e of picked) {
    const target = path.join(root, e.className, path.basename(e.path));
    await mkdir(path.dirname(target), { recursive: true });
    await symlink(e.path, target);
  }
  return { root, files: picked.map((e) => e.path) };
}

/** The pooled tensor: the first input of the graph's last Gemm/MatMul (the classifier). */
function pooledTensor(file: Buffer): string {
  const summary = readOnnxSummary(file);
  const head = [...summary.nodes].reverse().find((n) => n.opType === 'Gemm' || n.opType === 'MatMul');
  if (!head) throw new Error('no classifier (Gemm/MatMul) in the graph');
  return head.inputs[0];
}

const checkSet = await subsetDataset('check', Number(values['check-images']));
const speedSet = await subsetDataset('speed', Number(values['speed-images']));
const listFile = path.join(work, 'speed.txt');
await writeFile(listFile, speedSet.files.join('\n') + '\n');
const rows: Record<string, unknown>[] = [];

for (const model of values.models!.split(',')) {
  const onnx = path.join(work, `${model}.onnx`);
  const pt = path.join(work, `${model}.pt`);
  const exported = python('export', '--model', model, '--out', onnx, '--weights', pt, '--seed', '0', '--opset', '13');
  const layer = pooledTensor(await readFile(onnx));
  const infoLine = ftk('info', '--model', `onnx:${onnx}`).split('\n').find((l) => l.trim().startsWith(`${layer} `))?.trim();
  console.log(`${model}: exported by torch ${exported.torch} / torchvision ${exported.torchvision}; pooled tensor from ftk info: ${infoLine}`);

  // Accuracy: ftk's extraction vs PyTorch on the same decoded pixels.
  const prefix = path.join(work, `${model}-check`);
  const common = ['--model', `onnx:${onnx}`, '--layer', layer, '--preprocess', 'torch', '--threads', String(threads), '--no-cache', '--json'];
  ftk('bottleneck', 'extract', checkSet.root, '--out', prefix, ...common);
  const { features, meta } = await readFeatures(prefix);
  const [n, d] = meta.shape;
  const pixels = new Float32Array(n * 224 * 224 * 3);
  for (let i = 0; i < n; i++) pixels.set((await decodeImage(path.join(checkSet.root, meta.files[i]), { size: 224, crop: 'squash' })).pixels, i * 224 * 224 * 3);
  const pxFile = path.join(work, `${model}-pixels.npy`);
  const torchFile = path.join(work, `${model}-torch.npy`);
  await writeFile(pxFile, encodeNpy(pixels, [n, 224, 224, 3]));
  sh(PY, [SCRIPT, 'forward', '--model', model, '--weights', pt, '--pixels', pxFile, '--out', torchFile, '--threads', String(threads)]);
  const torch = decodeNpy(await readFile(torchFile)).data as Float32Array;
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < features.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(features[i] - torch[i]));
    maxRef = Math.max(maxRef, Math.abs(torch[i]));
  }
  const rel = maxAbs / maxRef;
  console.log(`  accuracy on ${n} images, ${d} features: max |ftk - torch| = ${maxAbs.toExponential(2)}, relative to max |torch| (${maxRef.toFixed(3)}) = ${rel.toExponential(2)} -> ${rel <= 1e-4 ? 'PASS' : 'FAIL'} (1e-4)`);

  // Throughput end to end.
  const out = JSON.parse(ftk('bottleneck', 'extract', speedSet.root, '--out', path.join(work, `${model}-speed`), ...common));
  const torchRun = python('extract', '--model', model, '--weights', pt, '--list', listFile, '--threads', String(threads), '--workers', String(threads), '--batch-size', '32');

  // Inference alone on a pre-decoded batch of 32.
  const resolved = await resolveBackbone({ model: `onnx:${onnx}`, layer, preprocess: 'torch' });
  const engine = await OnnxBackboneEngine.open(resolved.info, { threads });
  const batch = preprocessPixels(pixels.slice(0, Math.min(n, 32) * 224 * 224 * 3), 'torch');
  const count = Math.min(n, 32);
  await engine.run(batch, count, 224, 224);
  const reps = 6;
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) await engine.run(batch, count, 224, 224);
  const ortIps = (reps * count) / ((performance.now() - t0) / 1000);
  engine.dispose();
  const row = {
    model,
    layer,
    features: d,
    checkImages: n,
    maxAbs,
    maxRel: rel,
    speedImages: out.stats.images,
    ftkImagesPerSecond: out.stats.imagesPerSecond,
    torchImagesPerSecond: torchRun.pipeline_ips,
    ortInferenceImagesPerSecond: ortIps,
    torchInferenceImagesPerSecond: torchRun.inference_ips,
    threads,
    loadAverage: os.loadavg()[0],
  };
  rows.push(row);
  console.log(
    `  throughput on ${out.stats.images} images, ${threads} threads: ftk end to end ${out.stats.imagesPerSecond.toFixed(1)} img/s vs PyTorch ${torchRun.pipeline_ips.toFixed(1)} img/s (x${(out.stats.imagesPerSecond / torchRun.pipeline_ips).toFixed(2)}); ` +
      `inference alone ONNX Runtime ${ortIps.toFixed(1)} vs torch ${torchRun.inference_ips.toFixed(1)} img/s (load average ${os.loadavg()[0].toFixed(1)})`,
  );
}

console.log('\n| model | --layer | features | max abs diff | max rel diff | ftk end to end | PyTorch end to end | ratio | ORT inference | torch inference |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows as any[]) {
  console.log(
    `| ${r.model} | \`${r.layer}\` | ${r.features} | ${r.maxAbs.toExponential(1)} | ${r.maxRel.toExponential(1)} | ${r.ftkImagesPerSecond.toFixed(1)} img/s | ${r.torchImagesPerSecond.toFixed(1)} img/s | ${(r.ftkImagesPerSecond / r.torchImagesPerSecond).toFixed(2)}x | ${r.ortInferenceImagesPerSecond.toFixed(1)} img/s | ${r.torchInferenceImagesPerSecond.toFixed(1)} img/s |`,
  );
}
await writeFile(path.resolve('bench/onnx/results.jsonl'), rows.map((r) => JSON.stringify({ ...r, date: new Date().toISOString() })).join('\n') + '\n', { flag: 'a' });
console.log(`\nwork files in ${work}; results appended to bench/onnx/results.jsonl`);
