/**
 * VGG16 (Keras Applications `vgg16.py`).
 *
 * Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
 * ICLR 2015 (arXiv:1409.1556).
 *
 * | model | params (with top) | params (no top) | ImageNet top-1 / top-5 (224) | file (with top) |
 * |-------|-------------------|-----------------|------------------------------|-----------------|
 * | VGG16 | 138,357,544       | 14,714,688      | 71.3 % / 90.1 %              | 528 MB          |
 * | VGG19 | 143,667,240       | 20,024,384      | 71.3 % / 90.0 %              | 549 MB          |
 * (accuracies as listed on keras.io/api/applications; VGG19 lives in `vgg19.ts`.)
 *
 * Body (paper Table 1, configuration D): five blocks of 3x3 'same' convolutions with ReLU
 * (64, 128, 256, 512, 512 filters; 2, 2, 3, 3, 3 convolutions), each closed by a 2x2 max pool, so
 * the feature map is input/32 with 512 channels. The top is Flatten, two Dense(4096, relu) and
 * Dense(classes). The top holds 90 % of the parameters (fc1 alone is 102.8 M) and fixes the
 * input at 224x224.
 *
 * Weights: Keras' ImageNet files `vgg16_weights_tf_dim_ordering_tf_kernels[_notop].h5` from
 * storage.googleapis.com/tensorflow/keras-applications/vgg16/, checked against the md5 hashes
 * Keras' `get_file` uses. Layer names are Keras' (`block1_conv1` … `block5_pool`, `flatten`,
 * `fc1`, `fc2`, `predictions`) so those files load by name.
 * Preprocessing: 'caffe' (RGB -> BGR, subtract the ImageNet BGR mean, no scaling).
 *
 * Porting note: kernels start glorot_uniform and biases at zero, as in Keras (tfjs' own default
 * kernel initializer is glorot_normal, so it is set explicitly). tfjs' initializers are unseeded:
 * for reproducible random weights use `randomizeWeights` (random_weights.ts). Without the top,
 * the global pooling layers get the names Keras gives them automatically the first time
 * (`global_average_pooling2d`, `global_max_pooling2d`); they carry no weights.
 */
import * as tf from '@tensorflow/tfjs';
import { OptionsError } from '../errors.js';
import { kerasWeightFiles, rejectWidthMultiplier, resolveApplicationOptions } from './imagenet_utils.js';
import type { ApplicationOptions, ModelSpec } from './types.js';

const DEFAULT_SIZE = 224;
const MIN_SIZE = 32;
/** Keras' default kernel initializer (tfjs defaults to glorotNormal). Biases start at zero in both. */
const KERNEL_INIT = 'glorotUniform';
const WEIGHTS_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/vgg16/';
const WEIGHTS_FILE = 'vgg16_weights_tf_dim_ordering_tf_kernels.h5';
const WEIGHTS_FILE_NO_TOP = 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5';
/** md5 hashes from Keras' `vgg16.py` (`file_hash` of `get_file`). */
const WEIGHTS_MD5 = '64373286793e3c8b2b4e3219cbf3544b';
const WEIGHTS_MD5_NO_TOP = '6d6bbae143d832006294945121d1f1fc';

/** Filters of VGG's five blocks. */
const VGG_FILTERS = [64, 128, 256, 512, 512] as const;
/** Convolutions per block of VGG16 (configuration D). */
const VGG16_CONVS = [2, 2, 3, 3, 3] as const;

/**
 * Builds VGG16 with random weights, layer for layer as Keras' `keras.applications.VGG16`.
 *
 * Cost: with the top, 138 M float32 parameters (~553 MB of memory) and ~15.5 GFLOPs per 224x224
 * image; without the top, 14.7 M parameters (the 512-channel conv map, input/32).
 *
 * @param options Keras' builder options (see `ApplicationOptions`): `includeTop` (default true)
 *   needs a 224x224 input; `pooling` (default 'none') applies only without the top;
 *   `classes` default 1000; `classifierActivation` default 'softmax' (null/'linear': logits).
 * @returns a functional `tf.LayersModel` named 'vgg16'.
 * @throws OptionsError for Keras' rejected combinations (see `resolveApplicationOptions`) or a
 *   width multiplier (`alpha`), which VGG does not have.
 *
 * @example
 * const features = VGG16({ includeTop: false, inputShape: [160, 160, 3], pooling: 'avg' });
 * features.outputs[0].shape; // [null, 512]
 */
export function VGG16(options: ApplicationOptions = {}): tf.LayersModel {
  return buildVgg('VGG16', 'vgg16', VGG16_CONVS, options);
}

/**
 * The VGG family builder shared by `VGG16` and `VGG19` (they differ only in the number of
 * convolutions per block). Internal to src/models.
 */
export function buildVgg(
  displayName: string,
  modelName: string,
  convsPerBlock: readonly number[],
  options: ApplicationOptions,
): tf.LayersModel {
  rejectWidthMultiplier(displayName, options);
  const o = resolveApplicationOptions(displayName, options, DEFAULT_SIZE, MIN_SIZE);

  const input = tf.input({ shape: o.inputShape, name: 'input_1' });
  let x: tf.SymbolicTensor = input;
  convsPerBlock.forEach((convs, i) => {
    x = vggBlock(x, VGG_FILTERS[i], convs, i + 1);
  });

  if (o.includeTop) {
    x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 4096, activation: 'relu', kernelInitializer: KERNEL_INIT, name: 'fc1' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 4096, activation: 'relu', kernelInitializer: KERNEL_INIT, name: 'fc2' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .dense({ units: o.classes, activation: o.classifierActivation ?? 'linear', kernelInitializer: KERNEL_INIT, name: 'predictions' })
      .apply(x) as tf.SymbolicTensor;
  } else if (o.pooling === 'avg') {
    x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor;
  } else if (o.pooling === 'max') {
    x = tf.layers.globalMaxPooling2d({ name: 'global_max_pooling2d' }).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name: modelName });
}

/**
 * One VGG block: `convs` 3x3 'same' convolutions with ReLU (`block{id}_conv{k}`), then a 2x2
 * max pool with stride 2 (`block{id}_pool`).
 */
function vggBlock(input: tf.SymbolicTensor, filters: number, convs: number, blockId: number): tf.SymbolicTensor {
  const prefix = `block${blockId}`;
  let x = input;
  for (let k = 1; k <= convs; k++) {
    x = tf.layers
      .conv2d({ filters, kernelSize: 3, activation: 'relu', padding: 'same', kernelInitializer: KERNEL_INIT, name: `${prefix}_conv${k}` })
      .apply(x) as tf.SymbolicTensor;
  }
  return tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `${prefix}_pool` }).apply(x) as tf.SymbolicTensor;
}


export const vgg16Spec: ModelSpec = Object.freeze<ModelSpec>({
  name: 'vgg16',
  displayName: 'VGG16',
  build: VGG16,
  preprocessing: 'caffe',
  defaultInputSize: DEFAULT_SIZE,
  minInputSize: MIN_SIZE,
  featureSize: () => 512,
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
