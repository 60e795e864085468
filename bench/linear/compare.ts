/**
 * ftk's linear models against scikit-learn on the same features (acceptance 2 of issue 15):
 * LogisticRegression (multinomial, L-BFGS) and LinearSVC (one-vs-rest; its solver as `dual: 'auto'`
 * picks it, recorded per pair: the primal by L-BFGS on these 30,000-row sets),
 * same C, same scaler (standardize, fitted on the training rows), both libraries' defaults
 * otherwise (tol 1e-4; max_iter 100 / 1000), on the 30,000-image Fashion-MNIST sets of
 * bench/linear/features.ts (classes 5-9 and all ten; small convnet and MobileNet 0.25 features).
 *
 * The machine is shared, so the two run interleaved: for every repeat and configuration ftk fits
 * (in this process, all cores: ONNX Runtime's threads for the matrix products) and then scikit-learn fits (a python3 process,
 * timing only its fit) or the other way round on odd repeats; the ratio ftk/sklearn is taken
 * within each pair and the report gives the median of the ratios. Fit time covers scaling and the
 * solver (loading the features is not counted on either side). Accuracy: on the test set.
 *
 *   npx tsx bench/linear/compare.ts [--repeats 3] [--C 0.1] [--C-svc 0.01] [--work bench/.work/linear]
 *        [--backbones smallcnn,mobilenet025] [--sets c5-9,all10] [--models logistic,linear-svc]
 *
 * C: 0.1 for logistic regression, 0.01 for LinearSVC (fixed, the same on both sides; both are in
 * the range a grid search picks on these features, and LIBLINEAR's dual solver needs far more
 * epochs at large C on data that is not separable).
 *
 * Appends one JSON line per pair to bench/linear/results.jsonl (date, loadavg, versions).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadFeatures } from '../../src/classify/features_io.js';
import { LinearSVC, LogisticRegression } from '../../src/classify/linear.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    C: { type: 'string', default: '0.1' },
    'C-svc': { type: 'string', default: '0.01' },
    work: { type: 'string', default: 'bench/.work/linear' },
    backbones: { type: 'string', default: 'smallcnn,mobilenet025' },
    sets: { type: 'string', default: 'c5-9,all10' },
    models: { type: 'string', default: 'logistic,linear-svc' },
    out: { type: 'string', default: 'bench/linear/results.jsonl' },
  },
});
const C_LOGISTIC = Number(values.C);
const C_SVC = Number(values['C-svc']);
const feats = path.join(path.resolve(values.work!), 'feats');
const script = path.resolve('bench/linear/sklearn_fit.py');
const outFile = path.resolve(values.out!);
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();

for (let rep = 0; rep < Number(values.repeats); rep++) {
  for (const backbone of values.backbones!.split(',')) {
    for (const set of values.sets!.split(',')) {
      const train = path.join(feats, `${backbone}-${set}-train`);
      const test = path.join(feats, `${backbone}-${set}-test`);
      const tr = await loadFeatures(train);
      const te = await loadFeatures(test);
      for (const model of values.models!.split(',')) {
        const C = model === 'logistic' ? C_LOGISTIC : C_SVC;
        const ftk = async () => {
          const m = model === 'logistic' ? new LogisticRegression({ C }) : new LinearSVC({ C });
          let warning = '';
          const t = performance.now();
          await m.fit({ data: tr.X, rows: tr.n, cols: tr.d }, tr.labels, { onWarning: (w) => (warning = w) });
          const seconds = (performance.now() - t) / 1000;
          return { seconds, accuracy: m.score({ data: te.X, rows: te.n, cols: te.d }, te.labels), iterations: m.nIter_, converged: m.converged_, warning, solver: m.toJSON().training.trainer };
        };
        const sk = (variant = model) => {
          const r = spawnSync('/usr/bin/python3', [script, train, test, variant, String(C)], { encoding: 'utf8' });
          if (r.status !== 0) throw new Error(r.stderr);
          return JSON.parse(r.stdout.trim().split('\n').pop()!);
        };
        const load0 = os.loadavg();
        let a;
        let b;
        if (rep % 2 === 0) {
          a = await ftk();
          b = sk();
        } else {
          b = sk();
          a = await ftk();
        }
        // scikit-learn's other LinearSVC solver (dual=False), for the record: not the default of 1.2.
        const skPrimal = model === 'linear-svc' ? sk('linear-svc-primal') : undefined;
        const record = {
          date: new Date().toISOString(),
          repeat: rep,
          backbone,
          set,
          model,
          C,
          n: tr.n,
          d: tr.d,
          classes: tr.meta.classes.length,
          ftk: a,
          sklearn: b,
          ...(skPrimal ? { sklearnPrimal: skPrimal, ratioPrimal: a.seconds / skPrimal.seconds } : {}),
          ratio: a.seconds / b.seconds,
          accuracyDiffPoints: 100 * (a.accuracy - b.accuracy),
          first: rep % 2 === 0 ? 'ftk' : 'sklearn',
          ftkWorkers: os.availableParallelism(),
          loadavgBefore: load0,
          loadavgAfter: os.loadavg(),
          node: process.version,
          commit,
        };
        appendFileSync(outFile, JSON.stringify(record) + '\n');
        console.log(
          `${backbone} ${set} ${model}: ftk ${a.seconds.toFixed(2)} s ${(100 * a.accuracy).toFixed(2)}% (${a.iterations} it) | sklearn ${b.seconds.toFixed(2)} s ${(100 * b.accuracy).toFixed(2)}% (${b.n_iter} it) | ratio ${record.ratio.toFixed(2)} | load ${load0[0].toFixed(1)}`,
        );
      }
    }
  }
}
