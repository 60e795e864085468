/**
 * `exportClassifier`: any saved ftk classifier (an SVM model JSON with its backbone, a fine-tuned
 * model folder, an `ftk auto` bundle) as one self-contained ONNX file (`ftk export --out`).
 *
 * The file: input `pixels`, uint8 [N, H, W, 3] decoded RGB of any size; in the graph the resize
 * ftk uses, the crop, the preprocessing (image_input.ts), the backbone with its pooling (ftk's
 * backbone exporter, src/runtime/onnx_export.ts, inlined under `backbone/`), then the SVM
 * (svm_head.ts) or the fine-tuned head; outputs `probabilities` float32 [N, k] and `label` int64
 * [N] (the first most probable class, as `ftk predict`), and, for a model that carries an unknown
 * detector, `unknown_score` float32 [N] computed in the graph from the same forward pass
 * (unknown_head.ts; the threshold is in the `ftk.unknown` metadata). Opset 13, IR version 7, default-domain
 * operators only. Class names, ftk version, backbone fingerprint, input description and a
 * training summary are in `metadata_props` (keys `ftk.*`, see EXPORT_METADATA_KEYS).
 *
 * Flip test-time augmentation (`backbone.tta: 'flip'`, src/models/tta.ts) is in the graph too:
 * the model input and its mirror (a Slice reversing the width axis) go through the backbone as one
 * batch of 2N, and the two halves of its output are averaged (Reshape [2, N, D] + ReduceMean), as
 * the extraction pipeline averages the two rows of each image: four operators, no custom ones.
 *
 * Checks before anything is written: the model parses and validates; an SVM's backbone weight
 * file exists and hashes to the fingerprint the model recorded; every layer has an ONNX
 * translation. The file is written to a temporary name and renamed, so a failure leaves nothing.
 *
 * @example
 * const r = await exportClassifier('run/bundle', 'classifier.onnx');
 * r.sizeBytes; // 1.2 MB for MobileNet 0.25 + an RBF SVM
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { AutoBundleMeta } from '../predict/bundle.js';
import { AUTO_BUNDLE_FORMAT } from '../predict/bundle.js';
import { SvmClassifier } from '../classify/svm.js';
import { ExportError, FtkError } from '../errors.js';
import { featureTensor, loadFinetunedLayersModel, readFinetunedMeta, FINETUNED_FORMAT, type FinetunedModelMeta } from '../finetune/format.js';
import type { BackboneInfo } from '../formats/features.js';
import type { RunReport } from '../formats/run_report.js';
import { SVM_MODEL_FORMAT, type SvmModelJson } from '../formats/svm_model.js';
import { backboneOptionsFrom, buildBackbone, networkInfo, resolveBackbone } from '../models/backbone.js';
import { formatTag } from '../predict/formats.js';
import { selectBackend } from '../runtime/backend.js';
import { exportOnnx, OnnxExportError, unsupportedLayers } from '../runtime/onnx_export.js';
import { findOnnxGraph } from '../runtime/onnx_store.js';
import { encodeModel, IR_VERSION } from '../runtime/onnx_proto.js';
import { packageInfo } from '../runtime/package_info.js';
import { resolveInside } from '../runtime/safe_path.js';
import { CLASSIFIER_OPSET, ClassifierGraph, ElemType, valueInfo } from './graph.js';
import { addImageInput, PIXELS_INPUT, type ImageInputSpec } from './image_input.js';
import { addSvmHead } from './svm_head.js';
import { addUnknownHead } from './unknown_head.js';
import type { CalibrationJson, UnknownDetectorJson } from '../formats/trust.js';

/** The `ftk.format` metadata value of an exported classifier (what `ftk predict` looks for). */
export const ONNX_CLASSIFIER_FORMAT = 'ftk-onnx-classifier';
export const OUTPUT_PROBABILITIES = 'probabilities';
export const OUTPUT_LABEL = 'label';
/** The unknown detector's score (models that carry one): float32 [N], unknown above `ftk.unknown`'s threshold. */
export const OUTPUT_UNKNOWN_SCORE = 'unknown_score';

/** metadata_props keys written into every export. */
export const EXPORT_METADATA_KEYS = ['ftk.format', 'ftk.version', 'ftk.classes', 'ftk.kind', 'ftk.backbone_fingerprint', 'ftk.backbone', 'ftk.input', 'ftk.training'] as const;

export interface ExportOptions {
  /** Where backbone weights and cached backbone graphs live. Default `<FTK_HOME>/weights`. */
  weightsDir?: string;
  /** Stages and choices, for the caller to print. Default: none. */
  onNotice?: (message: string) => void;
}

/** What the training recorded about the classifier's quality, for the metadata and the web page. */
export interface TrainingSummary {
  /** 'svm', 'finetuned', or 'auto-bundle (svm)' / 'auto-bundle (finetune)'. */
  kind: string;
  /** Accuracy from the training report, in 0..1, or null when none was recorded. */
  accuracy: number | null;
  /** How `accuracy` was measured, e.g. '5-fold cross-validation (grid search)'. */
  accuracyHow: string | null;
  description: string;
  trainImages: number | null;
  createdAt: string | null;
  /** Auto mode's decision, in sentences (bundles only). */
  reasons?: string[];
}

export interface ClassifierExport {
  /** The serialized ONNX model. */
  bytes: Uint8Array;
  classes: string[];
  input: ImageInputSpec;
  training: TrainingSummary;
  backboneFingerprint: string;
  metadata: Record<string, string>;
  opset: number;
  nodeCount: number;
}

export interface ExportResult extends Omit<ClassifierExport, 'bytes'> {
  file: string;
  sizeBytes: number;
}

interface Loaded {
  classes: string[];
  input: ImageInputSpec;
  training: TrainingSummary;
  backbone: Partial<BackboneInfo> & { fingerprint: string };
  /** The model's unknown detector, whose score becomes the `unknown_score` output. */
  unknown?: UnknownDetectorJson;
  /**
   * Adds the backbone (from `modelInput`) and the head; returns float32 or float64 probabilities
   * and their type, and (with `unknown`) the float32 [N, D] features the detector reads.
   */
  build(g: ClassifierGraph, modelInput: string): Promise<{ probabilities: string; elemType: number; features?: string }>;
}

function exportError(message: string, code: string, suggestion: string, cause?: unknown): ExportError {
  return new ExportError(message, { code, suggestion, cause });
}

/** Builds the ONNX classifier of `source` in memory (see the module notes). */
export async function buildClassifierOnnx(source: string, options: ExportOptions = {}): Promise<ClassifierExport> {
  const loaded = await loadSource(source, options);
  const g = new ClassifierGraph();
  const modelInput = addImageInput(g, loaded.input);
  const head = await loaded.build(g, modelInput);
  const probs = head.elemType === ElemType.FLOAT ? head.probabilities : g.cast(head.probabilities, ElemType.FLOAT, 'probabilities_f32');
  g.reserve(OUTPUT_PROBABILITIES);
  g.reserve(OUTPUT_LABEL);
  g.op('Identity', [probs], OUTPUT_PROBABILITIES, {}, OUTPUT_PROBABILITIES);
  g.op('ArgMax', [OUTPUT_PROBABILITIES], OUTPUT_LABEL, { axis: 1, keepdims: 0, select_last_index: 0 }, OUTPUT_LABEL);
  const u = loaded.unknown && head.features ? loaded.unknown : undefined;
  if (u) {
    g.reserve(OUTPUT_UNKNOWN_SCORE);
    g.op('Identity', [addUnknownHead(g, head.features!, u, source)], OUTPUT_UNKNOWN_SCORE, {}, OUTPUT_UNKNOWN_SCORE);
  }
  const pkg = packageInfo();
  const k = loaded.classes.length;
  const metadata: Record<string, string> = {
    'ftk.format': ONNX_CLASSIFIER_FORMAT,
    'ftk.version': pkg.version,
    'ftk.classes': JSON.stringify(loaded.classes),
    'ftk.kind': loaded.training.kind,
    'ftk.backbone_fingerprint': loaded.backbone.fingerprint,
    'ftk.backbone': JSON.stringify({ ...loaded.backbone, weights: loaded.backbone.weights ? path.basename(loaded.backbone.weights) : undefined }),
    'ftk.input': JSON.stringify({
      name: PIXELS_INPUT,
      type: 'uint8',
      shape: ['batch', 'height', 'width', 3],
      channels: 'RGB',
      inputSize: loaded.input.inputSize,
      crop: loaded.input.crop,
      resize: 'bilinear, half-pixel centres, no antialiasing (Keras / TF ResizeBilinear)',
      preprocessing: loaded.input.preprocessing,
      // Flip TTA happens inside the graph; said here so a reader of the metadata knows the features are averaged over two views.
      ...(loaded.backbone.tta === 'flip' ? { tta: 'flip' } : {}),
    }),
    'ftk.training': JSON.stringify(loaded.training),
    // What a runtime needs to turn `unknown_score` into a decision, as `ftk predict` does (score > threshold).
    ...(u
      ? {
          'ftk.unknown': JSON.stringify({
            output: OUTPUT_UNKNOWN_SCORE,
            method: u.method,
            ...(u.k !== undefined ? { k: u.k } : {}),
            threshold: u.threshold,
            rate: u.rate,
            thresholdFrom: u.thresholdFrom,
            samples: u.samples,
            nFeatures: u.nFeatures,
          }),
        }
      : {}),
  };
  const bytes = encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: CLASSIFIER_OPSET }],
    producerName: 'ftk',
    producerVersion: pkg.version,
    docString: `ftk classifier (${loaded.training.description}): pixels uint8 [N, H, W, 3] RGB -> probabilities float32 [N, ${k}] (classes ${loaded.classes.join(', ')}), label int64 [N]${u ? `, unknown_score float32 [N] (unknown above ${u.threshold})` : ''}.`,
    graph: {
      name: 'ftk_classifier',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(PIXELS_INPUT, ElemType.UINT8, ['batch', 'height', 'width', 3])],
      output: [
        valueInfo(OUTPUT_PROBABILITIES, ElemType.FLOAT, ['batch', k]),
        valueInfo(OUTPUT_LABEL, ElemType.INT64, ['batch']),
        ...(u ? [valueInfo(OUTPUT_UNKNOWN_SCORE, ElemType.FLOAT, ['batch'])] : []),
      ],
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  return {
    bytes,
    classes: loaded.classes,
    input: loaded.input,
    training: loaded.training,
    backboneFingerprint: loaded.backbone.fingerprint,
    metadata,
    opset: CLASSIFIER_OPSET,
    nodeCount: g.nodes.length,
  };
}

/** Writes `bytes` to `file` through a temporary name in the same folder (nothing left on failure). */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    await fsp.writeFile(tmp, bytes);
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/** Exports `source` to the ONNX file `out` (written atomically). */
export async function exportClassifier(source: string, out: string, options: ExportOptions = {}): Promise<ExportResult> {
  const built = await buildClassifierOnnx(source, options);
  await writeFileAtomic(out, built.bytes);
  const { bytes, ...rest } = built;
  return { ...rest, file: out, sizeBytes: bytes.length };
}

async function loadSource(source: string, options: ExportOptions): Promise<Loaded> {
  let tag: string;
  try {
    tag = await formatTag(source);
  } catch (err) {
    if (err instanceof FtkError) throw exportError(`Cannot export ${source}: ${err.message}`, 'EXPORT_NOT_A_MODEL', err.suggestion ?? 'Pass an SVM model JSON, a fine-tuned model folder or an auto bundle.', err);
    throw err;
  }
  switch (tag) {
    case SVM_MODEL_FORMAT:
      return loadSvm(source, options);
    case FINETUNED_FORMAT:
      return loadFinetuned(source);
    case AUTO_BUNDLE_FORMAT:
      return loadBundle(source, options);
    default:
      throw exportError(`Cannot export ${source}: its format "${tag}" is not an ftk classifier.`, 'EXPORT_NOT_A_MODEL', 'Pass an SVM model JSON (ftk svm fit), a fine-tuned model folder (ftk finetune) or an auto bundle (ftk auto).');
  }
}

async function loadSvm(file: string, options: ExportOptions): Promise<Loaded> {
  let m: SvmModelJson;
  try {
    const clf = await SvmClassifier.load(file); // validates, with the model format's messages
    clf.dispose();
    m = JSON.parse(await fsp.readFile(file, 'utf8')) as SvmModelJson;
  } catch (err) {
    if (err instanceof FtkError) throw exportError(`Cannot export ${file}: ${err.message}`, 'EXPORT_BAD_MODEL', err.suggestion ?? 'Fit the model again (ftk svm fit).', err);
    throw err;
  }
  const info = m.backbone;
  if (!info) {
    throw exportError(`Cannot export ${file}: it does not record the backbone of its training features, so the file could not classify images.`, 'EXPORT_NO_BACKBONE', 'Fit the SVM on features from `ftk bottleneck extract` (they record their backbone).');
  }
  if (info.external && info.external.format !== 'tfjs-layers') {
    throw exportError(`Cannot export ${file}: its backbone ${info.weights} is ${info.external.format === 'onnx' ? 'an ONNX model' : 'a TF.js graph model'}; ftk exports classifiers over zoo and TF.js layers backbones.`, 'EXPORT_UNSUPPORTED_BACKBONE', 'Fit the SVM on features of a zoo model (e.g. --model mobilenet) or a TF.js layers model.');
  }
  const classes = m.classNames ?? m.classes.map(String);
  const grid = m.gridSearch;
  const training: TrainingSummary = {
    kind: 'svm',
    accuracy: grid ? grid.bestScore : null,
    accuracyHow: grid ? `${grid.folds}-fold cross-validation (grid search)` : null,
    description: `${m.kernel} SVM (C=${m.C}${m.gamma !== null ? `, gamma=${m.gamma}` : ''}, ${m.scaler.kind} scaler${m.probA ? ', Platt probabilities' : ', one-vs-one vote'}) on ${info.name}${info.alpha !== undefined ? ` ${info.alpha}` : ''} ${info.layer} features${info.tta === 'flip' ? ' (flip TTA)' : ''}`,
    trainImages: m.training?.nSamples ?? null,
    createdAt: m.training?.createdAt ?? null,
  };
  return {
    classes,
    input: { inputSize: info.inputSize, crop: info.crop, preprocessing: info.preprocessing },
    training,
    backbone: info,
    unknown: m.unknown,
    build: async (g, modelInput) => {
      const graph = await backboneGraph(info, file, options);
      const flip = info.tta === 'flip';
      const inlined = inlineOrFail(g, graph, flip ? withMirror(g, modelInput) : modelInput, file);
      const output = flip ? meanOfViews(g, inlined.output, m.nFeatures) : inlined.output;
      // The SVM's detector reads the raw backbone features (before the SVM's scaler), as `ftk predict` does.
      return { probabilities: addCalibration(g, addSvmHead(g, output, m, file), m.calibration), elemType: ElemType.DOUBLE, features: output };
    },
  };
}

/** Flip TTA, first half: NHWC [N, S, S, 3] -> [2N, S, S, 3], the N images then their mirrors (width axis reversed). */
function withMirror(g: ClassifierGraph, nhwc: string): string {
  // Slice from the last column to before the first with step -1: INT64_MIN as the end is ONNX's
  // "to the start" for a negative step, whatever the width.
  const mirrored = g.op('Slice', [nhwc, g.int64('mirror_start', [-1]), g.int64('mirror_end', [-(2 ** 63)]), g.int64('mirror_axes', [2]), g.int64('mirror_steps', [-1])], 'mirrored');
  return g.op('Concat', [nhwc, mirrored], 'tta_views', { axis: 0 });
}

/** Flip TTA, second half: features [2N, D] of `withMirror`'s batch -> [N, D], each image's mean over its two views. */
function meanOfViews(g: ClassifierGraph, features: string, d: number): string {
  const split = g.op('Reshape', [features, g.int64('tta_views_shape', [2, -1, d])], 'tta_view_features');
  return g.op('ReduceMean', [split], 'tta_mean', { axes: [0], keepdims: 0 });
}

/**
 * The model's calibration (src/trust/calibrate.ts), as `predictProba` applies it: temperature
 * scaling q = softmax(log(max(p, 1e-12)) / T) over the classes; nothing for 'none' or T = 1.
 */
function addCalibration(g: ClassifierGraph, probabilities: string, calibration: CalibrationJson | undefined): string {
  if (!calibration || calibration.method !== 'temperature' || calibration.temperature === 1) return probabilities;
  const floored = g.op('Max', [probabilities, g.double('calibration_floor', [], [1e-12])], 'calibration_floored');
  const scaled = g.op('Div', [g.op('Log', [floored], 'calibration_log'), g.double('calibration_temperature', [], [calibration.temperature])], 'calibration_scaled');
  return g.op('Softmax', [scaled], 'calibrated_probabilities', { axis: 1 });
}

function inlineOrFail(g: ClassifierGraph, bytes: Uint8Array, input: string, source: string): { output: string; outputs: string[] } {
  try {
    return g.inlineModel(bytes, 'backbone/', input);
  } catch (err) {
    throw exportError(`Cannot export ${source}: ${(err as Error).message}.`, 'EXPORT_BAD_GRAPH', 'Delete the cached graph under <FTK_HOME>/weights/onnx and export again.', err);
  }
}

/** The backbone's ONNX graph: the cached export when present, else built from its weights (checked). */
async function backboneGraph(info: BackboneInfo, source: string, options: ExportOptions): Promise<Uint8Array> {
  let resolved;
  try {
    resolved = await resolveBackbone({ ...backboneOptionsFrom(info), weightsDir: options.weightsDir });
  } catch (err) {
    const fix = err instanceof FtkError && err.suggestion ? ` ${err.suggestion}` : '';
    throw exportError(
      `Cannot export ${source}: its backbone weights ${info.weights} cannot be used: ${(err as Error).message}`,
      'EXPORT_BACKBONE_MISSING',
      `Put the weight file the model was trained with back at ${info.weights} (sha256 ${info.weightsSha256}).${fix}`,
      err,
    );
  }
  if (resolved.info.fingerprint !== info.fingerprint) {
    throw exportError(
      `Cannot export ${source}: the backbone weights at ${info.weights} changed since training (sha256 ${resolved.info.weightsSha256.slice(0, 12)}..., the model was trained on ${info.weightsSha256.slice(0, 12)}...), so the exported file would not compute the model's features.`,
      'EXPORT_BACKBONE_CHANGED',
      `Restore the original weight file at ${info.weights}, or extract features and fit the SVM again with the new weights.`,
    );
  }
  // Cached under the network's fingerprint: the backbone graph is the same with and without TTA.
  const network = networkInfo(info);
  const cached = await findOnnxGraph(network.fingerprint, options.weightsDir);
  if (cached) {
    options.onNotice?.(`Backbone graph: ${cached} (cached export of ${info.name}, fingerprint ${network.fingerprint.slice(0, 12)}).`);
    return new Uint8Array(await fsp.readFile(cached));
  }
  await selectBackend({ backend: 'auto' });
  const backbone = await buildBackbone(resolved, { onNotice: options.onNotice });
  try {
    return exportOnnx(backbone.model).bytes;
  } catch (err) {
    throw unsupported(err, source);
  } finally {
    backbone.model.dispose();
  }
}

function unsupported(err: unknown, source: string): unknown {
  if (err instanceof OnnxExportError) {
    const layers = err.layers.map((l) => `${l.name} (${l.className}: ${l.reason})`).join(', ');
    return exportError(`Cannot export ${source}: ${layers ? `layer(s) without an ONNX translation: ${layers}` : err.message}.`, 'EXPORT_UNSUPPORTED_LAYER', 'Replace the layer with a supported one (list in src/runtime/onnx_export.ts); the model still runs with `ftk predict`.', err);
  }
  return err;
}

async function loadFinetuned(dir: string): Promise<Loaded> {
  let meta: FinetunedModelMeta;
  try {
    meta = await readFinetunedMeta(dir);
  } catch (err) {
    if (err instanceof FtkError) throw exportError(`Cannot export ${dir}: ${err.message}`, 'EXPORT_BAD_MODEL', err.suggestion ?? 'Pass a finished `ftk finetune` output folder.', err);
    throw err;
  }
  const p = meta.preprocessing;
  const cv = meta.metrics?.cv;
  const accuracy = meta.metrics?.valAccuracy ?? cv?.meanAccuracy ?? null;
  const weightsFile = resolveInside(dir, meta.files?.weights ?? 'weights.bin');
  const weightsSha = weightsFile ? createHash('sha256').update(await fsp.readFile(weightsFile).catch(() => Buffer.alloc(0))).digest('hex') : '';
  const training: TrainingSummary = {
    kind: 'finetuned',
    accuracy,
    accuracyHow: meta.metrics?.valAccuracy !== undefined ? `hold-out validation (${meta.metrics.valImages} images)` : cv ? `${cv.folds}-fold cross-validation` : null,
    description: `${meta.architecture}${meta.alpha !== undefined ? ` ${meta.alpha}` : ''} ${meta.weights === 'none' ? 'trained from scratch' : 'fine-tuned'} (${meta.head?.pooling ?? 'avg'} pooling + softmax head)`,
    trainImages: meta.metrics?.trainImages ?? null,
    createdAt: meta.createdAt ?? null,
  };
  return {
    classes: meta.classes,
    input: { inputSize: p.inputSize, crop: p.crop, preprocessing: p.mode },
    training,
    // The model carries its own weights: its fingerprint is the hash of weights.bin (the starting backbone is recorded too).
    backbone: { ...(meta.backbone ?? {}), fingerprint: `finetuned:${weightsSha.slice(0, 32)}` },
    unknown: meta.unknown,
    build: async (g, modelInput) => {
      await selectBackend({ backend: 'auto' });
      let model;
      try {
        model = await loadFinetunedLayersModel(dir, meta);
      } catch (err) {
        if (err instanceof FtkError) throw exportError(`Cannot export ${dir}: ${err.message}`, 'EXPORT_BAD_MODEL', err.suggestion ?? 'Pass a finished `ftk finetune` output folder.', err);
        throw err;
      }
      let bytes: Uint8Array;
      try {
        // With a detector: one graph with the features the detector reads as a second output (no second backbone).
        // A layer without a translation is the more basic problem: said first.
        const bad = unsupportedLayers(model);
        if (bad.length) throw new OnnxExportError(bad);
        let net = model;
        if (meta.unknown) {
          const features = featureTensor(model);
          if (!features || features.sourceLayer.name !== meta.unknown.layer || features.shape[1] !== meta.unknown.nFeatures) {
            throw exportError(
              `Cannot export ${dir}: its unknown detector reads ${meta.unknown.nFeatures} features of layer ${meta.unknown.layer}, which is not what the model's classifier reads${features ? ` (${features.shape[1]} of layer ${features.sourceLayer.name})` : ''}.`,
              'EXPORT_BAD_MODEL',
              'Fine-tune again, or delete the "unknown" field of its ftk.json to export without the unknown score.',
            );
          }
          net = tf.model({ inputs: model.inputs, outputs: [model.outputs[0], features] });
        }
        bytes = exportOnnx(net).bytes;
      } catch (err) {
        throw unsupported(err, dir);
      } finally {
        model.dispose();
      }
      const inlined = inlineOrFail(g, bytes, modelInput, dir);
      return { probabilities: inlined.outputs[0], elemType: ElemType.FLOAT, ...(meta.unknown ? { features: inlined.outputs[1] } : {}) };
    },
  };
}

async function loadBundle(dir: string, options: ExportOptions): Promise<Loaded> {
  let meta: AutoBundleMeta;
  try {
    meta = JSON.parse(await fsp.readFile(path.join(dir, 'ftk.json'), 'utf8')) as AutoBundleMeta;
  } catch (err) {
    throw exportError(`Cannot export ${dir}: its ftk.json is unreadable (${(err as Error).message}).`, 'EXPORT_BAD_MODEL', 'Pass the bundle folder `ftk auto` wrote.', err);
  }
  if ((meta.members?.length ?? 1) > 1) {
    throw exportError(
      `Cannot export ${dir}: the bundle averages ${meta.members!.length} models (${meta.members!.map((m) => m.classifier).join(', ')}), and ftk exports one model per file.`,
      'EXPORT_UNSUPPORTED_MODEL',
      `Export a member on its own (e.g. \`ftk export ${path.join(dir, meta.members![0].classifier)}\`), or run \`ftk auto --candidates quick\` for a single-model bundle.`,
    );
  }
  const inner = typeof meta.classifier === 'string' ? resolveInside(dir, meta.classifier) : undefined;
  if (inner === undefined) {
    throw exportError(`Cannot export ${dir}: ftk.json names the classifier '${String(meta.classifier)}', which is not inside the bundle folder.`, 'EXPORT_BAD_MODEL', 'Use the bundle folder as `ftk auto` wrote it.');
  }
  const loaded = await loadSource(inner, options);
  let accuracy = loaded.training.accuracy;
  let how = loaded.training.accuracyHow;
  // The run record next to the bundle holds the cross-validated accuracy of the chosen path.
  const run = await fsp
    .readFile(path.join(dir, '..', 'run.json'), 'utf8')
    .then((t) => JSON.parse(t) as RunReport)
    .catch(() => undefined);
  const chosen = run?.paths?.find((p) => p.path === meta.chosen);
  if (chosen && typeof chosen.meanAccuracy === 'number') {
    accuracy = chosen.meanAccuracy;
    how = `${run?.folds?.k ?? ''}${run?.folds?.k ? '-fold ' : ''}cross-validation in ftk auto`.trim();
  }
  return {
    ...loaded,
    training: { ...loaded.training, kind: `auto-bundle (${meta.chosen})`, accuracy, accuracyHow: how, reasons: meta.reasons },
  };
}
