/**
 * The small convnet of the Keras blog post "Building powerful image classification models using
 * very little data" (F. Chollet, 2016): the from-scratch baseline every transfer-learning number
 * is compared with. Three 3x3 convolution blocks (32, 32, 64 filters, ReLU, 2x2 max pooling),
 * then Flatten, Dense(64) + ReLU, Dropout(0.5) and the softmax classifier.
 *
 * | input | params (2 classes) | cats vs dogs, 2,000 images, augmented (blog) |
 * |---|---|---|
 * | 150x150 | 1.24 M | about 80 % validation accuracy |
 *
 * Layer names are what Keras gives a fresh Sequential model (`conv2d`, `activation`,
 * `max_pooling2d`, `conv2d_1`, ...). Porting note: the blog rescales pixels by 1/255 and uses a
 * sigmoid unit for two classes; ftk uses 'tf' preprocessing ([-1, 1]) and a softmax over the
 * classes, like its other heads.
 */
import * as tf from '@tensorflow/tfjs';
import { OptionsError } from '../errors.js';

export interface SmallCnnOptions {
  /** [height, width, 3]. Default [150, 150, 3] (the blog's). */
  inputShape?: [number, number, number];
  /** Number of classes (softmax units). Required, >= 2. */
  classes: number;
  /** Dropout before the classifier. Default 0.5. */
  dropout?: number;
}

export const SMALLCNN_DEFAULT_INPUT_SIZE = 150;
/** Smallest input the three conv/pool blocks accept. */
export const SMALLCNN_MIN_INPUT_SIZE = 22;

export function SmallCNN(options: SmallCnnOptions): tf.LayersModel {
  const inputShape = options.inputShape ?? [SMALLCNN_DEFAULT_INPUT_SIZE, SMALLCNN_DEFAULT_INPUT_SIZE, 3];
  if (inputShape[0] < SMALLCNN_MIN_INPUT_SIZE || inputShape[1] < SMALLCNN_MIN_INPUT_SIZE || inputShape[2] !== 3) {
    throw new OptionsError(`SmallCNN: inputShape must be [h, w, 3] with h, w >= ${SMALLCNN_MIN_INPUT_SIZE}. Received [${inputShape.join(', ')}].`);
  }
  if (!Number.isInteger(options.classes) || options.classes < 2) {
    throw new OptionsError(`SmallCNN: classes must be an integer >= 2. Received ${options.classes}.`);
  }
  const input = tf.input({ shape: inputShape, name: 'input_1' });
  let x: tf.SymbolicTensor = input;
  [32, 32, 64].forEach((filters, i) => {
    const suffix = i === 0 ? '' : `_${i}`;
    x = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'valid', kernelInitializer: 'glorotUniform', name: `conv2d${suffix}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu', name: `activation${suffix}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 2, name: `max_pooling2d${suffix}` }).apply(x) as tf.SymbolicTensor;
  });
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 64, kernelInitializer: 'glorotUniform', name: 'dense' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu', name: 'activation_3' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ rate: options.dropout ?? 0.5, name: 'dropout' }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: options.classes, activation: 'softmax', kernelInitializer: 'glorotUniform', name: 'predictions' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'smallcnn' });
}
