/**
 * The "Linear models" section of bench/RESULTS.md, read from the raw records only:
 * bench/linear/results.jsonl (bench/linear/compare.ts), bench/linear/memory.jsonl
 * (bench/linear/memory.ts) and bench/svm/limit.jsonl (bench/svm/limit.ts).
 *
 *   npx tsx bench/linear/report.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeResultsSection } from '../results_md.js';

const read = <T>(file: string): T[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as T)
    : [];

interface Side {
  seconds: number;
  accuracy: number;
  iterations?: number;
  n_iter?: number;
  converged: boolean;
}
interface Pair {
  date: string;
  commit?: string;
  backbone: string;
  set: string;
  model: string;
  C: number;
  n: number;
  d: number;
  classes: number;
  ftk: Side;
  sklearn: Side & { sklearn: string; numpy: string };
  ratio: number;
  sklearnPrimal?: Side;
  ratioPrimal?: number;
  accuracyDiffPoints: number;
  ftkWorkers: number;
  loadavgBefore: number[];
  node: string;
}
const pairs = read<Pair>('bench/linear/results.jsonl');
/** The same benchmark before the products moved to ONNX Runtime (JavaScript loops, the dual for LinearSVC). */
const before = read<Pair>('bench/linear/results_before_gemm.jsonl');
const memory = read<Record<string, number | string | number[]>>('bench/linear/memory.jsonl');
const limit = read<Record<string, number | string | boolean | number[]>>('bench/svm/limit.jsonl');
/** `ftk auto` on 30,000 images (bench/auto/large.ts). */
interface LargeRun {
  date: string;
  commit: string;
  command: string;
  images: number;
  chosen: string;
  contenders: { path: string; meanAccuracy: number; foldAccuracies: number[] }[];
  featureRefit: { file: string; nSamples: number; trainer: string }[];
  minutes: number;
  budgetMinutes: number;
  cuts?: string[];
  loadavg: { sampled1min: { min: number; max: number } };
}
const large = read<LargeRun>('bench/auto/large.jsonl').pop();

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const names: Record<string, string> = { smallcnn: 'small convnet (Flatten, 256)', mobilenet025: 'MobileNet 0.25 (avg pool, 256)' };
const setNames: Record<string, string> = { 'c5-9': 'classes 5-9 (5)', all10: 'all ten (10)' };
const models: Record<string, string> = { logistic: 'LogisticRegression', 'linear-svc': 'LinearSVC' };

const groups = new Map<string, Pair[]>();
for (const p of pairs) {
  const key = `${p.backbone}|${p.set}|${p.model}`;
  groups.set(key, [...(groups.get(key) ?? []), p]);
}
const beforeRatio = (p: Pair): string => {
  const g = before.filter((x) => x.backbone === p.backbone && x.set === p.set && x.model === p.model);
  return g.length ? median(g.map((x) => x.ratio)).toFixed(2) : '-';
};
const rows = [...groups.values()].map((g) => {
  const p = g[0];
  const ratios = g.map((x) => x.ratio);
  const pct = (xs: number[]) => `${(100 * median(xs)).toFixed(2)}%`;
  const conv = (s: Side[]) => (s.every((x) => x.converged) ? '' : ' (maxIter)');
  const primal = g.filter((x) => x.sklearnPrimal);
  const primalCell = primal.length
    ? `${median(primal.map((x) => x.sklearnPrimal!.seconds)).toFixed(1)} s, ${pct(primal.map((x) => x.sklearnPrimal!.accuracy))} | ${median(primal.map((x) => x.ratioPrimal!)).toFixed(2)}`
    : '- | -';
  return (
    `| ${names[p.backbone] ?? p.backbone} | ${setNames[p.set] ?? p.set} | ${models[p.model] ?? p.model} C=${p.C} | ${g.length} | ` +
    `${pct(g.map((x) => x.ftk.accuracy))} | ${pct(g.map((x) => x.sklearn.accuracy))} | ${median(g.map((x) => x.accuracyDiffPoints)).toFixed(2)} | ` +
    `${median(g.map((x) => x.ftk.seconds)).toFixed(1)} s${conv(g.map((x) => x.ftk))} | ${median(g.map((x) => x.sklearn.seconds)).toFixed(1)} s${conv(g.map((x) => x.sklearn))} | ` +
    `**${median(ratios).toFixed(2)}** (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}) | ${primalCell} | ${beforeRatio(p)} | ${median(g.map((x) => x.loadavgBefore[0])).toFixed(1)} |`
  );
});
const first = pairs[0];
const medians = [...groups.values()].map((g) => ({
  what: `${g[0].backbone} ${g[0].set} ${models[g[0].model] ?? g[0].model}`,
  ratio: median(g.map((x) => x.ratio)),
  diff: median(g.map((x) => x.accuracyDiffPoints)),
  load: median(g.map((x) => x.loadavgBefore[0])),
}));
const within = medians.filter((x) => Math.abs(x.diff) <= 0.3);
const faster = medians.filter((x) => x.ratio <= 1);
const verdict =
  `Against the targets of issue 15 (accuracy within 0.3 points, fit time ratio <= 1.0): accuracy within 0.3 points in ` +
  `${within.length} of ${medians.length} configurations; fit time ratio <= 1.0 in ${faster.length} of ${medians.length}` +
  `${faster.length < medians.length ? ` (above: ${medians.filter((x) => x.ratio > 1).map((x) => `${x.what} ${x.ratio.toFixed(2)}`).join('; ')})` : ''}. ` +
  'Every pair as ratio @ load average: ' +
  pairs.map((p) => `${p.backbone} ${p.set} ${models[p.model] ?? p.model} ${p.ratio.toFixed(2)} @ ${p.loadavgBefore[0].toFixed(1)}`).join('; ') +
  '.';
const m = memory[memory.length - 1];
const l = limit[limit.length - 1];
const section = `## Linear models: ftk vs scikit-learn on 30,000 Fashion-MNIST images (issue 15)

ftk's \`LogisticRegression\` (multinomial, L-BFGS) and \`LinearSVC\` (one-vs-rest; \`dual: 'auto'\` solves the
primal by L-BFGS on these sets) against scikit-learn ${first?.sklearn.sklearn ?? '?'} (numpy ${first?.sklearn.numpy ?? '?'}) on the same features, the same C and the
same scaler (standardize, fitted on the training rows, counted in both fit times), both libraries'
defaults otherwise (tol 1e-4, max_iter 100 / 1000). 30,000 training images, accuracy on the
Fashion-MNIST test images of the same classes. ftk: every loss-and-gradient evaluation of L-BFGS is
one ONNX graph on ONNX Runtime with ${first?.ftkWorkers ?? '?'} threads (all cores): the two products over the rows on
MLAS' SGEMM, the row losses between them as element-wise operators (src/classify/linear_gemm.ts);
scikit-learn: \`n_jobs\` unused by both estimators (LIBLINEAR is single-threaded, multinomial lbfgs
ignores it), numpy's BLAS free to use both cores. LinearSVC's default in scikit-learn 1.2 is the
dual solver (\`dual=True\`); its primal (\`dual=False\`, LIBLINEAR's trust-region Newton, what
scikit-learn >= 1.5 picks with \`dual='auto'\` here) ran after each pair and is shown for the record.
Each pair ran interleaved (ftk then scikit-learn, the other way round on odd repeats); the ratio is
taken within each pair, the table gives medians (range over repeats) and the median 1-minute load
average before the pair. "before": the median ratio of the same configuration measured on
2026-12-02 before this change (JavaScript loops, LinearSVC's dual; \`bench/linear/results_before_gemm.jsonl\`,
under load averages of 5-31; its small-convnet features came from an earlier pretraining of the same
backbone). Iterations are not comparable across the LinearSVC solvers: L-BFGS steps (ftk),
coordinate-descent epochs (LIBLINEAR's dual), Newton steps (its primal).

| features | classes | model | pairs | ftk accuracy | sklearn accuracy | diff (points) | ftk fit | sklearn fit | ftk / sklearn | sklearn dual=False: fit, accuracy | ftk / sklearn dual=False | before | load |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

${verdict}

Memory (\`bench/linear/memory.ts\`, synthetic float32 features ${m?.rows ?? '?'} x ${m?.cols ?? '?'} = ${m?.matrixMb ?? '?'} MB, 20 epochs, all cores):
peak RSS of \`ftk svm fit --kernel linear\` ${m?.peakRssMb ?? '?'} MB = **${m?.ratio ?? '?'}x** the matrix (measured ${String(m?.date ?? '?').slice(0, 10)}, load average ${Array.isArray(m?.loadavg) ? (m!.loadavg as number[])[0] : '?'}), of which the CLI's
fixed cost is ${m?.cliOn300x8PeakRssMb ?? '?'} MB (the same command on a 300 x 8 file); the same fit through the library (\`svmFit\`, no CLI) ${m?.libraryPeakRssMb ?? '?'} MB = **${m?.libraryRatio ?? '?'}x**.
The matrix is read once and never copied or scaled: ONNX Runtime's products read it in place.

${
  large
    ? `\`ftk auto\` on ${large.images.toLocaleString('en-US')} images (\`bench/auto/large.ts\`: Fashion-MNIST classes 5-9, all training images, MobileNet 0.25 at 96 px, record \`bench/auto/large.jsonl\`, ${large.date.slice(0, 10)}, commit ${large.commit}): ` +
      `the feature path's classifiers were refitted on ${[...new Set(large.featureRefit.map((f) => f.nSamples))].join(', ')} rows (${[...new Set(large.featureRefit.map((f) => f.trainer))].join('; ')}), every row, no subsample; ` +
      `in its folds on ${Math.round((large.images * 4) / 5).toLocaleString('en-US')} training rows each. Contenders: ${large.contenders.map((c) => `${c.path} ${(100 * c.meanAccuracy).toFixed(2)}% over ${c.foldAccuracies.length} folds`).join(', ')}; pick **${large.chosen}**; ` +
      `${large.minutes.toFixed(1)} min for a ${large.budgetMinutes}-minute budget (load average ${large.loadavg.sampled1min.min.toFixed(1)}-${large.loadavg.sampled1min.max.toFixed(1)})${large.cuts?.length ? `; budget cuts: ${large.cuts.join('; ')}` : ''}. Command: \`${large.command}\`.\n\n`
    : ''
}The exact kernel's limit (\`bench/svm/limit.ts\`): an SVM on ${l?.samples ?? '?'} rows (\`maxPrecomputedSamples\`, default
100 MB cache) fitted, libsvm-js' heap at ${l ? (Number(l.heapBytesAfter) / 2 ** 30).toFixed(2) : '?'} GiB of ${l ? (Number(l.heapLimitBytes) / 2 ** 30).toFixed(2) : '?'} GiB afterwards (${l ? Number(l.seconds).toFixed(0) : '?'} s).

Commands: \`npx tsx bench/fashion_mnist.ts\` (PNG files and the small convnet), \`npx tsx bench/linear/features.ts\`,
\`npx tsx bench/linear/compare.ts\`, \`npm run build && npx tsx bench/linear/memory.ts\`, \`npx tsx bench/svm/limit.ts\`,
then \`npx tsx bench/linear/report.ts\`. Raw records: \`bench/linear/results.jsonl\`, \`bench/linear/memory.jsonl\`,
\`bench/svm/limit.jsonl\` (each line with its date, load average and versions). Two logistic-regression pairs measured
before the multinomial loss read a row once for four classes (it read it once for two) are kept apart in
\`bench/linear/results_before_4class_loop.jsonl\` (ratios 0.86 and 1.33) and are not in the table.
`;
writeResultsSection('linear-models', section);
console.log(section);
