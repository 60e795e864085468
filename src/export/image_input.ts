/**
 * The image end of an exported classifier: decoded pixels in, the backbone's input out, all in
 * the graph so every runtime resizes exactly as ftk does.
 *
 *   pixels uint8 [N, H, W, 3] (RGB, any H and W)
 *   -> Cast float32 -> Transpose NCHW
 *   -> centre crop (Slice), only for models trained with `--crop center`: the largest centred
 *      square, top/left offsets floored, as `centerCropBox` (src/data/resize.ts, Keras smart_resize)
 *   -> Resize to S x S: mode linear, coordinate_transformation_mode half_pixel, no antialiasing
 *      (TF `ResizeBilinear(half_pixel_centers=True)`, what Keras and src/data/resize.ts compute)
 *   -> preprocessing (tf, torch, caffe or custom mean/std, as src/models/preprocess.ts)
 *   -> Transpose NHWC: the backbone's input.
 *
 * Resize computes its source coordinate as (x + 0.5) / (S / H) - 0.5 where TF computes
 * (x + 0.5) * (H / S) - 0.5: the same real number, rounded differently in float32, so an output
 * value can differ from ftk's in the last bits of the interpolation weight (measured in
 * test/export.test.ts: at most a few thousandths of a grey level).
 */
import { CAFFE_MEAN_RGB, TORCH_MEAN, TORCH_STD } from '../models/preprocess.js';
import type { PreprocessMode } from '../models/types.js';
import { ElemType, type ClassifierGraph } from './graph.js';

export const PIXELS_INPUT = 'pixels';

export interface ImageInputSpec {
  /** Square model input size S. */
  inputSize: number;
  crop: 'squash' | 'center';
  preprocessing: PreprocessMode;
}

/** Adds the pixel pipeline reading `PIXELS_INPUT`; returns the NHWC float32 [N, S, S, 3] value. */
export function addImageInput(g: ClassifierGraph, spec: ImageInputSpec): string {
  const S = spec.inputSize;
  const pixels = g.reserve(PIXELS_INPUT);
  const x = g.cast(pixels, ElemType.FLOAT, 'pixels_float');
  let nchw = g.op('Transpose', [x], 'pixels_nchw', { perm: [0, 3, 1, 2] });
  if (spec.crop === 'center') nchw = centerCrop(g, nchw);
  const shape = g.op('Shape', [nchw], 'shape');
  const batchChannels = g.op('Slice', [shape, g.int64('zero', [0]), g.int64('two', [2])], 'batch_channels');
  const sizes = g.op('Concat', [batchChannels, g.int64('target_size', [S, S])], 'resize_sizes', { axis: 0 });
  const resized = g.op('Resize', [nchw, '', '', sizes], 'resized', { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  const pre = preprocess(g, resized, spec.preprocessing);
  return g.op('Transpose', [pre], 'model_input', { perm: [0, 2, 3, 1] });
}

/** Largest centred square of an NCHW value (a square target: `centerCropBox` with S x S). */
function centerCrop(g: ClassifierGraph, nchw: string): string {
  const shape = g.op('Shape', [nchw], 'crop_shape');
  const h = g.op('Slice', [shape, g.int64('two', [2]), g.int64('three', [3])], 'height');
  const w = g.op('Slice', [shape, g.int64('three', [3]), g.int64('four', [4])], 'width');
  const side = g.op('Min', [h, w], 'crop_side');
  // floor((H - side) / 2) through float32 (exact for any image size below 2^24 pixels a side).
  const half = (v: string, base: string) => {
    const diff = g.cast(g.op('Sub', [v, side], `${base}_excess`), ElemType.FLOAT);
    const halved = g.op('Floor', [g.op('Div', [diff, g.float('two_f', [], [2])], `${base}_half`)], `${base}_floor`);
    return g.cast(halved, ElemType.INT64, base);
  };
  const top = half(h, 'crop_top');
  const left = half(w, 'crop_left');
  const starts = g.op('Concat', [top, left], 'crop_starts', { axis: 0 });
  const ends = g.op('Concat', [g.op('Add', [top, side], 'crop_bottom'), g.op('Add', [left, side], 'crop_right')], 'crop_ends', { axis: 0 });
  return g.op('Slice', [nchw, starts, ends, g.int64('crop_axes', [2, 3])], 'cropped');
}

const perChannel = (g: ClassifierGraph, base: string, values: readonly number[]) => g.float(base, [1, 3, 1, 1], values);

/** Preprocessing of NCHW float32 values in 0..255 (the formulas of preprocessPixels). */
function preprocess(g: ClassifierGraph, x: string, mode: PreprocessMode): string {
  if (typeof mode === 'object') {
    const ordered = mode.channels === 'bgr' ? g.op('Gather', [x, g.int64('bgr', [2, 1, 0])], 'bgr', { axis: 1 }) : x;
    const scaled = g.op('Mul', [ordered, g.float('pixel_scale', [], [mode.scale])], 'scaled');
    const centred = g.op('Sub', [scaled, perChannel(g, 'mean', mode.mean)], 'centred');
    return g.op('Div', [centred, perChannel(g, 'std', mode.std)], 'normalized');
  }
  switch (mode) {
    case 'tf':
      return g.op('Sub', [g.op('Div', [x, g.float('half_range', [], [127.5])], 'halved'), g.float('one', [], [1])], 'normalized');
    case 'torch': {
      const unit = g.op('Div', [x, g.float('range', [], [255])], 'unit');
      const centred = g.op('Sub', [unit, perChannel(g, 'mean', TORCH_MEAN)], 'centred');
      return g.op('Div', [centred, perChannel(g, 'std', TORCH_STD)], 'normalized');
    }
    case 'caffe': {
      const bgr = g.op('Gather', [x, g.int64('bgr', [2, 1, 0])], 'bgr', { axis: 1 });
      return g.op('Sub', [bgr, perChannel(g, 'mean_bgr', [CAFFE_MEAN_RGB[2], CAFFE_MEAN_RGB[1], CAFFE_MEAN_RGB[0]])], 'normalized');
    }
    default:
      throw new Error(`unknown preprocessing mode ${String(mode)}`);
  }
}
