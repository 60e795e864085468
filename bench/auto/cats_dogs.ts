/**
 * `ftk auto` on cats-dogs (or a subset), the whole run through the real CLI, with its record:
 * one JSON line per run in bench/auto/cats_dogs.jsonl (date, commit, load average sampled during
 * the run, versions, the command, auto's pick, every contender's cross-validated accuracy with its
 * per-fold values and interval, every candidate's inner scores and time, the budget cuts, minutes).
 *
 *   npx tsx bench/auto/cats_dogs.ts [--data ../shared/datasets/cats-dogs] [--name full]
 *       [--budget 30] [--candidates standard] [--out bench/.work/auto/<name>] [--record bench/auto/cats_dogs.jsonl]
 *       [-- extra ftk auto flags]
 *
 * Every choice (candidate, C/gamma, epochs) is made inside the training folds by `ftk auto` itself;
 * the cross-validated accuracy of its pick is the outer-fold accuracy of that procedure.
 */
import { execSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LoadMonitor } from '../results_md.js';
import type { RunReport } from '../../src/formats/run_report.js';

const { values, positionals } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/datasets/cats-dogs' },
    name: { type: 'string', default: 'full' },
    budget: { type: 'string', default: '30' },
    candidates: { type: 'string', default: 'standard' },
    out: { type: 'string' },
    home: { type: 'string' },
    record: { type: 'string', default: 'bench/auto/cats_dogs.jsonl' },
  },
  allowPositionals: true,
});
const name = values.name!;
const out = path.resolve(values.out ?? path.join('bench/.work/auto', name));
const weights = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const args = [
  'auto', path.resolve(values.data!), '--out', out, '--model', 'mobilenet', '--alpha', '0.25', '--weights', weights,
  '--seed', '0', '--budget', values.budget!, '--candidates', values.candidates!, '--refit-all', '--json', ...positionals,
];
mkdirSync(out, { recursive: true });
const load = new LoadMonitor(15_000);
const started = new Date();
const commit = execSync('git rev-parse --short HEAD').toString().trim();
const t0 = performance.now();
const loadStart = os.loadavg();
const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, [path.resolve('bin/ftk.js'), ...args], {
    env: { ...process.env, FTK_DEV: '1', ...(values.home ? { FTK_HOME: path.resolve(values.home) } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.resume();
  child.on('close', (c) => resolve(c ?? 1));
});
if (code !== 0) throw new Error(`ftk auto failed with exit code ${code}`);
const minutes = (performance.now() - t0) / 60000;
/** Rows and trainer of each feature-path classifier the run refitted (bundle or paths/svm). */
function featureRefitOf(dir: string): { file: string; nSamples: number; trainer: string }[] {
  const out: { file: string; nSamples: number; trainer: string }[] = [];
  for (const sub of ['bundle', 'paths/svm']) {
    for (const file of ['svm.json', 'svm-2.json']) {
      const f = path.join(dir, sub, file);
      if (!existsSync(f)) continue;
      const m = JSON.parse(readFileSync(f, 'utf8')) as { training?: { nSamples?: number; trainer?: string } };
      out.push({ file: path.join(sub, file), nSamples: m.training?.nSamples ?? -1, trainer: m.training?.trainer ?? 'libsvm' });
    }
  }
  return out;
}
const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')) as RunReport;
const chosen = run.paths!.find((p) => p.path === run.decision.chosen)!;
const record = {
  date: started.toISOString(),
  commit,
  name,
  data: values.data,
  images: run.dataset.counts.reduce((a, b) => a + b, 0),
  command: ['ftk', ...args.map((a) => a.replace(process.cwd() + '/', ''))].join(' '),
  chosen: run.decision.chosen,
  chosenAccuracy: chosen.meanAccuracy,
  chosenCi95: chosen.ci95,
  chosenFolds: chosen.foldAccuracies,
  contenders: run.paths!.map((p) => ({ path: p.path, meanAccuracy: p.meanAccuracy, ci95: p.ci95, foldAccuracies: p.foldAccuracies, minutes: (p.elapsedMs ?? 0) / 60000, notes: p.notes })),
  comparisons: run.comparisons,
  reasons: run.decision.reasons,
  candidates: run.candidates?.map((c) => ({ id: c.id, path: c.path, innerScores: c.innerScores, picked: c.picked, outerAccuracies: c.outerAccuracies, minutes: c.ms / 60000, pruned: c.pruned, capHit: c.capHit })),
  cuts: run.budget?.cuts,
  featureRefit: featureRefitOf(out),
  budgetMinutes: Number(values.budget),
  minutes,
  loadavg: { start: loadStart, end: os.loadavg(), sampled1min: load.range() },
  cores: os.availableParallelism(),
  versions: { node: process.version, ftk: run.ftkVersion, runtime: run.runtime?.versions },
};
appendFileSync(path.resolve(values.record!), JSON.stringify(record) + '\n');
console.log(`${name}: chose ${record.chosen}, ${(100 * record.chosenAccuracy).toFixed(2)}% (${record.contenders.map((c) => `${c.path} ${(100 * c.meanAccuracy).toFixed(2)}%`).join(', ')}), ${minutes.toFixed(1)} min`);
