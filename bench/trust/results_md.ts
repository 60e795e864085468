/**
 * Writes the "trust" section of bench/RESULTS.md from the raw records of bench/trust/results/
 * (calibration.jsonl, ood.jsonl, labelling.jsonl): the last record of each measurement is shown.
 *
 *   npx tsx bench/trust/results_md.ts
 */
import { readFileSync } from 'node:fs';
import { writeResultsSection } from '../results_md.js';

type Rec = Record<string, any>;
const read = (name: string): Rec[] =>
  readFileSync(`bench/trust/results/${name}.jsonl`, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
const last = (recs: Rec[], key: (r: Rec) => string): Rec[] => [...new Map(recs.map((r) => [key(r), r])).values()];
const f4 = (x: number) => x.toFixed(4);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const loads = (recs: Rec[]) => {
  const l = recs.map((r) => r.loadavg[0]);
  return `${Math.min(...l).toFixed(1)}-${Math.max(...l).toFixed(1)}`;
};
const dates = (recs: Rec[]) => [...new Set(recs.map((r) => r.date.slice(0, 10)))].join(', ');

const cal = last(read('calibration'), (r) => r.set);
const ood = last(read('ood'), (r) => `${r.known}|${r.unknown}|${r.method}`);
// One row per set: each strategy's latest summary (runs may cover some strategies only; random is
// deterministic per seed, so every run's random curve is the same).
const STRATS = ['suggest', 'mixed', 'margin'] as const;
const lab = last(read('labelling').filter((r) => r.summary), (r) => r.set).map((row) => {
  const merged: Rec = { ...row };
  for (const r of read('labelling').filter((x) => x.summary && x.set === row.set)) for (const k of ['random', ...STRATS]) if (r[k]) merged[k] = r[k];
  return merged;
});
const cellOf = (r: Rec, k: string) => (r[k] ? `${r[k].labelsToReachRandomFinal ?? 'not reached'}${r[k].saving === null ? '' : ` (${pct(r[k].saving)} fewer)`}` : 'not run');

let md = `## Calibration, unknown detection, labelling order (issue 18)

Scripts: \`bench/trust/calibration.ts\`, \`bench/trust/finetune_calibration.ts\`, \`bench/trust/ood.ts\`, \`bench/trust/labelling.ts\` (inputs: \`bench/trust/README.md\`); raw records with date, load average and versions in \`bench/trust/results/*.jsonl\`; this section: \`npx tsx bench/trust/results_md.ts\`. Runs of ${dates([...cal, ...ood, ...lab])}, 1-minute load average ${loads([...cal, ...ood, ...lab])} on 2 shared cores (no timing is compared here).

### Calibration: ECE (15 bins) on images the calibration never saw

"before" for the SVM = libsvm's probabilities (already Platt-scaled on internal 5-fold decision values, plus pairwise coupling above 2 classes); "after" = with the temperature ftk fits on the training images' out-of-fold probabilities. Fine-tuned: softmax before/after the temperature fitted on the 20% validation split.

| data, path | protocol | accuracy | ECE before | ECE after | NLL before | NLL after | temperature |
|---|---|---|---|---|---|---|---|
${cal.map((r) => `| ${r.set} | ${r.protocol} | ${pct(r.accuracy)} | ${f4(r.eceBefore)} | **${f4(r.eceAfter)}** | ${f4(r.nllBefore)} | ${f4(r.nllAfter)} | ${r.temperature ?? (r.perFold ? r.perFold.map((p: Rec) => p.temperature.toFixed(2)).join(', ') : '')} |`).join('\n')}

Per-fold ECE of the cross-validated rows (one fold = 1/5 of the images, so noisier): ${cal.filter((r) => r.perFold).map((r) => `${r.set.replace(/ \(.*\)$/, '')}: ${r.perFold.map((p: Rec) => `${f4(p.eceBefore)} -> ${f4(p.eceAfter)}`).join('; ')}`).join('. ')}.

### Unknown detection: AUROC, unknowns caught and known images rejected at the 5% threshold

Known images: 5 outer folds; each fold's detector is fitted as \`ftk svm fit\` fits it (threshold from its own out-of-fold scores) and scores the held-out known images and every unknown image; means over the folds.

| known (model's data) | unknowns | method | AUROC | unknowns caught | known rejected |
|---|---|---|---|---|---|
${ood.map((r) => `| ${r.knownNote} | ${r.unknownNote} | ${r.method} | ${f4(r.auroc)} | ${pct(r.caught)} | ${pct(r.rejected)} |`).join('\n')}

### Labelling order: \`suggestLabels\` vs random (5 seeds)

25% of each set held out for testing; start with 10 labelled images per class, add 50 per round (RBF SVM C=4, gamma=scale, the same for every strategy). "labels to reach" = total labels (the starting ones included) at which the mean curve reaches random's final mean accuracy (linear interpolation).

Strategies: "w auto" = novelty weight unlabelled / (unlabelled + labelled) (Cardoso et al. 2017; ftk's first default); "w 0.5" = equal weights (ftk's default since this measurement); "w 0" = uncertainty (margin) only.

| data | random: final accuracy at labels | labels to reach it: w auto | w 0.5 | w 0 |
|---|---|---|---|---|
${lab.map((r) => `| ${r.set} | ${pct(r.randomFinalAccuracy)} at ${r.randomFinalLabels} | ${cellOf(r, 'suggest')} | ${cellOf(r, 'mixed')} | ${cellOf(r, 'margin')} |`).join('\n')}

Mean test accuracy (%) after each round (labels ${lab.map((r) => `${r.set}: ${r.labels.join(', ')}`).join('; ')}):

${lab.flatMap((r) => ['random', ...STRATS].filter((k) => r[k]).map((k) => `- ${r.set}, ${k === 'suggest' ? 'w auto' : k === 'mixed' ? 'w 0.5' : k === 'margin' ? 'w 0' : 'random'}: ${r[k].meanAccuracy.map((a: number) => (100 * a).toFixed(1)).join(' ')}`)).join('\n')}
`;
writeResultsSection('trust', md);
console.log(md);
