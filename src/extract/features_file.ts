/** Writing and reading the `<prefix>.npy` + `<prefix>.json` pair (src/formats/README.md). */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FeaturesError } from '../errors.js';
import type { FeaturesMeta } from '../formats/features.js';
import { decodeNpy, npyHeader } from '../formats/npy.js';

export function featurePaths(prefix: string): { npy: string; json: string } {
  const base = prefix.replace(/\.(npy|json)$/, '');
  return { npy: `${base}.npy`, json: `${base}.json` };
}

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

/** Reads the pair back, checking that the .npy and .json agree. */
export async function readFeatures(prefix: string): Promise<{ features: Float32Array; meta: FeaturesMeta }> {
  const paths = featurePaths(prefix);
  const [npyBytes, jsonText] = await Promise.all([
    fsp.readFile(paths.npy).catch(() => {
      throw new FeaturesError(`Feature file ${paths.npy} not found.`, { suggestion: 'Run `ftk bottleneck extract` first.' });
    }),
    fsp.readFile(paths.json, 'utf8').catch(() => {
      throw new FeaturesError(`Feature metadata ${paths.json} not found.`, { suggestion: 'Run `ftk bottleneck extract` first.' });
    }),
  ]);
  const arr = decodeNpy(npyBytes, paths.npy);
  const meta = JSON.parse(jsonText) as FeaturesMeta;
  if (arr.dtype !== '<f4' || arr.shape.length !== 2 || arr.shape[0] !== meta.files.length) {
    throw new FeaturesError(
      `${paths.npy} has ${arr.dtype} shape (${arr.shape.join(', ')}) but ${paths.json} lists ${meta.files.length} files.`,
      { suggestion: 'The two files come from different runs: extract the features again.' },
    );
  }
  return { features: arr.data as Float32Array, meta };
}
