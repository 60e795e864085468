/**
 * Fixtures standing for models of other frameworks, made by the tests themselves (no download, no
 * Python): zoo models with seeded weights saved as a TF.js layers folder and exported to ONNX by
 * ftk's exporter; ONNX graphs rewritten to take PyTorch's NCHW input (fixed or dynamic sizes, a
 * fixed batch of 1); and a small TF.js graph model (model.json of format 'graph-model' written by
 * hand: Conv2D, BiasAdd, Relu, DepthwiseConv2dNative, Relu6) with the tf.layers model that
 * computes the same function.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/data/random.js';
import { shortWeightName } from '../../src/models/weights.js';
import { AttributeType, DataType, decodeModel, encodeModel, type Dimension } from '../../src/runtime/onnx_proto.js';

/**
 * Seeded weights that keep activations O(1) through deep nets and make BatchNorm count: He-uniform
 * kernels, small biases/betas, gamma in [0.8, 1.2], moving mean in [-0.1, 0.1], variance in [0.5, 1.5],
 * PReLU alpha in [0, 0.3]. Nested models get seed + 1.
 */
export function seedWeights(model: tf.LayersModel, seed: number): void {
  const rng = new Rng(seed);
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng.next();
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) {
      seedWeights(layer, seed + 1);
      continue;
    }
    if (!layer.weights.length) continue;
    const values = layer.weights.map((w) => {
      const name = shortWeightName(w.originalName ?? w.name);
      const shape = w.shape as number[];
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      const fanIn = name === 'depthwise_kernel' ? shape[0] * shape[1] : shape.slice(0, -1).reduce((a, b) => a * b, 1);
      for (let i = 0; i < size; i++) {
        if (name.endsWith('kernel')) data[i] = u(-1, 1) * Math.sqrt(6 / fanIn);
        else if (name === 'gamma') data[i] = u(0.8, 1.2);
        else if (name === 'moving_variance') data[i] = u(0.5, 1.5);
        else if (name === 'alpha') data[i] = u(0, 0.3);
        else data[i] = u(-0.1, 0.1);
      }
      return tf.tensor(data, shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/** Saves a layers model as model.json + weights.bin in `dir` (what `model.save('file://dir')` writes in tfjs-node). */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData as ArrayBuffer;
      await fsp.writeFile(path.join(dir, 'weights.bin'), Buffer.from(weightData));
      const json = {
        format: 'layers-model',
        generatedBy: 'ftk tests',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      await fsp.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return path.join(dir, 'model.json');
}

export interface NchwOptions {
  /** Batch dimension: a number fixes it, undefined keeps it symbolic. */
  batch?: number;
  /** Leave H and W symbolic (the graph then needs --input-size). */
  dynamicSize?: boolean;
}

/**
 * Puts PyTorch's input convention in front of an ftk-exported (NHWC-input) graph: a new input
 * `pixel_values` [N, 3, S, S] and a Transpose to the old NHWC input. The function is unchanged.
 */
export function withNchwInput(onnx: Uint8Array, size: number, options: NchwOptions = {}): Uint8Array {
  const model = decodeModel(onnx);
  const old = model.graph.input[0];
  const spatial: Dimension = options.dynamicSize ? { dimParam: 'height' } : { dimValue: size };
  const batch: Dimension = options.batch === undefined ? { dimParam: 'batch' } : { dimValue: options.batch };
  model.graph.input = [
    {
      name: 'pixel_values',
      type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [batch, { dimValue: 3 }, spatial, options.dynamicSize ? { dimParam: 'width' } : { dimValue: size }] } } },
    },
  ];
  model.graph.node.unshift({ opType: 'Transpose', name: 'to_nhwc', input: ['pixel_values'], output: [old.name], attribute: [{ name: 'perm', type: AttributeType.INTS, ints: [0, 2, 3, 1] }] });
  model.producerName = 'ftk-tests-nchw';
  model.metadataProps = [];
  return encodeModel(model);
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const shapeAttr = (dims: number[]) => ({ dim: dims.map((d) => ({ size: String(d) })) });

/**
 * A TF.js graph model (conv 3x3 stride 2 + bias + ReLU, depthwise 3x3 + ReLU6, pointwise conv +
 * bias + ReLU, 12 channels) written to `dir`, and the tf.layers model computing the same function (for the
 * expected features). Input [N, size, size, 3] (size -1 = dynamic).
 */
export async function writeTinyGraphModel(dir: string, size: number, seed: number): Promise<{ reference: tf.LayersModel; nodes: string[] }> {
  const reference = tf.sequential({
    name: 'tiny',
    layers: [
      tf.layers.conv2d({ inputShape: [size > 0 ? size : null, size > 0 ? size : null, 3] as number[], filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'conv1' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, activation: 'relu6', name: 'dw' }),
      tf.layers.conv2d({ filters: 12, kernelSize: 1, activation: 'relu', name: 'pw' }),
    ],
  });
  seedWeights(reference, seed);
  const [k1, b1] = reference.getLayer('conv1').getWeights();
  const [kdw] = reference.getLayer('dw').getWeights();
  const [k2, b2] = reference.getLayer('pw').getWeights();
  const weights: [string, tf.Tensor][] = [
    ['conv1/kernel', k1],
    ['conv1/bias', b1],
    ['dw/depthwise_kernel', kdw],
    ['pw/kernel', k2],
    ['pw/bias', b2],
  ];
  const f = { type: 'DT_FLOAT' };
  const conv = (strides: number[]) => ({ strides: { list: { i: strides.map(String) } }, padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') }, dilations: { list: { i: ['1', '1', '1', '1'] } }, T: f });
  const constNode = (name: string, t: tf.Tensor) => ({ name, op: 'Const', attr: { dtype: f, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: shapeAttr(t.shape) } } } });
  const inputShape = shapeAttr([-1, size, size, 3]);
  const node = [
    { name: 'images', op: 'Placeholder', attr: { dtype: f, shape: { shape: inputShape } } },
    ...weights.map(([name, t]) => constNode(name, t)),
    { name: 'conv1/Conv2D', op: 'Conv2D', input: ['images', 'conv1/kernel'], attr: conv([1, 2, 2, 1]) },
    { name: 'conv1/BiasAdd', op: 'BiasAdd', input: ['conv1/Conv2D', 'conv1/bias'], attr: { T: f, data_format: { s: b64('NHWC') } } },
    { name: 'conv1/Relu', op: 'Relu', input: ['conv1/BiasAdd'], attr: { T: f } },
    { name: 'dw/depthwise', op: 'DepthwiseConv2dNative', input: ['conv1/Relu', 'dw/depthwise_kernel'], attr: conv([1, 1, 1, 1]) },
    { name: 'dw/Relu6', op: 'Relu6', input: ['dw/depthwise'], attr: { T: f } },
    { name: 'pw/Conv2D', op: 'Conv2D', input: ['dw/Relu6', 'pw/kernel'], attr: conv([1, 1, 1, 1]) },
    { name: 'pw/BiasAdd', op: 'BiasAdd', input: ['pw/Conv2D', 'pw/bias'], attr: { T: f, data_format: { s: b64('NHWC') } } },
    { name: 'pw/Relu', op: 'Relu', input: ['pw/BiasAdd'], attr: { T: f } },
    { name: 'Identity', op: 'Identity', input: ['pw/Relu'], attr: { T: f } },
  ];
  const data = weights.map(([, t]) => Buffer.from((t.dataSync() as Float32Array).slice().buffer));
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'group1-shard1of1.bin'), Buffer.concat(data));
  const json = {
    format: 'graph-model',
    generatedBy: 'ftk tests',
    convertedBy: 'hand-written',
    modelTopology: { node, library: {}, versions: { producer: 1 } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weights.map(([name, t]) => ({ name, shape: t.shape, dtype: 'float32' })) }],
    signature: {
      inputs: { images: { name: 'images:0', dtype: 'DT_FLOAT', tensorShape: inputShape } },
      outputs: { features: { name: 'Identity:0', dtype: 'DT_FLOAT', tensorShape: shapeAttr([-1, size > 0 ? Math.ceil(size / 2) : -1, size > 0 ? Math.ceil(size / 2) : -1, 12]) } },
    },
  };
  await fsp.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
  return { reference, nodes: node.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder').map((n) => n.name) };
}

/** max |a - b| / max |b|, asserting equal lengths and that `b` is not (nearly) all zeros. */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relDiff: ${a.length} values vs ${b.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  if (!(m > 1e-3)) throw new Error(`features are degenerate (max |x| = ${m})`);
  return d / m;
}
