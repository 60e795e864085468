/**
 * A backbone: a zoo architecture without its top, with weights, cut at a layer and pooled,
 * ready to turn preprocessed images into bottleneck features. Its fingerprint (architecture,
 * weights hash, layer, pooling, preprocessing, input size, crop, test-time augmentation) keys the
 * feature cache. Test-time augmentation is applied around the network by whoever runs it
 * (src/models/tta.ts); the network alone is `networkInfo(info)`.
 *
 * Models of other frameworks come in through the same door: `model` = `onnx:<file.onnx>`
 * (onnx_backbone.ts, ONNX Runtime) or `tfjs:<folder>` (tfjs_backbone.ts, TF.js graph or layers
 * model). `resolveBackbone` dispatches on the prefix, so every command accepts them.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { OptionsError } from '../errors.js';
import type { BackboneInfo } from '../formats/features.js';
import { fetchWeights } from './download.js';
import { nearestNames } from './names.js';
import { resolveOnnxModel, type ExternalBackboneInfo } from './onnx_backbone.js';
import type { CustomPreprocessOptions } from './preprocess.js';
import { getModelSpec } from './registry.js';
import { randomizeWeights } from './random_weights.js';
import { loadTfjsLayersModel, readTfjsModelSource, resolveTfjsModel } from './tfjs_backbone.js';
import { resolveTta, type TtaMode } from './tta.js';
import type { ModelSpec, Pooling, PreprocessMode } from './types.js';
import { loadWeights, weightsSha256 } from './weights.js';

export { nearestNames } from './names.js';

/** Prefixes of `model` that name a model file of another framework instead of a zoo entry. */
export const EXTERNAL_MODEL_PREFIXES = ['onnx:', 'tfjs:'] as const;

/** Splits `onnx:<file>` / `tfjs:<folder>` from zoo names. */
export function parseModelSource(model: string): { kind: 'zoo'; name: string } | { kind: 'onnx' | 'tfjs'; path: string } {
  for (const prefix of EXTERNAL_MODEL_PREFIXES) {
    if (model.startsWith(prefix)) {
      const p = model.slice(prefix.length);
      if (!p) throw new OptionsError(`--model ${model} names no file.`, { code: 'MODEL_UNKNOWN', suggestion: `Write ${prefix}<path>, e.g. ${prefix === 'onnx:' ? 'onnx:resnet18.onnx' : 'tfjs:models/mobilenet'}.` });
      return { kind: prefix === 'onnx:' ? 'onnx' : 'tfjs', path: p };
    }
  }
  return { kind: 'zoo', name: model };
}

/** True when `model` names an `onnx:` or `tfjs:` model. */
export const isExternalModel = (model: string): boolean => parseModelSource(model).kind !== 'zoo';

export interface BackboneOptions {
  /**
   * Registry name (mobilenet, mobilenet_v2, vgg16, vgg19, resnet50, inception_v3), or a model of
   * another framework: `onnx:<file.onnx>`, `tfjs:<folder or model.json>`.
   */
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
  /**
   * Layer whose output is the bottleneck. Default: the last layer before the top (zoo), the graph's
   * output (`onnx:`, `tfjs:`). For ONNX models, any tensor (node output) name.
   */
  layer?: string;
  /** Global pooling of a 4-D bottleneck. Default 'avg'. */
  pooling?: Pooling;
  /** Square input size. Default: the model's (224; 299 for InceptionV3). */
  inputSize?: number;
  /** 'squash' resizes the whole image (Keras' default); 'center' crops to square first. Default 'squash'. */
  crop?: 'squash' | 'center';
  /**
   * Test-time augmentation: 'flip' makes each image's features the mean of the pooled features of
   * the image and of its horizontal mirror (two forward passes per image; pooling 'none' is
   * refused). Part of the fingerprint, so the cache keeps both kinds apart. Default 'none'.
   */
  tta?: TtaMode;
  /**
   * `onnx:`/`tfjs:` models only (zoo models use Keras' mode for their architecture): how the
   * model's inputs were normalised: 'torch', 'tf', 'caffe', 'custom', or custom mean/std. Required
   * unless the model records it.
   */
  preprocess?: string | CustomPreprocessOptions;
  /** Where downloaded weights are cached. Default `<FTK_HOME>/weights`. */
  weightsDir?: string;
  onDownloadProgress?: (p: { bytes: number; total?: number; bytesPerSecond: number }) => void;
  /** One-off notices (e.g. weights matched by layer order). */
  onNotice?: (message: string) => void;
}

export interface Backbone {
  model: tf.LayersModel;
  /** The zoo entry (undefined for a `tfjs:` layers model). */
  spec?: ModelSpec;
  info: BackboneInfo;
  /** Features per image. */
  outputDim: number;
}

/**
 * Hash of everything that changes the features of an image. `tta` enters the key only when it is
 * 'flip': the fingerprints of tta-less configurations stay those computed before TTA existed, so
 * users' feature caches, exported graphs and saved models keep matching.
 */
export function backboneFingerprint(info: Omit<BackboneInfo, 'fingerprint' | 'weights'>): string {
  const fields: unknown[] = [
    info.name,
    info.alpha ?? null,
    info.weightsSha256,
    info.layer,
    info.pooling,
    info.preprocessing,
    info.inputSize,
    info.crop,
  ];
  if (info.tta === 'flip') fields.push({ tta: 'flip' });
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 32);
}

/**
 * The network a backbone runs, without its test-time augmentation: what the engines run and what
 * the exported ONNX graph of the backbone is cached under (the graph is the same for both modes;
 * TTA happens around it). Returns `info` itself when it has no TTA.
 */
export function networkInfo(info: BackboneInfo): BackboneInfo {
  if (info.tta === undefined) return info;
  const { tta: _tta, fingerprint: _fp, ...rest } = info;
  return { ...rest, fingerprint: backboneFingerprint(rest) };
}

/** `info` with its test-time augmentation recorded: the field is written only for 'flip' (see BackboneInfo.tta). */
function withTta<T extends Omit<BackboneInfo, 'fingerprint'>>(info: T, tta: TtaMode): T & Pick<BackboneInfo, 'fingerprint'> {
  const recorded = tta === 'flip' ? { ...info, tta } : info;
  return { ...recorded, fingerprint: backboneFingerprint(recorded) };
}

/** A backbone whose identity (fingerprint) is known but whose model is not built yet. */
export interface ResolvedBackbone {
  /** The zoo entry; undefined for `onnx:`/`tfjs:` models (their `info.external` says what they are). */
  spec?: ModelSpec;
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
  const source = parseModelSource(options.model);
  if (source.kind !== 'zoo') return resolveExternal(source.kind, source.path, options);
  if (options.preprocess !== undefined) {
    throw new OptionsError(`--preprocess applies to onnx: and tfjs: models; ${options.model} uses Keras' preprocessing for its architecture. Received preprocess=${JSON.stringify(options.preprocess)}.`, {
      code: 'PREPROCESS_ZOO',
      suggestion: 'Drop --preprocess.',
    });
  }
  const spec = getModelSpec(options.model);
  if (options.alpha !== undefined && !spec.alphas) {
    throw new OptionsError(`--alpha applies to MobileNet and MobileNetV2 only; ${spec.displayName} has no width multiplier.`);
  }
  const alpha = spec.alphas ? (options.alpha ?? 1.0) : undefined;
  const inputSize = options.inputSize ?? spec.defaultInputSize;
  const pooling = options.pooling ?? 'avg';
  const crop = options.crop ?? 'squash';
  const tta = resolveTta(options.tta, pooling);
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
  return { spec, alpha, weightsFile, info: withTta({ ...partial, weights: weightsFile ?? weights }, tta) };
}

async function resolveExternal(kind: 'onnx' | 'tfjs', file: string, options: BackboneOptions): Promise<ResolvedBackbone> {
  const flag = (name: string, value: unknown) => {
    if (value !== undefined) {
      throw new OptionsError(`${name} applies to zoo models; ${kind}: models bring their own weights. Received ${name}=${String(value)}.`, { code: 'OPTIONS_EXTERNAL_MODEL', suggestion: `Drop ${name}.` });
    }
  };
  flag('alpha', options.alpha);
  flag('weights', options.weights === 'imagenet' ? undefined : options.weights);
  // Checked before the model file is read: a wrong option should not wait for a large file.
  const tta = resolveTta(options.tta, options.pooling ?? 'avg');
  const resolve = kind === 'onnx' ? resolveOnnxModel : resolveTfjsModel;
  const partial: ExternalBackboneInfo = await resolve(file, {
    layer: options.layer,
    pooling: options.pooling,
    inputSize: options.inputSize,
    crop: options.crop,
    preprocess: options.preprocess,
  });
  return { info: withTta(partial, tta) };
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
  let base: tf.LayersModel;
  if (!spec) {
    if (info.external?.format !== 'tfjs-layers') {
      throw new OptionsError(`${info.name}:${info.weights} is ${info.external?.format === 'onnx' ? 'an ONNX model: it runs on ONNX Runtime' : 'a TF.js graph model: it runs on the TF.js graph executor'}, not as a TF.js layers model, so it cannot be cut, exported or trained here.`, {
        code: 'BACKBONE_NOT_LAYERS',
        suggestion: 'Use it for feature extraction (bottleneck extract, svm, auto with the SVM path); fine-tuning needs a zoo model or a TF.js layers model.',
      });
    }
    base = await loadTfjsLayersModel(await readTfjsModelSource(info.weights));
  } else {
    base = spec.build({ includeTop: false, alpha, inputShape: [info.inputSize, info.inputSize, 3], pooling: 'none' });
    if (resolved.weightsFile) {
      await loadWeights(base, resolved.weightsFile, { onNotice: options.onNotice });
    } else {
      randomizeWeights(base, Number(info.weightsSha256.slice('random:'.length)));
    }
  }
  const displayName = spec?.displayName ?? info.weights;
  let layer: tf.layers.Layer;
  try {
    layer = base.getLayer(info.layer);
  } catch {
    base.dispose();
    const near = nearestNames(info.layer, base.layers.map((l) => l.name));
    throw new OptionsError(`${displayName} has no layer "${info.layer}".`, {
      code: 'LAYER_UNKNOWN',
      suggestion: near.length ? `Did you mean ${near.join(', ')}?` : `Run \`ftk info --model ${spec?.name ?? `tfjs:${info.weights}`}\` to list the layers.`,
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

/** Short name for messages: 'mobilenet 0.25', or 'resnet18.onnx (onnx)' for a model of another framework. */
export function backboneLabel(info: BackboneInfo): string {
  if (info.external) return `${path.basename(info.weights)} (${info.external.format})`;
  return `${info.name}${info.alpha !== undefined ? ` ${info.alpha}` : ''}`;
}

/** The options that rebuild the backbone a features file or model was made with. */
export function backboneOptionsFrom(info: BackboneInfo): BackboneOptions {
  if (info.external) {
    return {
      model: `${info.name}:${info.weights}`,
      layer: info.layer,
      pooling: info.pooling,
      inputSize: info.inputSize,
      crop: info.crop,
      preprocess: info.preprocessing,
      ...(info.tta ? { tta: info.tta } : {}),
    };
  }
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
    ...(info.tta ? { tta: info.tta } : {}),
  };
}
