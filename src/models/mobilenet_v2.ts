/**
 * MobileNetV2 (Keras Applications `mobilenet_v2.py`).
 *
 * Sandler, Howard, Zhu, Zhmoginov & Chen, "MobileNetV2: Inverted Residuals and Linear
 * Bottlenecks", CVPR 2018 (arXiv:1801.04381).
 *
 * | alpha | params (with top) | params (no top) | ImageNet top-1 / top-5 (224) | weight sizes          |
 * |-------|-------------------|-----------------|------------------------------|-----------------------|
 * | 0.35  | 1,691,208         | 410,208         | 60.3 % / 82.9 %              | 96, 128, 160, 192, 224 |
 * | 0.50  | 1,987,224         | 706,224         | 65.4 % / 86.4 %              | 96, 128, 160, 192, 224 |
 * | 0.75  | 2,663,064         | 1,382,064       | 69.8 % / 89.6 %              | 96, 128, 160, 192, 224 |
 * | 1.00  | 3,538,984         | 2,257,984       | 71.8 % / 91.0 %              | 96, 128, 160, 192, 224 |
 * | 1.30  | 5,431,048         | 3,766,048       | 74.4 % / 92.1 %              | 224                   |
 * | 1.40  | 6,156,712         | 4,363,712       | 75.0 % / 92.5 %              | 224                   |
 * (accuracies of the TF-slim checkpoints the Keras files were converted from, as Keras'
 * docstring lists them; parameter counts of this builder, BatchNorm moving statistics included
 * as Keras' `count_params` does: alpha 1.0 with and without top and alpha 0.35 with top are
 * Keras' own published counts, pinned by the tests.)
 *
 * Body: a 3x3/2 convolution, then 17 inverted residual blocks (paper Table 2): a 1x1 expansion
 * (x6, except block 0), a 3x3 depthwise convolution (stride 2 in blocks 1, 3, 6, 13), a linear
 * 1x1 projection, and a residual Add when the shape is kept; then a 1x1 convolution to 1280
 * channels (more when alpha > 1) at input/32. Every BatchNormalization uses epsilon 1e-3 and
 * momentum 0.999; every activation is ReLU6. Channel counts are rounded to multiples of 8
 * (`makeDivisible`). Top: global average pooling + Dense 'predictions'.
 *
 * Weights: Keras' ImageNet files
 * `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}[_no_top].h5` from
 * storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/ (converted from the
 * TF-slim checkpoints), for the 22 (alpha, size) pairs in the table. Keras publishes no hash for
 * them; ftk records the sha256 of the file it loads.
 * Preprocessing: 'tf' (pixels scaled to [-1, 1]).
 *
 * Porting notes:
 * - Layer names are current Keras' (`Conv1`, `bn_Conv1`, `expanded_conv_depthwise`,
 *   `block_1_expand_BN`, `block_16_project`, `Conv_1_bn`, `out_relu`, `predictions`).
 *   Keras loads these files by layer order, not by name; the files were converted in 2018 with an
 *   earlier naming of the same layers (e.g. `mobl1_conv_1_expand`, `bn1_conv_1_bn_expand`,
 *   top `Logits`, as reported in JonathanCMitchell/mobilenet_v2_keras#8), so a loader that
 *   matches by name may need to fall back to Keras' order-based matching for them.
 * - Keras pads stride-2 depthwise convolutions explicitly (`correct_pad`: ((0, 1), (0, 1)) at
 *   even sizes, ((1, 1), (1, 1)) at odd sizes) and uses 'valid'; ftk does the same, layer for
 *   layer (`block_{id}_pad`). `Conv1` uses 'same' with stride 2, as Keras.
 * - As Keras, a square input of 96, 128, 160 or 192 is accepted with the top (the model is then
 *   named after that size); other sizes with the top must be 224.
 * - Where Keras falls back to the 224 weights (with a warning) for sizes it has no file for,
 *   `imagenetWeights` returns undefined, so the caller says so instead of loading weights
 *   trained at another resolution silently.
 */
import * as tf from '@tensorflow/tfjs';
import { OptionsError } from '../errors.js';
import { resolveApplicationOptions } from './imagenet_utils.js';
import type { MobileNetOptions, ModelSpec, WeightFile } from './types.js';

export const MOBILENET_V2_ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4] as const;
/** Square input sizes Keras publishes weights for (alpha 1.3 and 1.4: 224 only). */
export const MOBILENET_V2_SIZES = [96, 128, 160, 192, 224] as const;
const DEFAULT_SIZE = 224;
const MIN_SIZE = 32;
const BN_EPSILON = 1e-3;
const BN_MOMENTUM = 0.999;
const WEIGHTS_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/';

/** Inverted residual blocks 0..16 (paper Table 2): output filters (before alpha), stride, expansion. */
const BLOCKS: ReadonlyArray<readonly [filters: number, stride: 1 | 2, expansion: number]> = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

/**
 * Keras' `_make_divisible` (from the TF-slim MobileNet code): rounds `v` to the nearest multiple
 * of `divisor`, at least `minValue` (default `divisor`), and never more than 10 % below `v`.
 */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  let newV = Math.max(minValue, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  if (newV < 0.9 * v) newV += divisor;
  return newV;
}

/** Channels of the last convolution `Conv_1`: 1280, widened only when alpha > 1 (paper, Keras). */
export function mobilenetV2FeatureSize(alpha = 1.0): number {
  return alpha > 1.0 ? makeDivisible(1280 * alpha, 8) : 1280;
}

/**
 * Builds MobileNetV2 with random weights, layer for layer as Keras' `keras.applications.MobileNetV2`.
 *
 * Cost: 3.5 M parameters and ~300 M multiply-adds per 224x224 image at alpha 1.0 (the paper's
 * MACs scale with alpha² and the number of pixels); the cheapest backbone of the zoo per image.
 *
 * @param options Keras' builder options (see `MobileNetOptions`): `alpha` (default 1.0) scales
 *   every width; `includeTop` (default true) needs a square 96/128/160/192/224 input (default
 *   224x224); without it any input of at least 32x32 works; `pooling` (default 'none') applies
 *   only without the top; `classes` default 1000; `classifierActivation` default 'softmax'
 *   (null/'linear': logits). `depthMultiplier` and `dropout` are MobileNet v1 options and rejected.
 * @returns a functional `tf.LayersModel` named `mobilenetv2_{alpha:.2f}_{rows}` (Keras' name).
 * @throws OptionsError for Keras' rejected combinations (see `resolveApplicationOptions`), a
 *   non-positive alpha, `weights: 'imagenet'` with an alpha Keras has no weights for, or v1-only options.
 *
 * @example
 * const model = MobileNetV2({ alpha: 0.35, includeTop: false, inputShape: [128, 128, 3], pooling: 'avg' });
 * model.outputs[0].shape; // [null, 1280]
 */
export function MobileNetV2(options: MobileNetOptions = {}): tf.LayersModel {
  const alpha = options.alpha ?? 1.0;
  if (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha)) {
    throw new OptionsError(`MobileNetV2: alpha must be a positive number. Received ${String(alpha)}.`, {
      code: 'OPTIONS_ALPHA_INVALID',
      suggestion: `Use one of [${MOBILENET_V2_ALPHAS.join(', ')}] (those have ImageNet weights).`,
    });
  }
  if (options.depthMultiplier !== undefined && options.depthMultiplier !== 1) {
    throw new OptionsError(`MobileNetV2 has no depth multiplier. Received depthMultiplier=${options.depthMultiplier}.`, {
      code: 'OPTIONS_UNSUPPORTED',
      suggestion: 'depthMultiplier applies to MobileNet (v1) only; use alpha to change the width.',
    });
  }
  if (options.dropout !== undefined) {
    throw new OptionsError(`MobileNetV2 has no dropout before its top. Received dropout=${options.dropout}.`, {
      code: 'OPTIONS_UNSUPPORTED',
      suggestion: 'dropout applies to MobileNet (v1) only; leave it unset.',
    });
  }
  // Keras: a square input of a size it has weights for is that model's default size, so it is
  // also accepted with the top; anything else defaults to 224.
  const requested = options.inputShape;
  const defaultSize =
    requested && requested[0] === requested[1] && (MOBILENET_V2_SIZES as readonly number[]).includes(requested[0])
      ? requested[0]
      : DEFAULT_SIZE;
  const o = resolveApplicationOptions('MobileNetV2', options, defaultSize, MIN_SIZE);
  let rows = o.inputShape[0];
  if (options.weights === 'imagenet') {
    if (!(MOBILENET_V2_ALPHAS as readonly number[]).includes(alpha)) {
      throw new OptionsError(
        `MobileNetV2: ImageNet weights exist for alpha in [${MOBILENET_V2_ALPHAS.join(', ')}]. Received alpha=${alpha}.`,
        { code: 'OPTIONS_ALPHA_NO_WEIGHTS', suggestion: 'Pick one of those alphas, or weights=null.' },
      );
    }
    // Keras then loads (and names the model after) the 224 weights.
    if (o.inputShape[0] !== o.inputShape[1] || !(MOBILENET_V2_SIZES as readonly number[]).includes(rows)) rows = DEFAULT_SIZE;
  }

  const input = tf.input({ shape: o.inputShape, name: 'input_1' });
  let x = tf.layers
    .conv2d({ filters: makeDivisible(32 * alpha, 8), kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1' })
    .apply(input) as tf.SymbolicTensor;
  x = batchNorm(x, 'bn_Conv1');
  x = relu6(x, 'Conv1_relu');

  BLOCKS.forEach(([filters, stride, expansion], blockId) => {
    x = invertedResBlock(x, expansion, stride, alpha, filters, blockId);
  });

  x = tf.layers
    .conv2d({ filters: mobilenetV2FeatureSize(alpha), kernelSize: 1, useBias: false, name: 'Conv_1' })
    .apply(x) as tf.SymbolicTensor;
  x = batchNorm(x, 'Conv_1_bn');
  x = relu6(x, 'out_relu');

  if (o.includeTop) {
    x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .dense({ units: o.classes, activation: o.classifierActivation ?? 'linear', name: 'predictions' })
      .apply(x) as tf.SymbolicTensor;
  } else if (o.pooling === 'avg') {
    x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor;
  } else if (o.pooling === 'max') {
    x = tf.layers.globalMaxPooling2d({ name: 'global_max_pooling2d' }).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name: `mobilenetv2_${alpha.toFixed(2)}_${rows}` });
}

/**
 * Keras' `_inverted_res_block`: [1x1 expand + BN + ReLU6] (not in block 0) -> [zero pad when
 * stride 2] -> 3x3 depthwise + BN + ReLU6 -> 1x1 linear projection + BN -> [Add with the input
 * when channels and size are kept]. Prefix `block_{id}_`, or `expanded_conv_` for block 0.
 */
function invertedResBlock(
  inputs: tf.SymbolicTensor,
  expansion: number,
  stride: 1 | 2,
  alpha: number,
  filters: number,
  blockId: number,
): tf.SymbolicTensor {
  const inChannels = inputs.shape[inputs.shape.length - 1] as number;
  const pointwiseFilters = makeDivisible(Math.trunc(filters * alpha), 8);
  let x = inputs;
  let prefix = `block_${blockId}_`;

  if (blockId) {
    x = tf.layers
      .conv2d({ filters: expansion * inChannels, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}expand` })
      .apply(x) as tf.SymbolicTensor;
    x = batchNorm(x, `${prefix}expand_BN`);
    x = relu6(x, `${prefix}expand_relu`);
  } else {
    prefix = 'expanded_conv_';
  }

  if (stride === 2) {
    x = tf.layers.zeroPadding2d({ padding: correctPad(x, 3), name: `${prefix}pad` }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers
    .depthwiseConv2d({
      kernelSize: 3,
      strides: stride,
      useBias: false,
      padding: stride === 1 ? 'same' : 'valid',
      name: `${prefix}depthwise`,
    })
    .apply(x) as tf.SymbolicTensor;
  x = batchNorm(x, `${prefix}depthwise_BN`);
  x = relu6(x, `${prefix}depthwise_relu`);

  x = tf.layers
    .conv2d({ filters: pointwiseFilters, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project` })
    .apply(x) as tf.SymbolicTensor;
  x = batchNorm(x, `${prefix}project_BN`);

  if (inChannels === pointwiseFilters && stride === 1) {
    return tf.layers.add({ name: `${prefix}add` }).apply([inputs, x]) as tf.SymbolicTensor;
  }
  return x;
}

/**
 * Keras' `imagenet_utils.correct_pad`: the zero padding that makes a 'valid' stride-2 convolution
 * with this kernel give TF's 'same' output size, i.e. ((top, bottom), (left, right)).
 * Unknown (null) spatial sizes count as even, as Keras does.
 */
export function correctPad(x: tf.SymbolicTensor, kernelSize: number): [[number, number], [number, number]] {
  const [, h, w] = x.shape;
  const adjustH = h == null ? 1 : 1 - (h % 2);
  const adjustW = w == null ? 1 : 1 - (w % 2);
  const correct = Math.floor(kernelSize / 2);
  return [
    [correct - adjustH, correct],
    [correct - adjustW, correct],
  ];
}

function batchNorm(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return tf.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, momentum: BN_MOMENTUM, name }).apply(x) as tf.SymbolicTensor;
}

function relu6(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return tf.layers.reLU({ maxValue: 6, name }).apply(x) as tf.SymbolicTensor;
}

/** Python's `str(float(alpha))`, as in Keras' file names: 1 -> '1.0', 0.5 -> '0.5', 0.35 -> '0.35'. */
function alphaText(alpha: number): string {
  return Number.isInteger(alpha) ? alpha.toFixed(1) : String(alpha);
}

export const mobilenetV2Spec: ModelSpec = Object.freeze<ModelSpec>({
  name: 'mobilenet_v2',
  displayName: 'MobileNetV2',
  build: MobileNetV2,
  preprocessing: 'tf',
  defaultInputSize: DEFAULT_SIZE,
  minInputSize: MIN_SIZE,
  alphas: MOBILENET_V2_ALPHAS,
  featureSize: mobilenetV2FeatureSize,
  imagenetWeights({ includeTop, alpha = 1.0, inputSize = DEFAULT_SIZE }): WeightFile | undefined {
    if (!(MOBILENET_V2_ALPHAS as readonly number[]).includes(alpha)) return undefined;
    if (!(MOBILENET_V2_SIZES as readonly number[]).includes(inputSize)) return undefined;
    if (alpha > 1.0 && inputSize !== DEFAULT_SIZE) return undefined;
    const fileName = `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${alphaText(alpha)}_${inputSize}${includeTop ? '' : '_no_top'}.h5`;
    return { url: WEIGHTS_BASE + fileName, fileName };
  },
});
