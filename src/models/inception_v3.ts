/**
 * InceptionV3 (Keras Applications `inception_v3.py`).
 *
 * Szegedy, Vanhoucke, Ioffe, Shlens & Wojna, "Rethinking the Inception Architecture for Computer
 * Vision", CVPR 2016 (arXiv:1512.00567).
 *
 * | model       | params (with top) | params (no top) | ImageNet top-1 / top-5 (299) | file (with top) |
 * |-------------|-------------------|-----------------|------------------------------|-----------------|
 * | InceptionV3 | 23,851,784        | 21,802,784      | 77.9 % / 93.7 %              | 92 MB           |
 * (accuracies as listed on keras.io/api/applications; parameter counts include the BatchNorm
 * moving statistics, as Keras' `count_params` does.)
 *
 * Body: a stem of five 3x3/1x1 convolutions and two 3x3/2 max pools (299 -> 35x35x192), then
 * eleven "mixed" blocks: mixed0-2 (35x35, 1x1 / 5x5 / double 3x3 / pool branches), mixed3
 * (grid reduction to 17x17), mixed4-7 (17x17, factorised 1x7 + 7x1 branches), mixed8 (grid
 * reduction to 8x8) and mixed9-10 (8x8, expanded 1x3 + 3x1 branches), ending in 2048 channels
 * at about input/32. Every convolution is Keras' `conv2d_bn`: Conv2D without bias, then
 * BatchNormalization with `scale=False` (beta and moving statistics only), then ReLU.
 * Top: global average pooling 'avg_pool' + Dense 'predictions'.
 *
 * Weights: Keras' ImageNet files `inception_v3_weights_tf_dim_ordering_tf_kernels[_notop].h5`
 * from storage.googleapis.com/tensorflow/keras-applications/inception_v3/, checked against the
 * md5 hashes of Keras' `inception_v3.py`.
 * Preprocessing: 'tf' (pixels scaled to [-1, 1]).
 *
 * Porting note, layer names: Keras gives `conv2d_bn`'s layers no names, so they get automatic
 * ones, and Keras loads the ImageNet file by layer order, never by name. ftk loads by name, so
 * it must spell them as the file does. The file (the md5 above is the one Keras 2.0's
 * inception_v3.py already checked, when the file lived in fchollet/deep-learning-models v0.5)
 * was saved by Keras 2.0, whose automatic names count from 1 per layer class within a fresh
 * session: `conv2d_1` … `conv2d_94`, `batch_normalization_1` … `batch_normalization_94`,
 * `activation_1` … `activation_94`, `max_pooling2d_1` … `_4`, `average_pooling2d_1` … `_9`,
 * `concatenate_1`, `concatenate_2`. Evidence: converters that read the file by name (e.g. a
 * Chainer port mapping its stem to `conv2d_1`/`batch_normalization_1` and mixed10's pool branch
 * to `conv2d_94`/`batch_normalization_94`) and Keras 2.0-era model listings ending in
 * `average_pooling2d_9`, `concatenate_2`, `mixed10`. tf.keras 2.x would instead count from 0
 * (`conv2d`, `conv2d_1`, … `conv2d_93`) and Keras 3 names differ again; neither matches the file.
 * ftk names every automatically named layer the Keras 2.0 way, deterministically, in the order
 * Keras creates them, whatever else was built before. Named layers (`mixed0` … `mixed10`,
 * `mixed9_0`, `mixed9_1`, `avg_pool`, `predictions`) are Keras' own. The global pooling layer
 * without the top follows the same scheme (`global_average_pooling2d_1`, `global_max_pooling2d_1`).
 */
import * as tf from '@tensorflow/tfjs';
import { kerasWeightFiles, rejectWidthMultiplier, resolveApplicationOptions } from './imagenet_utils.js';
import type { ApplicationOptions, ModelSpec } from './types.js';

const DEFAULT_SIZE = 299;
const MIN_SIZE = 75;
/** Channels of mixed10, the last feature map. */
const FEATURE_SIZE = 2048;
const WEIGHTS_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/';
const WEIGHTS_FILE = 'inception_v3_weights_tf_dim_ordering_tf_kernels.h5';
const WEIGHTS_FILE_NO_TOP = 'inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5';
/** md5 hashes from Keras' `inception_v3.py` (`file_hash` of `get_file`). */
const WEIGHTS_MD5 = '9a0d58056eeedaa3f26cb7ebd46da564';
const WEIGHTS_MD5_NO_TOP = 'bcbd6486424b2319ff4ef7d526e38f63';

type Padding = 'same' | 'valid';

/**
 * Keras 2.0's automatic layer names: the layer class in snake case, then a counter per class
 * starting at 1 (`conv2d_1`, `conv2d_2`, …). One instance per model, so names never depend on
 * what was built before.
 */
class AutoNames {
  private readonly counts = new Map<string, number>();

  next(prefix: string): string {
    const n = (this.counts.get(prefix) ?? 0) + 1;
    this.counts.set(prefix, n);
    return `${prefix}_${n}`;
  }
}

/**
 * Builds InceptionV3 with random weights, layer for layer as Keras' `keras.applications.InceptionV3`.
 *
 * Cost: 23.9 M parameters with the top (21.8 M without), ~5.7 GFLOPs per 299x299 image: about
 * 10x MobileNetV2, so prefer it on a GPU backend or for small datasets.
 *
 * @param options Keras' builder options (see `ApplicationOptions`): `includeTop` (default true)
 *   needs a 299x299 input; without the top any square or non-square input of at least 75x75
 *   works; `pooling` (default 'none') applies only without the top; `classes` default 1000;
 *   `classifierActivation` default 'softmax' (null/'linear': logits).
 * @returns a functional `tf.LayersModel` named 'inception_v3'.
 * @throws OptionsError for Keras' rejected combinations (see `resolveApplicationOptions`) or a
 *   width multiplier (`alpha`), which InceptionV3 does not have.
 *
 * @example
 * const model = InceptionV3({ includeTop: false, inputShape: [150, 150, 3], pooling: 'avg' });
 * model.outputs[0].shape; // [null, 2048]
 */
export function InceptionV3(options: ApplicationOptions = {}): tf.LayersModel {
  rejectWidthMultiplier('InceptionV3', options);
  const o = resolveApplicationOptions('InceptionV3', options, DEFAULT_SIZE, MIN_SIZE);
  const names = new AutoNames();

  const input = tf.input({ shape: o.inputShape, name: names.next('input') });
  // Stem: 299 -> 149 -> 147 -> 147 -> 73 -> 73 -> 71 -> 35.
  let x = conv2dBn(names, input, 32, 3, 3, 'valid', 2);
  x = conv2dBn(names, x, 32, 3, 3, 'valid');
  x = conv2dBn(names, x, 64, 3, 3);
  x = maxPool3x3s2(names, x);
  x = conv2dBn(names, x, 80, 1, 1, 'valid');
  x = conv2dBn(names, x, 192, 3, 3, 'valid');
  x = maxPool3x3s2(names, x);

  // 35 x 35: mixed0 (256 channels), mixed1 and mixed2 (288).
  x = inceptionA(names, x, 32, 'mixed0');
  x = inceptionA(names, x, 64, 'mixed1');
  x = inceptionA(names, x, 64, 'mixed2');
  // Reduction to 17 x 17 x 768.
  x = reductionA(names, x, 'mixed3');
  // 17 x 17 x 768 with factorised 7x7 convolutions of 128, 160, 160, 192 channels.
  x = inceptionB(names, x, 128, 'mixed4');
  x = inceptionB(names, x, 160, 'mixed5');
  x = inceptionB(names, x, 160, 'mixed6');
  x = inceptionB(names, x, 192, 'mixed7');
  // Reduction to 8 x 8 x 1280.
  x = reductionB(names, x, 'mixed8');
  // 8 x 8 x 2048.
  x = inceptionC(names, x, 0);
  x = inceptionC(names, x, 1);

  if (o.includeTop) {
    x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .dense({ units: o.classes, activation: o.classifierActivation ?? 'linear', name: 'predictions' })
      .apply(x) as tf.SymbolicTensor;
  } else if (o.pooling === 'avg') {
    x = tf.layers.globalAveragePooling2d({ name: names.next('global_average_pooling2d') }).apply(x) as tf.SymbolicTensor;
  } else if (o.pooling === 'max') {
    x = tf.layers.globalMaxPooling2d({ name: names.next('global_max_pooling2d') }).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name: 'inception_v3' });
}

/**
 * Keras' `conv2d_bn`: Conv2D (no bias) -> BatchNormalization (scale=False, Keras' epsilon 1e-3
 * and momentum 0.99) -> ReLU, with automatic names `conv2d_N`, `batch_normalization_N`,
 * `activation_N` (the same N, since these three classes are only ever created here).
 */
function conv2dBn(
  names: AutoNames,
  input: tf.SymbolicTensor,
  filters: number,
  rows: number,
  cols: number,
  padding: Padding = 'same',
  stride = 1,
): tf.SymbolicTensor {
  let x = tf.layers
    .conv2d({ filters, kernelSize: [rows, cols], strides: stride, padding, useBias: false, name: names.next('conv2d') })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers
    .batchNormalization({ axis: -1, scale: false, epsilon: 1e-3, momentum: 0.99, name: names.next('batch_normalization') })
    .apply(x) as tf.SymbolicTensor;
  return tf.layers.activation({ activation: 'relu', name: names.next('activation') }).apply(x) as tf.SymbolicTensor;
}

function maxPool3x3s2(names: AutoNames, x: tf.SymbolicTensor): tf.SymbolicTensor {
  return tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: names.next('max_pooling2d') }).apply(x) as tf.SymbolicTensor;
}

/** 3x3 average pool, stride 1, 'same' (the pool branch of the non-reducing blocks). */
function avgPool3x3s1(names: AutoNames, x: tf.SymbolicTensor): tf.SymbolicTensor {
  return tf.layers
    .averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: names.next('average_pooling2d') })
    .apply(x) as tf.SymbolicTensor;
}

function concat(inputs: tf.SymbolicTensor[], name: string): tf.SymbolicTensor {
  return tf.layers.concatenate({ axis: -1, name }).apply(inputs) as tf.SymbolicTensor;
}

/** mixed0-2 (35x35): 1x1(64) | 1x1(48) -> 5x5(64) | 1x1(64) -> 3x3(96) -> 3x3(96) | avgpool -> 1x1(poolFilters). */
function inceptionA(names: AutoNames, x: tf.SymbolicTensor, poolFilters: number, name: string): tf.SymbolicTensor {
  const branch1x1 = conv2dBn(names, x, 64, 1, 1);

  let branch5x5 = conv2dBn(names, x, 48, 1, 1);
  branch5x5 = conv2dBn(names, branch5x5, 64, 5, 5);

  let branch3x3dbl = conv2dBn(names, x, 64, 1, 1);
  branch3x3dbl = conv2dBn(names, branch3x3dbl, 96, 3, 3);
  branch3x3dbl = conv2dBn(names, branch3x3dbl, 96, 3, 3);

  let branchPool = avgPool3x3s1(names, x);
  branchPool = conv2dBn(names, branchPool, poolFilters, 1, 1);
  return concat([branch1x1, branch5x5, branch3x3dbl, branchPool], name);
}

/** mixed3 (35 -> 17): 3x3/2(384) | 1x1(64) -> 3x3(96) -> 3x3/2(96) | maxpool/2. */
function reductionA(names: AutoNames, x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  const branch3x3 = conv2dBn(names, x, 384, 3, 3, 'valid', 2);

  let branch3x3dbl = conv2dBn(names, x, 64, 1, 1);
  branch3x3dbl = conv2dBn(names, branch3x3dbl, 96, 3, 3);
  branch3x3dbl = conv2dBn(names, branch3x3dbl, 96, 3, 3, 'valid', 2);

  const branchPool = maxPool3x3s2(names, x);
  return concat([branch3x3, branch3x3dbl, branchPool], name);
}

/**
 * mixed4-7 (17x17): 1x1(192) | 1x1(c) -> 1x7(c) -> 7x1(192) |
 * 1x1(c) -> 7x1(c) -> 1x7(c) -> 7x1(c) -> 1x7(192) | avgpool -> 1x1(192).
 */
function inceptionB(names: AutoNames, x: tf.SymbolicTensor, c: number, name: string): tf.SymbolicTensor {
  const branch1x1 = conv2dBn(names, x, 192, 1, 1);

  let branch7x7 = conv2dBn(names, x, c, 1, 1);
  branch7x7 = conv2dBn(names, branch7x7, c, 1, 7);
  branch7x7 = conv2dBn(names, branch7x7, 192, 7, 1);

  let branch7x7dbl = conv2dBn(names, x, c, 1, 1);
  branch7x7dbl = conv2dBn(names, branch7x7dbl, c, 7, 1);
  branch7x7dbl = conv2dBn(names, branch7x7dbl, c, 1, 7);
  branch7x7dbl = conv2dBn(names, branch7x7dbl, c, 7, 1);
  branch7x7dbl = conv2dBn(names, branch7x7dbl, 192, 1, 7);

  let branchPool = avgPool3x3s1(names, x);
  branchPool = conv2dBn(names, branchPool, 192, 1, 1);
  return concat([branch1x1, branch7x7, branch7x7dbl, branchPool], name);
}

/** mixed8 (17 -> 8): 1x1(192) -> 3x3/2(320) | 1x1(192) -> 1x7 -> 7x1 -> 3x3/2(192) | maxpool/2. */
function reductionB(names: AutoNames, x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  let branch3x3 = conv2dBn(names, x, 192, 1, 1);
  branch3x3 = conv2dBn(names, branch3x3, 320, 3, 3, 'valid', 2);

  let branch7x7x3 = conv2dBn(names, x, 192, 1, 1);
  branch7x7x3 = conv2dBn(names, branch7x7x3, 192, 1, 7);
  branch7x7x3 = conv2dBn(names, branch7x7x3, 192, 7, 1);
  branch7x7x3 = conv2dBn(names, branch7x7x3, 192, 3, 3, 'valid', 2);

  const branchPool = maxPool3x3s2(names, x);
  return concat([branch3x3, branch7x7x3, branchPool], name);
}

/**
 * mixed9 / mixed10 (8x8, index 0 / 1): 1x1(320) | 1x1(384) -> [1x3, 3x1](384 each) 'mixed9_{i}' |
 * 1x1(448) -> 3x3(384) -> [1x3, 3x1](384 each) (unnamed concatenate) | avgpool -> 1x1(192).
 */
function inceptionC(names: AutoNames, x: tf.SymbolicTensor, index: number): tf.SymbolicTensor {
  const branch1x1 = conv2dBn(names, x, 320, 1, 1);

  const branch3x3 = conv2dBn(names, x, 384, 1, 1);
  const branch3x3a = conv2dBn(names, branch3x3, 384, 1, 3);
  const branch3x3b = conv2dBn(names, branch3x3, 384, 3, 1);
  const branch3x3Out = concat([branch3x3a, branch3x3b], `mixed9_${index}`);

  let branch3x3dbl = conv2dBn(names, x, 448, 1, 1);
  branch3x3dbl = conv2dBn(names, branch3x3dbl, 384, 3, 3);
  const branch3x3dblA = conv2dBn(names, branch3x3dbl, 384, 1, 3);
  const branch3x3dblB = conv2dBn(names, branch3x3dbl, 384, 3, 1);
  const branch3x3dblOut = concat([branch3x3dblA, branch3x3dblB], names.next('concatenate'));

  let branchPool = avgPool3x3s1(names, x);
  branchPool = conv2dBn(names, branchPool, 192, 1, 1);
  return concat([branch1x1, branch3x3Out, branch3x3dblOut, branchPool], `mixed${9 + index}`);
}

export const inceptionV3Spec: ModelSpec = Object.freeze<ModelSpec>({
  name: 'inception_v3',
  displayName: 'InceptionV3',
  build: InceptionV3,
  preprocessing: 'tf',
  defaultInputSize: DEFAULT_SIZE,
  minInputSize: MIN_SIZE,
  featureSize: () => FEATURE_SIZE,
  imagenetWeights: kerasWeightFiles({
    base: WEIGHTS_BASE,
    top: WEIGHTS_FILE,
    noTop: WEIGHTS_FILE_NO_TOP,
    md5Top: WEIGHTS_MD5,
    md5NoTop: WEIGHTS_MD5_NO_TOP,
    defaultSize: DEFAULT_SIZE,
    minSize: MIN_SIZE,
  }),
});
