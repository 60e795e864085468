/**
 * VGG19 (Keras Applications `vgg19.py`).
 *
 * Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
 * ICLR 2015 (arXiv:1409.1556).
 *
 * | model | params (with top) | params (no top) | ImageNet top-1 / top-5 (224) | file (with top) |
 * |-------|-------------------|-----------------|------------------------------|-----------------|
 * | VGG16 | 138,357,544       | 14,714,688      | 71.3 % / 90.1 %              | 528 MB          |
 * | VGG19 | 143,667,240       | 20,024,384      | 71.3 % / 90.0 %              | 549 MB          |
 * (accuracies as listed on keras.io/api/applications; VGG16 lives in `vgg16.ts`.)
 *
 * Body (paper Table 1, configuration E): VGG16's five blocks with 2, 2, 4, 4, 4 convolutions
 * (64, 128, 256, 512, 512 filters), each closed by a 2x2 max pool: a 512-channel map at
 * input/32. Same top as VGG16 (Flatten, fc1 and fc2 of 4096 units, predictions). The extra
 * depth costs 5.3 M parameters and ~4 GFLOPs per image for no top-1 gain on ImageNet.
 *
 * Weights: Keras' ImageNet files `vgg19_weights_tf_dim_ordering_tf_kernels[_notop].h5` from
 * storage.googleapis.com/tensorflow/keras-applications/vgg19/, checked against the md5 hashes
 * Keras' `get_file` uses. Layer names are Keras' (`block1_conv1` … `block5_conv4`,
 * `block5_pool`, `flatten`, `fc1`, `fc2`, `predictions`).
 * Preprocessing: 'caffe' (RGB -> BGR, subtract the ImageNet BGR mean, no scaling).
 *
 * Porting note: Keras duplicates VGG16's code in vgg19.py; ftk shares the builder
 * (`buildVgg` in vgg16.ts), which yields the same layers in the same order.
 */
import type * as tf from '@tensorflow/tfjs';
import { kerasWeightFiles } from './imagenet_utils.js';
import { buildVgg } from './vgg16.js';
import type { ApplicationOptions, ModelSpec } from './types.js';

const DEFAULT_SIZE = 224;
const MIN_SIZE = 32;
const WEIGHTS_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/vgg19/';
const WEIGHTS_FILE = 'vgg19_weights_tf_dim_ordering_tf_kernels.h5';
const WEIGHTS_FILE_NO_TOP = 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5';
/** md5 hashes from Keras' `vgg19.py` (`file_hash` of `get_file`). */
const WEIGHTS_MD5 = 'cbe5617147190e668d6c5d5026f83318';
const WEIGHTS_MD5_NO_TOP = '253f8cb515780f3b799900260a226db6';

/** Convolutions per block of VGG19 (configuration E). */
const VGG19_CONVS = [2, 2, 4, 4, 4] as const;

/**
 * Builds VGG19 with random weights, layer for layer as Keras' `keras.applications.VGG19`.
 *
 * Cost: with the top, 143.7 M float32 parameters (~575 MB of memory) and ~19.6 GFLOPs per
 * 224x224 image; without the top, 20.0 M parameters.
 *
 * @param options Keras' builder options (see `ApplicationOptions`): `includeTop` (default true)
 *   needs a 224x224 input; `pooling` (default 'none') applies only without the top;
 *   `classes` default 1000; `classifierActivation` default 'softmax' (null/'linear': logits).
 * @returns a functional `tf.LayersModel` named 'vgg19'.
 * @throws OptionsError for Keras' rejected combinations (see `resolveApplicationOptions`) or a
 *   width multiplier (`alpha`).
 *
 * @example
 * const model = VGG19({ includeTop: false, pooling: 'max' });
 * model.outputs[0].shape; // [null, 512]
 */
export function VGG19(options: ApplicationOptions = {}): tf.LayersModel {
  return buildVgg('VGG19', 'vgg19', VGG19_CONVS, options);
}

export const vgg19Spec: ModelSpec = Object.freeze<ModelSpec>({
  name: 'vgg19',
  displayName: 'VGG19',
  build: VGG19,
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
