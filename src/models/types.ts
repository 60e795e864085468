/** Shared types of the model zoo (Keras Applications' builder options, in Keras' order). */
import type * as tf from '@tensorflow/tfjs';

/** Keras `preprocess_input` modes. */
export type PreprocessModeName = 'caffe' | 'tf' | 'torch';

/**
 * Per-channel normalisation declared by the user (models from other frameworks):
 * `out[c] = (pixel[c] * scale - mean[c]) / std[c]`, pixels in [0, 255] RGB, reordered to BGR first
 * when `channels` is 'bgr' (mean and std are then in BGR order, as Caffe and MXNet write them).
 */
export interface CustomPreprocess {
  mean: [number, number, number];
  std: [number, number, number];
  /** Multiplies the [0, 255] pixels before mean/std: 1/255 for models trained on [0, 1] input. */
  scale: number;
  channels: 'rgb' | 'bgr';
}

/** A Keras mode name or a custom normalisation; the features' metadata records it as it is. */
export type PreprocessMode = PreprocessModeName | CustomPreprocess;

export type Pooling = 'avg' | 'max' | 'none';

/** Options every architecture builder takes, named and ordered as Keras Applications. */
export interface ApplicationOptions {
  /** Keep the fully connected classifier on top. Default true. */
  includeTop?: boolean;
  /**
   * Weights are loaded after building by `loadWeights` (src/models/weights.ts); builders always
   * start from random (Glorot/zeros, as Keras) weights. Kept here for Keras' option order and the
   * cross-option check: 'imagenet' with `includeTop` requires `classes` = 1000. Default null.
   */
  weights?: 'imagenet' | null | string;
  /** [height, width, channels]; default the model's default size, 3 channels. */
  inputShape?: [number, number, number];
  /** Global pooling of the last feature map when `includeTop` is false. Default 'none'. */
  pooling?: Pooling;
  /** Number of classes when `includeTop` is true. Default 1000. */
  classes?: number;
  /** Activation of the top layer. Default 'softmax'. */
  classifierActivation?: 'softmax' | 'linear' | null;
}

export interface MobileNetOptions extends ApplicationOptions {
  /** Width multiplier. MobileNet: 0.25, 0.5, 0.75, 1.0; MobileNetV2: 0.35, 0.5, 0.75, 1.0, 1.3, 1.4. Default 1.0. */
  alpha?: number;
  /** MobileNet v1 only: depth multiplier of the depthwise convolutions. Default 1. */
  depthMultiplier?: number;
  /** MobileNet v1 only: dropout rate before the top. Default 1e-3. */
  dropout?: number;
}

/** A downloadable Keras weight file. */
export interface WeightFile {
  /** Official Keras download URL. */
  url: string;
  /** File name in the cache. */
  fileName: string;
  /** Hash Keras publishes, if any (hex). */
  hash?: string;
  /** Algorithm of `hash`. */
  hashAlgorithm?: 'sha256' | 'md5';
}

export type ModelName = 'mobilenet' | 'mobilenet_v2' | 'vgg16' | 'vgg19' | 'resnet50' | 'inception_v3';

/** One entry of the frozen model registry (src/models/registry.ts). */
export interface ModelSpec {
  name: ModelName;
  /** Paper and Keras class name, for messages. */
  displayName: string;
  build(options: MobileNetOptions): tf.LayersModel;
  preprocessing: PreprocessMode;
  /** Default square input size. */
  defaultInputSize: number;
  /** Smallest accepted input size (Keras' `min_size`). */
  minInputSize: number;
  /** Allowed width multipliers (undefined: no alpha). */
  alphas?: readonly number[];
  /** Channels of the last feature map (= pooled feature size). */
  featureSize(alpha?: number): number;
  /** Keras' ImageNet weight file for the given settings, or undefined when Keras has none. */
  imagenetWeights(options: { includeTop: boolean; alpha?: number; inputSize?: number }): WeightFile | undefined;
}
