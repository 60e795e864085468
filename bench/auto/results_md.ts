/**
 * Writes the "auto-datasets" section of bench/RESULTS.md from the raw records of the auto
 * benchmark: bench/auto/results.jsonl (bench/auto/run.ts, the last record of each dataset) and
 * bench/auto/before.jsonl (bench/auto/before.ts, the "before" picks on the cats-dogs subsets).
 *
 *   npx tsx bench/auto/results_md.ts [--print] [--results bench/auto/results.jsonl] [--before bench/auto/before.jsonl]
 *
 * --print shows the section without writing it.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeResultsSection } from '../results_md.js';
import { readRecords } from './common.js';
import { REFIT_PATHS } from './run.js';

type Rec = Record<string, any>;

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`);
const interval = (ci: [number, number] | undefined) => (ci ? `${(100 * ci[0]).toFixed(1)} to ${(100 * ci[1]).toFixed(1)}` : '');
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
const lastBy = (recs: Rec[], key: (r: Rec) => string): Rec[] => [...new Map(recs.map((r) => [key(r), r])).values()];

const tableHead = (cols: string[]) => `| ${cols.join(' | ')} |\n|${cols.map(() => '---|').join('')}`;

/** The full cats-dogs runs (bench/auto/cats_dogs.ts, bench/auto/cats_dogs.jsonl): one table per run. */
export function renderCatsDogs(records: Rec[]): string {
  if (!records.length) return '';
  const runs = lastBy(records, (r) => `${r.name} ${r.command}`);
  const one = (r: Rec) => {
    const mean = (xs: (number | null)[]) => {
      const v = xs.filter((x): x is number => x !== null);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
    };
    const contenders = (r.contenders as Rec[])
      .map((c) => `| ${c.path === r.chosen ? `**${c.path}**` : c.path} | ${pct(c.meanAccuracy)} (${interval(c.ci95)}) | ${(c.foldAccuracies as number[]).map((x) => pct(x)).join(', ')} | ${c.minutes.toFixed(1)} |`)
      .join('\n');
    const candidates = ((r.candidates ?? []) as Rec[])
      .map((c) => `| ${c.path} | \`${c.id}\` | ${pct(mean(c.innerScores))} | ${c.picked} | ${pct(mean(c.outerAccuracies ?? []))} | ${c.minutes.toFixed(1)} | ${[c.pruned, c.capHit].filter(Boolean).join('; ') || ''} |`)
      .join('\n');
    const l = r.loadavg;
    return `### cats-dogs, all 2,000 photos (\`${r.name}\`, ${r.date.slice(0, 10)}, commit ${r.commit})

\`${r.command}\` (\`npx tsx bench/auto/cats_dogs.ts --name ${r.name} ...\`), budget ${r.budgetMinutes} min: **${r.minutes.toFixed(1)} min** of wall time, 1-minute load average ${l.sampled1min.min.toFixed(1)} to ${l.sampled1min.max.toFixed(1)} during the run (sampled every 15 s; its own threads included) on ${r.cores} cores. Pick: **${r.chosen}**, ${pct(r.chosenAccuracy)} (95% interval ${interval(r.chosenCi95)}) over ${r.chosenFolds.length} outer folds, every choice (candidate, C/gamma, epochs) made inside the training folds.${r.cuts?.length ? ` Budget cuts: ${(r.cuts as string[]).join('; ')}.` : ''}

${tableHead(['contender', 'CV accuracy (95% interval)', 'per fold', 'minutes'])}
${contenders}

${tableHead(['path', 'candidate', 'mean inner score', 'picked in folds', 'outer accuracy where picked', 'minutes', 'note'])}
${candidates}
`;
  };
  return runs.map(one).join('\n');
}

/** The section's markdown from the two record files' contents. */
export function renderSection(results: Rec[], before: Rec[], catsDogs: Rec[] = []): string {
  if (results.length === 0) throw new Error('bench/auto/results.jsonl has no records: run `npx tsx bench/auto/run.ts` first');
  const runs = lastBy(results, (r) => r.dataset.name);
  const pathsShown = REFIT_PATHS.filter((p) => runs.some((r) => r.test?.[p]));
  const cvOf = (r: Rec, p: string) => (r.cv as Rec[]).find((x) => x.path === p);
  const loads = runs.map((r) => r.load);
  const commits = [...new Set(runs.map((r) => `${r.checkout.commit.slice(0, 7)}${r.checkout.dirty ? ' (with uncommitted changes)' : ''}`))];
  const dates = [...new Set(runs.map((r) => r.date.slice(0, 10)))];
  const budgets = [...new Set(runs.map((r) => r.budget?.minutes ?? 'default'))];

  const row = (r: Rec) => {
    const pick = cvOf(r, r.chosen);
    const tests = pathsShown.map((p) => {
      const s = r.test?.[p];
      return s ? (p === r.chosen ? `**${pct(s.accuracy)}**` : pct(s.accuracy)) : '—';
    });
    tests.unshift(`**${pct(r.pickOnTest.chosenAccuracy)}**`);
    const better = r.pickOnTest.pickWasBest === null ? 'only one path' : r.pickOnTest.pickWasBest ? 'yes' : `no (${r.pickOnTest.bestOtherPath} ${pct(r.pickOnTest.bestOtherAccuracy)})`;
    return `| ${r.dataset.name} | ${r.dataset.kind} | ${r.dataset.classes.length} | ${total(r.dataset.counts.train)} / ${total(r.dataset.counts.test)} | ${r.chosen} | ${pick ? `${pct(pick.meanAccuracy)} (${interval(pick.ci95)})` : '—'} | ${tests.join(' | ')} | ${better} | ${r.minutes.auto.toFixed(1)} (load ${r.load.min.toFixed(1)}-${r.load.max.toFixed(1)}) |`;
  };

  const subsetRows = runs
    .filter((r) => r.dataset.name.startsWith('cats-dogs-'))
    .map((r) => {
      const b = lastBy(before, (x) => x.subset.name).find((x) => x.subset.name === r.dataset.name);
      const after = cvOf(r, r.chosen);
      const afterTest = r.pickOnTest.chosenAccuracy as number;
      // The pick is the best contender, or within the paired 95% interval of it (best - pick reaches 0).
      const best = r.evidence?.best as string | undefined;
      const cmp = (r.comparisons as Rec[] | undefined)?.find((c) => c.a === best && c.b === r.chosen);
      const within = !best ? '—' : best === r.chosen ? 'yes (the best)' : cmp ? `${cmp.ci95[0] <= 0 ? 'yes' : '**no**'} (best ${best}, ${(100 * cmp.ci95[0]).toFixed(1)} to ${(100 * cmp.ci95[1]).toFixed(1)} points)` : '—';
      if (!b) return `| ${r.dataset.name} | not measured | ${r.chosen}: CV ${pct(after?.meanAccuracy)}, test ${pct(afterTest)} | ${within} | — |`;
      const bPick = (b.paths as Rec[]).find((x) => x.path === b.chosen);
      const points = (a: number, b: number) => `${a >= b ? '+' : ''}${(100 * (a - b)).toFixed(1)} points`;
      const cv = after && bPick ? `; CV ${points(after.meanAccuracy, bPick.meanAccuracy)}` : '';
      return `| ${r.dataset.name} | ${b.chosen}: CV ${pct(bPick?.meanAccuracy)} (${interval(bPick?.ci95)}), test ${pct(b.test.accuracy)} | ${r.chosen}: CV ${pct(after?.meanAccuracy)} (${interval(after?.ci95)}), test ${pct(afterTest)} | ${within} | ${afterTest >= b.test.accuracy ? 'yes' : '**no**'} (test ${points(afterTest, b.test.accuracy)}${cv}) |`;
    });
  const beforeCommits = [...new Set(before.map((b) => b.checkout.commit.slice(0, 7)))];

  const first = runs[0];
  const cores = first.cpus ?? os.availableParallelism();
  const minLoad = Math.min(...loads.map((l) => l.min));
  const maxLoad = Math.max(...loads.map((l) => l.max));
  const busy = maxLoad > cores + 0.5 ? `other jobs shared the ${cores} cores at times: minutes are slower and noisier than on an idle machine` : `no more runnable work than the ${cores} cores most of the time`;

  return `## \`ftk auto\` on real datasets and cats-dogs subsets (issue 14)

Script \`bench/auto/run.ts\` (datasets: \`bench/auto/datasets.ts\` and \`bench/auto/README.md\`; subsets: \`bench/auto/subsets.ts\`), records \`bench/auto/results.jsonl\` (and \`bench/auto/before.jsonl\` from \`bench/auto/before.ts\`); this section: \`npx tsx bench/auto/results_md.ts\`. Runs of ${dates.join(', ')} at commit ${commits.join(', ')}, budget ${budgets.join(', ')}.

\`ftk auto\` chose a path by cross-validation on the training images only; every path it refitted on all of them (\`--refit-all\`) then predicted the test images, which auto never saw (the repository's own test split, or a seeded stratified 30% hold-out; for the cats-dogs subsets the 500 photos per class no subset holds). Test accuracy with \`--no-unknown\` (every image gets a class); the pick's in bold. "Pick better on test" = the pick's test accuracy is at least every other refitted path's.

${tableHead(['dataset', 'kind', 'classes', 'train / test images', "auto's pick", "pick's CV accuracy (95% interval)", "pick's test accuracy", ...pathsShown.map((p) => `test: ${p}`), 'pick better on test?', 'minutes (load)'])}
${runs.map(row).join('\n')}
${catsDogs.length ? `\n${renderCatsDogs(catsDogs)}` : ''}
${
  subsetRows.length
    ? `
### cats-dogs subsets: the pick before and after (acceptance 3)

"Before" = \`ftk auto\` at ${beforeCommits.join(', ')} with the same flags and default budget (\`bench/auto/before.ts\`), its chosen bundle scored on the same test photos. The acceptance asks that the new pick is never below the old one; the test photos are the same for both, the folds of the CV estimates need not be.

${tableHead(['subset', 'before: pick, CV (95% interval), test', 'after: pick, CV (95% interval), test', 'pick within the paired interval of the best contender?', 'after not below before on test? (after - before)'])}
${subsetRows.join('\n')}
`
    : ''
}
### Commands

${runs.map((r) => `- ${r.dataset.name}: \`${r.commands.auto}\`, then ${(r.commands.predict as string[]).map((c) => `\`${c}\``).join(', ')}`).join('\n')}

Machine: ${first.cpu}, ${cores} cores, ${first.memoryGiB} GiB, ${first.platform}, Node ${first.node}; 1-minute load average ${minLoad.toFixed(1)} to ${maxLoad.toFixed(1)} during the runs (sampled every 20 s): ${busy}.
`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      print: { type: 'boolean', default: false },
      results: { type: 'string', default: 'bench/auto/results.jsonl' },
      before: { type: 'string', default: 'bench/auto/before.jsonl' },
      'cats-dogs': { type: 'string', default: 'bench/auto/cats_dogs.jsonl' },
    },
  });
  const md = renderSection(readRecords(values.results!), readRecords(values.before!), readRecords(values['cats-dogs']!));
  if (!values.print) writeResultsSection('auto-datasets', md);
  console.log(md);
}
