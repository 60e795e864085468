/**
 * The decision rule of `ftk auto`: which contender (the feature path's nested selection, the
 * fine-tuning path's, or their ensemble) is refitted and shipped, from the outer-fold accuracies
 * alone. One rule, written once: `decide()` applies it and the report prints it (`DECISION_RULE`).
 *
 * The rule:
 *   The contenders are compared on the outer folds every one of them completed. The best is the
 *   highest mean accuracy. The chosen one is the cheapest contender whose paired difference to the
 *   best is within noise (the 95% interval of best - contender, over paired folds, reaches 0); with
 *   the best itself when it is also the cheapest. A contender with fewer than 2 folds in common
 *   with the others has no interval: it cannot be chosen over a contender that has >= 2 folds, and
 *   the report says so. When no two contenders share 2 folds, nothing can be compared: the
 *   cheapest contender that completed 2 or more folds is chosen (any that completed one, when none
 *   did). Equal means go to the cheaper contender, equal costs to the higher mean.
 *
 * Why paired: every contender is scored on the same outer folds, so a fold that is hard for one is
 * hard for all; the per-fold differences cancel that shared variation and their interval is much
 * narrower than the two separate accuracy intervals would suggest.
 * Why the cheapest within noise: the folds share training data, so this Student t interval is a
 * little optimistic (Bengio & Grandvalet 2004); a difference that does not clear even this interval
 * does not pay for a model that costs more to train, to ship and to run.
 * Why "folds every one of them completed": a contender that skipped a fold (budget) must not be
 * compared on different folds than the others: an easy fold would flatter whoever ran it.
 *
 * Pure: numbers in, a decision with its sentences out. Ids are typed by the caller (`PathName` for
 * `ftk auto`), so the comparisons drop into the run record's `comparisons` unchanged.
 */
import { mean } from '../classify/metrics.js';
import { OptionsError } from '../errors.js';
import { differenceInterval95 } from '../report/build.js';
import { duration, pct, pp, ppInterval } from '../report/format.js';

/** The rule in words, as the report prints it (the same text as this module's header). */
export const DECISION_RULE =
  'The contenders are compared on the outer folds every one of them completed. The best is the highest mean accuracy. ' +
  'The chosen one is the cheapest contender whose paired difference to the best is within noise (the 95% interval of best - contender, over paired folds, reaches 0); ' +
  'with the best itself when it is also the cheapest. ' +
  'A contender with fewer than 2 folds in common with the others has no interval: it cannot be chosen over a contender that has >= 2 folds, and the report says so. ' +
  'When no two contenders share 2 folds, nothing can be compared: the cheapest contender that completed 2 or more folds is chosen (any that completed one, when none did). ' +
  'Equal means go to the cheaper contender, equal costs to the higher mean.';

/** Paired folds a 95% interval needs (one fold has no spread). */
export const MIN_PAIRED_FOLDS = 2;

/** Contenders `decide` accepts at most: it searches their subsets (paths and ensembles, not grid points). */
const MAX_CONTENDERS = 16;

/** Means closer than this are equal (sums of the same fold accuracies in another order). */
const EPS = 1e-12;

export interface Contender<Id extends string = string> {
  /** Unique id, e.g. 'svm', 'finetune', 'ensemble'. */
  id: Id;
  /** Name in sentences, e.g. 'Fine-tuning'. */
  label: string;
  /** Accuracy in [0, 1] on each outer fold, fold order; null = not run (budget). Same length for every contender. */
  foldAccuracies: readonly (number | null)[];
  /**
   * Training + prediction time of one outer fold (ms): what "cheaper" means. An ensemble costs the
   * sum of its members.
   */
  costPerFoldMs: number;
}

/** Paired differences best - other on the folds both completed (`a` is the best). */
export interface ContenderComparison<Id extends string = string> {
  a: Id;
  b: Id;
  /** The outer folds compared (0-based). */
  folds: number[];
  /** accuracy(a) - accuracy(b), fold by fold. */
  differences: number[];
  meanDifference: number;
  /** 95% interval of the mean difference (Student t over the folds); [m, m] for one fold. */
  ci95: [number, number];
  /** The interval reaches 0: `b` is not distinguishable from the best. */
  withinNoise: boolean;
}

export interface DecisionResult<Id extends string = string> {
  /** The contender to refit and ship. */
  chosen: Id;
  /**
   * Highest mean accuracy on `commonFolds`. When nothing could be compared: the highest mean on its
   * own folds among the contenders that could be chosen (a one-fold mean is not trusted).
   */
  best: Id;
  /** Some compared contender is within noise of the best (the best did not win outright). */
  withinNoise: boolean;
  /** The outer folds (0-based) every compared contender completed; empty when nothing was compared. */
  commonFolds: number[];
  /** The contenders compared, with their mean accuracy on `commonFolds`, in input order. */
  compared: { id: Id; meanAccuracy: number }[];
  /** best - each other compared contender, in input order. */
  comparisons: ContenderComparison<Id>[];
  /** Why, as full sentences with their numbers. */
  reasons: string[];
  /** Contenders left out of the comparison, each with a full sentence saying why. */
  excluded: { id: Id; why: string }[];
}

/** 'fold 3' / 'folds 1, 2, 4' (1-based, as the report numbers folds). */
function foldList(folds: readonly number[]): string {
  return `${folds.length === 1 ? 'fold' : 'folds'} ${folds.map((f) => f + 1).join(', ')}`;
}

/** 'A', 'A and B', 'A, B and C'. */
function names(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function check(contenders: readonly Contender[]): number {
  if (!Array.isArray(contenders) || contenders.length === 0) {
    throw new OptionsError('decide needs at least one contender. Received none.', { code: 'DECIDE_NO_CONTENDERS', suggestion: 'Pass the outer-fold accuracies of every path that ran.' });
  }
  if (contenders.length > MAX_CONTENDERS) {
    throw new OptionsError(`decide compares at most ${MAX_CONTENDERS} contenders (paths and ensembles, not grid points). Received ${contenders.length}.`, {
      code: 'DECIDE_TOO_MANY',
      suggestion: 'Select within each path first (nested), then pass one contender per path.',
    });
  }
  const k = contenders[0].foldAccuracies.length;
  const seen = new Set<string>();
  for (const c of contenders) {
    if (typeof c.id !== 'string' || seen.has(c.id)) {
      throw new OptionsError(`Contender ids must be unique strings. Received ${JSON.stringify(c.id)} twice or not a string.`, { code: 'DECIDE_BAD_ID' });
    }
    seen.add(c.id);
    if (c.foldAccuracies.length !== k) {
      throw new OptionsError(`Every contender needs one entry per outer fold: ${contenders[0].id} has ${k}, ${c.id} has ${c.foldAccuracies.length}.`, {
        code: 'DECIDE_FOLDS',
        suggestion: 'Pass null for a fold a contender did not run.',
      });
    }
    for (let f = 0; f < k; f++) {
      const a: unknown = c.foldAccuracies[f];
      if (a !== null && !(typeof a === 'number' && a >= 0 && a <= 1)) {
        throw new OptionsError(`${c.id}: the accuracy of fold ${f + 1} must be a number in [0, 1] or null. Received ${JSON.stringify(a)}.`, { code: 'DECIDE_ACCURACY' });
      }
    }
    if (!(typeof c.costPerFoldMs === 'number' && Number.isFinite(c.costPerFoldMs) && c.costPerFoldMs >= 0)) {
      throw new OptionsError(`${c.id}: costPerFoldMs must be a finite number >= 0. Received ${JSON.stringify(c.costPerFoldMs)}.`, { code: 'DECIDE_COST' });
    }
  }
  return k;
}

const completed = (c: Contender): number[] => c.foldAccuracies.flatMap((a, f) => (a === null ? [] : [f]));

/** Lexicographic order of two index lists of the same length. */
function comesFirst(a: readonly number[], b: readonly number[]): boolean {
  const i = a.findIndex((x, j) => x !== b[j]);
  return i >= 0 && a[i] < b[i];
}

/**
 * The largest group of contenders that completed at least 2 folds in common; among groups of the
 * same size the one sharing the most folds, then the one whose members come first in input order.
 * A group of one means no two contenders share 2 folds.
 */
function largestComparableGroup(done: readonly number[][]): { members: number[]; folds: number[] } {
  let best: { members: number[]; folds: number[] } = { members: [], folds: [] };
  for (let mask = 1; mask < 1 << done.length; mask++) {
    const members = done.map((_, i) => i).filter((i) => mask & (1 << i));
    const folds = members.reduce<number[]>((acc, i) => acc.filter((f) => done[i].includes(f)), done[members[0]]);
    if (members.length > 1 && folds.length < MIN_PAIRED_FOLDS) continue;
    const better =
      members.length > best.members.length ||
      (members.length === best.members.length && folds.length > best.folds.length) ||
      (members.length === best.members.length && folds.length === best.folds.length && comesFirst(members, best.members));
    if (better) best = { members, folds };
  }
  return best;
}

/** Cheapest first; equal costs: higher mean first; then input order. */
function cheapest<T extends { cost: number; mean: number; index: number }>(xs: readonly T[]): T {
  return [...xs].sort((a, b) => a.cost - b.cost || b.mean - a.mean || a.index - b.index)[0];
}

/**
 * Applies the decision rule (see the module header and `DECISION_RULE`) to the contenders'
 * outer-fold accuracies.
 *
 * ```ts
 * const d = decide([
 *   { id: 'svm', label: 'SVM', foldAccuracies: [0.90, 0.88, 0.91, 0.89, 0.90], costPerFoldMs: 2_000 },
 *   { id: 'finetune', label: 'Fine-tuning', foldAccuracies: [0.91, 0.90, 0.90, 0.91, 0.90], costPerFoldMs: 240_000 },
 * ]);
 * d.best;    // 'finetune' (90.4% vs 89.6%)
 * d.chosen;  // 'svm': within noise of the best and cheaper
 * ```
 * Throws OptionsError for no contenders, duplicate ids, fold lists of different lengths,
 * accuracies outside [0, 1], a negative cost, or no contender with a completed fold.
 */
export function decide<Id extends string>(contenders: readonly Contender<Id>[]): DecisionResult<Id> {
  const k = check(contenders);
  const done = contenders.map(completed);
  if (done.every((d) => d.length === 0)) {
    throw new OptionsError(`No contender completed an outer fold (${contenders.map((c) => c.id).join(', ')}): there is nothing to decide on.`, {
      code: 'DECIDE_NOTHING_RAN',
      suggestion: 'Raise --budget so that at least one fold of each path fits.',
    });
  }
  const group = largestComparableGroup(done);
  if (group.members.length < 2) return decideWithoutComparison(contenders, done, k);

  const { members, folds } = group;
  const means = new Map(members.map((i) => [i, mean(folds.map((f) => contenders[i].foldAccuracies[f]!))]));
  const info = members.map((i) => ({ index: i, mean: means.get(i)!, cost: contenders[i].costPerFoldMs }));
  // Highest mean; equal means go to the cheaper (then input order).
  const bestInfo = [...info].sort((a, b) => (Math.abs(a.mean - b.mean) > EPS ? b.mean - a.mean : a.cost - b.cost || a.index - b.index))[0];
  const best = contenders[bestInfo.index];
  const comparisons: ContenderComparison<Id>[] = members
    .filter((i) => i !== bestInfo.index)
    .map((i) => {
      const differences = folds.map((f) => best.foldAccuracies[f]! - contenders[i].foldAccuracies[f]!);
      const ci95 = differenceInterval95(differences);
      return { a: best.id, b: contenders[i].id, folds: [...folds], differences, meanDifference: mean(differences), ci95, withinNoise: ci95[0] <= EPS };
    });
  const inNoise = new Set(comparisons.filter((c) => c.withinNoise).map((c) => c.b));
  const eligible = info.filter((x) => x.index === bestInfo.index || inNoise.has(contenders[x.index].id));
  const chosenInfo = cheapest(eligible);
  const chosen = contenders[chosenInfo.index];

  const excluded = contenders
    .map((c, i) => ({ c, i }))
    .filter(({ i }) => !members.includes(i))
    .map(({ c, i }) => ({ id: c.id, why: exclusionReason(c, done[i], members.map((j) => contenders[j]), folds) }));
  const label = (id: Id) => contenders.find((c) => c.id === id)!.label;
  const reasons: string[] = [];
  reasons.push(
    `Compared on the ${plural(folds.length, 'outer fold')} ${members.length === 2 ? 'both' : `all ${members.length}`} contenders completed (${folds.length === k ? 'every fold' : `${foldList(folds)} of ${k}`})` +
      (excluded.length ? `; not compared: ${excluded.map((e) => label(e.id)).join(', ')} (too few folds in common).` : '.'),
  );
  reasons.push(`Highest mean accuracy: ${best.label}, ${pct(bestInfo.mean)} on those folds (${info.filter((x) => x !== bestInfo).map((x) => `${contenders[x.index].label} ${pct(x.mean)}`).join(', ')}).`);
  for (const c of comparisons) {
    reasons.push(
      `${best.label} - ${label(c.b)} = ${pp(c.meanDifference)} (95% interval ${ppInterval(c.ci95)}) over ${plural(c.differences.length, 'paired fold')}: ` +
        (c.withinNoise ? 'within noise.' : `${best.label} is ahead beyond noise.`),
    );
  }
  const cost = (i: number) => `${duration(contenders[i].costPerFoldMs)} per fold`;
  if (chosenInfo.index !== bestInfo.index) {
    reasons.push(`${chosen.label} is chosen: it is within noise of the best and the cheapest of those (${cost(chosenInfo.index)}, against ${cost(bestInfo.index)} for ${best.label}).`);
  } else if (inNoise.size > 0) {
    const others = eligible.filter((x) => x.index !== bestInfo.index);
    reasons.push(`${best.label} is chosen: it is the best and also the cheapest of the contenders within noise of it (${cost(bestInfo.index)}, against ${others.map((x) => `${cost(x.index)} for ${contenders[x.index].label}`).join(', ')}).`);
  } else {
    reasons.push(`${best.label} is chosen: it is ahead of every other contender beyond noise.`);
  }
  return {
    chosen: chosen.id,
    best: best.id,
    withinNoise: inNoise.size > 0,
    commonFolds: [...folds],
    compared: members.map((i) => ({ id: contenders[i].id, meanAccuracy: means.get(i)! })),
    comparisons,
    reasons,
    excluded,
  };
}

function exclusionReason(c: Contender, own: readonly number[], group: readonly Contender[], groupFolds: readonly number[]): string {
  const shared = own.filter((f) => groupFolds.includes(f));
  const ran = own.length === 0 ? 'ran no outer fold' : `completed ${plural(own.length, 'outer fold')} (${foldList(own)})`;
  return (
    `${c.label} ${ran}; of the ${plural(groupFolds.length, 'fold')} ${names(group.map((g) => g.label))} ${group.length === 2 ? 'both' : 'all'} completed it shares ${shared.length === 0 ? 'none' : `only ${foldList(shared)}`}: ` +
    `with fewer than ${MIN_PAIRED_FOLDS} paired folds it has no 95% interval, so it cannot be chosen over them.`
  );
}

/** No two contenders share 2 folds: nothing is compared; the cheapest with the most evidence is chosen. */
function decideWithoutComparison<Id extends string>(contenders: readonly Contender<Id>[], done: readonly number[][], k: number): DecisionResult<Id> {
  const info = contenders.map((c, i) => ({ index: i, cost: c.costPerFoldMs, mean: done[i].length ? mean(done[i].map((f) => c.foldAccuracies[f]!)) : -1, folds: done[i].length }));
  const ran = info.filter((x) => x.folds > 0);
  // Contenders with an interval of their own (>= 2 folds) come before those without one.
  const pool = ran.some((x) => x.folds >= MIN_PAIRED_FOLDS) ? ran.filter((x) => x.folds >= MIN_PAIRED_FOLDS) : ran;
  const chosenInfo = cheapest(pool);
  const bestInfo = [...pool].sort((a, b) => (Math.abs(a.mean - b.mean) > EPS ? b.mean - a.mean : a.cost - b.cost || a.index - b.index))[0];
  const chosen = contenders[chosenInfo.index];
  const own = (x: (typeof info)[number]) => `${pct(x.mean)} on ${x.folds === k ? `all ${plural(k, 'outer fold')}` : `${plural(x.folds, 'outer fold')} (${foldList(done[x.index])} of ${k})`}`;
  if (contenders.length === 1) {
    return {
      chosen: chosen.id,
      best: chosen.id,
      withinNoise: false,
      commonFolds: [],
      compared: [],
      comparisons: [],
      reasons: [`Only one contender ran: ${chosen.label}, ${own(chosenInfo)}.`],
      excluded: [],
    };
  }
  const excluded = info
    .filter((x) => x.index !== chosenInfo.index)
    .map((x) => {
      const c = contenders[x.index];
      const shared = done[x.index].filter((f) => done[chosenInfo.index].includes(f));
      const why =
        x.folds === 0
          ? `${c.label} ran no outer fold.`
          : `${c.label} completed ${plural(x.folds, 'outer fold')} (${foldList(done[x.index])}) and shares ${shared.length === 0 ? 'none' : `only ${foldList(shared)}`} with ${chosen.label}: with fewer than ${MIN_PAIRED_FOLDS} paired folds there is no 95% interval, so nothing shows it is better.`;
      return { id: c.id, why };
    });
  return {
    chosen: chosen.id,
    best: contenders[bestInfo.index].id,
    withinNoise: false,
    commonFolds: [],
    compared: [],
    comparisons: [],
    reasons: [
      `No two contenders completed ${MIN_PAIRED_FOLDS} outer folds in common, so none could be compared with a paired interval: ${ran.map((x) => `${contenders[x.index].label} ${own(x)}`).join('; ')}.`,
      `${chosen.label} is chosen: the cheapest contender${pool.length < ran.length ? ` with at least ${MIN_PAIRED_FOLDS} folds` : ''} (${duration(chosenInfo.cost)} per fold), as when the difference is within noise.`,
    ],
    excluded,
  };
}
