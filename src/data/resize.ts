/**
 * Bilinear resize exactly as Keras resizes images: `tf.image.resize(method='bilinear',
 * antialias=False)`, i.e. TensorFlow's `ResizeBilinear` kernel with `half_pixel_centers=True`
 * and `align_corners=False` (tensorflow/core/kernels/image/resize_bilinear_op.cc).
 *
 * For output coordinate `x` the source coordinate is `in = (x + 0.5) * (inSize / outSize) - 0.5`;
 * the two neighbours are `max(floor(in), 0)` and `min(ceil(in), inSize - 1)` and the weight is
 * `in - floor(in)`. Each value is `top + (bottom - top) * yLerp` with
 * `top = topLeft + (topRight - topLeft) * xLerp`. TensorFlow computes all of this in float32;
 * here every step is rounded with `Math.fround`, which gives the same float32 results (a double
 * holds a float32 sum or product exactly before the single rounding). The output is float32 and
 * not rounded, like TF's.
 *
 * No antialiasing: downscaling a large photo by a big factor samples it (aliasing included),
 * exactly as Keras' `image_dataset_from_directory` does. `centerCropBox` reproduces Keras'
 * `smart_resize` / `crop_to_aspect_ratio=True` crop.
 */
import { OptionsError } from '../errors.js';

/** A rectangle of the source image, in pixels. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

export interface ResizeOptions {
  /** Only this part of the source is resized (e.g. from `centerCropBox`). Default: the whole image. */
  box?: CropBox;
  /** Output buffer to fill (length outHeight*outWidth*channels). Default: a new Float32Array. */
  out?: Float32Array;
}

/** Source pixels: 8-bit, row-major HWC, `channels` interleaved values per pixel. */
export interface PixelSource {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

const f = Math.fround;

/** Per output coordinate: the two source indices (pre-multiplied by `stride`) and the weight. */
interface AxisWeights {
  lower: Int32Array;
  upper: Int32Array;
  lerp: Float32Array;
}

function axisWeights(inSize: number, outSize: number, stride: number): AxisWeights {
  const lower = new Int32Array(outSize);
  const upper = new Int32Array(outSize);
  const lerp = new Float32Array(outSize);
  // CalculateResizeScale: float(in) / out; HalfPixelScaler: (x + 0.5f) * scale - 0.5f.
  const scale = f(inSize / outSize);
  for (let i = 0; i < outSize; i++) {
    const src = f(f(f(i + 0.5) * scale) - 0.5);
    const floor = Math.floor(src);
    lower[i] = Math.max(floor, 0) * stride;
    upper[i] = Math.min(Math.ceil(src), inSize - 1) * stride;
    lerp[i] = f(src - floor);
  }
  return { lower, upper, lerp };
}

function checkSize(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new OptionsError(`${name} must be a positive integer. Received ${value}.`);
  }
}

/**
 * Keras' `smart_resize` crop (`crop_to_aspect_ratio=True`): the largest centred box of the source
 * with the target's aspect ratio. Sizes truncate toward zero and the offset floors, as Keras'
 * `int(float(...))`.
 */
export function centerCropBox(height: number, width: number, targetHeight: number, targetWidth: number): CropBox {
  const cropHeight = Math.max(Math.min(height, Math.trunc((width * targetHeight) / targetWidth)), 1);
  const cropWidth = Math.max(Math.min(width, Math.trunc((height * targetWidth) / targetHeight)), 1);
  return {
    top: Math.trunc((height - cropHeight) / 2),
    left: Math.trunc((width - cropWidth) / 2),
    height: cropHeight,
    width: cropWidth,
  };
}

/**
 * Resizes 8-bit HWC pixels (or the `box` part of them) to `outHeight` x `outWidth` with TF's
 * half-pixel bilinear interpolation; returns float32 HWC values in 0..255. When the (boxed) source
 * already has the target size, its values are copied unchanged (TF gives the same: every weight
 * is 0).
 *
 * @example
 * const out = resizeBilinear({ data, height: 480, width: 640, channels: 3 }, 224, 224);
 */
export function resizeBilinear(source: PixelSource, outHeight: number, outWidth: number, options: ResizeOptions = {}): Float32Array {
  const { data, height, width, channels } = source;
  checkSize('outHeight', outHeight);
  checkSize('outWidth', outWidth);
  checkSize('channels', channels);
  if (data.length < height * width * channels) {
    throw new OptionsError(`Pixel buffer holds ${data.length} values; ${height}x${width}x${channels} needs ${height * width * channels}.`);
  }
  const box = options.box ?? { top: 0, left: 0, height, width };
  if (
    box.top < 0 ||
    box.left < 0 ||
    box.height < 1 ||
    box.width < 1 ||
    box.top + box.height > height ||
    box.left + box.width > width
  ) {
    throw new OptionsError(`Crop box ${JSON.stringify(box)} is outside the ${height}x${width} image.`);
  }
  const size = outHeight * outWidth * channels;
  const out = options.out ?? new Float32Array(size);
  if (out.length < size) {
    throw new OptionsError(`Output buffer holds ${out.length} values; ${outHeight}x${outWidth}x${channels} needs ${size}.`);
  }
  const rowStride = width * channels;
  const base = box.top * rowStride + box.left * channels;

  if (box.height === outHeight && box.width === outWidth) {
    const rowLength = outWidth * channels;
    for (let y = 0; y < outHeight; y++) {
      const from = base + y * rowStride;
      const to = y * rowLength;
      for (let i = 0; i < rowLength; i++) out[to + i] = data[from + i];
    }
    return out;
  }

  const xs = axisWeights(box.width, outWidth, channels);
  const ys = axisWeights(box.height, outHeight, rowStride);
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    const topRow = base + ys.lower[y];
    const bottomRow = base + ys.upper[y];
    const yLerp = ys.lerp[y];
    for (let x = 0; x < outWidth; x++) {
      const left = xs.lower[x];
      const right = xs.upper[x];
      const xLerp = xs.lerp[x];
      for (let c = 0; c < channels; c++) {
        const topLeft = data[topRow + left + c];
        const topRight = data[topRow + right + c];
        const bottomLeft = data[bottomRow + left + c];
        const bottomRight = data[bottomRow + right + c];
        const top = f(topLeft + f((topRight - topLeft) * xLerp));
        const bottom = f(bottomLeft + f((bottomRight - bottomLeft) * xLerp));
        out[o++] = top + f(f(bottom - top) * yLerp);
      }
    }
  }
  return out;
}
