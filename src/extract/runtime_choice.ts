/**
 * Which runtime runs the backbone: ONNX Runtime when the model exports and onnxruntime-node loads
 * ('auto', the default), else TF.js, and always said once through `onNotice`. A forced runtime
 * that cannot be honoured is an error, never a silent fallback.
 *
 * ONNX path: the exported graph is cached next to the weights, keyed by the backbone fingerprint
 * (src/runtime/onnx_store.ts); with the file present the TF.js model is never built. A cached
 * file ONNX Runtime rejects is deleted and exported again.
 *
 * Models of other frameworks: `onnx:` models run on ONNX Runtime (OnnxBackboneEngine), TF.js
 * graph models on TF.js (TfjsGraphEngine); forcing the other runtime is an error. `tfjs:` layers
 * models take the zoo's path (exported to ONNX when their layers allow).
 *
 * Device: ONNX Runtime runs on the chosen device's execution provider (src/runtime/device.ts);
 * TF.js, when it runs the model on a GPU device, on that device's TF.js backend (WebGPU, or
 * tfjs-node-gpu for CUDA). A GPU session that cannot open is an error: ftk never drops to the CPU
 * (or from ONNX Runtime to TF.js on the CPU) when a GPU was chosen.
 *
 * The engine runs the network only: a backbone's test-time augmentation is applied around it by
 * the extraction pipeline, so the engine is opened for `networkInfo` (the same cached ONNX graph
 * serves a backbone with and without TTA).
 */
import { buildBackbone, networkInfo, type ResolvedBackbone } from '../models/backbone.js';
import { selectBackend, type BackendName } from '../runtime/backend.js';
import { TfjsEngine, type FeatureEngine } from '../runtime/engine.js';
import { loadOnnxRuntime } from '../runtime/onnx_engine.js';
import { OnnxSessionPool } from '../runtime/onnx_session_pool.js';
import { OnnxExportError } from '../runtime/onnx_export.js';
import { findOnnxGraph, removeOnnxGraph, storeOnnxGraph } from '../runtime/onnx_store.js';
import { OptionsError } from '../errors.js';
import type { DeviceChoice } from '../runtime/device.js';
import { OnnxBackboneEngine } from '../models/onnx_backbone.js';
import { TfjsGraphEngine } from '../models/tfjs_backbone.js';

import { RUNTIME_NAMES, type RuntimeName } from '../runtime/names.js';

export { RUNTIME_NAMES, type RuntimeName };

export interface OpenEngineOptions {
  /** 'auto' (ONNX Runtime when possible), 'onnx' or 'tfjs'. Default 'auto'. */
  runtime?: RuntimeName | 'auto';
  /** ONNX Runtime intra-op threads. Default: cores. */
  threads?: number;
  /** tfjs backend for the TF.js runtime (and for building the model to export). Default 'auto'. */
  backend?: BackendName | 'auto';
  /** The device (src/runtime/device.ts `resolveDevice`). Default: the CPU. */
  device?: DeviceChoice;
  /** Where weights (and exported graphs, under `onnx/`) are cached. Default `<FTK_HOME>/weights`. */
  weightsDir?: string;
  onNotice?: (message: string) => void;
}

export interface OpenedEngine {
  engine: FeatureEngine;
  runtime: RuntimeName;
  /** The exported graph file (ONNX runtime only). */
  graphFile?: string;
}

/** A GPU session that could not open (the device's fault, not the graph's): never a fallback. */
const isDeviceError = (err: unknown): boolean => (err as { code?: string }).code === 'DEVICE_UNAVAILABLE';

/** Opens the engine for a resolved backbone (see the module notes). */
export async function openEngine(given: ResolvedBackbone, options: OpenEngineOptions = {}): Promise<OpenedEngine> {
  const resolved: ResolvedBackbone = { ...given, info: networkInfo(given.info) };
  const wanted = options.runtime ?? 'auto';
  if (wanted !== 'auto' && !RUNTIME_NAMES.includes(wanted)) {
    throw new OptionsError(`Unknown runtime "${wanted as string}".`, { code: 'RUNTIME_UNKNOWN', suggestion: `Must be one of [auto, ${RUNTIME_NAMES.join(', ')}].` });
  }
  const notice = (m: string) => options.onNotice?.(m);
  const provider = options.device?.provider ?? 'cpu';
  const onGpu = provider !== 'cpu';
  // The TF.js backend when TF.js runs the model: the device's on a GPU, else --backend's.
  const tfjsBackend = async () => {
    if (!onGpu) return selectBackend({ backend: options.backend ?? 'auto' });
    const { trainingBackendFor } = await import('../runtime/device.js');
    return selectBackend({ backend: await trainingBackendFor(options.device!) });
  };
  const external = resolved.info.external?.format;
  if (external === 'onnx') {
    if (wanted === 'tfjs') {
      throw new OptionsError(`${resolved.info.weights} is an ONNX model: it runs on ONNX Runtime only.`, { code: 'RUNTIME_UNAVAILABLE', suggestion: 'Drop --runtime tfjs (or pass --runtime onnx).' });
    }
    const engine = await OnnxBackboneEngine.open(resolved.info, { threads: options.threads, provider, onNotice: options.onNotice });
    notice(`Runtime: ${engine.name} (ONNX model ${resolved.info.weights}: ${engine.describe()}).`);
    return { engine, runtime: 'onnx' };
  }
  if (external === 'tfjs-graph') {
    if (wanted === 'onnx') {
      throw new OptionsError(`${resolved.info.weights} is a TF.js graph model: it runs on TF.js only (ftk converts layers models to ONNX, not graphs).`, { code: 'RUNTIME_UNAVAILABLE', suggestion: 'Drop --runtime onnx (or pass --runtime tfjs).' });
    }
    const backend = await tfjsBackend();
    const engine = await TfjsGraphEngine.open(resolved.info);
    notice(`Runtime: TF.js ${backend.name} backend (TF.js graph model ${resolved.info.weights}: ${engine.describe()}).`);
    return { engine, runtime: 'tfjs' };
  }
  const tfjs = async (model?: Awaited<ReturnType<typeof buildBackbone>>['model'], why?: string): Promise<OpenedEngine> => {
    const backend = await tfjsBackend();
    const m = model ?? (await buildBackbone(resolved, { onNotice: options.onNotice })).model;
    const engine = new TfjsEngine(m);
    notice(`Runtime: TF.js ${backend.name} backend (${why ?? 'requested with --runtime tfjs'}).`);
    return { engine, runtime: 'tfjs' };
  };
  if (wanted === 'tfjs') return tfjs();

  try {
    await loadOnnxRuntime();
  } catch (err) {
    if (wanted === 'onnx') throw err;
    return tfjs(undefined, `onnxruntime-node is not usable here: ${(err as Error).message}; TF.js is slower`);
  }

  const { info } = resolved;
  const open = async (file: string): Promise<OpenedEngine> => {
    const engine = await OnnxSessionPool.create(file, { threads: options.threads, provider });
    notice(`Runtime: ${engine.name} (ONNX graph ${file}).`);
    return { engine, runtime: 'onnx', graphFile: file };
  };
  const cached = await findOnnxGraph(info.fingerprint, options.weightsDir);
  if (cached) {
    try {
      return await open(cached);
    } catch (err) {
      if (isDeviceError(err)) throw err;
      await removeOnnxGraph(info.fingerprint, options.weightsDir);
      notice(`The cached ONNX graph ${cached} could not be loaded; exporting it again.`);
    }
  }
  await selectBackend({ backend: options.backend ?? 'auto' });
  const backbone = await buildBackbone(resolved, { onNotice: options.onNotice });
  let file: string;
  try {
    ({ file } = await storeOnnxGraph(backbone.model, info, options.weightsDir));
  } catch (err) {
    if (!(err instanceof OnnxExportError)) {
      backbone.model.dispose();
      throw err;
    }
    if (wanted === 'onnx') {
      backbone.model.dispose();
      throw err;
    }
    const layers = err.layers.slice(0, 3).map((l) => `${l.name} (${l.className}: ${l.reason})`).join(', ');
    return tfjs(backbone.model, `the model has layers ONNX export does not support: ${layers}; TF.js is slower`);
  }
  try {
    const opened = await open(file);
    backbone.model.dispose();
    return opened;
  } catch (err) {
    if (wanted === 'onnx' || isDeviceError(err)) {
      backbone.model.dispose();
      throw err;
    }
    return tfjs(backbone.model, `ONNX Runtime could not run the exported graph (${(err as Error).message}); TF.js is slower`);
  }
}
