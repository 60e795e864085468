/**
 * ResNet50 (Keras Applications `resnet.py`, residual blocks v1).
 *
 * He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
 * (arXiv:1512.03385).
 *
 * | model     | params (with top) | params (no top) | ImageNet top-1 / top-5 (224) | in ftk |
 * |-----------|-------------------|-----------------|------------------------------|--------|
 * | ResNet50  | 25,636,712        | 23,587,712      | 74.9 % / 92.1 %              | yes    |
 * | ResNet101 | 44.7 M            |                 | 76.4 % / 92.8 %              | no     |
 * | ResNet152 | 60.4 M            |                 | 76.6 % / 93.1 %              | no     |
 * (accuracies as listed on keras.io/api/applications; parameter counts include the BatchNorm
 * moving statistics, as Keras' `count_params` does.)
 *
 * Body (paper Table 1, "50-layer"): a 7x7/2 convolution and a 3x3/2 max pool, then four stacks
 * of bottleneck blocks (1x1, 3x3, 1x1 with 4x expansion): conv2 3 blocks of 64, conv3 4 of 128,
 * conv4 6 of 256, conv5 3 of 512. The first block of each stack has a 1x1 projection shortcut;
 * conv3..conv5 downsample by 2 in the first 1x1 convolution (Caffe's placement, as Keras).
 * Features: 2048 channels at input/32. Top: global average pooling 'avg_pool' + Dense
 * 'predictions'.
 *
 * Weights: Keras' ImageNet files `resnet50_weights_tf_dim_ordering_tf_kernels[_notop].h5` from
 * storage.googleapis.com/tensorflow/keras-applications/resnet/ (the files of `resnet.py`, with
 * `conv2_block1_1_conv`-style names; not the older keras-applications `resnet50.py` files named
 * `res2a_branch2a`), checked against the md5 hashes of Keras' `WEIGHTS_HASHES`.
 * Preprocessing: 'caffe' (RGB -> BGR, subtract the ImageNet BGR mean, no scaling).
 *
 * Porting note: BatchNormalization uses Keras' epsilon 1.001e-5 (not tfjs' default 1e-3), so
 * ImageNet weights give Keras' numbers; kernels start glorot_uniform as in Keras (tfjs' default
 * is glorot_normal). tfjs' initializers are unseeded: for reproducible random weights use
 * `randomizeWeights` (random_weights.ts). Without the top, pooling layers are named as Keras'
 * `resnet.py` names them: 'avg_pool' and 'max_pool'.
 */
import * as tf from '@tensorflow/tfjs';
import { kerasWeightFiles, rejectWidthMultiplier, resolveApplicationOptions } from './imagenet_utils.js';
import type { ApplicationOptions, ModelSpec } from './types.js';

const DEFAULT_SIZE = 224;
const MIN_SIZE = 32;
/** Keras' default kernel initializer (tfjs defaults to glorotNormal). Biases start at zero in both. */
const KERNEL_INIT = 'glorotUniform';
/** Keras' BatchNormalization epsilon in every ResNet. */
const BN_EPSILON = 1.001e-5;
const WEIGHTS_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/resnet/';
const WEIGHTS_FILE = 'resnet50_weights_tf_dim_ordering_tf_kernels.h5';
const WEIGHTS_FILE_NO_TOP = 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5';
/** md5 hashes of Keras' `resnet.py` `WEIGHTS_HASHES['resnet50']` (with top, without top). */
const WEIGHTS_MD5 = '2cb95161c43110f7111970584f804107';
const WEIGHTS_MD5_NO_TOP = '4d473c1dd8becc155b73f8504c6f6626';

/** ResNet50's stacks: name, bottleneck filters, blocks, stride of the first block. */
const RESNET50_STACKS: ReadonlyArray<readonly [name: string, filters: number, blocks: number, stride1: 1 | 2]> = [
  ['conv2', 64, 3, 1],
  ['conv3', 128, 4, 2],
  ['conv4', 256, 6, 2],
  ['conv5', 512, 3, 2],
];

/**
 * Builds ResNet50 with random weights, layer for layer as Keras' `keras.applications.ResNet50`.
 *
 * Cost: 25.6 M parameters with the top (23.6 M without), ~4.1 GFLOPs per 224x224 image.
 *
 * @param options Keras' builder options (see `ApplicationOptions`): `includeTop` (default true)
 *   needs a 224x224 input; `pooling` (default 'none') applies only without the top;
 *   `classes` default 1000; `classifierActivation` default 'softmax' (null/'linear': logits).
 * @returns a functional `tf.LayersModel` named 'resnet50'.
 * @throws OptionsError for Keras' rejected combinations (see `resolveApplicationOptions`) or a
 *   width multiplier (`alpha`).
 *
 * @example
 * const model = ResNet50({ includeTop: false, inputShape: [96, 96, 3], pooling: 'avg' });
 * model.outputs[0].shape; // [null, 2048]
 */
export function ResNet50(options: ApplicationOptions = {}): tf.LayersModel {
  rejectWidthMultiplier('ResNet50', options);
  const o = resolveApplicationOptions('ResNet50', options, DEFAULT_SIZE, MIN_SIZE);

  const input = tf.input({ shape: o.inputShape, name: 'input_1' });
  let x = tf.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'conv1_pad' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: 64, kernelSize: 7, strides: 2, kernelInitializer: KERNEL_INIT, name: 'conv1_conv' })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, name: 'conv1_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu', name: 'conv1_relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'pool1_pad' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }).apply(x) as tf.SymbolicTensor;

  for (const [name, filters, blocks, stride1] of RESNET50_STACKS) {
    x = stackResidualBlocksV1(x, filters, blocks, stride1, name);
  }

  if (o.includeTop) {
    x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .dense({ units: o.classes, activation: o.classifierActivation ?? 'linear', kernelInitializer: KERNEL_INIT, name: 'predictions' })
      .apply(x) as tf.SymbolicTensor;
  } else if (o.pooling === 'avg') {
    x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
  } else if (o.pooling === 'max') {
    x = tf.layers.globalMaxPooling2d({ name: 'max_pool' }).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name: 'resnet50' });
}

/**
 * A stack of `blocks` v1 residual blocks named `{name}_block1` … `{name}_block{blocks}`; the
 * first has a projection shortcut and stride `stride1` (Keras `stack_residual_blocks_v1`).
 */
function stackResidualBlocksV1(
  input: tf.SymbolicTensor,
  filters: number,
  blocks: number,
  stride1: 1 | 2,
  name: string,
): tf.SymbolicTensor {
  let x = residualBlockV1(input, filters, stride1, true, `${name}_block1`);
  for (let i = 2; i <= blocks; i++) x = residualBlockV1(x, filters, 1, false, `${name}_block${i}`);
  return x;
}

/**
 * Bottleneck block v1 (Keras `residual_block_v1`, kernel size 3): 1x1 (stride) -> 3x3 'same' ->
 * 1x1 to 4*filters, each with BatchNorm, ReLU between them; added to the shortcut (a 1x1
 * projection + BN `{prefix}_0_*` when `convShortcut`, else the identity), then ReLU `{prefix}_out`.
 */
function residualBlockV1(
  input: tf.SymbolicTensor,
  filters: number,
  stride: 1 | 2,
  convShortcut: boolean,
  prefix: string,
): tf.SymbolicTensor {
  let shortcut = input;
  if (convShortcut) {
    shortcut = tf.layers
      .conv2d({ filters: 4 * filters, kernelSize: 1, strides: stride, kernelInitializer: KERNEL_INIT, name: `${prefix}_0_conv` })
      .apply(input) as tf.SymbolicTensor;
    shortcut = batchNorm(shortcut, `${prefix}_0_bn`);
  }

  let x = tf.layers
    .conv2d({ filters, kernelSize: 1, strides: stride, kernelInitializer: KERNEL_INIT, name: `${prefix}_1_conv` })
    .apply(input) as tf.SymbolicTensor;
  x = batchNorm(x, `${prefix}_1_bn`);
  x = tf.layers.activation({ activation: 'relu', name: `${prefix}_1_relu` }).apply(x) as tf.SymbolicTensor;

  x = tf.layers
    .conv2d({ filters, kernelSize: 3, padding: 'same', kernelInitializer: KERNEL_INIT, name: `${prefix}_2_conv` })
    .apply(x) as tf.SymbolicTensor;
  x = batchNorm(x, `${prefix}_2_bn`);
  x = tf.layers.activation({ activation: 'relu', name: `${prefix}_2_relu` }).apply(x) as tf.SymbolicTensor;

  x = tf.layers
    .conv2d({ filters: 4 * filters, kernelSize: 1, kernelInitializer: KERNEL_INIT, name: `${prefix}_3_conv` })
    .apply(x) as tf.SymbolicTensor;
  x = batchNorm(x, `${prefix}_3_bn`);

  x = tf.layers.add({ name: `${prefix}_add` }).apply([shortcut, x]) as tf.SymbolicTensor;
  return tf.layers.activation({ activation: 'relu', name: `${prefix}_out` }).apply(x) as tf.SymbolicTensor;
}

function batchNorm(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return tf.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, name }).apply(x) as tf.SymbolicTensor;
}

export const resnet50Spec: ModelSpec = Object.freeze<ModelSpec>({
  name: 'resnet50',
  displayName: 'ResNet50',
  build: ResNet50,
  preprocessing: 'caffe',
  defaultInputSize: DEFAULT_SIZE,
  minInputSize: MIN_SIZE,
  featureSize: () => 2048,
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
