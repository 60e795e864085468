/**
 * Peak memory of `ftk svm fit --kernel linear` on 60,000 x 1,280 features (acceptance 4 of issue 15):
 * the linear solver reads the feature matrix in place (ONNX Runtime's matrix products take it
 * without a copy), so the whole process should stay within 1.5x of the matrix itself.
 *
 * The features are synthetic (seeded: 10 classes, Gaussian clusters through a ReLU, float32; the
 * values do not change the memory, only the iteration count). The fit is capped at --max-iter 20
 * epochs (memory does not grow with epochs). Runs the compiled CLI (dist/, `npm run build` first)
 * under GNU time (peak RSS of the whole process, worker threads included).
 *
 *   npm run build && npx tsx bench/linear/memory.ts [--rows 60000] [--cols 1280] [--work bench/.work/linear-memory]
 *
 * Also measured: the same fit through the library alone (`svmFit` from dist/, no CLI) and the
 * CLI on a 300 x 8 file (its fixed cost).
 *
 * Appends one JSON line to bench/linear/memory.jsonl.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, openSync, readFileSync, writeSync, closeSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../../src/data/random.js';
import { npyHeader } from '../../src/formats/npy.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '60000' },
    cols: { type: 'string', default: '1280' },
    work: { type: 'string', default: 'bench/.work/linear-memory' },
  },
});
const n = Number(values.rows);
const d = Number(values.cols);
const k = 10;
const work = path.resolve(values.work!);
mkdirSync(work, { recursive: true });
const prefix = path.join(work, `synthetic-${n}x${d}`);
if (!existsSync(`${prefix}.npy`)) {
  const rng = new Rng(0);
  const centers = Float32Array.from({ length: k * d }, () => 0.35 * rng.normal());
  const labels = Array.from({ length: n }, (_, i) => i % k);
  const fd = openSync(`${prefix}.npy`, 'w');
  writeSync(fd, npyHeader('<f4', [n, d]));
  const block = 1000;
  for (let r0 = 0; r0 < n; r0 += block) {
    const rows = Math.min(block, n - r0);
    const chunk = new Float32Array(rows * d);
    for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) chunk[r * d + j] = Math.max(0, centers[labels[r0 + r] * d + j] + rng.normal() + 0.5);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  writeFileSync(`${prefix}.json`, JSON.stringify({ shape: [n, d], classes: Array.from({ length: k }, (_, c) => `c${c}`), labels }));
}
const matrixMb = (n * d * 4) / 1024 / 1024;
/** Peak RSS (MB) of `node <args>` under GNU time, and its stdout. */
function peak(args: string[]): { mb: number; stdout: string; stderr: string } {
  const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M', process.execPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, FTK_DEV: '', FTK_HOME: path.join(work, 'home') },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${r.stderr}`);
  return { mb: Number(/MAXRSS (\d+)/.exec(r.stderr)![1]) / 1024, stdout: r.stdout, stderr: r.stderr };
}
// The library call alone (no CLI: the CLI imports all of ftk, TF.js, ONNX Runtime and sharp at start-up).
const lib = path.join(work, 'lib_fit.mjs');
writeFileSync(
  lib,
  `const { svmFit } = await import(${JSON.stringify(path.resolve('dist/src/classify/commands.js'))});\n` +
    `const r = await svmFit(process.argv[2], { kernel: 'linear', maxIter: 20 });\nconsole.log(r.solver);\n`,
);
const library = peak([lib, prefix]);
// The CLI's fixed cost: the same command on a 300 x 8 file.
const tiny = path.join(work, 'tiny');
if (!existsSync(`${tiny}.npy`)) {
  const rng = new Rng(1);
  const labels = Array.from({ length: 300 }, (_, i) => i % 3);
  writeFileSync(`${tiny}.npy`, Buffer.concat([npyHeader('<f4', [300, 8]), Buffer.from(Float32Array.from({ length: 2400 }, (_, j) => rng.normal() + labels[Math.floor(j / 8)]).buffer)]));
  writeFileSync(`${tiny}.json`, JSON.stringify({ shape: [300, 8], classes: ['a', 'b', 'c'], labels }));
}
const cliBase = peak([path.resolve('bin/ftk.js'), 'svm', 'fit', tiny, '--solver', 'liblinear', '--json']);
const t0 = performance.now();
const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M', process.execPath, path.resolve('bin/ftk.js'), 'svm', 'fit', prefix, '--kernel', 'linear', '--max-iter', '20', '--out', path.join(work, 'model.json'), '--json'], {
  encoding: 'utf8',
  env: { ...process.env, FTK_DEV: '', FTK_HOME: path.join(work, 'home') },
  maxBuffer: 1 << 26,
});
if (r.status !== 0) throw new Error(`ftk svm fit failed: ${r.stderr}`);
const peakMb = Number(/MAXRSS (\d+)/.exec(r.stderr)![1]) / 1024;
const result = JSON.parse(r.stdout);
const record = {
  date: new Date().toISOString(),
  what: 'ftk svm fit --kernel linear --max-iter 20 (compiled CLI, all cores), synthetic float32 features',
  rows: n,
  cols: d,
  matrixMb: Number(matrixMb.toFixed(1)),
  peakRssMb: Number(peakMb.toFixed(1)),
  ratio: Number((peakMb / matrixMb).toFixed(3)),
  libraryPeakRssMb: Number(library.mb.toFixed(1)),
  libraryRatio: Number((library.mb / matrixMb).toFixed(3)),
  cliOn300x8PeakRssMb: Number(cliBase.mb.toFixed(1)),
  seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
  solver: result.solver,
  trainer: (JSON.parse(readFileSync(path.join(work, 'model.json'), 'utf8')) as { training?: { trainer?: string } }).training?.trainer,
  loadavg: os.loadavg(),
  node: process.version,
  cpus: os.cpus().length,
};
appendFileSync(path.resolve('bench/linear/memory.jsonl'), JSON.stringify(record) + '\n');
console.log(r.stderr.split('\n').filter((l) => !l.startsWith('MAXRSS')).join('\n'));
console.log(JSON.stringify(record));
