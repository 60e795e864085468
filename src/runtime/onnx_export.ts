/**
 * In-process exporter from a TF.js layers model (ftk's zoo, or a user's functional or Sequential
 * model) to an ONNX graph, so that ONNX Runtime can run it. No Python, no converter process.
 *
 * Supported layers (Keras class names), with the ONNX operators they become:
 *
 * | layer | ONNX |
 * |---|---|
 * | Conv2D, DepthwiseConv2D, SeparableConv2D | Conv (group = channels for depthwise) |
 * | BatchNormalization (channel axis) | BatchNormalization (inference form) |
 * | ReLU (maxValue), Activation, LeakyReLU, ELU, ThresholdedReLU, Softmax; fused `activation` of Conv/Dense | Relu, Clip, Sigmoid, Tanh, Softmax, Elu, Selu, Softplus, Softsign, HardSigmoid, LeakyRelu, Erf... |
 * | ZeroPadding2D | Pad (constant 0) |
 * | MaxPooling2D, AveragePooling2D ('valid', 'same') | MaxPool, AveragePool (count_include_pad = 0, as TF's 'SAME') |
 * | GlobalAveragePooling2D, GlobalMaxPooling2D | GlobalAveragePool / GlobalMaxPool + Flatten |
 * | Add, Multiply, Average, Maximum, Minimum, Concatenate | Add/Mul/Mean/Max/Min, Concat |
 * | Dense | Gemm (2-D input) or MatMul + Add |
 * | Flatten, Reshape | Transpose to NHWC order + Flatten / Reshape |
 * | Dropout, SpatialDropout1D, GaussianNoise, GaussianDropout, AlphaDropout | nothing (identity at inference) |
 * | Rescaling | Mul + Add |
 * | a model used as a layer | its layers, inlined |
 *
 * Layout: Keras tensors are NHWC; ONNX convolutions are NCHW. The graph takes the model's NHWC
 * input as it is, transposes it once, computes every 4-D tensor in NCHW, and transposes back only
 * where a layer needs Keras' element order (Flatten, Reshape, Dense on 4-D input, the output).
 * Convolution kernels are permuted at export ([kh, kw, in, out] -> [out, in, kh, kw]; depthwise
 * [kh, kw, in, m] -> [in*m, 1, kh, kw]). 'same' padding is written as explicit pads computed the
 * way TF computes them (the odd pixel at the bottom/right), so outputs match TF.js; pools use
 * `auto_pad` (SAME_UPPER is TF's 'same') so that ONNX Runtime never folds a zero Pad into them.
 *
 * Graph: opset 13, IR version 7, one input `input` [batch, H, W, C] float32, one output `output`
 * (the model's output shape, batch first; `output_1`, ... for the further outputs of a model with
 * several). Weights are stored as raw little-endian float32.
 * Format notes: src/formats/README.md, "ONNX export".
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors.js';
import { shortWeightName } from '../models/weights.js';
import { AttributeType, DataType, encodeModel, IR_VERSION, type Attribute, type Node, type Tensor, type ValueInfo } from './onnx_proto.js';
import { packageInfo } from './package_info.js';

/** ONNX operator set the exporter writes (ONNX 1.8, 2020; every ONNX Runtime since 1.6). */
export const ONNX_OPSET = 13;
/** Changes whenever the exporter writes different graphs: part of the exported file's cache key. */
export const EXPORTER_VERSION = 1;

export interface OnnxExportOptions {
  /** Extra `metadata_props` stored in the file (e.g. the backbone fingerprint). Default none. */
  metadata?: Record<string, string>;
  /**
   * Weight values read beforehand, by weight variable (`exportOnnxAsync` fills it). Default: read
   * with `dataSync`, which a backend holding its tensors on a GPU (webgpu in Node) cannot do.
   */
  weightValues?: ReadonlyMap<object, Float32Array>;
}

export interface OnnxExport {
  /** The serialized ModelProto. */
  bytes: Uint8Array;
  inputName: string;
  /** The first output's name ('output'). */
  outputName: string;
  /** Every output, in the model's order: 'output', then 'output_1', 'output_2', ... */
  outputNames: string[];
  /** NHWC input shape, null for the batch (and any other unknown) dimension. */
  inputShape: (number | null)[];
  /** The first output's shape. */
  outputShape: (number | null)[];
  /** ONNX nodes written. */
  nodeCount: number;
  opset: number;
}

/** A model (or layer) the exporter cannot translate. `layers` lists every offending layer. */
export class OnnxExportError extends RuntimeError {
  readonly layers: { name: string; className: string; reason: string }[];

  constructor(layers: { name: string; className: string; reason: string }[], message?: string) {
    const first = layers.slice(0, 3).map((l) => `${l.name} (${l.className}: ${l.reason})`).join(', ');
    super(message ?? `Cannot export to ONNX: ${layers.length} layer(s) not supported: ${first}${layers.length > 3 ? ', ...' : ''}.`, {
      code: 'ONNX_EXPORT_UNSUPPORTED',
      suggestion: 'Use --runtime tfjs to run this model with TF.js (slower), or replace the layer with a supported one (see src/runtime/onnx_export.ts).',
    });
    this.layers = layers;
  }
}

type Layout = 'nchw' | 'keras';

/** A value of the ONNX graph standing for a Keras tensor. */
interface Value {
  name: string;
  /** Keras shape (NHWC for images), batch first. */
  shape: (number | null)[];
  /** 'nchw': a rank-4 Keras tensor stored channels-first; 'keras': stored in Keras' order. */
  layout: Layout;
}

const IDENTITY_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'InputLayer']);
const MERGE_OPS: Record<string, string> = { Add: 'Add', Multiply: 'Mul', Average: 'Mean', Maximum: 'Max', Minimum: 'Min' };
const ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'softmax', 'elu', 'selu', 'softplus', 'softsign', 'hardSigmoid', 'swish', 'mish', 'gelu', 'gelu_new']);

/** Why a layer cannot be exported, or undefined when it can (the checks of `convertLayer`, up front). */
function unsupportedReason(layer: tf.layers.Layer): string | undefined {
  if (layer instanceof tf.LayersModel) return undefined;
  const cls = layer.getClassName();
  const config = layer.getConfig() as Record<string, unknown>;
  if (config.dataFormat === 'channelsFirst') return "dataFormat 'channelsFirst'";
  const activation = config.activation as string | undefined;
  if (activation !== undefined && !ACTIVATIONS.has(activation)) return `activation '${activation}'`;
  switch (cls) {
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D': {
      if (config.padding === 'causal') return "padding 'causal'";
      return undefined;
    }
    case 'BatchNormalization': {
      const axis = config.axis as number;
      const rank = layer.inboundNodes[0]?.inputTensors[0]?.shape.length ?? 4;
      return axis === -1 || axis === rank - 1 ? undefined : `axis ${axis} (only the channel axis)`;
    }
    case 'ReLU':
    case 'LeakyReLU':
    case 'ELU':
    case 'ThresholdedReLU':
    case 'Softmax':
    case 'ZeroPadding2D':
    case 'MaxPooling2D':
    case 'AveragePooling2D':
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
    case 'Concatenate':
    case 'Dense':
    case 'Flatten':
    case 'Reshape':
    case 'Rescaling':
    case 'Activation':
      return undefined;
    default:
      if (cls in MERGE_OPS || IDENTITY_LAYERS.has(cls)) return undefined;
      return 'no ONNX translation';
  }
}

/** Every layer of `model` (inlining nested models) that cannot be exported. */
export function unsupportedLayers(model: tf.LayersModel): { name: string; className: string; reason: string }[] {
  const out: { name: string; className: string; reason: string }[] = [];
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) {
      out.push(...unsupportedLayers(layer));
      continue;
    }
    const reason = unsupportedReason(layer);
    if (reason) out.push({ name: layer.name, className: layer.getClassName(), reason });
  }
  return out;
}

/**
 * Translates a single-input layers model into an ONNX model: its output is `output`; a model with
 * several outputs (a fine-tuned network returning its probabilities and its features) also gets
 * `output_1`, `output_2`, ... in its order, computed in the same graph.
 *
 * Cost: one pass over the layers; the weights are read from the backend synchronously and copied
 * once into the protobuf (about the size of the weight file).
 *
 * @throws OnnxExportError naming every layer that has no translation (checked before any work).
 * @example
 * const { bytes } = exportOnnx(MobileNet({ includeTop: false, pooling: 'avg' }));
 * const session = await ort.InferenceSession.create(bytes);
 */
export function exportOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): OnnxExport {
  const bad = unsupportedLayers(model);
  if (bad.length) throw new OnnxExportError(bad);
  if (model.inputs.length !== 1) {
    throw new OnnxExportError([], `Cannot export to ONNX: the model has ${model.inputs.length} inputs; ftk exports models with one.`);
  }
  const outputNames = model.outputs.map((_, i) => (i === 0 ? 'output' : `output_${i}`));
  const g = new GraphBuilder(options.weightValues, outputNames);
  const input = model.inputs[0];
  const inputValue: Value = { name: 'input', shape: [...input.shape], layout: 'keras' };
  const outputs = g.emitModel(model, [inputValue]);
  outputs.forEach((o, i) => g.node('Identity', [g.toKeras(o).name], [outputNames[i]], {}, outputNames[i]));
  const output = outputs[0];

  const inputInfo = valueInfo('input', ['batch', ...input.shape.slice(1)]);
  const pkg = packageInfo();
  const bytes = encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'ftk',
    producerVersion: `${pkg.version} (exporter ${EXPORTER_VERSION})`,
    graph: {
      name: model.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [inputInfo],
      output: outputs.map((o, i) => valueInfo(outputNames[i], ['batch', ...o.shape.slice(1)])),
    },
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return {
    bytes,
    inputName: 'input',
    outputName: 'output',
    outputNames,
    inputShape: [...input.shape],
    outputShape: [...output.shape],
    nodeCount: g.nodes.length,
    opset: ONNX_OPSET,
  };
}

function valueInfo(name: string, dims: (number | string | null)[]): ValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d ?? 'unk' })) },
      },
    },
  };
}

function floatTensor(name: string, dims: number[], values: Float32Array): Tensor {
  const copy = new Float32Array(values); // own, aligned buffer
  return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(copy.buffer) };
}

function int64Tensor(name: string, values: number[]): Tensor {
  const data = new BigInt64Array(values.map((v) => BigInt(v)));
  return { name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(data.buffer) };
}

function attr(name: string, value: number | number[] | string, kind: 'int' | 'float' = 'int'): Attribute {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) {
    return kind === 'int' ? { name, type: AttributeType.INTS, ints: value } : { name, type: AttributeType.FLOATS, floats: value };
  }
  return kind === 'int' ? { name, type: AttributeType.INT, i: value } : { name, type: AttributeType.FLOAT, f: value };
}

/** TF's 'same' padding of one spatial axis: [before, after] (the odd pixel goes after). */
function samePads(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0] as number, (v[1] ?? v[0]) as number] : [v as number, v as number]);

/** Weights of a layer by their short Keras name (`kernel`, `gamma`, `moving_mean`, ...). */
function layerWeights(layer: tf.layers.Layer, known?: ReadonlyMap<object, Float32Array>): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const w of layer.weights) {
    const t = w.read();
    out.set(shortWeightName(w.originalName ?? w.name), { shape: t.shape as number[], values: known?.get(w) ?? (t.dataSync() as Float32Array) });
  }
  return out;
}

/**
 * `exportOnnx` for a model whose weights may live on a GPU: reads every weight asynchronously
 * first (TF.js' webgpu backend in Node cannot read a GPU buffer synchronously).
 */
export async function exportOnnxAsync(model: tf.LayersModel, options: OnnxExportOptions = {}): Promise<OnnxExport> {
  const values = new Map<object, Float32Array>();
  for (const w of model.weights) values.set(w, (await w.read().data()) as Float32Array);
  return exportOnnx(model, { ...options, weightValues: values });
}

class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Tensor[] = [];
  private readonly used: Set<string>;

  constructor(
    private readonly weightValues?: ReadonlyMap<object, Float32Array>,
    outputNames: readonly string[] = ['output'],
  ) {
    this.used = new Set(['input', ...outputNames]);
  }

  /** A fresh value name based on `base`. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, Attribute['i'] | number[] | string | { f: number } | { fs: number[] }> = {}, name?: string): void {
    const attribute: Attribute[] = [];
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined) continue;
      if (typeof v === 'object' && !Array.isArray(v)) attribute.push('f' in v ? attr(k, v.f, 'float') : attr(k, v.fs, 'float'));
      else attribute.push(attr(k, v as number | number[] | string));
    }
    this.nodes.push({ input: inputs, output: outputs, name: name ?? outputs[0], opType, attribute });
  }

  /** Adds an op with one output value; returns it. */
  op(opType: string, inputs: string[], base: string, shape: (number | null)[], layout: Layout, attrs: Parameters<GraphBuilder['node']>[3] = {}): Value {
    const name = this.fresh(base);
    this.node(opType, inputs, [name], attrs);
    return { name, shape, layout };
  }

  constant(base: string, dims: number[], values: Float32Array): string {
    const name = this.fresh(base);
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  constantInt64(base: string, values: number[]): string {
    const name = this.fresh(base);
    this.initializers.push(int64Tensor(name, values));
    return name;
  }

  /** The value in NCHW order (rank-4 values only). */
  toNchw(v: Value): Value {
    if (v.shape.length !== 4 || v.layout === 'nchw') return v;
    return this.op('Transpose', [v.name], `${v.name}_nchw`, v.shape, 'nchw', { perm: [0, 3, 1, 2] });
  }

  /** The value in Keras' (NHWC) order. */
  toKeras(v: Value): Value {
    if (v.layout === 'keras') return v;
    return this.op('Transpose', [v.name], `${v.name}_nhwc`, v.shape, 'keras', { perm: [0, 2, 3, 1] });
  }

  /** ONNX axis of Keras axis `axis` of value `v`. */
  axis(v: Value, axis: number): number {
    const rank = v.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    if (v.layout !== 'nchw') return a;
    return [0, 2, 3, 1][a];
  }

  /** Emits a (sub)model's layers with `inputs` bound to its inputs; returns its outputs. */
  emitModel(model: tf.LayersModel, inputs: Value[]): Value[] {
    const values = new Map<tf.SymbolicTensor, Value>();
    model.inputs.forEach((t, i) => values.set(t, inputs[i]));
    const visit = (t: tf.SymbolicTensor): Value => {
      const known = values.get(t);
      if (known) return known;
      const layer = t.sourceLayer as tf.layers.Layer;
      const node = layer.inboundNodes[t.nodeIndex];
      const ins = node.inputTensors.map(visit);
      const outs = this.emitLayer(layer, ins, node.outputTensors);
      node.outputTensors.forEach((o, i) => values.set(o, outs[i]));
      return values.get(t)!;
    };
    return model.outputs.map(visit);
  }

  private emitLayer(layer: tf.layers.Layer, inputs: Value[], outputs: tf.SymbolicTensor[]): Value[] {
    if (layer instanceof tf.LayersModel) return this.emitModel(layer, inputs);
    const cls = layer.getClassName();
    const c = layer.getConfig() as Record<string, any>;
    const outShape = [...outputs[0].shape];
    const name = layer.name;
    const x = inputs[0];
    if (IDENTITY_LAYERS.has(cls)) return [x];
    if (cls in MERGE_OPS) {
      // Keras merge layers take same-shaped inputs: bring them to one layout.
      const layout = inputs.some((v) => v.layout === 'nchw') ? 'nchw' : 'keras';
      const names = inputs.map((v) => (layout === 'nchw' ? this.toNchw(v) : v).name);
      const op = MERGE_OPS[cls];
      if (names.length === 2 || op === 'Mean' || op === 'Max' || op === 'Min') {
        return [this.op(op, names, name, outShape, layout)];
      }
      // Add/Mul of 3+ inputs: a chain, left to right as TF.js sums.
      let acc = names[0];
      for (let i = 1; i < names.length; i++) {
        const v = this.op(op, [acc, names[i]], i === names.length - 1 ? name : `${name}_${i}`, outShape, layout);
        acc = v.name;
      }
      return [{ name: acc, shape: outShape, layout }];
    }
    switch (cls) {
      case 'Conv2D':
      case 'DepthwiseConv2D':
      case 'SeparableConv2D':
        return [this.activation(this.conv(layer, cls, c, this.toNchw(x), outShape), c.activation, name, -1)];
      case 'BatchNormalization': {
        const w = layerWeights(layer, this.weightValues);
        const channels = x.shape[x.shape.length - 1] as number;
        const v = x.shape.length === 4 ? this.toNchw(x) : x;
        const gamma = w.get('gamma')?.values ?? new Float32Array(channels).fill(1);
        const beta = w.get('beta')?.values ?? new Float32Array(channels);
        const ins = [
          v.name,
          this.constant(`${name}/gamma`, [channels], gamma),
          this.constant(`${name}/beta`, [channels], beta),
          this.constant(`${name}/moving_mean`, [channels], w.get('moving_mean')!.values),
          this.constant(`${name}/moving_variance`, [channels], w.get('moving_variance')!.values),
        ];
        if (x.shape.length === 2 || x.shape.length === 4) {
          return [this.op('BatchNormalization', ins, name, outShape, v.layout, { epsilon: { f: c.epsilon } })];
        }
        // Rank 3 (or other): y = (x - mean) / sqrt(var + eps) * gamma + beta along the last axis, as elementwise ops.
        const variance = w.get('moving_variance')!.values;
        const scale = new Float32Array(channels);
        const shift = new Float32Array(channels);
        const mean = w.get('moving_mean')!.values;
        for (let i = 0; i < channels; i++) {
          scale[i] = gamma[i] / Math.sqrt(variance[i] + c.epsilon);
          shift[i] = beta[i] - mean[i] * scale[i];
        }
        const k = this.toKeras(x);
        const m = this.op('Mul', [k.name, this.constant(`${name}/scale`, [channels], scale)], `${name}_scaled`, outShape, 'keras');
        return [this.op('Add', [m.name, this.constant(`${name}/shift`, [channels], shift)], name, outShape, 'keras')];
      }
      case 'Activation':
        return [this.activation(x, c.activation, name, -1, true)];
      case 'ReLU': {
        if (c.maxValue == null) return [this.op('Relu', [x.name], name, outShape, x.layout)];
        return [this.clip(x, 0, c.maxValue, name)];
      }
      case 'LeakyReLU':
        return [this.op('LeakyRelu', [x.name], name, outShape, x.layout, { alpha: { f: c.alpha } })];
      case 'ELU':
        return [this.op('Elu', [x.name], name, outShape, x.layout, { alpha: { f: c.alpha } })];
      case 'ThresholdedReLU':
        return [this.op('ThresholdedRelu', [x.name], name, outShape, x.layout, { alpha: { f: c.theta } })];
      case 'Softmax':
        return [this.op('Softmax', [x.name], name, outShape, x.layout, { axis: this.axis(x, Array.isArray(c.axis) ? c.axis[0] : (c.axis ?? -1)) })];
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = c.padding as [[number, number], [number, number]];
        const v = this.toNchw(x);
        const pads = this.constantInt64(`${name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
        return [this.op('Pad', [v.name, pads], name, outShape, 'nchw', { mode: 'constant' })];
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const v = this.toNchw(x);
        const kernel = pair(c.poolSize);
        const strides = pair(c.strides ?? c.poolSize);
        // auto_pad, not explicit pads: ONNX Runtime's PadFusion folds a preceding zero Pad into a
        // pool's explicit pads, which is wrong for pools (MaxPool pads with -inf, AveragePool with
        // count_include_pad=0 excludes them) and can even give pads >= kernel (measured with
        // onnxruntime-node 1.30). It skips nodes whose auto_pad is set. SAME_UPPER is TF's 'same'.
        const attrs: Parameters<GraphBuilder['node']>[3] = { kernel_shape: kernel, strides, auto_pad: c.padding === 'same' ? 'SAME_UPPER' : 'VALID' };
        if (cls === 'AveragePooling2D') attrs.count_include_pad = 0;
        return [this.op(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [v.name], name, outShape, 'nchw', attrs)];
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        const v = this.toNchw(x);
        const pooled = this.op(cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [v.name], `${name}_4d`, [outShape[0], 1, 1, outShape[1]], 'nchw');
        return [this.op('Flatten', [pooled.name], name, outShape, 'keras', { axis: 1 })];
      }
      case 'Concatenate': {
        const rank = x.shape.length;
        const layout: Layout = rank === 4 ? 'nchw' : 'keras';
        const vs = inputs.map((v) => (layout === 'nchw' ? this.toNchw(v) : this.toKeras(v)));
        return [this.op('Concat', vs.map((v) => v.name), name, outShape, layout, { axis: this.axis(vs[0], c.axis ?? -1) })];
      }
      case 'Dense': {
        const w = layerWeights(layer, this.weightValues);
        const kernel = w.get('kernel')!;
        const bias = w.get('bias');
        const k = this.toKeras(x);
        let y: Value;
        if (k.shape.length === 2) {
          const ins = [k.name, this.constant(`${name}/kernel`, kernel.shape, kernel.values)];
          if (bias) ins.push(this.constant(`${name}/bias`, bias.shape, bias.values));
          y = this.op('Gemm', ins, c.activation === 'linear' ? name : `${name}_linear`, outShape, 'keras');
        } else {
          y = this.op('MatMul', [k.name, this.constant(`${name}/kernel`, kernel.shape, kernel.values)], bias ? `${name}_matmul` : name, outShape, 'keras');
          if (bias) y = this.op('Add', [y.name, this.constant(`${name}/bias`, bias.shape, bias.values)], c.activation === 'linear' ? name : `${name}_linear`, outShape, 'keras');
        }
        return [this.activation(y, c.activation, name, -1)];
      }
      case 'Flatten': {
        const k = this.toKeras(x);
        return [this.op('Flatten', [k.name], name, outShape, 'keras', { axis: 1 })];
      }
      case 'Reshape': {
        const k = this.toKeras(x);
        const shape = this.constantInt64(`${name}/shape`, [0, ...(c.targetShape as number[]).map((d) => (d == null ? -1 : d))]);
        return [this.op('Reshape', [k.name, shape], name, outShape, 'keras')];
      }
      case 'Rescaling': {
        const scaled = this.op('Mul', [x.name, this.constant(`${name}/scale`, [], Float32Array.of(c.scale))], `${name}_scaled`, outShape, x.layout);
        if (!c.offset) return [scaled];
        return [this.op('Add', [scaled.name, this.constant(`${name}/offset`, [], Float32Array.of(c.offset))], name, outShape, x.layout)];
      }
      default:
        throw new OnnxExportError([{ name, className: cls, reason: 'no ONNX translation' }]);
    }
  }

  /** Explicit pads (or none) for a pooling/conv window over an NCHW value. */
  private spatialPads(v: Value, padding: string, kernel: [number, number], strides: [number, number], dilation: [number, number]): { pads?: number[]; auto_pad?: string } {
    // Explicit zeros for 'valid': a preceding ZeroPadding2D then folds into the convolution (exact for Conv).
    if (padding !== 'same') return { pads: [0, 0, 0, 0] };
    const [h, w] = [v.shape[1], v.shape[2]];
    if (h == null || w == null) return { auto_pad: 'SAME_UPPER' };
    const [top, bottom] = samePads(h, kernel[0], strides[0], dilation[0]);
    const [left, right] = samePads(w, kernel[1], strides[1], dilation[1]);
    return { pads: [top, left, bottom, right] };
  }

  private conv(layer: tf.layers.Layer, cls: string, c: Record<string, any>, v: Value, outShape: (number | null)[]): Value {
    const w = layerWeights(layer, this.weightValues);
    const kernel = pair(c.kernelSize);
    const strides = pair(c.strides);
    const dilations = pair(c.dilationRate ?? 1);
    const pads = this.spatialPads(v, c.padding, kernel, strides, dilations);
    const name = layer.name;
    const inChannels = v.shape[3] as number;
    const bias = w.get('bias');
    const finalName = c.activation === 'linear' ? name : `${name}_linear`;
    if (cls === 'Conv2D') {
      const k = w.get('kernel')!;
      const ins = [v.name, this.constant(`${name}/kernel`, [k.shape[3], k.shape[2], kernel[0], kernel[1]], permute(k.values, k.shape, [3, 2, 0, 1]))];
      if (bias) ins.push(this.constant(`${name}/bias`, bias.shape, bias.values));
      return this.op('Conv', ins, finalName, outShape, 'nchw', { kernel_shape: kernel, strides, dilations, group: 1, ...pads });
    }
    const dk = w.get('depthwise_kernel')!;
    const multiplier = dk.shape[3];
    // [kh, kw, in, m] -> [in*m, 1, kh, kw]: output channel g*m + j reads input channel g, as TF.
    const dwValues = permute(dk.values, dk.shape, [2, 3, 0, 1]);
    const dwIns = [v.name, this.constant(`${name}/depthwise_kernel`, [inChannels * multiplier, 1, kernel[0], kernel[1]], dwValues)];
    if (cls === 'DepthwiseConv2D') {
      if (bias) dwIns.push(this.constant(`${name}/bias`, bias.shape, bias.values));
      return this.op('Conv', dwIns, finalName, outShape, 'nchw', { kernel_shape: kernel, strides, dilations, group: inChannels, ...pads });
    }
    // SeparableConv2D: depthwise (no bias) then a 1x1 pointwise convolution with the bias.
    const mid = [outShape[0], outShape[1], outShape[2], inChannels * multiplier];
    const dw = this.op('Conv', dwIns, `${name}_depthwise`, mid, 'nchw', { kernel_shape: kernel, strides, dilations, group: inChannels, ...pads });
    const pk = w.get('pointwise_kernel')!;
    const pwIns = [dw.name, this.constant(`${name}/pointwise_kernel`, [pk.shape[3], pk.shape[2], 1, 1], permute(pk.values, pk.shape, [3, 2, 0, 1]))];
    if (bias) pwIns.push(this.constant(`${name}/bias`, bias.shape, bias.values));
    return this.op('Conv', pwIns, finalName, outShape, 'nchw', { kernel_shape: [1, 1], strides: [1, 1], group: 1, pads: [0, 0, 0, 0] });
  }

  private clip(x: Value, min: number, max: number, name: string): Value {
    const lo = this.constant(`${name}/min`, [], Float32Array.of(min));
    const hi = this.constant(`${name}/max`, [], Float32Array.of(max));
    return this.op('Clip', [x.name, lo, hi], name, x.shape, x.layout);
  }

  /**
   * Applies a Keras activation (by its TF.js name) to `x`. `force` names the result `name` even
   * for 'linear' (the Activation layer); `axis` is the Keras axis of softmax.
   */
  private activation(x: Value, activation: string | undefined, name: string, axis: number, force = false): Value {
    const s = x.shape;
    const l = x.layout;
    switch (activation ?? 'linear') {
      case 'linear':
        return force ? this.op('Identity', [x.name], name, s, l) : x;
      case 'relu':
        return this.op('Relu', [x.name], name, s, l);
      case 'relu6':
        return this.clip(x, 0, 6, name);
      case 'sigmoid':
        return this.op('Sigmoid', [x.name], name, s, l);
      case 'tanh':
        return this.op('Tanh', [x.name], name, s, l);
      case 'softmax':
        return this.op('Softmax', [x.name], name, s, l, { axis: this.axis(x, axis) });
      case 'elu':
        return this.op('Elu', [x.name], name, s, l, { alpha: { f: 1 } });
      case 'selu':
        return this.op('Selu', [x.name], name, s, l);
      case 'softplus':
        return this.op('Softplus', [x.name], name, s, l);
      case 'softsign':
        return this.op('Softsign', [x.name], name, s, l);
      case 'hardSigmoid':
        return this.op('HardSigmoid', [x.name], name, s, l, { alpha: { f: 0.2 }, beta: { f: 0.5 } });
      case 'swish': {
        const sig = this.op('Sigmoid', [x.name], `${name}_sigmoid`, s, l);
        return this.op('Mul', [x.name, sig.name], name, s, l);
      }
      case 'mish': {
        const sp = this.op('Softplus', [x.name], `${name}_softplus`, s, l);
        const th = this.op('Tanh', [sp.name], `${name}_tanh`, s, l);
        return this.op('Mul', [x.name, th.name], name, s, l);
      }
      case 'gelu': {
        // x * 0.5 * (1 + erf(x / sqrt(2))), as TF.js.
        const scaled = this.op('Mul', [x.name, this.constant(`${name}/rsqrt2`, [], Float32Array.of(Math.SQRT1_2))], `${name}_scaled`, s, l);
        const erf = this.op('Erf', [scaled.name], `${name}_erf`, s, l);
        const one = this.op('Add', [erf.name, this.constant(`${name}/one`, [], Float32Array.of(1))], `${name}_1p`, s, l);
        const half = this.op('Mul', [one.name, this.constant(`${name}/half`, [], Float32Array.of(0.5))], `${name}_half`, s, l);
        return this.op('Mul', [x.name, half.name], name, s, l);
      }
      case 'gelu_new': {
        // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), as TF.js.
        const cube = this.op('Pow', [x.name, this.constant(`${name}/three`, [], Float32Array.of(3))], `${name}_cube`, s, l);
        const c1 = this.op('Mul', [cube.name, this.constant(`${name}/c`, [], Float32Array.of(0.044715))], `${name}_c1`, s, l);
        const inner = this.op('Add', [x.name, c1.name], `${name}_inner`, s, l);
        const sc = this.op('Mul', [inner.name, this.constant(`${name}/k`, [], Float32Array.of(Math.sqrt(2 / Math.PI)))], `${name}_k`, s, l);
        const th = this.op('Tanh', [sc.name], `${name}_tanh`, s, l);
        const one = this.op('Add', [th.name, this.constant(`${name}/one`, [], Float32Array.of(1))], `${name}_1p`, s, l);
        const hx = this.op('Mul', [x.name, this.constant(`${name}/half`, [], Float32Array.of(0.5))], `${name}_hx`, s, l);
        return this.op('Mul', [hx.name, one.name], name, s, l);
      }
      default:
        throw new OnnxExportError([{ name, className: 'activation', reason: `activation '${activation}'` }]);
    }
  }
}

/** Row-major transpose of `values` with `shape` by `perm` (numpy's `transpose(perm)`). */
export function permute(values: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  inStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * shape[i + 1];
  const strides = perm.map((p) => inStrides[p]);
  const out = new Float32Array(values.length);
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = values[src];
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      src += strides[d];
      if (index[d] < outShape[d]) break;
      src -= strides[d] * outShape[d];
      index[d] = 0;
    }
  }
  return out;
}
