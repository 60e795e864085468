/**
 * ONNX models of other frameworks as backbones (`--model onnx:<file.onnx>`): torchvision and timm
 * models from `torch.onnx.export`, MXNet and Caffe models converted to ONNX, TF models through
 * tf2onnx. They run on ONNX Runtime only (there is no TF.js model to build or train).
 *
 * - Input: the graph's one image input, NCHW (`[N, 3, H, W]`, PyTorch) or NHWC (`[N, H, W, 3]`),
 *   read from the file. ftk's pipeline produces NHWC float32; for NCHW graphs a Transpose is put
 *   in front of the graph (onnx_graph.ts), so ONNX Runtime transposes on its own threads. Spatial
 *   dimensions fixed in the graph set the input size; symbolic ones need `inputSize`. A batch size
 *   fixed in the graph (an export without dynamic axes) is honoured by running chunks of it.
 * - Bottleneck: the graph's first output by default, or `layer` = any node output (tensor) name;
 *   ftk makes it the graph's output and drops the nodes after it. A 4-D tensor is pooled
 *   (average or max, over its spatial axes, in its own layout: see pool_features.ts).
 * - Preprocessing: the user's (`preprocess`), since an ONNX file does not record it; graphs ftk
 *   exported itself carry it in their metadata, which is used when none is given.
 * - Fingerprint: sha256 of the file, the tensor, pooling, preprocessing, input size and crop.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { OptionsError, RuntimeError, WeightsError } from '../errors.js';
import type { BackboneInfo, ExternalModelInfo } from '../formats/features.js';
import type { ProviderName } from '../formats/device.js';
import type { FeatureEngine } from '../runtime/engine.js';
import { OnnxEngine, onnxRuntimeVersion } from '../runtime/onnx_engine.js';
import { ADAPTED_OUTPUT, adaptOnnxGraph, nodeOutputNames, readOnnxSummary, type Dim, type OnnxGraphSummary } from '../runtime/onnx_graph.js';
import { nearestNames } from './names.js';
import { guessLayout, pooledDim, poolFeatures, type TensorLayout, type TensorListing } from './pool_features.js';
import { describePreprocess, resolvePreprocess, type CustomPreprocessOptions } from './preprocess.js';
import type { Pooling, PreprocessMode } from './types.js';

/** Oldest default-domain opset ONNX Runtime runs. */
const MIN_OPSET = 7;
/** Input size of shape probes when the graph leaves it open and the user gave none. */
const PROBE_SIZE = 224;

/** Options of a model from another framework (the zoo options that apply, plus preprocessing). */
export interface ExternalBackboneOptions {
  /** Tensor (ONNX node output) or node (TF.js graph) or layer (TF.js layers) name. Default: the model's output. */
  layer?: string;
  /** Global pooling of a 4-D bottleneck. Default 'avg'. */
  pooling?: Pooling;
  /** Square input size. Default: the size the graph fixes (required when it leaves it open). */
  inputSize?: number;
  /** Default 'squash'. */
  crop?: 'squash' | 'center';
  /**
   * How the model's inputs were normalised when it was trained: 'torch' (torchvision, timm),
   * 'tf' ([-1, 1]), 'caffe' (BGR minus the ImageNet mean), 'custom' or custom mean/std. Required,
   * except for graphs that record it (ftk's own exports).
   */
  preprocess?: string | CustomPreprocessOptions;
}

/** The backbone description of a foreign model, before its fingerprint is computed. */
export type ExternalBackboneInfo = Omit<BackboneInfo, 'fingerprint'> & { external: ExternalModelInfo };

/** The image input of an ONNX graph, read from its declared shape. */
export interface OnnxInput {
  name: string;
  layout: TensorLayout;
  /** Fixed batch size, or null when symbolic. */
  batch: number | null;
  /** Square size, or null when the graph leaves it open. */
  size: number | null;
}

const fmtDims = (dims: readonly Dim[] | undefined) => (dims ? `[${dims.map((d) => (d === null ? '?' : d)).join(', ')}]` : 'no shape');

/** Finds and checks the image input: one float input of rank 4 with 3 channels. */
export function onnxImageInput(summary: OnnxGraphSummary, file: string): OnnxInput {
  const inputs = summary.inputs;
  const fix = 'ftk feeds one float32 image batch: export the model with a single input of shape [N, 3, H, W] (or [N, H, W, 3]).';
  if (inputs.length !== 1) {
    throw new OptionsError(`${file} has ${inputs.length} inputs (${inputs.map((i) => `${i.name} ${fmtDims(i.dims)}`).join(', ') || 'none'}); ftk needs exactly one image input.`, {
      code: 'ONNX_INPUTS',
      suggestion: fix,
    });
  }
  const input = inputs[0];
  if (input.elemType !== undefined && input.elemType !== 1) {
    throw new OptionsError(`${file}: input ${input.name} has ONNX element type ${input.elemType}; ftk feeds float32 (type 1).`, {
      code: 'ONNX_INPUT_TYPE',
      suggestion: 'Export with a float32 input (uint8 inputs of some TF exports: tf2onnx --inputs-as-nchw / a float signature).',
    });
  }
  const dims = input.dims;
  if (!dims || dims.length !== 4) {
    throw new OptionsError(`${file}: input ${input.name} has shape ${fmtDims(dims)}; ftk needs a 4-D image batch [N, 3, H, W] or [N, H, W, 3].`, {
      code: 'ONNX_INPUT_SHAPE',
      suggestion: fix,
    });
  }
  let layout: TensorLayout;
  if (dims[1] === 3) layout = 'nchw';
  else if (dims[3] === 3) layout = 'nhwc';
  else {
    throw new OptionsError(`${file}: input ${input.name} has shape ${fmtDims(dims)}: no dimension of 3 channels after the batch, so the channel order (NCHW or NHWC) cannot be told.`, {
      code: 'ONNX_INPUT_SHAPE',
      suggestion: 'Export with a fixed channel dimension of 3: dummy input torch.randn(1, 3, 224, 224), dynamic axes on the batch (and H, W) only.',
    });
  }
  const [h, w] = layout === 'nchw' ? [dims[2], dims[3]] : [dims[1], dims[2]];
  const fixedH = typeof h === 'number' && h > 0 ? h : undefined;
  const fixedW = typeof w === 'number' && w > 0 ? w : undefined;
  if (fixedH !== undefined && fixedW !== undefined && fixedH !== fixedW) {
    throw new OptionsError(`${file}: input ${input.name} is ${fixedH}x${fixedW}; ftk feeds square images.`, {
      code: 'ONNX_INPUT_SHAPE',
      suggestion: 'Export with a square input (e.g. 224x224), or with dynamic H and W and pass --input-size.',
    });
  }
  const batch = typeof dims[0] === 'number' && dims[0] > 0 ? dims[0] : null;
  return { name: input.name, layout, batch, size: fixedH ?? fixedW ?? null };
}

/** The input size to run at: the graph's, the user's (which must agree), or an error when neither. */
function inputSizeFor(input: OnnxInput, file: string, wanted: number | undefined): number {
  if (input.size !== null) {
    if (wanted !== undefined && wanted !== input.size) {
      throw new OptionsError(`${file} fixes its input at ${input.size}x${input.size}; --input-size ${wanted} cannot be used.`, {
        code: 'ONNX_INPUT_SIZE',
        suggestion: `Drop --input-size (or pass ${input.size}), or export the model with dynamic H and W axes.`,
      });
    }
    return input.size;
  }
  if (wanted === undefined) {
    throw new OptionsError(`${file} has dynamic input height and width (${input.name}); ftk needs to know the size to resize images to.`, {
      code: 'ONNX_INPUT_SIZE_REQUIRED',
      suggestion: 'Pass --input-size (e.g. 224 for torchvision/timm ImageNet models; the size the model was trained at).',
    });
  }
  return wanted;
}

function checkOpset(summary: OnnxGraphSummary, file: string): number | undefined {
  const opset = summary.opsets[''] ?? summary.opsets['ai.onnx'];
  if (opset !== undefined && opset < MIN_OPSET) {
    throw new OptionsError(`${file} uses ONNX opset ${opset}; ONNX Runtime runs opset ${MIN_OPSET} and later.`, {
      code: 'ONNX_OPSET_UNSUPPORTED',
      suggestion: 'Re-export the model with a newer opset: torch.onnx.export(..., opset_version=13), or tf2onnx --opset 13.',
    });
  }
  if (summary.externalData.length) {
    throw new OptionsError(`${file} keeps ${summary.externalData.length} weight tensor(s) in external data files (e.g. ${summary.externalData[0]}); ftk reads single-file models.`, {
      code: 'ONNX_EXTERNAL_DATA',
      suggestion: 'Save it as one file (models under 2 GB): onnx.save_model(model, "model.onnx", save_as_external_data=False).',
    });
  }
  return opset;
}

/** The tensor names a user may pick: node outputs (graph order) and the graph outputs. */
function tensorNames(summary: OnnxGraphSummary): string[] {
  return [...new Set([...nodeOutputNames(summary), ...summary.outputs.map((o) => o.name)])];
}

function unknownTensor(file: string, layer: string, names: string[]): OptionsError {
  const near = nearestNames(layer, names);
  return new OptionsError(`${file} has no tensor "${layer}".`, {
    code: 'LAYER_UNKNOWN',
    suggestion: `${near.length ? `Nearest names: ${near.join(', ')}. ` : ''}Run \`ftk info --model onnx:${file}\` to list the tensors with their shapes.`,
  });
}

/** Preprocessing recorded by ftk's own exporter (metadata `ftk.backbone`), if any. */
function recordedPreprocessing(summary: OnnxGraphSummary): PreprocessMode | undefined {
  const json = summary.metadata['ftk.backbone'];
  if (!json) return undefined;
  try {
    return (JSON.parse(json) as { preprocessing?: PreprocessMode }).preprocessing;
  } catch {
    return undefined;
  }
}

/** The user's preprocessing, or the model's recorded one, or an error saying what to pass. */
export function externalPreprocessing(given: ExternalBackboneOptions['preprocess'], recorded: PreprocessMode | undefined, source: string): PreprocessMode {
  if (given !== undefined) return resolvePreprocess(given);
  if (recorded !== undefined) return recorded;
  throw new OptionsError(`${source} does not record how its input images were normalised, so ftk cannot guess it.`, {
    code: 'PREPROCESS_REQUIRED',
    suggestion:
      'Pass --preprocess: torch (torchvision, timm: [0, 1] then ImageNet mean/std), tf ([-1, 1]), caffe (BGR minus the ImageNet mean), ' +
      'or custom with --mean/--std/--pixel-scale/--bgr (e.g. TF Hub image models: --preprocess custom, inputs in [0, 1]).',
  });
}

async function readModelFile(file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new WeightsError(`ONNX model ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}.`, {
      code: 'ONNX_NOT_FOUND',
      suggestion: 'Pass the path of a .onnx file: --model onnx:path/to/model.onnx.',
    });
  }
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Reads an ONNX model and works out its backbone description (no session is opened): checks the
 * input, opset and tensor name, hashes the file.
 */
export async function resolveOnnxModel(file: string, options: ExternalBackboneOptions): Promise<ExternalBackboneInfo> {
  const abs = path.resolve(file);
  const bytes = await readModelFile(abs);
  const summary = readOnnxSummary(bytes);
  const opset = checkOpset(summary, abs);
  const input = onnxImageInput(summary, abs);
  const inputSize = inputSizeFor(input, abs, options.inputSize);
  const names = tensorNames(summary);
  const layer = options.layer ?? summary.outputs[0]?.name;
  if (!layer) throw new OptionsError(`${abs} declares no graph output.`, { code: 'ONNX_NO_OUTPUT', suggestion: 'Pass --layer <tensor name> (`ftk info --model onnx:<file>` lists them).' });
  if (!names.includes(layer)) throw unknownTensor(abs, layer, names);
  const preprocessing = externalPreprocessing(options.preprocess, recordedPreprocessing(summary), abs);
  return {
    name: 'onnx',
    weightsSha256: sha256(bytes),
    weights: abs,
    layer,
    pooling: options.pooling ?? 'avg',
    preprocessing,
    inputSize,
    crop: options.crop ?? 'squash',
    external: {
      format: 'onnx',
      inputName: input.name,
      inputLayout: input.layout,
      ...(input.batch !== null ? { batch: input.batch } : {}),
      ...(opset !== undefined ? { opset } : {}),
      ...(summary.producer ? { producer: summary.producer } : {}),
    },
  };
}

/** Opens an ONNX Runtime session, turning its rejection into an error that names the file and the fix. */
async function openSession(bytes: Uint8Array, file: string, summary: OnnxGraphSummary, threads: number | undefined, provider?: ProviderName): Promise<OnnxEngine> {
  try {
    return await OnnxEngine.create(bytes, { threads, provider });
  } catch (err) {
    // A GPU that cannot be used is not the file's fault: its own error says what to do.
    if ((err as { code?: string }).code === 'DEVICE_UNAVAILABLE') throw err;
    // ORT prefixes its messages with the C++ source location and function signature: drop them.
    const detail = ((err as { cause?: Error }).cause ?? (err as Error)).message.split('\n')[0].replace(/^\S*onnxruntime_src\S*\s+.*?\)\s+/, '');
    const opset = summary.opsets[''] ?? summary.opsets['ai.onnx'];
    const domains = Object.keys(summary.opsets).filter((d) => d !== '' && d !== 'ai.onnx');
    throw new RuntimeError(`ONNX Runtime ${onnxRuntimeVersion() ?? ''} cannot load ${file}: ${detail}`, {
      code: 'ONNX_MODEL_UNSUPPORTED',
      suggestion:
        `The file uses opset ${opset ?? '?'}${domains.length ? ` and operator domains ${domains.join(', ')}` : ''} (${summary.producer || 'unknown producer'}). ` +
        'Re-export with a standard opset (torch.onnx.export(..., opset_version=13), tf2onnx --opset 13) and without custom operators.',
      cause: err,
    });
  }
}

/**
 * The feature engine of an `onnx:` backbone: the adapted graph on ONNX Runtime, then pooling.
 * Opening it runs one batch of zeros to learn the bottleneck tensor's shape and layout.
 */
export class OnnxBackboneEngine implements FeatureEngine {
  readonly name: string;
  readonly outputDim: number;
  readonly providers: readonly string[];

  private constructor(
    private readonly engine: OnnxEngine,
    private readonly info: BackboneInfo,
    /** Shape of the bottleneck tensor for one image (batch 1). */
    readonly tensorShape: number[],
    readonly layout: TensorLayout,
  ) {
    this.outputDim = pooledDim(tensorShape, info.pooling, layout);
    this.name = engine.name;
    this.providers = engine.providers;
  }

  /** @param onNotice told when the tensor's layout had to be assumed. */
  static async open(info: BackboneInfo, options: { threads?: number; provider?: ProviderName; onNotice?: (m: string) => void } = {}): Promise<OnnxBackboneEngine> {
    const file = info.weights;
    const bytes = await readModelFile(file);
    if (sha256(bytes) !== info.weightsSha256) {
      throw new WeightsError(`${file} changed since its features were described (sha256 differs).`, {
        code: 'ONNX_CHANGED',
        suggestion: 'Run the command again (the new file gets its own fingerprint), or restore the file the model was trained with.',
      });
    }
    const summary = readOnnxSummary(bytes);
    const input = onnxImageInput(summary, file);
    const adapted = adaptOnnxGraph(bytes, summary, { inputName: input.name, inputLayout: input.layout, batch: input.batch, size: info.inputSize, outputs: [info.layer] });
    const engine = await openSession(adapted, file, summary, options.threads, options.provider);
    const probe = await engine.runRaw(new Float32Array(info.inputSize * info.inputSize * 3), 1, info.inputSize, info.inputSize);
    const { layout, ambiguous } = guessLayout(probe.dims, input.layout);
    if (probe.dims.length === 4 && info.pooling !== 'none' && ambiguous) {
      options.onNotice?.(`The shape of ${info.layer} ${fmtDims(probe.dims)} does not tell its channel axis; pooling it as ${layout.toUpperCase()}, the layout of the model's input.`);
    }
    return new OnnxBackboneEngine(engine, info, probe.dims, layout);
  }

  /** What the engine runs, for the runtime notice. */
  describe(): string {
    const pooled = this.tensorShape.length === 4 && this.info.pooling !== 'none';
    return `${this.info.layer} ${fmtDims(this.tensorShape)}${this.tensorShape.length === 4 ? ` ${this.layout.toUpperCase()}` : ''}${pooled ? `, ${this.info.pooling}-pooled` : ''} -> ${this.outputDim} features, '${describePreprocess(this.info.preprocessing)}' preprocessing`;
  }

  async run(batch: Float32Array, count: number, height: number, width: number): Promise<Float32Array> {
    const { data, dims } = await this.engine.runRaw(batch, count, height, width);
    return poolFeatures(data, dims, this.info.pooling, this.layout);
  }

  dispose(): void {
    this.engine.dispose();
  }
}

/** One tensor of an ONNX graph, as `ftk info` lists it. */
export type OnnxTensorListing = TensorListing;

export interface OnnxModelListing {
  file: string;
  producer: string;
  opset?: number;
  input: OnnxInput;
  /** Size the shapes were measured at. */
  probeSize: number;
  outputs: string[];
  /** Every float32 tensor a node produces per image, in graph order. */
  tensors: OnnxTensorListing[];
}

/**
 * Lists the candidate bottlenecks of an ONNX model: every float tensor with a batch axis, with
 * its shape measured by running one image of zeros (shapes in files are often missing).
 */
export async function describeOnnxModel(file: string, options: { inputSize?: number; threads?: number } = {}): Promise<OnnxModelListing> {
  const abs = path.resolve(file);
  const bytes = await readModelFile(abs);
  const summary = readOnnxSummary(bytes);
  const opset = checkOpset(summary, abs);
  const input = onnxImageInput(summary, abs);
  const probeSize = input.size ?? options.inputSize ?? PROBE_SIZE;
  if (input.size !== null) inputSizeFor(input, abs, options.inputSize);
  const names = tensorNames(summary).filter((n) => n !== input.name);
  // Batch 2 where the batch is free: a tensor whose first axis follows it is per-image.
  const batch = input.batch ?? 2;
  const adapted = adaptOnnxGraph(bytes, summary, { inputName: input.name, inputLayout: input.layout, batch: input.batch, size: probeSize, outputs: names });
  const engine = await openSession(adapted, abs, summary, options.threads);
  const producedBy = new Map<string, string>();
  for (const n of summary.nodes) for (const o of n.outputs) producedBy.set(o, n.opType);
  const graphOutputs = new Set(summary.outputs.map((o) => o.name));
  const tensors: OnnxTensorListing[] = [];
  try {
    const out = await engine.runAllOutputs(new Float32Array(batch * probeSize * probeSize * 3), batch, probeSize, probeSize);
    for (const name of names) {
      const t = out[name === names[0] ? ADAPTED_OUTPUT : name];
      if (!t || t.type !== 'float32' || t.dims.length < 2 || t.dims[0] !== batch) continue;
      const shape = [1, ...t.dims.slice(1).map(Number)];
      const layout = shape.length === 4 ? guessLayout(shape, input.layout).layout : undefined;
      tensors.push({ name, opType: producedBy.get(name) ?? '?', shape, layout, features: pooledDim(shape, 'avg', layout ?? input.layout), isOutput: graphOutputs.has(name) });
    }
  } finally {
    await engine.release();
  }
  return { file: abs, producer: summary.producer, opset, input, probeSize, outputs: summary.outputs.map((o) => o.name), tensors };
}
