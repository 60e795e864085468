/**
 * An independent reference implementation of the forward pass of Keras' MobileNet v1
 * (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
 * Applications", https://arxiv.org/abs/1704.04861), used only by tests to prove that ftk's
 * tf.layers MobileNet, its Keras weight loader and its preprocessing agree with Keras.
 *
 * Deliberately shares nothing with tfjs or with `src/models`: plain TypeScript, Float64
 * arithmetic on typed arrays, weights read straight from the Keras HDF5 file with h5wasm.
 *
 * Ported from Keras' `keras/src/applications/mobilenet.py` (`MobileNet`, `_conv_block`,
 * `_depthwise_conv_block`), inference mode (BatchNormalization uses its moving statistics,
 * Dropout only exists in the top, which is not computed here):
 *
 *   preprocess ('tf' mode): x / 127.5 - 1
 *   conv1:       Conv2D 3x3, stride 2, padding 'same' (TF rule: the odd pad goes bottom/right),
 *                no bias -> conv1_bn -> ReLU(6)
 *   block i=1..13:
 *     stride 1:  DepthwiseConv2D 3x3 'same'                             (conv_dw_i)
 *     stride 2:  ZeroPadding2D(((0, 1), (0, 1))) + DepthwiseConv2D 3x3 'valid' (conv_pad_i, conv_dw_i)
 *                -> conv_dw_i_bn -> ReLU(6)
 *                -> Conv2D 1x1 (conv_pw_i) -> conv_pw_i_bn -> ReLU(6)
 *     blocks 2, 4, 6 and 12 have stride 2.
 *   features:    global average pooling of conv_pw_13_relu.
 *
 * BatchNormalization (epsilon 1e-3, Keras' default): y = gamma * (x - mean) / sqrt(var + eps) + beta.
 * Channel counts (alpha, depth multiplier) are taken from the weight shapes.
 *
 * Porting note: for a stride-2 block Keras pads only bottom/right by one and convolves 'valid',
 * which equals TF 'same' for even sizes but not for odd ones (7 -> 3 rows, where 'same' gives 4);
 * this file follows Keras exactly for any size.
 */
import h5wasm from 'h5wasm/node';

/** Keras' BatchNormalization default epsilon (MobileNet does not override it). */
export const BN_EPSILON = 1e-3;
/** Blocks whose depthwise convolution has stride 2 (Keras' mobilenet.py). */
export const STRIDE_2_BLOCKS: readonly number[] = [2, 4, 6, 12];
/** Number of depthwise-separable blocks. */
export const NUM_BLOCKS = 13;

/** A weight array from the HDF5 file, widened to Float64. */
export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

/** An activation map in HWC layout. */
export interface RefActivation {
  height: number;
  width: number;
  channels: number;
  data: Float64Array;
}

interface BatchNormParams {
  gamma: Float64Array;
  beta: Float64Array;
  mean: Float64Array;
  variance: Float64Array;
}

interface ConvParams {
  /** HWIO kernel (or H, W, C, depthMultiplier for depthwise). */
  kernel: RefTensor;
  bn: BatchNormParams;
}

export interface MobileNetReference {
  /** Total number of weight values in the file (all layers). */
  readonly parameterCount: number;
  /** Channels of conv_pw_13 (= feature size; 256 for alpha 0.25). */
  readonly featureSize: number;
  /** All weights by their Keras name, e.g. 'conv1/kernel:0'. */
  readonly weights: ReadonlyMap<string, RefTensor>;
  /**
   * Global-average-pooled output of 'conv_pw_13_relu' for one RGB image (HWC, values 0..255,
   * default 224x224). Applies Keras' 'tf' preprocessing itself.
   */
  features(pixels: Float32Array, height?: number, width?: number): Float64Array;
  /**
   * Output of one Keras layer, by its Keras name ('conv1', 'conv1_bn', 'conv1_relu', 'conv_pad_2',
   * 'conv_dw_2', 'conv_dw_2_bn', 'conv_dw_2_relu', 'conv_pw_2', ..., 'conv_pw_13_relu'), or
   * 'input' for the preprocessed image. For layer-by-layer debugging.
   */
  layerOutput(pixels: Float32Array, layerName: string, height?: number, width?: number): RefActivation;
}

/** Reads every weight of a Keras HDF5 file (Keras 2 layout) into Float64 arrays. */
export async function readKerasWeights(h5Path: string): Promise<Map<string, RefTensor>> {
  await h5wasm.ready;
  const file = new h5wasm.File(h5Path, 'r');
  try {
    const layerNames = asStringList(file.attrs['layer_names']?.value, 'layer_names');
    const out = new Map<string, RefTensor>();
    for (const layer of layerNames) {
      const group = file.get(layer);
      if (group === null || !(group instanceof h5wasm.Group)) {
        throw new Error(`reference: layer group '${layer}' missing from ${h5Path}`);
      }
      const weightNames = asStringList(group.attrs['weight_names']?.value ?? [], `${layer}.weight_names`);
      for (const weightName of weightNames) {
        const ds = file.get(`${layer}/${weightName}`);
        if (ds === null || !(ds instanceof h5wasm.Dataset)) {
          throw new Error(`reference: dataset '${layer}/${weightName}' missing from ${h5Path}`);
        }
        const value = ds.value;
        if (!(value instanceof Float32Array) && !(value instanceof Float64Array)) {
          throw new Error(`reference: dataset '${layer}/${weightName}' is not float (${ds.dtype})`);
        }
        out.set(weightName, { shape: [...(ds.shape ?? [])], data: Float64Array.from(value) });
      }
    }
    return out;
  } finally {
    file.close();
  }
}

function asStringList(value: unknown, what: string): string[] {
  if (typeof value === 'string') return [value];
  // Keras writes an empty float64 array for layers without weights (e.g. 'input_1').
  if (ArrayBuffer.isView(value) && value.byteLength === 0) return [];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw new Error(`reference: attribute ${what} is not a list of strings`);
}

/** Loads the MobileNet v1 weights of a Keras `include_top=False` (or full) HDF5 file. */
export async function loadMobileNetReference(h5Path: string): Promise<MobileNetReference> {
  const weights = await readKerasWeights(h5Path);
  const need = (name: string): RefTensor => {
    const t = weights.get(name);
    if (t === undefined) throw new Error(`reference: weight '${name}' missing from ${h5Path}`);
    return t;
  };
  const bnOf = (layer: string, channels: number): BatchNormParams => {
    const get = (w: string, fallback: number): Float64Array => {
      const t = weights.get(`${layer}/${w}:0`);
      if (t === undefined) return new Float64Array(channels).fill(fallback);
      if (t.data.length !== channels) {
        throw new Error(`reference: ${layer}/${w} has ${t.data.length} values, expected ${channels}`);
      }
      return t.data;
    };
    if (!weights.has(`${layer}/moving_mean:0`)) throw new Error(`reference: ${layer} has no moving_mean`);
    return { gamma: get('gamma', 1), beta: get('beta', 0), mean: get('moving_mean', 0), variance: get('moving_variance', 1) };
  };

  const conv1Kernel = need('conv1/kernel:0');
  if (conv1Kernel.shape.length !== 4 || conv1Kernel.shape[0] !== 3 || conv1Kernel.shape[1] !== 3 || conv1Kernel.shape[2] !== 3) {
    throw new Error(`reference: conv1/kernel:0 has shape [${conv1Kernel.shape}], expected [3,3,3,C]`);
  }
  const conv1: ConvParams = { kernel: conv1Kernel, bn: bnOf('conv1_bn', conv1Kernel.shape[3]) };
  const blocks: { dw: ConvParams; pw: ConvParams; stride: number }[] = [];
  let channels = conv1Kernel.shape[3];
  for (let id = 1; id <= NUM_BLOCKS; id++) {
    const dwKernel = need(`conv_dw_${id}/depthwise_kernel:0`);
    const [kh, kw, cin, dm] = dwKernel.shape;
    if (dwKernel.shape.length !== 4 || kh !== 3 || kw !== 3 || cin !== channels) {
      throw new Error(`reference: conv_dw_${id} kernel shape [${dwKernel.shape}] does not follow ${channels} channels`);
    }
    const pwKernel = need(`conv_pw_${id}/kernel:0`);
    const [ph, pw, pin, pout] = pwKernel.shape;
    if (pwKernel.shape.length !== 4 || ph !== 1 || pw !== 1 || pin !== cin * dm) {
      throw new Error(`reference: conv_pw_${id} kernel shape [${pwKernel.shape}] does not follow ${cin * dm} channels`);
    }
    blocks.push({
      dw: { kernel: dwKernel, bn: bnOf(`conv_dw_${id}_bn`, cin * dm) },
      pw: { kernel: pwKernel, bn: bnOf(`conv_pw_${id}_bn`, pout) },
      stride: STRIDE_2_BLOCKS.includes(id) ? 2 : 1,
    });
    channels = pout;
  }
  let parameterCount = 0;
  for (const t of weights.values()) parameterCount += t.data.length;

  /**
   * Runs the network, calling `visit` after every Keras layer; stops early when `visit`
   * returns true.
   */
  const run = (
    pixels: Float32Array,
    height: number,
    width: number,
    visit: (name: string, a: RefActivation) => boolean,
  ): void => {
    if (pixels.length !== height * width * 3) {
      throw new Error(`reference: expected ${height}x${width}x3 = ${height * width * 3} pixel values, received ${pixels.length}`);
    }
    // 'tf' preprocessing: x / 127.5 - 1 (Keras imagenet_utils._preprocess_numpy_input).
    const input = new Float64Array(pixels.length);
    for (let i = 0; i < pixels.length; i++) input[i] = pixels[i] / 127.5 - 1;
    let x: RefActivation = { height, width, channels: 3, data: input };
    if (visit('input', x)) return;

    // conv1: TF 'same' with stride 2.
    const outH = Math.ceil(height / 2);
    const outW = Math.ceil(width / 2);
    const padTop = Math.floor(Math.max((outH - 1) * 2 + 3 - height, 0) / 2);
    const padLeft = Math.floor(Math.max((outW - 1) * 2 + 3 - width, 0) / 2);
    x = conv2d(x, conv1.kernel, 2, padTop, padLeft, outH, outW);
    if (visit('conv1', x)) return;
    batchNorm(x, conv1.bn);
    if (visit('conv1_bn', x)) return;
    relu6(x);
    if (visit('conv1_relu', x)) return;

    for (let i = 0; i < blocks.length; i++) {
      const id = i + 1;
      const { dw, pw, stride } = blocks[i];
      if (stride === 1) {
        // 'same', stride 1, 3x3: one zero on every side.
        x = depthwiseConv2d(x, dw.kernel, 1, 1, 1, x.height, x.width);
      } else {
        // ZeroPadding2D(((0, 1), (0, 1))) then 'valid': padded size H + 1.
        if (visit(`conv_pad_${id}`, zeroPadBottomRight(x))) return;
        const oh = Math.floor((x.height + 1 - 3) / 2) + 1;
        const ow = Math.floor((x.width + 1 - 3) / 2) + 1;
        x = depthwiseConv2d(x, dw.kernel, 2, 0, 0, oh, ow);
      }
      if (visit(`conv_dw_${id}`, x)) return;
      batchNorm(x, dw.bn);
      if (visit(`conv_dw_${id}_bn`, x)) return;
      relu6(x);
      if (visit(`conv_dw_${id}_relu`, x)) return;
      x = pointwiseConv(x, pw.kernel);
      if (visit(`conv_pw_${id}`, x)) return;
      batchNorm(x, pw.bn);
      if (visit(`conv_pw_${id}_bn`, x)) return;
      relu6(x);
      if (visit(`conv_pw_${id}_relu`, x)) return;
    }
  };

  const last = `conv_pw_${NUM_BLOCKS}_relu`;
  return {
    parameterCount,
    featureSize: channels,
    weights,
    features(pixels, height = 224, width = 224) {
      let result: Float64Array | undefined;
      run(pixels, height, width, (name, a) => {
        if (name !== last) return false;
        result = globalAveragePool(a);
        return true;
      });
      return result!;
    },
    layerOutput(pixels, layerName, height = 224, width = 224) {
      let result: RefActivation | undefined;
      run(pixels, height, width, (name, a) => {
        if (name !== layerName) return false;
        result = { ...a, data: Float64Array.from(a.data) };
        return true;
      });
      if (result === undefined) throw new Error(`reference: no layer named '${layerName}'`);
      return result;
    },
  };
}

/** Full convolution, HWC input, HWIO kernel, zero padding (padTop/padLeft; bottom/right implied by out size). */
function conv2d(
  x: RefActivation,
  kernel: RefTensor,
  stride: number,
  padTop: number,
  padLeft: number,
  outH: number,
  outW: number,
): RefActivation {
  const [kh, kw, cin, cout] = kernel.shape;
  if (cin !== x.channels) throw new Error(`reference: conv expects ${cin} channels, received ${x.channels}`);
  const w = kernel.data;
  const out = new Float64Array(outH * outW * cout);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const o = (oy * outW + ox) * cout;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * stride - padTop + ky;
        if (iy < 0 || iy >= x.height) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * stride - padLeft + kx;
          if (ix < 0 || ix >= x.width) continue;
          const inBase = (iy * x.width + ix) * cin;
          const wBase = (ky * kw + kx) * cin * cout;
          for (let ci = 0; ci < cin; ci++) {
            const v = x.data[inBase + ci];
            if (v === 0) continue;
            const wRow = wBase + ci * cout;
            for (let co = 0; co < cout; co++) out[o + co] += v * w[wRow + co];
          }
        }
      }
    }
  }
  return { height: outH, width: outW, channels: cout, data: out };
}

/** Depthwise convolution; kernel [kh, kw, C, depthMultiplier]; output channel c * dm + m (Keras/TF order). */
function depthwiseConv2d(
  x: RefActivation,
  kernel: RefTensor,
  stride: number,
  padTop: number,
  padLeft: number,
  outH: number,
  outW: number,
): RefActivation {
  const [kh, kw, c, dm] = kernel.shape;
  const w = kernel.data;
  const cout = c * dm;
  const out = new Float64Array(outH * outW * cout);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const o = (oy * outW + ox) * cout;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * stride - padTop + ky;
        if (iy < 0 || iy >= x.height) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * stride - padLeft + kx;
          if (ix < 0 || ix >= x.width) continue;
          const inBase = (iy * x.width + ix) * c;
          const wBase = (ky * kw + kx) * c * dm;
          if (dm === 1) {
            for (let ch = 0; ch < c; ch++) out[o + ch] += x.data[inBase + ch] * w[wBase + ch];
          } else {
            for (let ch = 0; ch < c; ch++) {
              const v = x.data[inBase + ch];
              for (let m = 0; m < dm; m++) out[o + ch * dm + m] += v * w[wBase + ch * dm + m];
            }
          }
        }
      }
    }
  }
  return { height: outH, width: outW, channels: cout, data: out };
}

/** 1x1 convolution, stride 1, no bias. */
function pointwiseConv(x: RefActivation, kernel: RefTensor): RefActivation {
  const cin = kernel.shape[2];
  const cout = kernel.shape[3];
  if (cin !== x.channels) throw new Error(`reference: pointwise conv expects ${cin} channels, received ${x.channels}`);
  const w = kernel.data;
  const pixels = x.height * x.width;
  const out = new Float64Array(pixels * cout);
  for (let p = 0; p < pixels; p++) {
    const inBase = p * cin;
    const o = p * cout;
    for (let ci = 0; ci < cin; ci++) {
      const v = x.data[inBase + ci];
      if (v === 0) continue; // frequent after ReLU
      const wRow = ci * cout;
      for (let co = 0; co < cout; co++) out[o + co] += v * w[wRow + co];
    }
  }
  return { height: x.height, width: x.width, channels: cout, data: out };
}

/** Inference-mode BatchNormalization, in place: gamma * (x - mean) / sqrt(var + eps) + beta. */
function batchNorm(x: RefActivation, bn: BatchNormParams): void {
  const c = x.channels;
  const invStd = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) invStd[ch] = 1 / Math.sqrt(bn.variance[ch] + BN_EPSILON);
  const d = x.data;
  for (let i = 0; i < d.length; i += c) {
    for (let ch = 0; ch < c; ch++) d[i + ch] = bn.gamma[ch] * (d[i + ch] - bn.mean[ch]) * invStd[ch] + bn.beta[ch];
  }
}

/** Keras ReLU(max_value=6), in place. */
function relu6(x: RefActivation): void {
  const d = x.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    d[i] = v < 0 ? 0 : v > 6 ? 6 : v;
  }
}

/** ZeroPadding2D(((0, 1), (0, 1))): one row of zeros at the bottom, one column at the right. */
function zeroPadBottomRight(x: RefActivation): RefActivation {
  const h = x.height + 1;
  const w = x.width + 1;
  const c = x.channels;
  const out = new Float64Array(h * w * c);
  for (let y = 0; y < x.height; y++) {
    out.set(x.data.subarray(y * x.width * c, (y + 1) * x.width * c), y * w * c);
  }
  return { height: h, width: w, channels: c, data: out };
}

/** Mean over all spatial positions, per channel. */
function globalAveragePool(x: RefActivation): Float64Array {
  const c = x.channels;
  const out = new Float64Array(c);
  const n = x.height * x.width;
  for (let p = 0; p < n; p++) for (let ch = 0; ch < c; ch++) out[ch] += x.data[p * c + ch];
  for (let ch = 0; ch < c; ch++) out[ch] /= n;
  return out;
}
