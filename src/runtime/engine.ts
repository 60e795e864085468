/**
 * The small interface behind which model execution lives: the extraction pipeline hands it
 * preprocessed NHWC batches and gets feature rows back. TF.js is the first implementation;
 * ONNX Runtime is the second (a later issue).
 */
import * as tf from '@tensorflow/tfjs';

export interface FeatureEngine {
  /** Name for reports, e.g. 'tfjs-wasm'. */
  readonly name: string;
  /** Features per image. */
  readonly outputDim: number;
  /** ONNX Runtime engines: the execution providers the session runs on, read back from it. */
  readonly providers?: readonly string[];
  /** Runs `count` images (float32 NHWC, already preprocessed) and returns count x outputDim values. */
  run(batch: Float32Array, count: number, height: number, width: number): Promise<Float32Array>;
  dispose(): void;
}

export class TfjsEngine implements FeatureEngine {
  readonly name: string;
  readonly outputDim: number;

  constructor(private readonly model: tf.LayersModel) {
    const shape = model.outputs[0].shape;
    this.outputDim = shape.slice(1).reduce((a: number, b) => a * (b as number), 1);
    this.name = `tfjs-${tf.getBackend()}`;
  }

  async run(batch: Float32Array, count: number, height: number, width: number): Promise<Float32Array> {
    const x = tf.tensor4d(batch.subarray(0, count * height * width * 3), [count, height, width, 3]);
    try {
      const y = this.model.predict(x) as tf.Tensor;
      try {
        const out = (await y.data()) as Float32Array;
        return out;
      } finally {
        y.dispose();
      }
    } finally {
      x.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
