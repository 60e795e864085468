/**
 * Acceptance 3 of issue 18: labelling order, simulated. Does labelling the images `suggestLabels`
 * picks reach a given accuracy with fewer labels than labelling random ones?
 *
 * Per dataset and seed (5 seeds): a stratified 25% test split (seeded) stays aside; the rest is the
 * unlabelled pool. Start from 10 labelled images per class (seeded), then 10 rounds: fit the SVM
 * (RBF, C=4, gamma='scale', libsvm probabilities: the same for every strategy), record test
 * accuracy, add 50 labels chosen by the strategy. Strategies:
 *   random   50 pool images at random (seeded);
 *   suggest  `suggestLabels` with diversity 'auto' (novelty weight unlabelled / (unlabelled + labelled)), labelled images as reference;
 *   margin   `suggestLabels` with diversity 0 (uncertainty only), to see what novelty adds;
 *   mixed    `suggestLabels` with diversity 0.5 (equal weights).
 * Reported: labels the strategy needs to reach random's final mean accuracy (linear interpolation
 * on the mean curve) and the saving against random's final label count.
 *
 *   npx tsx bench/trust/labelling.ts [--sets catsdogs,flowers,fashion] [--seeds 5] [--rounds 10]
 * Raw records: bench/trust/results/labelling.jsonl (one line per dataset, strategy, seed: the curve).
 */
import { parseArgs } from 'node:util';
import { SvmClassifier } from '../../src/classify/svm.js';
import { Rng } from '../../src/data/random.js';
import { stratifiedTrainTestSplit } from '../../src/data/split.js';
import { suggestLabels } from '../../src/trust/suggest.js';
import { loadLabelled, record, round, subset, type Labelled } from './common.js';

const { values } = parseArgs({ options: { sets: { type: 'string', default: 'catsdogs,flowers,fashion' }, seeds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '10' }, strategies: { type: 'string', default: 'random,suggest,margin' } } });
const SETS: Record<string, string> = { catsdogs: 'bench/.work/catsdogs', flowers: 'bench/.work/flowers-mobilenet', fashion: 'bench/.work/trust/fashion-pool' };
const seeds = Number(values.seeds);
const rounds = Number(values.rounds);
const STEP = 50;
const START = 10;
const FASHION_POOL = 6000; // the first 6,000 rows of a seeded shuffle of the 30,000 (keeps each round to seconds)

type Strategy = 'random' | 'suggest' | 'margin' | 'mixed';

async function curve(data: Labelled, strategy: Strategy, seed: number): Promise<{ labels: number[]; accuracy: number[] }> {
  const split = stratifiedTrainTestSplit(data.y, 0.25, { seed });
  const Xtest = subset(data.X, split.test);
  const ytest = Array.from(split.test, (i) => data.y[i]);
  const rng = new Rng(7919 * seed + 1);
  const k = data.classes.length;
  const pool = new Set<number>(split.train);
  const labelled: number[] = [];
  for (let c = 0; c < k; c++) {
    const members = rng.shuffle(Array.from(split.train).filter((i) => data.y[i] === c)).slice(0, START);
    for (const i of members) {
      labelled.push(i);
      pool.delete(i);
    }
  }
  const out = { labels: [] as number[], accuracy: [] as number[] };
  for (let r = 0; r <= rounds; r++) {
    const clf = await new SvmClassifier({ kernel: 'rbf', C: 4, gamma: 'scale', probability: true, seed }).fit(subset(data.X, labelled), labelled.map((i) => data.y[i]));
    const pred = clf.predict(Xtest);
    out.labels.push(labelled.length);
    out.accuracy.push(pred.filter((p, i) => p === ytest[i]).length / ytest.length);
    if (r === rounds) {
      clf.dispose();
      break;
    }
    const candidates = [...pool];
    let picks: number[];
    if (strategy === 'random') picks = rng.shuffle(candidates).slice(0, STEP);
    else {
      const Xc = subset(data.X, candidates);
      const probs = clf.predictProba(Xc);
      const s = suggestLabels(probs, Xc, { n: STEP, seed, labelled: subset(data.X, labelled), diversity: strategy === 'margin' ? 0 : strategy === 'mixed' ? 0.5 : 'auto' });
      picks = s.order.map((j) => candidates[j]);
    }
    clf.dispose();
    for (const i of picks) {
      labelled.push(i);
      pool.delete(i);
    }
  }
  return out;
}

function labelsToReach(labels: number[], acc: number[], target: number): number | null {
  for (let i = 0; i < acc.length; i++) {
    if (acc[i] >= target) {
      if (i === 0) return labels[0];
      const t = (target - acc[i - 1]) / (acc[i] - acc[i - 1]);
      return labels[i - 1] + t * (labels[i] - labels[i - 1]);
    }
  }
  return null;
}

for (const name of values.sets!.split(',')) {
  let data = await loadLabelled(SETS[name]);
  if (name === 'fashion') {
    const rows = new Rng(4242).shuffle(Array.from({ length: data.y.length }, (_, i) => i)).slice(0, FASHION_POOL);
    data = { ...data, X: subset(data.X, rows), y: rows.map((i) => data.y[i]), files: rows.map((i) => data.files[i]) };
  }
  const curves: Record<string, number[][]> = {};
  let labelsAxis: number[] = [];
  for (const strategy of values.strategies!.split(',') as Strategy[]) {
    curves[strategy] = [];
    for (let seed = 0; seed < seeds; seed++) {
      const t0 = performance.now();
      const c = await curve(data, strategy, seed);
      labelsAxis = c.labels;
      curves[strategy].push(c.accuracy);
      record('labelling', { set: name, strategy, seed, step: STEP, start: START, labels: c.labels, accuracy: c.accuracy.map((a) => round(a)), seconds: round((performance.now() - t0) / 1000, 1) });
      console.log(`${name} ${strategy} seed ${seed}: ${c.accuracy.map((a) => (100 * a).toFixed(1)).join(' ')}`);
    }
  }
  const meanCurve = (s: string) => labelsAxis.map((_, i) => curves[s].reduce((a, c) => a + c[i], 0) / curves[s].length);
  const randomFinal = meanCurve('random').at(-1)!;
  const summary: Record<string, unknown> = { set: name, summary: true, seeds, labels: labelsAxis, randomFinalAccuracy: round(randomFinal), randomFinalLabels: labelsAxis.at(-1) };
  for (const s of Object.keys(curves)) {
    const m = meanCurve(s);
    const need = labelsToReach(labelsAxis, m, randomFinal);
    summary[s] = { meanAccuracy: m.map((a) => round(a)), labelsToReachRandomFinal: need === null ? null : round(need, 1), saving: need === null ? null : round(1 - need / labelsAxis.at(-1)!) };
    console.log(`${name} ${s}: mean ${m.map((a) => (100 * a).toFixed(1)).join(' ')}; reaches random's final ${(100 * randomFinal).toFixed(2)}% at ${need === null ? 'never' : need.toFixed(0)} labels`);
  }
  record('labelling', summary);
}
