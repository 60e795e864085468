/**
 * The published small-data table, reproduced on the shared cats-dogs photos (1,000 cats, 1,000
 * dogs) with the shared Keras MobileNet 0.25 ImageNet weights, through the library's
 * `compareMethods` (what `ftk bench` runs): (a) the Keras blog's small convnet from scratch with
 * augmentation, (b) bottleneck features + RBF SVM (grid search nested in each training fold),
 * (c) fine-tuning (the known-good settings of bench/finetune/cats_dogs.ts); the same 5 seeded
 * stratified folds for all three. Writes the "cats-dogs" section of bench/RESULTS.md.
 *
 *   npx tsx bench/cats_dogs_table.ts [--folds 5] [--run-folds 5] [--scratch-size 64] [--scratch-epochs 15]
 *        [--epochs 15] [--budget <min>] [--out bench/.work/cats-dogs]
 *
 * Resumable: per-fold results go to <out>/folds.jsonl as they finish; rerun the same command after
 * a kill and finished (method, fold) pairs are skipped. The feature cache is <out>/cache.sqlite
 * (cold on the first run, so the timings include computing every feature once).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchTableMarkdown, compareMethods, type CompareMethodsResult } from '../src/bench/compare.js';
import { selectBackend } from '../src/runtime/backend.js';
import { LoadMonitor, machineLine, writeResultsSection } from './results_md.js';

const load = new LoadMonitor();

const { values } = parseArgs({
  options: {
    folds: { type: 'string', default: '5' },
    'run-folds': { type: 'string' },
    'scratch-size': { type: 'string', default: '64' },
    'scratch-epochs': { type: 'string', default: '15' },
    epochs: { type: 'string', default: '15' },
    budget: { type: 'string' },
    out: { type: 'string', default: 'bench/.work/cats-dogs' },
  },
});
const DATA = path.resolve('../shared/datasets/cats-dogs');
const H5 = path.resolve('../shared/models/mobilenet_2_5_224_tf_no_top.h5');
const out = path.resolve(values.out!);
const backend = await selectBackend({ backend: 'wasm' });
const t0 = performance.now();
const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s]`;
let lastProgress = 0;
const result: CompareMethodsResult = await compareMethods(DATA, {
  out,
  folds: Number(values.folds),
  runFolds: values['run-folds'] ? Number(values['run-folds']) : undefined,
  seed: 0,
  model: 'mobilenet',
  alpha: 0.25,
  weights: H5,
  inputSize: 288,
  crop: 'center',
  finetune: { freeze: 11, epochs: Number(values.epochs), views: 8, dropout: 0.5 },
  scratch: { model: 'smallcnn', inputSize: Number(values['scratch-size']), epochs: Number(values['scratch-epochs']) },
  budget: values.budget ? Number(values.budget) : undefined,
  backend: 'wasm',
  cache: path.join(out, 'cache.sqlite'),
  onStage: (m) => console.log(`${stamp()} ${m}`),
  onWarning: (m) => console.log(`${stamp()} warning: ${m}`),
  onProgress: (p) => {
    const now = performance.now();
    if (now - lastProgress > 30_000 || p.done === p.total) {
      lastProgress = now;
      console.log(`${stamp()}   ${p.stage}: ${p.done}/${p.total}${p.imagesPerSecond ? ` (${p.imagesPerSecond.toFixed(1)}/s)` : ''}`);
    }
  },
  onEpoch: (e) =>
    console.log(
      `${stamp()}   fold ${e.benchFold + 1} ${e.method} ${e.stage} epoch ${e.epoch}: loss ${e.loss.toFixed(4)} acc ${e.accuracy.toFixed(4)} val_acc ${e.valAccuracy?.toFixed(4)} ${e.imagesPerSecond.toFixed(1)} img/s ${e.seconds.toFixed(1)} s`,
    ),
});

const byMethod = Object.fromEntries(result.methods.map((m) => [m.method, m]));
const epochsOf = (m: string) =>
  (byMethod[m]?.details ?? []).map((d) => {
    const e = d.epochs as Record<string, number>;
    return Object.entries(e).map(([k, v]) => `${k} ${v}`).join(' + ');
  });
const folds = result.folds.summarised.length;
const ours = (m: string) => {
  const r = byMethod[m];
  return r ? `**${(100 * r.meanAccuracy).toFixed(1)}%** (${(100 * r.ci95[0]).toFixed(1)} to ${(100 * r.ci95[1]).toFixed(1)})` : 'not run';
};
const cmd = ['npx tsx bench/cats_dogs_table.ts', ...Object.entries(values).filter(([k, v]) => v !== undefined && k !== 'out').map(([k, v]) => `--${k} ${v}`)].join(' ');
const section = `## Cats vs dogs: scratch / SVM / fine-tuning (the small-data table)

\`../shared/datasets/cats-dogs\` (${result.dataset.counts.join(' + ')} photos), ${folds === result.folds.k ? `${folds}-fold` : `${folds} of ${result.folds.k} folds of a ${result.folds.k}-fold`} stratified cross-validation (seed ${result.folds.seed}), the same folds for the three methods${result.folds.note ? ` (${result.folds.note})` : ''}; each fold trains on ${Math.round((result.dataset.images * (result.folds.k - 1)) / result.folds.k)} images and is scored on the other ${Math.round(result.dataset.images / result.folds.k)} from the fold model's real predictions.

${benchTableMarkdown(result)}

- **scratch**: the Keras blog's small convnet (src/finetune/smallcnn.ts, ${values['scratch-size']}x${values['scratch-size']} input, not the blog's 150x150: at 150 px it trained at 3-15 img/s on this shared machine, too slow for 5 folds in the budget), augmentation flip, rotate 0.05, translate 0.1, zoom 0.1, Adam 1e-3, at most ${values['scratch-epochs']} epochs with early stopping (patience 3) on a 20% split of the training fold; epochs run per fold: ${epochsOf('scratch').join('; ')}.
- **svm**: MobileNet 0.25 (the shared Keras ImageNet weights), 288x288 centre crop, 256 features after global average pooling; RBF SVM, C and gamma by libsvm's grid with a 3-fold search inside each training fold; chosen per fold: ${(byMethod.svm?.details ?? []).map((d) => `C=2^${d.log2C}, gamma=2^${d.log2Gamma}`).join('; ')}. Its time includes extracting the features of all 2,000 images once (cold cache).
- **finetune**: the same backbone and input, new head (global average pooling, dropout 0.5, softmax), phase 1 the head (Adam 1e-3, at most 10 epochs), phase 2 blocks 12-13 + head at 1e-4 (\`--freeze 11\`, at most ${values.epochs} epochs), 8 augmented views per image in the frozen-prefix bank (cold cache on fold 1, reused by later folds for the images they share), early stopping on a 20% split of the training fold; epochs run per fold: ${epochsOf('finetune').join('; ')}.
- images/s: the images of each fold (training + held-out) divided by the method's wall time, end to end (decoding, features or training, prediction). The three methods took ${(result.methods.reduce((a, m) => a + m.seconds, 0) / 60).toFixed(0)} min together.${result.cuts.length ? `\n- Not run: ${result.cuts.join('; ')}.` : ''}

Next to the published reference points for this setup (Keras blog, "Building powerful image classification models using very little data", F. Chollet 2016; one split of 2,000 training / 800 validation images, VGG16; numbers from the post, not measured here):

| method | ours (mean of ${folds} folds, 95% interval) | published (Keras blog, VGG16, one split) |
|---|---|---|
| small convnet from scratch, augmented | ${ours('scratch')} (${values['scratch-size']} px, at most ${values['scratch-epochs']} epochs) | about 80% (150 px, 50 epochs) |
| bottleneck features + classifier | ${ours('svm')} (MobileNet 0.25 + RBF SVM) | about 90% (VGG16 + small dense net) |
| fine-tuning the top of the pretrained network | ${ours('finetune')} (MobileNet 0.25, blocks 12-13) | about 94% (VGG16, last conv block) |

Ours uses MobileNet 0.25 (218,544 parameters, ImageNet top-1 50.6%) instead of VGG16 (14.7 M parameters in its conv base, 71.3%), cross-validation instead of one split, and a budget-limited from-scratch run.

Command (${new Date().toISOString().slice(0, 10)}): \`${cmd}\` (resumable; per-fold records in \`${path.relative(process.cwd(), result.records)}\`; or the same through the CLI: \`npx ftk bench ../shared/datasets/cats-dogs --model mobilenet --alpha 0.25 --weights ../shared/models/mobilenet_2_5_224_tf_no_top.h5 --input-size 288 --crop center --freeze 11 --views 8 --dropout 0.5 --epochs ${values.epochs} --head-epochs 10 --scratch-input-size ${values['scratch-size']} --scratch-epochs ${values['scratch-epochs']} --backend wasm --cache-file <out>/cache.sqlite --out <out>\`).

Machine: ${machineLine(backend.name, load)}.
`;
writeResultsSection('cats-dogs', section);
console.log(section);
