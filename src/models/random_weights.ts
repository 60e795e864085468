/**
 * Deterministic random initialisation (Keras' defaults: glorot_uniform kernels, zero biases,
 * BatchNormalization gamma=1, beta=0, moving mean 0, variance 1) from a seed, so that a
 * "random weights" backbone has a reproducible fingerprint. tfjs' own initialisers are not seeded.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/random.js';
import { shortWeightName } from './weights.js';

function fans(shape: number[]): [number, number] {
  if (shape.length === 2) return [shape[0], shape[1]];
  if (shape.length < 2) return [shape[0] ?? 1, shape[0] ?? 1];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [receptive * shape[shape.length - 2], receptive * shape[shape.length - 1]];
}

export function randomizeWeights(model: tf.LayersModel, seed: number): void {
  const rng = new Rng(seed);
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const name = shortWeightName(w.originalName ?? w.name);
      const size = w.shape.reduce((a: number, b) => a * (b as number), 1);
      const data = new Float32Array(size);
      if (name.endsWith('kernel')) {
        const [fanIn, fanOut] = fans(w.shape as number[]);
        const limit = Math.sqrt(6 / (fanIn + fanOut));
        for (let i = 0; i < size; i++) data[i] = (rng.next() * 2 - 1) * limit;
      } else if (name === 'gamma' || name === 'moving_variance') {
        data.fill(1);
      }
      return tf.tensor(data, w.shape as number[]);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}
