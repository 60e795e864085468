/**
 * Training kernels for tfjs' wasm backend (tfjs 4.22).
 *
 * 1. The three gradient kernels wasm lacks, built from kernels it has, so that `Conv2D` and
 *    `DepthwiseConv2D` layers train on wasm at all (without them any gradient through a
 *    convolution fails with "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'"):
 *
 * | kernel | what it computes | built from |
 * |---|---|---|
 * | `Conv2DBackpropFilter` | dW[kh,kw,ci,co] = sum over b,oh,ow of x[b, oh*s+kh-pad, ow*s+kw-pad, ci] * dy[b,oh,ow,co] | a convolution of x (batch and channels swapped) by dy, dilated by the stride; matMul for 1x1 |
 * | `DepthwiseConv2dNativeBackpropFilter` | dW[kh,kw,c,m] = sum over b,oh,ow of x[b, tap, c] * dy[b,oh,ow,c*M+m] | a depthwise convolution of x (batch folded into channels) by dy, summed over the batch |
 * | `DepthwiseConv2dNativeBackpropInput` | dx = the transposed depthwise convolution of dy | zero insertion (stride), pad/crop, depthwise conv with the flipped filter |
 *
 *    These formulations run in XNNPACK's convolution kernels: 2-4x faster than im2col with
 *    matMul, and 10-70x faster than per-tap strided slices, which wasm runs slowly.
 *
 * 2. Faster versions of three kernels wasm has but runs slowly in the shapes backpropagation
 *    produces (measured on 2 cores, batch 32): `BatchMatMul` with `transposeA`/`transposeB`
 *    (every Dense gradient; ~15x slower than an explicit transpose followed by a plain matMul),
 *    `Tile` of a broadcast (BatchNormalization's gradient; ~12x slower than a broadcasting add),
 *    and `Conv2DBackpropInput` (a plain loop in wasm: ~9x slower than the matMul a 1x1
 *    convolution is, ~30x slower than XNNPACK's convolution for a 3x3 one). Each wrapper handles
 *    only its case and hands every other call (other dtypes, NCHW) to the original wasm kernel.
 *
 * Accuracy: every kernel matches the cpu backend within float32 rounding
 * (test/wasm_gradients.test.ts checks 1e-4 on gradients through conv, depthwise and dense layers).
 * The kernels run tfjs ops inside the kernel function (tfjs records no gradient tape inside a
 * kernel, and `tidy` frees the intermediates). Only the NHWC layout (tfjs-layers'
 * `channelsLast`, the only one ftk uses) is supported; NCHW is an error naming the kernel.
 *
 * `registerWasmTrainingKernels()` is idempotent, adds a missing kernel only while tfjs lacks it
 * (a future tfjs that ships it keeps its own) and is meant to be called once by the runtime layer
 * after choosing wasm (src/finetune calls it before training).
 */
import * as tf from '@tensorflow/tfjs';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

/** Kernels wasm lacks that this module provides. */
export const WASM_MISSING_GRADIENT_KERNELS = Object.freeze(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'] as const);
/** Wasm kernels this module wraps with a faster path for some shapes. */
export const WASM_ACCELERATED_KERNELS = Object.freeze(['BatchMatMul', 'Tile', 'Conv2DBackpropInput'] as const);

function asTensor(info: tf.TensorInfo | undefined): tf.Tensor {
  if (!info) throw new Error('ftk wasm training kernel: missing input.');
  return info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info);
}

function pair(v: number | [number, number] | undefined): [number, number] {
  if (v === undefined) return [1, 1];
  return typeof v === 'number' ? [v, v] : v;
}

/** Pads (positive amounts) or crops (negative amounts) the two spatial axes of an NHWC tensor. */
function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  let y = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const t = Math.max(0, -top);
    const l = Math.max(0, -left);
    y = tf.slice(y, [0, t, l, 0], [-1, h - t - Math.max(0, -bottom), w - l - Math.max(0, -right), -1]);
  }
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    y = tf.pad(y, [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]]);
  }
  return y;
}

/**
 * The input padded (or cropped, where 'valid' leaves rows unused) so that the last output's last
 * tap is its last row/column: extent (out - 1) * stride + (filter - 1) * dilation + 1.
 */
function tapExtent(x: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { padInfo, strideHeight, strideWidth, dilationHeight, dilationWidth, filterHeight, filterWidth, outHeight, outWidth, inHeight, inWidth } = info;
  const needH = (outHeight - 1) * strideHeight + (filterHeight - 1) * dilationHeight + 1;
  const needW = (outWidth - 1) * strideWidth + (filterWidth - 1) * dilationWidth + 1;
  return padOrCrop(x, padInfo.top, needH - inHeight - padInfo.top, padInfo.left, needW - inWidth - padInfo.left);
}

function checkNhwc(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`ftk's wasm ${kernel} supports the NHWC data format only. Received dataFormat=${dataFormat}.`);
  }
}

/**
 * Gradient of a 2-D convolution with respect to its filter (NHWC).
 *
 * dW[kh,kw,ci,co] = sum over b,oh,ow of xp[b, oh*s + kh, ow*s + kw, ci] * dy[b,oh,ow,co] is itself
 * a convolution: of xp seen as a batch of `ci` images with `b` channels ([ci, H, W, b]) by dy seen
 * as a [oh, ow, b, co] filter dilated by the stride. A 1x1 stride-1 convolution is one matMul.
 */
export function conv2dBackpropFilterFromOps(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad as never, dimRoundingMode, false, 'channelsLast');
    const [kh, kw, ci, co] = filterShape;
    const xp = tapExtent(x, info);
    if (kh === 1 && kw === 1 && info.strideHeight === 1 && info.strideWidth === 1) {
      const rows = info.batchSize * info.outHeight * info.outWidth;
      // xᵀ·dy with an explicit transpose (wasm's matMul with transposeA is ~15x slower).
      return tf.reshape(tf.matMul(tf.transpose(tf.reshape(xp, [rows, ci])), tf.reshape(dy, [rows, co])), filterShape) as tf.Tensor4D;
    }
    const images = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [ci, H, W, b]
    const kernel = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, b, co]
    const out = tf.conv2d(images, kernel, 1, 'valid', 'NHWC', [info.strideHeight, info.strideWidth]); // [ci, kh, kw, co]
    return tf.transpose(out, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * Gradient of a depthwise convolution with respect to its filter [KH, KW, C, M] (NHWC): the same
 * trick as `conv2dBackpropFilterFromOps`, as a depthwise convolution of xp seen as one image with
 * b*C channels by dy seen as a [oh, ow, b*C, M] filter (dilated by the stride, strided by the
 * forward dilation), summed over b.
 */
export function depthwiseBackpropFilterFromOps(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Pad,
  dilations?: number | [number, number],
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, pair(dilations), pad as never, dimRoundingMode, true);
    const [kh, kw, c, m] = filterShape;
    const [b, oh, ow] = dy.shape;
    const xp = tapExtent(x, info);
    const image = tf.reshape(tf.transpose(xp, [1, 2, 0, 3]), [1, xp.shape[1], xp.shape[2], b * c]) as tf.Tensor4D;
    const kernel = tf.reshape(tf.transpose(tf.reshape(dy, [b, oh, ow, c * m]), [1, 2, 0, 3]), [oh, ow, b * c, m]) as tf.Tensor4D;
    const out = tf.depthwiseConv2d(image, kernel, [info.dilationHeight, info.dilationWidth], 'valid', 'NHWC', [info.strideHeight, info.strideWidth]); // [1, kh, kw, b*c*m]
    return tf.sum(tf.reshape(out, [kh, kw, b, c, m]), 2) as tf.Tensor4D;
  });
}

/** Zero insertion: dy on a grid with (stride - 1) zeros between values (the transposed stride). */
function spreadByStride(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [b, oh, ow, c] = dy.shape;
  const spread = tf.pad(tf.reshape(dy, [b * oh, 1, ow, 1, c]), [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.slice(tf.reshape(spread, [b, oh * sh, ow * sw, c]), [0, 0, 0, 0], [b, (oh - 1) * sh + 1, (ow - 1) * sw + 1, c]) as tf.Tensor4D;
}

/**
 * Gradient of a 2-D convolution with respect to its input (NHWC): a 'valid' convolution of the
 * stride-spread, padded dy with the filter rotated by 180 degrees and its channels swapped (the
 * transposed convolution), on wasm's XNNPACK convolution; a 1x1 stride-1 convolution is one
 * matMul. wasm's own kernel runs a plain loop (~30x slower on a 3x3 convolution of 72x72x32).
 */
export function conv2dBackpropInputFromOps(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad as never, dimRoundingMode, false, 'channelsLast');
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inHeight, inWidth, padInfo } = info;
    const [kh, kw, ci, co] = filter.shape;
    const p = padInfo;
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && !p.top && !p.bottom && !p.left && !p.right) {
      // dx = dy · Wᵀ over channels, with an explicit transpose (see BatchMatMul).
      const rows = dy.size / co;
      return tf.reshape(tf.matMul(tf.reshape(dy, [rows, co]), tf.transpose(tf.reshape(filter, [ci, co]))), inputShape) as tf.Tensor4D;
    }
    const z = spreadByStride(dy, sh, sw);
    const before = fh - 1 - padInfo.top;
    const beforeW = fw - 1 - padInfo.left;
    const zp = padOrCrop(z, before, inHeight + fh - 1 - before - z.shape[1], beforeW, inWidth + fw - 1 - beforeW - z.shape[2]);
    const rotated = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D; // [kh, kw, co, ci]
    return tf.conv2d(zp, rotated, 1, 'valid');
  });
}

/** Gradient of a depthwise convolution with respect to its input (NHWC). */
export function depthwiseBackpropInputFromOps(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: number | [number, number],
  pad: Pad,
  dilations?: number | [number, number],
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, pair(dilations), pad as never, dimRoundingMode, true);
    const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: fh, filterWidth: fw, inHeight, inWidth, padInfo } = info;
    const b = dy.shape[0];
    const [, , c, m] = filter.shape;
    // 1. Undo the stride: dy on a grid with (stride - 1) zeros between values.
    const z = spreadByStride(dy, sh, sw);
    // 2. dx[i] = sum_k z[i + padTop - k*d] w[k]: a 'valid' correlation with the flipped filter, of
    //    z padded by (fh-1)*d - padTop before and whatever makes the output inHeight after.
    const before = (fh - 1) * dh - padInfo.top;
    const beforeW = (fw - 1) * dw - padInfo.left;
    const zp = padOrCrop(z, before, inHeight + (fh - 1) * dh - before - z.shape[1], beforeW, inWidth + (fw - 1) * dw - beforeW - z.shape[2]);
    const flipped = tf.reverse(tf.reshape(filter, [fh, fw, c * m, 1]), [0, 1]) as tf.Tensor4D;
    const out = tf.depthwiseConv2d(zp, flipped, 1, 'valid', 'NHWC', [dh, dw]);
    return (m === 1 ? out : tf.sum(tf.reshape(out, [b, inHeight, inWidth, c, m]), 4)) as tf.Tensor4D;
  });
}

let registered: { added: string[]; accelerated: string[] } | undefined;

/**
 * Registers the missing gradient kernels and the faster wrappers for the 'wasm' backend.
 * Idempotent; safe to call before or after the backend is initialised. Returns what it changed.
 */
export function registerWasmTrainingKernels(): { added: string[]; accelerated: string[] } {
  if (registered) return { added: [], accelerated: [] };
  const added: string[] = [];
  const accelerated: string[] = [];
  const add = (kernelName: string, kernelFunc: tf.KernelFunc): void => {
    if (tf.getKernel(kernelName, 'wasm')) return;
    // tidy frees the tensors wrapping the inputs and every intermediate; the result is kept.
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: (args) => tf.tidy(() => kernelFunc(args) as tf.Tensor) });
    added.push(kernelName);
  };
  /** Wraps a wasm kernel: `fast` returns a tensor for the shapes it speeds up, undefined otherwise. */
  const accelerate = (kernelName: string, fast: (args: Parameters<tf.KernelFunc>[0]) => tf.Tensor | undefined): void => {
    const original = tf.getKernel(kernelName, 'wasm');
    if (!original) return;
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({
      ...original,
      kernelFunc: (args) => {
        const result = tf.tidy(() => {
          const t = fast(args);
          return t ? [t] : [];
        });
        return result.length ? result[0] : original.kernelFunc(args);
      },
    });
    accelerated.push(kernelName);
  };

  add('Conv2DBackpropFilter', ({ inputs, attrs }) => {
    const a = attrs as unknown as { strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: RoundingMode; filterShape: [number, number, number, number] };
    checkNhwc('Conv2DBackpropFilter', a.dataFormat);
    return conv2dBackpropFilterFromOps(asTensor(inputs.x) as tf.Tensor4D, asTensor(inputs.dy) as tf.Tensor4D, a.filterShape, a.strides, a.pad, a.dimRoundingMode);
  });
  add('DepthwiseConv2dNativeBackpropFilter', ({ inputs, attrs }) => {
    const a = attrs as unknown as { strides: number | [number, number]; pad: Pad; dilations?: number | [number, number]; dimRoundingMode?: RoundingMode; filterShape: [number, number, number, number] };
    return depthwiseBackpropFilterFromOps(asTensor(inputs.x) as tf.Tensor4D, asTensor(inputs.dy) as tf.Tensor4D, a.filterShape, a.strides, a.pad, a.dilations, a.dimRoundingMode);
  });
  add('DepthwiseConv2dNativeBackpropInput', ({ inputs, attrs }) => {
    const a = attrs as unknown as { strides: number | [number, number]; pad: Pad; dilations?: number | [number, number]; dimRoundingMode?: RoundingMode; inputShape: [number, number, number, number] };
    return depthwiseBackpropInputFromOps(a.inputShape, asTensor(inputs.dy) as tf.Tensor4D, asTensor(inputs.filter) as tf.Tensor4D, a.strides, a.pad, a.dilations, a.dimRoundingMode);
  });

  accelerate('BatchMatMul', ({ inputs, attrs }) => {
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return undefined;
    const a = asTensor(inputs.a);
    const b = asTensor(inputs.b);
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
    const swapLast = (t: tf.Tensor) => tf.transpose(t, [...t.shape.keys()].map((i, _, all) => (i < all.length - 2 ? i : i === all.length - 2 ? all.length - 1 : all.length - 2)));
    return tf.matMul(transposeA ? swapLast(a) : a, transposeB ? swapLast(b) : b);
  });
  accelerate('Tile', ({ inputs, attrs }) => {
    const x = asTensor(inputs.x);
    const { reps } = attrs as unknown as { reps: number[] };
    // A tile that only repeats size-1 axes is a broadcast: an add with zeros of the output shape.
    if (x.dtype !== 'float32' || !x.shape.every((d, i) => d === 1 || reps[i] === 1)) return undefined;
    return tf.add(tf.zeros(x.shape.map((d, i) => d * reps[i])), x);
  });
  accelerate('Conv2DBackpropInput', ({ inputs, attrs }) => {
    const a = attrs as unknown as { strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: RoundingMode; inputShape: [number, number, number, number] };
    if (a.dataFormat === 'NCHW') return undefined;
    return conv2dBackpropInputFromOps(a.inputShape, asTensor(inputs.dy) as tf.Tensor4D, asTensor(inputs.filter) as tf.Tensor4D, a.strides, a.pad, a.dimRoundingMode);
  });
  registered = { added, accelerated };
  return registered;
}
