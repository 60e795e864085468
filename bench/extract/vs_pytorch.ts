/**
 * Issue 4's benchmark (not a test): ftk's extraction against PyTorch on the same CPU, same
 * architecture, same images, one run, reported as ratios; plus the "no idle cores" check, peak
 * RSS for 2,000 vs 20,000 images, and shard-merge equality.
 *
 * Per model (MobileNet 0.25 with the shared Keras weights, MobileNet 1.0, MobileNetV2 1.0 and
 * ResNet50 with random weights: speed does not depend on the values), all at 224x224:
 * - ftk end-to-end: `extractFeatures` on the cats-dogs JPEGs (hash, decode + resize on worker
 *   threads, inference on ONNX Runtime), feature cache off;
 * - PyTorch end-to-end: bench/extract/torch_extract.py (PIL decode, torchvision Resize +
 *   Normalize, DataLoader, torch.no_grad(), same thread count; DataLoader num_workers = threads,
 *   or the best of `--torch-workers`);
 * - bare ONNX Runtime inference on pre-decoded tensors (what ftk's pipeline could reach if
 *   decoding were free), and ftk's decode alone; with their CPU times, the no-idle-cores bound
 *   (decode CPU + inference CPU) / cores per image.
 * Rates are "pipeline" rates: first image requested to last feature out, model loading excluded
 * on both sides (the wall-clock rate with loading is reported too).
 *
 *   npx tsx bench/extract/vs_pytorch.ts [--images 1000] [--resnet-images 300] [--threads 2]
 *       [--models mobilenet_v2,resnet50,mobilenet_0.25,mobilenet_1.0] [--torch-workers 2,0]
 *       [--no-torch] [--no-rss] [--no-shard] [--repeats 5]
 *
 * Timings on a shared 2-core VM swing by 20-30% between runs, so the ftk-side measurements (decode
 * alone, inference alone, end to end) are repeated `--repeats` times, interleaved, and the
 * no-idle-cores check uses their medians.
 *
 * Needs `apt-get install -y python3-torch python3-torchvision` for the PyTorch side
 * (/usr/bin/python3); without it (--no-torch) only ftk's numbers are printed.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findDataset, type Dataset } from '../../src/data/dataset.js';
import { DecodePool } from '../../src/data/decode_pool.js';
import { extractFeatures } from '../../src/extract/extract.js';
import { getModelSpec } from '../../src/models/registry.js';
import { resolveBackbone } from '../../src/models/backbone.js';
import { OnnxEngine } from '../../src/runtime/onnx_engine.js';
import { OnnxSessionPool } from '../../src/runtime/onnx_session_pool.js';
import { onnxGraphPath } from '../../src/runtime/onnx_store.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '1000' },
    'resnet-images': { type: 'string', default: '300' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    models: { type: 'string', default: 'mobilenet_v2,resnet50,mobilenet_0.25,mobilenet_1.0' },
    'torch-workers': { type: 'string' },
    'batch-size': { type: 'string', default: '32' },
    repeats: { type: 'string', default: '5' },
    'no-torch': { type: 'boolean', default: false },
    'no-rss': { type: 'boolean', default: false },
    'no-shard': { type: 'boolean', default: false },
  },
});
const DATA = path.resolve('../shared/datasets/cats-dogs');
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const threads = Number(values.threads);
const batchSize = Number(values['batch-size']);
const home = await mkdtemp(path.join(os.tmpdir(), 'ftk-bench-'));
const weightsDir = path.join(home, 'weights');
const cpuSeconds = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1e6;
const lines: string[] = [];
const log = (s: string) => {
  lines.push(s);
  console.log(s);
};

const all = await findDataset(DATA);
function subset(count: number): Dataset {
  const step = Math.max(1, Math.floor(all.entries.length / count));
  return { ...all, entries: all.entries.filter((_, i) => i % step === 0).slice(0, count) };
}

interface Config {
  label: string;
  model: string;
  alpha?: number;
  weights: string;
  torchModel: string;
  images: number;
}
const CONFIGS: Record<string, Config> = {
  'mobilenet_0.25': { label: 'MobileNet 0.25', model: 'mobilenet', alpha: 0.25, weights: existsSync(H5) ? H5 : 'random', torchModel: 'mobilenet', images: Number(values.images) },
  'mobilenet_1.0': { label: 'MobileNet 1.0', model: 'mobilenet', alpha: 1.0, weights: 'random', torchModel: 'mobilenet', images: Number(values.images) },
  mobilenet_v2: { label: 'MobileNetV2 1.0', model: 'mobilenet_v2', alpha: 1.0, weights: 'random', torchModel: 'mobilenet_v2', images: Number(values.images) },
  resnet50: { label: 'ResNet50', model: 'resnet50', weights: 'random', torchModel: 'resnet50', images: Number(values['resnet-images']) },
};

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
log(`# ftk extraction vs PyTorch, ${new Date().toISOString()}`);
log(`machine: ${os.cpus()[0].model}, ${os.availableParallelism()} cores; threads ${threads}; batch ${batchSize}; node ${process.version}; load average at start ${load()}`);

const rows: string[] = [];
const idle: string[] = [];
for (const key of values.models!.split(',').filter(Boolean)) {
  const c = CONFIGS[key];
  if (!c) throw new Error(`unknown model ${key}; one of ${Object.keys(CONFIGS).join(', ')}`);
  const dataset = subset(c.images);
  const n = dataset.entries.length;
  const options = { model: c.model, alpha: c.alpha, weights: c.weights, weightsDir, cache: false as const, batchSize, threads };
  // Warm-up: exports and caches the ONNX graph, loads every module, starts nothing that stays.
  await extractFeatures({ ...dataset, entries: dataset.entries.slice(0, 4) }, options);
  const resolved = await resolveBackbone({ ...options });
  const spec = getModelSpec(c.model);

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const tasks = dataset.entries.map((e) => ({ file: e.path, name: e.file }));
  const firstBatch = new Float32Array(batchSize * 224 * 224 * 3);
  // Inference alone runs on the engine extraction uses (ONNX Runtime sessions on their own
  // threads, batches lent as buffers, as many in flight as the pipeline keeps); one session with
  // all the threads on the main thread is measured too, for reference.
  const graph = onnxGraphPath(resolved.info.fingerprint, weightsDir);
  const engine = await OnnxSessionPool.create(graph, { threads });
  const single = await OnnxEngine.create(graph, { threads });
  const inferAlone = async (count: number) => {
    const buffers = Array.from({ length: engine.parallel + 1 }, () => firstBatch.slice().buffer);
    let sent = 0;
    await Promise.all(
      buffers.map(async (buffer) => {
        while (sent < count) {
          sent++;
          ({ buffer } = await engine.submit(buffer, batchSize, 224, 224));
        }
      }),
    );
  };
  // Whole rounds of the engine's sessions, so inference alone never ends on one session alone.
  const reps = engine.parallel * Math.max(1, Math.round(n / batchSize / (c.model === 'resnet50' ? 3 : 1) / engine.parallel));
  const runs: { decodeWall: number; decodeCpu: number; inferWall: number; inferCpu: number; singleWall: number; singleCpu: number; e2eWall: number; e2eCpu: number; ftkIps: number }[] = [];
  for (let rep = 0; rep < Number(values.repeats); rep++) {
    // ftk decode + preprocessing alone (worker threads, as in the pipeline).
    const pool = new DecodePool({ workers: threads, size: 224, preprocessing: spec.preprocessing });
    for await (const r of pool.map(tasks.slice(0, 2 * threads), 2 * threads)) void r; // threads started and warm
    let t = performance.now();
    let cpu = process.cpuUsage();
    let k = 0;
    for await (const r of pool.map(tasks, 2 * batchSize)) {
      if (k < batchSize && r.pixels) firstBatch.set(r.pixels, k * 224 * 224 * 3);
      k++;
    }
    const decodeWall = (performance.now() - t) / 1000;
    const decodeCpu = cpuSeconds(process.cpuUsage(cpu));
    await pool.close();

    // Bare ONNX Runtime inference on pre-decoded tensors.
    await inferAlone(engine.parallel);
    t = performance.now();
    cpu = process.cpuUsage();
    await inferAlone(reps);
    const inferWall = (performance.now() - t) / 1000;
    const inferCpu = cpuSeconds(process.cpuUsage(cpu));
    await single.run(firstBatch, batchSize, 224, 224);
    t = performance.now();
    cpu = process.cpuUsage();
    for (let i = 0; i < reps; i++) await single.run(firstBatch, batchSize, 224, 224);
    const singleWall = (performance.now() - t) / 1000;
    const singleCpu = cpuSeconds(process.cpuUsage(cpu));

    // ftk end to end.
    t = performance.now();
    cpu = process.cpuUsage();
    const r = await extractFeatures(dataset, options);
    runs.push({ decodeWall, decodeCpu, inferWall, inferCpu, singleWall, singleCpu, e2eWall: (performance.now() - t) / 1000, e2eCpu: cpuSeconds(process.cpuUsage(cpu)), ftkIps: r.stats.imagesPerSecond });
    log(`  ${c.label} repeat ${rep + 1}: decode alone ${(n / decodeWall).toFixed(0)} img/s, ORT alone ${((reps * batchSize) / inferWall).toFixed(0)} img/s (one session on the main thread ${((reps * batchSize) / singleWall).toFixed(0)}), ftk end to end ${r.stats.imagesPerSecond.toFixed(1)} img/s; load ${load()}`);
  }
  await engine.release();
  await single.release();
  const decodeWall = median(runs.map((x) => x.decodeWall));
  const decodeCpu = median(runs.map((x) => x.decodeCpu));
  const inferWall = median(runs.map((x) => x.inferWall));
  const inferCpu = median(runs.map((x) => x.inferCpu));
  const singleCpu = median(runs.map((x) => x.singleCpu));
  const singleIps = (reps * batchSize) / median(runs.map((x) => x.singleWall));
  const e2eWall = median(runs.map((x) => x.e2eWall));
  const e2eCpu = median(runs.map((x) => x.e2eCpu));
  const inferIps = (reps * batchSize) / inferWall;
  const ftkIps = median(runs.map((x) => x.ftkIps));
  const ftkWallIps = n / e2eWall;

  // PyTorch end to end (best of DataLoader workers 0 and `threads`).
  let torch: { pipeline_ips: number; wall_ips: number; inference_ips: number; workers: number } | undefined;
  const torchRuns: string[] = [];
  if (!values['no-torch']) {
    const list = path.join(home, `${key}.txt`);
    await writeFile(list, dataset.entries.map((e) => e.path).join('\n') + '\n');
    for (const workers of (values['torch-workers'] ?? String(threads)).split(',').map(Number)) {
      const py = spawnSync('/usr/bin/python3', [path.resolve('bench/extract/torch_extract.py'), '--list', list, '--model', c.torchModel, '--alpha', String(c.alpha ?? 1), '--threads', String(threads), '--workers', String(workers), '--batch-size', String(batchSize)], { encoding: 'utf8' });
      if (py.status !== 0) throw new Error(`torch_extract.py failed: ${py.stderr}`);
      const res = JSON.parse(py.stdout.trim().split('\n').pop()!);
      torchRuns.push(`workers ${workers}: ${res.pipeline_ips.toFixed(1)} img/s`);
      if (!torch || res.pipeline_ips > torch.pipeline_ips) torch = res;
    }
  }
  const ratio = (a: number, b?: number) => (b ? `${(a / b).toFixed(2)}x` : 'n/a');
  rows.push(
    `| ${c.label} | ${n} | ${ftkIps.toFixed(1)} (${ftkWallIps.toFixed(1)}) | ${torch ? `${torch.pipeline_ips.toFixed(1)} (${torch.wall_ips.toFixed(1)}); ${torchRuns.join(', ')}` : 'n/a'} | **${ratio(ftkIps, torch?.pipeline_ips)}** | ${inferIps.toFixed(1)} | ${(ftkIps / inferIps).toFixed(2)} | ${torch ? torch.inference_ips.toFixed(1) : 'n/a'} | ${torch ? ratio(inferIps, torch.inference_ips) : 'n/a'} |`,
  );
  // No idle cores: actual time per image vs (decode CPU + inference CPU) / cores, each alone, per
  // repeat (the three measured back to back, so machine-speed drift cancels), then the median.
  const decodeCpuPerImage = decodeCpu / n;
  const inferCpuPerImage = inferCpu / (reps * batchSize);
  const bound = (decodeCpuPerImage + inferCpuPerImage) / threads;
  const actual = 1 / ftkIps;
  const overs = runs.map((x) => (1 / x.ftkIps) / ((x.decodeCpu / n + x.inferCpu / (reps * batchSize)) / threads) - 1);
  const oversSingle = runs.map((x) => (1 / x.ftkIps) / ((x.decodeCpu / n + x.singleCpu / (reps * batchSize)) / threads) - 1);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  idle.push(
    `| ${c.label} | ${(decodeCpuPerImage * 1e3).toFixed(2)} (${(n / decodeWall).toFixed(0)} img/s) | ${(inferCpuPerImage * 1e3).toFixed(2)} (${inferIps.toFixed(0)} img/s) | ${(bound * 1e3).toFixed(2)} | ${(actual * 1e3).toFixed(2)} | **${pct(median(overs))}** (${overs.map(pct).join(', ')}) | ${((e2eCpu / n) * 1e3).toFixed(2)} | ${((singleCpu / (reps * batchSize)) * 1e3).toFixed(2)} (${singleIps.toFixed(0)} img/s): ${pct(median(oversSingle))} |`,
  );
  console.log(rows[rows.length - 1]);
  console.log(idle[idle.length - 1]);
}
if (rows.length) {
log('');
log('## End to end, images/s (pipeline; wall-clock with model loading in parentheses)');
log('| model | images | ftk (ONNX Runtime, decode workers) | PyTorch (best DataLoader setting) | ftk / PyTorch | bare ORT inference, pre-decoded | ftk / bare ORT | PyTorch inference only | ORT / PyTorch inference |');
log('|---|---|---|---|---|---|---|---|---|');
for (const row of rows) log(row);
log('');
log(`## No idle cores: ms per image (${threads} cores)`);
log('| model | decode CPU alone | inference CPU alone | bound = (decode + inference) / cores | ftk end to end | over the bound: median of repeats (each repeat) | ftk process CPU per image | for reference, inference CPU of one session on the main thread, and ftk over the bound computed with it |');
log('|---|---|---|---|---|---|---|---|');
for (const row of idle) log(row);
}

/** A dataset of `repeat` copies of the cats-dogs folder, as symlinks (the same photos, new names). */
async function repeated(repeat: number): Promise<string> {
  const root = path.join(home, `x${repeat}`);
  for (const e of all.entries) {
    const dir = path.join(root, e.className);
    await mkdir(dir, { recursive: true });
    for (let r = 0; r < repeat; r++) await symlink(e.path, path.join(dir, `r${r}_${path.basename(e.file)}`));
  }
  return root;
}

function ftkCli(args: string[]): { rssMb: number; seconds: number; stdout: string } {
  const env = { ...process.env, FTK_HOME: home, FTK_DEV: '1' };
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M', process.execPath, path.resolve('bin/ftk.js'), ...args], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`ftk ${args.join(' ')} failed: ${r.stderr}`);
  const kb = Number(/MAXRSS (\d+)/.exec(r.stderr)![1]);
  return { rssMb: kb / 1024, seconds: (performance.now() - t0) / 1000, stdout: r.stdout };
}

const mobilenetArgs = ['--model', 'mobilenet', '--alpha', '0.25', '--weights', existsSync(H5) ? H5 : 'random', '--threads', String(threads)];
if (!values['no-rss']) {
  log('');
  log('## Peak RSS, `ftk bottleneck extract` (MobileNet 0.25, --no-cache), whole process incl. worker threads');
  log('| images | peak RSS | wall | images/s (pipeline) |');
  log('|---|---|---|---|');
  // The first run exports the ONNX graph (builds the TF.js model once); measure runs that load it.
  const first = ftkCli(['bottleneck', 'extract', DATA, ...mobilenetArgs, '--no-cache', '--json', '--shard', '1/500', '--out', path.join(home, 'warm')]);
  log(`(first run, 4 images, exporting the ONNX graph: peak RSS ${first.rssMb.toFixed(0)} MB)`);
  const peaks: number[] = [];
  for (const repeat of [1, 10]) {
    const root = await repeated(repeat);
    const run = ftkCli(['bottleneck', 'extract', root, ...mobilenetArgs, '--no-cache', '--json', '--out', path.join(home, `rss${repeat}`)]);
    const stats = JSON.parse(run.stdout).stats;
    peaks.push(run.rssMb);
    log(`| ${stats.images} | ${run.rssMb.toFixed(0)} MB | ${run.seconds.toFixed(1)} s | ${stats.imagesPerSecond.toFixed(1)} |`);
    await rm(root, { recursive: true, force: true });
  }
  log(`20,000 / 2,000 peak RSS: **${(peaks[1] / peaks[0]).toFixed(3)}x** (acceptance: <= 1.2x)`);
}

if (!values['no-shard']) {
  log('');
  log('## Shards: `extract --shard 1/2` + `--shard 2/2` + `merge` vs one run (cats-dogs, 2,000 images, MobileNet 0.25)');
  const out = (name: string) => path.join(home, name);
  const single = ftkCli(['bottleneck', 'extract', DATA, ...mobilenetArgs, '--no-cache', '--json', '--out', out('single')]);
  const s1 = ftkCli(['bottleneck', 'extract', DATA, ...mobilenetArgs, '--no-cache', '--json', '--shard', '1/2', '--out', out('part1')]);
  const s2 = ftkCli(['bottleneck', 'extract', DATA, ...mobilenetArgs, '--no-cache', '--json', '--shard', '2/2', '--out', out('part2')]);
  ftkCli(['bottleneck', 'merge', out('part1'), out('part2'), '--no-cache', '--json', '--out', out('merged')]);
  const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');
  const [a, b] = [await sha(out('single.npy')), await sha(out('merged.npy'))];
  const strip = async (f: string) => {
    const { createdAt: _, ...rest } = JSON.parse(await readFile(f, 'utf8'));
    return JSON.stringify(rest);
  };
  const metaEqual = (await strip(out('single.json'))) === (await strip(out('merged.json')));
  log(`single run ${single.seconds.toFixed(1)} s; shards ${s1.seconds.toFixed(1)} s + ${s2.seconds.toFixed(1)} s (run one after the other here)`);
  log(`.npy sha256 single ${a.slice(0, 16)}..., merged ${b.slice(0, 16)}...: **${a === b ? 'identical' : 'DIFFERENT'}**; metadata (createdAt aside) ${metaEqual ? '**identical**' : '**DIFFERENT**'}`);
}
log('');
log(`load average at end ${load()}`);
await rm(home, { recursive: true, force: true });
