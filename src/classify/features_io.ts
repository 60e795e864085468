/**
 * Loading a bottleneck-feature pair (`<prefix>.npy` + `<prefix>.json`, src/formats/README.md) for
 * the SVM, with every check the SVM needs, each failing as a `FeaturesError` that names the file
 * and says how to fix it.
 */
import { promises as fsp } from 'node:fs';
import { FeaturesError } from '../errors.js';
import type { FeaturesMeta } from '../formats/features.js';
import { decodeNpy } from '../formats/npy.js';

export interface LoadedFeatures {
  /** N x D, row-major. */
  X: Float32Array;
  n: number;
  d: number;
  meta: FeaturesMeta;
  /** meta.labels as Int32Array (validated when `requireLabels`). */
  labels: Int32Array;
}

export interface LoadFeaturesOptions {
  /** Check labels (in range, at least 2 classes): needed for training. Default true. */
  requireLabels?: boolean;
  /**
   * Read the matrix into a SharedArrayBuffer and keep it there (no second copy): worker threads
   * then read it in place (the linear classifiers). Default false.
   */
  shared?: boolean;
}

/** `<prefix>.npy` and `<prefix>.json` (a trailing .npy/.json on the prefix is ignored). */
export function featureFiles(prefix: string): { npy: string; json: string } {
  const base = prefix.replace(/\.(npy|json)$/, '');
  return { npy: `${base}.npy`, json: `${base}.json` };
}

const REEXTRACT = 'Extract the features again with `ftk bottleneck extract`, which writes both files together.';

export async function loadFeatures(prefix: string, options: LoadFeaturesOptions = {}): Promise<LoadedFeatures> {
  const requireLabels = options.requireLabels ?? true;
  const files = featureFiles(prefix);
  const read = async (file: string, shared = false): Promise<Uint8Array> => {
    try {
      return await readWhole(file, shared);
    } catch (e) {
      throw new FeaturesError(`Features file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, {
        code: 'FEATURES_MISSING',
        suggestion: `Pass the prefix of a <prefix>.npy + <prefix>.json pair. ${REEXTRACT}`,
        cause: e,
      });
    }
  };
  // The .npy first: a missing pair is reported by its matrix file, whichever read finishes first.
  const npyBytes = await read(files.npy, options.shared ?? false);
  const jsonBytes = await read(files.json);
  let meta: FeaturesMeta;
  try {
    meta = JSON.parse(Buffer.from(jsonBytes).toString('utf8')) as FeaturesMeta;
  } catch (e) {
    throw new FeaturesError(`${files.json} is not valid JSON.`, { code: 'FEATURES_BAD_JSON', suggestion: REEXTRACT, cause: e });
  }
  if (meta === null || typeof meta !== 'object') {
    throw new FeaturesError(`${files.json} does not hold a features description object.`, { code: 'FEATURES_BAD_JSON', suggestion: REEXTRACT });
  }
  // The bytes are this function's own buffer: the matrix stays a view of it (no second copy).
  const arr = decodeNpy(npyBytes, files.npy, { copy: false });
  if (arr.shape.length !== 2) {
    throw new FeaturesError(`${files.npy} has shape (${arr.shape.join(', ')}); features must be 2-D [N, D].`, {
      code: 'FEATURES_BAD_SHAPE',
      suggestion: REEXTRACT,
    });
  }
  const [n, d] = arr.shape;
  let X: Float32Array;
  if (arr.dtype === '<f4') X = arr.data as Float32Array;
  else if (arr.dtype === '<f8') X = Float32Array.from(arr.data as Float64Array);
  else {
    throw new FeaturesError(`${files.npy} holds ${arr.dtype}; features must be float32.`, {
      code: 'FEATURES_DTYPE',
      suggestion: "Save features as float32: numpy.save(path, x.astype('float32')).",
    });
  }
  const disagree = (what: string): never => {
    throw new FeaturesError(`${files.npy} and ${files.json} disagree: ${what}.`, {
      code: 'FEATURES_MISMATCH',
      suggestion: `The two files come from different runs or one was edited. ${REEXTRACT}`,
    });
  };
  if (Array.isArray(meta.shape) && (meta.shape[0] !== n || meta.shape[1] !== d)) {
    disagree(`the .npy is (${n}, ${d}) but the .json says shape [${meta.shape.join(', ')}]`);
  }
  if (Array.isArray(meta.files) && meta.files.length !== n) disagree(`the .npy has ${n} rows but the .json lists ${meta.files.length} files`);
  const labelsRaw: unknown = meta.labels;
  if (requireLabels || labelsRaw !== undefined) {
    if (!Array.isArray(labelsRaw)) {
      throw new FeaturesError(`${files.json} has no labels array.`, { code: 'FEATURES_NO_LABELS', suggestion: REEXTRACT });
    }
    if (labelsRaw.length !== n) disagree(`the .npy has ${n} rows but the .json has ${labelsRaw.length} labels`);
  }
  const labels = Int32Array.from((labelsRaw as number[] | undefined) ?? []);
  if (requireLabels) {
    const classes = Array.isArray(meta.classes) ? meta.classes : [];
    for (let i = 0; i < n; i++) {
      const v = (labelsRaw as unknown[])[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= classes.length) {
        const name = meta.files?.[i] ?? `row ${i}`;
        throw new FeaturesError(
          `${files.json}: label ${JSON.stringify(v)} of ${name} is out of range: there are ${classes.length} classes (0..${classes.length - 1}).`,
          { code: 'FEATURES_BAD_LABEL', suggestion: REEXTRACT },
        );
      }
    }
    const present = new Set(labels);
    if (present.size < 2) {
      const only = classes[labels[0]] ?? String(labels[0]);
      throw new FeaturesError(`${files.json}: all ${n} samples are of one class (${only}); a classifier needs at least 2.`, {
        code: 'FEATURES_SINGLE_CLASS',
        suggestion: 'Extract features from a dataset with one folder per class and at least 2 classes.',
      });
    }
  }
  const badRows: number[] = [];
  for (let i = 0; i < n && badRows.length < 5; i++) {
    for (let k = 0; k < d; k++) {
      if (!Number.isFinite(X[i * d + k])) {
        badRows.push(i);
        break;
      }
    }
  }
  if (badRows.length > 0) {
    const names = badRows.map((i) => (meta.files?.[i] ? `${i} (${meta.files[i]})` : String(i)));
    throw new FeaturesError(`${files.npy}: NaN or Infinity in row${badRows.length > 1 ? 's' : ''} ${names.join(', ')}${badRows.length === 5 ? ', ...' : ''}.`, {
      code: 'FEATURES_NON_FINITE',
      suggestion: 'Remove those images (they may be corrupt) and extract again, or re-extract with another backend.',
    });
  }
  return { X, n, d, meta, labels };
}

/**
 * A whole file in a buffer of its own, read in 64 MiB pieces: a SharedArrayBuffer (worker threads
 * read it in place) or a plain ArrayBuffer (what native code such as ONNX Runtime's tensors accepts).
 */
async function readWhole(file: string, shared: boolean): Promise<Uint8Array> {
  const fh = await fsp.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const out = new Uint8Array(shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
    for (let at = 0; at < size; ) {
      const { bytesRead } = await fh.read(out, at, Math.min(64 * 1024 * 1024, size - at), at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return out;
  } finally {
    await fh.close();
  }
}
