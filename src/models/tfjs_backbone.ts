/**
 * TF.js models of other sources as backbones (`--model tfjs:<folder or model.json>`):
 *
 * - graph models (`"format": "graph-model"`: TF Hub exports, `tensorflowjs_converter` on a
 *   SavedModel): inference only, on TF.js (no ONNX translation of TF graphs in ftk). Any node
 *   can be the bottleneck (`layer` = node name), since the graph executor fetches any node.
 * - layers models (`"format": "layers-model"`: `model.save()` in TF.js, `tensorflowjs_converter`
 *   on a Keras .h5): built as a tf.LayersModel, cut at `layer` like a zoo model, exported to ONNX
 *   for extraction when its layers allow, and fine-tunable.
 *
 * Files are read from disk directly (model.json + the shards its `weightsManifest` names); the
 * fingerprint hashes all of them. Preprocessing is the user's, or the one a model folder written
 * by ftk records (`userDefinedMetadata.ftk.preprocessing`, or `ftk finetune`'s ftk.json). The input is NHWC `[N, H, W, 3]` float32 (TF's layout); the
 * size comes from the model or `inputSize` when the model leaves it open.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { OptionsError, WeightsError } from '../errors.js';
import type { BackboneInfo } from '../formats/features.js';
import type { FeatureEngine } from '../runtime/engine.js';
import { nearestNames } from './names.js';
import { externalPreprocessing, type ExternalBackboneInfo, type ExternalBackboneOptions } from './onnx_backbone.js';
import { pooledDim, poolFeatures, type TensorLayout, type TensorListing } from './pool_features.js';
import { describePreprocess } from './preprocess.js';
import { weightsSha256 } from './weights.js';

const PROBE_SIZE = 224;

interface TfjsModelJson {
  format?: string;
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  signature?: { inputs?: Record<string, TensorSignature>; outputs?: Record<string, TensorSignature> };
  userDefinedMetadata?: Record<string, unknown>;
}

interface TensorSignature {
  name?: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
}

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { shape?: TensorSignature['tensorShape']; type?: string }>;
}

export interface TfjsModelSource {
  /** Absolute path of model.json. */
  jsonPath: string;
  json: TfjsModelJson;
  format: 'graph-model' | 'layers-model';
}

/** Reads model.json (given itself or its folder) and tells graph from layers models. */
export async function readTfjsModelSource(source: string): Promise<TfjsModelSource> {
  const abs = path.resolve(source);
  const stat = await fsp.stat(abs).catch(() => undefined);
  if (!stat) {
    throw new WeightsError(`TF.js model ${abs} does not exist.`, { code: 'TFJS_NOT_FOUND', suggestion: 'Pass the folder holding model.json (or model.json itself): --model tfjs:path/to/folder.' });
  }
  const jsonPath = stat.isDirectory() ? path.join(abs, 'model.json') : abs;
  let json: TfjsModelJson;
  try {
    json = JSON.parse(await fsp.readFile(jsonPath, 'utf8')) as TfjsModelJson;
  } catch (err) {
    throw new WeightsError(`Cannot read ${jsonPath} as a TF.js model.json: ${(err as Error).message}`, {
      code: 'TFJS_NOT_A_MODEL',
      suggestion: 'Pass a folder made by tensorflowjs_converter or model.save() (model.json + weight shards).',
      cause: err,
    });
  }
  const topology = json.modelTopology as { node?: unknown; class_name?: string; model_config?: unknown } | undefined;
  const format = json.format === 'graph-model' || (json.format === undefined && Array.isArray(topology?.node)) ? 'graph-model' : json.format === 'layers-model' || topology?.class_name || topology?.model_config ? 'layers-model' : undefined;
  if (!format || !Array.isArray(json.weightsManifest)) {
    throw new WeightsError(`${jsonPath} is not a TF.js graph or layers model (format ${JSON.stringify(json.format)}, ${json.weightsManifest ? '' : 'no '}weightsManifest).`, {
      code: 'TFJS_NOT_A_MODEL',
      suggestion: 'Pass a folder made by tensorflowjs_converter or model.save() (model.json + weight shards).',
    });
  }
  return { jsonPath, json, format };
}

/** A TF.js IOHandler reading model.json and its shards from disk (tfjs' own file:// loader needs tfjs-node). */
export function tfjsFileHandler(source: TfjsModelSource): tf.io.IOHandler {
  const dir = path.dirname(source.jsonPath);
  return {
    load: () =>
      tf.io.getModelArtifactsForJSON(source.json as tf.io.ModelJSON, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: Buffer[] = [];
        for (const group of manifest) {
          for (const p of group.paths) {
            const shard = path.join(dir, p);
            buffers.push(
              await fsp.readFile(shard).catch((err: NodeJS.ErrnoException) => {
                throw new WeightsError(`Weight shard ${shard} named in ${source.jsonPath} is missing (${err.code}).`, {
                  code: 'WEIGHTS_SHARD_MISSING',
                  suggestion: 'Copy every file listed in weightsManifest next to model.json.',
                });
              }),
            );
          }
          specs.push(...group.weights);
        }
        const all = Buffer.concat(buffers);
        return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
      }),
  };
}

const dimsOf = (shape: TensorSignature['tensorShape'] | undefined): (number | null)[] | undefined =>
  shape && !shape.unknownRank && shape.dim ? shape.dim.map((d) => (d.size === undefined ? null : Number(d.size) >= 0 ? Number(d.size) : null)) : undefined;

const stripPort = (name: string) => name.replace(/:\d+$/, '');

/** The graph model's image input: name and declared shape. */
function graphInput(source: TfjsModelSource): { name: string; dims?: (number | null)[] } {
  const sigInputs = Object.values(source.json.signature?.inputs ?? {});
  const nodes = ((source.json.modelTopology as { node?: GraphNode[] }).node ?? []) as GraphNode[];
  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  const candidates = sigInputs.length ? sigInputs.map((s) => ({ name: stripPort(s.name ?? ''), dims: dimsOf(s.tensorShape) })) : placeholders.map((p) => ({ name: p.name, dims: dimsOf(p.attr?.shape?.shape) }));
  if (candidates.length !== 1) {
    throw new OptionsError(`${source.jsonPath} has ${candidates.length} inputs (${candidates.map((c) => c.name).join(', ') || 'none'}); ftk needs exactly one image input.`, {
      code: 'TFJS_INPUTS',
      suggestion: 'Convert a model with a single image input [N, H, W, 3].',
    });
  }
  return candidates[0];
}

/** Square input size from NHWC dims, checked against the user's. */
function nhwcInputSize(dims: (number | null)[] | undefined, where: string, wanted: number | undefined): number {
  if (dims && (dims.length !== 4 || (dims[3] !== null && dims[3] !== 3))) {
    throw new OptionsError(`${where}: input shape [${dims.map((d) => d ?? '?').join(', ')}]; ftk feeds [N, H, W, 3] images (TF's channels-last layout).`, {
      code: 'TFJS_INPUT_SHAPE',
      suggestion: 'Convert a model whose input is a batch of RGB images, channels last.',
    });
  }
  const h = dims?.[1] ?? null;
  const w = dims?.[2] ?? null;
  if (h !== null && w !== null && h !== w) {
    throw new OptionsError(`${where}: input is ${h}x${w}; ftk feeds square images.`, { code: 'TFJS_INPUT_SHAPE', suggestion: 'Use a model with a square (or dynamic) input.' });
  }
  const fixed = h ?? w;
  if (fixed !== null) {
    if (wanted !== undefined && wanted !== fixed) {
      throw new OptionsError(`${where} fixes its input at ${fixed}x${fixed}; --input-size ${wanted} cannot be used.`, { code: 'TFJS_INPUT_SIZE', suggestion: `Drop --input-size (or pass ${fixed}).` });
    }
    return fixed;
  }
  if (wanted === undefined) {
    throw new OptionsError(`${where} has dynamic input height and width; ftk needs to know the size to resize images to.`, {
      code: 'TFJS_INPUT_SIZE_REQUIRED',
      suggestion: 'Pass --input-size (the size the model was trained at, e.g. 224).',
    });
  }
  return wanted;
}

function graphNodes(source: TfjsModelSource): GraphNode[] {
  return ((source.json.modelTopology as { node?: GraphNode[] }).node ?? []) as GraphNode[];
}

/** Output node names of a graph model: its signature's, else the nodes nothing consumes. */
function graphOutputs(source: TfjsModelSource): string[] {
  const sig = Object.values(source.json.signature?.outputs ?? {}).map((s) => stripPort(s.name ?? ''));
  if (sig.length) return sig;
  const nodes = graphNodes(source);
  const consumed = new Set(nodes.flatMap((n) => (n.input ?? []).map((i) => stripPort(i.replace(/^\^/, '')))));
  return nodes.filter((n) => !consumed.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp').map((n) => n.name);
}

const unknownName = (where: string, layer: string, names: string[], source: string) => {
  const near = nearestNames(layer, names);
  return new OptionsError(`${where} has no node or layer "${layer}".`, {
    code: 'LAYER_UNKNOWN',
    suggestion: `${near.length ? `Nearest names: ${near.join(', ')}. ` : ''}Run \`ftk info --model tfjs:${source}\` to list them with their shapes.`,
  });
};

/** Loads a layers model from its files. */
export async function loadTfjsLayersModel(source: TfjsModelSource): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(tfjsFileHandler(source));
  } catch (err) {
    if (err instanceof WeightsError) throw err;
    throw new WeightsError(`TF.js cannot load the layers model ${source.jsonPath}: ${(err as Error).message}`, {
      code: 'TFJS_LOAD',
      suggestion: 'Check that model.json and its shards belong together and that the layers are standard Keras layers.',
      cause: err,
    });
  }
}

async function loadGraph(source: TfjsModelSource): Promise<tf.GraphModel> {
  try {
    return await tf.loadGraphModel(tfjsFileHandler(source));
  } catch (err) {
    if (err instanceof WeightsError) throw err;
    throw new WeightsError(`TF.js cannot load the graph model ${source.jsonPath}: ${(err as Error).message}`, {
      code: 'TFJS_LOAD',
      suggestion: 'The graph may use an op TF.js does not implement; check the tensorflowjs_converter output for warnings.',
      cause: err,
    });
  }
}

/** The preprocessing of a model folder ftk wrote (`ftk finetune`: ftk.json next to model.json), if any. */
async function ftkFolderPreprocessing(jsonPath: string): Promise<BackboneInfo['preprocessing'] | undefined> {
  try {
    const meta = JSON.parse(await fsp.readFile(path.join(path.dirname(jsonPath), 'ftk.json'), 'utf8')) as { preprocessing?: { mode?: BackboneInfo['preprocessing'] } };
    return meta.preprocessing?.mode;
  } catch {
    return undefined;
  }
}

/** Works out the backbone description of a TF.js model (graph: without loading its weights). */
export async function resolveTfjsModel(source: string, options: ExternalBackboneOptions): Promise<ExternalBackboneInfo> {
  const model = await readTfjsModelSource(source);
  const where = model.jsonPath;
  const sha = await weightsSha256(model.jsonPath);
  const recorded = (model.json.userDefinedMetadata?.ftk as { preprocessing?: BackboneInfo['preprocessing'] } | undefined)?.preprocessing ?? (await ftkFolderPreprocessing(model.jsonPath));
  const base = { weightsSha256: sha, weights: model.jsonPath, pooling: options.pooling ?? 'avg', crop: options.crop ?? 'squash' } as const;
  if (model.format === 'graph-model') {
    const input = graphInput(model);
    const inputSize = nhwcInputSize(input.dims, where, options.inputSize);
    const names = graphNodes(model).filter((n) => n.op !== 'Const' && n.op !== 'Placeholder' && n.op !== 'NoOp').map((n) => n.name);
    const layer = options.layer ?? graphOutputs(model)[0];
    if (!layer) throw new OptionsError(`${where} has no output node.`, { code: 'TFJS_NO_OUTPUT', suggestion: 'Pass --layer <node name>.' });
    if (!names.includes(stripPort(layer))) throw unknownName(where, layer, names, model.jsonPath);
    return {
      ...base,
      name: 'tfjs',
      layer: stripPort(layer),
      preprocessing: externalPreprocessing(options.preprocess, recorded, where),
      inputSize,
      external: { format: 'tfjs-graph', inputName: input.name, inputLayout: 'nhwc' },
    };
  }
  const layers = await loadTfjsLayersModel(model);
  try {
    if (layers.inputs.length !== 1) {
      throw new OptionsError(`${where} has ${layers.inputs.length} inputs; ftk needs exactly one image input.`, { code: 'TFJS_INPUTS', suggestion: 'Use a model with one image input [N, H, W, 3].' });
    }
    const inputSize = nhwcInputSize(layers.inputs[0].shape, where, options.inputSize);
    const names = layers.layers.map((l) => l.name);
    const layer = options.layer ?? names[names.length - 1];
    if (!names.includes(layer)) throw unknownName(where, layer, names, model.jsonPath);
    return {
      ...base,
      name: 'tfjs',
      layer,
      preprocessing: externalPreprocessing(options.preprocess, recorded, where),
      inputSize,
      external: { format: 'tfjs-layers', inputName: layers.inputs[0].name, inputLayout: 'nhwc' },
    };
  } finally {
    layers.dispose();
  }
}

/** Runs one node of a graph model (or several) on an NHWC batch; falls back to async execution for control flow. */
async function executeNodes(model: tf.GraphModel, inputName: string, x: tf.Tensor, outputs: string[]): Promise<tf.Tensor[]> {
  const feeds = { [inputName]: x };
  let result: tf.Tensor | tf.Tensor[];
  try {
    result = model.execute(feeds, outputs);
  } catch (err) {
    if (!/dynamic op|executeAsync/i.test((err as Error).message)) throw err;
    result = await model.executeAsync(feeds, outputs);
  }
  return Array.isArray(result) ? result : [result];
}

/** The feature engine of a TF.js graph model (TF.js backend selected by the caller). */
export class TfjsGraphEngine implements FeatureEngine {
  readonly name: string;
  readonly outputDim: number;

  private constructor(
    private readonly model: tf.GraphModel,
    private readonly info: BackboneInfo,
    readonly tensorShape: number[],
    readonly layout: TensorLayout,
  ) {
    this.outputDim = pooledDim(tensorShape, info.pooling, layout);
    this.name = `tfjs-${tf.getBackend()} graph model`;
  }

  static async open(info: BackboneInfo): Promise<TfjsGraphEngine> {
    const source = await readTfjsModelSource(info.weights);
    const sha = await weightsSha256(source.jsonPath);
    if (sha !== info.weightsSha256) {
      throw new WeightsError(`${source.jsonPath} changed since its features were described (sha256 differs).`, {
        code: 'TFJS_CHANGED',
        suggestion: 'Run the command again (the new files get their own fingerprint), or restore the model the classifier was trained with.',
      });
    }
    const model = await loadGraph(source);
    const size = info.inputSize;
    const x = tf.zeros([1, size, size, 3]);
    const [y] = await executeNodes(model, info.external!.inputName, x, [info.layer]);
    const dims = [...y.shape];
    tf.dispose([x, y]);
    // TF graphs are channels-last (TF's CPU kernels compute NHWC only), so no guessing here.
    return new TfjsGraphEngine(model, info, dims, 'nhwc');
  }

  describe(): string {
    const pooled = this.tensorShape.length === 4 && this.info.pooling !== 'none';
    return `${this.info.layer} [${this.tensorShape.join(', ')}]${pooled ? `, ${this.info.pooling}-pooled` : ''} -> ${this.outputDim} features, '${describePreprocess(this.info.preprocessing)}' preprocessing`;
  }

  async run(batch: Float32Array, count: number, height: number, width: number): Promise<Float32Array> {
    const x = tf.tensor4d(batch.subarray(0, count * height * width * 3), [count, height, width, 3]);
    try {
      const [y] = await executeNodes(this.model, this.info.external!.inputName, x, [this.info.layer]);
      try {
        return poolFeatures((await y.data()) as Float32Array, y.shape, this.info.pooling, this.layout);
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

/** One node or layer of a TF.js model, as `ftk info` lists it. */
export type TfjsTensorListing = TensorListing;

export interface TfjsModelListing {
  file: string;
  format: 'graph-model' | 'layers-model';
  inputName: string;
  probeSize: number;
  outputs: string[];
  tensors: TfjsTensorListing[];
}

/** Lists the nodes (graph) or layers (layers model) with their shapes, measured on one image of zeros. */
export async function describeTfjsModel(source: string, options: { inputSize?: number } = {}): Promise<TfjsModelListing> {
  const model = await readTfjsModelSource(source);
  if (model.format === 'layers-model') {
    const layers = await loadTfjsLayersModel(model);
    try {
      const dims = layers.inputs[0].shape;
      const probeSize = dims[1] ?? options.inputSize ?? PROBE_SIZE;
      const outputs = new Set(layers.outputs.map((o) => o.sourceLayer.name));
      const tensors = layers.layers.map((l) => {
        const shape = [1, ...(l.outputShape as (number | null)[]).slice(1).map((d) => d ?? probeSize)];
        const layout = shape.length === 4 ? ('nhwc' as const) : undefined;
        return { name: l.name, opType: l.getClassName(), shape, layout, features: pooledDim(shape, 'avg', 'nhwc'), isOutput: outputs.has(l.name) };
      });
      return { file: model.jsonPath, format: model.format, inputName: layers.inputs[0].name, probeSize, outputs: [...outputs], tensors };
    } finally {
      layers.dispose();
    }
  }
  const input = graphInput(model);
  const probeSize = input.dims?.[1] ?? options.inputSize ?? PROBE_SIZE;
  const nodes = graphNodes(model).filter((n) => n.op !== 'Const' && n.op !== 'Placeholder' && n.op !== 'NoOp');
  const graph = await loadGraph(model);
  const outputs = graphOutputs(model);
  try {
    const x = tf.zeros([2, probeSize, probeSize, 3]);
    const results = await executeNodes(graph, input.name, x, nodes.map((n) => n.name));
    const tensors: TfjsTensorListing[] = [];
    nodes.forEach((n, i) => {
      const t = results[i];
      if (t.dtype === 'float32' && t.rank >= 2 && t.shape[0] === 2) {
        const shape = [1, ...t.shape.slice(1)];
        const layout = shape.length === 4 ? ('nhwc' as const) : undefined;
        tensors.push({ name: n.name, opType: n.op, shape, layout, features: pooledDim(shape, 'avg', layout ?? 'nhwc'), isOutput: outputs.includes(n.name) });
      }
    });
    tf.dispose([x, ...results]);
    return { file: model.jsonPath, format: model.format, inputName: input.name, probeSize, outputs, tensors };
  } finally {
    graph.dispose();
  }
}
