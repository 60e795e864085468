/**
 * Input preprocessing on plain float32 buffers: Keras' `imagenet_utils.preprocess_input` modes,
 * and custom per-channel mean/std for models from other frameworks (torchvision, timm, MXNet,
 * Caffe, TF Hub). Free of TF.js on purpose: the decode worker threads import it, and loading
 * TF.js costs each thread about 130 MB.
 */
import { OptionsError } from '../errors.js';
import type { CustomPreprocess, PreprocessMode, PreprocessModeName } from './types.js';

/** ImageNet channel means in RGB order, in [0, 255] ('caffe' mode). */
export const CAFFE_MEAN_RGB = [123.68, 116.779, 103.939] as const;
/** ImageNet mean/std in [0, 1] ('torch' mode). */
export const TORCH_MEAN = [0.485, 0.456, 0.406] as const;
export const TORCH_STD = [0.229, 0.224, 0.225] as const;

export const PREPROCESS_MODES: readonly PreprocessModeName[] = ['caffe', 'tf', 'torch'];

/**
 * In-place preprocessing of a float32 NHWC RGB buffer with values in [0, 255]:
 * - 'tf':    x / 127.5 - 1                         (to [-1, 1])
 * - 'torch': (x / 255 - mean) / std                 (per channel, RGB)
 * - 'caffe': RGB -> BGR, then subtract the BGR mean (no scaling)
 * - custom:  (x * scale - mean) / std                (per channel, after RGB -> BGR if asked)
 */
export function preprocessPixels(pixels: Float32Array, mode: PreprocessMode): Float32Array {
  const n = pixels.length;
  if (typeof mode === 'object' && mode !== null) return normalizePixels(pixels, mode);
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


function normalizePixels(pixels: Float32Array, p: CustomPreprocess): Float32Array {
  const [m0, m1, m2] = p.mean;
  const [s0, s1, s2] = p.std;
  const k = p.scale;
  const bgr = p.channels === 'bgr';
  for (let i = 0; i < pixels.length; i += 3) {
    const r = pixels[i];
    const b = pixels[i + 2];
    pixels[i] = ((bgr ? b : r) * k - m0) / s0;
    pixels[i + 1] = (pixels[i + 1] * k - m1) / s1;
    pixels[i + 2] = ((bgr ? r : b) * k - m2) / s2;
  }
  return pixels;
}

/** What a user may give for a custom normalisation; the rest takes the defaults below. */
export interface CustomPreprocessOptions {
  /** Per-channel mean, in the model's channel order. Default [0, 0, 0]. */
  mean?: number[];
  /** Per-channel standard deviation. Default [1, 1, 1]. */
  std?: number[];
  /** Multiplier of the [0, 255] pixels before mean/std. Default 1/255 (inputs in [0, 1]). */
  scale?: number;
  /** Channel order the model expects. Default 'rgb'. */
  channels?: 'rgb' | 'bgr';
}

/**
 * Checks a preprocessing given by the user: a mode name, or custom mean/std (defaults applied).
 * @throws OptionsError naming what is wrong and the allowed values.
 */
export function resolvePreprocess(value: PreprocessModeName | CustomPreprocessOptions | string): PreprocessMode {
  if (typeof value === 'string') {
    if ((PREPROCESS_MODES as readonly string[]).includes(value)) return value as PreprocessModeName;
    if (value === 'custom') return resolvePreprocess({});
    throw new OptionsError(`Unknown preprocessing "${value}".`, {
      code: 'PREPROCESS_UNKNOWN',
      suggestion: `Must be one of [${PREPROCESS_MODES.join(', ')}, custom] (custom: with --mean, --std, --pixel-scale, --bgr).`,
    });
  }
  const triple = (name: string, v: number[] | undefined, fallback: number, positive: boolean): [number, number, number] => {
    const values = v ?? [fallback, fallback, fallback];
    const list = values.length === 1 ? [values[0], values[0], values[0]] : values;
    if (list.length !== 3 || list.some((x) => !Number.isFinite(x) || (positive && !(x > 0)))) {
      throw new OptionsError(`${name} must be 3 ${positive ? 'positive ' : ''}numbers (one per channel). Received [${values.join(', ')}].`, {
        code: 'PREPROCESS_BAD_VALUE',
        suggestion: name === 'mean' ? 'e.g. --mean 0.485,0.456,0.406 (torchvision, with --pixel-scale 1/255)' : 'e.g. --std 0.229,0.224,0.225',
      });
    }
    return list as [number, number, number];
  };
  const scale = value.scale ?? 1 / 255;
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new OptionsError(`pixel scale must be a positive number. Received ${scale}.`, { code: 'PREPROCESS_BAD_VALUE', suggestion: 'Use 1/255 for models fed [0, 1] pixels, 1 for [0, 255].' });
  }
  const channels = value.channels ?? 'rgb';
  if (channels !== 'rgb' && channels !== 'bgr') {
    throw new OptionsError(`channels must be rgb or bgr. Received "${channels as string}".`, { code: 'PREPROCESS_BAD_VALUE' });
  }
  return { mean: triple('mean', value.mean, 0, false), std: triple('std', value.std, 1, true), scale, channels };
}

/** One line for humans: 'torch', or 'custom (x*1/255 - [0.5, 0.5, 0.5]) / [0.5, 0.5, 0.5], rgb'. */
export function describePreprocess(mode: PreprocessMode): string {
  if (typeof mode === 'string') return mode;
  const scale = Math.abs(mode.scale * 255 - 1) < 1e-9 ? '1/255' : String(mode.scale);
  return `custom (x*${scale} - [${mode.mean.join(', ')}]) / [${mode.std.join(', ')}], ${mode.channels}`;
}

/** Reads a pixel scale such as '1/255', '0.5' or '1'. */
export function parsePixelScale(text: string): number {
  const m = /^\s*([\d.eE+-]+)\s*(?:\/\s*([\d.eE+-]+))?\s*$/.exec(text);
  const value = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
  if (!(Number.isFinite(value) && value > 0)) {
    throw new OptionsError(`pixel scale must be a positive number or a fraction like 1/255. Received "${text}".`, { code: 'PREPROCESS_BAD_VALUE' });
  }
  return value;
}
