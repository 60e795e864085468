/**
 * Writes the `workers` section of bench/RESULTS.md from bench/finetune/workers.jsonl (the raw
 * records of bench/finetune/workers.ts): one row per (invocation, workload) summary, with the runs
 * and calibrations of that invocation below the table.
 *
 *   npx tsx bench/finetune/workers_md.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeResultsSection } from '../results_md.js';

interface Run {
  date: string;
  kind: 'run';
  workload: string;
  round: number;
  workers: number;
  imagesPerSecond: number;
  perEpochImagesPerSecond: number[];
  loadBefore: number[];
  cpus: number;
  versions: Record<string, string>;
}
interface Calibration {
  date: string;
  kind: 'calibration';
  workload: string;
  round: number;
  threads: number;
  speedup: number;
  loadavg: number[];
}
interface Summary {
  date: string;
  kind: 'summary';
  workload: string;
  images: number;
  epochs: number;
  repeats: number;
  loadavg: number[];
  versions: Record<string, string>;
  [key: `workers${number}`]: {
    medianImagesPerSecond: number;
    medianImagesPerSecond1: number;
    ratios: number[];
    medianRatio: number;
    machineSpeedups: number[];
    medianMachineSpeedup: number;
    worstEpochLossDiff: number;
    medianCpuMsPerImage?: number;
    medianCpuMsPerImage1?: number;
  };
}

const records = readFileSync(path.resolve('bench/finetune/workers.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Run | Calibration | Summary);
const LABEL: Record<string, string> = {
  mobilenet_v2: 'MobileNetV2 1.0, 224 px, `--freeze 14` (blocks 15-16, Conv_1 and the head train), frozen-prefix bank',
  smallcnn: 'smallcnn from scratch, 64 px, augmented',
};
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

const rows: string[] = [];
const details: string[] = [];
let versions: Record<string, string> = {};
const commands: string[] = [];
const summaries = records.filter((r): r is Summary => r.kind === 'summary' && r.workload in LABEL);
for (const [i, s] of summaries.entries()) {
  versions = s.versions;
  // The runs of that invocation: after the previous summary of the same workload.
  const prev = summaries.slice(0, i).filter((p) => p.workload === s.workload).pop()?.date ?? '';
  const runs = records.filter((r): r is Run => r.kind === 'run' && r.workload === s.workload && r.date > prev && r.date <= s.date);
  const cal = records.filter((r): r is Calibration => r.kind === 'calibration' && r.workload === s.workload && r.date > prev && r.date <= s.date);
  for (const key of Object.keys(s).filter((k) => /^workers\d+$/.test(k)) as `workers${number}`[]) {
    const w = Number(key.slice(7));
    const m = s[key];
    const cpu = m.medianCpuMsPerImage !== undefined && m.medianCpuMsPerImage1 !== undefined ? `${f1(m.medianCpuMsPerImage1)} / ${f1(m.medianCpuMsPerImage)}` : 'not recorded';
    rows.push(
      `| ${s.date.slice(0, 16).replace('T', ' ')} | ${LABEL[s.workload]} | ${s.repeats} | ${f1(m.medianImagesPerSecond1)} | ${f1(m.medianImagesPerSecond)} (${w}) | **${f2(m.medianRatio)}x** (${m.ratios.map(f2).join(', ')}) | ${f2(m.medianMachineSpeedup)}x (${m.machineSpeedups.map(f2).join(', ')}) | ${cpu} | ${m.worstEpochLossDiff.toExponential(1)} |`,
    );
  }
  const loads = runs.map((r) => r.loadBefore[0]);
  details.push(
    `- ${s.date.slice(0, 16).replace('T', ' ')}, ${s.workload}: ${s.images} cats-dogs images, ${s.epochs} epochs per run, ${s.repeats} rounds; per run (round: workers -> images/s): ${runs.map((r) => `${r.round + 1}: ${r.workers} -> ${f1(r.imagesPerSecond)}`).join('; ')}; 1-minute load average before the runs ${f1(Math.min(...loads))} to ${f1(Math.max(...loads))}${cal.length ? `; calibrations ${cal.map((c) => f2(c.speedup)).join(', ')}` : ''}.`,
  );
  const cmd = `\`npx tsx bench/finetune/workers.ts --images ${s.images} --epochs ${s.epochs} --repeats ${s.repeats}\` (${s.date.slice(0, 10)})`;
  if (!commands.includes(cmd)) commands.push(cmd);
}

// The 5-fold cats-dogs fine-tuning of the small-data table: before (1 worker, bench/results/cats_dogs_bench.json)
// and after (bench/finetune/five_fold.ts, bench/finetune/five_fold.jsonl).
interface FiveFold {
  date: string;
  commit: string;
  workers: number;
  folds: number[];
  wallSeconds: number;
  meanAccuracy: number;
  foldAccuracies: number[];
  loadavg: { start: number[]; end: number[]; sampled1min: { min: number; max: number } };
}
const fiveFold = existsSync('bench/finetune/five_fold.jsonl')
  ? readFileSync('bench/finetune/five_fold.jsonl', 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as FiveFold)
  : [];
const table = JSON.parse(readFileSync('bench/results/cats_dogs_bench.json', 'utf8')) as { date: string; machine: { loadavg: number[] }; methods: { method: string; seconds: number; meanAccuracy: number; foldAccuracies: number[] }[] };
const beforeFt = table.methods.find((m) => m.method === 'finetune')!;
const pctList = (xs: number[]) => xs.map((x) => (100 * x).toFixed(1)).join(', ');
const fiveFoldLines = [
  `| ${table.date.slice(0, 16).replace('T', ' ')} (before: \`bench/cats_dogs_table.ts\` at commit 676ddbc, not re-run; record \`bench/results/cats_dogs_bench.json\`) | 1 (the default then) | **${(beforeFt.seconds / 60).toFixed(1)} min** | ${(100 * beforeFt.meanAccuracy).toFixed(1)}% (${pctList(beforeFt.foldAccuracies)}) | ${table.machine.loadavg.map(f1).join(' / ')} at the end (1 / 5 / 15 min) |`,
  ...fiveFold.map(
    (r) =>
      `| ${r.date.slice(0, 16).replace('T', ' ')} (\`bench/finetune/five_fold.ts --workers ${r.workers}\`, commit ${r.commit}) | ${r.workers} | **${(r.wallSeconds / 60).toFixed(1)} min** | ${(100 * r.meanAccuracy).toFixed(1)}% (${pctList(r.foldAccuracies)}) | ${f1(r.loadavg.sampled1min.min)} to ${f1(r.loadavg.sampled1min.max)} (sampled every 15 s, its own threads included) |`,
  ),
];

writeResultsSection(
  'workers',
  `## Fine-tuning on worker threads: 2 workers vs 1 (data-parallel steps)

Training images/s of the trainable part (forward + backward + Adam, feeds included; the median over
the epochs after the first), 1 worker (the main thread, the loop as before) and 2 worker threads
(\`--workers 2\`: each batch of 32 split into two shards of 16, gradients summed, one update), run
alternately in one invocation, batch 32, validation 0, seed 0. "Machine offers" is the speed-up
of a fixed busy loop on 2 threads over 1 thread, measured right before each round: what the shared
machine could give any 2-thread work at that moment (2.00 when idle). Loss difference: the largest
|loss(2 workers) - loss(1 worker)| over the epochs of a round (float rounding of the summation order).

| run (UTC) | workload | rounds | 1 worker, images/s (median) | 2 workers, images/s (median) | ratio, median (per round) | machine offers, median (per round) | CPU ms per image, 1 / 2 workers | largest epoch-loss difference |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

${details.join('\n')}

The 5-fold cats-dogs fine-tuning of the small-data table (MobileNet 0.25, 288 px centre crop, \`--freeze 11\`, 8 views,
dropout 0.5, at most 10 + 15 epochs, cold feature cache, the same seeded folds), end to end:

| run (UTC) | training workers | wall time, 5 folds | accuracy, mean (per fold) | 1-minute load average |
|---|---|---|---|---|
${fiveFoldLines.join('\n')}

Commands: ${commands.join('; ')}. Raw records in \`bench/finetune/workers.jsonl\` (one line per run,
calibration and summary, with \`os.loadavg()\`), console logs in \`bench/finetune/workers_last_run.log\`
(first run), \`bench/finetune/workers_cpu_run.log\` (second) and \`bench/finetune/workers_run3.log\` (third). CPU ms per image: the process' CPU
time (every thread) of the whole \`finetune()\` call per training image, median over the rounds after
the first. Versions: ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}; tfjs backend wasm, 2 cores.`,
);
console.log('wrote the workers section of bench/RESULTS.md');
