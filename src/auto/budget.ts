/**
 * The time budget of `ftk auto` (`--budget`), shared evenly by the paths so that the contest stays
 * fair (issue 14):
 *
 * - Outer folds are cut for every path or for none (`planFolds`): a path that ran more folds than
 *   another would be compared on folds the other never saw, and the decision rule only compares
 *   the folds every contender completed (src/auto/decision.ts), so the extra folds would be wasted.
 * - Time estimates leave out one-time costs (`PathCost.oneTimeMs`: a cold feature cache, a weight
 *   download, a model export, a first JIT/kernel compile). A slow first fold therefore does not by
 *   itself cut folds: only the part that repeats is multiplied by the folds still to run.
 * - `splitBudget` gives each path an equal share of a time budget; what a finished path left unused
 *   goes to the others.
 *
 * Pure arithmetic on milliseconds; the caller measures and narrates.
 */
import { OptionsError } from '../errors.js';
import { duration } from '../report/format.js';

export interface PathCost {
  /** Path name, e.g. 'svm', 'finetune' (used in the sentence). */
  path: string;
  /** Wall time of this path's first outer fold (ms), one-time costs included. */
  firstFoldMs: number;
  /** The part of `firstFoldMs` that will not repeat (cold cache, download, export); ms. */
  oneTimeMs: number;
}

export interface PlanFoldsInput {
  /** The whole run's budget (ms). */
  budgetMs: number;
  /** Time already spent by the run (ms), the folds done included. */
  elapsedMs: number;
  /** Outer folds planned (k of the stratified k-fold). */
  k: number;
  /** Outer folds every path has already completed. */
  foldsDone: number;
  /** What one fold costs each path. */
  costs: readonly PathCost[];
  /** Time kept for what must still run after the folds: the final refit (ms). */
  refitMs: number;
}

export interface OuterFoldPlan {
  /** Outer folds every path runs: in [foldsDone, k]. */
  folds: number;
  /** Estimated time of one more fold of all paths (ms), one-time costs left out. */
  perFoldMs: number;
  /** What was cut and why, as a sentence with its numbers; undefined when nothing was cut. */
  cut?: string;
}

function nonNegative(name: string, x: unknown): void {
  if (!(typeof x === 'number' && Number.isFinite(x) && x >= 0)) {
    throw new OptionsError(`${name} must be a finite number of milliseconds >= 0. Received ${name}=${JSON.stringify(x)}.`, { code: 'BUDGET_BAD_NUMBER' });
  }
}

/**
 * How many outer folds ALL paths run (the same number for every path) within the budget.
 *
 * One more fold of all paths is estimated at the sum over the paths of `firstFoldMs - oneTimeMs`
 * (never below 0); as many such folds are planned as fit in `budgetMs - elapsedMs - refitMs`,
 * never fewer than `foldsDone` (they are measured already) and at most `k`.
 *
 * ```ts
 * planFolds({ budgetMs: 30 * 60e3, elapsedMs: 9 * 60e3, k: 5, foldsDone: 1, refitMs: 4 * 60e3,
 *   costs: [{ path: 'svm', firstFoldMs: 20e3, oneTimeMs: 0 }, { path: 'finetune', firstFoldMs: 8 * 60e3, oneTimeMs: 3 * 60e3 }] });
 * // { folds: 4, perFoldMs: 320000, cut: 'outer folds cut from 5 to 4 for every path: ...' }
 * ```
 */
export function planFolds(o: PlanFoldsInput): OuterFoldPlan {
  nonNegative('budgetMs', o.budgetMs);
  nonNegative('elapsedMs', o.elapsedMs);
  nonNegative('refitMs', o.refitMs);
  if (!Number.isInteger(o.k) || o.k < 1) throw new OptionsError(`k must be an integer >= 1. Received k=${o.k}.`, { code: 'BUDGET_BAD_K' });
  if (!Number.isInteger(o.foldsDone) || o.foldsDone < 0 || o.foldsDone > o.k) {
    throw new OptionsError(`foldsDone must be an integer in [0, k=${o.k}]. Received foldsDone=${o.foldsDone}.`, { code: 'BUDGET_BAD_FOLDS_DONE' });
  }
  for (const c of o.costs) {
    nonNegative(`${c.path}: firstFoldMs`, c.firstFoldMs);
    nonNegative(`${c.path}: oneTimeMs`, c.oneTimeMs);
  }
  const perPath = o.costs.map((c) => Math.max(0, c.firstFoldMs - c.oneTimeMs));
  const perFoldMs = perPath.reduce((a, b) => a + b, 0);
  const leftMs = o.budgetMs - o.elapsedMs - o.refitMs;
  const more = perFoldMs > 0 ? Math.max(0, Math.floor(leftMs / perFoldMs)) : o.k;
  const folds = Math.min(o.k, o.foldsDone + more);
  if (folds >= o.k) return { folds: o.k, perFoldMs };
  const oneTime = o.costs.reduce((a, c) => a + Math.min(c.oneTimeMs, c.firstFoldMs), 0);
  const cut =
    `outer folds cut from ${o.k} to ${folds} for every path: one more fold of all paths takes about ${duration(perFoldMs)} ` +
    `(${o.costs.map((c, i) => `${c.path} ${duration(perPath[i])}`).join(', ')}${oneTime > 0 ? `; one-time costs of ${duration(oneTime)} left out` : ''}), ` +
    `and ${duration(Math.max(0, leftMs))} of the ${duration(o.budgetMs)} budget are left after ${duration(o.elapsedMs)} spent and ${duration(o.refitMs)} kept for the refit`;
  return { folds, perFoldMs, cut };
}

/**
 * Each path's share of `budgetMs` (ms). Paths named in `spentMs` have finished: each is charged
 * what it spent, and the rest of the budget is split evenly among the paths still running (so what
 * a finished path left unused goes to the others, and an overrun is taken from them). Without
 * `spentMs` every path gets `budgetMs / paths.length`. Shares are never below 0.
 *
 * ```ts
 * splitBudget(600_000, ['svm', 'finetune']);                     // { svm: 300000, finetune: 300000 }
 * splitBudget(600_000, ['svm', 'finetune'], { svm: 60_000 });   // { svm: 60000, finetune: 540000 }
 * ```
 */
export function splitBudget(budgetMs: number, paths: readonly string[], spentMs: Readonly<Record<string, number>> = {}): Record<string, number> {
  nonNegative('budgetMs', budgetMs);
  if (paths.length === 0 || new Set(paths).size !== paths.length) {
    throw new OptionsError(`splitBudget needs one or more distinct path names. Received [${paths.join(', ')}].`, { code: 'BUDGET_BAD_PATHS' });
  }
  const unknown = Object.keys(spentMs).filter((p) => !paths.includes(p));
  if (unknown.length) {
    throw new OptionsError(`spentMs names path(s) not in the split: ${unknown.join(', ')}. Allowed: ${paths.join(', ')}.`, { code: 'BUDGET_BAD_PATHS' });
  }
  for (const [p, ms] of Object.entries(spentMs)) nonNegative(`${p}: spentMs`, ms);
  const running = paths.filter((p) => !(p in spentMs));
  const left = Math.max(0, budgetMs - Object.values(spentMs).reduce((a, b) => a + b, 0));
  return Object.fromEntries(paths.map((p) => [p, p in spentMs ? spentMs[p] : left / running.length]));
}
