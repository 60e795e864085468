/**
 * ImageNet input preprocessing on plain float32 buffers (Keras' `imagenet_utils.preprocess_input`
 * modes). Free of TF.js on purpose: the decode worker threads import it, and loading TF.js costs
 * each thread about 130 MB.
 */
import { OptionsError } from '../errors.js';
import type { PreprocessMode } from './types.js';

/** ImageNet channel means in RGB order, in [0, 255] ('caffe' mode). */
export const CAFFE_MEAN_RGB = [123.68, 116.779, 103.939] as const;
/** ImageNet mean/std in [0, 1] ('torch' mode). */
export const TORCH_MEAN = [0.485, 0.456, 0.406] as const;
export const TORCH_STD = [0.229, 0.224, 0.225] as const;

export const PREPROCESS_MODES: readonly PreprocessMode[] = ['caffe', 'tf', 'torch'];

/**
 * In-place preprocessing of a float32 NHWC RGB buffer with values in [0, 255]:
 * - 'tf':    x / 127.5 - 1                         (to [-1, 1])
 * - 'torch': (x / 255 - mean) / std                 (per channel, RGB)
 * - 'caffe': RGB -> BGR, then subtract the BGR mean (no scaling)
 */
export function preprocessPixels(pixels: Float32Array, mode: PreprocessMode): Float32Array {
  const n = pixels.length;
  switch (mode) {
    case 'tf':
      for (let i = 0; i < n; i++) pixels[i] = pixels[i] / 127.5 - 1;
      return pixels;
    case 'torch':
      for (let i = 0; i < n; i += 3) {
        pixels[i] = (pixels[i] / 255 - TORCH_MEAN[0]) / TORCH_STD[0];
        pixels[i + 1] = (pixels[i + 1] / 255 - TORCH_MEAN[1]) / TORCH_STD[1];
        pixels[i + 2] = (pixels[i + 2] / 255 - TORCH_MEAN[2]) / TORCH_STD[2];
      }
      return pixels;
    case 'caffe':
      for (let i = 0; i < n; i += 3) {
        const r = pixels[i];
        pixels[i] = pixels[i + 2] - CAFFE_MEAN_RGB[2];
        pixels[i + 1] = pixels[i + 1] - CAFFE_MEAN_RGB[1];
        pixels[i + 2] = r - CAFFE_MEAN_RGB[0];
      }
      return pixels;
    default:
      throw new OptionsError(`Unknown preprocessing mode "${mode as string}".`, {
        suggestion: `Must be one of [${PREPROCESS_MODES.join(', ')}].`,
      });
  }
}

