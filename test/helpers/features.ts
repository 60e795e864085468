/** Feature files for tests and benchmarks that need one without extracting: the metadata of made-up rows. */
import { writeFeatures } from '../../src/extract/features_file.js';
import { FEATURES_FORMAT_VERSION, type FeaturesMeta } from '../../src/formats/features.js';

/** Writes `<prefix>.npy/.json` for `X` (n x d, row-major) labelled `labels` (indices into `classes`); files are `c<label>/<row>.png` under `root`. */
export async function writeSyntheticFeatures(prefix: string, X: Float32Array, labels: number[], classes: string[], root: string): Promise<void> {
  const n = labels.length;
  const meta: FeaturesMeta = {
    formatVersion: FEATURES_FORMAT_VERSION,
    files: labels.map((l, i) => `c${l}/${i}.png`),
    labels,
    classes,
    hashes: labels.map((_, i) => `h${i}`),
    skipped: [],
    duplicates: [],
    model: { name: 'mobilenet', alpha: 0.25, weights: 'random', weightsSha256: 'random:0', layer: 'conv_pw_13_relu', pooling: 'avg', preprocessing: 'tf', inputSize: 224, crop: 'squash', fingerprint: 'f' },
    shape: [n, X.length / n],
    datasetRoot: root,
    createdAt: new Date().toISOString(),
  };
  await writeFeatures(prefix, X, meta);
}
