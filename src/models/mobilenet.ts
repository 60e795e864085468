/**
 * MobileNet v1 (Keras Applications `mobilenet.py`).
 *
 * Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
 * Applications", 2017 (arXiv:1704.04861).
 *
 * | alpha | params (with top) | ImageNet top-1 (224) |
 * |-------|-------------------|----------------------|
 * | 0.25  | 0.47 M            | 50.6 %               |
 * | 0.50  | 1.34 M            | 63.7 %               |
 * | 0.75  | 2.60 M            | 68.4 %               |
 * | 1.00  | 4.25 M            | 70.9 %               |
 *
 * Body (paper Table 1): a full 3x3 conv with stride 2, then 13 depthwise-separable blocks
 * (3x3 depthwise + BN + ReLU6, 1x1 pointwise + BN + ReLU6); every width is scaled by `alpha`.
 *
 * Weights: Keras' ImageNet files `mobilenet_{alpha}_{rows}_tf[_no_top].h5`, sizes 128/160/192/224.
 * Keras publishes no hash for them; ftk pins the sha256 of the ones it has verified (a download
 * that differs is refused) and records the sha256 of every file it loads.
 * Preprocessing: 'tf' (pixels scaled to [-1, 1]).
 *
 * Porting note: Keras 2.0.4 (the shared weight file) used TF 'same' padding for the stride-2
 * convolutions; current Keras pads ((0, 1), (0, 1)) explicitly and uses 'valid'. Both give the
 * same numbers at even input sizes; ftk follows current Keras, layer for layer.
 */
import * as tf from '@tensorflow/tfjs';
import { OptionsError } from '../errors.js';
import { resolveApplicationOptions } from './imagenet_utils.js';
import type { MobileNetOptions, ModelSpec, WeightFile } from './types.js';

export const MOBILENET_ALPHAS = [0.25, 0.5, 0.75, 1.0] as const;
const WEIGHTS_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/';

/**
 * sha256 of Keras' MobileNet weight files, pinned from copies ftk has checked against their
 * published ImageNet accuracy (Keras publishes no hash for these files). Files not listed are
 * downloaded unverified and their sha256 recorded.
 */
const PINNED_SHA256: Readonly<Record<string, string>> = {
  // 218,544 parameters, 83 layers; the benchmarks' backbone (../shared/models/README.md).
  'mobilenet_2_5_224_tf_no_top.h5': 'dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf',
};

/** Pointwise filters and stride of blocks 1..13 (paper Table 1). */
const BLOCKS: ReadonlyArray<readonly [filters: number, stride: 1 | 2]> = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

export function MobileNet(options: MobileNetOptions = {}): tf.LayersModel {
  const alpha = options.alpha ?? 1.0;
  const depthMultiplier = options.depthMultiplier ?? 1;
  const dropout = options.dropout ?? 1e-3;
  const o = resolveApplicationOptions('MobileNet', options, 224, 32);
  if (!(alpha > 0)) throw new OptionsError(`MobileNet: alpha must be > 0. Received ${alpha}.`);
  if (options.weights === 'imagenet') {
    if (depthMultiplier !== 1) throw new OptionsError('MobileNet: ImageNet weights need depthMultiplier=1.');
    if (!(MOBILENET_ALPHAS as readonly number[]).includes(alpha)) {
      throw new OptionsError(`MobileNet: ImageNet weights exist for alpha in [${MOBILENET_ALPHAS.join(', ')}]. Received ${alpha}.`);
    }
  }

  const input = tf.input({ shape: o.inputShape, name: 'input_1' });
  let x = convBlock(input, 32, alpha, 2);
  BLOCKS.forEach(([filters, stride], i) => {
    x = depthwiseConvBlock(x, filters, alpha, depthMultiplier, stride, i + 1);
  });

  let output: tf.SymbolicTensor;
  if (o.includeTop) {
    const channels = Math.trunc(1024 * alpha);
    x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reshape({ targetShape: [1, 1, channels], name: 'reshape_1' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ rate: dropout, name: 'dropout' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: o.classes, kernelSize: 1, padding: 'same', kernelInitializer: 'glorotUniform', name: 'conv_preds' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reshape({ targetShape: [o.classes], name: 'reshape_2' }).apply(x) as tf.SymbolicTensor;
    output = o.classifierActivation && o.classifierActivation !== 'linear'
      ? (tf.layers.activation({ activation: o.classifierActivation, name: 'predictions' }).apply(x) as tf.SymbolicTensor)
      : x;
  } else if (o.pooling === 'avg') {
    output = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor;
  } else if (o.pooling === 'max') {
    output = tf.layers.globalMaxPooling2d({ name: 'global_max_pooling2d' }).apply(x) as tf.SymbolicTensor;
  } else {
    output = x;
  }
  const rows = o.inputShape[0];
  return tf.model({ inputs: input, outputs: output, name: `mobilenet_${alpha.toFixed(2)}_${rows}` });
}

function convBlock(input: tf.SymbolicTensor, filters: number, alpha: number, stride: number): tf.SymbolicTensor {
  let x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'conv1_pad' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: Math.trunc(filters * alpha), kernelSize: 3, strides: stride, padding: 'valid', useBias: false, kernelInitializer: 'glorotUniform', name: 'conv1' })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ axis: -1, name: 'conv1_bn' }).apply(x) as tf.SymbolicTensor;
  return tf.layers.reLU({ maxValue: 6, name: 'conv1_relu' }).apply(x) as tf.SymbolicTensor;
}

function depthwiseConvBlock(
  input: tf.SymbolicTensor,
  pointwiseFilters: number,
  alpha: number,
  depthMultiplier: number,
  stride: 1 | 2,
  blockId: number,
): tf.SymbolicTensor {
  let x = input;
  if (stride === 2) {
    x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `conv_pad_${blockId}` }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers
    .depthwiseConv2d({
      kernelSize: 3,
      padding: stride === 1 ? 'same' : 'valid',
      depthMultiplier,
      strides: stride,
      useBias: false,
      depthwiseInitializer: 'glorotUniform',
      name: `conv_dw_${blockId}`,
    })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ axis: -1, name: `conv_dw_${blockId}_bn` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6, name: `conv_dw_${blockId}_relu` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: Math.trunc(pointwiseFilters * alpha), kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: 'glorotUniform', name: `conv_pw_${blockId}` })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ axis: -1, name: `conv_pw_${blockId}_bn` }).apply(x) as tf.SymbolicTensor;
  return tf.layers.reLU({ maxValue: 6, name: `conv_pw_${blockId}_relu` }).apply(x) as tf.SymbolicTensor;
}

function alphaText(alpha: number): string {
  return { 0.25: '2_5', 0.5: '5_0', 0.75: '7_5', 1.0: '1_0' }[alpha] ?? String(alpha);
}

export const mobilenetSpec: ModelSpec = Object.freeze<ModelSpec>({
  name: 'mobilenet',
  displayName: 'MobileNet',
  build: MobileNet,
  preprocessing: 'tf',
  defaultInputSize: 224,
  minInputSize: 32,
  alphas: MOBILENET_ALPHAS,
  featureSize: (alpha = 1.0) => Math.trunc(1024 * alpha),
  imagenetWeights({ includeTop, alpha = 1.0, inputSize = 224 }): WeightFile | undefined {
    if (!(MOBILENET_ALPHAS as readonly number[]).includes(alpha) || ![128, 160, 192, 224].includes(inputSize)) return undefined;
    const fileName = `mobilenet_${alphaText(alpha)}_${inputSize}_tf${includeTop ? '' : '_no_top'}.h5`;
    const hash = PINNED_SHA256[fileName];
    return hash ? { url: WEIGHTS_BASE + fileName, fileName, hash, hashAlgorithm: 'sha256' } : { url: WEIGHTS_BASE + fileName, fileName };
  },
});
