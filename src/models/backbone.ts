/**
 * A backbone: a zoo architecture without its top, with weights, cut at a layer and pooled,
 * ready to turn preprocessed images into bottleneck features. Its fingerprint (architecture,
 * weights hash, layer, pooling, preprocessing, input size, crop) keys the feature cache.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { OptionsError } from '../errors.js';
import type { BackboneInfo } from '../formats/features.js';
import { fetchWeights } from './download.js';
import { getModelSpec } from './registry.js';
import { randomizeWeights } from './random_weights.js';
import type { ModelSpec, Pooling, PreprocessMode } from './types.js';
import { loadWeights, weightsSha256 } from './weights.js';

export interface BackboneOptions {
  /** Registry name: mobilenet, mobilenet_v2, vgg16, vgg19, resnet50, inception_v3. */
  model: string;
  /** Width multiplier for the MobileNets. Default 1.0. */
  alpha?: number;
  /**
   * 'imagenet' (Keras' file, downloaded once into the cache), 'random' (seeded Glorot init), or a
   * path to a Keras .h5 or a TF.js model.json. Default 'imagenet'.
   */
  weights?: string;
  /** Seed of 'random' weights. Default 0. */
  seed?: number;
  /** Layer whose output is the bottleneck. Default: the last layer before the top. */
  layer?: string;
  /** Global pooling of a 4-D bottleneck. Default 'avg'. */
  pooling?: Pooling;
  /** Square input size. Default: the model's (224; 299 for InceptionV3). */
  inputSize?: number;
  /** 'squash' resizes the whole image (Keras' default); 'center' crops to square first. Default 'squash'. */
  crop?: 'squash' | 'center';
  /** Where downloaded weights are cached. Default `<FTK_HOME>/weights`. */
  weightsDir?: string;
  onDownloadProgress?: (p: { bytes: number; total?: number; bytesPerSecond: number }) => void;
  /** One-off notices (e.g. weights matched by layer order). */
  onNotice?: (message: string) => void;
}

export interface Backbone {
  model: tf.LayersModel;
  spec: ModelSpec;
  info: BackboneInfo;
  /** Features per image. */
  outputDim: number;
}

/** Hash of everything that changes the features of an image. */
export function backboneFingerprint(info: Omit<BackboneInfo, 'fingerprint' | 'weights'>): string {
  const key = JSON.stringify([
    info.name,
    info.alpha ?? null,
    info.weightsSha256,
    info.layer,
    info.pooling,
    info.preprocessing,
    info.inputSize,
    info.crop,
  ]);
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/** A backbone whose identity (fingerprint) is known but whose model is not built yet. */
export interface ResolvedBackbone {
  spec: ModelSpec;
  info: BackboneInfo;
  /** The weight file to load, or undefined for random weights. */
  weightsFile?: string;
  alpha?: number;
}

/**
 * Works out what a backbone is without building it: validates options, fetches/hashes the weight
 * file and computes the fingerprint. Cheap, so a fully cached extraction never builds a model.
 */
export async function resolveBackbone(options: BackboneOptions): Promise<ResolvedBackbone> {
  const spec = getModelSpec(options.model);
  if (options.alpha !== undefined && !spec.alphas) {
    throw new OptionsError(`--alpha applies to MobileNet and MobileNetV2 only; ${spec.displayName} has no width multiplier.`);
  }
  const alpha = spec.alphas ? (options.alpha ?? 1.0) : undefined;
  const inputSize = options.inputSize ?? spec.defaultInputSize;
  const pooling = options.pooling ?? 'avg';
  const crop = options.crop ?? 'squash';
  const weights = options.weights ?? 'imagenet';
  let sha: string;
  let weightsFile: string | undefined;
  if (weights === 'random') {
    sha = `random:${options.seed ?? 0}`;
  } else if (weights === 'imagenet') {
    const file = spec.imagenetWeights({ includeTop: false, alpha, inputSize });
    if (!file) {
      throw new OptionsError(`Keras publishes no ImageNet weights for ${spec.displayName} with alpha=${alpha} at ${inputSize}x${inputSize}.`, {
        suggestion: `Use the default input size ${spec.defaultInputSize}, another alpha, or --weights <file.h5>.`,
      });
    }
    const fetched = await fetchWeights(file, { cacheDir: options.weightsDir, onProgress: options.onDownloadProgress });
    weightsFile = fetched.path;
    sha = fetched.sha256;
  } else {
    weightsFile = path.resolve(weights);
    sha = await weightsSha256(weightsFile);
  }
  // The layer name is part of the fingerprint: the default is the last layer of the no-top model.
  const layer = options.layer ?? defaultLayerName(spec, alpha, inputSize);
  const preprocessing: PreprocessMode = spec.preprocessing;
  const partial = { name: spec.name, alpha, weightsSha256: sha, layer, pooling, preprocessing, inputSize, crop };
  return { spec, alpha, weightsFile, info: { ...partial, weights: weightsFile ?? weights, fingerprint: backboneFingerprint(partial) } };
}

const lastLayerNames = new Map<string, string>();

/** The name of the last layer of the architecture without its top (built once per setting and remembered). */
function defaultLayerName(spec: ModelSpec, alpha: number | undefined, inputSize: number): string {
  const key = `${spec.name}:${alpha}`;
  let name = lastLayerNames.get(key);
  if (!name) {
    const probe = spec.build({ includeTop: false, alpha, inputShape: [Math.max(spec.minInputSize, 32), Math.max(spec.minInputSize, 32), 3], pooling: 'none' });
    name = probe.layers[probe.layers.length - 1].name;
    probe.dispose();
    lastLayerNames.set(key, name);
  }
  void inputSize;
  return name;
}

/** Builds the model of a resolved backbone: weights loaded, cut at the layer, pooled. */
export async function buildBackbone(resolved: ResolvedBackbone, options: { onNotice?: (message: string) => void; seed?: number } = {}): Promise<Backbone> {
  const { spec, info, alpha } = resolved;
  const base = spec.build({ includeTop: false, alpha, inputShape: [info.inputSize, info.inputSize, 3], pooling: 'none' });
  if (resolved.weightsFile) {
    await loadWeights(base, resolved.weightsFile, { onNotice: options.onNotice });
  } else {
    randomizeWeights(base, Number(info.weightsSha256.slice('random:'.length)));
  }
  let layer: tf.layers.Layer;
  try {
    layer = base.getLayer(info.layer);
  } catch {
    base.dispose();
    const near = nearestNames(info.layer, base.layers.map((l) => l.name));
    throw new OptionsError(`${spec.displayName} has no layer "${info.layer}".`, {
      code: 'LAYER_UNKNOWN',
      suggestion: near.length ? `Did you mean ${near.join(', ')}?` : `Run \`ftk info --model ${spec.name}\` to list the layers.`,
    });
  }
  let output = layer.output as tf.SymbolicTensor;
  if (output.shape.length === 4 && info.pooling !== 'none') {
    const pool = info.pooling === 'avg' ? tf.layers.globalAveragePooling2d({ name: 'ftk_avg_pool' }) : tf.layers.globalMaxPooling2d({ name: 'ftk_max_pool' });
    output = pool.apply(output) as tf.SymbolicTensor;
  }
  const model = output === base.outputs[0] ? base : tf.model({ inputs: base.inputs, outputs: output, name: `${base.name}_features` });
  const outputDim = output.shape.slice(1).reduce((a: number, b) => a * (b as number), 1);
  return { model, spec, info, outputDim };
}

/** Resolves and builds in one step. */
export async function loadBackbone(options: BackboneOptions): Promise<Backbone> {
  return buildBackbone(await resolveBackbone(options), { onNotice: options.onNotice });
}

/** Up to five names closest to `wanted` (substring matches first, then by edit distance). */
export function nearestNames(wanted: string, names: string[]): string[] {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = tmp;
      }
    }
    return row[b.length];
  };
  return [...names]
    .map((n) => ({ n, d: n.includes(wanted) || wanted.includes(n) ? 0 : distance(wanted, n) }))
    .sort((a, b) => a.d - b.d)
    .slice(0, 5)
    .map((x) => x.n);
}

/** The options that rebuild the backbone a features file or model was made with. */
export function backboneOptionsFrom(info: BackboneInfo): BackboneOptions {
  const random = info.weightsSha256.startsWith('random:');
  return {
    model: info.name,
    alpha: info.alpha,
    weights: random ? 'random' : info.weights,
    seed: random ? Number(info.weightsSha256.slice('random:'.length)) : undefined,
    layer: info.layer,
    pooling: info.pooling,
    inputSize: info.inputSize,
    crop: info.crop,
  };
}
