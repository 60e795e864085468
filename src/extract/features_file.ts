/** Writing and reading the `<prefix>.npy` + `<prefix>.json` pair (src/formats/README.md). */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FeaturesError } from '../errors.js';
import type { FeaturesMeta } from '../formats/features.js';
import { npyHeader } from '../formats/npy.js';
import { featureFiles, loadFeatures } from '../classify/features_io.js';

/** `<prefix>.npy` and `<prefix>.json` (a trailing .npy/.json on the prefix is ignored). */
export const featurePaths = featureFiles;

async function writeAtomic(file: string, ...chunks: (string | Uint8Array)[]): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await fsp.open(tmp, 'w');
  try {
    for (const chunk of chunks) await handle.writeFile(chunk); // each appends at the current position
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, file);
}

/**
 * Writes both files atomically (each via a temporary file and rename). The .npy is written as its
 * header then the features' own bytes: no second copy of the [N, D] matrix in memory.
 */
export async function writeFeatures(prefix: string, features: Float32Array, meta: FeaturesMeta): Promise<{ npy: string; json: string }> {
  const paths = featurePaths(prefix);
  if (features.length !== meta.shape[0] * meta.shape[1]) {
    throw new FeaturesError(`features hold ${features.length} values but meta.shape is [${meta.shape.join(', ')}].`);
  }
  await fsp.mkdir(path.dirname(path.resolve(paths.npy)), { recursive: true });
  await writeAtomic(paths.npy, npyHeader('<f4', meta.shape), new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
  await writeAtomic(paths.json, JSON.stringify(meta, null, 1) + '\n');
  return paths;
}

/**
 * Reads the pair back with the SVM's checks (src/classify/features_io.ts: the two files agree,
 * float32 [N, D], finite values); labels are not required.
 */
export async function readFeatures(prefix: string): Promise<{ features: Float32Array; meta: FeaturesMeta }> {
  const { X, meta } = await loadFeatures(prefix, { requireLabels: false });
  return { features: X, meta };
}
