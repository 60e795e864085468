/**
 * The auto benchmark (issue 14, acceptance 3 and 4): `ftk auto` on each real dataset of
 * bench/auto/datasets.ts and on the cats-dogs subsets of bench/auto/subsets.ts, then every path
 * it refitted scored on a test split it never saw. One JSON line per dataset in
 * bench/auto/results.jsonl; bench/auto/results_md.ts renders them.
 *
 *   npx tsx bench/auto/run.ts [--only flowers12 --only cats-dogs-20 ...] [--budget 30] [--force] [--dry-run]
 *                             [--checkout .] [--out bench/auto/results.jsonl] [--work bench/.work/auto-runs]
 *                             [--bundle-only]
 *
 * For each dataset, one at a time:
 *   ftk auto <train> --out <run> --model mobilenet --alpha 0.25 --weights <h5> --seed 0 --refit-all --json [--budget B]
 * (a fresh FTK_HOME per dataset, so no run reuses another's feature cache), then for each refitted
 * path `<run>/paths/<svm|finetune|ensemble>` and for the chosen `<run>/bundle`:
 *   ftk predict <bundle> <test> --json --no-unknown
 * scored against the test images' folder names (`--no-unknown`: every image gets a class, so this is
 * the classifier's accuracy, not the unknown detector's). The record holds the date, the checkout's
 * commit, versions, the load average (start, end, sampled every 20 s), the dataset and its counts,
 * the exact commands, auto's pick with its reasons, each path's cross-validated mean accuracy, 95%
 * interval and fold accuracies, each path's test accuracy, whether the pick was (one of) the best
 * on test, and minutes.
 *
 * Resumable: a dataset already in the output is skipped unless --force. `--bundle-only` runs without
 * `--refit-all` (for a checkout that lacks it) and scores `<run>/bundle` alone.
 *
 * Test splits: the datasets' `test/` (repository split or seeded 30% hold-out); for the cats-dogs
 * subsets, `cats-dogs-test` (the 500 photos per class no subset holds), the set bench/auto/before.ts
 * scores the "before" picks on.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  appendRecord,
  BACKBONE_ARGS,
  checkoutInfo,
  countImages,
  environment,
  LoadWatch,
  pathScores,
  prefixLines,
  readRecords,
  readRun,
  runFtk,
  shownCommand,
  testAccuracy,
  type TestScore,
} from './common.js';
import { buildDataset, DATASETS, DATASET_DEFAULTS, mirrorOf } from './datasets.js';
import { buildCatsDogsSubsets, SUBSET_DEFAULTS } from './subsets.js';

/** The paths `--refit-all` may write under `<run>/paths/`. */
export const REFIT_PATHS = Object.freeze(['svm', 'finetune', 'ensemble'] as const);

/** One benchmark target: a training folder auto sees and a test folder it never sees. */
export interface Target {
  name: string;
  kind: string;
  /** Where the images come from, for the record. */
  source: Record<string, unknown>;
  /** Builds the folders (idempotent) and returns them with their counts. */
  prepare: () => Promise<{ train: string; test: string; counts: { train: Record<string, number>; test: Record<string, number> } }>;
  /** The folders, as the documents show them (relative to the checkout). */
  shown: { train: string; test: string };
}

export function targets(work = DATASET_DEFAULTS.work): Target[] {
  const fromDatasets: Target[] = DATASETS.map((d) => ({
    name: d.name,
    kind: d.kind,
    source: { repo: d.repo, commit: d.commit, license: d.license, layout: d.layout, split: d.split, ...(d.subsample ? { subsample: d.subsample } : {}) },
    prepare: async () => {
      const b = await buildDataset(d, { work, onProgress: (m) => process.stderr.write(`${m}\n`) });
      if (b.failed.length) process.stderr.write(`${d.name}: ${b.failed.length} selected files did not decode (not used): ${b.failed.slice(0, 3).map((f) => f.source).join(', ')}\n`);
      return { train: b.train, test: b.test, counts: b.counts };
    },
    shown: { train: `${work}/${d.name}/train`, test: `${work}/${d.name}/test` },
  }));
  const fromSubsets: Target[] = SUBSET_DEFAULTS.sizes.map((n) => ({
    name: `cats-dogs-${n}`,
    kind: `cats-dogs subset, ${n} per class (acceptance 3)`,
    source: { dataset: SUBSET_DEFAULTS.source, perClass: n, seed: SUBSET_DEFAULTS.seed, test: 'cats-dogs-test (the photos no subset holds)' },
    prepare: async () => {
      const s = await buildCatsDogsSubsets();
      const sub = s.subsets.find((x) => x.name === `cats-dogs-${n}`)!;
      return { train: sub.dir, test: s.test.dir, counts: { train: sub.counts, test: s.test.counts } };
    },
    shown: { train: `${SUBSET_DEFAULTS.out}/cats-dogs-${n}`, test: `${SUBSET_DEFAULTS.out}/cats-dogs-test` },
  }));
  return [...fromDatasets, ...fromSubsets];
}

/** `--folder name=<dir>`: any `<dir>/{train,test}/<class>/<file>` folder as a target (e.g. to try the runner on a tiny set). */
export function folderTarget(spec: string): Target {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`--folder takes name=<dir> (a folder with train/ and test/ inside); received ${JSON.stringify(spec)}`);
  const name = spec.slice(0, eq);
  const dir = spec.slice(eq + 1);
  return {
    name,
    kind: 'folder given on the command line',
    source: { folder: dir },
    prepare: async () => {
      const count = (split: string) => {
        const root = path.resolve(dir, split);
        if (!existsSync(root)) throw new Error(`--folder ${name}: ${root} does not exist; the folder must hold train/<class>/... and test/<class>/...`);
        return countImages(root);
      };
      return { train: path.resolve(dir, 'train'), test: path.resolve(dir, 'test'), counts: { train: count('train'), test: count('test') } };
    },
    shown: { train: `${dir}/train`, test: `${dir}/test` },
  };
}

/** The `ftk auto` arguments of one run (`train` and `run` as given). */
export function autoArgs(train: string, run: string, options: { budget?: number; refitAll?: boolean } = {}): string[] {
  return ['auto', train, '--out', run, ...BACKBONE_ARGS, ...(options.refitAll === false ? [] : ['--refit-all']), '--json', ...(options.budget !== undefined ? ['--budget', String(options.budget)] : [])];
}

/** The bundles a finished run holds: `<run>/paths/<name>` for each path refitted, and the chosen `<run>/bundle`. */
export function runBundles(runDir: string): { name: string; dir: string }[] {
  const out = REFIT_PATHS.map((p) => ({ name: p as string, dir: path.join(runDir, 'paths', p) })).filter((b) => existsSync(b.dir));
  const chosen = path.join(runDir, 'bundle');
  if (existsSync(chosen)) out.push({ name: 'bundle', dir: chosen });
  return out;
}

export interface PickOnTest {
  /** The chosen path's test accuracy (from `<run>/paths/<chosen>`, else `<run>/bundle`). */
  chosenAccuracy: number;
  /** The best test accuracy among the other refitted paths; null when none was refitted. */
  bestOtherAccuracy: number | null;
  bestOtherPath: string | null;
  /** True when the pick's test accuracy is at least every other path's; null without another path. */
  pickWasBest: boolean | null;
  /** Pick minus best other, in accuracy (fraction); null without another path. */
  margin: number | null;
}

/** Was auto's pick the better path on the test split? Compares the refitted paths' test accuracies. */
export function pickOnTest(chosen: string, test: Record<string, { accuracy: number }>): PickOnTest {
  const chosenScore = test[chosen] ?? test.bundle;
  if (!chosenScore) throw new Error(`no test score for the chosen path ${chosen} (nor for <run>/bundle)`);
  const others = Object.entries(test).filter(([name]) => name !== chosen && name !== 'bundle');
  if (others.length === 0) return { chosenAccuracy: chosenScore.accuracy, bestOtherAccuracy: null, bestOtherPath: null, pickWasBest: null, margin: null };
  const [bestName, best] = others.reduce((a, b) => (b[1].accuracy > a[1].accuracy ? b : a));
  return {
    chosenAccuracy: chosenScore.accuracy,
    bestOtherAccuracy: best.accuracy,
    bestOtherPath: bestName,
    pickWasBest: chosenScore.accuracy >= best.accuracy,
    margin: chosenScore.accuracy - best.accuracy,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', multiple: true },
      budget: { type: 'string' },
      force: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      checkout: { type: 'string', default: '.' },
      out: { type: 'string', default: 'bench/auto/results.jsonl' },
      work: { type: 'string', default: 'bench/.work/auto-runs' },
      'bundle-only': { type: 'boolean', default: false },
      folder: { type: 'string', multiple: true },
    },
  });
  const all = [...targets(), ...(values.folder ?? []).map(folderTarget)];
  const unknown = (values.only ?? []).filter((n) => !all.some((t) => t.name === n));
  if (unknown.length) throw new Error(`--only ${unknown.join(', ')}: unknown; must be among [${all.map((t) => t.name).join(', ')}]`);
  // Without --only: every dataset and subset, plus the --folder targets.
  const chosen = values.only?.length ? all.filter((t) => values.only!.includes(t.name)) : all;
  const budget = values.budget === undefined ? undefined : Number(values.budget);
  if (budget !== undefined && !(budget > 0)) throw new Error(`--budget must be a positive number of minutes; received ${values.budget}`);
  const refitAll = !values['bundle-only'];
  const checkout = checkoutInfo(values.checkout!);
  const done = readRecords(values.out!);

  if (refitAll && !values['dry-run']) {
    const help = await runFtk(checkout.dir, ['auto', '--help']);
    if (!help.stdout.includes('--refit-all')) {
      throw new Error(`the ftk of ${checkout.dir} (${checkout.commit.slice(0, 7)}) has no \`ftk auto --refit-all\`: run this on a checkout that has it, or pass --bundle-only to score <run>/bundle alone`);
    }
  }

  for (const t of chosen) {
    const runDir = path.resolve(values.work!, t.name);
    const shownRun = path.relative(checkout.dir, runDir);
    const shownArgs = autoArgs(t.shown.train, shownRun, { budget, refitAll });
    if (!values.force && done.some((r) => r.dataset?.name === t.name)) {
      console.log(`${t.name}: already in ${values.out} (--force to run again)`);
      continue;
    }
    if (values['dry-run']) {
      const ds = DATASETS.find((d) => d.name === t.name);
      let mirror = 'shared dataset';
      if (ds) {
        try {
          mirror = `snapshot ${mirrorOf(ds)}`;
        } catch (err) {
          mirror = (err as Error).message;
        }
      }
      console.log(`${t.name} (${t.kind}; ${mirror}):\n  ${shownCommand(shownArgs)}\n  then, for each of ${shownRun}/paths/{${REFIT_PATHS.join(',')}} that exists and ${shownRun}/bundle:\n  ftk predict <that> ${t.shown.test} --json --no-unknown`);
      continue;
    }

    const { train, test, counts } = await t.prepare();
    rmSync(runDir, { recursive: true, force: true });
    const home = mkdtempSync(path.join(os.tmpdir(), 'ftk-auto-bench-'));
    const env = { FTK_HOME: home };
    const args = autoArgs(train, runDir, { budget, refitAll });
    console.log(`${t.name}: ${shownCommand(shownArgs)}`);
    const started = environment();
    const watch = new LoadWatch();
    const t0 = performance.now();
    await runFtk(checkout.dir, args, env, prefixLines(`  [${t.name}] `));
    const autoMinutes = (performance.now() - t0) / 60_000;
    const run = readRun(runDir);

    const testScores: Record<string, TestScore & { seconds: number }> = {};
    const predictCommands: string[] = [];
    for (const b of runBundles(runDir)) {
      const s = await testAccuracy(checkout.dir, b.dir, test, env);
      const { command, ...score } = s;
      testScores[b.name] = score;
      predictCommands.push(shownCommand(command.map((a) => (a === b.dir ? path.relative(checkout.dir, b.dir) : a === test ? t.shown.test : a))));
      console.log(`  ${t.name}: ${b.name} test accuracy ${(100 * s.accuracy).toFixed(1)}% (${s.correct}/${s.scored})`);
    }
    const load = watch.stop();
    rmSync(home, { recursive: true, force: true });
    const totalMinutes = (performance.now() - t0) / 60_000;
    const onTest = pickOnTest(run.decision.chosen, testScores);

    appendRecord(values.out!, {
      ...started,
      checkout: { commit: checkout.commit, dirty: checkout.dirty, ftk: checkout.ftk },
      load,
      dataset: { name: t.name, kind: t.kind, ...t.source, classes: Object.keys(counts.train), counts },
      commands: { auto: shownCommand(shownArgs), predict: predictCommands },
      refitAll,
      chosen: run.decision.chosen,
      reasons: run.decision.reasons,
      folds: run.folds,
      cv: pathScores(run),
      comparisons: run.comparisons,
      evidence: run.decision.evidence,
      candidates: run.candidates?.map((c) => ({ id: c.id, path: c.path, innerScores: c.innerScores, picked: c.picked, outerAccuracies: c.outerAccuracies, minutes: c.ms / 60000, pruned: c.pruned, capHit: c.capHit })),
      budget: run.budget,
      warnings: run.warnings,
      test: testScores,
      pickOnTest: onTest,
      // <run>/bundle is the chosen path's refit: the same accuracy as <run>/paths/<chosen>, or something is off.
      bundleMatchesChosen: testScores.bundle && testScores[run.decision.chosen] ? testScores.bundle.correct === testScores[run.decision.chosen].correct : null,
      minutes: { auto: Number(autoMinutes.toFixed(2)), total: Number(totalMinutes.toFixed(2)), budgetUsed: run.budget?.usedMinutes ?? null, autoTotalMs: run.timings?.totalMs ?? null },
    });
    const pick = run.paths?.find((p) => p.path === run.decision.chosen);
    console.log(
      `${t.name}: chose ${run.decision.chosen}` +
        (pick ? ` (CV ${(100 * pick.meanAccuracy).toFixed(1)}%, 95% interval ${pick.ci95.map((x) => (100 * x).toFixed(1)).join(' to ')})` : '') +
        `; test ${(100 * onTest.chosenAccuracy).toFixed(1)}%` +
        (onTest.pickWasBest === null ? '' : `, best other ${onTest.bestOtherPath} ${(100 * onTest.bestOtherAccuracy!).toFixed(1)}%: pick ${onTest.pickWasBest ? 'was' : 'was not'} the better path`) +
        `; ${autoMinutes.toFixed(1)} min; load ${load.min}-${load.max}`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
