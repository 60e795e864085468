/**
 * ImageNet preprocessing and input checks shared by every architecture (Keras'
 * `applications/imagenet_utils.py`). Input: float32 RGB pixels in [0, 255], NHWC.
 */
import * as tf from '@tensorflow/tfjs';
import { OptionsError } from '../errors.js';
import type { ApplicationOptions, PreprocessMode, WeightFile } from './types.js';

import { CAFFE_MEAN_RGB, TORCH_MEAN, TORCH_STD } from './preprocess.js';

export { CAFFE_MEAN_RGB, describePreprocess, PREPROCESS_MODES, preprocessPixels, resolvePreprocess, TORCH_MEAN, TORCH_STD } from './preprocess.js';

/** The same as `preprocessPixels`, on a tensor (returns a new tensor). */
export function preprocessInput(x: tf.Tensor4D, mode: PreprocessMode): tf.Tensor4D {
  return tf.tidy(() => {
    if (typeof mode === 'object') {
      const ordered = mode.channels === 'bgr' ? tf.reverse(x, -1) : x;
      return ordered.mul(mode.scale).sub(tf.tensor1d(mode.mean)).div(tf.tensor1d(mode.std)) as tf.Tensor4D;
    }
    switch (mode) {
      case 'tf':
        return x.div(127.5).sub(1) as tf.Tensor4D;
      case 'torch':
        return x.div(255).sub(tf.tensor1d([...TORCH_MEAN])).div(tf.tensor1d([...TORCH_STD])) as tf.Tensor4D;
      case 'caffe':
        return tf.reverse(x, -1).sub(tf.tensor1d([CAFFE_MEAN_RGB[2], CAFFE_MEAN_RGB[1], CAFFE_MEAN_RGB[0]])) as tf.Tensor4D;
      default:
        throw new OptionsError(`Unknown preprocessing mode "${mode as string}".`);
    }
  });
}

/** Resolved builder options, with Keras' cross-option checks applied. */
export interface ResolvedApplicationOptions {
  includeTop: boolean;
  inputShape: [number, number, number];
  pooling: 'avg' | 'max' | 'none';
  classes: number;
  classifierActivation: 'softmax' | 'linear' | null;
}

/**
 * Applies defaults and Keras' checks (`obtain_input_shape`): 3 channels, at least `minSize`,
 * `includeTop` needs the default size, 'imagenet' weights with the top need 1000 classes.
 */
export function resolveApplicationOptions(
  modelName: string,
  options: {
    includeTop?: boolean;
    weights?: 'imagenet' | null | string;
    inputShape?: [number, number, number];
    pooling?: 'avg' | 'max' | 'none';
    classes?: number;
    classifierActivation?: 'softmax' | 'linear' | null;
  },
  defaultSize: number,
  minSize: number,
): ResolvedApplicationOptions {
  const includeTop = options.includeTop ?? true;
  const classes = options.classes ?? 1000;
  const inputShape = options.inputShape ?? [defaultSize, defaultSize, 3];
  const pooling = options.pooling ?? 'none';
  if (options.weights === 'imagenet' && includeTop && classes !== 1000) {
    throw new OptionsError(
      `${modelName}: weights='imagenet' with includeTop=true needs classes=1000. Received classes=${classes}.`,
      { suggestion: 'Use includeTop=false and put your own head on top, or weights=null.' },
    );
  }
  if (!Number.isInteger(classes) || classes < 1) {
    throw new OptionsError(`${modelName}: classes must be a positive integer. Received ${classes}.`);
  }
  if (inputShape.length !== 3 || inputShape[2] !== 3) {
    throw new OptionsError(
      `${modelName}: inputShape must be [height, width, 3]. Received [${inputShape.join(', ')}].`,
    );
  }
  if (inputShape[0] < minSize || inputShape[1] < minSize) {
    throw new OptionsError(
      `${modelName}: input size must be at least ${minSize}x${minSize}. Received ${inputShape[0]}x${inputShape[1]}.`,
    );
  }
  if (includeTop && (inputShape[0] !== defaultSize || inputShape[1] !== defaultSize)) {
    throw new OptionsError(
      `${modelName}: with includeTop=true the input must be ${defaultSize}x${defaultSize}. Received ${inputShape[0]}x${inputShape[1]}.`,
      { suggestion: 'Use includeTop=false for other input sizes.' },
    );
  }
  if (!['avg', 'max', 'none'].includes(pooling)) {
    throw new OptionsError(`${modelName}: pooling must be one of [avg, max, none]. Received "${pooling}".`);
  }
  return { includeTop, inputShape, pooling, classes, classifierActivation: options.classifierActivation === undefined ? 'softmax' : options.classifierActivation };
}

/** Architectures without a width multiplier refuse `alpha` instead of ignoring it. */
export function rejectWidthMultiplier(displayName: string, options: ApplicationOptions & { alpha?: number }): void {
  if (options.alpha !== undefined && options.alpha !== 1) {
    throw new OptionsError(`${displayName} has no width multiplier. Received alpha=${options.alpha}.`, {
      code: 'OPTIONS_ALPHA_UNSUPPORTED',
      suggestion: 'Leave alpha unset (it applies to mobilenet and mobilenet_v2 only).',
    });
  }
}

/**
 * `ModelSpec.imagenetWeights` for architectures with one Keras weight file with the top and one
 * without (VGG, ResNet, Inception): the top fixes the input at the default size, the convolutional
 * body loads at any size from `minSize`; no width multiplier.
 */
export function kerasWeightFiles(files: {
  base: string;
  top: string;
  noTop: string;
  md5Top: string;
  md5NoTop: string;
  defaultSize: number;
  minSize: number;
}): (options: { includeTop: boolean; alpha?: number; inputSize?: number }) => WeightFile | undefined {
  return ({ includeTop, alpha, inputSize = files.defaultSize }) => {
    if ((alpha !== undefined && alpha !== 1) || inputSize < files.minSize || (includeTop && inputSize !== files.defaultSize)) return undefined;
    const fileName = includeTop ? files.top : files.noTop;
    return { url: files.base + fileName, fileName, hash: includeTop ? files.md5Top : files.md5NoTop, hashAlgorithm: 'md5' };
  };
}
