/**
 * Synthetic "bottleneck-like" features for the SVM benchmark: non-negative (ReLU'd), correlated
 * (a 48-dimensional latent space mapped to D dimensions), 10 classes with overlapping clusters,
 * so accuracies are informative (around 90%, not 100%). Seeded: same seed, same features.
 */
import { Rng } from '../../src/data/random.js';

export interface BenchData {
  X: Float32Array;
  y: Int32Array;
  n: number;
  d: number;
}

export function makeFeatures(n: number, d: number, classes: number, seed: number, spread = 1.15): { train: BenchData; test: BenchData } {
  const rng = new Rng(seed);
  const latent = 48;
  const W = new Float64Array(d * latent).map(() => rng.normal() / Math.sqrt(latent));
  const bias = new Float64Array(d).map(() => rng.normal() * 0.3 - 0.2);
  const centers = Array.from({ length: classes }, () => Float64Array.from({ length: latent }, () => rng.normal()));
  const gen = (count: number): BenchData => {
    const X = new Float32Array(count * d);
    const y = new Int32Array(count);
    const z = new Float64Array(latent);
    for (let i = 0; i < count; i++) {
      const c = i % classes;
      y[i] = c;
      for (let k = 0; k < latent; k++) z[k] = centers[c][k] + spread * rng.normal();
      for (let j = 0; j < d; j++) {
        let s = bias[j];
        for (let k = 0; k < latent; k++) s += W[j * latent + k] * z[k];
        s += 0.1 * rng.normal();
        X[i * d + j] = s > 0 ? s : 0;
      }
    }
    // Shuffle rows so classes are interleaved irregularly, as in a real dataset listing.
    const order = rng.shuffle(Int32Array.from({ length: count }, (_, i) => i));
    const Xs = new Float32Array(count * d);
    const ys = new Int32Array(count);
    order.forEach((src, dst) => {
      Xs.set(X.subarray(src * d, src * d + d), dst * d);
      ys[dst] = y[src];
    });
    return { X: Xs, y: ys, n: count, d };
  };
  return { train: gen(n), test: gen(n) };
}
