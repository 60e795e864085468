/**
 * The bottleneck-feature file pair written by `ftk bottleneck extract`: `<prefix>.npy`
 * (float32 [N, D], row i = file i) and `<prefix>.json` (this `FeaturesMeta`).
 * See src/formats/README.md.
 */
import type { PreprocessMode } from '../models/types.js';
import type { DeviceRecord } from './device.js';

export const FEATURES_FORMAT_VERSION = 1;

export interface SkippedFile {
  /** Path relative to the dataset root (or as given in the manifest). */
  file: string;
  /** Why it was skipped, e.g. 'zero-byte file', 'truncated JPEG', 'decompression bomb: 400000000 pixels > limit 178956970'. */
  reason: string;
}

/** What ftk read from a model of another framework (`--model onnx:<file>` / `tfjs:<folder>`). */
export interface ExternalModelInfo {
  /** 'onnx' (ONNX Runtime), 'tfjs-graph' (TF.js graph model, inference only), 'tfjs-layers'. */
  format: 'onnx' | 'tfjs-graph' | 'tfjs-layers';
  /** The graph's image input. */
  inputName: string;
  /** Channel order of that input: ftk feeds NHWC and transposes for NCHW graphs. */
  inputLayout: 'nchw' | 'nhwc';
  /** Batch size the graph fixes, if it fixes one (then images run in chunks of it). */
  batch?: number;
  /** Default-domain opset (ONNX). */
  opset?: number;
  /** The file's producer, e.g. 'pytorch 1.13.0'. */
  producer?: string;
}

/** Which backbone produced the features; equal fingerprints mean interchangeable features. */
export interface BackboneInfo {
  /** Registry name, e.g. 'mobilenet'; 'onnx' or 'tfjs' for models of other frameworks (see `external`). */
  name: string;
  alpha?: number;
  /** sha256 of the weight file (the .onnx file; model.json + shards), or 'random:<seed>' for random weights. */
  weightsSha256: string;
  /** Where the weights came from (path or 'imagenet'); for `onnx:`/`tfjs:` models the absolute path of the model. */
  weights: string;
  /** Output layer name (the bottleneck); for ONNX the tensor (node output) name. */
  layer: string;
  pooling: 'avg' | 'max' | 'none';
  /** Keras mode name, or custom mean/std (`CustomPreprocess`) declared for a foreign model. */
  preprocessing: PreprocessMode;
  /** Square input size. */
  inputSize: number;
  /** 'squash' (Keras' default resize) or 'center' (crop then resize). */
  crop: 'squash' | 'center';
  /**
   * Test-time augmentation (src/models/tta.ts): 'flip' = mean of the pooled features of the model
   * input and of its horizontal mirror. Absent = 'none': written only for 'flip', so files of
   * tta-less configurations are exactly as before it existed (and old files load as 'none').
   */
  tta?: 'none' | 'flip';
  /** Hash of all the above: the feature cache's model key. */
  fingerprint: string;
  /** Present for `onnx:` / `tfjs:` models. */
  external?: ExternalModelInfo;
}

export interface FeaturesMeta {
  formatVersion: number;
  /** Paths relative to the dataset root, row order of the .npy. */
  files: string[];
  /** Class index of each row. */
  labels: number[];
  /** Class names, index = label. */
  classes: string[];
  /** sha256 of each file's bytes (duplicates leak between folds). */
  hashes: string[];
  skipped: SkippedFile[];
  /** Groups of files with identical content (paths), if any. */
  duplicates: string[][];
  model: BackboneInfo;
  /** Shape of the .npy: [N, D]. */
  shape: [number, number];
  /** Absolute dataset root at extraction time. */
  datasetRoot: string;
  createdAt: string;
  /**
   * The device of the run that wrote the file (`--device`), with the execution providers ONNX
   * Runtime ran on (`onnxProviders`, absent when every row came from the cache). Rows from the
   * cache may have been computed elsewhere: the cache keys rows by model, not by device.
   */
  device?: DeviceRecord;
}
