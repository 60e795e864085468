/**
 * Loading weights into a built tf.layers model, by layer name (Keras `load_weights(by_name=True)`
 * semantics, but strict): Keras HDF5 files (Keras 2.x `save_weights` layout, or a whole-model
 * save with its `model_weights` group) and TF.js layers models (`model.json` + shards).
 *
 * Every layer with weights in the file must exist in the model with the same weight names and
 * shapes, and every model layer with weights must be in the file; anything else is a
 * WeightsError naming the layer and weight. Format notes: src/formats/README.md.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { WeightsError } from '../errors.js';
import { resolveInside } from '../runtime/safe_path.js';

/** One named weight array read from a file. */
export interface NamedWeight {
  /** Weight name without the layer prefix and ':0', e.g. 'kernel', 'moving_mean'. */
  name: string;
  shape: number[];
  values: Float32Array;
}

/** Weights of a file, grouped by layer name, in file order. */
export type WeightsByLayer = Map<string, NamedWeight[]>;

export interface LoadedWeights {
  layers: WeightsByLayer;
  /** sha256 of the file (of model.json + shards for TF.js). */
  sha256: string;
  format: 'keras-h5' | 'tfjs-layers';
}

export interface LoadWeightsOptions {
  /** Layers of the file absent from the model are ignored instead of an error (e.g. the top of a full-model file). Default false. */
  skipExtraLayers?: boolean;
  /** Told when the loader had to match layers by order instead of by name. */
  onNotice?: (message: string) => void;
}

/** Weight name without layer prefix and TF's ':0' suffix: 'conv1_bn/gamma:0' -> 'gamma'. */
export function shortWeightName(name: string): string {
  const noSuffix = name.replace(/:\d+$/, '');
  return noSuffix.slice(noSuffix.lastIndexOf('/') + 1);
}

function toStrings(value: unknown): string[] {
  if (value == null) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map(String);
  return Array.from(value as ArrayLike<unknown>, String);
}

/** sha256 over the concatenated bytes of `paths` (one file: that file's sha256). */
async function sha256Of(paths: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const p of paths) h.update(await fsp.readFile(p));
  return h.digest('hex');
}

/**
 * The end of file an HDF5 superblock records (base address + end-of-file address), or undefined
 * when the superblock is not one of the versions read here (0-3, 8-byte offsets).
 */
export function hdf5StoredEof(bytes: Buffer): number | undefined {
  const version = bytes[8];
  // v0: base address at 24 (after 16 bytes of versions and sizes and 4 bytes of flags), EOF 2 offsets
  // later; v1 adds 4 bytes; v2/v3: sizes at 9-10, base address at 12, EOF 2 offsets later.
  const sizeOfOffsets = version <= 1 ? bytes[13] : bytes[9];
  const base = version === 0 ? 24 : version === 1 ? 28 : version <= 3 ? 12 : -1;
  if (base < 0 || sizeOfOffsets !== 8 || bytes.length < base + 24) return undefined;
  const eof = Number(bytes.readBigUInt64LE(base)) + Number(bytes.readBigUInt64LE(base + 16));
  return Number.isSafeInteger(eof) ? eof : undefined;
}

/** The last specific message of an HDF5 error stack ('#003: ... in H5X(): what'). */
function hdf5Message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = [...text.matchAll(/#\d+: .* in [\w]+\(\): (.*)$/gm)].map((m) => m[1].trim());
  return lines.at(-1) ?? text.split('\n')[0];
}

/** Reads every layer's weights from a Keras HDF5 weight (or whole-model) file. */
export async function readKerasH5(file: string): Promise<LoadedWeights> {
  const bytes = await fsp.readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new WeightsError(`Cannot read weight file ${file}: ${err.code ?? err.message}.`, {
      code: 'WEIGHTS_UNREADABLE',
      suggestion: 'Check the path passed to --weights.',
      cause: err,
    });
  });
  if (bytes.length < 8 || bytes.readUInt32BE(0) !== 0x89484446) {
    throw new WeightsError(`${file} is not an HDF5 file (bad signature).`, {
      code: 'WEIGHTS_NOT_HDF5',
      suggestion: 'Pass a Keras .h5 weight file, a TF.js model.json, or --weights imagenet.',
    });
  }
  const storedEof = hdf5StoredEof(bytes);
  if (storedEof !== undefined && bytes.length < storedEof) {
    throw new WeightsError(`${file} is truncated: it holds ${bytes.length} bytes but its HDF5 header says ${storedEof}.`, {
      code: 'WEIGHTS_TRUNCATED',
      suggestion: 'The download or copy was interrupted: delete the file and download or copy it again.',
    });
  }
  const { default: h5wasm } = await import('h5wasm/node');
  const h5module = (await h5wasm.ready) as unknown as { activate_throwing_error_handler(): number; deactivate_throwing_error_handler(): number };
  const corrupt = (err: unknown) =>
    new WeightsError(`${file} is a damaged HDF5 file: ${hdf5Message(err)}.`, {
      code: 'WEIGHTS_CORRUPT',
      suggestion: 'The file is truncated or corrupt: delete it and download or copy it again.',
      cause: err,
    });
  // HDF5 prints its error stack to stderr by default; library code never prints, so errors are
  // turned into exceptions while this file is read (synchronously: nothing else runs meanwhile).
  h5module.activate_throwing_error_handler();
  let layers: WeightsByLayer;
  try {
    let h5: InstanceType<typeof h5wasm.File>;
    try {
      h5 = new h5wasm.File(file, 'r');
    } catch (err) {
      throw corrupt(err);
    }
    try {
      layers = readKerasLayers(h5, file);
    } catch (err) {
      throw err instanceof WeightsError ? err : corrupt(err);
    } finally {
      h5.close();
    }
  } finally {
    h5module.deactivate_throwing_error_handler();
  }
  return { layers, sha256: await sha256Of([file]), format: 'keras-h5' };
}

/** The layers of an open Keras HDF5 file (`save_weights` layout, or `model_weights` of a whole-model save). */
function readKerasLayers(h5: any, file: string): WeightsByLayer {
  let root: any = h5;
  if (!root.attrs['layer_names'] && root.get('model_weights')) root = root.get('model_weights');
  const layerNamesAttr = root.attrs['layer_names'];
  if (!layerNamesAttr) {
    throw new WeightsError(`${file} has no 'layer_names' attribute: not a Keras weight file.`, {
      code: 'WEIGHTS_NOT_KERAS',
      suggestion: 'Save weights with Keras model.save_weights("w.h5") (HDF5 format) or model.save("m.h5").',
    });
  }
  const layers: WeightsByLayer = new Map();
  for (const layerName of toStrings(layerNamesAttr.value)) {
    const group = root.get(layerName);
    if (!group) {
      throw new WeightsError(`${file}: layer group '${layerName}' listed but missing.`, {
        code: 'WEIGHTS_CORRUPT',
        suggestion: 'The file is truncated or corrupt: download it again.',
      });
    }
    const weightNames = toStrings(group.attrs['weight_names']?.value);
    if (weightNames.length === 0) continue;
    const weights: NamedWeight[] = [];
    for (const weightName of weightNames) {
      const ds = group.get(weightName);
      const value = ds?.value as ArrayLike<number> | null | undefined;
      if (!ds || !value || !ds.shape) {
        throw new WeightsError(`${file}: weight '${weightName}' of layer '${layerName}' is missing or unreadable.`, {
          code: 'WEIGHTS_CORRUPT',
          suggestion: 'The file is truncated or corrupt: download it again.',
        });
      }
      weights.push({
        name: shortWeightName(weightName),
        shape: [...ds.shape],
        values: value instanceof Float32Array ? value : Float32Array.from(value),
      });
    }
    layers.set(layerName, weights);
  }
  return layers;
}

/** A TF.js model.json, parsed; `WeightsError` when it is not JSON or has no weightsManifest. */
async function readModelJson(modelJsonPath: string): Promise<{ weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] }> {
  let text: string;
  try {
    text = await fsp.readFile(modelJsonPath, 'utf8');
  } catch (err) {
    throw new WeightsError(`Cannot read ${modelJsonPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, {
      code: 'WEIGHTS_UNREADABLE',
      suggestion: 'Pass the model.json of a TF.js layers model (or its folder) to --weights.',
      cause: err,
    });
  }
  let json: any;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new WeightsError(`${modelJsonPath} is not valid JSON (${(err as Error).message}).`, {
      code: 'WEIGHTS_BAD_JSON',
      suggestion: 'The file is truncated or was edited: save the TF.js model again (model.save) or copy it again.',
      cause: err,
    });
  }
  if (json === null || typeof json !== 'object' || !Array.isArray(json.weightsManifest)) {
    throw new WeightsError(`${modelJsonPath} has no weightsManifest: not a TF.js layers model.json.`, {
      code: 'WEIGHTS_NOT_TFJS',
      suggestion: 'Pass the model.json written by a TF.js layers model (model.save, or tensorflowjs_converter --output_format tfjs_layers_model), or a Keras .h5.',
    });
  }
  return json;
}

/** The shard files a model.json names, each checked to exist. */
async function shardFiles(modelJsonPath: string, manifest: { paths: string[] }[]): Promise<string[]> {
  const dir = path.dirname(modelJsonPath);
  const shards = manifest.flatMap((g) => (Array.isArray(g?.paths) ? g.paths : []).map((p) => shardInside(dir, p, modelJsonPath)));
  for (const shard of shards) {
    const found = await fsp.stat(shard).catch((err: NodeJS.ErrnoException) => err);
    if (found instanceof Error || !found.isFile()) {
      throw new WeightsError(`Weight shard ${shard} named in ${modelJsonPath} is missing (${found instanceof Error ? (found.code ?? found.message) : 'not a file'}).`, {
        code: 'WEIGHTS_SHARD_MISSING',
        suggestion: `Copy every file listed in weightsManifest (${shards.map((s) => path.basename(s)).join(', ')}) next to model.json.`,
      });
    }
  }
  return shards;
}

/** Reads the weights of a TF.js layers model (`model.json` with `weightsManifest` and binary shards). */
export async function readTfjsLayersWeights(modelJsonPath: string): Promise<LoadedWeights> {
  const json = await readModelJson(modelJsonPath);
  const shardPaths = await shardFiles(modelJsonPath, json.weightsManifest);
  const dir = path.dirname(modelJsonPath);
  const layers: WeightsByLayer = new Map();
  for (const group of json.weightsManifest) {
    const buffers = await Promise.all(group.paths.map((p) => fsp.readFile(shardInside(dir, p, modelJsonPath))));
    const all = Buffer.concat(buffers);
    const arrayBuffer = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
    let named: tf.NamedTensorMap;
    try {
      named = tf.io.decodeWeights(arrayBuffer, group.weights);
    } catch (err) {
      throw new WeightsError(`${modelJsonPath}: shards do not match the manifest: ${(err as Error).message}`, {
        code: 'WEIGHTS_CORRUPT',
        suggestion: 'A shard is truncated or from another save: copy model.json and all its shards again, from the same save.',
        cause: err,
      });
    }
    for (const entry of group.weights) {
      const t = named[entry.name];
      const slash = entry.name.lastIndexOf('/');
      const layerName = slash >= 0 ? entry.name.slice(0, entry.name.indexOf('/')) : entry.name;
      const list = layers.get(layerName) ?? [];
      list.push({ name: shortWeightName(entry.name), shape: [...t.shape], values: Float32Array.from(t.dataSync()) });
      layers.set(layerName, list);
      t.dispose();
    }
  }
  return { layers, sha256: await sha256Of([modelJsonPath, ...shardPaths]), format: 'tfjs-layers' };
}

/** The files a weight source consists of: the .h5, or model.json followed by its shards. */
async function weightSourceFiles(file: string): Promise<string[]> {
  const stat = await fsp.stat(file).catch(() => undefined);
  if (!stat) {
    throw new WeightsError(`Weight file ${file} does not exist.`, {
      code: 'WEIGHTS_NOT_FOUND',
      suggestion: "Pass an existing .h5 or model.json to --weights, or --weights imagenet to download Keras' file.",
    });
  }
  const json = stat.isDirectory() ? path.join(file, 'model.json') : file;
  if (!json.endsWith('.json')) return [file];
  const manifest = await readModelJson(json);
  return [json, ...(await shardFiles(json, manifest.weightsManifest))];
}

/** A weight shard named by a model.json, which must lie in the model.json's folder (or below). */
function shardInside(dir: string, shard: string, modelJsonPath: string): string {
  const full = resolveInside(dir, shard);
  if (full === undefined) {
    throw new WeightsError(`${modelJsonPath} names the weight shard '${String(shard)}', outside its folder ${dir}.`, {
      code: 'WEIGHTS_SHARD_OUTSIDE',
      suggestion: 'Weight shards must be listed by paths relative to model.json, inside its folder. Re-export the model, or fix weightsManifest.paths.',
    });
  }
  return full;
}

/** sha256 of a weight source without parsing its weights (the same value `readWeightsFile` reports). */
export async function weightsSha256(file: string): Promise<string> {
  const files = await weightSourceFiles(file);
  try {
    return await sha256Of(files);
  } catch (err) {
    throw new WeightsError(`Cannot read weight file ${(err as NodeJS.ErrnoException).path ?? file}: ${(err as Error).message}`, {
      code: 'WEIGHTS_UNREADABLE',
      suggestion: 'Check the permissions of the weight files.',
      cause: err,
    });
  }
}

/** Reads weights from a .h5 file or a TF.js model.json (or a folder holding one). */
export async function readWeightsFile(file: string): Promise<LoadedWeights> {
  const stat = await fsp.stat(file).catch(() => undefined);
  if (!stat) {
    throw new WeightsError(`Weight file ${file} does not exist.`, {
      code: 'WEIGHTS_NOT_FOUND',
      suggestion: 'Pass an existing .h5 or model.json to --weights, or --weights imagenet to download Keras\' file.',
    });
  }
  if (stat.isDirectory()) return readTfjsLayersWeights(path.join(file, 'model.json'));
  if (file.endsWith('.json')) return readTfjsLayersWeights(file);
  return readKerasH5(file);
}

/**
 * Sets the model's weights from `weights`, matching layers by name and weights by short name.
 * Throws WeightsError naming the first missing, extra or wrongly shaped weight.
 */
export function assignWeights(model: tf.LayersModel, weights: LoadedWeights, source: string, options: LoadWeightsOptions = {}): void {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const weighted = model.layers.filter((l) => l.weights.length > 0);
  const fileLayers = [...weights.layers.keys()];
  const namesMatch = fileLayers.every((n) => byName.has(n));
  if (!namesMatch && !options.skipExtraLayers && fileLayers.length === weighted.length) {
    // Keras' own `load_weights` (without by_name) matches layers by topological order; some
    // official files were converted with older layer names (MobileNetV2's 2018 files). Same
    // count of weighted layers: match by order, every shape still checked.
    const renamed: WeightsByLayer = new Map(weighted.map((l, i) => [l.name, weights.layers.get(fileLayers[i])!]));
    options.onNotice?.(`${source}: layer names differ from the model's; loading by layer order (as Keras' load_weights does), shapes checked.`);
    assignWeights(model, { ...weights, layers: renamed }, source, { ...options, skipExtraLayers: false });
    return;
  }
  for (const [layerName, fileWeights] of weights.layers) {
    const layer = byName.get(layerName);
    if (!layer) {
      if (options.skipExtraLayers) continue;
      throw new WeightsError(`${source} has weights for layer '${layerName}', which the model ${model.name} does not have.`, {
        code: 'WEIGHTS_EXTRA_LAYER',
        suggestion: 'The file is for another architecture or settings (alpha, includeTop): check --model, --alpha and the file.',
      });
    }
    if (fileWeights.length !== layer.weights.length) {
      throw new WeightsError(`${source}: layer '${layerName}' has ${fileWeights.length} weights in the file but ${layer.weights.length} in the model.`, {
        code: 'WEIGHTS_COUNT',
        suggestion: 'The file is for another architecture or settings: check --model and --alpha.',
      });
    }
    // By name first; files with other naming (Keras 1 style `block1_conv1_W_1:0` in the VGG
    // files) fall back to position within the layer, as Keras' own loader does.
    const shorts = layer.weights.map((w) => shortWeightName(w.originalName ?? w.name));
    const byWeightName = shorts.every((s) => fileWeights.some((fw) => fw.name === s));
    const matched = shorts.map((short, i) => (byWeightName ? fileWeights.find((fw) => fw.name === short)! : fileWeights[i]));
    matched.forEach((found, i) => {
      const w = layer.weights[i];
      if (found.shape.length !== w.shape.length || found.shape.some((d, k) => d !== w.shape[k])) {
        throw new WeightsError(
          `${source}: weight '${layerName}/${shorts[i]}' has shape [${found.shape.join(', ')}] in the file but the model expects [${w.shape.join(', ')}].`,
          { code: 'WEIGHTS_SHAPE', suggestion: 'Check --alpha, the input size and the architecture the file was saved from.' },
        );
      }
    });
    const values = matched.map((found) => tf.tensor(found.values, found.shape));
    layer.setWeights(values);
    tf.dispose(values);
  }
  for (const layer of model.layers) {
    if (layer.weights.length > 0 && !weights.layers.has(layer.name)) {
      throw new WeightsError(`${source} has no weights for layer '${layer.name}' of the model ${model.name}.`, {
        code: 'WEIGHTS_MISSING_LAYER',
        suggestion: 'The file is for another architecture or for includeTop=false: check --model, --alpha and the file.',
      });
    }
  }
}

/** Reads a weight file and assigns it; returns the file's sha256. */
export async function loadWeights(model: tf.LayersModel, file: string, options: LoadWeightsOptions = {}): Promise<string> {
  const weights = await readWeightsFile(file);
  assignWeights(model, weights, file, options);
  return weights.sha256;
}
