/**
 * The fine-tuned model folder written by `ftk finetune` and read by `ftk predict`:
 *
 *   <out>/model.json    TF.js layers model (topology + weightsManifest), loads with tf.loadLayersModel
 *   <out>/weights.bin   its weights, one shard
 *   <out>/ftk.json      `FinetunedModelMeta`: classes, preprocessing, backbone, training history
 *
 * Every file is written to a temporary name and renamed; ftk.json is written last, so a folder
 * with an ftk.json is complete. Format notes: src/formats/README.md.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FtkError } from '../errors.js';
import type { BackboneInfo } from '../formats/features.js';
import type { PreprocessMode } from '../models/types.js';
import { resolveInside } from '../runtime/safe_path.js';
import type { DeviceRecord } from '../formats/device.js';
import type { EpochRecord } from './options.js';
import { validateCalibrationJson, validateUnknownDetectorJson, type CalibrationJson, type UnknownDetectorJson } from '../formats/trust.js';

export const FINETUNED_FORMAT = 'ftk-finetuned';
export const FINETUNED_FORMAT_VERSION = 1;
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const META_JSON = 'ftk.json';

export interface FinetunedModelMeta {
  format: typeof FINETUNED_FORMAT;
  formatVersion: number;
  /** What `ftk predict` dispatches on. */
  kind: 'finetuned';
  /** Class names; index = output unit. */
  classes: string[];
  /** How images become model input: decode, resize (squash / center crop) to inputSize, then `mode`. */
  preprocessing: { mode: PreprocessMode; inputSize: number; crop: 'squash' | 'center' };
  /** Architecture name (zoo name or 'smallcnn'). */
  architecture: string;
  alpha?: number;
  /** The backbone the fine-tuning started from (fingerprint, weights sha256); undefined for smallcnn. */
  backbone?: BackboneInfo;
  /** 'imagenet' / file: pretrained; 'none': trained from scratch. */
  weights: string;
  head: { pooling: 'avg' | 'max' | 'flatten'; dropout: number };
  freeze: { spec: string | number; description: string; frozenLayers: number; lastFrozen?: string; totalLayers: number };
  /** The options that change the result. */
  training: Record<string, unknown>;
  history: EpochRecord[];
  /** Final numbers: the hold-out's best epoch, or the cross-validation summary. */
  metrics: {
    valAccuracy?: number;
    valLoss?: number;
    cv?: { folds: number; accuracies: number[]; meanAccuracy: number; stdAccuracy: number; bestEpochs: { head: number[]; finetune: number[] } };
    trainImages: number;
    valImages: number;
    trainImagesPerSecond: number;
    seconds: number;
  };
  /** Dataset root, image and class counts, skipped files, and the hold-out's validation files (paths relative to the root). */
  dataset: { root: string; images: number; classCounts: number[]; skipped: { file: string; reason: string }[]; valFiles?: string[] };
  backend: string;
  /** The device it trained on (TF.js backend, ONNX Runtime providers of the frozen pass); absent in models of ftk before devices. */
  device?: DeviceRecord;
  ftkVersion: string;
  createdAt: string;
  files: { model: string; weights: string };
  /**
   * Temperature scaling of the softmax, fitted on the validation split (src/trust/calibrate.ts);
   * absent without a hold-out (cross-validation refits, `val: 0`). `ftk predict` applies it.
   */
  calibration?: CalibrationJson;
  /**
   * The unknown detector (src/trust/ood.ts) over the model's own features: the input of its
   * classifier layer (`featureTensor`: the global pooling's output for a zoo backbone, the 64-unit
   * ReLU for smallcnn), fitted at the end of training on the training images (unaugmented) with
   * the final weights; `layer` names the layer whose output it reads. Absent in models of ftk
   * before it, and with `unknown: false`. `ftk predict` applies it.
   */
  unknown?: FinetunedUnknownJson;
}

/** A fine-tuned model's detector: the shared detector JSON plus the layer it reads. */
export type FinetunedUnknownJson = UnknownDetectorJson & { layer: string };

/**
 * The representation the classifier reads: the input of the layer that produces the model's
 * output, followed back through Dropout layers (identity at inference). For ftk's heads that is the
 * global pooling's output (zoo backbones) or the ReLU before the classifier (smallcnn): the
 * penultimate representation, the one the softmax separates the classes in. Undefined when the
 * output layer has several inputs or its input is not a flat [N, D] vector.
 */
export function featureTensor(model: tf.LayersModel): tf.SymbolicTensor | undefined {
  const inputsOf = (t: tf.SymbolicTensor): tf.SymbolicTensor[] => {
    const layer = t.sourceLayer as unknown as { inboundNodes: { inputTensors: tf.SymbolicTensor[] }[] };
    return layer.inboundNodes[t.nodeIndex]?.inputTensors ?? [];
  };
  let ins = inputsOf(model.outputs[0]);
  if (ins.length !== 1) return undefined;
  let x = ins[0];
  while (x.sourceLayer.getClassName() === 'Dropout') {
    ins = inputsOf(x);
    if (ins.length !== 1) return undefined;
    x = ins[0];
  }
  return x.shape.length === 2 && typeof x.shape[1] === 'number' ? x : undefined;
}

async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, data);
  await fsp.rename(tmp, file);
}

function joinBuffers(data: ArrayBuffer | ArrayBuffer[]): Uint8Array {
  if (!Array.isArray(data)) return new Uint8Array(data);
  const total = data.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return out;
}

/** Writes model.json + weights.bin, then ftk.json (the completion marker). */
export async function saveFinetunedModel(dir: string, model: tf.LayersModel, meta: FinetunedModelMeta): Promise<{ model: string; weights: string; meta: string }> {
  await fsp.mkdir(dir, { recursive: true });
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = artifacts!;
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: a.weightSpecs }],
  };
  const files = { model: path.join(dir, MODEL_JSON), weights: path.join(dir, WEIGHTS_BIN), meta: path.join(dir, META_JSON) };
  await writeAtomic(files.weights, joinBuffers(a.weightData as ArrayBuffer | ArrayBuffer[]));
  await writeAtomic(files.model, JSON.stringify(modelJson));
  await writeAtomic(files.meta, JSON.stringify(meta, null, 1));
  return files;
}

function badFolder(dir: string, why: string, suggestion = 'Pass the --out folder of a finished `ftk finetune` run.'): FtkError {
  return new FtkError(`${dir} is not a usable fine-tuned model: ${why}.`, { code: 'MODEL_FOLDER_INVALID', suggestion });
}

/** Reads and checks ftk.json of a model folder. */
export async function readFinetunedMeta(dir: string): Promise<FinetunedModelMeta> {
  let text: string;
  try {
    text = await fsp.readFile(path.join(dir, META_JSON), 'utf8');
  } catch {
    throw badFolder(dir, `no ${META_JSON}`, 'The training may not have finished: resume it with `ftk finetune ... --resume`, or pass a finished model folder.');
  }
  let meta: FinetunedModelMeta;
  try {
    meta = JSON.parse(text);
  } catch {
    throw badFolder(dir, `${META_JSON} is not valid JSON`);
  }
  if (meta.format !== FINETUNED_FORMAT || meta.kind !== 'finetuned') throw badFolder(dir, `${META_JSON} is not an ${FINETUNED_FORMAT} file (format=${String(meta.format)})`);
  if (meta.formatVersion > FINETUNED_FORMAT_VERSION) throw badFolder(dir, `format version ${meta.formatVersion} is newer than this ftk reads (${FINETUNED_FORMAT_VERSION})`, 'Upgrade ftk.');
  if (!Array.isArray(meta.classes) || meta.classes.length < 2) throw badFolder(dir, `${META_JSON} lists no classes`);
  if (meta.calibration !== undefined) validateCalibrationJson(meta.calibration, path.join(dir, META_JSON));
  if (meta.unknown !== undefined) {
    validateUnknownDetectorJson(meta.unknown, path.join(dir, META_JSON));
    if (typeof meta.unknown.layer !== 'string') throw badFolder(dir, `the "unknown" detector in ${META_JSON} does not name the layer it reads`, 'Delete the "unknown" field to predict without unknown detection, or fine-tune again.');
  }
  return meta;
}

/** Loads model.json + weights.bin of a folder as a tf.LayersModel. */
export async function loadFinetunedLayersModel(dir: string, meta: FinetunedModelMeta): Promise<tf.LayersModel> {
  const modelFile = resolveInside(dir, meta.files?.model ?? MODEL_JSON);
  if (modelFile === undefined) throw badFolder(dir, `${META_JSON} names the model file '${String(meta.files?.model)}', outside the folder`);
  let json: { modelTopology: unknown; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  try {
    json = JSON.parse(await fsp.readFile(modelFile, 'utf8'));
  } catch (err) {
    throw badFolder(dir, `cannot read ${path.basename(modelFile)} (${(err as Error).message})`);
  }
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers: Buffer[] = [];
  for (const p of json.weightsManifest.flatMap((g) => g.paths)) {
    const shard = resolveInside(dir, p);
    if (shard === undefined) throw badFolder(dir, `${path.basename(modelFile)} names the weight file '${String(p)}', outside the folder`);
    try {
      buffers.push(await fsp.readFile(shard));
    } catch {
      throw badFolder(dir, `weight file ${p} is missing`);
    }
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  try {
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology as tf.io.ModelJSON['modelTopology'], weightSpecs: specs, weightData }));
    const out = model.outputs[0].shape[model.outputs[0].shape.length - 1];
    if (out !== meta.classes.length) throw new Error(`the model has ${out} outputs but ${META_JSON} lists ${meta.classes.length} classes`);
    return model;
  } catch (err) {
    if (err instanceof FtkError) throw err;
    throw badFolder(dir, (err as Error).message.split('\n')[0]);
  }
}
