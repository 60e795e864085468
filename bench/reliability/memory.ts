/**
 * Issue 7's memory check (a benchmark, not a test): peak RSS of `ftk bottleneck extract` on the
 * shared cats-dogs photos (2,000 images) and on a folder of 20,000 (each photo symlinked 10 times
 * under new names), with the feature cache on (the default: cold, then a second, fully cached
 * run) and off. Bounded memory means the 20,000-image runs peak at about the 2,000-image ones:
 * only the [N, D] result (20,000 x 256 float32 = 20 MB) and the file list grow with N.
 *
 *   npx tsx bench/reliability/memory.ts [--repeats 1,10] [--threads 2] [--record bench/reliability/memory.jsonl]
 *
 * Appends one JSON line per run (images, cache mode, peak RSS, wall time, date, load average) to the record.
 * MobileNet 0.25 with the shared Keras weights, ONNX Runtime; a fresh FTK_HOME in a temp folder.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findDataset } from '../../src/data/dataset.js';
import { ftkCli, repeatedDataset } from '../common/ftk_cli.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '1,10' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    record: { type: 'string', default: 'bench/reliability/memory.jsonl' },
  },
});
const DATA = path.resolve('../shared/datasets/cats-dogs');
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
if (!existsSync(DATA) || !existsSync(H5)) throw new Error(`needs ${DATA} and ${H5}`);
const home = await mkdtemp(path.join(os.tmpdir(), 'ftk-memory-'));
const env = { FTK_HOME: home };
const model = ['--model', 'mobilenet', '--alpha', '0.25', '--weights', H5, '--runtime', 'onnx', '--threads', values.threads!, '--json'];
const all = await findDataset(DATA);

try {
  // Export the ONNX graph once, so the measured runs only load it.
  const warm = ftkCli(['bottleneck', 'extract', DATA, ...model, '--no-cache', '--shard', '1/500', '--out', path.join(home, 'warm')], env);
  console.log(`(first run, 4 images, exporting the ONNX graph: peak RSS ${warm.rssMb.toFixed(0)} MB)`);
  console.log('| images | cache | peak RSS | wall | computed | from cache | images/s (model) |');
  console.log('|---|---|---|---|---|---|---|');
  const peaks = new Map<string, number[]>();
  for (const repeat of values.repeats!.split(',').map(Number)) {
    const root = await repeatedDataset(all, path.join(home, `x${repeat}`), repeat);
    const runs: [string, string[]][] = [
      ['off', ['--no-cache']],
      ['cold', ['--cache-file', path.join(home, `cache${repeat}.sqlite`)]],
      ['warm', ['--cache-file', path.join(home, `cache${repeat}.sqlite`)]],
    ];
    for (const [label, flags] of runs) {
      const run = ftkCli(['bottleneck', 'extract', root, ...model, ...flags, '--out', path.join(home, `out${repeat}`)], env);
      const s = JSON.parse(run.stdout).stats;
      peaks.set(label, [...(peaks.get(label) ?? []), run.rssMb]);
      appendFileSync(values.record!, `${JSON.stringify({ bench: 'reliability/memory', date: new Date().toISOString(), loadavg: os.loadavg(), node: process.version, images: s.images, cache: label, peakRssMb: Math.round(run.rssMb), seconds: run.seconds, computed: s.computed, cached: s.cached })}\n`);
      console.log(
        `| ${s.images} | ${label} | ${run.rssMb.toFixed(0)} MB | ${run.seconds.toFixed(1)} s | ${s.computed} | ${s.cached} | ${s.computed ? s.imagesPerSecond.toFixed(1) : '-'} |`,
      );
    }
    await rm(root, { recursive: true, force: true });
  }
  for (const [label, p] of peaks) {
    if (p.length >= 2) console.log(`cache ${label}: peak RSS at the largest size / the smallest = ${(p[p.length - 1] / p[0]).toFixed(3)}x`);
  }
} finally {
  await rm(home, { recursive: true, force: true });
}
