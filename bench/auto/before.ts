/**
 * The "before" baseline of issue 14 (acceptance 3): what `ftk auto` chose and scored on the
 * cats-dogs subsets (bench/auto/subsets.ts: 20, 100, 500 images per class) with the code of
 * another checkout, e.g. main before the change:
 *
 *   git -C /work/main worktree add --detach /work/wt/auto-before 1ebd4cd
 *   ln -s /work/main/node_modules /work/wt/auto-before/node_modules
 *   npx tsx bench/auto/before.ts --checkout /work/wt/auto-before [--sizes 20,100,500] [--force]
 *
 * For each subset, smallest first, one at a time: `ftk auto <subset> --out <run> --model mobilenet
 * --alpha 0.25 --weights <h5> --seed 0 --json` (default budget) with a fresh FTK_HOME (no feature
 * cache shared between runs), then the chosen bundle predicts the images no subset holds
 * (`cats-dogs-test`, 500 per class) with `ftk predict --no-unknown`. Appends one JSON line per
 * subset to bench/auto/before.jsonl: the checkout's commit, the pick and its reasons, every path's
 * cross-validated mean accuracy, 95% interval and fold accuracies, the fold plan (k, seed), the
 * budget, minutes, the load average sampled during the run, and the pick's test accuracy.
 * A subset already recorded for the same commit is skipped unless --force.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { appendRecord, BACKBONE_ARGS, prefixLines, checkoutInfo, environment, LoadWatch, pathScores, readRecords, readRun, runFtk, shownCommand, testAccuracy } from './common.js';
import { buildCatsDogsSubsets, SUBSET_DEFAULTS } from './subsets.js';

const { values } = parseArgs({
  options: {
    checkout: { type: 'string' },
    sizes: { type: 'string', default: SUBSET_DEFAULTS.sizes.join(',') },
    out: { type: 'string', default: 'bench/auto/before.jsonl' },
    work: { type: 'string', default: 'bench/.work/auto-before' },
    force: { type: 'boolean', default: false },
  },
});
if (!values.checkout) throw new Error('--checkout <dir> is required: the ftk checkout whose `ftk auto` is the baseline (e.g. /work/wt/auto-before at 1ebd4cd)');
const checkout = checkoutInfo(values.checkout);
const sizes = values.sizes!.split(',').map(Number);
const subsets = await buildCatsDogsSubsets({ sizes });
const done = readRecords(values.out!);

for (const subset of subsets.subsets) {
  if (!values.force && done.some((r) => r.checkout?.commit === checkout.commit && r.subset?.name === subset.name && r.subset?.filesSha256 === subset.filesSha256)) {
    console.log(`${subset.name}: already in ${values.out} for ${checkout.commit.slice(0, 7)} (--force to run again)`);
    continue;
  }
  const runDir = path.resolve(values.work!, checkout.commit.slice(0, 7), subset.name);
  rmSync(runDir, { recursive: true, force: true });
  const home = mkdtempSync(path.join(os.tmpdir(), 'ftk-auto-before-'));
  const args = ['auto', subset.dir, '--out', runDir, ...BACKBONE_ARGS, '--json'];
  const env = { FTK_HOME: home };
  console.log(`${subset.name}: ${shownCommand(args)} (in ${checkout.dir})`);
  const started = environment();
  const watch = new LoadWatch();
  const t0 = performance.now();
  const auto = await runFtk(checkout.dir, args, env, prefixLines(`  [${subset.name}] `));
  const autoMinutes = (performance.now() - t0) / 60_000;
  const load = watch.stop();
  const result = JSON.parse(auto.stdout) as { bundle: string };
  const run = readRun(runDir);
  const test = await testAccuracy(checkout.dir, result.bundle, subsets.test.dir, env);
  rmSync(home, { recursive: true, force: true });
  const record = {
    ...started,
    kind: 'before',
    checkout: { commit: checkout.commit, dirty: checkout.dirty, ftk: checkout.ftk },
    subset: { name: subset.name, source: '../shared/datasets/cats-dogs', seed: subsets.seed, counts: subset.counts, filesSha256: subset.filesSha256 },
    command: shownCommand(args.map((a) => (a === subset.dir ? `bench/.work/auto-subsets/${subset.name}` : a === runDir ? `<run>` : a))),
    chosen: run.decision.chosen,
    reasons: run.decision.reasons,
    evidence: run.decision.evidence,
    folds: run.folds,
    paths: pathScores(run),
    comparisons: run.comparisons,
    budget: run.budget,
    warnings: run.warnings,
    timings: { totalMs: run.timings?.totalMs, stages: run.timings?.stages.map((s) => ({ name: s.name, ms: Math.round(s.ms), ...(s.path ? { path: s.path } : {}) })) },
    wallMinutes: Number(autoMinutes.toFixed(2)),
    load,
    test: {
      set: subsets.test.name,
      counts: subsets.test.counts,
      filesSha256: subsets.test.filesSha256,
      model: `chosen bundle (${run.decision.chosen})`,
      command: shownCommand(test.command.map((a) => (a === result.bundle ? '<run>/bundle' : a === subsets.test.dir ? 'bench/.work/auto-subsets/cats-dogs-test' : a))),
      accuracy: test.accuracy,
      balancedAccuracy: test.balancedAccuracy,
      correct: test.correct,
      scored: test.scored,
      failed: test.failed,
      perClass: test.perClass,
      seconds: test.seconds,
    },
  };
  appendRecord(values.out!, record);
  const pick = record.paths.find((p) => p.path === record.chosen);
  console.log(
    `${subset.name}: chose ${record.chosen} (CV ${pick ? `${(100 * pick.meanAccuracy).toFixed(1)}% [${pick.ci95.map((x) => (100 * x).toFixed(1)).join(', ')}]` : 'n/a'}), ` +
      `${record.paths.map((p) => `${p.path} ${(100 * p.meanAccuracy).toFixed(1)}%`).join(', ')}; test ${(100 * test.accuracy).toFixed(1)}%; ${autoMinutes.toFixed(1)} min; load ${load.min}-${load.max}`,
  );
}
