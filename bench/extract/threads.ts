/**
 * How ONNX Runtime's intra-op threads and the decode workers should share the cores (not a
 * test): ftk end-to-end images/s on the cats-dogs JPEGs for each (inference threads, decode
 * workers, spinning) setting, MobileNetV2 (inference-heavy) and MobileNet 0.25 (decode-heavy).
 *
 *   npx tsx bench/extract/threads.ts [--images 1000]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findDataset } from '../../src/data/dataset.js';
import { extractFeatures } from '../../src/extract/extract.js';
import { DecodePool } from '../../src/data/decode_pool.js';
import { OnnxEngine } from '../../src/runtime/onnx_engine.js';
import { onnxGraphPath } from '../../src/runtime/onnx_store.js';
import { resolveBackbone } from '../../src/models/backbone.js';
import { preprocessPixels } from '../../src/models/imagenet_utils.js';

const { values } = parseArgs({ options: { images: { type: 'string', default: '1000' } } });
const DATA = path.resolve('../shared/datasets/cats-dogs');
const all = await findDataset(DATA);
const count = Number(values.images);
const step = Math.max(1, Math.floor(all.entries.length / count));
const dataset = { ...all, entries: all.entries.filter((_, i) => i % step === 0).slice(0, count) };
const home = await mkdtemp(path.join(os.tmpdir(), 'ftk-threads-'));
const cores = os.availableParallelism();
console.log(`${new Date().toISOString()} ${os.cpus()[0].model}, ${cores} cores, ${dataset.entries.length} images, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('| model | inference threads | decode workers | ORT spinning | images/s | process CPU ms/image |');
console.log('|---|---|---|---|---|---|');
for (const [model, alpha] of [['mobilenet_v2', 1.0], ['mobilenet', 0.25]] as const) {
  const options = { model, alpha, weights: 'random', weightsDir: home, cache: false as const };
  await extractFeatures({ ...dataset, entries: dataset.entries.slice(0, 4) }, options); // export the graph
  const settings: [number, number, boolean][] = [];
  for (let t = 1; t <= cores; t++) for (let w = 0; w <= cores; w++) settings.push([t, w, false]);
  settings.push([cores, cores, true]);
  for (const [threads, decodeWorkers, spinning] of settings) {
    let ips: number;
    const cpu = process.cpuUsage();
    if (spinning) {
      // The pipeline never spins; measure the same loop by hand with a spinning engine.
      const { info } = await resolveBackbone(options);
      const engine = await OnnxEngine.create(onnxGraphPath(info.fingerprint, home), { threads, spinning: true });
      const pool = new DecodePool({ workers: decodeWorkers, size: 224 });
      const batch = new Float32Array(32 * 224 * 224 * 3);
      const t0 = performance.now();
      let k = 0;
      for await (const r of pool.map(dataset.entries.map((e) => ({ file: e.path, name: e.file })), 64)) {
        batch.set(r.pixels!, k * 224 * 224 * 3);
        if (++k === 32) {
          preprocessPixels(batch, 'tf');
          await engine.run(batch, k, 224, 224);
          k = 0;
        }
      }
      if (k) await engine.run(batch, k, 224, 224);
      ips = dataset.entries.length / ((performance.now() - t0) / 1000);
      await pool.close();
      await engine.release();
    } else {
      const r = await extractFeatures(dataset, { ...options, threads, decodeWorkers });
      ips = r.stats.imagesPerSecond;
    }
    const c = process.cpuUsage(cpu);
    console.log(`| ${model} ${alpha} | ${threads} | ${decodeWorkers} | ${spinning ? 'yes' : 'no'} | ${ips.toFixed(1)} | ${((c.user + c.system) / 1000 / dataset.entries.length).toFixed(2)} |`);
  }
}
console.log(`load at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
await rm(home, { recursive: true, force: true });
