/**
 * Start-up time of the CLI: `node -e 0`, `ftk --help`, `ftk --version`, `ftk info`, `ftk report <run>`
 * and `ftk svm cv <features>` on small inputs, wall time of the whole process, each command run
 * `--repeats` times interleaved with the others (the machine's speed drifts; medians of interleaved
 * runs compare fairly). The compiled CLI (dist/, as `npm ci` builds it) is measured; `--checkout DIR`
 * (repeatable) measures other checkouts' compiled CLIs in the same run, e.g. the commit before a change.
 *
 *   npx tsx bench/startup/run.ts [--repeats 5] [--checkout ../before] [--out bench/startup/results.jsonl]
 *
 * Appends one JSON line per (checkout, command) with every time, the median, date, load average and
 * versions, and prints a table.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../../src/data/random.js';
import { writeSyntheticFeatures } from '../../test/helpers/features.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '5' },
    checkout: { type: 'string', multiple: true, default: [] },
    out: { type: 'string', default: 'bench/startup/results.jsonl' },
  },
});
const repeats = Number(values.repeats);
const checkouts = [process.cwd(), ...values.checkout!.map((c) => path.resolve(c))];
for (const c of checkouts) {
  if (!existsSync(path.join(c, 'dist/src/cli/main.js'))) throw new Error(`${c} has no compiled CLI (dist/src/cli/main.js): run \`npm run build\` there`);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ftk-startup-'));
const home = path.join(tmp, 'home');

/** 300 x 64 features of 3 separable classes: `svm cv` trains 5 small folds in milliseconds. */
async function smallFeatures(prefix: string): Promise<void> {
  const rng = new Rng(1);
  const n = 300;
  const d = 64;
  const X = new Float32Array(n * d);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  labels.forEach((l, i) => {
    for (let j = 0; j < d; j++) X[i * d + j] = rng.next() + (j % 3 === l ? 1.5 : 0);
  });
  await writeSyntheticFeatures(prefix, X, labels, ['c0', 'c1', 'c2'], tmp);
}

await smallFeatures(path.join(tmp, 'feat'));
const runJson = path.resolve('test/fixtures/report/svm_only.json');

const commands: Record<string, string[] | null> = {
  'node -e 0': null,
  'ftk --help': ['--help'],
  'ftk --version': ['--version'],
  'ftk info': ['info'],
  'ftk report': ['report', runJson, '--out', path.join(tmp, 'report'), '--json'],
  'ftk svm cv': ['svm', 'cv', path.join(tmp, 'feat'), '--C', '1', '--gamma', 'scale', '--json'],
};

function once(checkout: string, args: string[] | null): number {
  const argv = args === null ? ['-e', '0'] : [path.join(checkout, 'bin/ftk.js'), ...args];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, argv, { env: { ...process.env, FTK_HOME: home, FTK_DEV: '' }, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} in ${checkout} exited ${r.status}: ${r.stderr.slice(-800)}`);
  return ms;
}

const times = new Map<string, number[]>();
const key = (c: string, name: string) => `${c}\t${name}`;
// Warm the OS file cache once, untimed.
for (const c of checkouts) for (const args of Object.values(commands)) once(c, args);
const load = [os.loadavg()];
for (let r = 0; r < repeats; r++) {
  for (const c of checkouts) {
    for (const [name, args] of Object.entries(commands)) {
      if (args === null && c !== checkouts[0]) continue;
      const list = times.get(key(c, name)) ?? [];
      list.push(once(c, args));
      times.set(key(c, name), list);
    }
  }
}
load.push(os.loadavg());
rmSync(tmp, { recursive: true, force: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const commit = (c: string) => spawnSync('git', ['-C', c, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
const date = new Date().toISOString();
const rows: string[] = [];
for (const c of checkouts) {
  for (const name of Object.keys(commands)) {
    const ms = times.get(key(c, name));
    if (!ms) continue;
    const rec = { bench: 'startup', date, checkout: path.relative(process.cwd(), c) || '.', commit: commit(c), command: name, ms: ms.map((x) => Math.round(x)), medianMs: Math.round(median(ms)), repeats, loadavgBefore: load[0], loadavgAfter: load[1], node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model };
    appendFileSync(values.out!, `${JSON.stringify(rec)}\n`);
    rows.push(`| ${rec.commit} | ${name} | ${rec.medianMs} | ${rec.ms.join(', ')} |`);
  }
}
console.log(`load average ${load[0].map((x) => x.toFixed(2)).join(' ')} -> ${load[1].map((x) => x.toFixed(2)).join(' ')}`);
console.log('| commit | command | median ms | runs ms |\n|---|---|---|---|');
console.log(rows.join('\n'));
